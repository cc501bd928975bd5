"""The console websocket, ``GET /api/servers/:server/ws`` (wings-api.md §10, hardened per §16).

Before the upgrade the ``WebsocketGate`` checks the server, the Origin and the connection
limit; a refused request falls through to the plain route, which answers with the JSON
error. After the upgrade a ``Session`` runs the Panel's protocol: ``auth`` with a
Panel-minted JWT, the per-message token check, permission-gated inbound events, rate
limits, bounded frames, and worker events fanned out by the hub.
"""

import base64
import binascii
import json
import logging
import re
import socket
import struct
import time
import uuid as uuidlib

import bottle
import gevent
from geventwebsocket.exceptions import ProtocolError, WebSocketError
from geventwebsocket.handler import WebSocketHandler
from geventwebsocket.websocket import Header, WebSocket

from api import declare
from api.declare import ERROR, IN_BAND, Endpoint, Response
from api.http import client_ip
from api.hub import frame
from api.outbox import Outbox, send_frames, text_frame
from api.ratelimit import Limiter
from wingspan import activity, commands, errors, gojson
from wingspan.tokens import TokenError, WebsocketToken

log = logging.getLogger(__name__)
access_log = logging.getLogger("api.access")

WS_PATH = re.compile(r"^/api/servers/([^/]+)/ws$")
GENERIC_ERROR = "an unexpected error was encountered while handling this request"
LOCKED_ERROR = ("another power action is currently being processed for this server, "
                "please try again later")
TOO_MANY = "Too many open websocket connections."
BAD_HANDSHAKE = "A websocket upgrade needs Sec-WebSocket-Version 13 and a valid Sec-WebSocket-Key."
# A viewer's backlog: about 2,500 console lines; beyond it console lines are skipped.
OUTBOX_BYTES = 256 * 1024
# What one write takes from the outbox: the rest stays where it can still be shed.
WRITE_BYTES = 64 * 1024
# Unsent bytes the kernel may hold for a viewer. Without a bound its autotuned send buffer
# takes megabytes of a slow viewer's output, delivered seconds late, where the outbox would
# have shed it; unlike a fixed SO_SNDBUF this leaves the in-flight window free to grow.
UNSENT_BYTES = 128 * 1024
# A viewer that accepts nothing for this long is gone, whatever its socket says.
STALLED_WRITE_TIMEOUT = 30.0
CLOSE_TIMEOUT = 2.0
EXPIRY_CHECK = 30.0
EXPIRY_WARNING = 60
POWER_PERMISSIONS = {"start": "control.start", "stop": "control.stop",
                     "restart": "control.restart", "kill": "control.stop"}
CLOSE_DELETED = (1001, "server deleted")
CLOSE_SUSPENDED = (4409, "server is suspended")
CLOSE_TOO_BIG = (1009, "message too big")
# What is read and dropped after a 1009, before the connection is closed.
LINGER_BYTES = 1024 * 1024
LINGER_SECONDS = 2.0
CLOSE_SLOW = (1008, "client too slow")
CLOSE_AUTH_TIMEOUT = (1008, "authentication timed out")
# Not 1000, 1001 or 1005: on any other code the Panel's client reconnects (panel-contract.md
# §4.6), so a user who keeps access gets a fresh token at once, one who lost it the
# Panel's refusal.
CLOSE_DEAUTHORIZED = (4401, "user deauthorized")


def origin_allowed(cfg, origin):
    """§10.1: the Panel URL exactly, or an ``allowed_origins`` entry (``*`` allows any)."""
    if origin and origin == cfg.remote:
        return True
    return any(entry == "*" or (origin and entry == origin) for entry in cfg.allowed_origins)


def refusal(ctx, environ):
    """The error that stops an upgrade, or None when the socket may open."""
    match = WS_PATH.match(environ.get("PATH_INFO", ""))
    if not match:
        return errors.RouteNotFound()
    view = ctx.registry.views.get(match.group(1))
    if view is None:
        return errors.ServerNotFound()
    if not origin_allowed(ctx.cfg, environ.get("HTTP_ORIGIN")):
        return errors.Forbidden("Forbidden")
    if environ.get("HTTP_UPGRADE", "").lower() == "websocket" and not valid_handshake(environ):
        # checked here: geventwebsocket's own answers to these are broken or a 500
        return errors.BadRequest(BAD_HANDSHAKE)
    if ctx.hub.count(view.uuid) >= ctx.cfg.wingspan.websocket.max_connections_per_server:
        return errors.BadRequest(TOO_MANY)
    return None


