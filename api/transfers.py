"""The body of ``POST /api/transfers``: a server's archive streamed from its source node
into this node's copy of the server (wings-api.md §9.3, wings-behaviour.md §11.2).

The multipart body is parsed as it arrives (``multipart``'s push parser, as uploads are).
The ``archive`` part goes into an :class:`ExtractionPipe`: a pipe whose far end a native
thread reads, hashes and extracts through the server's jail and quota, so the archive is
never stored, and at most a pipe's worth of it is in memory. The ``checksum`` part must
follow the archive; it is compared with the hash of the bytes the archive part carried.
Every read of the body waits at most ``idle_timeout`` seconds: a source that stops
sending is abandoned, not waited for forever.
"""

import fcntl
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import time

import gevent
import gevent.os
import multipart
from gevent.threadpool import ThreadPool

from wingspan import backups, commands, errors
from wingspan.filesystem import archives, start_in_thread
from wingspan.filesystem.pgzip import MeteredReader, RateLimit
from wingspan.filesystem.streams import write_all
from wingspan.panel_retry import longest_call

log = logging.getLogger(__name__)

ARCHIVE = "archive"
CHECKSUM = "checksum"
BACKUP = "backup_"
BACKUP_CHECKSUM = "checksum_backup_"
BACKUP_NAME = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                         r"[0-9a-fA-F]{12}\.tar\.gz$")
READ_BYTES = 1024 * 1024
PIPE_BYTES = 1024 * 1024
# A hex SHA-256 is 64 characters; anything much longer is not a checksum.
MAX_CHECKSUM_BYTES = 1024
# Parts Wings ignores are passed over, but not without end.
MAX_OTHER_BYTES = 32 * 1024 * 1024

NOT_MULTIPART = 'invalid content type "%s", expected "multipart/form-data"'
UNREADABLE = "Failed to get multipart form data from request."
CHECKSUM_FIRST = "archive must be sent before the checksum"
ARCHIVE_TWICE = "the archive was sent twice"
MISSING = "missing archive or checksum"
MISMATCH = "checksums don't match"


def boundary_of(content_type):
    """The boundary of a ``multipart/form-data`` body; raises TransferRejected."""
    kind, options = multipart.parse_options_header(content_type or "")
    if kind != "multipart/form-data" or not options.get("boundary"):
        raise errors.TransferRejected(NOT_MULTIPART % kind)
    return options["boundary"]


