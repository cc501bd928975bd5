"""Resource usage (wings-behaviour.md §4): one ``stats`` event per tick while the server
runs and someone follows its stats, a fresh sample on request otherwise, zeros once when it
goes offline, the disk watchdog once per start."""

import json

import gevent
import pytest

from worker import resources
from worker.resources import OVER_LIMIT, ResourceMonitor
from worker.server import OFFLINE, RUNNING, STARTING
from wingspan.usage import usage_object, zero_usage
from worker.stats import StatsUnavailable

INTERVAL = 0.02
INFO = {"Id": "c1", "State": {"Pid": 42, "StartedAt": "2026-12-06T04:00:00.5Z"}}


def sample(n):
    return {"memory_bytes": 1000 + n, "memory_limit_bytes": 4096, "cpu_absolute": n * 0.5,
            "network": {"rx_bytes": n, "tx_bytes": 2 * n}, "uptime": n * 1000}


class FakeReader:
    """Returns ``sample(1)``, ``sample(2)``, ... or raises once ``gone`` is set."""

    made = []

    def __init__(self, pid, container_id, started_at):
        self.args = (pid, container_id, started_at)
        self.taken = 0
        self.gone = False
        self.broken = False
        self.closed = False
        self.sampled_in = set()
        FakeReader.made.append(self)

    def sample(self, now):
        if self.gone:
            raise StatsUnavailable("gone")
        if self.broken:
            raise RuntimeError("a bug")
        self.sampled_in.add(gevent.getcurrent())
        self.taken += 1
        return sample(self.taken)

    def close(self):
        self.closed = True


class FakeServer:
    uuid = "5f6b6a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"

    def __init__(self):
        self.state = RUNNING
        self.events = []
        self.follow = True
        self.asked = set()
        self._listeners = []
        self._follower_listeners = []

    def on_state_change(self, listener):
        self._listeners.append(listener)

    def set_state(self, new):
        old, self.state = self.state, new
        for listener in self._listeners:
            listener(old, new)

    def publish(self, event, data=None):
        self.events.append((event, data))

    def followed(self, topic):
        self.asked.add(topic)
        return self.follow

    def on_followers_change(self, listener):
        self._follower_listeners.append(listener)

    def set_followed(self, follow):
        self.follow = follow
        for listener in self._follower_listeners:
            listener()

    def publish_encoded(self, event, data_json):
        self.events.append((event, json.loads(data_json)))

    def daemon_message(self, text):
        self.events.append(("daemon message", text))


class FakeEnvironment:
    def on_attach(self, listener):
        self.attach = listener


class FakeWalk:
    """A disk walk that is over at once; its callbacks run in the hub, as gevent's do."""

    def add_done_callback(self, callback):
        gevent.get_hub().loop.run_callback(callback, self)


class FakeFiles:
    def __init__(self):
        self.used = 512
        self.space = True
        self.walks = 0
        self.walk_interval = INTERVAL
        self.quota_listeners = []

    def on_quota_change(self, listener):
        self.quota_listeners.append(listener)

    def change_quota(self, space):
        self.space = space
        for listener in self.quota_listeners:
            listener()

    def usage_bytes(self):
        return self.used

    def has_space(self, allow_stale=True):
        assert allow_stale
        return self.space

    def usage_walk_interval(self):
        return self.walk_interval

    def refresh_usage_in_background(self):
        self.walks += 1
        return FakeWalk()


@pytest.fixture
def monitor(monkeypatch):
    monkeypatch.setattr(resources, "INTERVAL", INTERVAL)
    monkeypatch.setattr(resources, "StatsReader", FakeReader)
    FakeReader.made = []
    server, environment, files = FakeServer(), FakeEnvironment(), FakeFiles()
    stops = []
    mon = ResourceMonitor(server, environment, files, on_over_limit=lambda: stops.append(1))
    mon.stops = stops
    yield mon, server, environment, files
    server.set_state(OFFLINE)


def stats_events(server):
    return [data for event, data in server.events if event == "stats"]


def wait_for_stats(server, count):
    with gevent.Timeout(5):
        while len(stats_events(server)) < count:
            gevent.sleep(INTERVAL / 4)


