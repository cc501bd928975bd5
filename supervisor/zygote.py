"""The zygote: a preloaded process that forks per-server workers cheaply.

The supervisor starts it first, as a fresh interpreter (``python -m supervisor.zygote``),
before it creates any ZeroMQ context, thread or gevent hub of its own. The zygote imports
the heavy modules once (gevent, zmq, the worker package), freezes them
out of the garbage collector's sight, and then forks a worker per request. Forked workers
share those pages copy-on-write, so each costs a few MiB instead of a fresh interpreter.

Protocol over an inherited socketpair, one JSON object per line::

    supervisor -> zygote   {"uuid": "...", "payload": {...}}
    zygote     -> supervisor {"uuid": "...", "pid": <worker pid>}
                           {"uuid": "...", "error": "<why no worker was forked>"}

The supervisor may send many requests without waiting (at boot it asks for every worker
at once); each is answered, in the order they were sent.

Each worker is forked twice (zygote -> intermediate -> worker) and the intermediate exits
once its workers are forked, so they are re-parented to the supervisor, which is a child
subreaper: the supervisor reaps its workers and sees their exit status directly. One
intermediate forks every request already waiting when the zygote reads, so a boot costs
a few intermediates, not one per worker, and the first workers boot while the next are
forked.

The zygote never creates a gevent hub, thread or ZeroMQ context; those would be unsafe to
fork. It dies with the supervisor (parent-death signal); the workers inherit its pidfd of
the supervisor and exit when it does (wingspan/lifeline.py).
"""

import ctypes
import gc
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

from supervisor.child import module_command
from wingspan import startup

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_MEMORY_MERGE = 67

log = logging.getLogger(__name__)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.fdopen.restype = ctypes.c_void_p
_libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
_libc.fclose.argtypes = [ctypes.c_void_p]
_malloc_info = getattr(_libc, "malloc_info", None)  # glibc's; None under another C library
if _malloc_info is not None:
    _malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]


def prctl(option, value):
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(%d) failed" % option)


def become_subreaper():
    """Make orphaned descendants (the workers) re-parent to this process."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


class Zygote:
    """The supervisor's handle on its zygote process."""

    def __init__(self, config_path, supervisor_pidfd):
        self.config_path = config_path
        self.supervisor_pidfd = supervisor_pidfd
        self.process = None
        self._sock = None
        self._requests = None  # supervisor.fork_requests.ForkRequests, made on first use

    def start(self):
        ours, theirs = socket.socketpair()
        with startup.reloads_held():
            self.process = subprocess.Popen(
                module_command("supervisor.zygote", str(theirs.fileno()), self.config_path,
                               str(self.supervisor_pidfd)),
                pass_fds=[theirs.fileno(), self.supervisor_pidfd], close_fds=True)
        theirs.close()
        self._sock = ours
        self._requests = None

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def fork_worker(self, uuid, payload):
        """Ask for a worker; returns its pid, or raises OSError when none was forked.

        Callers may ask at the same time (each greenlet waits for its own answer): the
        zygote forks back to back while the workers already forked boot.
        """
        if self._requests is None:
            # gevent only now: this module is imported before the zygote starts, when the
            # supervisor must not have a hub yet
            from supervisor.fork_requests import ForkRequests
            self._requests = ForkRequests(self._sock)
        return self._requests.fork(uuid, payload)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
        if self._requests is not None:
            self._requests.close()
        elif self._sock:
            self._sock.close()


def _preload(config_path):
    """Import everything a worker needs, run its first-use paths once, then hide it all
    from the cyclic GC.

    Loading the config and talking to Docker once here fills caches (compiled patterns,
    lazily built tables) that every worker would otherwise build for itself; ``gc.freeze``
    keeps the collector from touching, and so copying, the shared pages in each worker.
    """
    from wingspan import green
    green.patch_all()
    import worker.runtime  # noqa: F401 (imported for its side effect: preloading)
    _compile_worker_checks()
    _warm_up(config_path)
    _configure_worker_logging()
    if _merge_pages_configured():
        offer_pages_for_merging()
    gc.collect()
    _fill_free_blocks()
    _fill_free_chunks()
    gc.freeze()


def _merge_pages_configured():
    loaded = _preloaded.get("config")
    return loaded is not None and loaded[1].wingspan.worker.merge_pages


