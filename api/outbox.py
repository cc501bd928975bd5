"""What one websocket session has yet to send: whole wire frames, bounded in bytes.

A console flood is encoded once per line for every viewer (``text_frame``) and each
viewer's pending frames go out in one gathering write (``sendmsg``), so two hundred viewers
cost two hundred writes per batch, not per line, and share the frames' memory instead of
each joining a copy. A viewer slower than the flood skips console lines once its backlog
reaches the limit instead of buffering without bound; frames that carry state (status,
stats, errors) are never skipped, and a viewer whose backlog of those grows past several
limits is too far gone to keep.
"""

import os
import ssl
import struct
from collections import deque

import gevent.event
import gevent.ssl

OPCODE_TEXT = 0x81  # FIN + text frame
HARD_LIMIT_FACTOR = 4
MAX_BUFFERS = os.sysconf("SC_IOV_MAX")
TLS_SOCKETS = (gevent.ssl.SSLSocket, ssl.SSLSocket)


def text_frame(text):
    """An unmasked server-to-client text frame (RFC 6455 §5.2) carrying ``text``."""
    payload = text.encode("utf-8")
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", OPCODE_TEXT, length)
    elif length < 65536:
        header = struct.pack("!BBH", OPCODE_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", OPCODE_TEXT, 127, length)
    return header + payload


class Outbox:
    """Frames waiting for one client, oldest first.

    Past ``limit`` pending bytes the oldest skippable frames are shed, not the newest: a
    viewer who fell behind resumes with current output, and since every viewer of a server
    queues the very same frame objects, their backlogs overlap in memory instead of each
    pinning a different stretch of old output.

    Args:
        limit: pending bytes beyond which skippable frames are shed.
    """

    def __init__(self, limit):
        self.limit = limit
        self.skipped = 0
        self._frames = deque()  # (data, skippable)
        self._bytes = 0
        self._pinned = 0  # bytes of frames that are never shed
        self._ready = gevent.event.Event()

    def put(self, data, skippable=False):
        """Queue one wire frame; False when the client is hopelessly behind."""
        self._frames.append((data, skippable))
        self._bytes += len(data)
        if not skippable:
            self._pinned += len(data)
            if self._pinned > self.limit * HARD_LIMIT_FACTOR:
                return False
        if self._bytes > self.limit:
            self._shed()
        self._ready.set()
        return True

    def _shed(self):
        kept = []
        frames = self._frames
        while self._bytes > self.limit and self._bytes > self._pinned:
            data, skippable = frames.popleft()
            if skippable:
                self._bytes -= len(data)
                self.skipped += 1
            else:
                kept.append((data, skippable))
        frames.extendleft(reversed(kept))

    def wake(self):
        """Let a waiting :meth:`take` return (empty) so its caller can see it must stop."""
        self._ready.set()

    def take(self, max_bytes):
        """Wait for frames and return the oldest, about ``max_bytes`` of them (at least one;
        none after :meth:`wake`). The rest stay queued, where they can still be shed."""
        self._ready.wait()
        frames, size = [], 0
        queue = self._frames
        while queue and (not frames or size + len(queue[0][0]) <= max_bytes):
            data, skippable = queue.popleft()
            frames.append(data)
            size += len(data)
            if not skippable:
                self._pinned -= len(data)
        self._bytes -= size
        if not queue:
            self._ready.clear()
        return frames


def send_frames(sock, frames):
    """Write every byte of ``frames`` to ``sock`` (a gevent socket) in gathering writes.

    A TLS socket has no ``sendmsg`` (it encrypts into records of its own, copying anyway):
    it gets the frames joined.
    """
    if isinstance(sock, TLS_SOCKETS):
        sock.sendall(b"".join(frames))
        return
    pending = [memoryview(frame) for frame in frames]
    first = 0
    while first < len(pending):
        sent = sock.sendmsg(pending[first:first + MAX_BUFFERS])
        while sent and sent >= len(pending[first]):
            sent -= len(pending[first])
            first += 1
        if sent:
            pending[first] = pending[first][sent:]
