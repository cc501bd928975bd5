"""The supervisor's end of the zygote's socket: fork requests that overlap.

Any number of greenlets may ask for a worker at once (at boot the supervisor asks for
every server's worker together). Each request is written whole, and its waiter queued, as
one step; the zygote answers in the order it read them (``supervisor/zygote.py``), so the
answers are matched to the queue's head, and each carries its uuid to check that.
"""

import collections
import json
import logging

import gevent
import gevent.event
import gevent.lock
from gevent import socket as green_socket

log = logging.getLogger(__name__)


class ForkRequests:
    """Args:
        sock: the supervisor's end of the socketpair; taken over (detached).
    """

    def __init__(self, sock):
        self._sock = green_socket.socket(fileno=sock.detach())
        self._sending = gevent.lock.Semaphore()
        self._waiting = collections.deque()  # (uuid, AsyncResult), in the order sent
        self._closed = None  # why no request can be answered any more
        self._reader = gevent.spawn(self._read_answers)

    def fork(self, uuid, payload):
        """Ask for a worker for ``uuid``; returns its pid, or raises OSError."""
        line = json.dumps({"uuid": uuid, "payload": payload}).encode() + b"\n"
        answer = gevent.event.AsyncResult()
        with self._sending:
            if self._closed is not None:
                raise OSError(self._closed)
            self._waiting.append((uuid, answer))
            self._sock.sendall(line)
        return answer.get()

    def close(self):
        """Fail the requests still waiting and close the socket."""
        self._fail_waiting("the zygote was stopped")
        self._reader.kill()
        self._sock.close()

    def _read_answers(self):
        try:
            for line in self._sock.makefile("rb"):
                self._answered(json.loads(line))
        except OSError:
            pass
        self._fail_waiting("the zygote closed its socket")

    def _answered(self, reply):
        if not self._waiting:
            log.error("the zygote answered a request nobody made: %r", reply)
            return
        uuid, answer = self._waiting.popleft()
        if reply.get("uuid") != uuid:
            answer.set_exception(OSError("the zygote answered %s for a request for %s"
                                         % (reply.get("uuid"), uuid)))
        elif "pid" in reply:
            answer.set(reply["pid"])
        else:
            answer.set_exception(OSError(reply.get("error", "no worker was forked")))

    def _fail_waiting(self, reason):
        if self._closed is None:
            self._closed = reason
        while self._waiting:
            _, answer = self._waiting.popleft()
            answer.set_exception(OSError(reason))
