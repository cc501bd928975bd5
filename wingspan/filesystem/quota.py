"""Disk quota of one server: the limit, the usage counter and the walks that refresh it
(wings-api.md §6.4, wings-behaviour.md §4.3)."""

import logging
import os
import threading
import time

from wingspan import errors
from wingspan.filesystem.resolve import DIR_FLAGS, close_fd
from wingspan.filesystem.tree import disk_usage_fd

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class Quota:
    """A limit in bytes (0: unlimited, negative: every write refused) and a usage counter
    kept up to date incrementally by the jail and overwritten by each disk walk."""

    def __init__(self, limit_bytes=0):
        self.limit = limit_bytes
        self.usage = 0

    @classmethod
    def from_disk_space(cls, disk_space_mib):
        """The quota of a server whose ``build.disk_space`` is ``disk_space_mib``."""
        return cls(disk_space_mib * MIB)

    def can_fit(self, size):
        """Whether ``size`` more bytes fit (a negative size, a shrink, always fits a limit ≥ 0)."""
        if self.limit == 0:
            return True
        if self.limit < 0:
            return False
        return self.usage + size <= self.limit

    def has_space(self):
        """Whether the server is not over its limit (compress, pull, start, the watchdog)."""
        return self.limit == 0 or (self.limit > 0 and self.usage <= self.limit)

    def require(self, size):
        """Raise NotEnoughDisk unless ``size`` more bytes fit."""
        if not self.can_fit(size):
            raise errors.NotEnoughDisk(detail="%d bytes more do not fit: %d of %d used"
                                       % (size, self.usage, self.limit))

    def add(self, size):
        """Account for ``size`` bytes written (negative: freed); never below zero."""
        self.usage = max(0, self.usage + size)

    def set_usage(self, usage):
        self.usage = max(0, usage)


def disk_usage(root):
    """Apparent size of the regular files under ``root`` (§4.3), without following symlinks."""
    fd = os.open(root, DIR_FLAGS)
    try:
        return disk_usage_fd(fd)
    finally:
        close_fd(fd)


class DiskUsage:
    """Cached disk walks of one server root (wings-behaviour.md §4.3).

    A walk is fresh for ``interval`` seconds. :meth:`get` with ``allow_stale`` returns the
    counter at once and starts a background walk if the cache is stale and none is running;
    without it, a stale cache is refreshed before returning. One walk runs at a time; a
    synchronous caller that finds one running waits for it and then walks again.

    Args:
        root: the server root (host path).
        quota: the :class:`Quota` whose usage the walks overwrite.
        interval: ``system.disk_check_interval``; 0 disables walks (usage reads as 0).
        executor: runs the walk off the caller's thread; it must not block an event loop
            (in a gevent process: ``gevent.threadpool.ThreadPoolExecutor``).
        clock: monotonic seconds.
    """

    def __init__(self, root, quota, interval, executor, clock=time.monotonic):
        self.root = root
        self.quota = quota
        self.interval = interval
        self.executor = executor
        self.clock = clock
        self.checked_at = None
        self._lock = threading.Lock()
        self._background = None

    def get(self, allow_stale=True):
        """The usage in bytes, walking first (or in the background) when the cache is stale."""
        if self.interval == 0:
            return 0
        if self.is_fresh():
            return self.quota.usage
        if allow_stale:
            self.refresh_in_background()
            return self.quota.usage
        return self.refresh()

    def has_space(self, allow_stale=True):
        """Whether the server is within its limit; always true when walks are disabled."""
        if self.interval == 0:
            return True
        # Asked every second by each running server's stats loop: a fresh cache, the usual
        # case, is seen here without going through get().
        if not self.is_fresh():
            self.get(allow_stale)
        return self.quota.has_space()

    def is_fresh(self):
        return self.checked_at is not None and self.clock() - self.checked_at <= self.interval

    def refresh(self):
        """Walk now and return the usage."""
        with self._lock:
            running = self._background
            if running is not None and not running.done():
                _wait_quietly(running)
            return self._record(self.executor.submit(disk_usage, self.root))

    def refresh_in_background(self):
        """Start a walk unless one is already running; returns the running walk's future
        (its result recorded before any callback added to it runs), or None when walks
        are disabled."""
        if self.interval == 0:
            return None
        running = self._background
        if running is not None and not running.done():
            return running
        self._background = self.executor.submit(disk_usage, self.root)
        self._background.add_done_callback(self._record)
        return self._background

    def _record(self, future):
        """Store a walk's result; the time is recorded even when the walk failed."""
        try:
            self.quota.set_usage(future.result())
        except OSError as e:
            log.warning("disk usage walk of %s failed: %s", self.root, e)
        finally:
            self.checked_at = self.clock()
        return self.quota.usage


def _wait_quietly(future):
    try:
        future.result()
    except OSError:
        return