def valid_handshake(environ):
    """RFC 6455 §4.2.1 as gorilla checks it: version 13, a key of 16 base64 bytes."""
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        return False
    try:
        key = base64.b64decode(environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(key) == 16


class BoundedWebSocket(WebSocket):
    """A WebSocket that refuses frames and messages above a size limit (§16: 32 KiB)."""

    __slots__ = ()  # same layout as WebSocket, so an open socket can switch class
    max_bytes = 32768

    def close(self, code=1000, message=b""):
        """Send a close frame that carries ``code`` (gevent-websocket 0.10 drops the code
        and garbles the reason), then forget the connection, as the original does."""
        if self.closed:
            return
        reason = message.encode() if isinstance(message, str) else (message or b"")
        try:
            # a control frame holds at most 125 bytes: the code and 123 of reason
            self.send_frame(struct.pack("!H", code) + reason[:123], opcode=self.OPCODE_CLOSE)
        except WebSocketError:
            log.debug("close frame not sent: the connection is gone")
        finally:
            self.closed = True
            self.stream = self.raw_write = self.raw_read = self.environ = None

    def _is_valid_close_code(self, code):
        # RFC 6455 §7.4.2 defines no code past 4999; geventwebsocket would echo one back
        return code < 5000 and super()._is_valid_close_code(code)

    def _close_too_big(self):
        """Close with 1009, then read and drop, briefly, what the client is still sending:
        a socket closed with unread bytes is reset, and the reset can destroy the close
        frame, code and all, before the client reads it."""
        sock = self.handler.socket
        self.close(*CLOSE_TOO_BIG)
        left = LINGER_BYTES
        with gevent.Timeout(LINGER_SECONDS, False):
            while left > 0:
                try:
                    data = sock.recv(min(left, 65536))
                except OSError:
                    return
                if not data:
                    return
                left -= len(data)

    def read_frame(self):
        if self.closed:
            raise WebSocketError("the websocket is closed")
        header = Header.decode_header(self.stream)
        if self.closed:  # closed by the daemon while the header was awaited
            raise WebSocketError("the websocket is closed")
        if header.flags or not header.mask:
            # RFC 6455 §5.1–5.2: no extension is negotiated and clients mask every frame;
            # receive() answers a ProtocolError with 1002
            raise ProtocolError("reserved bits set or frame not masked")
        # The message, not only the frame, is bounded: geventwebsocket joins continuation
        # frames without a limit. The count lives on the handler, one per connection,
        # because this class must keep the original's slots.
        if header.opcode == self.OPCODE_CONTINUATION:
            self.handler.message_bytes += header.length
        elif header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY):
            self.handler.message_bytes = header.length
        if header.length > self.max_bytes or self.handler.message_bytes > self.max_bytes:
            self._close_too_big()
            raise WebSocketError("message too large")
        return self._read_payload(header)

    def _read_payload(self, header):
        if not header.length:
            return header, b""
        payload = self.raw_read(header.length)
        if len(payload) != header.length:
            raise WebSocketError("Unexpected EOF reading frame payload")
        if header.mask:
            payload = header.unmask_payload(payload)
        return header, payload


class WebsocketGate:
    """Builds the WSGI handler class that vets a websocket request before upgrading."""

    def __init__(self, ctx):
        self.ctx = ctx

    def handler_class(self):
        gate = self

        class GatedHandler(WebSocketHandler):
            def read_request(self, raw_requestline):
                accepted = super().read_request(raw_requestline)
                # Two different lengths, which a proxy in front may read otherwise than we
                # do (request smuggling), are a 400 before any route runs, as in Go.
                if len(set(self.headers.get_all("Content-Length") or ())) > 1:
                    raise ValueError("conflicting Content-Length headers")
                return accepted

            def run_application(self):
                if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket" \
                        and refusal(gate.ctx, self.environ) is not None:
                    # not upgraded: the plain route answers with the JSON error
                    return super(WebSocketHandler, self).run_application()
                return super().run_application()

            def log_request(self):
                # As in Wings, a request line is logged in debug mode only: on a busy node
                # formatting and writing one for every request cost a seventh of serving it.
                if access_log.isEnabledFor(logging.DEBUG) and "101" not in str(self.status):
                    access_log.debug(self.format_request())

            def run_websocket(self):
                BoundedWebSocket.max_bytes = gate.ctx.cfg.wingspan.websocket.max_message_bytes
                self.message_bytes = 0
                self.websocket.__class__ = BoundedWebSocket
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, UNSENT_BYTES)
                return super().run_websocket()

        return GatedHandler


