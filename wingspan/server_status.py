"""What both the worker and the API process know of a server beyond its definition: its
power state and the long operations that make it busy (wings-behaviour.md §2.1–2.2)."""

OFFLINE = "offline"


class ServerStatus:
    """A server's definition, power state and busy flags; the worker owns them, the API
    process mirrors them from the worker's events."""

    def __init__(self, definition):
        self.definition = definition
        self.state = OFFLINE
        self.installing = False
        self.transferring = False
        self.restoring = False

    @property
    def uuid(self):
        return self.definition.uuid

    @property
    def suspended(self):
        """Suspended by the Panel, or while a backup is restored over its files."""
        return self.definition.suspended or self.restoring
