"""The last known state of every server, kept on disk across daemon and host restarts.

``<system.root_directory>/states.json`` is ``{"<uuid>": "<state>"}`` as in Wings. At boot a
server whose container is gone or exited but whose saved state was ``running`` or
``starting`` is started again (the host rebooted under it).
"""

import json
import logging
import os

log = logging.getLogger(__name__)

RESTORE_STATES = ("running", "starting")


class StateFile:
    def __init__(self, path):
        self.path = path
        self.states = {}

    def load(self, known_uuids):
        """Read the file, keeping only servers that still exist; a broken file is empty."""
        try:
            with open(self.path) as f:
                saved = json.load(f)
        except FileNotFoundError:
            saved = {}
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable %s: %s", self.path, e)
            saved = {}
        if not isinstance(saved, dict):
            saved = {}
        self.states = {u: s for u, s in saved.items() if u in known_uuids and isinstance(s, str)}
        return dict(self.states)

    def set(self, uuid, state):
        """Record a state; returns True when it changed (and so needs saving)."""
        if self.states.get(uuid) == state:
            return False
        self.states[uuid] = state
        return True

    def forget(self, uuid):
        self.states.pop(uuid, None)

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.states, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)
