"""Restart backoff and the flapping limit (issue 3; aesthetics.md §2.4)."""

from supervisor.policy import RestartPolicy


def policy(**kw):
    kw.setdefault("rng", lambda: 0.5)  # no jitter: 0.5 maps to the base delay
    return RestartPolicy(**kw)


def test_delays_double_from_the_initial_delay():
    p = policy(initial=1.0, maximum=60.0, max_failures=10)
    delays = []
    for now in range(5):
        p.started(now)
        delays.append(p.died(now + 1))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_delay_is_capped():
    p = policy(initial=1.0, maximum=5.0, max_failures=100)
    for _ in range(10):
        p.started(0)
        delay = p.died(1)
    assert delay == 5.0


def test_jitter_stays_within_twenty_percent():
    low = policy(initial=10.0, rng=lambda: 0.0)
    high = policy(initial=10.0, rng=lambda: 0.999999)
    low.started(0)
    high.started(0)
    assert low.died(1) == 8.0
    assert 11.99 < high.died(1) <= 12.0


def test_dying_in_a_loop_gives_up():
    p = policy(max_failures=3)
    results = []
    for now in range(3):
        p.started(now)
        results.append(p.died(now + 0.5))
    assert results[:2] == [1.0, 2.0]
    assert results[2] is None


def test_a_stable_run_resets_the_failure_count():
    p = policy(stable_after=60.0, max_failures=3)
    p.started(0)
    p.died(1)
    p.started(2)
    p.died(3)
    p.started(10)
    assert p.died(100) == 1.0  # up for 90 s: healthy again, back to the first delay
    assert p.failures == 1
