"""The power lock (wings-behaviour.md §2.2): one action at a time, kill bypasses it, and an
action asked for while a finished kill waits for Docker's answer, or a stop asked for while
a start that already shows `running` returns, is queued, not refused. Every accepted action
that fails is reported as a ``power error``."""

import gevent
import gevent.event
import pytest

from wingspan import errors
from worker.power import Power
from worker.server import OFFLINE, RUNNING, STARTING


class FakeServer:
    def __init__(self, state=RUNNING):
        self.state = state
        self.suspended = False
        self.events = []

    def busy_reason(self):
        return None

    def publish(self, event, data=None):
        self.events.append((event, data))

    def daemon_message(self, text):
        self.events.append(("daemon message", text))


class FakeEnvironment:
    """``terminate`` marks the server offline at once but, like Docker's kill endpoint,
    returns only when ``docker_answers`` is set."""

    def __init__(self, server):
        self.server = server
        self.calls = []
        self.docker_answers = gevent.event.Event()
        self.release_start = gevent.event.Event()
        self.release_start.set()
        self.stop_fails = None

    def terminate(self, signal_name):
        self.calls.append(("terminate", signal_name))
        self.server.state = OFFLINE
        self.docker_answers.wait(5)

    def start(self, pull_image):
        self.calls.append(("start",))
        self.server.state = STARTING
        self.release_start.wait(5)

    def wait_for_stop(self, timeout, terminate=True):
        self.calls.append(("stop",))
        if self.stop_fails is not None:
            raise self.stop_fails
        self.server.state = OFFLINE


class FakePreboot:
    def prepare(self):
        pass


@pytest.fixture
def power():
    server = FakeServer()
    environment = FakeEnvironment(server)
    return Power(server, environment, FakePreboot(), images=None)


def test_start_right_after_a_kill_waits_for_docker_instead_of_failing(power):
    env = power.environment
    power.request("kill")
    gevent.sleep(0.01)
    assert power.server.state == OFFLINE and power.lock.locked()

    power.request("start")  # would be "another power action is being processed" upstream
    gevent.sleep(0.05)
    assert ("start",) not in env.calls

    env.docker_answers.set()
    gevent.sleep(0.05)
    assert env.calls == [("terminate", "SIGKILL"), ("start",)]
    assert not power.lock.locked()
    assert [e for e in power.server.events if e[0] == "power error"] == []


def test_an_action_during_a_start_is_refused(power):
    env = power.environment
    power.server.state = OFFLINE
    env.release_start.clear()
    power.request("start")
    gevent.sleep(0.01)
    with pytest.raises(errors.PowerLocked):
        power.request("stop")
    env.release_start.set()
    gevent.sleep(0.01)
    assert not power.lock.locked()


def test_kill_bypasses_a_held_lock(power):
    env = power.environment
    env.docker_answers.set()
    power.server.state = OFFLINE
    env.release_start.clear()
    power.request("start")
    gevent.sleep(0.01)
    power.request("kill")
    gevent.sleep(0.01)
    assert ("terminate", "SIGKILL") in env.calls
    env.release_start.set()
    gevent.sleep(0.01)
    assert not power.lock.locked()


def test_start_of_a_running_server_is_a_conflict(power):
    with pytest.raises(errors.Conflict):
        power.request("start")
    assert not power.lock.locked()


def test_suspended_server_cannot_start(power):
    power.server.state = OFFLINE
    power.server.suspended = True
    with pytest.raises(errors.ServerSuspended):
        power.request("start")
    assert not power.lock.locked()


def test_a_stop_once_the_start_shows_running_waits_for_the_start_to_return(power):
    env = power.environment
    power.server.state = OFFLINE
    env.release_start.clear()
    power.request("start")
    gevent.sleep(0.01)
    power.server.state = RUNNING  # the done line, before the start has returned

    power.request("stop")  # upstream: "another power action is being processed"
    gevent.sleep(0.05)
    assert env.calls == [("start",)]

    env.release_start.set()
    gevent.sleep(0.05)
    assert env.calls == [("start",), ("stop",)]
    assert not power.lock.locked()
    assert [e for e in power.server.events if e[0] == "power error"] == []


def test_a_start_asked_for_while_a_running_start_returns_is_refused(power):
    env = power.environment
    power.server.state = OFFLINE
    env.release_start.clear()
    power.request("start")
    gevent.sleep(0.01)
    power.server.state = RUNNING
    with pytest.raises(errors.PowerLocked):
        power.request("start")
    env.release_start.set()


def test_an_unexpected_failure_is_reported_not_lost(power):
    power.environment.stop_fails = OSError("broken pipe")
    power.request("stop")
    gevent.sleep(0.05)
    assert power.server.events == [("power error", errors.WingspanError().to_wire())]
    assert not power.lock.locked()
