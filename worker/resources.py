"""The stats loop: resource usage every second while the server runs (wings-behaviour.md §4).

Figures come from the container's cgroup files and ``/proc/<pid>/net/dev`` (see
``worker.stats``), not from Docker's stats endpoint, which costs a second of latency and CPU
in dockerd per call. While running, the loop also enforces the disk limit: a server over
its limit is told so and stopped, once per start.

Each of a node's idle servers wakes its worker once a second for this loop alone, so a tick
does as little as it can: one repeating timer runs it in the hub (no timer made and no
greenlet switched into per tick), the event is published only while someone follows it,
and its JSON is written straight from the sample; the usage object the API asks for is
built only when asked.
"""

import logging
import time
from datetime import datetime

import gevent

from wingspan import envelope
from wingspan.usage import usage_json, usage_object, zero_usage
from worker.server import OFFLINE, STARTING
from worker.stats import StatsReader, StatsUnavailable

log = logging.getLogger(__name__)

INTERVAL = 1.0
OVER_LIMIT = "Server is exceeding the assigned disk space limit, stopping process now."
DISK_STOP_TIMEOUT = 60


def started_at_epoch(info):
    """Docker's ``State.StartedAt`` (RFC 3339 with nanoseconds) as epoch seconds."""
    raw = info["State"].get("StartedAt") or ""
    if not raw or raw.startswith("0001-"):
        return time.time()
    head, _, fraction = raw.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(head + "+00:00").timestamp()
    return stamp + (float("0." + fraction[:6]) if fraction else 0.0)


class ResourceMonitor:
    """Publishes ``stats`` events and keeps the latest sample."""

    def __init__(self, server, environment, files, on_over_limit):
        self.server = server
        self.files = files
        self.on_over_limit = on_over_limit
        self.memory_limit = 0
        self._sample = None  # the latest sample while the server runs
        self._timer = None  # the sampling timer while attached
        self._reader = None
        self._disk_trigger_armed = True
        self._stats_topic = envelope.topic(server.uuid, envelope.STATS)
        environment.on_attach(self._attached)
        server.on_state_change(self._state_changed)

    def current(self):
        """The usage object now, with a fresh disk figure (API ``utilization``)."""
        disk_bytes = self.files.usage_bytes()
        if self._sample is None:
            return zero_usage(self.memory_limit, self.server.state, disk_bytes)
        return usage_object(self._sample, self.server.state, disk_bytes)

    def _attached(self, info):
        self._end_sampling()
        self._reader = StatsReader(info["State"]["Pid"], info["Id"], started_at_epoch(info))
        # The tick runs in the hub, as the timer's callback: switching into a greenlet of its
        # own at every tick cost an idle worker more CPU than the sample itself. Nothing in a
        # tick waits (kernel files, a publish that never blocks, a disk check that allows a
        # stale figure), and what may wait, the stop over the disk limit, gets a greenlet.
        self._timer = gevent.get_hub().loop.timer(0.0, INTERVAL)
        self._timer.start(self._tick)

    def _tick(self):
        try:
            self._sample_once()
        except Exception:
            # A bug must not repeat every second: sampling ends, as a crashed loop would.
            log.exception("stats sampling of %s failed", self.server.uuid)
            self._end_sampling()

    def _sample_once(self):
        if self.server.state == OFFLINE:
            self._end_sampling()
            return
        try:
            sample = self._reader.sample(time.time())
        except StatsUnavailable:
            self._end_sampling()
            return
        self.memory_limit = sample["memory_limit_bytes"]
        self._sample = sample
        # Most servers are watched by nobody most of the time: their stats are kept for
        # whoever asks (current()), not encoded and sent to be dropped.
        if self.server.followed(self._stats_topic):
            self.server.publish_encoded("stats", usage_json(
                sample, self.server.state, self.files.usage_bytes()))
        if self._disk_trigger_armed and not self.files.has_space(allow_stale=True):
            self._disk_trigger_armed = False
            gevent.spawn(self._stop_over_limit)

    def _end_sampling(self):
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _stop_over_limit(self):
        self.server.daemon_message(OVER_LIMIT)
        self.on_over_limit()

    def _state_changed(self, old, new):
        if new == STARTING:
            self._disk_trigger_armed = True
        elif new == OFFLINE:
            self._end_sampling()
            self._sample = None
            self.server.publish("stats", self.current())
