"""Readers of one server's console output that time what arrives: straight from Docker's
attach stream, or as wingspan's websocket frames.

Both read raw sockets in large chunks and do as little Python work per line as they can:
a reader slower than the daemon would measure itself. The websocket upgrade and ``auth``
go through websocket-client, which reads exactly one frame at a time and so leaves no
byte in its buffers; after ``auth success`` the socket is read directly and cut into
frames by ``FrameSplitter`` (server frames are unmasked and, from gevent-websocket, never
fragmented). Console frames have the fixed shape of ``api.hub.frame``, one line each, so a
line's length and text are slices of the payload. Lines of the test game (``flood``,
``stamp``) are plain ASCII, which JSON does not escape.

Every read has a timeout and every loop a deadline, so no reader outlives its benchmark.
"""

import bisect
import json
import math
import socket
import threading
import time

import docker
import websocket

from api.hub import frame
from tests.support.browser import console_token

CHUNK = 262144
READ_TIMEOUT = 0.2
OP_CLOSE = 8
NO_STATUS_CODE = 1005
_SAMPLE = frame("console output", ["@"]).encode()
CONSOLE_HEAD = _SAMPLE[:_SAMPLE.index(b'"@"') + 1]
CONSOLE_TAIL_LENGTH = len(_SAMPLE) - len(CONSOLE_HEAD) - 1
FLOOD = b"flood line "
STAMP = b"stamp "
# The attach stream is a TTY's: every line ends in CR LF. Websocket lines are counted the
# same way, so both sides count the same console bytes.
LINE_END = 2


class AuthRefused(RuntimeError):
    """The daemon answered ``auth`` with something other than ``auth success``."""


class FrameSplitter:
    """Cuts a server-to-client websocket byte stream into ``(opcode, payload)`` frames."""

    def __init__(self):
        self._rest = b""

    def feed(self, data):
        buf = self._rest + data if self._rest else data
        frames = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                head = 4
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
            elif length == 127:
                head = 10
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
            if end - pos < head + length:
                break
            frames.append((buf[pos] & 0x0F, buf[pos + head:pos + head + length]))
            pos += head + length
        self._rest = buf[pos:]
        return frames


def console_line(payload):
    """The line a console frame carries, as bytes, or None for any other frame."""
    if not payload.startswith(CONSOLE_HEAD):
        return None
    return payload[len(CONSOLE_HEAD):len(payload) - CONSOLE_TAIL_LENGTH]


def flood_index(line):
    """N of ``flood line N``, or None."""
    if line.startswith(FLOOD):
        digits = line[len(FLOOD):].strip()
        if digits.isdigit():
            return int(digits)
    return None


def last_flood_index(data):
    """N of the last complete ``flood line N`` in a chunk of attach output, or None."""
    end = data.rfind(b"\r\n")
    start = data.rfind(FLOOD, 0, end)
    if start < 0 or end < 0:
        return None
    return flood_index(data[start:end])


def stamp_delay(line, now):
    """Seconds from the time a ``stamp I T`` line names to ``now`` (wall clock), or None."""
    fields = line.split()
    # the TTY echoes the command itself ("stamp 3000 1000"): its T has no decimal point
    if len(fields) != 3 or fields[0] != STAMP.strip() or b"." not in fields[2]:
        return None
    try:
        return now - float(fields[2])
    except ValueError:
        return None


def close_code(payload):
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_STATUS_CODE


