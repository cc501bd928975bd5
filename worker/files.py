"""The server's files as its worker needs them: root directory, disk usage and quota,
egg configuration files and ownership before a start.

Disk walks run in a native thread (gevent's threadpool) so a huge tree never stalls the
console or the bus; only one walk runs at a time and its result is cached for
``system.disk_check_interval`` seconds (wings-behaviour.md §4.3).
"""

import logging
import os
import time

import gevent
import gevent.lock

from wingspan import errors
from wingspan.filesystem import Jail, disk_usage, lchown_tree
from worker.configfiles import PlaceholderContext, apply_config_file, plan_files

log = logging.getLogger(__name__)


class ServerFiles:
    def __init__(self, cfg, definition):
        self.cfg = cfg
        self.root = os.path.join(cfg.system.data, definition.uuid)
        self.definition = definition
        self.limit = definition.disk_limit_bytes()
        self.usage = 0
        self.checked_at = None
        self._walk_lock = gevent.lock.Semaphore()
        self._background = None

    def apply_definition(self, definition):
        self.definition = definition
        self.limit = definition.disk_limit_bytes()

    def ensure_root(self):
        """Create the server's data directory (0755, owned by the container user)."""
        if not os.path.isdir(self.root):
            os.makedirs(self.root, mode=0o755, exist_ok=True)
            user = self.cfg.system.user
            os.chown(self.root, user.uid, user.gid)

    def jail(self):
        user = self.cfg.system.user
        return Jail(self.root, user.uid, user.gid, self.definition.file_denylist)

    # -- disk usage ---------------------------------------------------------------------

    def has_limit(self):
        return self.limit > 0

    def usage_bytes(self):
        return self.usage

    def has_space(self, allow_stale=True):
        if not self.has_limit() or self.cfg.system.disk_check_interval == 0:
            return True
        if self._stale():
            if allow_stale:
                self.refresh_usage_in_background()
            else:
                self.refresh_usage()
        return self.usage <= self.limit

    def refresh_usage(self):
        """Walk the tree now (in a native thread) and return the usage in bytes."""
        with self._walk_lock:
            pool = gevent.get_hub().threadpool
            try:
                self.usage = pool.apply(disk_usage, (self.root,))
            except OSError as e:
                log.warning("disk usage walk failed: %s", e)
            self.checked_at = time.monotonic()
        return self.usage

    def refresh_usage_in_background(self):
        if self.cfg.system.disk_check_interval == 0:
            return
        if self._background is None or self._background.dead:
            self._background = gevent.spawn(self.refresh_usage)

    def _stale(self):
        interval = self.cfg.system.disk_check_interval
        return self.checked_at is None or time.monotonic() - self.checked_at > interval

    # -- before a start -----------------------------------------------------------------

    def write_config_files(self, configs):
        """Apply the egg's configuration-file edits through the jail (§8); a file that
        cannot be edited is left alone and the start goes on, as in Wings."""
        context = PlaceholderContext.from_settings(self.definition.raw["settings"],
                                                   self.cfg.placeholder_view())
        jail = self.jail()
        for planned in plan_files(configs):
            try:
                content = jail.read_bytes(planned.path, self.cfg.wingspan.config_file_max_bytes)
                updated = apply_config_file(planned.parser, content, planned.replacements,
                                            context, self.cfg.wingspan.config_file_max_bytes)
                jail.write_bytes(planned.path, updated)
            except errors.WingspanError as e:
                log.warning("configuration file %s not updated: %s", planned.path,
                            e.detail or e.public_message)

    def fix_ownership(self):
        """``lchown`` the whole tree to the container user (symlinks are not followed)."""
        user = self.cfg.system.user
        gevent.get_hub().threadpool.apply(lchown_tree, (self.root, user.uid, user.gid))
