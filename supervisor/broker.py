"""The request broker and the event proxy, both bound by the supervisor.

Requests from the API (DEALER) arrive on the control ROUTER. A request naming a server is
forwarded to that server's worker on the workers ROUTER (``ROUTER_MANDATORY``, so a worker
that is not connected is known at once and answered with ``worker_unavailable`` instead of
letting the caller wait for its deadline). A request for a worker that is still starting (at
boot the API answers before every worker is up, and a server just created has a worker on
its way) is held until the worker is ready, and refused only if it dies or the request is
about to expire: the Panel sees a node that is booting as slower, not as broken. A request
without a server is a supervisor command and is handled here. Replies travel back the same
way.

Events are forwarded XSUB -> XPUB by ``zmq.proxy`` in a native thread: the forwarding loop
runs in C without the GIL, so a flooding console costs the supervisor nothing.
"""

import logging
import time

import gevent
import zmq as native_zmq
import zmq.green as zmq

from supervisor import child
from wingspan import bus, envelope, errors

log = logging.getLogger(__name__)

# A held request is refused this long before its deadline, so the caller hears why.
HOLD_MARGIN = 0.25
HOLD_SWEEP_MS = 100


class Broker:
    """Routes requests between clients, workers and the supervisor's own commands.

    Args:
        context: a ``zmq.green`` context.
        endpoints: ``wingspan.bus.Endpoints``.
        commands: ``wingspan.bus.CommandRegistry`` for requests without a server.
        worker_state: ``f(uuid) -> str | None``, the worker's ``supervisor.child`` state:
            ``running`` is served, ``starting`` is held, anything else is answered
            ``worker_unavailable`` at once.
        on_notice: ``f(uuid, message)`` for one-frame notices a worker sends unasked
            (``worker.ready``). They use this reliable channel rather than PUB, which
            drops whatever is published before its subscriptions arrive.
    """

    def __init__(self, context, endpoints, commands, worker_state, on_notice):
        self._commands = commands
        self._worker_state = worker_state
        self._on_notice = on_notice
        self._front = bus.make_socket(context, zmq.ROUTER, MAXMSGSIZE=envelope.MAX_MESSAGE_BYTES)
        self._front.bind(endpoints.control)
        self._back = bus.make_socket(context, zmq.ROUTER, ROUTER_MANDATORY=1,
                                     MAXMSGSIZE=envelope.MAX_MESSAGE_BYTES)
        self._back.bind(endpoints.workers)
        self._inflight = {}
        self._held = {}  # server -> [(client, body, req)] waiting for the worker to start

    def run(self):
        poller = zmq.Poller()
        poller.register(self._front, zmq.POLLIN)
        poller.register(self._back, zmq.POLLIN)
        while True:
            for sock, _ in poller.poll(HOLD_SWEEP_MS if self._held else None):
                if sock is self._front:
                    self._from_client(self._front.recv_multipart())
                else:
                    self._from_worker(self._back.recv_multipart())
            if self._held:
                self._refuse_overdue(time.time())

    def _from_client(self, frames):
        client, body = frames[0], frames[-1]
        req = envelope.load_or_drop(body, "a request from a client", envelope.is_request)
        if req is None:
            return
        server = req.get("server")
        if not server:
            gevent.spawn(self._run_command, client, req)
            return
        state = self._worker_state(server)
        if state == child.RUNNING:
            self._forward(client, body, req)
        elif state == child.STARTING:
            self._held.setdefault(server, []).append((client, body, req))
        else:
            self._answer_unavailable(client, req)

    def _forward(self, client, body, req):
        try:
            self._back.send_multipart([req["server"].encode(), client, body], zmq.NOBLOCK)
            self._remember(client, req)
        except zmq.ZMQError:
            self._answer_unavailable(client, req)

    def _from_worker(self, frames):
        if len(frames) == 2:
            self._notice(frames[0].decode(errors="replace"), frames[1])
            return
        if len(frames) not in (3, 4):  # a reply, with or without its attached frame
            log.warning("dropping malformed reply from worker %r", frames[0])
            return
        reply = envelope.load_or_drop(frames[2], "a reply from a worker", envelope.is_reply)
        if reply is not None:
            self._inflight.pop(reply["id"], None)
            self._front.send_multipart(frames[1:])

    def worker_ready(self, server):
        """The worker is up: pass on what was held for it."""
        now = time.time()
        for client, body, req in self._held.pop(server, ()):
            if not envelope.expired(req, now):
                self._forward(client, body, req)

    def worker_gone(self, server):
        """Fail at once every request the dead worker took, or was to take, and will never
        answer."""
        for client, _, req in self._held.pop(server, ()):
            self._answer_unavailable(client, req)
        for req_id, (client, req) in list(self._inflight.items()):
            if req["server"] == server:
                del self._inflight[req_id]
                self._answer_unavailable(client, req)

    def _remember(self, client, req):
        now = time.time()
        if len(self._inflight) > 1024:  # replies that never came: forget the expired ones
            for req_id, (_, old) in list(self._inflight.items()):
                if envelope.expired(old, now):
                    del self._inflight[req_id]
        self._inflight[req["id"]] = (client, {"id": req["id"], "server": req["server"],
                                              "deadline": req["deadline"]})

    def _refuse_overdue(self, now):
        for server in list(self._held):
            waiting = []
            for client, body, req in self._held[server]:
                if now >= req.get("deadline", 0) - HOLD_MARGIN:
                    self._answer_unavailable(client, req)
                else:
                    waiting.append((client, body, req))
            if waiting:
                self._held[server] = waiting
            else:
                del self._held[server]

    def _notice(self, worker, body):
        message = envelope.load_or_drop(body, "a notice from worker %s" % worker)
        if message is not None:
            self._on_notice(worker, message)

    def _run_command(self, client, req):
        self._front.send_multipart([client] + self._commands.handle(req))

    def _answer_unavailable(self, client, req):
        error = errors.WorkerUnavailable(detail="worker for %s is not connected" % req["server"])
        self._front.send_multipart([client, envelope.dump(envelope.reply_error(req["id"], error))])


def run_event_proxy(endpoints):
    """Forward events XSUB -> XPUB forever; call in a native thread."""
    context = native_zmq.Context.instance()
    xsub = context.socket(native_zmq.XSUB)
    xsub.setsockopt(native_zmq.LINGER, 0)
    xsub.setsockopt(native_zmq.RCVHWM, 100000)
    xsub.bind(endpoints.events_in)
    xpub = context.socket(native_zmq.XPUB)
    xpub.setsockopt(native_zmq.LINGER, 0)
    xpub.setsockopt(native_zmq.SNDHWM, 100000)
    xpub.bind(endpoints.events_out)
    native_zmq.proxy(xsub, xpub)
