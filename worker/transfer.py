"""Moving a server to another node (wings-api.md §9, wings-behaviour.md §11).

Source: the server is stopped, then the tar.gz of its whole root is made on a native
thread, written into a pipe, and streamed from there as the ``archive`` part of one
multipart ``POST`` to the destination, followed by the ``checksum`` part (the SHA-256 of
the archive's bytes). Nothing is stored: memory holds a pipe's worth and the compressor's
blocks. Progress and the outcome go to websocket viewers as ``transfer logs`` and
``transfer status``; a failure or a cancel is reported to the Panel, and the server stays
here, intact and startable.

Destination: the API process receives and extracts the archive (``api/transfers.py``);
this worker, started with the server marked transferring, then creates the container and
reports the success.
"""

import hashlib
import logging
import os
import secrets
import time

import gevent
import gevent.os

from wingspan import backups, errors
from wingspan.filesystem import archives, in_thread
from wingspan.filesystem.pgzip import MeteredSink
from worker.jobs import Job
from worker.server import OFFLINE

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15
PROGRESS_INTERVAL = 5.0
BAR_WIDTH = 25
READ_BYTES = 1024 * 1024
CONNECT_TIMEOUT = 30.0

PREPARING = "Preparing to stream server data to destination..."
STREAMING = "Streaming archive to destination..."
FINISHED = "Finished streaming archive to destination."
CANCELED = "Canceled."
BAD_STATUS = "unexpected status code from destination: %d"

PROCESSING = "processing"
CANCELLING = "cancelling"
FAILURE = "failure"
SUCCESS = "success"


def format_bytes(count):
    """Wings' ``system.FormatBytes``: ``512 B``, ``1.5 KiB``, ``2.0 MiB``, ..."""
    if count < 1024:
        return "%d B" % count
    div, exp = 1024, 0
    n = count // 1024
    while n >= 1024:
        div *= 1024
        exp += 1
        n //= 1024
    return "%.1f %siB" % (count / div, "KMGTPE"[exp])


def progress_bar(written, total, width=BAR_WIDTH):
    """``[====      ] <written> / <total>`` (wings-behaviour.md §11.1): a tick per
    ``100/width`` percent, clamped, as the stale disk usage may be below what is sent."""
    ticks = int(written / total * 100 / (100 / width)) if total > 0 else width
    ticks = max(0, min(width, ticks))
    return "[%s%s] %s / %s" % ("=" * ticks, " " * (width - ticks), format_bytes(written),
                               format_bytes(total))


def log_line(text, now=None):
    """A ``transfer logs`` line as Wings colours it (wings-api.md §9.1)."""
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S %Z", time.localtime(now))
    return "\x1b[33m\x1b[1m%s [Transfer System] [Source Node]:\x1b[39m %s\x1b[0m" % (stamp, text)


class Multipart:
    """The framing of the body a source sends: a file part ``archive`` named
    ``archive.tar.gz``, then a field ``checksum`` (Wings); then, for each local backup that
    travels with the server, a file part ``backup_<uuid>.tar.gz`` and a field
    ``checksum_backup_<uuid>.tar.gz`` (Pelican)."""

    def __init__(self, boundary=None):
        self.boundary = boundary or secrets.token_hex(30)

    @property
    def content_type(self):
        return "multipart/form-data; boundary=%s" % self.boundary

    def archive_head(self):
        return self._head("--", 'name="archive"; filename="archive.tar.gz"', binary=True)

    def file_head(self, name, filename):
        return self._head("\r\n--", 'name="%s"; filename="%s"' % (name, filename), binary=True)

    def field(self, name, value):
        return self._head("\r\n--", 'name="%s"' % name) + value.encode()

    def end(self):
        return ("\r\n--%s--\r\n" % self.boundary).encode()

    def _head(self, opening, disposition, binary=False):
        kind = "Content-Type: application/octet-stream\r\n" if binary else ""
        return ("%s%s\r\nContent-Disposition: form-data; %s\r\n%s\r\n"
                % (opening, self.boundary, disposition, kind)).encode()


