"""S3 through the Panel's presigned URLs: a backup uploaded in parts while it is being made,
and a backup downloaded for a restore (wings-api.md §8.2, §8.4; wings-behaviour.md §10.1
step 6, §10.2 step 3).

Upload, streamed (beyond Wings, which writes the whole archive to disk first): the job
thread cuts the archive into part files of the Panel's ``part_size`` while the event loop
``PUT``s the finished ones, so at most two parts exist on disk at any time and a server
larger than the node's free disk space can be backed up. Each part is ``PUT`` with its
``Content-Length`` and ``Content-Type: application/x-gzip``, retried with exponential
backoff (multiplier 2, at most a minute in all) on network errors and 5xx; a 4xx is fatal.
The ``ETag`` of each part is recorded verbatim, quotes included.
"""

import logging
import os
import time

import gevent
import tenacity
import urllib3

from wingspan import errors
from worker.handoff import CLOSED, Handoff

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-gzip"
ACCEPTED_TYPES = "application/x-gzip application/gzip"
BAD_CONTENT_TYPE = ('The provided backup link is not a supported content type. "%s" is not '
                    'application/x-gzip.')
TIMEOUT = urllib3.Timeout(connect=30.0, read=2 * 3600.0)
# A restore's download: the route waits for its headers, and a body that stalls this long
# fails the restore instead of holding the server in "restoring" for hours.
DOWNLOAD_TIMEOUT = urllib3.Timeout(connect=30.0, read=90.0)
RETRY_FIRST_WAIT = 0.5
RETRY_MULTIPLIER = 2.0
RETRY_MAX_ELAPSED = 60.0
PARTS_ON_DISK = 2
DOWNLOAD_CHUNK = 1024 * 1024
DOWNLOAD_CHUNKS_AHEAD = 4


def http_pool(verify_tls=True, timeout=TIMEOUT):
    return urllib3.PoolManager(timeout=timeout, retries=False,
                               cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE")


class Part:
    __slots__ = ("number", "path", "size")

    def __init__(self, number, path, size):
        self.number = number
        self.path = path
        self.size = size


class PartFiles:
    """The sink the archive is written into on the job thread: part files of
    ``part_size`` bytes in ``directory``, each handed to the uploader once full."""

    def __init__(self, handoff, directory, prefix, part_size, max_parts):
        self.handoff = handoff
        self.directory = directory
        self.prefix = prefix
        self.part_size = part_size
        self.max_parts = max_parts
        self.count = 0
        self._file = None
        self._part = None

    def write(self, data):
        view = memoryview(data)
        while view:
            if self._file is None:
                self._open_next()
            room = self.part_size - self._part.size
            chunk = view[:room]
            self._file.write(chunk)
            self._part.size += len(chunk)
            view = view[len(chunk):]
            if self._part.size == self.part_size:
                self._hand_over()
        return len(data)

    def flush(self):
        """Parts are handed over whole."""

    def finish(self):
        """Hand over the last, shorter part; then the uploader knows it has them all."""
        if self._file is not None:
            self._hand_over()

    def discard(self):
        if self._file is not None:
            self._file.close()
            _remove(self._part.path)
            self._file = None

    def _open_next(self):
        if self.count >= self.max_parts:
            raise errors.S3UploadFailed(detail="the archive outgrew the %d parts the Panel issued"
                               % self.max_parts)
        if not self.handoff.reserve():
            raise errors.S3UploadFailed(detail="the upload stopped")
        self.count += 1
        path = os.path.join(self.directory, "%s.part%d.tmp" % (self.prefix, self.count))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._part = Part(self.count, path, 0)

    def _hand_over(self):
        self._file.close()
        self._file = None
        self.handoff.put(self._part)


class StreamedUpload:
    """Uploads the parts :class:`PartFiles` produces, on the event loop.

    Args:
        urls: the Panel's presigned part URLs, in order.
        pool: a urllib3 PoolManager.
        cancelled: a callable; true stops the upload between attempts.
    """

    def __init__(self, urls, pool, cancelled, sleep=gevent.sleep, clock=time.monotonic):
        self.urls = urls
        self.pool = pool
        self.cancelled = cancelled
        self.handoff = Handoff(PARTS_ON_DISK)
        self.parts = []
        self.sleep = sleep
        self.clock = clock

    def sink(self, directory, prefix, part_size):
        return PartFiles(self.handoff, directory, prefix, part_size, len(self.urls))

    def run(self):
        """Upload parts until the producer closes the handoff; returns the
        ``[{"etag", "part_number"}]`` list. On failure the producer is stopped too."""
        try:
            while True:
                part = self.handoff.take()
                if part is CLOSED:
                    return self.parts
                try:
                    etag = self.put_part(self.urls[part.number - 1], part)
                finally:
                    _remove(part.path)
                self.parts.append({"etag": etag, "part_number": part.number})
                self.handoff.release()
        except BaseException:
            self.handoff.abort()
            self._drain()
            raise

    def _drain(self):
        """Remove the parts the producer still hands over until it stops."""
        while True:
            part = self.handoff.take()
            if part is CLOSED:
                return
            _remove(part.path)

    def put_part(self, url, part):
        """PUT one part with retries; returns its ETag."""
        started = self.clock()

        def out_of_time(state):
            return self.clock() - started + _retry_wait(state) > RETRY_MAX_ELAPSED

        def give_up(state):
            error = state.outcome.exception()
            raise errors.S3UploadFailed(
                detail="part %d: %s (giving up)" % (part.number, error)) from error

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable), wait=_retry_wait,
            stop=out_of_time, sleep=self.sleep, before_sleep=_log_retry,
            retry_error_callback=give_up)
        return retrying(self._put_once, url, part)

    def _put_once(self, url, part):
        if self.cancelled():
            raise errors.JobCancelled(detail="S3 upload cancelled at part %d" % part.number)
        headers = {"Content-Type": CONTENT_TYPE, "Content-Length": str(part.size)}
        with open(part.path, "rb") as body:
            try:
                response = self.pool.urlopen("PUT", url, body=body, headers=headers,
                                             redirect=False, retries=False,
                                             preload_content=True)
            except urllib3.exceptions.HTTPError as e:
                raise _Retryable(str(e)) from e
        if response.status >= 500:
            raise _Retryable("status %d" % response.status)
        if response.status != 200:
            raise errors.S3UploadFailed(
                detail="part %d: S3 answered %d" % (part.number, response.status))
        return response.headers.get("ETag", "")


