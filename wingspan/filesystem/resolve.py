"""Descriptors beneath a server root, and the system calls that act on them.

Path components are resolved relative to directory descriptors, never as strings, so no
symlink, ``..`` or concurrent rename can lead outside the root (CVE-2024-27102,
wings-api.md §6.2):

* with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`` (Linux ≥ 5.6) the kernel does
  the whole lookup atomically;
* otherwise each component is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to its
  parent's descriptor; a symlink met on the way is read and its target spliced into the
  components still to walk, ``..`` popping our own stack of descriptors.

Both give the same answer: a relative symlink whose target stays inside the root is
followed (at most ``MAX_SYMLINKS`` of them), an absolute symlink or anything climbing out is
refused. The final component of a path is never followed by the callers: they act on it
with ``*at`` calls and ``O_NOFOLLOW``.
"""

import contextlib
import ctypes
import errno
import functools
import logging
import os
import stat

from gevent import monkey

from wingspan import errors

log = logging.getLogger(__name__)

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 40  # the kernel's own limit for one lookup

_SYS_OPENAT2 = 437  # one number on every architecture: it postdates the syscall-table unification
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_RENAME_NOREPLACE = 0x1
_OPENAT2_RETRIES = 4  # openat2 answers EAGAIN when a rename raced the lookup
_ESCAPES = (errno.EXDEV, errno.ELOOP)

# gevent's patched os.close (25.8+) runs fcntl and fstat on every descriptor before closing
# it, for sockets a hub may be watching. The descriptors of a server's files are never
# watched, and a listing of 100 000 files closes 100 000 of them: three system calls each
# would be a seventh of its time.
close_fd = monkey.get_original("os", "close")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


@functools.cache
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _openat2(dir_fd, path, flags):
    how = _OpenHow(flags, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    fd = _libc().syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd),
                         ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how),
                         ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return fd


@functools.cache
def openat2_supported():
    """Whether this kernel (and its seccomp policy) lets us call ``openat2``; probed once."""
    try:
        probe_dir = os.open("/", DIR_FLAGS)
    except OSError:
        return False
    try:
        close_fd(_openat2(probe_dir, ".", DIR_FLAGS))
        return True
    except OSError as e:
        log.info("openat2 unavailable (%s): resolving paths one component at a time", e)
        return False
    finally:
        close_fd(probe_dir)


def use_openat2(mode):
    """Apply ``system.openat_mode``: ``openat`` never uses openat2, ``auto`` when the kernel
    has it; ``openat2`` on a kernel without it falls back too rather than failing every call."""
    if mode == "openat":
        return False
    supported = openat2_supported()
    if mode == "openat2" and not supported:
        _warn_forced_openat2()
    return supported


@functools.cache
def _warn_forced_openat2():
    log.warning("system.openat_mode is openat2 but the kernel refuses it; using openat")


@contextlib.contextmanager
def open_root(root):
    """A descriptor on the server root directory at host path ``root`` (never a symlink),
    closed on leaving; a root that cannot be opened is a typed error."""
    try:
        fd = os.open(root, DIR_FLAGS)
    except OSError as e:
        raise translate(e, "server root") from e
    try:
        yield fd
    finally:
        close_fd(fd)


def translate(error, path=""):
    """The client-facing error for an ``OSError`` met while acting inside the root."""
    detail = "%s: %s" % (path, error) if path else str(error)
    code = error.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return errors.FileNotFound(detail=detail)
    if code in _ESCAPES:
        return errors.PathOutsideRoot(detail=detail)
    if code == errno.EISDIR:
        return errors.IsADirectory(detail=detail)
    if code == errno.ENAMETOOLONG:
        return errors.NameTooLong(detail=detail)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return errors.NotEnoughDisk(detail=detail)
    if code == errno.EEXIST:
        return errors.FileExists(detail=detail)
    if code == errno.ENOTEMPTY:
        return errors.DirectoryBeingWritten(detail=detail)
    return errors.WingspanError(detail=detail)


def open_directory(root_fd, parts, follow_last=True, create=None, fast=True):
    """A new descriptor on the directory ``parts`` beneath ``root_fd``.

    Args:
        root_fd: descriptor of the server root.
        parts: components from :func:`paths.split_path` (no ``..``).
        follow_last: whether the last component may be an (in-root) symlink.
        create: ``(uid, gid)`` to create missing directories (0755, owned by them).
        fast: try ``openat2`` first.

    Raises:
        PathOutsideRoot, FileNotFound, NotADirectory (only when creating).
    """
    if fast and parts:
        fd = _open_directory_openat2(root_fd, parts, follow_last, create)
        if fd is not None:
            return fd
    return _walk(root_fd, parts, follow_last, create)


def _open_directory_openat2(root_fd, parts, follow_last, create):
    """The directory via one ``openat2``, or None when the component walk must decide
    (a directory to create, a race, or a final symlink to diagnose)."""
    flags = DIR_FLAGS if not follow_last else DIR_FLAGS & ~os.O_NOFOLLOW
    path = "/".join(parts)
    for _ in range(_OPENAT2_RETRIES):
        try:
            return _openat2(root_fd, path, flags)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                continue
            if e.errno in _ESCAPES:
                raise errors.PathOutsideRoot(detail="%s: %s" % (path, e)) from e
            if e.errno in (errno.ENOENT, errno.ENOTDIR) and (create or not follow_last):
                return None
            raise translate(e, path) from e
    return None


