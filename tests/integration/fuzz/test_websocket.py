"""Websocket fuzzing (issue 19, "Fuzzing"): random frames, events, argument types and sizes
on the console websocket, authenticated and not.

Spec: wings-api.md §10.2 (frames; undecodable messages are ignored and the connection stays
open), §10.3–10.5 (auth, per-message check, inbound events), §10.7–10.8 (the only events
sent back), §10.10 and §16 (close codes, the 32 KiB message limit, rate limits and
``throttled``); RFC 6455 §5.5 and §7.4.1 (control frames, protocol-error close codes).

Every frame that comes back is an object with a string event and string args (what the
Panel's SPA digests) of an event §10.8 or §16 names, and an unauthenticated socket never
receives a server's data. A socket ends only with the close code the spec or RFC 6455
gives for what it was sent (1009 too big, 1002 a protocol error, 1007 invalid UTF-8, 1000
echoed), and every socket that stays open stays open; two in ten of them, and a fresh one at
the end, still answer ``send stats``. No daemon process dies and nothing logs a traceback.
"""

import json
import os
import random
import struct
import time
import uuid as uuidlib

import websocket

from tests.integration.fuzz.conftest import SEED, assert_unharmed
from tests.support.browser import check_frame, console_token
from tests.support.polling import wait_until

CONNECTIONS = 150
# Two connections in ten (one authenticated, one not) are asked whether they still answer
# once their fuzzing is over, after this long for the rate limiter's buckets to refill (§16).
CHECK_EVERY = 10
RATE_REFILL = 1.2
FRAMES_PER_CONNECTION = (10, 40)
MAX_MESSAGE_BYTES = 32768
# §10.8 and §16: every event the daemon may send.
OUTBOUND = {"auth success", "status", "stats", "console output", "install output",
            "install started", "install completed", "daemon message", "backup completed",
            "backup restore completed", "transfer logs", "transfer status", "deleted",
            "token expiring", "token expired", "jwt error", "daemon error", "throttled"}
# What a socket that never authenticated may hear.
UNAUTHENTICATED = {"jwt error", "daemon error", "throttled"}
INBOUND = ("auth", "set state", "send command", "send logs", "send stats")


