"""Archives of server files: compress entries to a tar.gz and extract archives, every byte
through the server's :class:`~wingspan.filesystem.jail.Jail` (wings-api.md §5.9, §5.10,
wings-behaviour.md §9.8, §9.9); and the whole-root tar.gz of backups and transfers,
streamed into any sink and extracted from any stream (§10, §11) by the same rules.

Extraction never trusts the archive: each entry name is cleaned and resolved beneath the
root like a user path (an entry climbing out of the root aborts the extraction; ``..``
that stays inside is allowed, as in Wings), denylisted entries are silently skipped,
symlink, device and FIFO entries are skipped (a hard link becomes a copy of the file it
names, looked up inside the root), and every file is written through the jail's quota
check, chunk by chunk, so a decompression bomb stops at the limit and leaves no partial
file. Formats are recognised by content, not by name.
"""

import bz2
import contextlib
import errno
import gzip
import importlib
import logging
import lzma
import os
import posixpath
import stat
import tarfile
import time
import zipfile
import zlib

import pathspec

from wingspan import errors
from wingspan.filesystem import resolve, tree
from wingspan.filesystem.naming import archive_names
from wingspan.filesystem.paths import join_path, split_path
from wingspan.filesystem.pgzip import ParallelGzipWriter

try:
    from compression import zstd
except ImportError:
    from backports import zstd

log = logging.getLogger(__name__)

ARCHIVE_MIME = "application/tar+gzip"
GZIP_LEVELS = {"none": 0, "best_speed": 1, "best_compression": 9}
UNREADABLE = "The archive provided could not be read: it is damaged, encrypted or incomplete."
NO_RAR_TOOL = ("RAR archives cannot be extracted on this node: no unrar, unar, 7z or bsdtar "
               "program is installed.")
NO_SPACE_TO_COMPRESS = ("This server does not have enough available disk space to generate a "
                        "compressed archive.")

_SIGNATURES = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"PK\x07\x08", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
)
_STREAMS = {
    "gz": lambda archive: gzip.GzipFile(fileobj=archive, mode="rb"),
    "bz2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
    "zst": zstd.ZstdFile,
}
_SUFFIXES = {"gz": (".gz",), "bz2": (".bz2",), "xz": (".xz",), "zst": (".zst", ".zstd")}
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, lzma.LZMAError, zlib.error,
            zstd.ZstdError, NotImplementedError)
_HEAD_BYTES = 512
IGNORE_FILE = ".pteroignore"
IGNORE_FILE_MAX_BYTES = 32 * 1024
COPY_BUFFER_BYTES = 1024 * 1024


# -- compress ---------------------------------------------------------------------------

def compress(jail, root, files, level="best_speed", now=None):
    """Write ``root/archive-<time>.tar.gz`` holding the regular files of ``files``.

    Args:
        jail: the server's jail.
        root: server path of the base directory; entry names are relative to it.
        files: names of files or directories under ``root`` (host paths inside the server
            root are accepted too). Only regular files get entries, no directories
            (wings-behaviour.md §9.8); symlinks and special files are left out; names that
            do not exist are simply absent.
        level: ``system.backups.compression_level`` (``none``, ``best_speed``,
            ``best_compression``).
        now: the archive's timestamp (an aware datetime; default: now, local time).

    Returns:
        The §5.1 Stat object of the archive, ``mime`` being ``application/tar+gzip``.

    Raises:
        Conflict: the server is already over its quota (409).
        NotEnoughDisk: the archive outgrew the quota (it is removed).
    """
    if not jail.quota.has_space():
        raise errors.Conflict(NO_SPACE_TO_COMPRESS, detail="over quota before compressing")
    if not jail.stat(root)["directory"]:
        raise errors.FileNotFound(detail="compress: %s is not a directory" % root)
    base = jail.split(root)
    target = jail.reserve(root, archive_names(now))
    try:
        with _translated(), jail.open_write(target, check_denylist=False) as out, \
                ParallelGzipWriter(out, GZIP_LEVELS.get(level, 1)) as gz, \
                _tar_writer(gz) as tar:
            for entry in _top_entries(jail, base, files):
                _add_entry(jail, tar, base, entry)
    except BaseException:
        _remove_quietly(jail, target)
        raise
    info = jail.stat(target)
    info["mime"] = ARCHIVE_MIME
    return info


