"""The one place that resolves user paths inside a server root.

Paths are walked one component at a time relative to directory file descriptors opened
with ``O_NOFOLLOW``, so no symlink, ``..`` or race can lead outside the root: there is no
string-prefix test and no window between checking a path and opening it.
"""

import errno
import os
import stat

from wingspan import errors

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split_path(path):
    """The components of a user path relative to the root; ``..`` may not climb out."""
    if "\x00" in path:
        raise errors.PathOutsideRoot(detail="NUL byte in path")
    parts = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise errors.PathOutsideRoot(detail="%r climbs out of the root" % path)
            parts.pop()
            continue
        parts.append(part)
    return parts


class Jail:
    """File access confined to one server root.

    Args:
        root: the server's data directory.
        uid, gid: owner of files the daemon creates.
        denylist: the egg's denied path patterns (checked by writers).
    """

    def __init__(self, root, uid, gid, denylist=()):
        self.root = root
        self.uid = uid
        self.gid = gid
        self.denylist = list(denylist)

    def _open_dir(self, parts, create=False):
        fd = os.open(self.root, DIR_FLAGS)
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                        os.chown(part, self.uid, self.gid, dir_fd=fd, follow_symlinks=False)
                    except FileExistsError:
                        pass
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = next_fd
        except OSError as e:
            os.close(fd)
            raise _translate(e) from e
        return fd

    def _parent(self, path, create=False):
        parts = split_path(path)
        if not parts:
            raise errors.IsADirectory(detail="the server root itself")
        return self._open_dir(parts[:-1], create=create), parts[-1]

    def read_bytes(self, path, max_bytes):
        """A file's bytes, or None when it does not exist."""
        try:
            dir_fd, name = self._parent(path)
        except errors.FileNotFound:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _translate(e) from e
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not _is_regular(info):
                raise errors.NotARegularFile(detail=path)
            if info.st_size > max_bytes:
                raise errors.FileTooLarge(detail="%s is %d bytes" % (path, info.st_size))
            return f.read(max_bytes + 1)

    def write_bytes(self, path, data):
        """Replace (or create) a file, creating missing parent directories."""
        dir_fd, name = self._parent(path, create=True)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
        except OSError as e:
            raise _translate(e) from e
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "wb") as f:
            if not _is_regular(os.fstat(f.fileno())):
                raise errors.NotARegularFile(detail=path)
            f.write(data)
            os.fchown(f.fileno(), self.uid, self.gid)


def _is_regular(info):
    return stat.S_ISREG(info.st_mode)


def _translate(error):
    if error.errno == errno.ENOENT:
        return errors.FileNotFound(detail=str(error))
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return errors.PathOutsideRoot(detail="symlink or non-directory in path: %s" % error)
    if error.errno == errno.EISDIR:
        return errors.IsADirectory(detail=str(error))
    if error.errno == errno.ENAMETOOLONG:
        return errors.NameTooLong(detail=str(error))
    if error.errno == errno.ENOSPC:
        return errors.NotEnoughDisk(detail=str(error))
    return errors.WingspanError(detail=str(error))


def disk_usage(root):
    """Apparent size of every regular file under ``root``; symlinks are not followed and
    count nothing, hard links count each time (wings-behaviour.md §4.3)."""
    total = 0
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    return total


def lchown_tree(root, uid, gid):
    """Give the whole tree to ``uid:gid`` without following symlinks."""
    os.lchown(root, uid, gid)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            try:
                os.lchown(os.path.join(directory, name), uid, gid)
            except FileNotFoundError:
                continue
