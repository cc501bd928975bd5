"""Byte streams for long archive jobs: gzip compressed on every core, a write-rate limit
and a running hash (wings-behaviour.md §10.1: "parallel gzip", ``write_limit``, checksum).

:class:`ParallelGzipWriter` writes one gzip member the way pigz does: the input is cut
into blocks, each block is deflated on its own native thread (zlib releases the GIL)
primed with the last 32 KiB of the block before it, and ends on a byte boundary
(``Z_SYNC_FLUSH``), so the blocks joined in order are one ordinary deflate stream that
``gzip``, ``tar -z``, Go and Python read as usual. The CRC-32 and the length are computed
in order in the caller's thread. At most ``2 × threads`` blocks are in flight: memory
stays bounded whatever the archive's size.

The threads are native ones even in a gevent-patched process (the worker): the caller is
expected to run the job off the event loop (``wingspan.filesystem.in_thread``), and there
a blocking wait for a block is what it should do.
"""

import collections
import os
import struct
import time
import zlib

from gevent import monkey

BLOCK_BYTES = 1024 * 1024
WINDOW_BYTES = 32 * 1024
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown

_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")
_sleep = monkey.get_original("time", "sleep")


def core_count():
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Block:
    """One block deflated on its own native thread; :meth:`result` waits for it."""

    def __init__(self, data, window, level, last):
        self._done = _allocate_lock()
        self._done.acquire()
        self._output = None
        self._error = None
        _start_thread(self._run, (data, window, level, last))

    def _run(self, data, window, level, last):
        try:
            if window:
                deflater = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=window)
            else:
                deflater = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
            self._output = deflater.compress(data) + deflater.flush(
                zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
        except BaseException as e:  # handed to the waiting caller, not lost in this thread
            self._error = e
        finally:
            self._done.release()

    def result(self):
        with self._done:
            pass
        if self._error is not None:
            raise self._error
        return self._output


class ParallelGzipWriter:
    """A write-only file object compressing into ``sink`` (anything with ``write``).

    Args:
        sink: where the gzip bytes go, in order.
        level: zlib level 0–9.
        threads: blocks deflated at once (default: every core).
        block_bytes: input bytes per block.

    :meth:`close` finishes the stream (it does not close ``sink``); :meth:`abort` drops
    what is in flight without writing more.
    """

    def __init__(self, sink, level=1, threads=None, block_bytes=BLOCK_BYTES):
        self.sink = sink
        self.level = level
        self.threads = threads or core_count()
        self.block_bytes = block_bytes
        self.size = 0  # uncompressed bytes taken
        self._crc = 0
        self._buffer = bytearray()
        self._window = b""
        self._pending = collections.deque()
        self._closed = False
        sink.write(GZIP_HEADER)

    def write(self, data):
        if self._closed:
            raise ValueError("write to a closed ParallelGzipWriter")
        self._buffer += data
        while len(self._buffer) >= self.block_bytes:
            block = bytes(self._buffer[:self.block_bytes])
            del self._buffer[:self.block_bytes]
            self._submit(block, last=False)
        return len(data)

    def flush(self):
        """Blocks are written as they complete (tarfile calls this)."""

    def tell(self):
        """Uncompressed bytes taken so far (tarfile pads its records by it)."""
        return self.size + len(self._buffer)

    def close(self):
        if self._closed:
            return
        self._submit(bytes(self._buffer), last=True)
        self._buffer = bytearray()
        self._closed = True
        while self._pending:
            self._drain_one()
        self.sink.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))

    def abort(self):
        """Stop: blocks in flight finish on their threads and are dropped."""
        self._closed = True
        self._pending.clear()
        self._buffer = bytearray()

    def _submit(self, block, last):
        self._crc = zlib.crc32(block, self._crc)
        self.size += len(block)
        self._pending.append(_Block(block, self._window, self.level, last))
        self._window = (self._window + block)[-WINDOW_BYTES:] if len(block) < WINDOW_BYTES \
            else block[-WINDOW_BYTES:]
        while len(self._pending) > 2 * self.threads:
            self._drain_one()

    def _drain_one(self):
        self.sink.write(self._pending.popleft().result())

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.close()
        else:
            self.abort()


class RateLimit:
    """A token bucket of ``bytes_per_second`` holding at most one second of tokens
    (Wings' ``write_limit``); 0 or less: no limit. :meth:`take` sleeps off a debt."""

    def __init__(self, bytes_per_second, clock=time.monotonic, sleep=_sleep):
        self.rate = bytes_per_second
        self.clock = clock
        self.sleep = sleep
        self._tokens = float(max(bytes_per_second, 0))
        self._at = clock()

    def take(self, count):
        if self.rate <= 0:
            return
        now = self.clock()
        self._tokens = min(float(self.rate), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= count
        if self._tokens < 0:
            self.sleep(-self._tokens / self.rate)


class MeteredSink:
    """Passes writes on to ``sink`` while counting them, hashing them (``hasher``: a
    ``hashlib`` object, or None) and keeping to ``rate`` (a :class:`RateLimit`)."""

    def __init__(self, sink, hasher=None, rate=None):
        self.sink = sink
        self.hasher = hasher
        self.rate = rate
        self.written = 0

    def write(self, data):
        if self.rate is not None:
            self.rate.take(len(data))
        if self.hasher is not None:
            self.hasher.update(data)
        self.sink.write(data)
        self.written += len(data)
        return len(data)

    def flush(self):
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            flush()

    def hexdigest(self):
        return self.hasher.hexdigest() if self.hasher is not None else ""


class MeteredReader:
    """Reads from ``source`` while counting, hashing and keeping to ``rate`` (restore's
    ``write_limit``, a transfer's ``download_limit`` and its SHA-256)."""

    def __init__(self, source, hasher=None, rate=None):
        self.source = source
        self.hasher = hasher
        self.rate = rate
        self.read_bytes = 0

    def read(self, size=-1):
        data = self.source.read(size)
        if data:
            if self.rate is not None:
                self.rate.take(len(data))
            if self.hasher is not None:
                self.hasher.update(data)
            self.read_bytes += len(data)
        return data

    def hexdigest(self):
        return self.hasher.hexdigest() if self.hasher is not None else ""
