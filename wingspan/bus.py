"""ZeroMQ sockets of the daemon: where they live, who binds, and the green clients.

Topology (the supervisor binds everything, children connect)::

    requests  API DEALER -> control.sock ROUTER [broker] ROUTER workers.sock <- DEALER worker
    events    worker XPUB -> events.in XSUB [proxy] XPUB events.sock <- SUB API, supervisor

All endpoints are ``ipc://`` files in the run directory, which is created with mode 0700.
Messages are built and parsed only by ``wingspan.envelope``.
"""

import logging
import os
import time

import gevent
import zmq as plain_zmq
import zmq.green as zmq
from gevent.event import AsyncResult

from wingspan import envelope, errors

log = logging.getLogger(__name__)


class Endpoints:
    """The ipc:// addresses inside one run directory."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.control = "ipc://%s" % os.path.join(run_dir, "control.sock")
        self.workers = "ipc://%s" % os.path.join(run_dir, "workers.sock")
        self.events_in = "ipc://%s" % os.path.join(run_dir, "events.in")
        self.events_out = "ipc://%s" % os.path.join(run_dir, "events.sock")

    def prepare(self):
        """Create the run directory private to the daemon's user."""
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        os.chmod(self.run_dir, 0o700)


# How often a worker's green socket re-checks its state while it waits for a message.
IDLE_RECHECK = 60.0


def make_socket(context, kind, plain=False, recheck=None, **options):
    """A socket with LINGER 0 and ``options``; ``plain`` skips the green wrapper, for a
    socket whose every call returns at once.

    A green socket that waits re-checks its state every ``recheck`` seconds (None: pyzmq's
    11.6 s), in case an event of its was missed. A worker's sockets wait most of their
    life: at pyzmq's pace its two woke it a sixth as often as its stats did, so a worker
    passes ``IDLE_RECHECK``.
    """
    sock = plain_zmq.Socket(context, kind) if plain else context.socket(kind)
    if recheck is not None and isinstance(sock, zmq.Socket):
        sock._gevent_bug_timeout = recheck
    sock.setsockopt(zmq.LINGER, 0)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    return sock


class BusClient:
    """A DEALER client with many requests in flight, each with its own deadline.

    One reader greenlet matches replies to waiting callers by envelope id, so a slow
    worker never blocks requests to other workers.
    """

    def __init__(self, context, endpoint, recheck=None):
        self._sock = make_socket(context, zmq.DEALER, recheck=recheck,
                                 MAXMSGSIZE=envelope.MAX_MESSAGE_BYTES)
        self._sock.connect(endpoint)
        self._pending = {}
        self._reader = gevent.spawn(self._read_replies)

    def call(self, command, server=None, args=None, timeout=5.0):
        """Send a request for a declared ``wingspan.commands.Command`` and wait for its
        result.

        Raises:
            WingspanError: the error the other side replied with (same class).
            BusTimeout: no reply before the deadline.
        """
        return self.ask(command, server, args, timeout).result()

    def ask(self, command, server=None, args=None, timeout=5.0):
        """Send a request now and return its :class:`PendingCall`: the caller goes on with
        its own work while the other process does this."""
        req = envelope.request(command, server, args, timeout)
        waiter = self._pending[req["id"]] = AsyncResult()
        try:
            self._sock.send(envelope.dump(req))
        except BaseException:
            self._pending.pop(req["id"], None)
            raise
        return PendingCall(self._pending, req, waiter, time.monotonic() + timeout)

    def _read_replies(self):
        while True:
            frames = self._sock.recv_multipart()
            reply = envelope.load_or_drop(frames[0], "a reply", envelope.is_reply)
            if reply is None:
                continue
            waiter = self._pending.get(reply.get("id"))
            if waiter is not None:
                waiter.set((reply, frames[1:]))

    def close(self):
        self._reader.kill()
        self._sock.close()