class _Retryable(Exception):
    """A network error or a 5xx: the part is sent again."""


def _retry_wait(state):
    return RETRY_FIRST_WAIT * RETRY_MULTIPLIER ** (state.attempt_number - 1)


def _log_retry(state):
    part = state.args[1]
    log.info("S3 part %d failed (%s); retrying in %.1fs", part.number,
             state.outcome.exception(), _retry_wait(state))


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- restore ------------------------------------------------------------------------------

def open_download(pool, url):
    """``GET url`` for a restore; the response once its status and type are checked.

    Raises:
        BackupNotFound: the request failed or S3 did not answer 200 (checked before any
            file is touched; Wings does not check the status).
        BadRequest: the ``Content-Type`` is not a gzip one (wings-api.md §8.2).
    """
    try:
        response = pool.urlopen("GET", url, redirect=False, retries=False,
                                preload_content=False)
    except (urllib3.exceptions.HTTPError, ValueError) as e:
        raise errors.BackupNotFound(detail="download of the backup failed: %s" % e) from e
    if response.status != 200:
        response.release_conn()
        raise errors.BackupNotFound(detail="the backup download answered %d" % response.status)
    content_type = response.headers.get("Content-Type") or ""
    if not content_type or content_type not in ACCEPTED_TYPES:
        response.release_conn()
        raise errors.BadRequest(BAD_CONTENT_TYPE % content_type)
    return response


def pump(response, handoff, cancelled):
    """Feed the response body into ``handoff`` on the event loop, chunk by chunk, at
    most a few chunks ahead of the reader; the reader gets the error if it fails."""
    try:
        while not cancelled():
            if not handoff.reserve_cooperatively():
                return
            try:
                chunk = response.read(DOWNLOAD_CHUNK)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                handoff.put(errors.DownloadFailed(detail="backup download broke: %s" % e))
                return
            if not chunk:
                return
            handoff.put(chunk)
        handoff.put(errors.JobCancelled(detail="restore cancelled while downloading"))
    finally:
        handoff.close()
        response.release_conn()