def _remove_quietly(jail, path):
    """Take back a reserved archive name after a failed compress."""
    try:
        jail.delete("/", [path])
    except (OSError, errors.WingspanError) as e:
        log.warning("could not remove the unfinished archive %s: %s", path, e)


def _top_entries(jail, base, files):
    """The requested entries as components relative to ``base``, without duplicates or
    entries inside another requested entry (each file is archived once)."""
    host_root = jail.root.rstrip("/") + "/"
    chosen = []
    for name in files:
        if name.startswith(host_root):
            parts = jail.split(name)
            relative = parts[len(base):] if parts[:len(base)] == base else None
        else:
            relative = _relative_entry(name)
        if relative:
            chosen.append(relative)
    chosen.sort()
    kept = []
    for entry in chosen:
        if not kept or entry[:len(kept[-1])] != kept[-1]:
            kept.append(entry)
    return kept


def _relative_entry(name):
    """Components of an entry name relative to the base, or None if it leaves the base."""
    try:
        return split_path(name.lstrip("/"))
    except errors.PathOutsideRoot:
        return None


def _add_entry(jail, tar, base, entry):
    for relative, dir_fd, name, _ in jail.regular_files("/".join(base + entry)):
        try:
            fd, info = resolve.open_regular(dir_fd, name)
        except errors.WingspanError as e:
            log.debug("compress: %s skipped: %s", name, e.detail)
            continue
        with os.fdopen(fd, "rb") as source:
            member = tarfile.TarInfo("/".join(entry + ([relative] if relative else [])))
            member.size = info.st_size
            member.mode = info.st_mode & 0o777
            member.mtime = int(info.st_mtime)
            member.uid, member.gid = info.st_uid, info.st_gid
            tar.addfile(member, _Exactly(source, info.st_size))


class _Exactly:
    """Exactly ``size`` bytes of a file that may change while it is archived: a shrunk
    file is padded with zeros, a grown one cut (the tar header already holds the size)."""

    def __init__(self, source, size):
        self._source = source
        self._left = size

    def read(self, size=-1):
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(want) or b""
        if len(data) < want:
            data += bytes(want - len(data))
        self._left -= len(data)
        return data


# -- whole-root archives (backups, transfers) ---------------------------------------------

def ignore_rules(jail, requested):
    """The ignore text of a backup (wings-behaviour.md §10.1 step 1): the request's when
    it is not empty, else the root's ``.pteroignore`` if it is a regular file (a symlink is
    refused) of at most 32 KiB, else nothing."""
    if requested and requested.strip():
        return requested
    try:
        data = jail.read_bytes(IGNORE_FILE, IGNORE_FILE_MAX_BYTES)
    except errors.WingspanError as e:
        log.info("%s not used: %s", IGNORE_FILE, e.detail or e.public_message)
        return ""
    return data.decode("utf-8", "replace") if data else ""


class IgnoreRules:
    """gitignore lines matched against paths relative to the root (no leading slash)."""

    def __init__(self, text):
        lines = [line for line in (text or "").splitlines() if line.strip()]
        self._spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None

    def ignores(self, path, directory=False):
        if self._spec is None:
            return False
        return self._spec.match_file(path + "/" if directory else path)


def write_tree(jail, sink, ignore="", level="best_speed", whole_tree=False, threads=None,
               cancelled=None, progress=None):
    """Stream a tar.gz of the whole server root into ``sink`` (anything with ``write``),
    compressed on every core (wings-behaviour.md §10.1, §11.1).

    Nothing is followed: entries are read beneath the root's descriptor with
    ``O_NOFOLLOW``; sockets, FIFOs and devices are left out; a file changing meanwhile is
    stored with the size it had when its header was written.

    Args:
        ignore: gitignore text (see :func:`ignore_rules`); an ignored directory is not
            entered.
        level: ``system.backups.compression_level`` (``none``, ``best_speed``,
            ``best_compression``).
        whole_tree: False (backups): regular files only, as Wings stores them, so Wings can
            restore them. True (transfers): directories and symlinks too (a symlink is
            stored as a link, its target as written).
        threads: compression threads (default: every core).
        cancelled: a callable; when it returns true the job stops with JobCancelled.
        progress: a callable given the size of each file once it is stored (a transfer's
            progress bar counts file bytes against the disk usage).

    Returns:
        The number of entries written.
    """
    rules = IgnoreRules(ignore)
    gz = ParallelGzipWriter(sink, GZIP_LEVELS.get(level, 1), threads)
    try:
        with jail.open_root() as root_fd:
            tar = _tar_writer(gz)
            count = 0
            for node in tree.walk(root_fd, lambda node: not rules.ignores(node.path, True)):
                if cancelled is not None and cancelled():
                    raise errors.JobCancelled(detail="archive of %s cancelled" % jail.root)
                if node.after or rules.ignores(node.path, stat.S_ISDIR(node.info.st_mode)):
                    continue
                stored = _add_node(tar, node, whole_tree)
                count += stored
                if stored and progress is not None and stat.S_ISREG(node.info.st_mode):
                    progress(node.info.st_size)
            tar.close()
        gz.close()
    except BaseException:
        gz.abort()
        raise
    return count


