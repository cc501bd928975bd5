"""The SFTP operations of one session, each through the server's jail
(wings-behaviour.md §12.3, hardened per peers.md).

Permissions come from the Panel's answer at login (``*`` grants all) and every check fails
while the server is suspended; ``system.sftp.read_only`` refuses every change. Paths are
server paths: ``/`` is the server root, and the jail resolves everything beneath it. The
egg denylist applies (pelican), symlinks never lead out of the root, and the disk quota is
checked on every write against live usage (advisory #18), not once at open.

Short operations on a file (a read or write of a packet, a stat) run on the loop: they cost
less than a hop to a thread. Ones that can take long (a recursive delete) run in a thread.
"""

import asyncio
import functools
import inspect
import logging
import os
import posixpath
import stat

import asyncssh
from asyncssh.packet import String, UInt32

from wingspan import activity, errors
from wingspan.filesystem import Jail
from wingspan.filesystem.paths import server_path
from wingspan.filesystem.resolve import translate
from wingspan.roots import server_root

log = logging.getLogger(__name__)

READ = "file.read"
READ_CONTENT = "file.read-content"
CREATE = "file.create"
UPDATE = "file.update"
DELETE = "file.delete"

FX_QUOTA_EXCEEDED = 15
VFS_BLOCK = 4096
DIRECTORY_MODE = 0o755
DEFAULT_FILE_MODE = 0o644
WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC


class QuotaExceeded(asyncssh.SFTPError):
    """Status 15 "Quota Exceeded", as Wings sends it whatever the protocol version (asyncssh
    would turn a code past version 3's last into a plain failure)."""

    def __init__(self):
        super().__init__(FX_QUOTA_EXCEEDED, "Quota Exceeded")

    def encode(self, version):
        return UInt32(self.code) + String(self.reason) + String(self.lang)


def sftp_error(error):
    """The SFTP status for a ``wingspan.errors`` failure of the jail."""
    if isinstance(error, errors.NotEnoughDisk):
        return QuotaExceeded()
    if isinstance(error, (errors.FileNotFound, errors.PathOutsideRoot)):
        return asyncssh.SFTPNoSuchFile("No such file")
    if isinstance(error, errors.Denylisted):
        return asyncssh.SFTPPermissionDenied("This file cannot be modified: present in "
                                             "egg denylist.")
    if isinstance(error, (errors.FileExists, errors.DestinationExists)):
        return asyncssh.SFTPFileAlreadyExists("File already exists")
    if isinstance(error, errors.IsADirectory):
        return asyncssh.SFTPFileIsADirectory("Is a directory")
    if isinstance(error, errors.NameTooLong):
        return asyncssh.SFTPInvalidFilename("File name too long")
    return asyncssh.SFTPFailure("Failure")


def translated(method):
    """Turn the jail's errors (and stray OS errors) into SFTP statuses; a bug is logged
    once as an error for this request and answered as a failure, never a dead session.
    Coroutine methods stay coroutines, plain ones stay plain (asyncssh does not await
    ``scandir``)."""
    if inspect.iscoroutinefunction(method):
        async def wrapper(self, *args):
            try:
                return await method(self, *args)
            except Exception as e:
                raise _status_of(method, e) from e
    else:
        def wrapper(self, *args):
            try:
                return method(self, *args)
            except Exception as e:
                raise _status_of(method, e) from e
    return functools.wraps(method)(wrapper)


def _status_of(method, error):
    if isinstance(error, asyncssh.SFTPError):
        return error
    if isinstance(error, errors.WingspanError):
        return sftp_error(error)
    if isinstance(error, OSError):
        return sftp_error(translate(error))
    log.error("SFTP %s failed: %r", method.__name__, error)
    return asyncssh.SFTPFailure("Failure")


class OpenFile:
    """A file handle of the session: its descriptor, what it was opened as and the size
    the quota knows of."""

    __slots__ = ("fd", "path", "writable", "size", "created", "append")

    def __init__(self, fd, path, writable, size, created, append=False):
        self.fd = fd
        self.path = path
        self.writable = writable
        self.size = size
        self.created = created
        self.append = append  # every write lands at the end, whatever its offset


