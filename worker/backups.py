"""Backups and restores of one server, as long file jobs of its worker (wings-api.md §8,
wings-behaviour.md §10, panel-contract.md backup and restore reports).

A backup never stops the server and several may run at once (there is no backup lock, as
in Wings). The archive is written under a temporary name in the server's backup directory
and renamed when complete, so a failed, cancelled or killed job leaves no partial archive
under a backup's name. A restore holds the ``restoring`` flag (power actions refused, the
server counts as suspended) until it has finished; the Panel's own suspension is never
touched.
"""

import hashlib
import logging
import os
import secrets
import stat

import gevent

from wingspan import backups, errors
from wingspan.filesystem import archives, in_thread, tree
from wingspan.filesystem.pgzip import MeteredReader, MeteredSink, RateLimit
from worker import s3
from worker.handoff import Handoff, HandoffReader
from worker.jobs import Job
from worker.server import OFFLINE

log = logging.getLogger(__name__)

MIB = 1024 * 1024
RESTORE_STOP_TIMEOUT = 120
RESTORED_LOCAL = "Completed server restoration from local backup."
RESTORED_S3 = "Completed server restoration from S3 backup."
RESTORE_TICK_SECONDS = 0.25
# Bytes a tar entry may add beyond its content: header, PAX header for long names and
# attributes, padding to 512 bytes.
TAR_ENTRY_OVERHEAD = 3 * 512
# deflate never grows its input by more than 5 bytes per 16 KiB stored block, plus one
# sync marker per compressed block; this covers both with room to spare.
GZIP_GROWTH = 1.001
ARCHIVE_SLACK = 64 * 1024


def failure_report():
    return {"checksum": "", "checksum_type": "", "size": 0, "successful": False,
            "parts": None}


class BackupJob(Job):
    """``POST /api/servers/:server/backup`` in the background (§10.1)."""

    kind = "backup"

    def __init__(self, runtime, backup_uuid, adapter, ignore):
        super().__init__(backup_uuid)
        self.rt = runtime
        self.adapter = adapter
        self.ignore = ignore or ""
        self.path = backups.archive_path(runtime.cfg, runtime.server.uuid, backup_uuid)

    def run(self, offload):
        directory = os.path.dirname(self.path)
        in_thread(_make_private_directory, directory)
        if self.adapter == "s3":
            return self._run_s3(offload, directory)
        return offload(self._write_local, directory)

    # -- local ----------------------------------------------------------------------------

    def _write_local(self, directory):
        temp = os.path.join(directory, ".%s.%s.tmp" % (self.identifier, secrets.token_hex(4)))
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                sink = self._metered(out)
                self._archive(sink)
                out.flush()
                os.fsync(out.fileno())
            os.rename(temp, self.path)
        except BaseException:
            _remove(temp)
            raise
        return {"checksum": sink.hexdigest(), "size": sink.written, "parts": None}

    # -- S3 -------------------------------------------------------------------------------

    def _run_s3(self, offload, directory):
        bound = offload(self._size_bound)
        upload_urls = self.rt.panel.get_backup_upload_parts(self.identifier, bound)
        urls, part_size = _checked_parts(upload_urls)
        upload = s3.StreamedUpload(urls, s3.http_pool(self.rt.verify_tls), self.cancelled)
        sink = upload.sink(directory, ".%s.%s" % (self.identifier, secrets.token_hex(4)),
                           part_size)
        uploader = gevent.spawn(upload.run)
        try:
            summary = offload(self._write_parts, sink)
        except BaseException:
            uploader.join()
            if uploader.exception is not None:
                # the archive stopped because the upload had failed: that is the cause
                raise uploader.exception from None
            raise
        parts = uploader.get()
        summary["parts"] = parts
        return summary

    def _size_bound(self):
        """An upper bound of the archive's size, for the Panel's ``?size=`` (it issues
        that many part URLs; only the parts used are reported, and S3 accepts that)."""
        total = ARCHIVE_SLACK
        with self.rt.files.jail().open_root() as root_fd:
            for node in tree.walk(root_fd):
                if not node.after:
                    size = node.info.st_size if stat.S_ISREG(node.info.st_mode) else 0
                    total += size + TAR_ENTRY_OVERHEAD
        return int(total * GZIP_GROWTH) + ARCHIVE_SLACK

    def _write_parts(self, sink):
        try:
            metered = self._metered(sink)
            self._archive(metered)
            sink.finish()
        except BaseException:
            sink.discard()
            raise
        finally:
            sink.handoff.close()
        return {"checksum": metered.hexdigest(), "size": metered.written}

    # -- both -----------------------------------------------------------------------------

    def _metered(self, sink):
        limit = self.rt.cfg.system.backups.write_limit
        return MeteredSink(sink, hashlib.sha1(), RateLimit(limit * MIB) if limit > 0 else None)

    def _archive(self, sink):
        jail = self.rt.files.jail()
        archives.write_tree(jail, sink, archives.ignore_rules(jail, self.ignore),
                            self.rt.cfg.system.backups.compression_level,
                            cancelled=self.cancelled)

    def finish(self, result, error):
        server = self.rt.server
        if error is None:
            report = {"checksum": result["checksum"], "checksum_type": "sha1",
                      "size": result["size"], "successful": True, "parts": result["parts"]}
        else:
            report = failure_report()
        try:
            self.rt.panel.set_backup_status(self.identifier, report)
        except errors.PanelError as e:
            log.error("backup %s: the Panel was not told the result: %s", self.identifier, e)
            if error is None:
                # Wings' rule: a backup the Panel does not know about is not kept
                in_thread(_remove, self.path)
                return
        server.publish("backup completed", {
            "checksum": report["checksum"], "checksum_type": "sha1",
            "file_size": report["size"], "is_successful": report["successful"],
            "uuid": self.identifier})


