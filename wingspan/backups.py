"""Where a server's local backups live (wings-api.md §7.5, §8; wings-behaviour.md §10.1).

A backup is ``<system.backup_directory>/<server uuid>/<backup uuid>.tar.gz`` (Pelican's
per-server directories, so deleting one server's backups never touches another's). A
backup made by Wings at the flat ``<system.backup_directory>/<backup uuid>.tar.gz`` is
still found for restore, download and delete. Backup uuids are validated before they are
joined into a path, and a backup is only ever a regular file reached without following a
symlink.
"""

import errno
import logging
import os
import re
import shutil
import stat

from wingspan import errors
from wingspan.filesystem.streams import ReadStream

log = logging.getLogger(__name__)

# matched whole (``fullmatch``): ``$`` would let a trailing newline through
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SUFFIX = ".tar.gz"
# An archive being written: renamed to its final name only once it is complete.
UNFINISHED = re.compile(r"^\..*\.tmp$")
ADAPTERS = ("wings", "s3")
UNKNOWN_ADAPTER = "The backup adapter provided is not valid."


def check_uuid(backup_uuid):
    """Raise BadRequest unless ``backup_uuid`` is a UUID (it is joined into paths)."""
    if not isinstance(backup_uuid, str) or not UUID.fullmatch(backup_uuid):
        raise errors.BadRequest("The backup uuid provided is not valid.",
                                detail="backup uuid %r" % (backup_uuid,))
    return backup_uuid


def check_adapter(adapter):
    if adapter not in ADAPTERS:
        raise errors.BadRequest(UNKNOWN_ADAPTER, detail="adapter %r" % (adapter,))
    return adapter


def server_directory(cfg, server_uuid):
    return os.path.join(cfg.system.backup_directory, server_uuid)


def archive_path(cfg, server_uuid, backup_uuid):
    """Where a new local backup of the server is written."""
    return os.path.join(server_directory(cfg, server_uuid), check_uuid(backup_uuid) + SUFFIX)


def candidates(cfg, server_uuid, backup_uuid):
    """The places a local backup may be: the server's directory, then Wings' flat one.

    Raises:
        BackupNotFound: ``backup_uuid`` is not a UUID, so it names no backup.
    """
    if not isinstance(backup_uuid, str) or not UUID.fullmatch(backup_uuid):
        raise errors.BackupNotFound(detail="%r is not a backup uuid" % (backup_uuid,))
    name = backup_uuid + SUFFIX
    return [os.path.join(server_directory(cfg, server_uuid), name),
            os.path.join(cfg.system.backup_directory, name)]


def open_backup(cfg, server_uuid, backup_uuid):
    """A ReadStream on the server's local backup ``backup_uuid``.

    Raises:
        BackupNotFound: no such backup (a directory or a symlink counts as none).
    """
    for path in candidates(cfg, server_uuid, backup_uuid):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue
            raise errors.BackupNotFound(detail="%s: %s" % (path, e)) from e
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            return ReadStream(fd, os.path.basename(path), info)
        os.close(fd)
    raise errors.BackupNotFound(detail="no backup %s of server %s" % (backup_uuid, server_uuid))


def delete_backup(cfg, server_uuid, backup_uuid):
    """Remove the server's local backup (wings-api.md §8.3).

    Raises:
        BackupNotFound: there is none (or it is not a regular file).
    """
    for path in candidates(cfg, server_uuid, backup_uuid):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # removed meanwhile: what was asked for is done
        return
    raise errors.BackupNotFound(detail="no backup %s of server %s" % (backup_uuid, server_uuid))


def delete_all(cfg, server_uuid):
    """Remove the server's backup directory (Pelican's ``deleteAllBackups`` and server
    deletion); backups at Wings' flat path have no owner recorded and are left alone."""
    directory = server_directory(cfg, server_uuid)
    if os.path.realpath(directory) == os.path.realpath(cfg.system.backup_directory):
        raise errors.BadRequest(detail="refusing to remove the backup directory itself")
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        return


def remove_unfinished(cfg, server_uuid):
    """Remove archives left half-written by a worker that died (server deleted, killed)."""
    directory = server_directory(cfg, server_uuid)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if UNFINISHED.match(name):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError as e:
                log.warning("could not remove the unfinished backup %s: %s", name, e)