def offer_pages_for_merging():
    """Mark all of this process's memory, and its forks', for the kernel's same-page merging.

    What a worker copies of the zygote's pages is mostly alike from worker to worker (the
    same code run, the same objects touched); while KSM runs, each such page is then kept
    once for all of them. Kernels before 6.4 lack the option: the memory is then simply
    not merged.
    """
    try:
        prctl(PR_SET_MEMORY_MERGE, 1)
    except OSError:
        return


# Objects the zygote keeps only so that the free blocks they fill stay taken.
_FILLERS = []
_FILL_PASSES = 3


def _fill_free_blocks():
    """Take every free block of the pools the zygote's objects live in.

    A worker's new objects would otherwise go into those free blocks, spread over pages it
    shares with the zygote, and copy each such page for a few bytes of its own; with them
    taken, its objects fill pools of their own. The fillers cost the zygote once what the
    free blocks already held.
    """
    for _ in range(_FILL_PASSES):
        for size, count in _free_blocks().items():
            _FILLERS.extend(_object_of_size(size) for _ in range(count))


def _free_blocks():
    """``{block size: free blocks in used pools}``, from CPython's allocator statistics."""
    with tempfile.TemporaryFile() as report:
        stderr = os.dup(2)
        os.dup2(report.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(stderr, 2)
            os.close(stderr)
        report.seek(0)
        text = report.read().decode("ascii", "replace")
    return {int(m.group(1)): int(m.group(2)) for m in _SIZE_CLASS_ROW.finditer(text)}


# "class size pools blocks-in-use free-blocks", one row per size class
_SIZE_CLASS_ROW = re.compile(r"^\s+\d+\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s*$", re.M)


def _object_of_size(size):
    if size == 16:
        return object()
    if size == 32:
        return float(len(_FILLERS))
    return bytes(size - _BYTES_OVERHEAD)


_BYTES_OVERHEAD = sys.getsizeof(b"")


def _fill_free_chunks():
    """Take every free chunk of the C heap, as :func:`_fill_free_blocks` does for Python's
    pools.

    Objects over 512 bytes and the C libraries' buffers (ZeroMQ's) come from glibc's malloc,
    which would put a worker's first ones into the chunks the zygote's imports freed, all
    over heap pages it shares with the zygote: a page copied for each. With them taken, a
    worker's allocations come from the top of the heap, on pages of its own (0.2 MiB less
    per worker). Without glibc (no ``malloc_info``) nothing is done.
    """
    if _malloc_info is None:
        return
    for _ in range(_FILL_PASSES):
        for size, count in _free_chunks():
            _CHUNK_FILLERS.extend(_libc.malloc(size - _CHUNK_HEADER) for _ in range(count))


def _free_chunks():
    """``[(chunk size, free chunks)]`` of the main heap, the smallest size of each bin, from
    glibc's ``malloc_info`` report."""
    with tempfile.TemporaryFile() as report:
        stream = _libc.fdopen(os.dup(report.fileno()), b"w")
        _malloc_info(0, stream)
        _libc.fclose(stream)
        report.seek(0)
        text = report.read().decode("ascii", "replace")
    main_heap = text.partition("</heap>")[0]
    # the sizes carry the chunk's flag bits, which the low three bits hold
    return [(int(m.group(1)) & ~7, int(m.group(2))) for m in _CHUNK_ROW.finditer(main_heap)]


# <size from="SIZE" to="..." total="..." count="N"/>, one row per bin with free chunks
_CHUNK_ROW = re.compile(r'<(?:size|unsorted) from="(\d+)" to="\d+" total="\d+" count="(\d+)"/>')
# a chunk of SIZE bytes serves a request of SIZE minus its size field (glibc's SIZE_SZ)
_CHUNK_HEADER = ctypes.sizeof(ctypes.c_size_t)
# Chunks the zygote keeps only so that the free chunks they fill stay taken.
_CHUNK_FILLERS = []


_preloaded = {}


def _warm_up(config_path):
    """Load the config and learn Docker's API version once for every worker (they share
    the config until the file changes)."""
    from wingspan.engine import Engine
    try:
        _load_config(config_path)
        engine = Engine()
        _preloaded["docker_api_version"] = engine.api_version
        engine.close()  # no connection may be shared with the forked workers
    except Exception:  # only an optimisation: the workers meet and report real problems
        return


def _compile_worker_checks():
    """Compile the argument checks of the commands workers serve and send, once for all."""
    from wingspan import commands
    for command in commands.checked_by_workers():
        command.compile()


def _load_config(config_path):
    from wingspan.config import load
    mtime = os.stat(config_path).st_mtime_ns
    _preloaded["config"] = (mtime, load(config_path))


def _keep_config_current(config_path):
    """Parse config.yml again here if it changed since it was last read, so that the workers
    about to be forked share the new one instead of each parsing it. The supervisor
    rewrites the file at boot when it differs from what it would write (a config written by
    the Panel or by hand), which is after this process read it."""
    loaded = _preloaded.get("config")
    try:
        if loaded is not None and os.stat(config_path).st_mtime_ns == loaded[0]:
            return
        _load_config(config_path)
    except Exception:  # the workers read it themselves, and report what is wrong with it
        _preloaded.pop("config", None)
        return
    gc.freeze()  # like the rest of the preloaded memory, out of the workers' collections


def _configure_worker_logging():
    """The workers' logging, set up once here: a worker then only names its server
    (``wingspan.logs.configure``) instead of writing to every logger object it shares."""
    from wingspan import logs
    from wingspan.startup import runtime_flags
    loaded = _preloaded.get("config")
    logs.configure("worker", runtime_flags()[0] or (loaded is not None and loaded[1].debug))


def _read_batches(fd):
    """The complete lines of each read from a raw fd, as a list: everything already waiting
    is served at once. Plain os.read, because a gevent socket would create a hub."""
    pending = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if lines:
            yield lines


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _answer(fd, uuid, **result):
    _write_all(fd, json.dumps(dict(result, uuid=uuid)).encode() + b"\n")


def _serve(fd, config_path, supervisor):
    # The zygote has no hub to watch the supervisor's pidfd with: it is killed with it. If
    # the supervisor died before the signal was armed, its end of the socket is closed and
    # the read loop ends at once.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    for lines in _read_batches(fd):
        _keep_config_current(config_path)
        _fork_workers(fd, [json.loads(line) for line in lines], config_path, supervisor)
    os._exit(0)


def _fork_workers(fd, requests, config_path, supervisor):
    """Fork a worker per request through one intermediate process, and pass its answers
    on as they come.

    The intermediate answers through a pipe rather than the supervisor's socket, so that
    the zygote knows which requests it answered: if it dies part way, the rest are
    answered with an error here instead of leaving the supervisor waiting.
    """
    close = _original("close")
    answers, answers_in = os.pipe()
    try:
        intermediate = _original("fork")()
    except OSError as e:
        close(answers)
        close(answers_in)
        for request in requests:
            _answer(fd, request["uuid"], error="cannot fork: %s" % e.strerror)
        return
    if intermediate == 0:
        close(answers)
        _fork_each(requests, answers_in, (fd, answers_in), config_path, supervisor)
    close(answers_in)
    answered = 0
    for lines in _read_batches(answers):
        _write_all(fd, b"".join(line + b"\n" for line in lines))
        answered += len(lines)
    close(answers)
    _original("waitpid")(intermediate, 0)
    for request in requests[answered:]:
        _answer(fd, request["uuid"], error="the intermediate process died before forking it")


def _fork_each(requests, answers_in, inherited, config_path, supervisor):
    """In the intermediate: fork the workers one after the other, then exit (whatever
    happens: it must never return into the zygote's loop)."""
    try:
        for request in requests:
            try:
                pid = _original("fork")()
            except OSError as e:
                _answer(answers_in, request["uuid"], error="cannot fork: %s" % e.strerror)
                continue
            if pid == 0:
                _become_worker(inherited, request, config_path, supervisor)
            _answer(answers_in, request["uuid"], pid=pid)
    finally:
        os._exit(0)


def _become_worker(inherited, request, config_path, supervisor):
    """Run the worker and exit with its code; an exception that escapes it ends the
    process too, which otherwise would go on forking its siblings' workers."""
    code = 1
    try:
        close = _original("close")
        for fd in inherited:
            close(fd)
        from worker import runtime
        code = runtime.main(request["uuid"], request["payload"], config_path, supervisor,
                            _preloaded)
    except BaseException:
        log.exception("worker %s failed", request["uuid"])
    finally:
        os._exit(code)


def _original(name):
    """The os function gevent patched: the zygote runs no hub, and gevent's own versions
    wait for it (its ``close`` of a pipe, say, is put off until the hub's loop runs)."""
    from gevent import monkey
    return monkey.get_original("os", name)


def main():
    import setproctitle
    setproctitle.setproctitle("wingspan: zygote")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a reload is not the zygote's business; its workers hold it until they handle it
    startup.hold_reloads()
    fd, config_path, supervisor = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    _preload(config_path)
    _serve(fd, config_path, supervisor)


if __name__ == "__main__":
    main()
