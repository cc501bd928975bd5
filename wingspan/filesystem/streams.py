"""Streams of bytes into and out of files beneath a server root: what the jail hands out
for reading (capped at the size seen when opened) and for writing (through a temporary
file renamed into place, under the quota)."""

import collections
import functools
import logging
import os
import secrets

from wingspan.filesystem import mime, resolve

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def os_errors(method):
    """Turn an ``OSError`` escaping a jail operation into its client-facing error."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except OSError as e:
            raise resolve.translate(e) from e
    return wrapper


class ReadStream:
    """A regular file opened beneath the root for reading.

    At most ``size`` bytes (the size when it was opened) are ever returned, so a file
    growing while it is sent never overruns its ``Content-Length`` (wings-api.md §5.3).
    """

    def __init__(self, fd, name, info):
        self.name = name
        self.info = info
        self.size = info.st_size
        self._fd = fd
        self._left = info.st_size

    @property
    def mime(self):
        head = os.pread(self._fd, mime.SNIFF_BYTES, 0)
        return mime.sniff(head, truncated=self.size > len(head))

    def read(self, size=-1):
        want = self._left if size is None or size < 0 else min(size, self._left)
        parts = []
        while want > 0:
            data = os.read(self._fd, min(want, 1 << 24))
            if not data:
                break
            parts.append(data)
            want -= len(data)
            self._left -= len(data)
        return b"".join(parts)

    def limit_to(self, offset, length):
        """Read only ``length`` bytes from ``offset`` on (a ``Range`` request)."""
        os.lseek(self._fd, offset, os.SEEK_SET)
        self._left = max(0, min(length, self.size - offset))

    def __iter__(self):
        while True:
            data = self.read(CHUNK_BYTES)
            if not data:
                return
            yield data

    def fileno(self):
        return self._fd

    def detach(self):
        """Hand the descriptor over (archives need a seekable file object)."""
        fd, self._fd = self._fd, None
        return fd

    def close(self):
        if self._fd is not None:
            resolve.close_fd(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class WriteStream:
    """Bytes on their way to a file beneath the root (see :meth:`Jail.open_write`).

    Leaving its ``with`` block normally commits (mode, owner and mtime set on the
    temporary file, then renamed over the target, then the quota adjusted by the size
    change); an exception aborts (the temporary file is removed, nothing else changed).
    """

    def __init__(self, target, quota, enforce_quota):
        self.name = target.name
        self.written = 0
        self._quota = quota
        self._enforce = enforce_quota
        self._target = target._replace(dir_fd=os.dup(target.dir_fd))
        self._temp = ".wingspan-%s.tmp" % secrets.token_hex(8)
        try:
            self._fd = os.open(self._temp, NEW_FILE_FLAGS, 0o600, dir_fd=self._target.dir_fd)
        except BaseException:
            resolve.close_fd(self._target.dir_fd)
            raise

    @os_errors
    def write(self, data):
        if self._enforce:
            self._quota.require(self.written + len(data) - self._target.old_size)
        write_all(self._fd, data)
        self.written += len(data)
        return len(data)

    def flush(self):
        """Nothing is buffered here (gzip and tarfile call it)."""

    @os_errors
    def commit(self):
        target = self._target
        try:
            os.fchmod(self._fd, target.mode)
            os.fchown(self._fd, *target.owner)
            if target.mtime is not None:
                os.utime(self._fd, (target.mtime, target.mtime))
            os.rename(self._temp, target.name, src_dir_fd=target.dir_fd,
                      dst_dir_fd=target.dir_fd)
        except BaseException:
            self.abort()
            raise
        self._close()
        self._quota.add(self.written - target.old_size)

    def abort(self):
        if self._fd is not None:
            unlink_quietly(self._target.dir_fd, self._temp)
            self._close()

    def _close(self):
        resolve.close_fd(self._fd)
        resolve.close_fd(self._target.dir_fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


Target = collections.namedtuple("Target", "dir_fd name old_size mode mtime owner")
Target.__doc__ = """Where a :class:`WriteStream` commits: the file ``name`` in ``dir_fd``, the size
it replaces (0 if new), its permission bits, mtime (or None) and ``(uid, gid)``."""


def unlink_quietly(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError as e:
        log.warning("could not remove %s: %s", name, e)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