class ExtractionPipe:
    """The archive part's way into the server: :meth:`write` hands bytes to ``extract``,
    which runs on a native thread and reads them from a pipe as a file object.

    ``extract(reader)`` must read the archive from ``reader`` and return the lower-case hex
    SHA-256 of *every* byte the pipe carried, trailing bytes after the archive's end
    included (they are part of what the source hashed).
    """

    def __init__(self, extract, pool=None):
        read_fd, self._write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            fcntl.fcntl(self._write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # a lower /proc/sys/fs/pipe-max-size: the default size works too
            pass
        gevent.os.make_nonblocking(self._write_fd)
        reader = os.fdopen(read_fd, "rb")
        self._call = start_in_thread(_run_closing, extract, reader, pool=pool)

    def write(self, data):
        """Hand ``data`` over, waiting cooperatively while the pipe is full. Raises what
        the extraction raised when it stopped reading (a bad entry, the quota)."""
        view = memoryview(data)
        try:
            while view:
                view = view[gevent.os.nb_write(self._write_fd, view):]
        except BrokenPipeError:
            self._close_write_end()
            self._call.result()
            raise errors.TransferRejected(
                detail="the archive ended before its part did") from None

    def finish(self):
        """End of the archive part: the hex digest once the extraction is complete."""
        self._close_write_end()
        return self._call.result()

    def abort(self):
        """Stop the extraction and wait until its thread has let go of the server's files."""
        self._close_write_end()
        try:
            self._call.result()
        except Exception as e:  # the caller is already failing for its own reason
            log.debug("transfer extraction stopped: %s", e)

    def _close_write_end(self):
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None


def _run_closing(extract, reader):
    # the read end closes as soon as the extraction stops, so a writer blocked on a full
    # pipe gets EPIPE instead of waiting for a reader that is gone
    with reader:
        return extract(reader)


class IncomingBody:
    """Reads one transfer body into ``open_archive()``'s pipe and checks its checksum.

    Args:
        environ: the WSGI environ (``wsgi.input``, ``CONTENT_TYPE``, ``CONTENT_LENGTH``).
        open_archive: called when the archive part begins; returns an ExtractionPipe.
        idle_timeout: seconds one read of the body may wait for data.
        backups: a :class:`ReceivedBackups` for the backups that may come along; None
            ignores them.
    """

    def __init__(self, environ, open_archive, idle_timeout, backups=None):
        self.environ = environ
        self.open_archive = open_archive
        self.idle_timeout = idle_timeout
        self.backups = backups
        self.received = 0
        self._pipe = None
        self._digest = None
        self._checksum = None
        self._field = b""
        self._current = None
        self._other_bytes = 0

    def run(self):
        """Receive the whole body; returns the archive's digest once it matched.

        Raises:
            TransferRejected: not multipart, parts missing, out of order or malformed, a
                wrong checksum.
            BodyTimeout: nothing arrived for ``idle_timeout`` seconds.
            IncompleteBody: the body ended early (the source went away).
            what the extraction raises (a path out of the root, the quota, a bad archive).
        """
        parser = self._parser()
        try:
            with parser:
                while not parser.closed:
                    chunk = self._read()
                    for event in parser.parse(chunk):
                        self._on_event(event)
                    if not chunk:
                        break
        except multipart.MultipartError as e:
            raise errors.TransferRejected(UNREADABLE, detail=str(e)) from e
        finally:
            if self._pipe is not None and self._digest is None:
                self._pipe.abort()
        if self._digest is None or self._checksum is None:
            raise errors.TransferRejected(MISSING)
        if not hmac.compare_digest(self._checksum, self._digest.encode("ascii")):
            raise errors.TransferRejected(MISMATCH, detail="sent %r, received %s"
                                          % (self._checksum[:80], self._digest))
        if self.backups is not None:
            self.backups.commit()
        return self._digest

    def _parser(self):
        boundary = boundary_of(self.environ.get("CONTENT_TYPE"))
        length = self.environ.get("CONTENT_LENGTH") or ""
        return multipart.PushMultipartParser(
            boundary, content_length=int(length) if length.isdigit() else -1)

    def _read(self):
        read = self.environ["wsgi.input"].read
        timeout = errors.BodyTimeout(detail="no data for %ss after %d bytes"
                                     % (self.idle_timeout, self.received))
        with gevent.Timeout(self.idle_timeout, timeout):
            chunk = read(READ_BYTES)
        self.received += len(chunk)
        return chunk

    def _on_event(self, event):
        if isinstance(event, multipart.MultipartSegment):
            self._current = self._begin(event.name)
            return
        if event is None:
            self._end(*self._current)
            self._current = None
            return
        kind = self._current[0]
        if kind == ARCHIVE:
            self._pipe.write(event)
        elif kind == BACKUP:
            self.backups.write(event)
        elif kind in (CHECKSUM, BACKUP_CHECKSUM):
            self._field += event
            if len(self._field) > MAX_CHECKSUM_BYTES:
                raise errors.TransferRejected(MISMATCH, detail="checksum part too long")
        else:
            self._other_bytes += len(event)
            if self._other_bytes > MAX_OTHER_BYTES:
                raise errors.TransferRejected(UNREADABLE, detail="too much besides the archive")

    def _begin(self, name):
        """``(kind, name)`` of a part beginning; the archive comes before any checksum."""
        name = name or ""
        if name == ARCHIVE:
            if self._pipe is not None:
                raise errors.TransferRejected(ARCHIVE_TWICE)
            self._pipe = self.open_archive()
            return ARCHIVE, name
        if name == CHECKSUM:
            if self._digest is None:
                raise errors.TransferRejected(CHECKSUM_FIRST)
            if self._checksum is not None:
                raise errors.TransferRejected(MISMATCH, detail="checksum sent twice")
            self._field = b""
            return CHECKSUM, name
        if name.startswith(BACKUP_CHECKSUM) and self.backups is not None:
            self._field = b""
            return BACKUP_CHECKSUM, name[len(BACKUP_CHECKSUM):]
        if name.startswith(BACKUP) and self.backups is not None:
            self.backups.begin(name[len(BACKUP):])
            return BACKUP, name
        return None, name

    def _end(self, kind, name):
        if kind == ARCHIVE:
            self._digest = self._pipe.finish()
        elif kind == CHECKSUM:
            self._checksum = self._field.strip().lower()
        elif kind == BACKUP:
            self.backups.end()
        elif kind == BACKUP_CHECKSUM:
            self.backups.check(name, self._field.strip().lower())


class ReceivedBackups:
    """Local backups travelling with the server (peers.md: Pelican): each part is written
    beside its final place as a temporary file (``<backup_directory>/<server>/``), hashed as
    it arrives, and moved into place only once its checksum matched and the transfer
    succeeded; :meth:`abort` removes every one of them.

    Args:
        directory: the server's backup directory on this node.
        run: runs a blocking call off the hub (``ServerFiles.run``).
    """

    def __init__(self, directory, run):
        self.directory = directory
        self.run = run
        self._temporary = {}
        self._digests = {}
        self._verified = set()
        self._placed = []
        self._current = None

    def begin(self, name):
        if not BACKUP_NAME.match(name) or name in self._temporary:
            raise errors.TransferRejected(UNREADABLE, detail="backup part %r" % name[:80])
        path = os.path.join(self.directory, ".%s.%s.tmp" % (name, secrets.token_hex(6)))
        self._temporary[name] = path
        self._current = (name, self.run(_create_private, self.directory, path),
                         hashlib.sha256())

    def write(self, data):
        _, fd, digest = self._current
        digest.update(data)
        self.run(write_all, fd, data)

    def end(self):
        name, fd, digest = self._current
        self._current = None
        os.close(fd)
        self._digests[name] = digest.hexdigest().encode("ascii")

    def check(self, name, checksum):
        digest = self._digests.get(name)
        if digest is None or not hmac.compare_digest(digest, checksum):
            raise errors.TransferRejected(MISMATCH, detail="backup %r" % name[:80])
        self._verified.add(name)

    def commit(self):
        """Move every verified backup into place; raises when one came without its
        checksum."""
        unverified = set(self._temporary) - self._verified
        if unverified:
            raise errors.TransferRejected(MISSING, detail="no checksum for the backups %s"
                                          % sorted(unverified))
        for name, path in list(self._temporary.items()):
            final = os.path.join(self.directory, name)
            self.run(os.rename, path, final)
            self._placed.append(final)
            del self._temporary[name]

    def abort(self):
        if self._current is not None:
            os.close(self._current[1])
            self._current = None
        for path in list(self._temporary.values()) + self._placed:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self._temporary.clear()
        self._placed.clear()


def _create_private(directory, path):
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                   0o600)


