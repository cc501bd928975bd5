"""The per-server floor of wingspan's design, without wingspan: ``python -m bench.design_floor
CONTAINER...`` prints the seconds it took, as JSON.

The design fixes a process per server, forked from a preloaded parent, on a ZeroMQ bus, holding
its container's attach stream (issue 22). This forks a child per running container from a
parent that has imported the same stack (gevent patched, zmq.green, the daemon's Docker
client); each child connects a DEALER, inspects and attaches its container, and says ready.
The time from the first fork until every child is ready is what the interpreter, the kernel
and Docker cost per server before any of wingspan's own work; beside the sequential
inspect+attach baseline it bounds how close a re-attach of that many servers can come.
"""

import gc
import json
import os
import sys
import time

from gevent import monkey

monkey.patch_all()

import zmq  # noqa: E402 (after patching, as in the zygote)
import zmq.green as green_zmq  # noqa: E402

from wingspan.engine import Engine  # noqa: E402

READY_TIMEOUT_MS = 60000
# The parent runs no gevent hub: gevent's versions of these would wait for one.
_fork, _close, _waitpid = (monkey.get_original("os", name) for name in ("fork", "close", "waitpid"))


def ready_child(endpoint, container, api_version):
    """In a child: what a worker must do at the least before it is ready."""
    sock = green_zmq.Context().socket(green_zmq.DEALER)
    sock.connect(endpoint)
    engine = Engine(version=api_version)
    engine.inspect(container)
    stream = engine.attach(container)
    sock.send(b"ready")
    return sock, stream


def fork_children(containers, endpoint, api_version, release):
    """Fork a child per container; each stays (holding its stream) until the write end of
    the ``release`` pipe is closed."""
    pids = []
    for container in containers:
        pid = _fork()
        if pid == 0:
            code = 1
            try:
                _close(release[1])
                held = ready_child(endpoint, container, api_version)  # noqa: F841 (kept open)
                os.read(release[0], 1)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    return pids


def measure(containers):
    api_version = Engine().api_version
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    endpoint = "ipc://@wingspan-design-floor-%d" % os.getpid()
    router.bind(endpoint)
    gc.collect()
    gc.freeze()
    release = os.pipe()
    started = time.perf_counter()
    pids = fork_children(containers, endpoint, api_version, release)
    try:
        for _ in containers:
            if not router.poll(READY_TIMEOUT_MS):
                raise RuntimeError("a child was not ready within %d ms" % READY_TIMEOUT_MS)
            router.recv_multipart()
        return time.perf_counter() - started
    finally:
        _close(release[1])
        for pid in pids:
            _waitpid(pid, 0)
        router.close(linger=0)
        context.term()


if __name__ == "__main__":
    print(json.dumps({"seconds": measure(sys.argv[1:])}))