class Session:
    """One authenticated-or-not browser console connection."""

    def __init__(self, ctx, view, ws):
        self.ctx = ctx
        self.uuid = view.uuid
        self.ws = ws
        self.ip = client_ip(ws.environ, ctx.cfg.api.trusted_proxies)
        self.token = None
        self.limiter = Limiter()
        self.outbox = Outbox(OUTBOX_BYTES)
        self._greenlets = []
        self._sender = None
        self._runner = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------

    def run(self):
        self._runner = gevent.getcurrent()
        if self.ctx.registry.get(self.uuid).suspended:
            self._close_connection(*CLOSE_SUSPENDED)
            return
        self._sender = gevent.spawn(self._send_loop)
        self._greenlets = [self._sender, gevent.spawn(self._close_if_not_authenticated)]
        try:
            self._receive_loop()
        finally:
            self.ctx.hub.leave(self.uuid, self)
            # block: the sender must be gone before this greenlet writes the close frame
            gevent.killall(self._greenlets, block=True, timeout=CLOSE_TIMEOUT)
            if not self.ws.closed:
                self.ws.close()

    def authenticated_as(self, user_uuid):
        return self.token is not None and self.token.user_uuid.lower() == user_uuid.lower()

    def close(self, code=1000, reason=""):
        """Close with ``code``, from any greenlet, without waiting."""
        if self._closing:
            return
        self._closing = True
        gevent.spawn(self._close_connection, code, reason)

    def _close_connection(self, code, reason):
        """Send the close frame once no other greenlet is writing (two must never write
        one socket), then end the receive loop if the client does not answer in time."""
        self._closing = True
        sender = self._sender
        if sender is not None:
            self.outbox.wake()
            sender.join(CLOSE_TIMEOUT)  # a write under way is finished first...
            sender.kill()  # ...unless the client has stopped reading
        try:
            with gevent.Timeout(CLOSE_TIMEOUT):
                self.ws.close(code, reason.encode())
        except (gevent.Timeout, WebSocketError, OSError) as e:
            log.debug("close frame for %s not sent: %s", self.uuid, e)
        runner = self._runner
        if runner is not None and runner is not gevent.getcurrent():
            runner.join(CLOSE_TIMEOUT)
            if not runner.dead:
                runner.kill(WebSocketError("closed by the daemon"), block=False)

    def _receive_loop(self):
        while not self._closing:
            try:
                raw = self.ws.receive()
            except WebSocketError:
                return
            if raw is None:
                return
            message = parse_message(raw)
            if message is None:
                self.limiter.allow(None, time.monotonic())  # garbage still costs its sender
                continue
            event, args = message
            allowed, notice = self.limiter.allow(event, time.monotonic())
            if notice:
                self._enqueue(frame("throttled", [notice]))
            if allowed:
                self._handle(event, args)

    def _send_loop(self):
        while not self._closing:
            frames = self.outbox.take(WRITE_BYTES)
            if self._closing or self.ws.closed:
                return
            try:
                with gevent.Timeout(STALLED_WRITE_TIMEOUT):
                    send_frames(self.ws.stream.handler.socket, frames)
            except gevent.Timeout:
                log.warning("closing a websocket of %s that accepted nothing for %ss",
                            self.uuid, STALLED_WRITE_TIMEOUT)
                self.close(*CLOSE_SLOW)
                return
            except OSError:
                self.close()
                return

    def _close_if_not_authenticated(self):
        gevent.sleep(self.ctx.cfg.wingspan.websocket.auth_timeout)
        if self.token is None:
            self.close(*CLOSE_AUTH_TIMEOUT)

    # -- inbound ------------------------------------------------------------------------

    def _handle(self, event, args):
        if event == "auth":
            self._authenticate("".join(args))
            return
        if not self._token_ok():
            return
        if event == "set state":
            self._set_state("".join(args))
        elif event == "send command":
            self._send_command("".join(args))
        elif event == "send logs":
            self._send_logs()
        elif event == "send stats":
            usage = self.ctx.registry.utilization(self._view())
            self._enqueue(frame("stats", [json.dumps(usage)]))

    def _authenticate(self, raw):
        try:
            token = WebsocketToken.parse(raw, self.ctx.cfg.token)
            token.check(self.uuid, self.ctx.denylist)
        except TokenError as e:
            self._send_error(e, jwt_class=e.jwt_error)
            return
        first = self.token is None
        if first and self.ctx.hub.count(self.uuid) >= \
                self.ctx.cfg.wingspan.websocket.max_connections_per_server:
            self._send_error(errors.BadRequest(TOO_MANY))
            return
        self.token = token
        self._enqueue(frame("auth success"))
        if first:
            self._attach()

    def _attach(self):
        self.ctx.hub.join(self.uuid, self)
        self._greenlets.append(gevent.spawn(self._watch_expiry))
        view = self._view()
        self._enqueue(frame("status", [view.state]))
        if view.state == "offline" and not view.installing and not view.transferring:
            self._enqueue(frame("stats", [json.dumps(self.ctx.registry.utilization(view))]))

    def _set_state(self, action):
        permission = POWER_PERMISSIONS.get(action)
        if permission is not None and not self.token.has_permission(permission):
            return
        try:
            self.ctx.client.call(commands.POWER, self.uuid, {"action": action, "wait_seconds": 0})
        except errors.WingspanError as e:
            self._send_power_error(e)
            return
        self._record(activity.POWER_PREFIX + action)

    def _send_command(self, command):
        if not self.token.has_permission("control.console"):
            return
        try:
            self.ctx.client.call(commands.CONSOLE_COMMAND, self.uuid, {"command": command})
        except errors.WingspanError as e:
            self._send_error(e)
            return
        self._record(activity.CONSOLE_COMMAND, {"command": command})

    def _record(self, event, metadata=None):
        """Activity of the user whose token authorised this message (wings-api.md §10)."""
        self.ctx.activity.send(self.uuid, event, metadata, self.token.user_uuid, self.ip)

    def _send_logs(self):
        if self._view().state == "offline":
            return
        try:
            result = self.ctx.client.call(commands.LOGS, self.uuid, {
                "size": self.ctx.cfg.system.websocket_log_count})
        except errors.WingspanError as e:
            self._send_error(e)
            return
        for line in result["lines"]:
            self._enqueue(frame("console output", [line]))

    # -- outbound -----------------------------------------------------------------------

    def deliver(self, delivery):
        """A worker event for this server (called by the hub; never blocks)."""
        if self.token is None or self._closing:
            return
        if delivery.name == "definition":
            if delivery.data.get("settings", {}).get("suspended"):
                self.close(*CLOSE_SUSPENDED)
            return
        if not self._token_ok():
            return
        if delivery.name == "power error":
            self._send_power_error(errors.WingspanError.from_wire(delivery.data))
            return
        if delivery.permission and not self.token.has_permission(delivery.permission):
            return
        if delivery.wire:
            self._put(delivery.wire, delivery.skippable)
        if delivery.name == "deleted":
            gevent.spawn_later(0.05, self.close, *CLOSE_DELETED)

    def _token_ok(self):
        """The per-message check of §10.4; a failure is reported instead of the event."""
        if self.token is None:
            self._enqueue(frame("jwt error", ["jwt: no jwt present"]))
            return False
        try:
            self.token.check(self.uuid, self.ctx.denylist)
        except TokenError as e:
            self._enqueue(frame("jwt error", [e.message]))
            return False
        return True

    def _send_power_error(self, error):
        """wings-behaviour.md §2.2: an action refused for the lock, now or after waiting for
        it, is the locked message for every viewer; other failures as §10.7 says."""
        if isinstance(error, errors.PowerLocked):
            self._enqueue(frame("daemon error", [wrap_error(LOCKED_ERROR)]))
        else:
            self._send_error(error)

    def _send_error(self, error, jwt_class=False):
        """§10.7: JWT errors by name; other errors verbatim only to admins."""
        if jwt_class:
            self._enqueue(frame("jwt error", [wrap_error(error.message)]))
            return
        admin = self.token is not None and self.token.has_permission("admin.websocket.errors")
        text = getattr(error, "public_message", None) or str(error)
        if not admin:
            log.info("websocket error for %s: %s", self.uuid, text)
            text = GENERIC_ERROR
        self._enqueue(frame("daemon error", [wrap_error(text)]))

    def _enqueue(self, text):
        """Queue one of this session's own frames."""
        self._put(text_frame(text), skippable=False)

    def _put(self, data, skippable):
        if not self.outbox.put(data, skippable):
            log.warning("dropping a websocket client of %s that cannot keep up", self.uuid)
            self.close(*CLOSE_SLOW)

    def _watch_expiry(self):
        while True:
            gevent.sleep(EXPIRY_CHECK)
            remaining = self.token.exp - time.time()
            if remaining <= 0:
                self._enqueue(frame("token expired"))
            elif remaining <= EXPIRY_WARNING:
                self._enqueue(frame("token expiring"))

    def _view(self):
        return self.ctx.registry.get(self.uuid)


