"""The supervised child state machine (issue 3: restart with backoff, failed after a loop)."""

import os
import signal

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