class DirectoryHandle:
    """An open directory handed out by ``readdir`` in batches, each read (names and lstat)
    in a thread: a directory of 100 000 files neither stalls the other sessions nor sits
    in memory whole. Closes the directory and gives its slot in the handle limits back
    when the session drops it."""

    BATCH = 128

    def __init__(self, listing, release):
        self._listing = listing
        self._release = release
        self._scan = None
        self._batch = []
        self._done = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self._batch:
            if not self._done:
                self._batch = await asyncio.get_running_loop().run_in_executor(
                    None, self._read_batch)
            if not self._batch:
                self._done = True
                raise StopAsyncIteration
        return self._batch.pop()

    def _read_batch(self):
        """The next entries as ``SFTPName``s (symlinks not followed), last first."""
        dir_fd = self._listing.dir_fd
        if self._scan is None:
            self._scan = os.scandir(dir_fd)
        names = []
        for entry in self._scan:
            try:
                info = os.stat(entry.name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            names.append(asyncssh.SFTPName(os.fsencode(entry.name),
                                           attrs=asyncssh.SFTPAttrs.from_local(info)))
            if len(names) == self.BATCH:
                break
        names.reverse()
        return names

    def __del__(self):
        if self._scan is not None:
            self._scan.close()
        self._listing.close()
        release, self._release = self._release, None
        if release is not None:
            release()


class ServerSession(asyncssh.SFTPServer):
    """One SFTP session (one ``sftp`` subsystem channel) of a login."""

    def __init__(self, chan, node, login):
        super().__init__(chan)
        self.node = node
        self.login = login
        self.server = login.server
        self.handles = 0
        self._jail = None

    @property
    def jail(self):
        """The server's jail, built again when its definition changes (a new denylist)."""
        definition = self.server.definition
        if self._jail is None or self._jail[0] is not definition:
            cfg = self.node.cfg
            user = cfg.system.user
            self._jail = definition, Jail(
                server_root(cfg, self.server.uuid), user.uid, user.gid,
                definition.file_denylist, quota=self.server.quota,
                openat_mode=cfg.system.openat_mode)
        return self._jail[1]

    # -- rules --------------------------------------------------------------------------

    def require(self, permission):
        """Raise permission denied unless the login has ``permission`` and the server is
        not suspended (wings-behaviour.md §12.3)."""
        if self.server.suspended:
            raise asyncssh.SFTPPermissionDenied("The server is suspended")
        granted = self.login.permissions
        if "*" not in granted and permission not in granted:
            raise asyncssh.SFTPPermissionDenied("Permission denied")

    def require_writable(self):
        if self.node.cfg.system.sftp.read_only:
            raise asyncssh.SFTPOpUnsupported("operation unsupported")

    def record(self, event, files):
        """An activity event of this login (wings-behaviour.md §13.1); the supervisor's
        uploader merges them per user, server, IP, event and minute (§13.3)."""
        self.node.activity.send(self.server.uuid, event, {"files": files},
                                user=self.login.user, ip=self.login.ip)

    def _take_handle(self):
        limits = self.node.cfg.wingspan.sftp
        if self.handles >= limits.handles_per_session:
            raise asyncssh.SFTPFailure("Too many open handles in this session")
        if self.server.handles >= limits.handles_per_server:
            raise asyncssh.SFTPFailure("Too many open handles on this server")
        self.handles += 1
        self.server.handles += 1

    def _release_handle(self):
        self.handles -= 1
        self.server.handles -= 1

    @staticmethod
    def path(raw):
        """A client path (bytes) as a server path string; ``..`` above the root is the
        root, as in any chroot."""
        text = os.fsdecode(raw)
        if "\x00" in text:
            raise asyncssh.SFTPNoSuchFile("No such file")
        parts = []
        for part in text.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return server_path(parts)

    # -- paths --------------------------------------------------------------------------

    def realpath(self, path):
        return os.fsencode(self.path(path))

    def map_path(self, path):
        return path

    def reverse_map_path(self, path):
        return path

    # -- reading ------------------------------------------------------------------------

    @translated
    def stat(self, path):
        self.require(READ)
        return self.jail.lstat(self.jail.follow(self.path(path)))

    @translated
    def lstat(self, path):
        self.require(READ)
        return self.jail.lstat(self.path(path))

    @translated
    def readlink(self, path):
        self.require(READ)
        return os.fsencode(self.jail.readlink(self.path(path)))

    @translated
    def scandir(self, path):
        self.require(READ)
        directory = self.jail.follow(self.path(path))
        self._take_handle()
        try:
            listing = self.jail.open_listing(directory, scan=False)
        except BaseException:
            self._release_handle()
            raise
        return DirectoryHandle(listing, self._release_handle)

    @translated
    async def open(self, path, pflags, attrs):
        writing = bool(pflags & WRITE_FLAGS)
        target = self.path(path)
        if not writing:
            self.require(READ_CONTENT)
            return self._open(self.jail.follow(target), os.O_RDONLY, pflags, attrs)
        self.require_writable()
        return await self._open_for_write(target, pflags, attrs)

    async def _open_for_write(self, target, pflags, attrs):
        try:
            target = self.jail.follow(target)
            existing = self.jail.lstat(target)
        except errors.FileNotFound:
            existing = None
        if existing is None and not pflags & asyncssh.FXF_CREAT:
            raise asyncssh.SFTPNoSuchFile("No such file")
        self.require(UPDATE if existing is not None else CREATE)
        if pflags & asyncssh.FXF_READ:
            self.require(READ_CONTENT)
        self.jail.check_denylist(target)
        quota = await self.node.registry.fresh_quota(self.server)
        if not quota.has_space():
            raise QuotaExceeded()
        flags = os.O_RDWR if pflags & asyncssh.FXF_READ else os.O_WRONLY
        if pflags & asyncssh.FXF_CREAT:
            flags |= os.O_CREAT
        if pflags & asyncssh.FXF_EXCL:
            flags |= os.O_EXCL
        if pflags & asyncssh.FXF_TRUNC:
            flags |= os.O_TRUNC
        if pflags & asyncssh.FXF_APPEND:
            flags |= os.O_APPEND
        opened = self._open(target, flags, pflags, attrs)
        self.record(activity.SFTP_CREATE if opened.created else activity.SFTP_WRITE, [target])
        return opened

    def _open(self, target, flags, pflags, attrs):
        self._take_handle()
        try:
            mode = _permissions(attrs, DEFAULT_FILE_MODE)
            fd, old_size, created = self.jail.open_file(target, flags, mode)
        except BaseException:
            self._release_handle()
            raise
        writable = flags & (os.O_WRONLY | os.O_RDWR) != 0
        size = 0 if flags & os.O_TRUNC else old_size
        if writable and old_size != size:
            self.server.quota.add(size - old_size)
        return OpenFile(fd, target, writable, size, created, bool(flags & os.O_APPEND))

    @translated
    def read(self, file, offset, size):
        return os.pread(file.fd, size, offset)

    @translated
    def fstat(self, file):
        return os.fstat(file.fd)

    # -- writing ------------------------------------------------------------------------

    @translated
    def write(self, file, offset, data):
        """Checked against the quota before every write (advisory #18)."""
        if not file.writable:
            raise asyncssh.SFTPPermissionDenied("The file is not open for writing")
        if file.append:
            offset = file.size
        end = offset + len(data)
        growth = max(0, end - file.size)
        quota = self.server.quota
        if growth and not quota.can_fit(growth):
            raise QuotaExceeded()
        written = os.pwrite(file.fd, data, offset)
        if offset + written > file.size:
            quota.add(offset + written - file.size)
            file.size = offset + written
        return written

    @translated
    async def close(self, file):
        try:
            os.close(file.fd)
        finally:
            self._release_handle()
        if file.writable:
            await self.node.registry.report_usage(self.server)

    @translated
    def fsync(self, file):
        os.fsync(file.fd)

    @translated
    def setstat(self, path, attrs):
        return self._setstat(self.jail.follow(self.path(path)), attrs)

    @translated
    def lsetstat(self, path, attrs):
        return self._setstat(self.path(path), attrs)

    @translated
    def fsetstat(self, file, attrs):
        self.require(UPDATE)
        self.require_writable()
        if attrs.size is not None:
            self._truncate(file, attrs.size)
        if attrs.permissions is not None:
            os.fchmod(file.fd, _file_mode(attrs.permissions, is_directory=False))

    def _setstat(self, target, attrs):
        """chmod (0 becomes 0644, directories 0755) and truncate; owner and times are
        ignored, as in Wings. A symlink's mode is never changed through it."""
        self.require(UPDATE)
        self.require_writable()
        info = self.jail.lstat(target)
        if attrs.size is not None and attrs.size != info.st_size:
            fd, _, _ = self.jail.open_file(target, os.O_WRONLY)
            try:
                self._truncate(OpenFile(fd, target, True, info.st_size, False), attrs.size)
            finally:
                os.close(fd)
        if attrs.permissions is not None and not stat.S_ISLNK(info.st_mode):
            mode = _file_mode(attrs.permissions, stat.S_ISDIR(info.st_mode))
            self.jail.chmod("/", [{"file": target, "mode": mode}])

    def _truncate(self, file, size):
        growth = size - file.size
        if growth > 0 and not self.server.quota.can_fit(growth):
            raise QuotaExceeded()
        os.ftruncate(file.fd, size)
        self.server.quota.add(growth)
        file.size = size

    @translated
    def mkdir(self, path, attrs):
        self.require(CREATE)
        self.require_writable()
        target = self.path(path)
        self.jail.check_denylist(target)
        if _exists(self.jail, target):
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        self.jail.mkdir("", target)
        self.record(activity.SFTP_CREATE_DIRECTORY, [target])

    @translated
    async def remove(self, path):
        await self._delete(self.path(path))

    @translated
    async def rmdir(self, path):
        await self._delete(self.path(path))

    async def _delete(self, target):
        """Recursive, as in Wings; the quota is given back what was removed."""
        self.require(DELETE)
        self.require_writable()
        self.jail.check_denylist(target)
        if target == "/":
            raise asyncssh.SFTPPermissionDenied("Cannot delete the server root")
        self.jail.lstat(target)
        await asyncio.get_running_loop().run_in_executor(
            None, self.jail.delete, "/", [target])
        self.record(activity.SFTP_DELETE, [target])
        await self.node.registry.report_usage(self.server)

    @translated
    def rename(self, oldpath, newpath):
        """Refused when the target exists (wings-behaviour.md §12.3)."""
        self.require(UPDATE)
        self.require_writable()
        source, target = self.path(oldpath), self.path(newpath)
        self.jail.lstat(source)
        if _exists(self.jail, target):
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        self.jail.rename("/", source, target)
        self.record(activity.SFTP_RENAME, [{"from": source, "to": target}])

    @translated
    async def posix_rename(self, oldpath, newpath):
        """``posix-rename@openssh.com``: an existing target is replaced."""
        self.require(UPDATE)
        self.require_writable()
        source, target = self.path(oldpath), self.path(newpath)
        self.jail.replace(source, target)
        self.record(activity.SFTP_RENAME, [{"from": source, "to": target}])
        await self.node.registry.report_usage(self.server)

    @translated
    def symlink(self, oldpath, newpath):
        """``oldpath`` is the target; the link is stored relative, inside the root."""
        self.require(CREATE)
        self.require_writable()
        link, target = self.path(newpath), self.path(oldpath)
        if _exists(self.jail, link):
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        self.jail.symlink(link, posixpath.relpath(target, posixpath.dirname(link)))

    @translated
    async def statvfs(self, path):
        """``statvfs@openssh.com`` answered from the server's disk limit and usage, not the
        host disk (which is every server's); a server without a limit sees the host's."""
        self.require(READ)
        self.jail.lstat(self.jail.follow(self.path(path)))
        return await self._filesystem()

    @translated
    async def fstatvfs(self, file):
        return await self._filesystem()

    async def _filesystem(self):
        host = os.statvfs(self.jail.root)
        flags = os.ST_RDONLY if self.node.cfg.system.sftp.read_only else 0
        quota = await self.node.registry.fresh_quota(self.server)
        if quota.limit <= 0:
            attrs = asyncssh.SFTPVFSAttrs.from_local(host)
            attrs.flags |= flags
            return attrs
        blocks = quota.limit // VFS_BLOCK
        free = max(0, quota.limit - quota.usage) // VFS_BLOCK
        return asyncssh.SFTPVFSAttrs(VFS_BLOCK, VFS_BLOCK, blocks, free, free, host.f_files,
                                     host.f_ffree, host.f_favail, 0, flags, host.f_namemax)

    @translated
    def link(self, oldpath, newpath):
        raise asyncssh.SFTPOpUnsupported("Hard links are not supported")


def _exists(jail, target):
    try:
        jail.lstat(target)
    except errors.FileNotFound:
        return False
    return True


def _permissions(attrs, default):
    if attrs is None or attrs.permissions is None:
        return default
    return attrs.permissions & 0o777 or default


def _file_mode(permissions, is_directory):
    if is_directory:
        return DIRECTORY_MODE
    return permissions & 0o777 or DEFAULT_FILE_MODE

