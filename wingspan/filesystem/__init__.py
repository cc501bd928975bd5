"""A server's files, reached only through a jail on its root.

Modules: ``paths`` (lexical cleaning of user paths), ``resolve`` (descriptors beneath the
root, openat2 or a component walk), ``jail`` (every file operation of the files API),
``streams`` (reading and writing one file), ``tree`` (walks, removal, chown, disk
usage), ``quota`` (limit, usage counter, cached walks), ``denylist`` (egg patterns),
``statinfo`` and ``mime`` (the Stat object), ``naming`` (copy and archive names),
``archives`` (compress and decompress, whole-root archives streamed both ways) and
``pgzip`` (gzip on every core, rate limit, running hash).

The names below are the package's public face for the rest of wingspan.
"""

import gevent

from wingspan.filesystem import resolve, tree
from wingspan.filesystem.jail import Jail, parse_mode
from wingspan.filesystem.quota import DiskUsage, Quota, disk_usage
from wingspan.filesystem.streams import ReadStream, WriteStream


def in_thread(func, *args, pool=None):
    """``func(*args)`` in a native thread of gevent's ``pool`` (default: the hub's
    threadpool): disk work (a huge listing, an archive, a tree walk) must not stall the hub
    of the process that asked for it.

    What ``func`` raises is raised here; it is carried back as a value because the
    threadpool would also print a traceback for every expected error (a missing file)."""
    return start_in_thread(func, *args, pool=pool).result()


class _ThreadCall:
    """``func(*args)`` under way in a gevent threadpool, or in a gevent
    ``ThreadPoolExecutor`` (what ``submit`` takes); :meth:`result` waits for it."""

    def __init__(self, func, args, pool):
        pool = pool if pool is not None else gevent.get_hub().threadpool
        start = getattr(pool, "submit", None) or pool.spawn
        self._call = start(_outcome_of, func, args)

    def result(self):
        """Wait for the call; return its value or raise what it raised."""
        failed, outcome = self._call.result()
        if failed:
            raise outcome
        return outcome


def start_in_thread(func, *args, pool=None):
    """Start :func:`in_thread`'s call without waiting for it; ``.result()`` waits."""
    return _ThreadCall(func, args, pool)


class WriteBehind:
    """Feeds a ``WriteStream`` off the hub with one chunk in flight: the next chunk of a
    request body is received while the previous one is written, instead of after.

    ``queued`` counts the bytes handed over. Chunks must be immutable (``bytes``).
    """

    def __init__(self, writer):
        self.writer = writer
        self.queued = 0
        self._pending = None
        self._error = None

    def write(self, chunk):
        self.flush()
        self._pending = start_in_thread(self.writer.write, chunk)
        self.queued += len(chunk)

    def flush(self):
        """Wait for the write in flight; raise the error of any write that failed (again
        on every later call: a file missing a chunk is never committed)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except Exception as e:
                self._error = e
        if self._error is not None:
            raise self._error

    def commit(self):
        self.flush()
        in_thread(self.writer.commit)

    def abort(self):
        """Drop the file once no write is in flight (a no-op after a commit)."""
        try:
            self.flush()
        except Exception:  # the abort below is what matters now
            pass
        in_thread(self.writer.abort)


def _outcome_of(func, args):
    try:
        return False, func(*args)
    except Exception as e:  # re-raised unchanged by in_thread, in the caller's greenlet
        return True, e


def lchown_tree(root, uid, gid):
    """Give the tree at ``root`` to ``uid:gid`` without following symlinks (a root that is
    a symlink is refused); returns how many entries beneath it changed."""
    with resolve.open_root(root) as fd:
        return tree.chown_tree(fd, uid, gid)


__all__ = ["DiskUsage", "Jail", "Quota", "ReadStream", "WriteBehind", "WriteStream",
           "disk_usage", "in_thread", "lchown_tree", "parse_mode", "start_in_thread"]
