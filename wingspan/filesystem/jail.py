"""File operations confined to one server root.

:class:`Jail` is the one seam through which the API and the worker read, write, list,
rename, copy, delete and chmod a server's files. Every user path is cleaned lexically
(``paths.py``), resolved beneath a descriptor of the root (``resolve.py``), and the final
component is acted on with ``*at`` calls that never follow it. Errors are the
``wingspan.errors`` types of wings-api.md §1.6 in their hardened form: an escape looks
like a missing file (404), never a 500.

Every method does bounded work per call and blocks only on local disk I/O; a gevent
process runs the long ones (listing a huge directory, deleting a tree, writing a large
upload) in its threadpool.
"""

import contextlib
import errno
import logging
import os
import secrets
import stat

from wingspan import errors
from wingspan.filesystem import mime, resolve, tree
from wingspan.filesystem.denylist import Denylist
from wingspan.filesystem.listing import Listing
from wingspan.filesystem.naming import copy_names
from wingspan.filesystem.paths import join_path, server_path, split_path
from wingspan.filesystem.quota import Quota
from wingspan.filesystem.search import Limits, Search
from wingspan.filesystem.statinfo import stat_object
from wingspan.filesystem.streams import (
    CHUNK_BYTES,
    NEW_FILE_FLAGS,
    ReadStream,
    Target,
    WriteStream,
    os_errors,
    unlink_quietly,
    write_all,
)

log = logging.getLogger(__name__)

DEFAULT_FILE_MODE = 0o644
INVALID_MODE = "Invalid file mode."
MOVE_INTO_ITSELF = "Cannot move a directory into itself."