class PendingCall:
    """A request sent by :meth:`BusClient.ask`, its reply not yet read."""

    def __init__(self, pending, req, waiter, expires):
        self._pending = pending
        self._req = req
        self._waiter = waiter
        self._expires = expires  # monotonic: the envelope's deadline is wall-clock time

    def result(self):
        """Wait for the reply (until the request's deadline) and return its result.

        Raises:
            WingspanError: the error the other side replied with (same class).
            BusTimeout: no reply before the deadline.
        """
        req = self._req
        try:
            reply, attached = self._waiter.get(
                timeout=max(0.0, self._expires - time.monotonic()))
        except gevent.Timeout as e:
            raise errors.BusTimeout(detail="%s to %s timed out" % (req["cmd"], req["server"])) \
                from e
        finally:
            self.discard()
        return envelope.result_of(reply, attached)

    def ready(self):
        """Whether the reply is in (:meth:`result` then returns at once)."""
        return self._waiter.ready()

    def discard(self):
        """Forget the request: its reply, should one come, is dropped."""
        self._pending.pop(self._req["id"], None)


# Two sends with a plain int flag: send_multipart combines pyzmq's enum flags in Python for
# every frame, which took two thirds of each event's send time. They call pyzmq's compiled
# send itself: its Python subclass only adds DRAFT routing ids and groups, which PUB has not.
_MORE = int(zmq.SNDMORE)
_send = plain_zmq.backend.Socket.send
_recv = plain_zmq.backend.Socket.recv
_NOBLOCK = int(zmq.NOBLOCK)
_FD, _EVENTS, _POLLIN = int(zmq.FD), int(zmq.EVENTS), int(zmq.POLLIN)
SUBSCRIBE, UNSUBSCRIBE = b"\x01", b"\x00"


class Publisher:
    """A PUB socket that stamps events with sequence numbers.

    A PUB socket never blocks (past its high-water mark it drops), so this one is a plain
    pyzmq socket: the green wrapper's wait-and-notify bookkeeping around every send would
    double the cost of each event for nothing.

    With ``learns_followers`` it is an XPUB socket, which is told every subscription that
    reaches it, so that :meth:`followed` can say whether an event would go anywhere before
    it is built, and :meth:`on_followers_change` can start work when someone starts
    watching instead of polling for it. The subscriptions are taken in, in the hub, as
    soon as they arrive.
    """

    def __init__(self, context, endpoint, learns_followers=False):
        kind = zmq.XPUB if learns_followers else zmq.PUB
        self._sock = make_socket(context, kind, plain=True, SNDHWM=10000)
        self._sock.connect(endpoint)
        self._stamp = envelope.EventStamp()
        self._subscriptions = set()
        self._listeners = []
        self._arrivals = None
        self._taking_scheduled = False
        if learns_followers:
            loop = gevent.get_hub().loop
            self._arrivals = loop.io(self._sock.get(_FD), 1)
            self._arrivals.start(self._take_subscriptions)
            # what connecting already processed would not signal the descriptor again
            self._taking_scheduled = True
            loop.run_callback(self._take_subscriptions)

    def followed(self, topic):
        """Whether a subscriber takes events on ``topic``."""
        return any(topic.startswith(prefix) for prefix in self._subscriptions)

    def on_followers_change(self, listener):
        """Call ``listener()`` in the hub after subscriptions came or went."""
        self._listeners.append(listener)

    def publish(self, server, event, data=None):
        topic, body = self._stamp.event(server, event, data)
        self._send(topic, body)

    def publish_encoded(self, server, event, data_json):
        """:meth:`publish` for data already encoded as JSON (UTF-8 bytes)."""
        topic, body = self._stamp.encoded(server, event, data_json)
        self._send(topic, body)

    def _send(self, topic, body):
        _send(self._sock, topic, _MORE)
        _send(self._sock, body)
        # ZeroMQ's descriptor signals new work only once: a send that processed an arriving
        # subscription took that signal, and the watcher would not fire for it.
        if self._arrivals is not None and not self._taking_scheduled \
                and self._sock.get(_EVENTS) & _POLLIN:
            self._taking_scheduled = True
            gevent.get_hub().loop.run_callback(self._take_subscriptions)

    def _take_subscriptions(self):
        self._taking_scheduled = False
        if self._sock.closed:  # closed after a send scheduled this
            return
        changed = False
        while self._sock.get(_EVENTS) & _POLLIN:
            try:
                change = _recv(self._sock, _NOBLOCK)
            except zmq.Again:
                break
            if change[:1] == SUBSCRIBE:
                self._subscriptions.add(change[1:])
                changed = True
            elif change[:1] == UNSUBSCRIBE:
                self._subscriptions.discard(change[1:])
                changed = True
        if changed:
            for listener in self._listeners:
                listener()

    def close(self):
        if self._arrivals is not None:
            self._arrivals.close()
        self._sock.close()


