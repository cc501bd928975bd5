"""The Panel's browser console as a websocket client (panel-contract.md §4, §7.5).

``BrowserSocket`` connects to ``/api/servers/{uuid}/ws`` with the Panel's page as
``Origin``, sends frames exactly as the SPA does (a missing payload is ``"args":[null]``),
checks every inbound frame against what the SPA can digest (§4.2, §4.5, §7.5 item 6) and
keeps them all in ``frames``. ``console_token`` mints the websocket JWT the Panel would.
"""

import json
import time

import websocket

from tests.support.panel_jwt import panel_jwt

OWNER = ("*",)
ADMIN = ("*", "admin.websocket.errors", "admin.websocket.install", "admin.websocket.transfer")
USER_UUID = "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11"
LINE_EVENTS = ("console output", "install output", "transfer logs")
NO_STATUS_CODE = 1005
ABNORMAL_CLOSE = 1006


class SocketClosed(AssertionError):
    """The daemon closed the socket; ``code`` is its close code (1006: no close frame)."""

    def __init__(self, code, frames):
        super().__init__("websocket closed with code %s; last frames: %r" % (code, frames))
        self.code = code


def console_token(daemon, uuid, permissions=OWNER, user_id=1, user_uuid=USER_UUID, ttl=600,
                  now=None, *, key=None, alg="HS256"):
    """A websocket JWT as ``WebsocketController`` mints it (§3.2): jti md5(user id . uuid).
    ``key`` (default: the daemon's token) and ``alg`` forge it for negative tests."""
    return panel_jwt(key or daemon.token, daemon.url, "%s%s" % (user_id, uuid), ttl=ttl,
                     claims=[("server_uuid", uuid), ("permissions", list(permissions))],
                     user={"uuid": user_uuid, "id": user_id}, panel_url=daemon.panel_url,
                     now=now, alg=alg)


def check_frame(text):
    """Parse one inbound frame, failing on anything the SPA would mangle or drop."""
    try:
        message = json.loads(text)
    except ValueError:
        raise AssertionError("frame is not JSON: %r" % text) from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise AssertionError("frame is not an object with a string event: %r" % text)
    if set(message) - {"event", "args"}:
        raise AssertionError("frame has keys besides event and args: %r" % text)
    args = message.get("args")
    if "args" in message and not (isinstance(args, list)
                                  and all(isinstance(a, str) for a in args)):
        raise AssertionError("args must be absent or an array of strings: %r" % text)
    if message["event"] in LINE_EVENTS and any("\n" in a for a in args or ()):
        raise AssertionError("one %s event must carry one line: %r" % (message["event"], text))
    if message["event"] == "stats":
        check_stats(args, text)
    return message


def check_stats(args, text):
    try:
        stats = json.loads(args[0])
    except (TypeError, IndexError, ValueError):
        raise AssertionError("stats args[0] must be a JSON string: %r" % text) from None
    if not isinstance(stats, dict) or not isinstance(stats.get("network"), dict):
        raise AssertionError("stats must carry a network object: %r" % text)


class BrowserSocket:
    def __init__(self, daemon, uuid, origin=None, timeout=10.0):
        """Connect as the browser on the Panel's page; a refused upgrade raises
        ``websocket.WebSocketBadStatusException`` (its ``status_code`` says why)."""
        url = "ws" + daemon.url[len("http"):] + "/api/servers/%s/ws" % uuid
        tls = {"ca_certs": daemon.verify} if isinstance(daemon.verify, str) else {}
        self.ws = websocket.create_connection(url, origin=origin or daemon.panel_url,
                                              timeout=timeout, sslopt=tls)
        self.frames = []
        self.close_code = None

    # -- sending, as the SPA does (§4.2, §4.3) -------------------------------------------

    def send(self, event, *args):
        self.ws.send(json.dumps({"event": event, "args": list(args) if args else [None]}))

    def authenticate(self, token, timeout=10.0):
        """Send ``auth`` and return the ``auth success`` frame (fail on a ``jwt error``)."""
        self.send("auth", token)
        reply = self.recv_event(("auth success", "jwt error"), timeout)
        if reply["event"] != "auth success":
            raise AssertionError("auth refused: %r" % reply)
        return reply

    # -- receiving ----------------------------------------------------------------------

    def recv(self, timeout=10.0):
        """The next frame, checked and kept in ``frames``."""
        self.ws.settimeout(timeout)
        try:
            opcode, payload = self.ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            self.close_code = ABNORMAL_CLOSE
            raise SocketClosed(self.close_code, self.frames[-10:]) from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = (int.from_bytes(payload[:2], "big") if len(payload) >= 2
                               else NO_STATUS_CODE)
            raise SocketClosed(self.close_code, self.frames[-10:])
        message = check_frame(payload.decode("utf-8"))
        self.frames.append(message)
        return message

    def recv_event(self, name, timeout=10.0, where=None):
        """The next frame whose event is ``name`` (or one of a tuple of names) and that
        satisfies ``where``; frames received on the way are kept in ``frames``."""
        names = (name,) if isinstance(name, str) else tuple(name)
        deadline = time.monotonic() + timeout
        while True:
            message = self._recv_until(deadline, "a %s frame" % " or ".join(names))
            if message["event"] in names and (where is None or where(message)):
                return message

    def expect_sequence(self, expected, timeout=15.0):
        """Wait for ``expected`` frames in order. An item is an event name or ``(name,
        args)``. Frames of events that appear nowhere in ``expected`` are skipped; a frame of
        a listed event that is not the next expected item fails. Returns the matched frames."""
        wanted = [(item, None) if isinstance(item, str) else (item[0], list(item[1]))
                  for item in expected]
        listed = {name for name, _ in wanted}
        deadline = time.monotonic() + timeout
        matched = []
        for name, args in wanted:
            while True:
                message = self._recv_until(deadline, "%s %r after %r" % (name, args, matched))
                if message["event"] not in listed:
                    continue
                if message["event"] != name or (args is not None
                                                and message.get("args") != args):
                    raise AssertionError("expected %s %r next, got %r; matched so far %r"
                                         % (name, args, message, matched))
                matched.append(message)
                break
        return matched

    def events(self, name):
        """Frames received so far with event ``name``."""
        return [m for m in self.frames if m["event"] == name]

    def wait_closed(self, timeout=10.0):
        """Read until the daemon closes the socket; return the close code."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._recv_until(deadline, "the socket to close")
            except SocketClosed as closed:
                return closed.code

    def close(self):
        self.ws.close()

    def _recv_until(self, deadline, what):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out waiting for %s; last frames: %r"
                                 % (what, self.frames[-20:]))
        try:
            return self.recv(remaining)
        except websocket.WebSocketTimeoutException:
            raise AssertionError("timed out waiting for %s; last frames: %r"
                                 % (what, self.frames[-20:])) from None