class Jail:
    """File access confined to one server root.

    Args:
        root: the server's data directory (``<system.data>/<uuid>``).
        uid, gid: owner given to everything the daemon creates.
        denylist: the egg's ``file_denylist`` patterns.
        quota: the server's :class:`Quota` (default: unlimited).
        openat_mode: ``system.openat_mode`` (``auto``, ``openat2`` or ``openat``).
    """

    def __init__(self, root, uid, gid, denylist=(), quota=None, openat_mode="auto",
                 sniff_cache=None):
        self.root = os.path.abspath(root)
        self.uid = uid
        self.gid = gid
        self.denylist = Denylist(denylist)
        self.quota = quota if quota is not None else Quota()
        self.openat_mode = openat_mode
        self.sniff_cache = sniff_cache if sniff_cache is not None else mime.SniffCache(0)

    # -- resolution ---------------------------------------------------------------------

    def split(self, path):
        """The components of a server path (see :func:`paths.split_path`)."""
        return split_path(path, self.root)

    def is_denied(self, path):
        """Whether the egg denylist covers ``path`` (cleaned first)."""
        return self.denylist.matches(self.split(path))

    def check_denylist(self, path):
        """Raise Denylisted if the egg denylist covers ``path``."""
        self._check_denied(self.split(path))

    def _check_denied(self, parts):
        if self.denylist.matches(parts):
            raise errors.Denylisted(detail="%s is on the denylist" % server_path(parts))

    def open_root(self):
        """A descriptor on the root directory (never a symlink), closed on leaving."""
        return resolve.open_root(self.root)

    def _open_directory(self, root_fd, parts, follow_last=True, create=False):
        if not parts:
            return os.dup(root_fd)
        return resolve.open_directory(root_fd, parts, follow_last=follow_last,
                                      create=(self.uid, self.gid) if create else None,
                                      fast=resolve.use_openat2(self.openat_mode))

    @contextlib.contextmanager
    def _parent(self, parts, create=False):
        """``(dir_fd, name)``: the directory holding the last component, and its name."""
        with self.open_root() as root_fd:
            dir_fd = self._open_directory(root_fd, parts[:-1], create=create)
        try:
            yield dir_fd, parts[-1]
        finally:
            resolve.close_fd(dir_fd)

    @contextlib.contextmanager
    def _parent_if_exists(self, parts):
        """Like :meth:`_parent`, but None when a directory on the way does not exist
        (an escape is still an error: PathOutsideRoot is a FileNotFound)."""
        with self.open_root() as root_fd:
            try:
                dir_fd = self._open_directory(root_fd, parts[:-1])
            except errors.PathOutsideRoot:
                raise
            except errors.FileNotFound:
                dir_fd = None
        try:
            yield dir_fd
        finally:
            if dir_fd is not None:
                resolve.close_fd(dir_fd)

    # -- reading ------------------------------------------------------------------------

    @os_errors
    def stat(self, path):
        """The §5.1 Stat object of ``path``. Like Wings, a final symlink is refused."""
        parts = self.split(path)
        if not parts:
            with self.open_root() as root_fd:
                return stat_object(".", os.fstat(root_fd), mime.DIRECTORY)
        with self._parent(parts) as (dir_fd, name):
            path_fd, info = resolve.open_path(dir_fd, name)
            try:
                if stat.S_ISLNK(info.st_mode):
                    raise errors.PathOutsideRoot(detail="%s is a symlink" % path)
                return stat_object(name, info, _mime_of(path_fd, info))
            finally:
                resolve.close_fd(path_fd)

    @os_errors
    def search(self, directory, pattern=None, content=None, limits=Limits()):
        """Files beneath ``directory`` (a final symlink is refused) whose name matches
        ``pattern`` and whose content holds ``content`` (see ``search.py``).

        Returns:
            A ``search.Found``; entry names are ``directory`` (one trailing ``/`` dropped)
            joined with the path beneath it, as Pelican spells them.
        """
        parts = self.split(directory)
        with self.open_root() as root_fd:
            dir_fd = self._open_directory(root_fd, parts, follow_last=False)
        try:
            display = directory[:-1] if directory.endswith("/") else directory
            return Search(self.denylist, self.sniff_cache, pattern, content,
                          limits).run(dir_fd, parts, display)
        finally:
            resolve.close_fd(dir_fd)

    @os_errors
    def open_listing(self, path, scan=True):
        """A :class:`Listing` of directory ``path`` (a final symlink is refused), its names
        read and sorted now when ``scan``; errors are raised here. Close it when done."""
        parts = self.split(path)
        with self.open_root() as root_fd:
            listing = Listing(self._open_directory(root_fd, parts, follow_last=False),
                              self.sniff_cache)
        if scan:
            try:
                listing.scan()
            except BaseException:
                listing.close()
                raise
        return listing

    @os_errors
    def open_read(self, path):
        """A :class:`ReadStream` on the regular file ``path`` (no symlink, FIFO or device)."""
        parts = self.split(path)
        if not parts:
            raise errors.IsADirectory(detail="the server root")
        with self._parent(parts) as (dir_fd, name):
            fd, info = resolve.open_regular(dir_fd, name)
        return ReadStream(fd, name, info)

    def read_bytes(self, path, max_bytes):
        """A whole regular file's bytes, or None when it does not exist.

        Raises:
            FileTooLarge: the file is larger than ``max_bytes``.
        """
        try:
            stream = self.open_read(path)
        except errors.PathOutsideRoot:
            raise
        except errors.FileNotFound:
            return None
        with stream:
            if stream.size > max_bytes:
                raise errors.FileTooLarge(detail="%s is %d bytes" % (path, stream.size))
            return stream.read()

    # -- writing ------------------------------------------------------------------------

    def write(self, path, stream, length=None, mode=None, mtime=None):
        """Replace or create the regular file ``path`` with bytes read from ``stream``
        (wings-api.md §5.4, wings-behaviour.md §9.4).

        Args:
            stream: anything with ``read(n)``.
            length: bytes to copy at most (an announced ``Content-Length``); the quota must
                fit ``length - existing size`` before anything is written.
            mode, mtime: see :meth:`open_write`.

        Returns:
            The number of bytes written.

        Raises:
            whatever ``stream.read`` raises, unchanged (a client hanging up is not a
            filesystem error); filesystem failures as ``wingspan.errors`` types.
        """
        with self.open_write(path, length, mode, mtime) as out:
            _copy_stream(stream, out, length)
        return out.written

    @os_errors
    def open_write(self, path, size=None, mode=None, mtime=None, check_denylist=True):
        """A :class:`WriteStream` that replaces or creates the regular file ``path``.

        The egg denylist is checked and missing parent directories are created (0755,
        owned by the server user). The bytes go to a temporary file in the same directory,
        renamed over the target when the stream is committed (leaving its ``with`` block
        normally): a failed write leaves the old file intact and no partial file behind.
        The quota is checked before every chunk, so a decompression bomb stops at the
        limit, not at the end of the disk.

        Args:
            size: the expected size; when given, the quota must fit ``size - existing
                size`` before anything is written.
            mode: permission bits (default: the existing file's, else 0644), masked to 0777.
            mtime: modification time to set (archive extraction).
            check_denylist: False for the files the daemon names itself (compress output,
                which Wings does not check either).
        """
        parts = self.split(path)
        if check_denylist:
            self._check_denied(parts)
        return self._open_write(parts, size, mode, mtime, enforce_quota=True)

    @os_errors
    def write_bytes(self, path, data):
        """Replace (or create) a file with ``data``: the daemon's own edits (egg
        configuration files), which Wings makes without denylist or quota checks; the quota
        counter is still adjusted."""
        with self._open_write(self.split(path), None, None, None, enforce_quota=False) as out:
            out.write(data)
        return out.written

    @os_errors
    def _open_write(self, parts, size, mode, mtime, enforce_quota):
        if not parts:
            raise errors.IsADirectory(detail="the server root")
        with self._parent(parts, create=True) as (dir_fd, name):
            existing = _lstat(dir_fd, name)
            if existing is not None:
                resolve.check_regular(existing, name)
            old_size = existing.st_size if existing is not None else 0
            if enforce_quota and size is not None:
                self.quota.require(size - old_size)
            if mode is None:
                mode = existing.st_mode if existing is not None else DEFAULT_FILE_MODE
            target = Target(dir_fd, name, old_size, mode & 0o777, mtime, (self.uid, self.gid))
            return WriteStream(target, self.quota, enforce_quota)

    @os_errors
    def symlink(self, path, target):
        """Create or replace the symlink ``path`` pointing to ``target`` (stored as given:
        a link is never followed when it is made, and every later lookup through it is
        confined to the root). Parents are created; a directory in the way is refused."""
        parts = self.split(path)
        self._check_denied(parts)
        if not parts:
            raise errors.IsADirectory(detail="the server root")
        with self._parent(parts, create=True) as (dir_fd, name):
            existing = _lstat(dir_fd, name)
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                raise errors.DirectoryInTheWay(detail="%s is a directory" % path)
            temp = ".wingspan-%s.tmp" % secrets.token_hex(8)
            os.symlink(target, temp, dir_fd=dir_fd)
            try:
                os.chown(temp, self.uid, self.gid, dir_fd=dir_fd, follow_symlinks=False)
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                unlink_quietly(dir_fd, temp)
                raise
        if existing is not None and stat.S_ISREG(existing.st_mode):
            self.quota.add(-existing.st_size)

    @os_errors
    def set_directory_mtime(self, path, mtime):
        """Give the directory ``path`` (not a symlink) the modification time ``mtime``
        (whole-tree archives restore their directories' times once their content is in)."""
        parts = self.split(path)
        with self.open_root() as root_fd:
            fd = self._open_directory(root_fd, parts, follow_last=False)
        try:
            os.utime(fd, (mtime, mtime))
        finally:
            resolve.close_fd(fd)

    @os_errors
    def reserve(self, directory, candidates):
        """Create an empty file, owned by the server user, under the first free name of
        ``candidates`` in the existing ``directory``; returns its server path. A writer
        that then replaces it keeps a name no concurrent request can take."""
        parts = self.split(directory)
        with self.open_root() as root_fd:
            dir_fd = self._open_directory(root_fd, parts)
        try:
            name, fd = _create_first_free(dir_fd, candidates)
            try:
                os.fchmod(fd, DEFAULT_FILE_MODE)
                os.fchown(fd, self.uid, self.gid)
            finally:
                resolve.close_fd(fd)
        finally:
            resolve.close_fd(dir_fd)
        return server_path(parts + [name])

    @os_errors
    def copy(self, location):
        """Copy the regular file ``location`` next to itself under the first free name of
        wings-behaviour.md §9.6, with its mode and the server's ownership.

        Returns:
            The server path of the copy.
        """
        parts = self.split(location)
        self._check_denied(parts)
        if not parts:
            raise errors.FileNotFound(detail="cannot copy the server root")
        with self._parent(parts) as (dir_fd, name):
            source, info = _open_copy_source(dir_fd, name)
            try:
                self.quota.require(info.st_size)
                copy_name, copied = self._copy_next_to(dir_fd, name, source, info)
            finally:
                resolve.close_fd(source)
        self.quota.add(copied)
        return server_path(parts[:-1] + [copy_name])

    def _copy_next_to(self, dir_fd, name, source, info):
        copy_name, fd = _create_first_free(dir_fd, copy_names(name))
        try:
            copied = _copy_data(source, fd, info.st_size)
            os.fchmod(fd, info.st_mode & 0o777)
            os.fchown(fd, self.uid, self.gid)
        except BaseException:
            resolve.close_fd(fd)
            unlink_quietly(dir_fd, copy_name)
            raise
        resolve.close_fd(fd)
        return copy_name, copied

    @os_errors
    def rename(self, root, source, target):
        """Move ``root/source`` to ``root/target`` (wings-api.md §5.5).

        Both ends are checked against the denylist; the same path is a no-op; a missing
        source is ignored; missing parents of the target are created; an existing target is
        refused; a symlink is moved, not followed.
        """
        source_parts = self.split(join_path(root, source))
        target_parts = self.split(join_path(root, target))
        self._check_denied(source_parts)
        self._check_denied(target_parts)
        if source_parts == target_parts:
            return
        if not source_parts or not target_parts:
            raise errors.PathOutsideRoot(detail="cannot rename the server root")
        with self._parent_if_exists(source_parts) as source_dir:
            if source_dir is None or _lstat(source_dir, source_parts[-1]) is None:
                log.debug("rename: %s does not exist, ignored", server_path(source_parts))
                return
            with self._parent(target_parts, create=True) as (target_dir, target_name):
                _move(source_dir, source_parts[-1], target_dir, target_name)

    @os_errors
    def mkdir(self, name, path):
        """``mkdir -p path/name`` (0755, owned by the server user); existing is fine."""
        parts = self.split(join_path(path, name))
        with self.open_root() as root_fd:
            resolve.close_fd(self._open_directory(root_fd, parts, create=True))

    @os_errors
    def delete(self, root, files):
        """``rm -rf`` each ``root/file`` (symlinks removed, never followed); missing
        entries are fine, the root itself is refused before anything is removed. The quota
        is given back the regular-file bytes removed."""
        targets = [self.split(join_path(root, name)) for name in files]
        if any(not parts for parts in targets):
            raise errors.PathOutsideRoot(detail="cannot delete the server root")
        for parts in targets:
            with self._parent_if_exists(parts) as dir_fd:
                if dir_fd is not None:
                    self.quota.add(-tree.remove(dir_fd, parts[-1]))

    @os_errors
    def chmod(self, root, files):
        """Apply ``[{"file": name, "mode": "755"}, ...]`` relative to ``root``.

        Modes are octal strings (or ints) masked to 0777 ([REC]); all are parsed before any
        is applied. A symlink is skipped, never followed (GHSA-rhq6-9rgh-v45c); a missing
        file is ignored.
        """
        changes = [(self.split(join_path(root, item["file"])), parse_mode(item["mode"]))
                   for item in files]
        for parts, mode in changes:
            if not parts:
                with self.open_root() as root_fd:
                    os.fchmod(root_fd, mode)
                continue
            with self._parent_if_exists(parts) as dir_fd:
                if dir_fd is not None:
                    _chmod_no_follow(dir_fd, parts[-1], mode)

    @os_errors
    def truncate(self):
        """Empty the server root (backup restore with truncation); the quota counts 0."""
        with self.open_root() as root_fd:
            tree.remove_contents(root_fd)
            os.fchmod(root_fd, 0o755)
        self.quota.set_usage(0)

    # -- single entries, as a file-transfer protocol sees them ---------------------------

    @os_errors
    def follow(self, path):
        """The server path ``path`` names once its final symlinks are followed; a link
        whose target is absolute or climbs out of the root is an escape (PathOutsideRoot).
        Targets are read relative to the link's directory and cleaned lexically, like
        every user path; the directories on the way are resolved beneath the root."""
        parts = self.split(path)
        for _ in range(resolve.MAX_SYMLINKS):
            if not parts:
                return "/"
            with self._parent(parts) as (dir_fd, name):
                info = _lstat(dir_fd, name)
                if info is None or not stat.S_ISLNK(info.st_mode):
                    return server_path(parts)
                parts = self._link_parts(parts, resolve.link_target(dir_fd, name))
        raise errors.PathOutsideRoot(detail="too many levels of symbolic links: %s" % path)

    def _link_parts(self, link_parts, target):
        if target.startswith("/"):
            raise errors.PathOutsideRoot(detail="%s -> %s is absolute"
                                         % (server_path(link_parts), target))
        return split_path("/".join(link_parts[:-1] + [target]))

    @os_errors
    def lstat(self, path):
        """The ``os.stat_result`` of ``path`` itself (a final symlink is not followed)."""
        parts = self.split(path)
        with self.open_root() as root_fd:
            if not parts:
                return os.fstat(root_fd)
        with self._parent(parts) as (dir_fd, name):
            info = _lstat(dir_fd, name)
        if info is None:
            raise errors.FileNotFound(detail="%s does not exist" % path)
        return info

    @os_errors
    def readlink(self, path):
        """The server path a symlink points to; a target outside the root is refused (its
        host path is no business of the client)."""
        parts = self.split(path)
        if not parts:
            raise errors.BadRequest(detail="the server root is not a symlink")
        with self._parent(parts) as (dir_fd, name):
            info = _lstat(dir_fd, name)
            if info is None or not stat.S_ISLNK(info.st_mode):
                raise errors.FileNotFound(detail="%s is not a symlink" % path)
            return server_path(self._link_parts(parts, resolve.link_target(dir_fd, name)))

    @os_errors
    def open_file(self, path, flags, mode=DEFAULT_FILE_MODE):
        """``(fd, old_size, created)``: the regular file ``path`` opened in place with
        ``flags`` (``os.O_*``: access, ``O_CREAT``, ``O_EXCL``, ``O_TRUNC``, ``O_APPEND``).
        A final symlink, directory or device is refused; a new file gets ``mode`` (masked
        to 0777) and the server user, its missing parent directories are created.
        ``old_size`` is the size before an ``O_TRUNC`` (0 for a new file)."""
        parts = self.split(path)
        if not parts:
            raise errors.IsADirectory(detail="the server root")
        create = bool(flags & os.O_CREAT)
        with self._parent(parts, create=create) as (dir_fd, name):
            existing = _lstat(dir_fd, name)
            if existing is not None:
                if flags & os.O_EXCL:
                    raise errors.FileExists(detail="%s exists" % path)
                resolve.check_regular(existing, name)
                fd, info = resolve.open_regular(dir_fd, name, flags & ~(os.O_CREAT | os.O_EXCL))
                return fd, info.st_size, False
            if not create:
                raise errors.FileNotFound(detail="%s does not exist" % path)
            fd = os.open(name, (flags & ~os.O_TRUNC) | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, mode & 0o777, dir_fd=dir_fd)
            try:
                os.fchmod(fd, mode & 0o777)
                os.fchown(fd, self.uid, self.gid)
                return fd, 0, True
            except BaseException:
                resolve.close_fd(fd)
                raise

    @os_errors
    def replace(self, source, target):
        """Move ``source`` over ``target`` (POSIX rename: an existing file is replaced).
        Both ends are checked against the denylist; a symlink is moved, not followed.

        Returns:
            The size of the regular file replaced (0 if none), for the quota."""
        source_parts, target_parts = self.split(source), self.split(target)
        self._check_denied(source_parts)
        self._check_denied(target_parts)
        if not source_parts or not target_parts:
            raise errors.PathOutsideRoot(detail="cannot rename the server root")
        if source_parts == target_parts:
            return 0
        with self._parent(source_parts) as (source_dir, source_name):
            if _lstat(source_dir, source_name) is None:
                raise errors.FileNotFound(detail="%s does not exist" % source)
            with self._parent(target_parts, create=True) as (target_dir, target_name):
                replaced = _lstat(target_dir, target_name)
                try:
                    os.rename(source_name, target_name, src_dir_fd=source_dir,
                              dst_dir_fd=target_dir)
                except OSError as e:
                    if e.errno == errno.EINVAL:
                        raise errors.BadRequest(MOVE_INTO_ITSELF, detail=str(e)) from e
                    raise
        if replaced is not None and stat.S_ISREG(replaced.st_mode):
            self.quota.add(-replaced.st_size)
            return replaced.st_size
        return 0

    # -- whole tree ---------------------------------------------------------------------

    @os_errors
    def disk_usage(self):
        """The §4.3 walk of this root, in bytes."""
        with self.open_root() as root_fd:
            return tree.disk_usage_fd(root_fd)

    def regular_files(self, path):
        """``(relative path, parent_fd, name, lstat)`` of the regular files at or beneath
        ``path`` (``""`` when ``path`` is itself a file). Symlinks, devices and sockets are
        skipped; ``parent_fd`` is valid until the next item. Nothing if ``path`` is missing.
        """
        parts = self.split(path)
        if not parts:
            with self.open_root() as root_fd:
                yield from _regular_files_below(root_fd)
            return
        with self._parent_if_exists(parts) as dir_fd:
            info = _lstat(dir_fd, parts[-1]) if dir_fd is not None else None
            if info is None:
                return
            if stat.S_ISREG(info.st_mode):
                yield "", dir_fd, parts[-1], info
            elif stat.S_ISDIR(info.st_mode):
                child = tree.open_child(dir_fd, parts[-1])
                if child is not None:
                    try:
                        yield from _regular_files_below(child)
                    finally:
                        resolve.close_fd(child)