def _tar_writer(gz):
    """A tar writer straight onto ``gz`` (not tarfile's stream mode, which re-buffers every
    write in small records)."""
    return tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT,
                           copybufsize=COPY_BUFFER_BYTES)


def _add_node(tar, node, whole_tree):
    """Write one walked entry; returns 1 when it was stored."""
    info = node.info
    if stat.S_ISREG(info.st_mode):
        try:
            fd, info = resolve.open_regular(node.parent_fd, node.name)
        except errors.WingspanError as e:
            log.debug("archive: %s skipped: %s", node.path, e.detail)
            return 0
        with os.fdopen(fd, "rb") as source:
            tar.addfile(_member(node.path, info, tarfile.REGTYPE), _Exactly(source, info.st_size))
        return 1
    if not whole_tree:
        return 0
    if stat.S_ISDIR(info.st_mode):
        tar.addfile(_member(node.path, info, tarfile.DIRTYPE))
        return 1
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(node.name, dir_fd=node.parent_fd)
        except OSError as e:
            log.debug("archive: symlink %s skipped: %s", node.path, e)
            return 0
        member = _member(node.path, info, tarfile.SYMTYPE)
        member.linkname = target
        tar.addfile(member)
        return 1
    return 0


def _member(name, info, kind):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.size = info.st_size if kind == tarfile.REGTYPE else 0
    member.mode = info.st_mode & 0o777
    member.mtime = int(info.st_mtime)
    member.uid, member.gid = info.st_uid, info.st_gid
    return member


def extract_stream(jail, source, root="/", links=False, on_entry=None, cancelled=None):
    """Extract a tar.gz read from ``source`` (anything with ``read``, not seekable) into
    ``root``, by the rules of :func:`decompress` (restore, incoming transfer).

    Args:
        links: create symlink entries as symlinks and give directories their modes and
            times (wingspan's own whole-tree archives); otherwise symlinks are skipped like
            other special entries.
        on_entry: called with each entry's name before it is written (restore's
            ``(restoring): <entry>`` messages).
        cancelled: a callable; when it returns true the job stops with JobCancelled.

    Raises:
        UnknownArchiveFormat: not a tar.gz, or a damaged one.
        NotEnoughDisk: the quota was reached (what was written so far stays).
        PathOutsideRoot: an entry climbs out of the root (extraction stops there).
    """
    extraction = _Extraction(jail, jail.split(root), links, on_entry, cancelled)
    with _translated(), _STREAMS["gz"](source) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        _extract_tar(extraction, tar)
        extraction.finish()


# -- decompress -------------------------------------------------------------------------

def decompress(jail, root, file):
    """Extract the archive ``root/file`` into ``root``.

    Supported: zip, tar (plain, gz, bz2, xz, zst), 7z, rar (when an unrar-capable program
    is installed), and single gz/bz2/xz/zst files (written without their suffix).

    Raises:
        UnknownArchiveFormat: not an archive we can read, or a damaged one.
        NotEnoughDisk: the content does not fit the quota (what was written so far stays;
            the file being written when the limit was reached is removed).
        PathOutsideRoot: an entry climbs out of the server root (extraction stops there).
    """
    destination = jail.split(root)
    archive_path = join_path(root, file)
    with jail.open_read(archive_path) as stream:
        head = os.pread(stream.fileno(), _HEAD_BYTES, 0)
        archive = os.fdopen(stream.detach(), "rb")
    with archive, _translated():
        kind = detect_format(head)
        if kind is None:
            raise errors.UnknownArchiveFormat(detail="%s: unknown" % file)
        extraction = _Extraction(jail, destination)
        _EXTRACTORS[kind](extraction, archive, file)