def test_current_before_any_sample_is_zeros_with_the_state_and_disk(monitor):
    mon, server, _, files = monitor
    assert mon.current() == zero_usage(0, RUNNING, 512)


def assert_no_event_for(server, seconds):
    published = len(server.events)
    gevent.sleep(seconds)
    assert len(server.events) == published


def test_one_event_per_tick_after_the_attach_while_followed(monitor):
    """The attach takes the first sample, which the first tick's CPU share is measured
    from; each tick then publishes a new one."""
    mon, server, environment, files = monitor
    environment.attach(INFO)
    reader = FakeReader.made[0]
    assert reader.args == (42, "c1", 1796529600.5)
    assert reader.taken == 1 and stats_events(server) == []
    wait_for_stats(server, 4)
    assert stats_events(server)[:4] == [usage_object(sample(n), RUNNING, 512)
                                        for n in (2, 3, 4, 5)]
    assert server.asked == {b"stats." + server.uuid.encode()}


def test_offline_ends_the_loop_with_one_zeroed_event(monitor):
    mon, server, environment, _ = monitor
    environment.attach(INFO)
    wait_for_stats(server, 2)
    server.set_state(OFFLINE)
    gevent.sleep(0)
    assert_no_event_for(server, 4 * INTERVAL)
    assert server.events[-1] == ("stats", zero_usage(4096, OFFLINE, 512))
    assert FakeReader.made[0].closed


def test_a_vanished_cgroup_ends_the_loop_and_keeps_the_last_sample(monitor):
    mon, server, environment, _ = monitor
    environment.attach(INFO)
    wait_for_stats(server, 2)
    reader = FakeReader.made[0]
    reader.gone = True
    gevent.sleep(3 * INTERVAL)
    assert reader.closed
    assert_no_event_for(server, 3 * INTERVAL)
    assert mon.current() == usage_object(sample(reader.taken), RUNNING, 512)


def test_unreadable_figures_end_sampling_but_not_the_disk_watchdog(monitor, monkeypatch):
    """Stats and the disk limit are apart: a cgroup that cannot be read ends the sampling,
    and the disk is still walked, and its limit enforced, until the server is offline."""
    mon, server, environment, files = monitor

    def unreadable(self, now):
        raise StatsUnavailable("gone")
    monkeypatch.setattr(FakeReader, "sample", unreadable)
    environment.attach(INFO)
    assert FakeReader.made[0].closed
    assert_no_event_for(server, 3 * INTERVAL)
    wait_for_walks(files, 2)
    files.change_quota(space=False)
    gevent.sleep(0)
    assert mon.stops == [1]
    assert_walks_end_offline(server, files)


def test_a_new_attach_replaces_the_loop(monitor):
    mon, server, environment, _ = monitor
    environment.attach(INFO)
    wait_for_stats(server, 1)
    environment.attach(INFO)
    gevent.sleep(3 * INTERVAL)
    first, second = FakeReader.made
    assert first.closed and not second.closed
    taken = first.taken
    gevent.sleep(3 * INTERVAL)
    assert first.taken == taken and second.taken >= 2


def test_nobody_following_means_no_loop_and_a_sample_when_asked(monitor):
    """An idle worker nobody watches does not wake every second (issue 22): the usage
    figure is sampled when the API asks, at most once a tick."""
    mon, server, environment, files = monitor
    server.follow = False
    environment.attach(INFO)
    reader = FakeReader.made[0]
    gevent.sleep(4 * INTERVAL)
    assert reader.taken == 1 and stats_events(server) == []
    files.used = 2048
    assert mon.current() == usage_object(sample(2), RUNNING, 2048)
    assert mon.current() == usage_object(sample(2), RUNNING, 2048)  # less than a tick later
    gevent.sleep(INTERVAL)
    assert mon.current() == usage_object(sample(3), RUNNING, 2048)
    assert stats_events(server) == []


def test_the_loop_runs_exactly_while_someone_follows(monitor):
    mon, server, environment, _ = monitor
    server.follow = False
    environment.attach(INFO)
    server.set_followed(True)
    wait_for_stats(server, 2)
    server.set_followed(False)
    gevent.sleep(0)
    taken = FakeReader.made[0].taken
    assert_no_event_for(server, 4 * INTERVAL)
    assert FakeReader.made[0].taken == taken
    server.set_followed(True)
    wait_for_stats(server, 3)