class Outgoing(Job):
    """One transfer of this server to ``url`` (wings-behaviour.md §11.1).

    :meth:`prepare` stops the server and starts the upload, a greenlet reading the far end
    of a pipe; :meth:`work` writes the archive into that pipe on the job's thread;
    :meth:`finish` waits for the destination's answer. A failure on either side ends the
    other one: the upload closes the pipe (the archive stops on EPIPE), and an archive that
    fails leaves the upload without a checksum, so it aborts the request.
    """

    kind = "transfer"
    tick_seconds = PROGRESS_INTERVAL

    def __init__(self, rt, url, token, backup_uuids=()):
        super().__init__(rt.server.uuid)
        self.rt = rt
        self.url = url
        self.token = token
        self.backups = list(backup_uuids)
        self.written = 0
        self.total = 0
        self.checksum = None
        self.upload = None
        self._read_fd = self._write_fd = None

    @property
    def server(self):
        return self.rt.server

    def message(self, text):
        self.server.publish("transfer logs", log_line(text))

    def status(self, value):
        self.server.publish("transfer status", value)

    # -- on the event loop -------------------------------------------------------------

    def prepare(self):
        server = self.server
        server.set_flag("transferring", True)
        try:
            self._stop_server()
        except BaseException:
            server.set_flag("transferring", False)
            raise
        self.message(PREPARING)
        self.status(PROCESSING)
        self.total = self.rt.files.usage_bytes()
        self.message(STREAMING)
        self._read_fd, self._write_fd = os.pipe2(os.O_CLOEXEC)
        self._start_upload()

    def _start_upload(self):
        gevent.os.make_nonblocking(self._read_fd)
        self.upload = gevent.spawn(self._upload)
        # however the upload ends, even killed by a cancel before it ever ran, the archive
        # (if still being written) gets EPIPE and stops
        self.upload.link(self._close_read_end)

    def _stop_server(self):
        if self.server.state == OFFLINE:
            return
        try:
            self.rt.environment.wait_for_stop(STOP_TIMEOUT, terminate=False)
        except errors.WingspanError as e:
            if "no such container" not in str(e.detail or "").lower():
                raise

    def tick(self):
        self.message("Uploading " + progress_bar(self.written, self.total))

    def cancel(self):
        if self.cancelled():
            return
        super().cancel()
        self.status(CANCELLING)
        if self.upload is not None:
            self.upload.kill(errors.JobCancelled(detail="transfer cancelled"), block=False)

    def finish(self, result, error):
        upload_error = self._upload_outcome()
        # The side that failed first says why; the other one only saw its pipe break.
        if isinstance(error, BrokenPipeError) or error is None:
            error = upload_error
        if error is None:
            log.info("transfer to %s complete", self.url)
            return  # the destination reports; the Panel deletes the server here
        log.warning("transfer to %s failed: %s", self.url, error)
        try:
            self.rt.panel.set_transfer_status(self.server.uuid, False)
        except errors.PanelError as e:
            log.error("the failed transfer was not reported to the Panel: %s", e)
        if self.cancelled():
            self.message(CANCELED)
        self.status(FAILURE)
        self.server.set_flag("transferring", False)

    def _upload_outcome(self):
        self.upload.join()
        return self.upload.value if self.upload.successful() else self.upload.exception

    def _upload(self):
        """Send the body; returns what ended the upload, None when the destination took it.
        Returned, not raised: gevent prints the traceback of a greenlet that dies of an
        exception, and a destination that cannot be reached is no bug."""
        # imported here: few workers ever send a server, and requests would cost the zygote
        # that preloads every worker module 4 MiB and a tenth of a second at each boot
        import requests
        form = Multipart()
        session = requests.Session()
        try:
            response = session.post(
                self.url, data=self._body(form), timeout=(CONNECT_TIMEOUT, None),
                headers={"Authorization": self.token, "Content-Type": form.content_type})
        except (requests.RequestException, OSError, errors.WingspanError, ValueError) as e:
            # ValueError: a token or URL the Panel sent that cannot go into a request
            return e
        finally:
            session.close()
        if response.status_code != 200:
            return errors.WingspanError(detail=BAD_STATUS % response.status_code)
        return None

    def _close_read_end(self, upload=None):
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None

    def _body(self, form):
        yield form.archive_head()
        while True:
            chunk = gevent.os.nb_read(self._read_fd, READ_BYTES)
            if not chunk:
                break
            yield chunk
        if self.checksum is None:
            raise errors.WingspanError(detail="the archive was not completed")
        yield form.field("checksum", self.checksum)
        for backup_uuid in self.backups:
            yield from self._backup_parts(form, backup_uuid)
        yield form.end()
        self.message(FINISHED)

    def _backup_parts(self, form, backup_uuid):
        """A local backup of the server as Pelican's source sends it; one that is not
        here (an S3 backup, one deleted meanwhile) is left out, as Pelican does."""
        try:
            stream = backups.open_backup(self.rt.cfg, self.server.uuid, backup_uuid)
        except errors.BackupNotFound as e:
            log.info("backup %s does not travel: %s", backup_uuid, e.detail)
            return
        name = backup_uuid + backups.SUFFIX
        digest = hashlib.sha256()
        with stream:
            yield form.file_head("backup_" + name, name)
            while chunk := in_thread(stream.read, READ_BYTES):
                digest.update(chunk)
                yield chunk
        yield form.field("checksum_backup_" + name, digest.hexdigest())

    # -- on the job's thread -----------------------------------------------------------

    def work(self):
        with os.fdopen(self._write_fd, "wb") as pipe:
            sink = MeteredSink(pipe, hashlib.sha256())
            archives.write_tree(self.rt.files.jail(), sink, level=self.level(), whole_tree=True,
                                cancelled=self.cancelled, progress=self._count)
            # set before the pipe closes: the upload reads it once it sees the end
            self.checksum = sink.hexdigest()

    def level(self):
        return self.rt.cfg.system.backups.compression_level

    def _count(self, size):
        self.written += size


class Transfers:
    """The transfers of one worker's server, in either direction."""

    def __init__(self, rt):
        self.rt = rt

    def send(self, url, token, backup_uuids=()):
        """``POST /api/servers/:server/transfer`` (§9.1): stop the server, then stream it
        (and the local backups named, peers.md: Pelican) in the background. Raises
        TransferInProgress, or the stop's error."""
        if self.rt.server.transferring:
            raise errors.TransferInProgress()
        self.rt.jobs.start(Outgoing(self.rt, url, token, backup_uuids))

    def cancel_outgoing(self):
        """``DELETE /api/servers/:server/transfer`` (§9.2)."""
        if not self.rt.server.transferring or not self.rt.jobs.cancel(Outgoing.kind):
            raise errors.NotTransferring()

    def begin_incoming(self):
        """This worker's server is being received from another node (§9.3)."""
        self.rt.server.set_flag("transferring", True)

    def complete_incoming(self):
        """The files have arrived: the container, then the success report (§11.2 steps
        4–5). A failure leaves no container behind; the caller removes the rest."""
        server, environment = self.rt.server, self.rt.environment
        environment.create(self.rt.images.ensure)
        try:
            self.rt.panel.set_transfer_status(server.uuid, True)
        except errors.PanelError:
            environment.destroy()
            raise
        server.set_flag("transferring", False)
        server.publish("transfer status", SUCCESS)
        self.rt.files.refresh_usage_in_background()
