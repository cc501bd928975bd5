"""Directory listings: the sorted names of a directory, then the Stat objects of any run of
them as JSON text.

The two steps are apart so that a huge directory can be listed by two processes at once:
the API reads and sorts the names, then shares their batches with the server's worker
(which opens the same directory through its own jail; see ``api.listing``). Each
entry costs an lstat, and for a regular file an open and a read to sniff its MIME type
(wings-behaviour.md §9.5); both processes keep a :class:`mime.SniffCache`, so a file is
sniffed again only once it has changed.
"""

import errno
import os
import stat

from wingspan import errors
from wingspan.filesystem import mime, resolve
from wingspan.filesystem.statinfo import stat_json

# Sorting 100 000 names in one call holds the GIL for some 60 ms, during which a gevent
# process running this in a thread serves no one; slices are sorted first, then the whole,
# which timsort merges from those runs in one short pass.
SORT_SLICE = 8192
_NOT_NAMES = ("", ".", "..")
_SNIFF_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Listing:
    """An open directory beneath a server root and, once :meth:`scan` ran, the names of
    its entries: directories first, then the rest, each in byte order ([REC]).

    Owns ``dir_fd``; use as a context manager or call :meth:`close`.
    """

    def __init__(self, dir_fd, sniff_cache):
        self.dir_fd = dir_fd
        self.sniff_cache = sniff_cache
        self.names = []
        self.names_are_utf8 = True

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        if self.dir_fd is not None:
            resolve.close_fd(self.dir_fd)
            self.dir_fd = None

    def scan(self):
        """Read and sort the names of the directory's entries (no lstat: the kind of an
        entry comes with its name on every filesystem a server root sits on, and is
        looked up only where it does not)."""
        directories, others = [], []
        with os.scandir(self.dir_fd) as scan:
            for entry in scan:
                # an entry removed since the scan is no directory (is_dir never raises it)
                (directories if entry.is_dir(follow_symlinks=False) else others).append(
                    entry.name)
        self.names_are_utf8 = _valid_utf8(directories) and _valid_utf8(others)
        key = None if self.names_are_utf8 else os.fsencode
        self.names = _sorted(directories, key) + _sorted(others, key)
        return self

    def entries(self, names):
        """The Stat objects (symlinks listed, not followed) of the entries ``names``, in
        their order, as JSON texts; an entry removed since the scan is left out.

        ``names`` may come from another process, so anything but a plain name (a path, a
        dot entry, a NUL) is refused rather than looked up."""
        _check_names(names)
        dir_fd, sniffed = self.dir_fd, self.sniff_cache.sniffed
        texts = []
        for name in names:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size:  # only those are ever read
                mime_type = sniffed(info, _sniff_file, dir_fd, name, info)
            else:
                mime_type = _mime_without_reading(info)
            texts.append(stat_json(name, info, mime_type))
        return texts

    def encoded(self, names):
        """:meth:`entries` as members of a JSON array: the texts joined by commas, as bytes
        (ASCII: names are escaped), empty when none is left."""
        return ",".join(self.entries(names)).encode("ascii")


def _check_names(names):
    joined = "".join(names)
    if "/" in joined or "\0" in joined or any(bad in names for bad in _NOT_NAMES):
        raise errors.BadRequest(detail="a listed name must be one directory entry's name")


def _sorted(names, key):
    for start in range(0, len(names), SORT_SLICE):
        names[start:start + SORT_SLICE] = sorted(names[start:start + SORT_SLICE], key=key)
    names.sort(key=key)
    return names


def _valid_utf8(names):
    """UTF-8 keeps code point order, so names sort as they are as bytes unless one holds
    undecodable bytes (surrogate escapes, which do not)."""
    try:
        "".join(names).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _mime_without_reading(info):
    """The type of an entry with nothing to read: not a file, or an empty one."""
    return mime.without_content(info.st_mode) or mime.sniff(b"")


def _sniff_file(dir_fd, name, info):
    """The MIME type of a listed file with one open and one read (not the O_PATH-then-
    reopen of a single stat, which would double the cost of a listing). Should the entry
    be swapped after the lstat, ``O_NOFOLLOW`` refuses a symlink, ``O_NONBLOCK`` keeps a
    FIFO from blocking and ``pread`` fails on anything but a file (the container's
    unprivileged user cannot create device nodes)."""
    try:
        fd = _open_to_sniff(dir_fd, name)
    except OSError:
        return mime.OCTET_STREAM
    try:
        head = os.pread(fd, mime.SNIFF_BYTES, 0)
    except OSError:
        return mime.OCTET_STREAM
    finally:
        resolve.close_fd(fd)
    return mime.sniff(head, truncated=info.st_size > len(head))


def _open_to_sniff(dir_fd, name):
    """Open a listed file without touching its access time: looking at a directory is not
    reading its files, and on a relatime mount the first listing after the files were
    written would otherwise dirty every inode (journal work that slowed a first listing of
    100 000 files by a fifth). ``O_NOATIME`` needs the file's owner or CAP_FOWNER."""
    try:
        return os.open(name, _SNIFF_FLAGS | os.O_NOATIME, dir_fd=dir_fd)
    except PermissionError as e:
        if e.errno != errno.EPERM:
            raise
        return os.open(name, _SNIFF_FLAGS, dir_fd=dir_fd)
