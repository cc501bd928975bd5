"""Remote downloads into a server's files: ``POST /files/pull`` (wings-api.md §5.12).

At most three per server at a time, each with its progress, cancellable. The host is
resolved once and every address it has must be public (``wingspan.egress``); the
connection is then made to that checked address with the original host name for
``Host``, SNI and certificate checks, so a DNS answer that changes between the check and
the connection cannot reach an internal address. Redirects are not followed. The file
is written through the jail like an upload: under the quota, the egg's denylist
([REC], as pelican does), into a temporary file that only replaces the target when the
download completes.
"""

import logging
import os
import posixpath
import urllib.parse
import uuid as uuidlib

import gevent
import multipart
import urllib3

from wingspan import egress, errors
from wingspan.filesystem import in_thread
from wingspan.filesystem.paths import join_path

log = logging.getLogger(__name__)

MAX_DOWNLOADS = 3
USER_AGENT = "Pterodactyl Panel (https://pterodactyl.io)"
CHUNK_BYTES = 1024 * 1024
TIMEOUT = urllib3.Timeout(connect=30.0, read=120.0)
TOO_MANY = ("This server has reached its limit of 3 simultaneous remote file downloads at "
            "once. Please wait for one to complete before trying again.")
BAD_URL = "An error occurred while parsing that URL: %s"


class Cancelled(Exception):
    """The download was cancelled by ``DELETE /files/pull/:download``."""


class RemoteFile:
    """Where to fetch from: the parsed URL and the checked address to connect to."""

    def __init__(self, url):
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise errors.BadRequest(BAD_URL % e) from e
        if parts.scheme not in egress.DEFAULT_PORTS:
            raise errors.BadRequest(BAD_URL % ("unsupported protocol scheme %r" % parts.scheme))
        if not parts.hostname:
            raise errors.BadRequest(BAD_URL % "no host in URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or egress.DEFAULT_PORTS[parts.scheme]
        self.target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self.url_name = posixpath.basename(urllib.parse.unquote(parts.path))
        self.address = None

    def check(self):
        """Resolve the host and keep the address the connection will use."""
        self.address = egress.resolve_allowed(self.host, self.port)

    def host_header(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        if self.port == egress.DEFAULT_PORTS[self.scheme]:
            return host
        return "%s:%d" % (host, self.port)

    def open(self):
        """The response to ``GET``, connected to the checked address only."""
        if self.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                self.address, self.port, timeout=TIMEOUT, retries=False, maxsize=1,
                server_hostname=self.host, assert_hostname=self.host, cert_reqs="CERT_REQUIRED")
        else:
            pool = urllib3.HTTPConnectionPool(self.address, self.port, timeout=TIMEOUT,
                                              retries=False, maxsize=1)
        headers = {"Host": self.host_header(), "User-Agent": USER_AGENT}
        try:
            return pool.urlopen("GET", self.target, headers=headers, redirect=False,
                                preload_content=False, retries=False)
        except urllib3.exceptions.HTTPError as e:
            raise errors.DownloadFailed(detail="%s: %s" % (self.host, e)) from e


class Download:
    """One download in progress."""

    def __init__(self, remote, root, file_name, use_header):
        self.identifier = str(uuidlib.uuid4())
        self.remote = remote
        self.root = root
        self.file_name = file_name
        self.use_header = use_header
        self.total = 0
        self.received = 0
        self.cancelled = False

    def progress(self):
        return self.received / self.total if self.total else 0.0

    def run(self, jail):
        """Fetch and write the file; returns its server path."""
        response = self.remote.open()
        try:
            self.total = self._length(response)
            _require_free_disk(jail.root, self.total)
            path = join_path(self.root, self._name(response))
            with jail.open_write(path, size=self.total) as out:
                self._copy(response, out)
            return path
        finally:
            response.release_conn()

    def _length(self, response):
        if response.status != 200:
            raise errors.DownloadFailed(
                "The remote server answered with status %d." % response.status)
        length = response.headers.get("Content-Length") or ""
        if not length.isdigit() or int(length) < 1:
            raise errors.DownloadFailed("The remote server did not announce the file's size.")
        return int(length)

    def _name(self, response):
        name = ""
        if self.use_header:
            _, options = multipart.parse_options_header(
                response.headers.get("Content-Disposition") or "")
            name = options.get("filename") or ""
        name = posixpath.basename(name or self.file_name or self.remote.url_name)
        if name in ("", ".", ".."):
            raise errors.BadRequest("The downloaded file has no usable name; give file_name.")
        return name

    def _copy(self, response, out):
        while self.received < self.total:
            if self.cancelled:
                raise Cancelled()
            try:
                chunk = response.read(min(CHUNK_BYTES, self.total - self.received))
            except urllib3.exceptions.HTTPError as e:
                raise errors.DownloadFailed(detail=str(e)) from e
            if not chunk:
                raise errors.DownloadFailed(detail="connection closed after %d of %d bytes"
                                            % (self.received, self.total))
            out.write(chunk)
            self.received += len(chunk)


def _require_free_disk(root, size):
    """Even without a quota, a download never fills the node's disk."""
    stats = os.statvfs(root)
    if size > stats.f_bavail * stats.f_frsize:
        raise errors.NotEnoughDisk(detail="%d bytes announced, the disk has less free" % size)


class Downloads:
    """The server's remote downloads (one per request, three at a time)."""

    def __init__(self, files):
        self.files = files
        self.active = {}

    def start(self, url, root, file_name="", use_header=False, foreground=False):
        """Check and begin a download; the Stat object of the file when ``foreground``,
        else ``{"identifier"}`` at once.

        Raises:
            BadRequest: bad URL, three downloads already running.
            NotEnoughDisk: the server is over its quota.
            DestinationRefused: the host is not a public address.
        """
        remote = RemoteFile(url)
        if not self.files.has_space():
            raise errors.NotEnoughDisk(detail="over quota before a pull")
        if len(self.active) >= MAX_DOWNLOADS:
            raise errors.BadRequest(TOO_MANY)
        download = Download(remote, root, file_name, use_header)
        self.active[download.identifier] = download
        try:
            remote.check()
        except BaseException:
            self.active.pop(download.identifier, None)
            raise
        if foreground:
            path = self._run(download)
            return in_thread(self.files.jail().stat, path)
        gevent.spawn(self._run_quietly, download)
        return {"identifier": download.identifier}

    def listing(self):
        return [{"Identifier": d.identifier, "Progress": d.progress()}
                for d in self.active.values()]

    def cancel(self, identifier):
        download = self.active.get(identifier)
        if download is not None:
            download.cancelled = True

    def _run(self, download):
        # A greenlet, not a native thread: the worker's sockets and resolver are gevent's
        # (it is monkey-patched), so the transfer waits cooperatively; each chunk written
        # to disk is a short blocking write.
        try:
            return download.run(self.files.jail())
        finally:
            self.active.pop(download.identifier, None)

    def _run_quietly(self, download):
        try:
            path = self._run(download)
            log.info("download %s finished: %s", download.identifier, path)
        except Cancelled:
            log.info("download %s cancelled", download.identifier)
        except errors.WingspanError as e:
            log.warning("download %s failed: %s", download.identifier, e)