def detect_format(head):
    """``zip``, ``7z``, ``rar``, ``gz``, ``bz2``, ``xz``, ``zst`` or ``tar`` from the first
    bytes of a file, or None."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return "tar" if _is_tar_header(head) else None


def _is_tar_header(block):
    """A ustar header, or an old-style one whose checksum is right."""
    if len(block) < _HEAD_BYTES:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        recorded = int(block[148:156].strip(b"\x00 ") or b"-1", 8)
    except ValueError:
        return False
    return recorded == sum(block[:148]) + 8 * 0x20 + sum(block[156:512])


@contextlib.contextmanager
def _translated():
    """Damaged or unreadable archives are the client's problem (400), not ours (500)."""
    try:
        yield
    except errors.WingspanError:
        raise
    except _DAMAGED as e:
        raise errors.UnknownArchiveFormat(UNREADABLE, detail=str(e)) from e
    except OSError as e:
        # gzip and bz2 report corrupt data as an errno-less OSError; a zip's corrupt
        # offsets make seek() fail with EINVAL.
        if e.errno in (None, errno.EINVAL):
            raise errors.UnknownArchiveFormat(UNREADABLE, detail=str(e)) from e
        raise resolve.translate(e) from e
    except RuntimeError as e:  # zipfile: an encrypted entry
        raise errors.UnknownArchiveFormat(UNREADABLE, detail=str(e)) from e


class _Extraction:
    """Where the entries of one archive go: the jail, below ``destination``."""

    def __init__(self, jail, destination, links=False, on_entry=None, cancelled=None):
        self.jail = jail
        self.destination = destination
        self.links = links
        self._directory_times = []
        self.on_entry = on_entry
        self.cancelled = cancelled

    def begin(self, name):
        """Before each entry: stop if the job was cancelled, tell whoever watches."""
        if self.cancelled is not None and self.cancelled():
            raise errors.JobCancelled(detail="extraction cancelled before %s" % name)
        if self.on_entry is not None:
            self.on_entry(name)

    def target(self, name):
        """The server path of entry ``name``, or None when it is skipped (the destination
        itself, or denylisted). Raises PathOutsideRoot when it climbs out of the root."""
        parts = split_path("/".join(self.destination + [name.lstrip("/")]))
        if len(parts) <= len(self.destination) and parts == self.destination[:len(parts)]:
            return None
        if self.jail.denylist.matches(parts):
            log.debug("extraction: %s is denylisted, skipped", name)
            return None
        return "/".join(parts)

    def wanted(self, name):
        return self.target(name) is not None

    def file(self, name, source, size=None, mode=None, mtime=None):
        path = self.target(name)
        if path is not None:
            self.jail.write(path, source, size, mode, mtime)

    def open_file(self, name, mode=None, mtime=None):
        path = self.target(name)
        return None if path is None else self.jail.open_write(path, mode=mode, mtime=mtime)

    def directory(self, name, mode=None, mtime=None):
        path = self.target(name)
        if path is not None:
            self.jail.mkdir(path, "")
            # wingspan's own whole-tree archives carry the directories' modes and times too;
            # the times are set at the end, as writing into a directory changes its time
            if self.links and mode is not None:
                self.jail.chmod("/", [{"file": path, "mode": mode}])
            if self.links and mtime is not None:
                self._directory_times.append((path, mtime))

    def finish(self):
        """Once every entry is in: the directories' times, the deepest first."""
        for path, mtime in reversed(self._directory_times):
            try:
                self.jail.set_directory_mtime(path, mtime)
            except errors.FileNotFound as e:  # replaced by a later entry of the archive
                log.debug("extraction: time of %s not set: %s", path, e.detail)

    def symlink(self, name, target):
        path = self.target(name)
        if path is not None:
            self.jail.symlink(path, target)

    def hard_link(self, name, link_name, mode, mtime):
        """A copy of ``link_name`` (relative to the destination, looked up in the jail)."""
        path = self.target(name)
        if path is None:
            return
        try:
            source = self.jail.open_read("/".join(self.destination + [link_name.lstrip("/")]))
        except errors.FileNotFound as e:
            log.info("extraction: hard link %s -> %s skipped: %s", name, link_name, e.detail)
            return
        with source:
            self.jail.write(path, source, source.size, mode, mtime)

    def skip(self, name, why):
        log.info("extraction: %s skipped (%s)", name, why)

    def prepare(self, sizes):
        """Wings' pre-check when the server has a limit: the declared sizes of the files
        to extract must fit (§9.9); the writes check again as the bytes really come."""
        if self.jail.quota.limit > 0:
            self.jail.quota.require(sum(sizes))