def _walk(root_fd, parts, follow_last, create):
    fds = [os.dup(root_fd)]
    pending = [(name, index == len(parts) - 1) for index, name in enumerate(parts)]
    pending.reverse()
    links = 0
    try:
        while pending:
            name, last = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                # Only a symlink target brings ``..`` here: user paths are cleaned first.
                if len(fds) == 1:
                    raise errors.PathOutsideRoot(detail="a symlink climbs out of the root")
                close_fd(fds.pop())
                continue
            fd = _open_component(fds[-1], name, create)
            if fd is not None:
                fds.append(fd)
                continue
            if last and not follow_last:
                raise errors.PathOutsideRoot(detail="%s is a symlink" % name)
            links += 1
            if links > MAX_SYMLINKS:
                raise errors.PathOutsideRoot(detail="too many levels of symbolic links")
            target = link_target(fds[-1], name)
            if target.startswith("/"):
                raise errors.PathOutsideRoot(detail="%s -> %s is absolute" % (name, target))
            pending.extend((part, False) for part in reversed(target.split("/")))
        return fds.pop()
    finally:
        for fd in fds:
            close_fd(fd)


def _open_component(dir_fd, name, create):
    """The descriptor of directory ``name``, or None when ``name`` is a symlink."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError as e:
        if create is None:
            raise errors.FileNotFound(detail="%s: %s" % (name, e)) from e
    except OSError as e:
        _require_symlink(dir_fd, name, e, create)
        return None
    make_directory(dir_fd, name, *create)
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        _require_symlink(dir_fd, name, e, create)
        return None


def _require_symlink(dir_fd, name, error, create):
    """After ``name`` failed to open as a directory: return if it is a symlink (for the
    caller to follow), raise the error that fits otherwise."""
    if error.errno not in (errno.ENOTDIR, errno.ELOOP):
        raise translate(error, name) from error
    if is_symlink(dir_fd, name):
        return
    if create is not None:
        raise errors.NotADirectory(detail="%s is not a directory" % name)
    raise errors.FileNotFound(detail="%s is not a directory" % name)


def make_directory(dir_fd, name, uid, gid):
    """``mkdir`` (0755, owned by ``uid:gid``); an existing entry is left for the caller to open."""
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:
        return
    except OSError as e:
        raise translate(e, name) from e
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


def is_symlink(dir_fd, name):
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError as e:
        raise translate(e, name) from e


def link_target(dir_fd, name):
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as e:
        raise translate(e, name) from e


def open_path(dir_fd, name):
    """An ``O_PATH`` descriptor on ``name`` itself (a symlink is not followed) and its stat.

    Nothing is opened in the device sense: a FIFO or a device node put in the root by the
    container is never opened by the daemon."""
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        raise translate(e, name) from e
    try:
        return fd, os.fstat(fd)
    except OSError as e:
        close_fd(fd)
        raise translate(e, name) from e


def reopen(path_fd, flags):
    """Open for real the very inode an ``O_PATH`` descriptor holds (no second lookup)."""
    return os.open("/proc/self/fd/%d" % path_fd, flags | os.O_CLOEXEC)


def open_regular(dir_fd, name, flags=os.O_RDONLY):
    """Open the regular file ``name`` (never a symlink, directory, FIFO or device).

    Returns:
        ``(fd, stat_result)``.

    Raises:
        PathOutsideRoot (a symlink), IsADirectory, NotARegularFile, FileNotFound.
    """
    path_fd, info = open_path(dir_fd, name)
    try:
        check_regular(info, name)
        return reopen(path_fd, flags), info
    except OSError as e:
        raise translate(e, name) from e
    finally:
        close_fd(path_fd)


def check_regular(info, name):
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        raise errors.PathOutsideRoot(detail="%s is a symlink" % name)
    if stat.S_ISDIR(mode):
        raise errors.IsADirectory(detail="%s is a directory" % name)
    raise errors.NotARegularFile(detail="%s is not a regular file" % name)


def rename_noreplace(src_dir_fd, src, dst_dir_fd, dst):
    """``renameat2(RENAME_NOREPLACE)``: refuse atomically when ``dst`` exists. Filesystems or
    C libraries without it get a check-then-rename."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is not None:
        result = renameat2(ctypes.c_int(src_dir_fd), ctypes.c_char_p(os.fsencode(src)),
                           ctypes.c_int(dst_dir_fd), ctypes.c_char_p(os.fsencode(dst)),
                           ctypes.c_uint(_RENAME_NOREPLACE))
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS) or _exists(dst_dir_fd, dst):
            raise OSError(code, os.strerror(code), dst)
    if _exists(dst_dir_fd, dst):
        raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


def _exists(dir_fd, name):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