def test_following_an_offline_server_starts_nothing(monitor):
    mon, server, environment, _ = monitor
    server.set_followed(True)
    assert_no_event_for(server, 3 * INTERVAL)
    assert FakeReader.made == []


def test_ticks_run_in_the_hub_without_a_greenlet_of_their_own(monitor):
    """A watched worker wakes once a second for its tick alone: switching into a greenlet
    at each tick cost more CPU than the sample (issue 22)."""
    mon, server, environment, _ = monitor
    environment.attach(INFO)
    wait_for_stats(server, 3)
    assert FakeReader.made[0].sampled_in - {gevent.getcurrent()} == {gevent.get_hub()}


def test_an_unexpected_error_in_the_first_sample_leaves_the_attach_alone(monitor, caplog,
                                                                         monkeypatch):
    mon, server, environment, _ = monitor
    monkeypatch.setattr(FakeReader, "sample", lambda self, now: 1 / 0)
    environment.attach(INFO)
    assert FakeReader.made[0].closed
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == \
        ["stats sampling of %s failed" % server.uuid]
    assert mon.current() == zero_usage(0, RUNNING, 512)
    assert_no_event_for(server, 3 * INTERVAL)


@pytest.mark.parametrize("where", ["sample", "publish"])
def test_an_unexpected_error_is_logged_once_and_ends_sampling(monitor, caplog, where):
    mon, server, environment, _ = monitor
    environment.attach(INFO)
    wait_for_stats(server, 2)
    reader = FakeReader.made[0]
    if where == "sample":
        reader.broken = True
    else:
        server.publish_encoded = lambda event, data_json: 1 / 0
    gevent.sleep(4 * INTERVAL)
    assert reader.closed
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == \
        ["stats sampling of %s failed" % server.uuid]
    taken = reader.taken
    assert_no_event_for(server, 3 * INTERVAL)
    assert reader.taken == taken


def wait_for_walks(files, count):
    with gevent.Timeout(5):
        while files.walks < count:
            gevent.sleep(INTERVAL / 4)


def test_the_disk_is_walked_every_interval_while_running_watched_or_not(monitor):
    mon, server, environment, files = monitor
    server.follow = False
    environment.attach(INFO)
    wait_for_walks(files, 3)
    assert_walks_end_offline(server, files)


def assert_walks_end_offline(server, files):
    server.set_state(OFFLINE)
    walks = files.walks
    gevent.sleep(3 * INTERVAL)
    assert files.walks == walks


def test_no_walks_when_disk_checks_are_off(monitor):
    mon, server, environment, files = monitor
    files.walk_interval = 0
    environment.attach(INFO)
    wait_for_stats(server, 2)
    assert files.walks == 0


def test_over_the_disk_limit_warns_and_stops_once_per_start(monitor):
    mon, server, environment, files = monitor
    server.follow = False
    files.space = False
    environment.attach(INFO)
    wait_for_walks(files, 3)
    gevent.sleep(0)
    assert [e for e in server.events if e[0] == "daemon message"] == \
        [("daemon message", OVER_LIMIT)]
    assert mon.stops == [1]
    server.set_state(STARTING)
    server.state = RUNNING
    wait_for_walks(files, files.walks + 2)
    gevent.sleep(0)
    assert mon.stops == [1, 1]


def test_a_quota_change_over_the_limit_stops_at_once_not_at_the_next_walk(monitor):
    """A sync that lowers the limit under the usage, or bytes another process reports, is
    acted on when it happens, as Wings' check on every sample would."""
    mon, server, environment, files = monitor
    files.walk_interval = 3600
    environment.attach(INFO)
    wait_for_walks(files, 1)
    gevent.sleep(0)
    assert mon.stops == []
    files.change_quota(space=False)
    gevent.sleep(0)
    assert [e for e in server.events if e[0] == "daemon message"] == \
        [("daemon message", OVER_LIMIT)]
    assert mon.stops == [1]
    files.change_quota(space=False)
    gevent.sleep(0)
    assert mon.stops == [1]


def test_a_quota_change_while_not_running_stops_nothing(monitor):
    mon, server, environment, files = monitor
    files.change_quota(space=False)
    gevent.sleep(0)
    assert mon.stops == []
