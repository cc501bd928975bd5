"""The worker's view of its game server: definition, state, busy flags and event output.

Everything the worker learns or decides about the server goes out through this object as
an event on ``server.<uuid>.<event>``; the API process turns those into websocket frames
and its status cache. States (wings-behaviour.md §2.1)::

    offline -> starting -> running -> stopping -> offline
"""

import logging

from wingspan.server_status import OFFLINE, ServerStatus
from worker.console import daemon_line

log = logging.getLogger(__name__)

STARTING = "starting"
RUNNING = "running"
STOPPING = "stopping"
STATES = (OFFLINE, STARTING, RUNNING, STOPPING)


class Server(ServerStatus):
    """One game server as its worker sees it.

    Args:
        definition: ``wingspan.server_config.ServerDefinition`` from the Panel.
        cfg: the node config.
        publisher: ``wingspan.bus.Publisher`` for this worker's events.
        console: ``worker.output.ConsoleOutput``; daemon lines go through it so they keep
            their place among the game's own lines.
    """

    def __init__(self, definition, cfg, publisher):
        super().__init__(definition)
        self.cfg = cfg
        self.publisher = publisher
        self.console = None
        self._state_listeners = []

    def on_state_change(self, listener):
        """Call ``listener(old, new)`` after every real state change."""
        self._state_listeners.append(listener)

    def set_state(self, new):
        if new not in STATES:
            raise ValueError("unknown server state %r" % new)
        old = self.state
        if new == old:
            return
        self.state = new
        log.info("state %s -> %s", old, new)
        self.publish("status", new)
        for listener in self._state_listeners:
            listener(old, new)

    def publish(self, event, data=None):
        self.publisher.publish(self.uuid, event, data)

    def followed(self, topic):
        """Whether anyone takes this server's events on ``topic`` (``envelope.topic``)."""
        return self.publisher.followed(topic)

    def on_followers_change(self, listener):
        """Call ``listener()`` (in the hub) when someone starts or stops taking some of
        this worker's events."""
        self.publisher.on_followers_change(listener)

    def publish_encoded(self, event, data_json):
        """:meth:`publish` for data already encoded as JSON (UTF-8 bytes)."""
        self.publisher.publish_encoded(self.uuid, event, data_json)

    def daemon_message(self, text):
        """A ``[Pterodactyl Daemon]:`` console line (wings-behaviour.md §5.5)."""
        line = daemon_line(self.cfg.app_name, text)
        if self.console is not None:
            self.console.daemon_line(line)
        else:
            self.publish("console", [line])

    def set_flag(self, name, value):
        """Set ``installing``/``transferring``/``restoring`` and tell the API."""
        setattr(self, name, value)
        self.publish("flags", {name: value})

    def busy_reason(self):
        """Why power actions are refused right now, or None (priority per §2.2)."""
        if self.restoring:
            return "server is currently being restored"
        if self.transferring:
            return "server is currently being transferred"
        if self.installing:
            return "server is currently installing"
        return None

    def replace_definition(self, definition):
        """Adopt a fresh definition from the Panel and tell the other processes."""
        self.definition = definition
        self.publish("definition", definition.to_panel_doc())
