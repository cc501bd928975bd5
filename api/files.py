"""Server files as the API process touches them: a jail per request, run off the hub.

Quick operations (list, read, write, rename, copy, delete, chmod, uploads and downloads)
run here, in the gevent threadpool, so bytes stream between the client and the disk
without crossing the bus. Long ones (archives, remote downloads) run in the server's
worker, which also lists its share of a huge directory (``api.listing``). The worker owns
the server's disk-usage figure: an operation that must respect the quota starts from the
worker's current usage, and every change of usage made here is reported back to the
worker, which keeps its figure current without re-walking the tree.
"""

import contextlib
import logging

import bottle

from api import http
from api.listing import HELP_TIMEOUT, SharedListing
from wingspan import commands, errors
from wingspan.filesystem import Jail, Quota, WriteBehind, in_thread
from wingspan.filesystem.mime import SniffCache
from wingspan.roots import server_root

log = logging.getLogger(__name__)

USAGE_TIMEOUT = 5.0
# Large enough that a 2 GiB transfer costs a few thousand threadpool hand-offs, small
# enough that many concurrent transfers do not add up to much memory.
TRANSFER_CHUNK = 1024 * 1024


class ServerFiles:
    """Jails for the servers the API knows, built from the live config and definition."""

    def __init__(self, ctx):
        self.ctx = ctx
        # one cache for every server: entries are keyed by device and inode
        self.sniff_cache = SniffCache(ctx.cfg.wingspan.mime_cache_entries)

    def root_of(self, view):
        return server_root(self.ctx.cfg, view.uuid)

    @contextlib.contextmanager
    def jail(self, view, enforce_quota=False, usage=None):
        """A jail on the server's root whose quota starts from ``usage``, or from the
        worker's usage when ``enforce_quota`` (and the server has a limit); usage it
        changes is reported back."""
        definition = view.definition
        quota = _CountingQuota(definition.disk_limit_bytes())
        if usage is not None:
            quota.set_usage(usage)
        elif enforce_quota and quota.limit != 0:
            quota.set_usage(self._worker_usage(view))
        user = self.ctx.cfg.system.user
        jail = Jail(self.root_of(view), user.uid, user.gid, definition.file_denylist,
                    quota=quota, openat_mode=self.ctx.cfg.system.openat_mode,
                    sniff_cache=self.sniff_cache)
        try:
            yield jail
        finally:
            self._report_change(view, quota.changed)

    def run(self, func, *args):
        """``func(*args)`` in a native thread; the hub keeps serving everyone else."""
        return in_thread(func, *args)

    def send(self, stream):
        """The bytes of an open ``ReadStream``, read off the hub; closes it at the end or
        when the client goes away."""
        try:
            while True:
                chunk = self.run(stream.read, TRANSFER_CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            stream.close()

    def response(self, stream, content_type, filename=None):
        """A streamed response of an open ``ReadStream``: exactly the size it had when
        opened, as an attachment named ``filename`` when given. A single-range ``Range``
        request (``bytes=a-b``, ``a-``, ``-n``) gets that slice as a 206; a range past the
        end is a 416; any other ``Range`` is ignored (the whole file, RFC 9110 §14.2)."""
        wanted = http.byte_range(bottle.request.get_header("Range"), stream.size)
        if wanted is http.UNSATISFIABLE:
            stream.close()
            response = bottle.HTTPResponse(status=416, body="")
            response.set_header("Content-Range", "bytes */%d" % stream.size)
            return response
        if wanted is None:
            response = bottle.HTTPResponse(body=self.send(stream))
            response.set_header("Content-Length", str(stream.size))
        else:
            start, end = wanted
            stream.limit_to(start, end - start + 1)
            response = bottle.HTTPResponse(status=206, body=self.send(stream))
            response.set_header("Content-Length", str(end - start + 1))
            response.set_header("Content-Range", "bytes %d-%d/%d" % (start, end, stream.size))
        response.set_header("Accept-Ranges", "bytes")
        if filename is not None:
            response.set_header("Content-Disposition", http.attachment(filename))
        response.content_type = content_type
        return response

    def listing(self, view, directory):
        """The entries of ``directory`` as a JSON array, streamed in batches; the directory
        is read now, so errors (a missing directory) are raised here."""
        with self.jail(view) as jail:
            listing = self.run(jail.open_listing, directory)
        return self._listing_body(view, directory, listing)

    def _listing_body(self, view, directory, listing):
        def ask_worker(names):
            return self.ctx.client.ask(commands.LIST_ENTRIES, view.uuid,
                                       {"directory": directory, "names": names},
                                       timeout=HELP_TIMEOUT)

        try:
            yield b"["
            separator = b""
            shared = SharedListing(listing, ask_worker, self.run, view.uuid)
            for members in shared.members():
                if members:
                    yield separator + members
                    separator = b","
            yield b"]"
        finally:
            listing.close()

    def receive(self, writer, read, length):
        """Copy ``length`` bytes from ``read(n)`` (the request body, read on the hub) into
        ``writer`` (a ``WriteStream``, written off the hub), then commit; a failure on
        either side aborts and leaves the old file as it was, and so does a body that
        ends before ``length`` bytes (Wings would leave a shorter file)."""
        sink = WriteBehind(writer)
        left = length
        try:
            while left > 0:
                chunk = read(min(TRANSFER_CHUNK, left))
                if not chunk:
                    raise errors.IncompleteBody(detail="%d bytes short" % left)
                sink.write(chunk)
                left -= len(chunk)
            sink.commit()
        except BaseException:
            sink.abort()
            raise
        return writer.written

    def _worker_usage(self, view):
        return self.ctx.client.call(commands.DISK_USAGE, view.uuid,
                                    timeout=USAGE_TIMEOUT)["usage"]

    def _report_change(self, view, delta):
        if not delta:
            return
        try:
            self.ctx.client.call(commands.DISK_ADJUST, view.uuid, {"delta": delta},
                                 timeout=USAGE_TIMEOUT)
        except errors.WingspanError as e:
            # The worker's next walk corrects its figure; the file operation itself succeeded.
            log.warning("disk usage change of %s not reported: %s", view.uuid, e)


class _CountingQuota(Quota):
    """A quota that remembers the net change made through it (its usage is clamped at
    zero, so a delete on a jail that never learnt the real usage would lose the figure)."""

    def __init__(self, limit_bytes=0):
        super().__init__(limit_bytes)
        self.changed = 0

    def add(self, size):
        self.changed += size
        super().add(size)
