"""A server's files, reached only through a jail on its root.

Modules: ``paths`` (lexical cleaning of user paths), ``resolve`` (descriptors beneath the
root, openat2 or a component walk), ``jail`` (every file operation of the files API),
``streams`` (reading and writing one file), ``tree`` (walks, removal, chown, disk
usage), ``quota`` (limit, usage counter, cached walks), ``denylist`` (egg patterns),
``statinfo`` and ``mime`` (the Stat object), ``naming`` (copy and archive names) and
``archives`` (compress and decompress).

The names below are the package's public face for the rest of wingspan.
"""

import gevent

from wingspan.filesystem.jail import Jail, parse_mode
from wingspan.filesystem.quota import DiskUsage, Quota, disk_usage
from wingspan.filesystem.streams import ReadStream, WriteStream


def in_thread(func, *args):
    """``func(*args)`` in gevent's native threadpool: disk work (a huge listing, an archive,
    a tree walk) must not stall the hub of the process that asked for it.

    What ``func`` raises is raised here; it is carried back as a value because the
    threadpool would also print a traceback for every expected error (a missing file)."""
    failed, outcome = gevent.get_hub().threadpool.apply(_outcome_of, (func, args))
    if failed:
        raise outcome
    return outcome


def _outcome_of(func, args):
    try:
        return False, func(*args)
    except Exception as e:  # re-raised unchanged by in_thread, in the caller's greenlet
        return True, e


def lchown_tree(root, uid, gid):
    """Give the tree at ``root`` to ``uid:gid`` without following symlinks."""
    return Jail(root, uid, gid).chown_tree()


__all__ = ["DiskUsage", "Jail", "Quota", "ReadStream", "WriteStream", "disk_usage",
           "in_thread", "lchown_tree", "parse_mode"]
