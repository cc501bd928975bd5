"""Websocket sessions grouped by server, and the delivery of worker events to them.

Frames are encoded once per event, JSON and websocket framing both, and shared by every
session of the server, so two hundred viewers of a flooding console cost one encoding per
line, not two hundred.
"""

import json
import logging
import time
from collections import defaultdict
from json.encoder import encode_basestring_ascii

from api.outbox import text_frame

log = logging.getLogger(__name__)

# High-volume output a viewer who cannot keep up may miss (see api/outbox.py).
SKIPPABLE = ("console", "install output")
# Output older than this when it reaches the API is not fanned out: on a machine too busy
# for the API to keep up with a flood, the backlog would otherwise grow in the event queue
# without bound, and every viewer would watch ever older output.
STALE_OUTPUT_SECONDS = 3.0
# ...and the API counts as caught up again once output arrives this fresh.
CAUGHT_UP_SECONDS = 1.0


def frame(event, args=None):
    """One outbound frame as Wings writes it: a JSON object and a newline (§10.2)."""
    message = {"event": event}
    if args:
        message["args"] = args
    return json.dumps(message) + "\n"


def line_frames(event, lines):
    """``[frame(event, [line]) for line in lines]``, each put together from its JSON string:
    a flooding console sends tens of thousands of lines a second, and the JSON encoder's
    way through a dict and a list for each of them was most of the API's work."""
    head, _, tail = frame(event, [""]).rpartition('""')  # the frame's shape, from frame()
    return [head + encode_basestring_ascii(line) + tail for line in lines]


class Delivery:
    """Frames for one worker event, with who may see them.

    ``permission`` is None when every authenticated viewer may see the frames.
    """

    __slots__ = ("name", "frames", "permission", "data", "wire", "skippable")

    def __init__(self, name, frames, permission=None, data=None):
        self.name = name
        self.frames = frames
        self.permission = permission
        self.data = data
        # every frame of the event, framed for the wire once for all viewers: a console
        # batch costs each viewer one append, whatever its number of lines
        self.wire = b"".join(text_frame(text) for text in frames)
        self.skippable = name in SKIPPABLE


def deliveries(name, data):
    """Translate a worker event into websocket frames (wings-api.md §10.8)."""
    if name == "console":
        return Delivery(name, line_frames("console output", data))
    if name == "status":
        return Delivery(name, [frame("status", [data])])
    if name == "stats":
        return Delivery(name, [frame("stats", [json.dumps(data)])])
    if name == "install output":
        lines = data if isinstance(data, list) else [data]
        return Delivery(name, line_frames("install output", lines),
                        permission="admin.websocket.install")
    if name in ("install started", "install completed", "backup restore completed"):
        return Delivery(name, [frame(name, [""])])
    if name == "daemon message":
        return Delivery(name, [frame("daemon message", [data])])
    if name == "transfer logs":
        return Delivery(name, [frame(name, [data])], permission="admin.websocket.transfer")
    if name == "transfer status":
        return Delivery(name, [frame(name, [data])])
    if name == "backup completed":
        return Delivery(name, [frame("backup completed:%s" % data.get("uuid", ""),
                                     [json.dumps(data)])], permission="backup.read")
    if name == "deleted":
        return Delivery(name, [frame("deleted", ["null"])])
    if name in ("power error", "definition"):
        return Delivery(name, [], data=data)
    return None


class Hub:
    """The websocket sessions of each server.

    ``on_watch(uuid, watched)`` is told when a server gets its first session and when it
    loses its last one (the registry follows the stats of watched servers only).
    """

    def __init__(self, clock=time.time, on_watch=lambda uuid, watched: None):
        self.sessions = defaultdict(set)
        self.clock = clock
        self.on_watch = on_watch
        self.late_skipped = 0  # in the current episode of lateness

    def join(self, uuid, session):
        members = self.sessions[uuid]
        members.add(session)
        if len(members) == 1:
            self.on_watch(uuid, True)

    def leave(self, uuid, session):
        members = self.sessions.get(uuid)
        if members is not None and session in members:
            members.discard(session)
            if not members:
                del self.sessions[uuid]
                self.on_watch(uuid, False)

    def count(self, uuid):
        return len(self.sessions.get(uuid, ()))

    def members(self, uuids=()):
        """The sessions of the servers ``uuids`` (any case), of every server when empty."""
        wanted = {uuid.lower() for uuid in uuids}
        return [session for uuid, members in list(self.sessions.items())
                if not wanted or uuid.lower() in wanted for session in list(members)]

    def dispatch(self, uuid, name, data, published):
        members = self.sessions.get(uuid)
        if not members:
            return
        if name in SKIPPABLE and not self._on_time(uuid, published):
            return
        delivery = deliveries(name, data)
        if delivery is None:
            return
        for session in list(members):
            session.deliver(delivery)

    def _on_time(self, uuid, published):
        late = self.clock() - published
        if late > STALE_OUTPUT_SECONDS:
            if not self.late_skipped:
                log.warning("output of %s reached the API %.1fs late; skipping late output "
                            "until the API catches up", uuid, late)
            self.late_skipped += 1
            return False
        if self.late_skipped and late <= CAUGHT_UP_SECONDS:
            log.warning("the API caught up; %d late output batches were skipped",
                        self.late_skipped)
            self.late_skipped = 0
        return True
