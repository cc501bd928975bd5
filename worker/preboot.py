"""What happens before a server starts, and keeping its definition in step with the Panel.

``prepare`` runs with the power lock held and the state still ``offline``
(wings-behaviour.md §2.3): fresh configuration from the Panel, suspension check, disk
check, egg configuration files, file ownership. A server without a disk limit has nothing
to check; the recalculation Wings starts for it then is the disk watchdog's first walk,
at the attach (``worker.resources``).
"""

import logging

import gevent

from wingspan import container, errors
from wingspan.server_config import ServerDefinition
from worker.server import OFFLINE

log = logging.getLogger(__name__)

CHECKING_DISK = "Checking server disk space usage, this could take a few seconds..."
UPDATING_FILES = "Updating process configuration files..."
FIXING_PERMISSIONS = ("Ensuring file permissions are set correctly, "
                      "this could take a few seconds...")


class PreBoot:
    """Args:
        server: ``worker.server.Server``.
        panel: the Panel client.
        engine: ``wingspan.engine.Engine`` (live resource updates on sync).
        files: ``worker.files.ServerFiles``: disk usage, config files, ownership.
        on_suspended: called when a sync finds a running server suspended.
    """

    def __init__(self, server, panel, engine, files, on_suspended):
        self.server = server
        self.panel = panel
        self.engine = engine
        self.files = files
        self.on_suspended = on_suspended

    def sync(self):
        """Fetch the configuration from the Panel and apply it live where Docker allows."""
        try:
            doc = self.panel.get_server(self.server.uuid)
        except errors.PanelNotFound as e:
            raise errors.PanelNotFound("server does not exist on remote system") from e
        doc = dict(doc, uuid=self.server.uuid)
        definition = ServerDefinition.from_panel(
            doc, self.server.cfg.system.crash_detection.enabled)
        self.server.replace_definition(definition)
        self.files.apply_definition(definition)
        if definition.suspended:
            if self.server.state != OFFLINE:
                gevent.spawn(self.on_suspended)
            return
        self._update_limits(definition)

    def prepare(self):
        self.sync()
        if self.server.suspended:
            raise errors.ServerSuspended("server is currently in a suspended state")
        if self.files.has_limit():
            self._check_disk()
        self.server.daemon_message(UPDATING_FILES)
        self.files.write_config_files(self.server.definition.process.configs)
        if self.server.cfg.system.check_permissions_on_boot:
            self.server.daemon_message(FIXING_PERMISSIONS)
            self.files.fix_ownership()

    def _check_disk(self):
        self.server.daemon_message(CHECKING_DISK)
        if not self.files.has_space(allow_stale=False):
            raise errors.NotEnoughDisk(detail="filesystem: not enough disk space")

    def _update_limits(self, definition):
        resources = container.resource_update(definition, self.server.cfg)
        try:
            # without a container yet (a first start) there is nothing to update, as in
            # Wings: the one created next has the limits
            self.engine.update(self.server.uuid, resources)
        except errors.DockerError as e:
            # a limit Docker cannot change live waits for the next start
            log.info("limits not applied live: %s", e)
