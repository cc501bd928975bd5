"""Whole-tree work under a directory descriptor: walk, remove, chown and disk usage.

Every directory is entered with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's
descriptor, so a symlink is never followed and a directory swapped for a symlink while
we walk is treated as the link it has become. Only the descriptors of the current branch
are open (two per level: ours and the one ``scandir`` duplicates), never one per sibling.
"""

import collections
import errno
import logging
import os
import stat

from wingspan.filesystem._sizes import scan_directory
from wingspan.filesystem.resolve import DIR_FLAGS, close_fd

log = logging.getLogger(__name__)

# How often a directory written into while it is removed is emptied again before the
# removal gives up (ENOTEMPTY).
RMDIR_RETRIES = 3

Node = collections.namedtuple("Node", "parent_fd name path info after")
Node.__doc__ = """One entry met by :func:`walk`.

``parent_fd`` is valid only until the walk goes on; ``path`` is relative to the walked
directory; ``info`` is the entry's lstat; ``after`` is true for the second visit of a
directory, once everything in it has been visited."""


def walk(top_fd, descend=None):
    """Every entry beneath ``top_fd``, depth first: each entry once in pre-order, and each
    directory a second time (``after=True``) once its content has been visited.

    ``descend(node)``, when given, decides whether a directory's content is visited; a
    directory it refuses is not visited a second time either."""
    top = os.dup(top_fd)
    stack = [(top, _scandir(top), "", None)]
    try:
        while stack:
            fd, entries, prefix, post = stack[-1]
            entry = next(entries, None)
            if entry is None:
                entries.close()
                close_fd(fd)
                stack.pop()
                if post is not None:
                    yield post
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            node = Node(fd, entry.name, prefix + entry.name, info, False)
            yield node
            if stat.S_ISDIR(info.st_mode) and (descend is None or descend(node)):
                child = open_child(fd, entry.name)
                post = node._replace(after=True)
                if child is None:
                    yield post
                else:
                    stack.append((child, _scandir(child), node.path + "/", post))
    finally:
        for fd, entries, _, _ in stack:
            entries.close()
            close_fd(fd)


def _scandir(fd):
    try:
        return os.scandir(fd)
    except OSError as e:
        log.warning("cannot list a directory while walking: %s", e)
        return _NoEntries()


class _NoEntries:
    """Stands for a directory that could not be listed."""

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration

    def close(self):
        """Nothing to release."""


def open_child(dir_fd, name):
    """A descriptor on the subdirectory ``name``, or None if it vanished or is no longer a
    directory (a symlink swapped in is not followed)."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def remove(dir_fd, name):
    """``rm -rf name`` relative to ``dir_fd``; a symlink is removed, never followed.

    Returns:
        The bytes of regular files removed (what the quota gives back), 0 if nothing was there.
    """
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(info.st_mode):
        return _unlink(dir_fd, name, info)
    freed = _empty_child(dir_fd, name)
    if freed is None:
        return remove(dir_fd, name)
    return freed + _rmdir(dir_fd, name)


def _empty_child(dir_fd, name):
    """Empty the subdirectory ``name``; returns the bytes of regular files removed, or None
    when it is gone or no longer a directory."""
    child = open_child(dir_fd, name)
    if child is None:
        return None
    try:
        return remove_contents(child)
    finally:
        close_fd(child)


def remove_contents(dir_fd):
    """Empty the directory ``dir_fd`` (it stays). Returns the bytes of regular files removed."""
    freed = 0
    for node in walk(dir_fd):
        if node.after:
            freed += _rmdir(node.parent_fd, node.name)
        elif not stat.S_ISDIR(node.info.st_mode):
            freed += _unlink(node.parent_fd, node.name, node.info)
    return freed


def _unlink(dir_fd, name, info):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _rmdir(dir_fd, name):
    """Remove the emptied directory ``name``. Returns the bytes of regular files written
    into it meanwhile, which had to be removed too.

    Raises:
        OSError: ENOTEMPTY when something keeps writing into it.
    """
    freed = 0
    for _ in range(RMDIR_RETRIES):
        try:
            _rmdir_once(dir_fd, name)
            return freed
        except OSError as e:
            if e.errno != errno.ENOTEMPTY:
                raise
        # Written into while we emptied it (by the game, by another request): again.
        freed += _empty_child(dir_fd, name) or 0
    _rmdir_once(dir_fd, name)
    return freed


def _rmdir_once(dir_fd, name):
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        # Swapped for a symlink or a file while we emptied it: remove what is there now.
        os.unlink(name, dir_fd=dir_fd)


def chown_tree(top_fd, uid, gid):
    """``lchown`` the directory and everything beneath it; entries already owned by
    ``uid:gid`` are not touched (their ctime stays, and a big tree costs only the walk).
    Returns how many entries beneath it changed; an entry that cannot be given away or a
    directory that cannot be read raises OSError."""
    os.fchown(top_fd, uid, gid)
    return _scan_tree(top_fd, lambda fd: scan_directory(fd, (uid, gid)), open_child)[1]


def disk_usage_fd(top_fd):
    """Sum of the lstat sizes of the regular files beneath ``top_fd`` (wings-behaviour.md
    §4.3: symlinks and directories count nothing, hard links count each time); what
    cannot be read is skipped with a warning."""
    return _scan_tree(top_fd, _scan_quietly, open_child_quietly)[0]


def _scan_tree(top_fd, scan, enter):
    """``(bytes, changed)`` summed over ``scan(fd)`` of every directory beneath ``top_fd``
    (:func:`scan_directory`'s answer), entered with ``enter(parent_fd, name)``.

    A tight loop rather than :func:`walk`: the disk walk runs on every server every
    ``disk_check_interval`` and the ownership fix before every start, over trees of
    hundreds of thousands of files, so each directory's entries are handled in C without
    the GIL (``_sizes.c``). Each stack level holds one descriptor and the names of the
    subdirectories still to visit."""
    total = changed = 0
    stack = [(os.dup(top_fd), None)]
    try:
        while stack:
            fd, subdirs = stack[-1]
            if subdirs is None:
                size, subdirs, count = scan(fd)
                total += size
                changed += count
                stack[-1] = (fd, subdirs)
            if subdirs:
                child = enter(fd, subdirs.pop())
                if child is not None:
                    stack.append((child, None))
                continue
            close_fd(stack.pop()[0])
    finally:
        for fd, _ in stack:
            close_fd(fd)
    return total, changed


def _scan_quietly(fd):
    try:
        return scan_directory(fd)
    except OSError as e:
        log.warning("disk usage: skipping an unreadable directory: %s", e)
        return 0, [], 0


def open_child_quietly(dir_fd, name):
    try:
        return open_child(dir_fd, name)
    except OSError as e:
        log.warning("disk usage: skipping %s: %s", name, e)
        return None
