"""A bounded queue between a job's native thread and the worker's event loop.

The job thread blocks natively (it is its own thread); the event loop side waits in the
hub's threadpool, so the console, the bus and other greenlets keep running. Network I/O
stays on the event loop (gevent sockets belong to the hub that made them), disk and CPU
work on the job thread, and this is how bytes and parts cross between the two.
"""

from _queue import SimpleQueue  # the C queue: native locks, never gevent's replacement

from wingspan.filesystem import in_thread

CLOSED = object()


class Handoff:
    """Items from a producer to a consumer, at most ``size`` of them taken and not yet
    released. :meth:`close` ends the stream for the consumer (the producer's last act,
    also on failure); :meth:`abort` unblocks a producer waiting for room for good."""

    def __init__(self, size):
        self._items = SimpleQueue()
        self._room = SimpleQueue()
        for _ in range(size):
            self._room.put(True)
        self.aborted = False

    # -- the job thread -------------------------------------------------------------

    def reserve(self):
        """Wait (natively) for room for one more item; False once aborted."""
        return self._room.get() and not self.aborted

    def put(self, item):
        self._items.put(item)

    def take_blocking(self):
        """The next item (natively), or CLOSED."""
        return self._items.get()

    def close(self):
        self._items.put(CLOSED)

    # -- the event loop ---------------------------------------------------------------

    def reserve_cooperatively(self):
        return in_thread(self._room.get) and not self.aborted

    def take(self):
        """The next item, waited for off the hub, or CLOSED."""
        return in_thread(self._items.get)

    def release(self):
        """One taken item is done with: the producer may make another."""
        self._room.put(True)

    def abort(self):
        """The consumer gives up: a producer waiting for room wakes and stops."""
        self.aborted = True
        self._room.put(False)


class HandoffReader:
    """A file object reading the byte chunks of a :class:`Handoff` on the job thread (a
    download streamed into an extraction); each chunk is released once read."""

    def __init__(self, handoff):
        self.handoff = handoff
        self._chunk = b""
        self._offset = 0
        self._ended = False

    def read(self, size=-1):
        parts = []
        wanted = size if size is not None and size >= 0 else None
        while wanted is None or wanted > 0:
            if self._offset >= len(self._chunk):
                if not self._next():
                    break
            end = len(self._chunk) if wanted is None else min(len(self._chunk),
                                                                self._offset + wanted)
            parts.append(self._chunk[self._offset:end])
            if wanted is not None:
                wanted -= end - self._offset
            self._offset = end
        return b"".join(parts)

    def _next(self):
        if self._ended:
            return False
        item = self.handoff.take_blocking()
        if item is CLOSED:
            self._ended = True
            return False
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        self.handoff.release()
        self._chunk, self._offset = item, 0
        return True
