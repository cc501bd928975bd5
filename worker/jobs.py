"""Long file jobs of one server: backup, restore, transfer (architecture.md, "Long file
jobs"; wings-behaviour.md §10, §11).

A job's heavy parts (walking, compressing, extracting) run on a native thread of its own,
at a lower CPU and I/O priority than the game, so the game, the console and the API keep
their share of the machine while an archive is made. The rest (:meth:`Job.prepare`,
:meth:`Job.run`, :meth:`Job.finish`: flags, network, Panel reports, events) runs on the
worker's event loop, where the bus, the Panel client and gevent's sockets live; so does
:meth:`Job.tick`, called every ``tick_seconds`` while the job runs (progress events).
:meth:`Job.run` hands work to the thread with ``offload(func, *args)``; by default it
offloads :meth:`Job.work` whole. Long file work a request waits for (compress, decompress)
runs at the same priority through :func:`in_job_thread`.

A job may hold one of the server's busy flags (``restoring``, ``transferring``): power
actions are refused while it runs (``Server.busy_reason``). Every job can be cancelled: its
work checks :meth:`Job.cancelled` between entries and stops with ``JobCancelled``.
"""

import ctypes
import functools
import logging
import os
import platform

import gevent
import gevent.event
from gevent import monkey
from gevent.threadpool import ThreadPool

from wingspan import errors
from wingspan.filesystem import start_in_thread

log = logging.getLogger(__name__)

JOB_NICENESS = 10
# ioprio_set(2): the best-effort class at its lowest level, below the game's default (4).
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_BE = 2
_IOPRIO_LOWEST = 7
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}

_native_id = monkey.get_original("_thread", "get_native_id")


class Job:
    """One long file job. Subclasses set ``kind`` and override the three steps.

    Args:
        identifier: what the job is about (a backup uuid, the server uuid for a transfer);
            one job per ``(kind, identifier)`` runs at a time, and one job per busy flag.
    """

    kind = "job"
    flag = None
    tick_seconds = None

    def __init__(self, identifier):
        self.identifier = identifier
        self._cancelled = False

    def cancel(self):
        self._cancelled = True

    def cancelled(self):
        """Whether :meth:`cancel` was called (read by the work thread between entries)."""
        return self._cancelled

    def prepare(self):
        """On the event loop, before the work: raise a WingspanError to refuse the job."""

    def run(self, offload):
        """On the event loop, after :meth:`prepare`; returns the job's result.
        ``offload(func, *args)`` runs ``func`` on the job's thread and returns its value."""
        return offload(self.work)

    def work(self):
        """On the job's low-priority thread (see :meth:`run`)."""
        raise NotImplementedError

    def tick(self):
        """On the event loop, every ``tick_seconds`` while the work runs."""

    def finish(self, result, error):
        """On the event loop, after the work: ``error`` is None or what the work raised."""


class Jobs:
    """The long file jobs of one server."""

    def __init__(self, server):
        self.server = server
        self.active = {}

    def running(self, kind=None):
        return [job for job in self.active.values() if kind is None or job.kind == kind]

    def find(self, kind, identifier):
        return self.active.get((kind, identifier))

    def start(self, job):
        """Prepare ``job`` now (its refusal is raised here) and run the rest in the
        background; returns the greenlet that runs it.

        Raises:
            Conflict: the same job, or another job holding its flag, is running.
            whatever ``job.prepare`` raises.
        """
        key = (job.kind, job.identifier)
        if key in self.active:
            raise errors.Conflict(detail="%s %s is already running" % key)
        if job.flag and any(other.flag == job.flag for other in self.active.values()):
            raise errors.Conflict(detail="a job holding %s is already running" % job.flag)
        self.active[key] = job
        try:
            job.prepare()
        except BaseException:
            del self.active[key]
            raise
        # Flagged only once accepted: a refused job must never show the server busy, not
        # even for the moment the API takes to see the flag set and cleared again.
        if job.flag:
            self.server.set_flag(job.flag, True)
        return gevent.spawn(self._run, job)

    def cancel(self, kind=None, identifier=None):
        """Cancel the matching jobs (every job when both are None); returns them."""
        matched = [job for (k, i), job in self.active.items()
                   if (kind is None or k == kind) and (identifier is None or i == identifier)]
        for job in matched:
            job.cancel()
        return matched

    def _run(self, job):
        result = error = None
        pool = ThreadPool(1)
        done = gevent.event.Event()
        ticker = gevent.spawn(_tick_until, job, done) if job.tick_seconds else None
        try:
            result = job.run(functools.partial(_offload, pool))
        except Exception as e:  # handed to the job's finish, which reports it
            error = e
            log.log(logging.INFO if isinstance(e, errors.JobCancelled) else logging.WARNING,
                    "%s %s failed: %s", job.kind, job.identifier, e, exc_info=not isinstance(
                        e, errors.WingspanError))
        finally:
            done.set()
            if ticker is not None:
                ticker.join()
            pool.kill()
        try:
            job.finish(result, error)
        except Exception:
            log.exception("%s %s: finishing failed", job.kind, job.identifier)
        finally:
            self._forget(job)

    def _forget(self, job):
        self.active.pop((job.kind, job.identifier), None)
        if job.flag:
            self.server.set_flag(job.flag, False)


def _tick_until(job, done):
    while not done.wait(job.tick_seconds):
        try:
            job.tick()
        except Exception:
            log.exception("%s %s: progress report failed", job.kind, job.identifier)


def in_job_thread(func, *args):
    """``func(*args)`` on a thread of its own at the jobs' lower priority, waited for: long
    file work a request waits for (compress, decompress) shares the machine like a job."""
    pool = ThreadPool(1)
    try:
        return _offload(pool, func, *args)
    finally:
        pool.kill()


def _offload(pool, func, *args):
    return start_in_thread(_low_priority, func, args, pool=pool).result()


def _low_priority(func, args):
    """Run ``func`` with this thread's CPU and I/O priority lowered; the compression
    threads it starts inherit both. The thread is the job's own and ends with it."""
    lower_thread_priority()
    return func(*args)


def lower_thread_priority():
    """Lower the calling thread's CPU (nice) and I/O (best-effort, lowest) priority; a
    system that refuses either is logged, not fatal."""
    tid = _native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid),
                                                 JOB_NICENESS))
    except OSError as e:
        log.info("job thread: CPU priority not lowered: %s", e)
    number = _IOPRIO_SET.get(platform.machine())
    if number is None:
        return
    value = (_IOPRIO_CLASS_BE << 13) | _IOPRIO_LOWEST
    if _libc().syscall(ctypes.c_long(number), ctypes.c_int(_IOPRIO_WHO_PROCESS),
                       ctypes.c_int(tid), ctypes.c_int(value)) != 0:
        log.info("job thread: I/O priority not lowered: %s", os.strerror(ctypes.get_errno()))


@functools.cache
def _libc():
    return ctypes.CDLL(None, use_errno=True)
