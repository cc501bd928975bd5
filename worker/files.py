"""The server's files as its worker needs them: root directory, disk usage and quota,
egg configuration files and ownership before a start.

Disk walks are ``wingspan.filesystem.DiskUsage``'s, run in a native thread so a huge tree
never stalls the console or the bus (wings-behaviour.md §4.3).
"""

import logging

from gevent.threadpool import ThreadPool, ThreadPoolExecutor

from wingspan import errors
from wingspan.filesystem import DiskUsage, Jail, Quota, in_thread, lchown_tree
from wingspan.filesystem.mime import SniffCache
from wingspan.roots import server_root
from worker.configfiles import PlaceholderContext, apply_config_file, plan_files

log = logging.getLogger(__name__)


class ServerFiles:
    def __init__(self, cfg, definition):
        self.cfg = cfg
        self.root = server_root(cfg, definition.uuid)
        self.definition = definition
        self.quota = Quota(definition.disk_limit_bytes())
        # The disk walks' thread also fixes ownership before a start: every running server
        # has it, and a thread of its own would cost each started worker 0.2 MiB.
        self.disk_thread = ThreadPoolExecutor(max_workers=1)
        self.disk = DiskUsage(self.root, self.quota, cfg.system.disk_check_interval,
                              self.disk_thread)
        # the MIME types of the files this worker listed for the API (empty until then)
        self.sniff_cache = SniffCache(cfg.wingspan.mime_cache_entries)
        # One thread for the API's listing batches: it sends the next batch before this one
        # is done, and two threads would only contend for the GIL. Made at the first
        # listing: many servers' files are never listed, and a pool costs a worker 0.1 MiB.
        self._listing_thread = None
        self._quota_listeners = []

    def apply_definition(self, definition):
        self.definition = definition
        limit = definition.disk_limit_bytes()
        if limit != self.quota.limit:
            self.quota.limit = limit
            self._quota_changed()

    def on_quota_change(self, listener):
        """Call ``listener()`` after the limit changed (a sync) or the API or SFTP process
        reported bytes written or freed; the walks' results are their callers' to check."""
        self._quota_listeners.append(listener)

    def _quota_changed(self):
        for listener in self._quota_listeners:
            listener()

    def jail(self):
        user = self.cfg.system.user
        return Jail(self.root, user.uid, user.gid, self.definition.file_denylist,
                    quota=self.quota, openat_mode=self.cfg.system.openat_mode,
                    sniff_cache=self.sniff_cache)

    def list_entries(self, directory, names):
        """The Stat objects of entries ``names`` of ``directory`` as JSON array members,
        listed in the listing thread (batches queue there, one after the other)."""
        if self._listing_thread is None:
            self._listing_thread = ThreadPool(1)
        return in_thread(self._list_entries, directory, names, pool=self._listing_thread)

    def _list_entries(self, directory, names):
        with self.jail().open_listing(directory, scan=False) as listing:
            return listing.encoded(names)

    # -- disk usage ---------------------------------------------------------------------

    def has_limit(self):
        return self.quota.limit > 0

    def usage_bytes(self):
        return self.quota.usage

    def adjust_usage(self, delta):
        """Account for ``delta`` bytes another process wrote (negative: freed) here."""
        self.quota.add(delta)
        self._quota_changed()

    def has_space(self, allow_stale=True):
        return self.disk.has_space(allow_stale)

    def refresh_usage_in_background(self):
        """Start a disk walk unless one runs; returns the walk's future (None: walks are
        off)."""
        return self.disk.refresh_in_background()

    def usage_walk_interval(self):
        """Seconds between disk walks while the server runs (0: never)."""
        return self.disk.interval

    # -- before a start -----------------------------------------------------------------

    def write_config_files(self, configs):
        """Apply the egg's configuration-file edits through the jail (§8); a file that
        cannot be edited is left alone and the start goes on, as in Wings."""
        files = plan_files(configs)
        if not files:
            return
        context = PlaceholderContext.from_settings(self.definition.raw["settings"],
                                                   self.cfg.placeholder_view())
        jail = self.jail()
        for planned in files:
            try:
                content = jail.read_bytes(planned.path, self.cfg.wingspan.config_file_max_bytes)
                updated = apply_config_file(planned.parser, content, planned.replacements,
                                            context, self.cfg.wingspan.config_file_max_bytes)
                jail.write_bytes(planned.path, updated)
            except errors.WingspanError as e:
                log.warning("configuration file %s not updated: %s", planned.path,
                            e.detail or e.public_message)

    def fix_ownership(self):
        """``lchown`` the whole tree to the container user (symlinks are not followed), on
        the disk thread: after a walk already under way there."""
        user = self.cfg.system.user
        in_thread(lchown_tree, self.root, user.uid, user.gid, pool=self.disk_thread)
