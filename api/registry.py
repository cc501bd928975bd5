"""The API process's picture of every server, kept current by the workers' events.

The picture starts from the supervisor's server list and a snapshot of each worker, and is
then updated by ``status``, ``definition`` and ``flags`` events. When a worker
(re)connects the supervisor announces it and the view is refreshed.

Resource usage is followed only where someone watches: a server's ``stats`` events are
subscribed to while a websocket of it is open, and otherwise its usage is asked of its
worker when a request needs it (``GET /api/servers``, ``/metrics``). A node of idle,
unwatched servers then moves no stats over the bus at all.
"""

import logging

import gevent

from wingspan import commands, envelope, errors
from wingspan.server_config import ServerDefinition
from wingspan.server_status import OFFLINE, ServerStatus
from wingspan.usage import zero_usage

log = logging.getLogger(__name__)

SNAPSHOT_TIMEOUT = 5.0
# A worker answers from memory; one that does not within this is shown with its last usage.
UTILIZATION_TIMEOUT = 2.0


class ServerView(ServerStatus):
    """What the API knows about one server."""

    def __init__(self, definition):
        super().__init__(definition)
        self.utilization = zero_usage(0, OFFLINE, 0)

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

    def __init__(self, cfg, client, feed):
        self.cfg = cfg
        self.client = client
        self.feed = feed
        self.views = {}
        self._followed = set()  # servers whose stats events are subscribed to
        self._live = set()  # ...of which one has arrived since: their usage is current

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
        if uuid in self._followed:
            self.follow_stats(uuid, False)
        return self.views.pop(uuid, None)

    def follow_stats(self, uuid, follow):
        """Subscribe to a server's ``stats`` events (a websocket of it opened) or stop."""
        topic = envelope.topic(uuid, envelope.STATS)
        if follow and uuid not in self._followed:
            self._followed.add(uuid)
            self.feed.subscribe(topic)
        elif not follow and uuid in self._followed:
            self._followed.discard(uuid)
            self._live.discard(uuid)
            self.feed.unsubscribe(topic)

    def utilization(self, view):
        """The server's usage object, current: from its stats events while they are
        followed, else asked of its worker (the last one known when the worker cannot
        answer: it is starting, or gone)."""
        if view.uuid not in self._live:
            try:
                view.utilization = self.client.call(commands.UTILIZATION, view.uuid,
                                                    timeout=UTILIZATION_TIMEOUT)
            except errors.WingspanError as e:
                log.debug("usage of %s not refreshed: %s", view.uuid, e)
        return view.utilization

    def refresh_utilizations(self, views):
        """:meth:`utilization` of many servers, asked of their workers all at once."""
        gevent.joinall([gevent.spawn(self.utilization, view) for view in views])

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
        elif name == envelope.STATS:
            # one queued before an unsubscription may still arrive
            if uuid in self._followed:
                view.utilization = data
                self._live.add(uuid)
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