# -- the destination's side of a transfer ----------------------------------------------------

MIB = 1024 * 1024
WORKER_POLL = 0.1
CREATE_TIMEOUT = 60.0
# Creating the container may pull the server's image first.
COMPLETE_TIMEOUT = 30 * 60.0
CANCELLED = "The transfer was cancelled."
ALREADY_HERE = "A server with that identifier already exists on this instance."


class IncomingTransfers:
    """The transfers this node is receiving, by server uuid (§9.3, §9.4).

    A transfer creates the server as ``POST /api/servers`` would (its worker marks it
    transferring and installs nothing), extracts the body into it, then has the worker
    create the container and report success to the Panel. Any failure on the way, a
    cancel included, removes what was created and reports the failure once.
    """

    def __init__(self, ctx, threads=4):
        self.ctx = ctx
        self._receiving = {}
        # extractions hold a thread each for as long as the body takes: not the hub's
        # pool, which the quick file operations of every server share
        self._pool = ThreadPool(threads)

    def receive(self, uuid, environ):
        """Receive the server ``uuid`` from the body in ``environ``; returns once it is
        ready to start here, or raises after cleaning up."""
        if uuid in self._receiving:
            raise errors.TransferInProgress()
        boundary_of(environ.get("CONTENT_TYPE"))  # before anything is created
        self._receiving[uuid] = gevent.getcurrent()
        created = False
        received = ReceivedBackups(backups.server_directory(self.ctx.cfg, uuid),
                                   self.ctx.files.run)
        try:
            view = self._create(uuid)
            created = True
            self._wait_for_worker(uuid)
            self._extract(view, environ, received)
            self.ctx.client.call(commands.TRANSFER_IN_COMPLETE, uuid, timeout=COMPLETE_TIMEOUT)
        except BaseException as e:
            self._receiving.pop(uuid, None)
            received.abort()
            if created or isinstance(e, errors.PanelError):
                self._finish(uuid, False, created)
            raise
        if self._receiving.pop(uuid, None) is None:
            # cancelled in the very moment it completed: the Panel already has its success
            log.info("server %s: cancelled after it had arrived; kept", uuid)
        self._finish(uuid, True, created)

    def cancel(self, uuid):
        """Stop receiving ``uuid``: the receiving request fails and cleans up."""
        # taken out at once: a second cancel must not interrupt the first one's cleanup
        receiving = self._receiving.pop(uuid, None)
        if receiving is None:
            raise errors.NotTransferring()
        gevent.kill(receiving, errors.Conflict(CANCELLED, detail="cancelled on this node"))

    def _create(self, uuid):
        if uuid in self.ctx.registry.views:
            raise errors.Conflict(ALREADY_HERE, detail="%s is already on this node" % uuid)
        timeout = longest_call(self.ctx.cfg) + CREATE_TIMEOUT
        summary = self.ctx.client.call(commands.CREATE_SERVER,
                                       args={"uuid": uuid, "transfer": True}, timeout=timeout)
        return self.ctx.registry.add(summary)

    def _wait_for_worker(self, uuid):
        """The new server's worker has created its root and answers commands."""
        deadline = time.monotonic() + self.ctx.cfg.wingspan.worker.boot_timeout
        while True:
            try:
                self.ctx.client.call(commands.SNAPSHOT, uuid, timeout=5.0)
                return
            except errors.WorkerUnavailable:
                if time.monotonic() > deadline:
                    raise
                gevent.sleep(WORKER_POLL)

    def _extract(self, view, environ, received):
        limit = self.ctx.cfg.system.transfers.download_limit * MIB
        with self.ctx.files.jail(view, usage=0) as jail:
            extract = functools.partial(extract_transfer, jail, limit)
            body = IncomingBody(environ, lambda: ExtractionPipe(extract, self._pool),
                                self.ctx.cfg.wingspan.transfer_idle_timeout, received)
            body.run()
        log.info("server %s: %d bytes received", view.uuid, body.received)

    def _finish(self, uuid, successful, created):
        """Tell the supervisor; on a failure it removes what was created and reports to
        the Panel."""
        if not successful:
            self.ctx.registry.remove(uuid)
        try:
            self.ctx.client.call(commands.TRANSFER_FINISHED, args={
                "uuid": uuid, "successful": successful, "created": created}, timeout=30.0)
        except errors.WingspanError as e:
            log.error("server %s: the end of its transfer was not recorded: %s", uuid, e)


def extract_transfer(jail, limit_bytes, reader):
    """Extract the tar.gz read from ``reader`` into ``jail`` at most ``limit_bytes`` per
    second (0: no limit); returns the hex SHA-256 of every byte ``reader`` gave."""
    metered = MeteredReader(reader, hashlib.sha256(), RateLimit(limit_bytes))
    archives.extract_stream(jail, metered, links=True)
    while metered.read(READ_BYTES):  # what follows the archive's end was hashed at the source
        pass
    return metered.hexdigest()
