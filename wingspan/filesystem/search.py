"""Finding a server's files by name and by content (Pelican's
``GET /api/servers/:server/files/search``).

The walk starts at a directory resolved by the jail and goes down through directory
descriptors opened with ``O_NOFOLLOW`` (``tree.open_child``), so a symlink is listed (its
name can match) but never followed, and a file's content is read only through a
descriptor of the regular file itself. Entries the egg's denylist covers are neither
listed, entered nor read. Like Pelican, the walk stops 8 levels down and skips directories
of dependencies and caches (``node_modules``, ``.git``, ...).

Unlike Pelican, the work is bounded: the walk ends after ``Limits.seconds``, at
``Limits.matches`` results, and content reading stops once ``Limits.content_bytes`` were
read in all (files larger than ``Limits.file_bytes`` are not read); the result says which
bound cut it short.
"""

import errno
import fnmatch
import json
import os
import stat
import time
from dataclasses import dataclass, field

from wingspan.filesystem import resolve, tree
from wingspan.filesystem.listing import Listing
from wingspan.filesystem.paths import join_path
from wingspan.gojson import text as go_text

# Pelican's SearchRecursion defaults.
MAX_DEPTH = 8
SKIPPED_DIRECTORIES = frozenset(("node_modules", ".wine", ".git", "appcache", "depotcache",
                                 "vendor"))
MIN_TERM_BYTES = 3
READ_CHUNK = 1024 * 1024
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class Limits:
    seconds: float = 10.0
    matches: int = 1000
    content_bytes: int = 256 * 1024 * 1024
    file_bytes: int = 16 * 1024 * 1024


@dataclass
class Found:
    """The Stat objects found (their ``name`` the path as Pelican spells it) and, when a
    bound ended the search early, which one: ``time``, ``matches`` or ``bytes``."""

    entries: list = field(default_factory=list)
    truncated: str = ""


class NamePattern:
    """Pelican's name match, case-insensitive: a glob when the pattern has ``*`` or ``?``;
    otherwise a substring, or the same extension (``.cfg`` or ``cfg``), or the same name."""

    def __init__(self, pattern):
        self.pattern = pattern.lower()
        self.glob = any(c in self.pattern for c in "*?")

    def matches(self, name):
        name = name.lower()
        if self.glob:
            return fnmatch.fnmatchcase(name, self.pattern)
        if self.pattern in name:
            return True
        if self.pattern.startswith(".") or "." not in self.pattern:
            return _extension(name)[1:] == self.pattern.removeprefix(".")
        return name == self.pattern


def _extension(name):
    """Go's ``filepath.Ext``: from the last dot, or empty."""
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


class _Stop(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Search:
    """One search beneath an open directory of a server root.

    Args:
        denylist: the jail's :class:`Denylist`.
        sniff_cache: the jail's MIME cache (results carry a MIME type like a listing).
        pattern: the name pattern, or None.
        content: text the file must contain (case-insensitive for ASCII), or None.
    """

    def __init__(self, denylist, sniff_cache, pattern=None, content=None, limits=Limits(),
                 clock=time.monotonic):
        self.denylist = denylist
        self.sniff_cache = sniff_cache
        self.name = NamePattern(pattern) if pattern else None
        self.needle = content.lower().encode("utf-8", "surrogateescape") if content else None
        self.limits = limits
        self.clock = clock
        self.found = Found()
        self.bytes_read = 0
        self._deadline = None

    def run(self, dir_fd, parts, display_base):
        """Search the directory ``dir_fd`` (at server path ``parts``); results are named
        ``display_base`` joined with their path beneath it. Does not close ``dir_fd``."""
        self._deadline = self.clock() + self.limits.seconds
        try:
            self._directory(dir_fd, tuple(parts), display_base, 0)
        except _Stop as stop:
            self.found.truncated = stop.reason
        return self.found

    def _directory(self, dir_fd, parts, display, depth):
        if depth > MAX_DEPTH:
            return
        try:
            listing = Listing(os.dup(dir_fd), self.sniff_cache).scan()
        except OSError:
            return  # unreadable, or removed meanwhile
        with listing:
            for name in listing.names:
                self._entry(listing, parts + (name,), join_path(display, name), depth)

    def _entry(self, listing, parts, display, depth):
        if self.clock() > self._deadline:
            raise _Stop("time")
        if self.denylist.matches(parts):
            return
        name = parts[-1]
        try:
            info = os.stat(name, dir_fd=listing.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            if name.lower() in SKIPPED_DIRECTORIES:
                return
            child = tree.open_child(listing.dir_fd, name)
            if child is not None:
                try:
                    self._directory(child, parts, display, depth + 1)
                finally:
                    resolve.close_fd(child)
        if self._matches(listing.dir_fd, name, info):
            self._add(listing, name, display)

    def _matches(self, dir_fd, name, info):
        if self.name is not None and not self.name.matches(name):
            return False
        if self.needle is None:
            return True
        return stat.S_ISREG(info.st_mode) and self._contains(dir_fd, name, info)

    def _contains(self, dir_fd, name, info):
        if info.st_size > self.limits.file_bytes or info.st_size < len(self.needle):
            return False
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except OSError:
            return False  # swapped for a symlink (ELOOP), removed, unreadable
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            return self._scan(fd)
        finally:
            resolve.close_fd(fd)

    def _scan(self, fd):
        keep = len(self.needle) - 1
        tail = b""
        while True:
            budget = self.limits.content_bytes - self.bytes_read
            if budget <= 0:
                raise _Stop("bytes")
            try:
                chunk = os.read(fd, min(READ_CHUNK, budget))
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EISDIR, errno.EINVAL):
                    return False
                raise
            if not chunk:
                return False
            self.bytes_read += len(chunk)
            window = tail + chunk.lower()
            if self.needle in window:
                return True
            tail = window[-keep:] if keep else b""
            if self.clock() > self._deadline:
                raise _Stop("time")

    def _add(self, listing, name, display):
        texts = listing.entries([name])
        if not texts:
            return
        entry = json.loads(texts[0])
        entry["name"] = go_text(display)
        self.found.entries.append(entry)
        if len(self.found.entries) >= self.limits.matches:
            raise _Stop("matches")