def _extract_tar(extraction, tar):
    while True:
        member = tar.next()
        if member is None:
            return
        tar.members.clear()  # stream mode: keep memory flat on archives of millions of entries
        extraction.begin(member.name)
        mtime = int(member.mtime)
        if member.isreg():
            extraction.file(member.name, tar.extractfile(member), member.size,
                            member.mode & 0o777, mtime)
        elif member.isdir():
            extraction.directory(member.name, member.mode & 0o777, mtime)
        elif member.islnk():
            extraction.hard_link(member.name, member.linkname, member.mode & 0o777, mtime)
        elif member.issym() and extraction.links:
            extraction.symlink(member.name, member.linkname)
        else:
            extraction.skip(member.name, "symlink or special file")


def _extract_plain_tar(extraction, archive, name):
    with tarfile.open(fileobj=archive, mode="r|") as tar:
        _extract_tar(extraction, tar)


def _extract_compressed(extraction, archive, name, kind):
    """A compressed tar, or a single compressed file written next to it without its
    suffix (``name`` is the archive's path relative to the destination)."""
    with _STREAMS[kind](archive) as stream:
        is_tar = _is_tar_header(stream.read(_HEAD_BYTES))
    archive.seek(0)
    with _STREAMS[kind](archive) as stream:
        if is_tar:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                _extract_tar(extraction, tar)
            return
        base = posixpath.basename(name)
        suffix = next((s for s in _SUFFIXES[kind] if base.endswith(s) and base != s), None)
        if suffix is None:
            raise errors.UnknownArchiveFormat(
                detail="%s: a lone compressed file without a %s suffix"
                % (name, _SUFFIXES[kind][0]))
        extraction.file(name[:-len(suffix)], stream)


def _extract_zip(extraction, archive, name):
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        files = [m for m in members if _zip_kind(m) == "file" and extraction.wanted(m.filename)]
        extraction.prepare(m.file_size for m in files)
        for member in members:
            kind = _zip_kind(member)
            if kind == "directory":
                extraction.directory(member.filename)
            elif kind == "file":
                with bundle.open(member) as source:
                    extraction.file(member.filename, source, member.file_size,
                                    _zip_mode(member), _zip_mtime(member))
            else:
                extraction.skip(member.filename, kind)


def _zip_kind(member):
    if member.is_dir():
        return "directory"
    kind = stat.S_IFMT(member.external_attr >> 16)
    if member.create_system == 3 and kind and kind != stat.S_IFREG:
        return "symlink or special file"
    return "file"


def _zip_mode(member):
    mode = (member.external_attr >> 16) & 0o777
    return mode if member.create_system == 3 and mode else None


def _zip_mtime(member):
    return local_timestamp(member.date_time)


def local_timestamp(date_time):
    """A DOS-style ``(Y, M, D, h, m, s)`` in local time, as a POSIX timestamp."""
    try:
        return int(time.mktime(tuple(date_time) + (0, 0, -1)))
    except (OverflowError, ValueError):
        return None


def _extract_with(module_name):
    """The extractor of ``wingspan.filesystem.<module_name>``, imported when such an
    archive comes: py7zr (with the crypto it loads) and rarfile would cost every process
    that imported them at start about 65 ms."""
    def extract(extraction, archive, name):
        module = importlib.import_module("wingspan.filesystem." + module_name)
        try:
            module.extract(extraction, archive)
        except module.DAMAGED as e:
            raise errors.UnknownArchiveFormat(UNREADABLE, detail=str(e)) from e
    return extract


_EXTRACTORS = {
    "zip": _extract_zip,
    "7z": _extract_with("sevenzip"),
    "rar": _extract_with("rar"),
    "tar": _extract_plain_tar,
    "gz": lambda extraction, archive, name: _extract_compressed(extraction, archive, name, "gz"),
    "bz2": lambda extraction, archive, name: _extract_compressed(extraction, archive, name, "bz2"),
    "xz": lambda extraction, archive, name: _extract_compressed(extraction, archive, name, "xz"),
    "zst": lambda extraction, archive, name: _extract_compressed(extraction, archive, name, "zst"),
}