def parse_mode(value):
    """A chmod mode: an octal string (``"755"``, ``"0644"``) or an int, masked to 0777.

    Raises:
        BadRequest: ``Invalid file mode.`` (wings-api.md §5.11).
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
        return value & 0o777
    if isinstance(value, str) and value and all(char in "01234567" for char in value):
        number = int(value, 8)
        if number <= 0xFFFFFFFF:
            return number & 0o777
    raise errors.BadRequest(INVALID_MODE, detail="mode %r" % (value,))


def _copy_stream(stream, out, length):
    """Copy up to ``length`` bytes (all, if None) of ``stream`` into ``out``."""
    copied = 0
    while length is None or copied < length:
        want = CHUNK_BYTES if length is None else min(CHUNK_BYTES, length - copied)
        data = stream.read(want)
        if not data:
            return
        out.write(data)
        copied += len(data)


def _lstat(dir_fd, name):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _mime_of(path_fd, info):
    """The MIME type of an entry held by an ``O_PATH`` descriptor; only regular files are
    opened (and only through that descriptor, never by name again)."""
    kind = mime.without_content(info.st_mode)
    if kind is not None:
        return kind
    fd = resolve.reopen(path_fd, os.O_RDONLY | os.O_NONBLOCK)
    try:
        head = os.pread(fd, mime.SNIFF_BYTES, 0)
    finally:
        resolve.close_fd(fd)
    return mime.sniff(head, truncated=info.st_size > len(head))


def _open_copy_source(dir_fd, name):
    """Only regular files are copied; anything else counts as missing (wings-api.md §5.6)."""
    try:
        return resolve.open_regular(dir_fd, name)
    except (errors.IsADirectory, errors.NotARegularFile, errors.PathOutsideRoot) as e:
        raise errors.FileNotFound(detail=e.detail) from e


def _create_first_free(dir_fd, candidates):
    """``(name, fd)`` of a new file under the first of ``candidates`` that is free; taken
    atomically, so concurrent requests never get the same name."""
    for candidate in candidates:
        try:
            return candidate, os.open(candidate, NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise errors.FileExists(detail="no free name left, the last tried being %s" % candidate)


def _copy_data(source, target, size):
    """Copy ``size`` bytes in the kernel where it can, by chunks otherwise."""
    copied = 0
    try:
        while copied < size:
            moved = os.copy_file_range(source, target, min(size - copied, 1 << 30))
            if moved == 0:
                return copied
            copied += moved
        return copied
    except OSError:
        os.lseek(source, copied, os.SEEK_SET)
        os.lseek(target, copied, os.SEEK_SET)
    while copied < size:
        data = os.read(source, min(CHUNK_BYTES, size - copied))
        if not data:
            break
        write_all(target, data)
        copied += len(data)
    return copied


def _move(source_dir, source_name, target_dir, target_name):
    try:
        resolve.rename_noreplace(source_dir, source_name, target_dir, target_name)
    except FileExistsError as e:
        raise errors.DestinationExists(detail=str(e)) from e
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise errors.BadRequest(MOVE_INTO_ITSELF, detail=str(e)) from e
        raise


def _chmod_no_follow(dir_fd, name, mode):
    try:
        path_fd, info = resolve.open_path(dir_fd, name)
    except errors.FileNotFound:
        return
    try:
        if stat.S_ISLNK(info.st_mode):
            log.info("chmod: %s is a symlink, not followed", name)
            return
        # The inode the O_PATH descriptor holds, with no second lookup by name.
        os.chmod("/proc/self/fd/%d" % path_fd, mode)
    finally:
        resolve.close_fd(path_fd)


def _regular_files_below(dir_fd):
    for node in tree.walk(dir_fd):
        if not node.after and stat.S_ISREG(node.info.st_mode):
            yield node.path, node.parent_fd, node.name, node.info