def subscriber(context, endpoint, prefixes=(b"",)):
    """A SUB socket on ``endpoint`` subscribed to ``prefixes`` (none: nothing yet)."""
    sock = make_socket(context, zmq.SUB, RCVHWM=100000)
    for prefix in prefixes:
        sock.setsockopt(zmq.SUBSCRIBE, prefix)
    sock.connect(endpoint)
    return sock


class EventFeed:
    """The workers' events matching some topic prefixes, as
    ``(server, event, data, published)`` (``published``: the publisher's epoch seconds).

    Filtering happens where the events are published (ZeroMQ forwards subscriptions
    upstream), so a subscriber that wants two kinds of events of each server does not
    receive, let alone decode, the console floods and the stats of all of them.
    """

    def __init__(self, context, endpoint, prefixes=()):
        self._sock = subscriber(context, endpoint, prefixes)

    def subscribe(self, prefix):
        self._sock.setsockopt(zmq.SUBSCRIBE, prefix)

    def unsubscribe(self, prefix):
        self._sock.setsockopt(zmq.UNSUBSCRIBE, prefix)

    def __iter__(self):
        while True:
            event = envelope.load_or_drop(self._sock.recv_multipart()[-1], "an event",
                                          envelope.is_event)
            if event is None:
                continue
            yield event["server"], event["event"], event.get("data"), event.get("ts", 0.0)
            # a queued event is received without waiting: under a console flood the reader
            # would otherwise never let the process's other greenlets run
            gevent.sleep(0)


class CommandRegistry:
    """Maps declared commands (``wingspan.commands``) to handlers; each handler takes the
    request's args, checked against the declaration and with its defaults filled in.

    Handlers return a JSON-able result or raise ``WingspanError``. Any other exception
    is logged with the request id and answered with a generic internal error.
    """

    def __init__(self):
        self._handlers = {}

    def register(self, command):
        def decorate(func):
            self._handlers[command.name] = (command, func)
            return func
        return decorate

    @property
    def names(self):
        return set(self._handlers)

    def handle(self, req):
        """The frames of the reply to ``req`` (:func:`envelope.reply_frames`)."""
        try:
            result = self._run(req)
        except errors.WingspanError as e:
            return envelope.reply_frames(envelope.reply_error(req["id"], e))
        if isinstance(result, envelope.Attached):
            return envelope.reply_frames(envelope.reply_ok(req, result.result), result.data)
        return envelope.reply_frames(envelope.reply_ok(req, result))

    def _run(self, req):
        """The handler's result; every failure comes out as a WingspanError."""
        command, handler = self._handlers.get(req.get("cmd")) or (None, None)
        if handler is None:
            raise errors.UnknownCommand(detail="unknown command %r" % req.get("cmd"))
        args = command.validate(req.get("args"))
        try:
            return handler(args)
        except errors.WingspanError:
            raise
        except Exception as e:  # a bug in a handler must answer, not hang the caller
            log.exception("command %s failed (req=%s)", req.get("cmd"), req["id"][:8])
            raise errors.WingspanError() from e
