"""The ZeroMQ wire format: the one place that defines every message between processes.

Requests and replies travel over DEALER/ROUTER sockets as a single JSON frame::

    request  {"v": 1, "id": "<uuid hex>", "server": "<uuid>"|null, "cmd": "<noun.verb>",
              "args": {...}, "deadline": <epoch seconds>}
    reply    {"v": 1, "id": "<same id>", "ok": true,  "result": {...}}
    reply    {"v": 1, "id": "<same id>", "ok": false, "error": {"code": "...", "message": "...",
                                                                 "detail": "..."}}

A reply may carry bulk bytes (a batch of a listing) as a second frame after its JSON, where
JSON would have to escape every quote or base64 every byte: a handler returns them as
:class:`Attached`, and the caller gets them back as one.

Events travel over PUB -> XSUB/XPUB -> SUB as two frames, ``[topic, body]``::

    topic    b"server.<uuid>.<event>"  or  b"stats.<uuid>"  or  b"daemon.<event>"
    body     {"v": 1, "server": "<uuid>"|null, "event": "<event>", "data": <any JSON>,
              "seq": <per-publisher counter>, "boot": "<publisher incarnation>", "ts": <epoch>}

JSON, never pickle. Error objects are built by ``wingspan.errors``; no traceback ever
crosses the wire. A request whose deadline has passed is dropped by the receiver.
"""

import json
import logging
import time
import uuid

from wingspan import errors

log = logging.getLogger(__name__)

VERSION = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Exit codes a worker uses to tell the supervisor why it stopped.
EXIT_OK = 0
EXIT_CONFIG = 78


# json.dumps builds a new encoder per call when given options; every message shares this one.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dump(obj):
    try:
        return _ENCODER.encode(obj).encode()
    except UnicodeEncodeError:
        # A lone surrogate, which JSON's \ud800 escapes decode to, has no UTF-8 form:
        # escaped again, it travels as it came instead of failing the sender.
        return json.dumps(obj, separators=(",", ":")).encode()


def load(raw):
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.BadRequest(detail="undecodable message") from e
    if not isinstance(obj, dict):
        raise errors.BadRequest(detail="message is not an object")
    if obj.get("v") != VERSION:
        raise errors.UnsupportedVersion(detail="protocol version %r" % obj.get("v"))
    return obj


def load_or_drop(raw, what, shape=None):
    """A received message, or None when it cannot be decoded or fails ``shape`` (one of
    :func:`is_request`, :func:`is_reply`, :func:`is_event`), logged as ``what``: a bad
    message from a peer is dropped, never answered and never fatal."""
    try:
        obj = load(raw)
    except errors.WingspanError as e:
        log.warning("dropping %s: %s", what, e.detail or e.public_message)
        return None
    if shape is not None and not shape(obj):
        log.warning("dropping %s: fields missing or of the wrong type", what)
        return None
    return obj


def _string_or_null(value):
    return value is None or isinstance(value, str)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_request(obj):
    return (isinstance(obj.get("id"), str) and isinstance(obj.get("cmd"), str)
            and _string_or_null(obj.get("server")) and _number(obj.get("deadline")))


def is_reply(obj):
    return isinstance(obj.get("id"), str) and isinstance(obj.get("ok"), bool)


def is_event(obj):
    return "server" in obj and _string_or_null(obj["server"]) \
        and isinstance(obj.get("event"), str)


def request(command, server=None, args=None, timeout=5.0):
    """Build a request envelope for a declared ``wingspan.commands.Command`` that expires
    ``timeout`` seconds from now; arguments that break its schema never leave
    (``BadCommandArguments``)."""
    return {
        "v": VERSION,
        "id": uuid.uuid4().hex,
        "server": server,
        "cmd": command.name,
        "args": command.validate(args),
        "deadline": time.time() + timeout,
    }


def reply_ok(req, result=None):
    return {"v": VERSION, "id": req["id"], "ok": True, "result": result}


def reply_error(req_id, error):
    """Reply with a ``WingspanError`` (anything else must be wrapped by the caller)."""
    return {"v": VERSION, "id": req_id, "ok": False, "error": error.to_wire()}


class Attached:
    """A result and the bytes sent beside it in a frame of their own."""

    __slots__ = ("result", "data")

    def __init__(self, result, data):
        self.result = result
        self.data = data


def reply_frames(reply, data=None):
    """The frames of a reply: its JSON, then the attached bytes if there are any."""
    return [dump(reply)] if data is None else [dump(reply), data]


def expired(req, now=None):
    return (now or time.time()) > req.get("deadline", 0)


def result_of(reply, attached=()):
    """Return a reply's result (as :class:`Attached` when ``attached`` holds the frame sent
    beside it), or raise the error it carries as its own type."""
    if reply.get("ok"):
        result = reply.get("result")
        return Attached(result, attached[0]) if attached else result
    raise errors.WingspanError.from_wire(reply.get("error") or {})


# Subscription prefix of every server's events but its stats.
SERVER_EVENTS = b"server."
# A server's stats have a prefix of their own: every running server publishes them every
# second, so they are taken only by who follows that one server (the API, while a
# websocket watches it). ZeroMQ filters on the publisher's side: stats nobody follows are
# dropped in the worker, which then wakes neither its I/O thread nor anyone else's.
STATS_EVENTS = b"stats."
STATS = "stats"


def topic(server, event):
    """``server.<event>.<uuid>`` (``stats.<uuid>``) for a server, ``daemon.<event>`` for the
    node.

    The event comes first so that one subscription (:func:`every_server`) follows an event
    of all servers: ZeroMQ keeps each subscription in every publisher, every worker, at
    about 1.6 KiB each, so a subscription per server would make a node's memory grow with
    the square of its servers."""
    if server:
        if event == STATS:
            return STATS_EVENTS + server.encode()
        return SERVER_EVENTS + ("%s.%s" % (event, server)).encode()
    return ("daemon.%s" % event).encode()


def every_server(event):
    """The subscription to ``event`` from every server."""
    return SERVER_EVENTS + ("%s." % event).encode()


class EventStamp:
    """Numbers a publisher's events so subscribers can spot gaps and restarts.

    A publisher sends the same few events of one server again and again: the topic and the
    body's head up to ``"data":`` are encoded once per (server, event) and kept, so an
    event costs the encoding of its data and of three numbers."""

    def __init__(self):
        self.boot = uuid.uuid4().hex[:12]
        self.seq = 0
        self._tail = b',"seq":%d,"boot":' + dump(self.boot) + b',"ts":%r}'
        self._heads = {}

    def event(self, server, name, data):
        """The frames ``[topic, body]`` of one event."""
        return self.encoded(server, name, dump(data))

    def encoded(self, server, name, data_json):
        """:meth:`event` for data already encoded as JSON (``data_json``: UTF-8 bytes)."""
        self.seq += 1
        heads = self._heads.get((server, name)) or self._head(server, name)
        return [heads[0], heads[1] + data_json + self._tail % (self.seq, time.time())]

    def _head(self, server, name):
        heads = self._heads[(server, name)] = (topic(server, name), dump(
            {"v": VERSION, "server": server, "event": name})[:-1] + b',"data":')
        return heads
