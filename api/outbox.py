"""What one websocket session has yet to send: whole wire frames, bounded in bytes.

A console flood is encoded once per line for every viewer (``text_frame``) and each
viewer's pending frames go out in one write, so two hundred viewers cost two hundred
writes per batch, not per line. A viewer slower than the flood skips console lines once
its backlog reaches the limit instead of buffering without bound; frames that carry state
(status, stats, errors) are never skipped, and a viewer whose backlog of those grows past
several limits is too far gone to keep.
"""

import struct

import gevent.event

OPCODE_TEXT = 0x81  # FIN + text frame
HARD_LIMIT_FACTOR = 4


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
    """Frames waiting for one client.

    Args:
        limit: pending bytes beyond which skippable frames are skipped.
    """

    def __init__(self, limit):
        self.limit = limit
        self.skipped = 0
        self._frames = []
        self._bytes = 0
        self._ready = gevent.event.Event()

    def put(self, data, skippable=False):
        """Queue one wire frame; False when the client is hopelessly behind."""
        if self._bytes + len(data) > self.limit:
            if skippable:
                self.skipped += 1
                return True
            if self._bytes + len(data) > self.limit * HARD_LIMIT_FACTOR:
                return False
        self._frames.append(data)
        self._bytes += len(data)
        self._ready.set()
        return True

    def wake(self):
        """Let a waiting :meth:`take` return (empty) so its caller can see it must stop."""
        self._ready.set()

    def take(self):
        """Wait for frames and return them all as one buffer (empty after :meth:`wake`)."""
        self._ready.wait()
        data = b"".join(self._frames)
        self._frames = []
        self._bytes = 0
        self._ready.clear()
        return data
