"""Long file jobs in a server's worker (architecture.md "Long file jobs"; wings-behaviour.md
§10.2 step 1 and §11.1 step 2: power actions refused while a restore or a transfer runs)."""

import os
import threading

import gevent
import gevent.event
import pytest

from wingspan import errors
from worker import jobs
from worker.jobs import Job, Jobs, in_job_thread


class FakeServer:
    def __init__(self):
        self.restoring = False
        self.flags = []

    def set_flag(self, name, value):
        setattr(self, name, value)
        self.flags.append((name, value))


class Recorder(Job):
    kind = "test"

    def __init__(self, identifier, work=None, flag=None):
        super().__init__(identifier)
        self.flag = flag
        self._work = work or (lambda job: "done")
        self.finished = gevent.event.AsyncResult()
        self.ticks = 0
        self.thread = None

    def work(self):
        self.thread = threading.get_native_id()
        return self._work(self)

    def tick(self):
        self.ticks += 1

    def finish(self, result, error):
        self.finished.set((result, error))


@pytest.fixture
def server():
    return FakeServer()


def test_work_runs_off_the_event_loop_and_finish_gets_its_result(server):
    job = Recorder("a")
    Jobs(server).start(job).join(5)
    assert job.finished.get(0) == ("done", None)
    assert job.thread != threading.get_native_id()


def test_the_work_thread_has_a_lower_cpu_priority():
    def work(job):
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    job = Recorder("nice", work)
    Jobs(FakeServer()).start(job).join(5)
    niceness, error = job.finished.get(0)
    assert error is None and niceness >= jobs.JOB_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < jobs.JOB_NICENESS


def test_a_failing_work_is_handed_to_finish(server):
    def work(job):
        raise errors.NotEnoughDisk()
    job = Recorder("b", work)
    Jobs(server).start(job).join(5)
    result, error = job.finished.get(0)
    assert result is None and isinstance(error, errors.NotEnoughDisk)


def test_the_flag_is_held_while_it_runs_and_cleared_after(server):
    release = threading.Event()
    job = Recorder("c", lambda job: release.wait(5), flag="restoring")
    registry = Jobs(server)
    runner = registry.start(job)
    assert server.restoring is True
    assert registry.running("test") == [job]
    release.set()
    runner.join(5)
    assert server.flags == [("restoring", True), ("restoring", False)]
    assert registry.running() == []


def test_the_same_job_twice_is_a_conflict(server):
    release = threading.Event()
    registry = Jobs(server)
    runner = registry.start(Recorder("d", lambda job: release.wait(5)))
    with pytest.raises(errors.Conflict):
        registry.start(Recorder("d"))
    registry.start(Recorder("e")).join(5)
    release.set()
    runner.join(5)


def test_one_job_per_busy_flag(server):
    """Two restores of one server would extract over each other: the second is refused and
    the first keeps its flag."""
    release = threading.Event()
    registry = Jobs(server)
    runner = registry.start(Recorder("first", lambda job: release.wait(5), flag="restoring"))
    with pytest.raises(errors.Conflict):
        registry.start(Recorder("second", flag="restoring"))
    assert server.restoring is True
    release.set()
    runner.join(5)
    assert server.restoring is False


def test_a_refused_prepare_leaves_nothing_behind(server):
    class Refused(Recorder):
        def prepare(self):
            raise errors.BackupNotFound()
    registry = Jobs(server)
    with pytest.raises(errors.BackupNotFound):
        registry.start(Refused("f", flag="restoring"))
    assert registry.running() == [] and server.restoring is False
    assert server.flags == []  # never set, so the API never counted it as suspended


def test_cancel_reaches_the_work(server):
    started = threading.Event()

    def work(job):
        started.set()
        while not job.cancelled():
            threading.Event().wait(0.01)
        raise errors.JobCancelled()
    job = Recorder("g", work)
    registry = Jobs(server)
    runner = registry.start(job)
    while not started.is_set():  # the job's thread is started by a greenlet
        gevent.sleep(0.01)
    assert registry.cancel("test", "g") == [job]
    runner.join(5)
    assert isinstance(job.finished.get(0)[1], errors.JobCancelled)


def test_ticks_run_on_the_event_loop_while_the_work_runs(server):
    release = threading.Event()

    class Ticking(Recorder):
        tick_seconds = 0.01

    job = Ticking("h", lambda job: release.wait(5))
    runner = Jobs(server).start(job)
    while job.ticks < 2:
        gevent.sleep(0.01)
    release.set()
    runner.join(5)
    assert job.finished.get(0) == (True, None)


def test_work_a_request_waits_for_runs_at_the_jobs_priority():
    """compress and decompress: off the event loop, at the lower priority, the result and
    the errors handed back."""
    niceness = in_job_thread(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert niceness >= jobs.JOB_NICENESS
    with pytest.raises(errors.NotEnoughDisk):
        in_job_thread(_no_disk)


def _no_disk():
    raise errors.NotEnoughDisk()