def raw_frame(opcode, payload, fin=True, rsv=0, masked=True):
    """A frame's bytes as a client writes them, rules broken on request."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, (0x80 if masked else 0) | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, (0x80 if masked else 0) | 126, length)
    else:
        header = struct.pack("!BBQ", first, (0x80 if masked else 0) | 127, length)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Fuzzer:
    def __init__(self, seed, daemon, uuid):
        self.rng = random.Random(seed)
        self.daemon = daemon
        self.uuid = uuid
        self.frames_sent = 0
        self.frames_received = 0
        self.closes = {}

    # -- values ---------------------------------------------------------------------------

    def string(self, longest=30):
        rng = self.rng
        pick = rng.random()
        if pick < 0.03:
            return "x" * rng.choice([4000, 20000, 40000])
        if pick < 0.2:
            return rng.choice(["start", "stop", "restart", "kill", "", "null", "echo hi",
                               "send stats", "auth", "\x00", "\u202e", "\ud800"])
        alphabet = "ab /._-\n\t\"\\%\u00e9\u4e2d\U0001f600\x00\x1b["
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))

    def value(self, depth=0):
        rng = self.rng
        kinds = ["null", "bool", "int", "float", "string", "string", "string"]
        if depth < 2:
            kinds += ["list", "object"]
        kind = rng.choice(kinds)
        if kind == "null":
            return None
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "int":
            return rng.choice([0, -1, 2 ** 63, 10 ** 30, rng.randint(-99, 99)])
        if kind == "float":
            return rng.choice([0.5, 1e308, -0.0])
        if kind == "string":
            return self.string()
        if kind == "list":
            return [self.value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {self.string(8): self.value(depth + 1) for _ in range(rng.randint(0, 3))}

    def token(self):
        """A token: valid, for another server, expired, forged, or not a token."""
        rng = self.rng
        pick = rng.random()
        if pick < 0.4:
            return console_token(self.daemon, self.uuid)
        if pick < 0.5:
            return console_token(self.daemon, str(uuidlib.uuid4()))
        if pick < 0.6:
            return console_token(self.daemon, self.uuid, now=time.time() - 3600)
        if pick < 0.7:
            return console_token(self.daemon, self.uuid, key="not the node's token")
        if pick < 0.8:
            return console_token(self.daemon, self.uuid, permissions=("websocket.connect",))
        return self.string()

    def message(self):
        """A text frame's payload: a message of random event and arguments, or not one."""
        rng = self.rng
        pick = rng.random()
        if pick < 0.15:
            return rng.choice(["not json", "", "{", "null", "[]", "1", '{"event":1}',
                               '{"event":"x","args":[1]}', '{"args":["a"]}', '"auth"',
                               '{"event":"send stats","args":"a"}', "NaN", "\ufeff{}"])
        event = rng.choice(INBOUND) if rng.random() < 0.8 else self.string(12)
        if event == "auth" and rng.random() < 0.7:
            args = [self.token()]
        elif rng.random() < 0.6:
            args = [self.string() for _ in range(rng.randint(0, 3))]
        else:
            args = self.value()
        body = {"event": event, "args": args}
        if rng.random() < 0.1:
            body[self.string(6)] = self.value()
        if rng.random() < 0.05:
            del body["args"]
        return json.dumps(body)

    # -- frames ---------------------------------------------------------------------------

    def frame(self):
        """One frame's bytes (or a few, of one message) and the close code it must earn
        (None: the socket stays open)."""
        rng = self.rng
        pick = rng.random()
        text = self.message().encode()
        too_big = 1009 if len(text) > MAX_MESSAGE_BYTES else None
        if pick < 0.6:
            return raw_frame(0x1, text), too_big
        if pick < 0.7:
            return raw_frame(0x2, text), too_big
        if pick < 0.8:
            return raw_frame(rng.choice([0x9, 0xA]), rng.randbytes(rng.randint(0, 125))), None
        if pick < 0.96:  # one message in fragments, maybe with a ping between them
            cut = sorted(rng.sample(range(len(text) + 1), min(2, len(text) + 1)))
            parts = [text[:cut[0]], text[cut[0]:cut[-1]], text[cut[-1]:]]
            data = raw_frame(0x1, parts[0], fin=False) + raw_frame(0x0, parts[1], fin=False)
            if rng.random() < 0.5:
                data += raw_frame(0x9, b"between")
            return data + raw_frame(0x0, parts[2]), too_big
        if pick < 0.97:  # past the message limit, whole or in fragments
            size = MAX_MESSAGE_BYTES + rng.randint(1, 4096)
            if rng.random() < 0.5:
                return raw_frame(0x1, b"x" * size), 1009
            half = b"y" * (size // 2 + 1)
            return raw_frame(0x1, half, fin=False) + raw_frame(0x0, half), 1009
        return rng.choice([
            (raw_frame(0x0, b"continuation of nothing"), 1002),
            (raw_frame(0x1, b"a", fin=False) + raw_frame(0x1, b"b"), 1002),
            (raw_frame(0x1, b'{"event":"send stats"}', rsv=rng.randint(1, 7)), 1002),
            (raw_frame(rng.choice([0x3, 0x7, 0xB, 0xF]), b"reserved opcode"), 1002),
            (raw_frame(0x9, b"p" * 126), 1002),
            (raw_frame(0x9, b"fragmented ping", fin=False), 1002),
            (raw_frame(0x1, b'{"event":"send stats"}', masked=False), 1002),
            (raw_frame(0x1, b'{"event":"\xff\xfe"}'), 1007),
            (raw_frame(0x8, b"\x03"), 1002),
            (raw_frame(0x8, struct.pack("!H", rng.choice([0, 999, 1005, 1006, 5000]))), 1002),
            (raw_frame(0x8, struct.pack("!H", 1000) + b"bye"), 1000),
        ])


class FuzzSocket:
    """A console websocket that sends raw frames and checks everything it receives."""

    def __init__(self, fuzz, authenticate):
        self.fuzz = fuzz
        self.authenticated = False
        daemon = fuzz.daemon
        url = "ws" + daemon.url[len("http"):] + "/api/servers/%s/ws" % fuzz.uuid
        self.ws = websocket.create_connection(url, origin=daemon.panel_url, timeout=5)
        self.closed = None
        self.messages = []
        if authenticate:
            self.send(raw_frame(0x1, json.dumps({
                "event": "auth", "args": [console_token(daemon, fuzz.uuid)]}).encode()))
            wait_until(lambda: self.drain(0.2) or self.authenticated, timeout=10,
                       what="auth success")

    def send(self, data):
        if self.closed is not None:
            return
        try:
            self.ws.sock.sendall(data)
            self.fuzz.frames_sent += 1
        except OSError:
            self.drain(1.0)  # the daemon closed the socket: read why
            if self.closed is None:
                self.closed = "reset while sending"

    def drain(self, timeout):
        """Read and check what arrives within ``timeout``; None."""
        deadline = time.monotonic() + timeout
        while self.closed is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.ws.settimeout(remaining)
            try:
                opcode, payload = self.ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                return
            except (websocket.WebSocketConnectionClosedException, OSError):
                self.closed = "no close frame"
                return
            except websocket.WebSocketProtocolException as e:
                raise AssertionError("the daemon broke the websocket protocol: %s" % e) \
                    from None
            self.fuzz.frames_received += 1
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.closed = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.fuzz.closes[self.closed] = self.fuzz.closes.get(self.closed, 0) + 1
                return
            if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                continue
            self.check(opcode, payload)

    def check(self, opcode, payload):
        assert opcode == websocket.ABNF.OPCODE_TEXT, "a non-text frame: %r" % payload[:200]
        message = check_frame(payload.decode("utf-8"))
        assert message["event"] in OUTBOUND, "not a spec event: %r" % message
        self.messages.append(message)
        if message["event"] == "auth success":
            self.authenticated = True
        if not self.authenticated:
            assert message["event"] in UNAUTHENTICATED, \
                "an unauthenticated socket received %r" % message

    def close(self):
        try:
            self.ws.close(timeout=1)
        except (websocket.WebSocketException, OSError):
            pass


def test_websocket_fuzz(target):
    daemon, uuid = target
    before = daemon.processes()
    fuzz = Fuzzer(SEED, daemon, uuid)
    for number in range(CONNECTIONS):
        sock = FuzzSocket(fuzz, authenticate=number % 2 == 0)
        try:
            for _ in range(fuzz.rng.randint(*FRAMES_PER_CONNECTION)):
                data, close_code = fuzz.frame()
                sock.send(data)
                if close_code is None:
                    sock.drain(0.005)
                    assert sock.closed is None, "closed with %r after %r" % (sock.closed,
                                                                             data[:200])
                    continue
                wait_until(lambda: sock.drain(0.1) or sock.closed is not None, timeout=5,
                           what="the socket to close after %r" % data[:100])
                assert sock.closed == close_code, "closed with %r after %r, not %r" % (
                    sock.closed, data[:100], close_code)
                break
            else:
                sock.drain(0.05)
                assert sock.closed is None, "closed with %r" % sock.closed
                if number % CHECK_EVERY < 2:
                    still_answers(sock)
        finally:
            sock.close()
    print("websocket fuzz (seed %d): %d connections, %d frames sent, %d received, closes %r"
          % (SEED, CONNECTIONS, fuzz.frames_sent, fuzz.frames_received, fuzz.closes))
    sock = FuzzSocket(fuzz, authenticate=True)
    still_answers(sock)
    sock.close()
    assert_unharmed(daemon, before)


def still_answers(sock):
    """``send stats`` is answered: with stats once authenticated (a failed re-auth keeps
    the token, §10.3), with ``jwt: no jwt present`` before (§10.4)."""
    time.sleep(RATE_REFILL)  # the fuzzing has emptied the rate limiter's buckets
    sock.messages.clear()
    sock.send(raw_frame(0x1, b'{"event":"send stats","args":[null]}'))
    wanted = "stats" if sock.authenticated else "jwt error"
    wait_until(lambda: sock.drain(0.2) or any(m["event"] == wanted for m in sock.messages),
               timeout=10, what="%s after the fuzzing" % wanted)
    if not sock.authenticated:
        assert {"event": "jwt error", "args": ["jwt: no jwt present"]} in sock.messages