class ConsoleSocket:
    """An authenticated console websocket of one server, its raw socket ready to read."""

    def __init__(self, daemon, uuid, receive_buffer=None, timeout=10.0):
        url = daemon.url.replace("http://", "ws://", 1) + "/api/servers/%s/ws" % uuid
        options = (((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
                   if receive_buffer else ())
        self.ws = websocket.create_connection(url, origin=daemon.panel_url, timeout=timeout,
                                              sockopt=options, skip_utf8_validation=True)
        try:
            self.ws.send(json.dumps({"event": "auth", "args": [console_token(daemon, uuid)]}))
            self._await_auth(time.monotonic() + timeout)
        except (AuthRefused, OSError, websocket.WebSocketException):
            self.ws.shutdown()
            raise
        self.sock = self.ws.sock

    def _await_auth(self, deadline):
        while time.monotonic() < deadline:
            opcode, payload = self.ws.recv_data()
            if opcode == OP_CLOSE:
                raise AuthRefused("closed with %d before auth success" % close_code(payload))
            event = json.loads(payload)["event"]
            if event == "auth success":
                return
            if event == "jwt error":
                raise AuthRefused(payload.decode())
        raise AuthRefused("no auth success within the timeout")

    def command(self, text):
        """Type a console command, as the Panel's console does (``send command``): unlike
        ``POST /commands`` nothing waits for the worker, which a flood keeps busy."""
        self.ws.send(json.dumps({"event": "send command", "args": [text]}))

    def close(self):
        """Drop the connection without the closing handshake: a viewer whose backlog is
        megabytes long would otherwise read all of it first."""
        self.ws.shutdown()


def attach_socket(uuid):
    """A raw socket on the container's attach stream (output from now on)."""
    api = docker.APIClient(version="auto")
    sock = api.attach_socket(uuid, params={"stdout": 1, "stderr": 1, "stream": 1})
    return getattr(sock, "_sock", sock)


class StreamReader(threading.Thread):
    """Reads a socket until ``stop()``, the peer closing, or ``limit`` seconds; each chunk
    goes to ``consume(now, wall, data)`` with its arrival time (``perf_counter`` and
    ``time.time``).

    Per chunk it keeps ``chunks``: ``(now, console bytes, lines, last flood index)``, and
    ``indices``/``times``: when a flood line index was first seen, for lag look-ups.
    ``delays`` holds the latency of each ``stamp`` line, in seconds.
    """

    def __init__(self, sock, limit):
        super().__init__(daemon=True)
        self.sock = sock
        self.deadline = time.monotonic() + limit
        self.chunks = []
        self.indices = []
        self.times = []
        self.delays = []
        self.closed = None
        self._stopping = threading.Event()

    def run(self):
        self.sock.settimeout(READ_TIMEOUT)
        while not self._stopping.is_set() and time.monotonic() < self.deadline:
            try:
                data = self.sock.recv(CHUNK)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                self.closed = self.closed or NO_STATUS_CODE
                return
            if self.consume(time.perf_counter(), time.time(), data):
                return

    def stop(self, timeout=5.0):
        self._stopping.set()
        self.join(timeout)

    def seen(self, now, size, lines, index):
        self.chunks.append((now, size, lines, index))
        if index is not None and (not self.indices or index > self.indices[-1]):
            self.indices.append(index)
            self.times.append(now)

    def first_seen(self, index):
        """When the line ``flood line index`` (or a later one) arrived, or None."""
        position = bisect.bisect_left(self.indices, index)
        return self.times[position] if position < len(self.times) else None

    def rate(self, start, end):
        """``(console bytes/s, lines/s)`` of the chunks that arrived in ``[start, end)``."""
        size = lines = 0
        for now, chunk_size, chunk_lines, _ in self.chunks:
            if start <= now < end:
                size += chunk_size
                lines += chunk_lines
        return size / (end - start), lines / (end - start)


class AttachReader(StreamReader):
    """Docker's attach stream: the baseline every figure compares against."""

    def consume(self, now, wall, data):
        self.seen(now, len(data), data.count(b"\n"), last_flood_index(data))
        if STAMP in data:
            for line in data.split(b"\r\n"):
                delay = stamp_delay(line, wall)
                if delay is not None:
                    self.delays.append(delay)
        return False


class ConsoleReader(StreamReader):
    """wingspan's console websocket, read as raw frames."""

    def __init__(self, console, limit):
        super().__init__(console.sock, limit)
        self.splitter = FrameSplitter()

    def consume(self, now, wall, data):
        lines, self.closed = read_console(self.splitter, data, self.closed)
        for line in lines:
            if line.startswith(STAMP):
                delay = stamp_delay(line, wall)
                if delay is not None:
                    self.delays.append(delay)
        size = sum(len(line) + LINE_END for line in lines)
        self.seen(now, size, len(lines), flood_index(lines[-1]) if lines else None)
        return self.closed is not None


def read_console(splitter, data, closed=None):
    """The console lines in one read of a console websocket, and the close code once the
    daemon has closed it (``closed`` until then)."""
    lines = []
    for opcode, payload in splitter.feed(data):
        if opcode == OP_CLOSE:
            return lines, close_code(payload)
        line = console_line(payload)
        if line is not None:
            lines.append(line)
    return lines, closed


def until(predicate, timeout, interval=0.05):
    """Poll ``predicate`` for at most ``timeout`` seconds; True once it held, else False."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def percentile(values, fraction):
    """The value below which ``fraction`` of ``values`` lie (nearest rank), or None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
