"""RAR extraction for ``wingspan.filesystem.archives``, which imports this module only when
a RAR archive comes (as ``sevenzip``: rarfile is not loaded by every process at start)."""

import os

import rarfile

from wingspan import errors
from wingspan.filesystem.archives import NO_RAR_TOOL, local_timestamp

# What rarfile raises for a damaged or unreadable archive (the client's 400).
DAMAGED = (rarfile.Error,)


def extract(extraction, archive):
    """RAR headers and stored entries are read by ``rarfile`` itself; compressed entries
    need an external unrar-capable program, checked for before anything is written."""
    # The external program reads the very inode we opened, by its descriptor, not by name
    # (given a file object instead, rarfile would copy the archive to /tmp first).
    # errors="strict": by default rarfile stops quietly at a damaged header, and a damaged
    # archive would extract as an empty one.
    with rarfile.RarFile("/proc/%d/fd/%d" % (os.getpid(), archive.fileno()),
                         errors="strict") as bundle:
        members = bundle.infolist()
        files = [m for m in members if m.is_file() and extraction.wanted(m.filename)]
        if any(m.compress_type != rarfile.RAR_M0 for m in files):
            require_tool()
        extraction.prepare(m.file_size for m in files)
        for member in members:
            if member.is_dir():
                extraction.directory(member.filename)
            elif member.is_file():
                with bundle.open(member) as source:
                    extraction.file(member.filename, source, member.file_size,
                                    (member.mode or 0) & 0o777 or None, _mtime(member))
            else:
                extraction.skip(member.filename, "symlink or special file")


def require_tool():
    try:
        rarfile.tool_setup()
    except rarfile.RarCannotExec as e:
        raise errors.UnknownArchiveFormat(NO_RAR_TOOL, detail=str(e)) from e


def _mtime(member):
    if member.mtime is not None:
        return int(member.mtime.timestamp())
    return local_timestamp(member.date_time)