def _checked_parts(answer):
    urls = answer.get("parts") if isinstance(answer, dict) else None
    part_size = answer.get("part_size") if isinstance(answer, dict) else None
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls) \
            or not isinstance(part_size, int) or isinstance(part_size, bool) or part_size <= 0:
        raise errors.PanelError(detail="unusable S3 part list from the Panel: %r" % (answer,))
    return urls, part_size


class RestoreJob(Job):
    """``POST /api/servers/:server/backup/:backup/restore`` (§8.2, §10.2), hardened: the
    backup is found (local file, or the S3 download answering with a gzip) before the
    route answers, and the root is emptied only once the server has stopped, so a missing
    backup or a server that does not stop leaves the files as they were."""

    kind = "restore"
    flag = "restoring"
    tick_seconds = RESTORE_TICK_SECONDS

    def __init__(self, runtime, backup_uuid, adapter, truncate, download_url):
        super().__init__(backup_uuid)
        self.rt = runtime
        self.adapter = adapter
        self.truncate = truncate
        self.download_url = download_url
        self.source = None
        self.entries = []  # names extracted, announced by tick() on the event loop
        self._pool = None

    def prepare(self):
        if self.adapter == "s3":
            self._pool = s3.http_pool(self.rt.verify_tls, s3.DOWNLOAD_TIMEOUT)
            self.source = s3.open_download(self._pool, self.download_url)
        else:
            self.source = in_thread(backups.open_backup, self.rt.cfg, self.rt.server.uuid,
                                    self.identifier)

    def run(self, offload):
        try:
            self._stop_server()
            if self.truncate:
                # once the game is stopped, not under its feet (Wings empties the root
                # first, while the server may still be running)
                offload(self.rt.files.jail().truncate)
            if self.adapter == "s3":
                return self._extract_download(offload)
            return offload(self._extract, self.source)
        finally:
            self._close_source()

    def _stop_server(self):
        if self.rt.server.state == OFFLINE:
            return
        self.rt.environment.wait_for_stop(RESTORE_STOP_TIMEOUT, terminate=False)

    def _extract_download(self, offload):
        handoff = Handoff(s3.DOWNLOAD_CHUNKS_AHEAD)
        pumping = gevent.spawn(s3.pump, self.source, handoff, self.cancelled)
        try:
            return offload(self._extract, HandoffReader(handoff))
        finally:
            handoff.abort()
            pumping.join()

    def _extract(self, source):
        limit = self.rt.cfg.system.backups.write_limit
        reader = MeteredReader(source, rate=RateLimit(limit * MIB) if limit > 0 else None)
        archives.extract_stream(self.rt.files.jail(), reader, on_entry=self.entries.append,
                                cancelled=self.cancelled)
        return reader.read_bytes

    def tick(self):
        """Announce the entries extracted since the last tick (§8.2 ``(restoring):``)."""
        count = len(self.entries)
        if count:
            names, self.entries[:count] = self.entries[:count], []
            for name in names:
                self.rt.server.publish("daemon message", "(restoring): %s" % name)

    def finish(self, result, error):
        self.tick()
        server = self.rt.server
        try:
            self.rt.panel.set_restore_status(self.identifier, error is None)
        except errors.PanelError as e:
            log.error("restore %s: the Panel was not told the result: %s", self.identifier, e)
        server.publish("daemon message", RESTORED_S3 if self.adapter == "s3" else RESTORED_LOCAL)
        server.publish("backup restore completed", "")
        self.rt.files.refresh_usage_in_background()

    def _close_source(self):
        source, self.source = self.source, None
        if source is None:
            return
        if self.adapter == "s3":  # an HTTP response, its connection back to the pool
            source.release_conn()
        else:
            source.close()


def _make_private_directory(path):
    """The server's backup directory: 0700, owned by the daemon, never a symlink."""
    os.makedirs(path, 0o700, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise errors.WingspanError(detail="%s is not a directory" % path)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("could not remove %s: %s", path, e)

