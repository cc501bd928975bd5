"""The API process's picture of every server, kept current by the workers' events.

``GET /api/servers/:server`` and the websocket auth reply are answered from here without a
round trip to the worker. The picture starts from the supervisor's server list and a
snapshot of each worker, and is then updated by ``status``, ``stats`` and ``definition``
events. When a worker (re)connects the supervisor announces it and the view is refreshed.
"""

import logging

import gevent

from wingspan import commands, errors
from wingspan.server_config import ServerDefinition
from wingspan.server_status import ServerStatus

log = logging.getLogger(__name__)

SNAPSHOT_TIMEOUT = 5.0


def offline_usage(disk_bytes=0):
    return {"memory_bytes": 0, "memory_limit_bytes": 0, "cpu_absolute": 0,
            "network": {"rx_bytes": 0, "tx_bytes": 0}, "uptime": 0, "state": "offline",
            "disk_bytes": disk_bytes}


class ServerView(ServerStatus):
    """What the API knows about one server."""

    def __init__(self, definition):
        super().__init__(definition)
        self.utilization = offline_usage()

    def api_object(self):
        """wings-api.md §4.1."""
        return {
            "state": self.state,
            "is_suspended": self.suspended,
            "utilization": self.utilization,
            "configuration": self.definition.api_configuration(),
        }

    def apply_snapshot(self, snap, crash_default):
        self.definition = ServerDefinition.from_panel(snap["definition"], crash_default)
        self.state = snap["state"]
        self.utilization = snap["utilization"]
        self.installing = snap["installing"]
        self.transferring = snap["transferring"]
        self.restoring = snap["restoring"]


class Registry:
    """Every server of the node, by uuid, in load order."""

    def __init__(self, cfg, client):
        self.cfg = cfg
        self.client = client
        self.views = {}

    def load(self):
        """Fetch the server list from the supervisor, waiting until it answers."""
        while True:
            try:
                listing = self.client.call(commands.LIST_SERVERS, timeout=5.0)
                break
            except errors.WingspanError as e:
                log.warning("waiting for the supervisor: %s", e)
                gevent.sleep(0.5)
        for summary in listing["servers"]:
            self.add(summary)
        for uuid in list(self.views):
            gevent.spawn(self.refresh, uuid)

    def add(self, summary):
        definition = ServerDefinition.from_panel(summary["definition"], self._crash_default())
        view = self.views.get(definition.uuid)
        if view is None:
            view = self.views[definition.uuid] = ServerView(definition)
        else:
            view.definition = definition
        return view

    def get(self, uuid):
        view = self.views.get(uuid)
        if view is None:
            raise errors.ServerNotFound()
        return view

    def remove(self, uuid):
        return self.views.pop(uuid, None)

    def refresh(self, uuid):
        """Replace a view with a fresh snapshot from its worker (when it is reachable)."""
        view = self.views.get(uuid)
        if view is None:
            return
        try:
            snap = self.client.call(commands.SNAPSHOT, uuid, timeout=SNAPSHOT_TIMEOUT)
        except errors.WingspanError as e:
            log.debug("no snapshot for %s yet: %s", uuid, e)
            return
        view.apply_snapshot(snap, self._crash_default())

    def apply_event(self, uuid, name, data):
        view = self.views.get(uuid)
        if view is None:
            return
        if name == "status":
            view.state = data
            view.utilization = dict(view.utilization, state=data)
        elif name == "stats":
            view.utilization = data
        elif name == "definition":
            view.definition = ServerDefinition.from_panel(data, self._crash_default())
        elif name == "flags":
            view.installing = data.get("installing", view.installing)
            view.transferring = data.get("transferring", view.transferring)
            view.restoring = data.get("restoring", view.restoring)
        elif name == "worker" and data == "ready":
            gevent.spawn(self.refresh, uuid)

    def _crash_default(self):
        return self.cfg.system.crash_detection.enabled
