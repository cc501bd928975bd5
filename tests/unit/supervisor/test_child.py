"""The supervised child state machine (issue 3: restart with backoff, failed after a loop)."""

import os
import signal

import pytest

from supervisor import child
from supervisor.policy import RestartPolicy


def exit_status(code):
    return code << 8


def signal_status(sig):
    return sig


class Spawner:
    def __init__(self):
        self.pids = iter(range(1000, 2000))
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return next(self.pids)


def make(signals_ready=False, **policy):
    policy.setdefault("rng", lambda: 0.5)
    spawn = Spawner()
    proc = child.Child("worker x", spawn, RestartPolicy(**policy),
                       permanent_exit_codes=(78,), signals_ready=signals_ready)
    return proc, spawn


def test_start_without_ready_signal_is_running():
    proc, spawn = make()
    proc.start(0)
    assert (proc.state, proc.pid, spawn.calls) == (child.RUNNING, 1000, 1)


def test_start_with_ready_signal_waits_for_it():
    proc, _ = make(signals_ready=True)
    proc.start(0)
    assert proc.state == child.STARTING
    proc.ready()
    assert proc.state == child.RUNNING


def test_death_schedules_restart_after_backoff():
    proc, spawn = make(initial=1.0)
    proc.start(0)
    proc.exited(5, signal_status(signal.SIGKILL))
    assert proc.state == child.BACKOFF and proc.pid is None
    proc.tick(5.5)
    assert spawn.calls == 1
    proc.tick(6.0)
    assert spawn.calls == 2 and proc.state == child.RUNNING


def test_permanent_exit_code_is_not_restarted():
    proc, spawn = make()
    proc.start(0)
    proc.exited(1, exit_status(78))
    proc.tick(1000)
    assert proc.state == child.FAILED and spawn.calls == 1


def test_crash_loop_ends_in_failed():
    proc, spawn = make(max_failures=3, initial=0.0)
    proc.start(0)
    for now in range(1, 10):
        proc.exited(now, exit_status(1))
        proc.tick(now)
    assert proc.state == child.FAILED
    assert spawn.calls == 3


def test_requested_stop_is_not_restarted():
    proc, spawn = make()
    proc.start(0)
    os_kill = []
    proc.signal = os_kill.append
    proc.stop()
    assert os_kill == [signal.SIGTERM] and proc.state == child.STOPPING
    proc.exited(1, exit_status(0))
    proc.tick(100)
    assert proc.state == child.STOPPED and spawn.calls == 1


def test_describe_status_names_signals_and_codes():
    assert child.describe_status(exit_status(3)) == "exit code 3"
    assert child.describe_status(signal_status(signal.SIGKILL)) == "signal SIGKILL (out of memory?)"
    assert child.describe_status(signal_status(signal.SIGTERM)) == "signal SIGTERM"
    assert os.WIFEXITED(exit_status(3))


def test_stop_while_the_spawn_waits_stops_the_new_process():
    """A worker deleted while the zygote forks it: the process that appears is told to stop
    at once and is not restarted."""
    sent = []
    proc = child.Child("worker x", lambda: stop_midway(proc, 4242), RestartPolicy())
    proc.signal = sent.append
    proc.start(0)
    assert (proc.state, proc.pid, sent) == (child.STOPPING, 4242, [signal.SIGKILL])
    proc.exited(1, signal_status(signal.SIGKILL))
    assert proc.state == child.STOPPED
    proc.tick(10_000)
    assert proc.pid is None


def test_a_signal_sent_while_the_spawn_waits_reaches_the_new_process(monkeypatch):
    """A reload (SIGHUP to every child) that comes while the zygote forks a worker: the
    worker may already have read the old config.yml, so it gets the signal once its pid is
    known, once however many reloads came."""
    killed = []
    monkeypatch.setattr(child.os, "kill", lambda pid, sig: killed.append((pid, sig)))

    def spawn():
        proc.signal(signal.SIGHUP)
        proc.signal(signal.SIGHUP)
        return 4242

    proc = child.Child("worker x", spawn, RestartPolicy(), signals_ready=True)
    proc.start(0)
    assert (proc.state, killed) == (child.STARTING, [(4242, signal.SIGHUP)])
    proc.signal(signal.SIGHUP)
    assert killed == [(4242, signal.SIGHUP)] * 2


def test_a_signal_to_a_child_without_a_process_is_not_kept_for_a_later_one(monkeypatch):
    killed = []
    monkeypatch.setattr(child.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    proc, _ = make()
    proc.signal(signal.SIGHUP)  # stopped: the process started later reads the file anyway
    proc.start(0)
    assert killed == []


def test_stop_while_a_failing_spawn_waits_schedules_no_restart():
    def failing():
        proc.stop(signal.SIGKILL)
        raise OSError("zygote closed its socket")

    proc = child.Child("worker x", failing, RestartPolicy())
    proc.start(0)
    assert (proc.state, proc.pid, proc.next_start) == (child.STOPPED, None, None)


def stop_midway(proc, pid):
    proc.stop(signal.SIGKILL)
    return pid


def test_a_child_not_ready_within_boot_timeout_is_killed_and_restarted(monkeypatch, caplog):
    """issue 20 part 2: ``wingspan.worker.boot_timeout`` kills a worker that hangs while
    booting; its death then takes the usual backoff."""
    clock = [100.0]
    killed = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    spawn = Spawner()
    proc = child.Child("worker x", spawn, RestartPolicy(initial=1.0, rng=lambda: 0.5),
                       signals_ready=True, boot_timeout=30, clock=lambda: clock[0])
    proc.start(0)
    clock[0] = 129.9
    proc.tick(29.9)
    assert killed == [] and proc.state == child.STARTING
    clock[0] = 130.0
    proc.tick(30.0)
    proc.tick(30.1)  # killed once, not at every tick while waiting for the exit
    assert killed == [(1000, signal.SIGKILL)]
    proc.exited(30.2, signal_status(signal.SIGKILL))
    assert proc.state == child.BACKOFF and proc.next_start == 31.2
    assert "did not report ready within 30s; killing it" in caplog.text
    assert "died" not in caplog.text
    proc.tick(31.2)
    assert proc.pid == 1001 and proc.state == child.STARTING
    proc.ready()
    clock[0] = 1000.0
    proc.tick(40)
    assert proc.state == child.RUNNING and len(killed) == 1


def test_no_boot_timeout_without_a_ready_signal(monkeypatch):
    monkeypatch.setattr(os, "kill", lambda pid, sig: pytest.fail("killed"))
    proc = child.Child("api", Spawner(), boot_timeout=1, clock=lambda: 10 ** 6)
    proc.start(0)
    proc.tick(5)
    assert proc.state == child.RUNNING