def close_sessions_of(hub, user_uuid, server_uuids=()):
    """Close every socket ``user_uuid`` authenticated on ``server_uuids`` (on any server
    when empty) at once (wings-api.md §16 deauthorize-user); returns how many."""
    sessions = [s for s in hub.members(server_uuids) if s.authenticated_as(user_uuid)]
    for session in sessions:
        session.close(*CLOSE_DEAUTHORIZED)
    return len(sessions)


def wrap_error(message):
    return "Error Event [%s]: %s" % (uuidlib.uuid4(), message)


def parse_message(raw):
    """``(event, args)`` from an inbound frame; None when it is not a valid message."""
    try:
        message = gojson.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        return None
    args = message.get("args") or []
    if not isinstance(args, list):
        return None
    # Go decodes a JSON null into a string as "", and the Panel sends ``"args": [null]``
    args = ["" if a is None else a for a in args]
    if not all(isinstance(a, str) for a in args):
        return None
    return message["event"], args


INBOUND = {
    "auth": "[jwt]: authenticate, or re-authenticate with a fresh token (§10.3).",
    "set state": '["start"|"stop"|"restart"|"kill"]: a power action (control.* permission).',
    "send command": '["<command>"]: a line for the console (control.console).',
    "send logs": "no args: the recent console lines, as console output events.",
    "send stats": "no args: a stats event now.",
}
OUTBOUND = {
    "auth success": "no args", "status": '["offline"|"starting"|"running"|"stopping"]',
    "stats": '["<JSON>"]: memory, cpu, network, uptime, state, disk',
    "console output": '["<line>"]', "install output": '["<line>"] (admin.websocket.install)',
    "install started": '[""]', "install completed": '[""]', "daemon message": '["<text>"]',
    "backup completed": '["<JSON>"] (backup.read)', "backup restore completed": '[""]',
    "transfer logs": '["<line>"] (admin.websocket.transfer)',
    "transfer status": '["processing"|"cancelling"|"failure"|"success"|"completed"]',
    "deleted": '["null"]', "token expiring": "no args", "token expired": "no args",
    "jwt error": '["<message>"]', "daemon error": '["Error Event [<uuid>]: <message>"]',
}
WEBSOCKET = Endpoint(
    "GET", "/api/servers/<server>/ws", "The server's console websocket (wings-api.md §10).",
    "websocket", auth=IN_BAND,
    description="Upgrade to a websocket (Origin must be the Panel or an allowed origin). "
                "Frames are JSON text: {\"event\": <name>, \"args\": [strings]}. The "
                "events each way are listed under x-websocket in this document.",
    responses={101: Response("Switching protocols."),
               400: Response("Not a websocket upgrade.", ERROR),
               403: Response("Origin not allowed.", ERROR)})


def install(app, ctx):
    @declare.route(app, WEBSOCKET)
    def websocket(server):
        ws = bottle.request.environ.get("wsgi.websocket")
        if ws is None:
            error = refusal(ctx, bottle.request.environ)
            raise error or errors.BadRequest("Expected a websocket upgrade request.")
        Session(ctx, server, ws).run()
        return ""
