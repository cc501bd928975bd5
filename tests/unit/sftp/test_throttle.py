"""The cooldown of failed SFTP logins (issue 16: brute force; peers.md memory growth)."""

import tracemalloc

from sftp.throttle import LoginThrottle, SlidingCounter
from wingspan.config import SftpLimits


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_key_cools_down_at_its_limit_and_recovers_when_the_window_slides():
    clock = Clock()
    counter = SlidingCounter(3, 60, clock=clock)
    for _ in range(2):
        counter.failed("k")
        clock.now += 10
    assert not counter.blocked("k")
    counter.failed("k")
    assert counter.blocked("k")
    clock.now += 39  # the first failure is 59 s old
    assert counter.blocked("k")
    clock.now += 2
    assert not counter.blocked("k")
    counter.failed("k")
    assert not counter.blocked("k")


def test_the_table_is_bounded_whatever_the_number_of_keys():
    counter = SlidingCounter(3, 60, max_keys=100, clock=Clock())
    for n in range(10000):
        counter.failed("user%d" % n)
    assert len(counter) == 100
    assert counter.blocked("user0") is False


def test_keys_whose_window_ended_are_forgotten():
    clock = Clock()
    counter = SlidingCounter(3, 60, clock=clock)
    for n in range(1000):
        counter.failed("old%d" % n)
    clock.now += 61
    counter.failed("new")
    assert len(counter) == 1


def test_ten_thousand_names_cost_little_memory():
    """The bench target: 10 000 failed logins grow the process by 4 MiB at most."""
    tracemalloc.start()
    try:
        counter = SlidingCounter(3, 60, clock=Clock())
        before = tracemalloc.get_traced_memory()[0]
        for n in range(10000):
            counter.failed("bot%d.abcd1234" % n)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2 * 1024 * 1024


def test_usernames_count_password_failures_only_and_ignore_case():
    clock = Clock()
    throttle = LoginThrottle(SftpLimits(failures_per_user=2, failures_per_ip=100), clock=clock)
    for n in range(5):
        throttle.failed("10.0.0.%d" % n, "Alice.abcd1234", password=False)
    assert not throttle.cooling("10.0.0.9", "alice.abcd1234")
    throttle.failed("10.0.0.1", "Alice.abcd1234", password=True)
    throttle.failed("10.0.0.2", "ALICE.abcd1234", password=True)
    assert throttle.cooling("10.0.0.9", "alice.abcd1234")


def test_an_ip_cools_down_whatever_the_usernames():
    throttle = LoginThrottle(SftpLimits(failures_per_user=100, failures_per_ip=3),
                             clock=Clock())
    for n in range(3):
        throttle.failed("192.0.2.7", "bot%d.abcd1234" % n, password=False)
    assert throttle.cooling("192.0.2.7", "fresh.abcd1234")
    assert not throttle.cooling("192.0.2.8", "fresh.abcd1234")
