"""The API's picture of the servers: stats followed while watched, usage asked otherwise
(issue 22: idle servers nobody watches move no stats over the bus)."""

import pytest

from api.registry import UTILIZATION_TIMEOUT, Registry
from wingspan import commands, envelope, errors
from wingspan.config import Config
from wingspan.usage import zero_usage

DEFINITION = {"uuid": "u1", "settings": {"uuid": "u1"}}


def usage(memory, state="running"):
    return dict(zero_usage(0, "offline", 0), memory_bytes=memory, state=state)


class FakeClient:
    """Answers ``server.utilization`` with the next of ``answers`` (an exception is raised)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def call(self, command, server=None, args=None, timeout=5.0):
        self.calls.append((command, server, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeFeed:
    def __init__(self):
        self.topics = []

    def subscribe(self, topic):
        self.topics.append(topic)

    def unsubscribe(self, topic):
        self.topics.remove(topic)


@pytest.fixture
def registry():
    def make(*answers):
        reg = Registry(Config(), FakeClient(*answers), FakeFeed())
        reg.add({"uuid": "u1", "definition": DEFINITION, "worker": "running"})
        return reg
    return make


def test_an_unwatched_servers_usage_is_asked_of_its_worker(registry):
    reg = registry(usage(100), usage(200))
    view = reg.get("u1")
    assert reg.utilization(view) == usage(100)
    assert reg.utilization(view) == usage(200)
    assert reg.client.calls == [(commands.UTILIZATION, "u1", UTILIZATION_TIMEOUT)] * 2
    assert view.api_object()["utilization"] == usage(200)
    assert reg.feed.topics == []


def test_a_worker_that_cannot_answer_leaves_the_last_usage_known(registry):
    reg = registry(usage(100), errors.WorkerUnavailable())
    view = reg.get("u1")
    reg.utilization(view)
    assert reg.utilization(view) == usage(100)


def test_a_watched_servers_usage_comes_from_its_stats_events(registry):
    reg = registry(usage(100))
    view = reg.get("u1")
    reg.follow_stats("u1", True)
    assert reg.feed.topics == [b"stats.u1"] == [envelope.topic("u1", "stats")]
    # until its first stats event arrives, the worker is asked
    assert reg.utilization(view) == usage(100)
    reg.apply_event("u1", "stats", usage(300))
    assert reg.utilization(view) == usage(300)
    assert len(reg.client.calls) == 1


def test_after_the_last_viewer_left_the_worker_is_asked_again(registry):
    reg = registry(usage(100))
    view = reg.get("u1")
    reg.follow_stats("u1", True)
    reg.apply_event("u1", "stats", usage(300))
    reg.follow_stats("u1", False)
    assert reg.feed.topics == []
    # a stats event queued before the unsubscription changes nothing
    reg.apply_event("u1", "stats", usage(400))
    assert reg.utilization(view) == usage(100)


def test_many_servers_are_asked_at_once_and_watched_ones_not_at_all(registry):
    reg = registry(usage(100))
    reg.add({"uuid": "u2", "definition": dict(DEFINITION, uuid="u2", settings={"uuid": "u2"}),
             "worker": "running"})
    reg.follow_stats("u2", True)
    reg.apply_event("u2", "stats", usage(7))
    reg.refresh_utilizations(list(reg.views.values()))
    assert [server for _, server, _ in reg.client.calls] == ["u1"]
    assert reg.get("u1").utilization == usage(100)
    assert reg.get("u2").utilization == usage(7)


def test_removing_a_watched_server_stops_following_it(registry):
    reg = registry()
    reg.follow_stats("u1", True)
    reg.remove("u1")
    assert reg.feed.topics == []
