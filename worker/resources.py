"""The stats loop: resource usage every second while the server runs (wings-behaviour.md §4).

Figures come from the container's cgroup files and ``/proc/<pid>/net/dev`` (see
``worker.stats``), not from Docker's stats endpoint, which costs a second of latency and CPU
in dockerd per call. While running, the loop also enforces the disk limit: a server over
its limit is told so and stopped, once per start.

Each of a node's idle servers wakes its worker once a second for this loop alone, so a tick
does as little as it can: one repeating timer wakes the loop (no timer made per tick), and
the event's JSON is written straight from the sample; the usage object the API asks for is
built only when asked.
"""

import logging
import time
from datetime import datetime

import gevent
from gevent.hub import Waiter

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
        self._loop = None
        self._disk_trigger_armed = True
        environment.on_attach(self._attached)
        server.on_state_change(self._state_changed)

    def current(self):
        """The usage object now, with a fresh disk figure (API ``utilization``)."""
        disk_bytes = self.files.usage_bytes()
        if self._sample is None:
            return zero_usage(self.memory_limit, self.server.state, disk_bytes)
        return usage_object(self._sample, self.server.state, disk_bytes)

    def _attached(self, info):
        if self._loop is not None:
            self._loop.kill(block=False)
        reader = StatsReader(info["State"]["Pid"], info["Id"], started_at_epoch(info))
        self._loop = gevent.spawn(self._run, reader)

    def _run(self, reader):
        tick = Waiter()
        # A repeating timer keeps the cadence without a new watcher per tick; a tick that
        # comes while the loop is busy waits in the Waiter instead of switching into it.
        timer = gevent.get_hub().loop.timer(0.0, INTERVAL)
        timer.start(tick.switch, None)
        try:
            while True:
                tick.get()
                tick.clear()
                if self.server.state == OFFLINE:
                    return
                try:
                    sample = reader.sample(time.time())
                except StatsUnavailable:
                    return
                self.memory_limit = sample["memory_limit_bytes"]
                self._sample = sample
                self.server.publish_encoded("stats", usage_json(
                    sample, self.server.state, self.files.usage_bytes()))
                if self._disk_trigger_armed and not self.files.has_space(allow_stale=True):
                    self._stop_over_limit()
        finally:
            timer.close()
            reader.close()

    def _stop_over_limit(self):
        self._disk_trigger_armed = False
        self.server.daemon_message(OVER_LIMIT)
        gevent.spawn(self.on_over_limit)

    def _state_changed(self, old, new):
        if new == STARTING:
            self._disk_trigger_armed = True
        elif new == OFFLINE:
            if self._loop is not None:
                self._loop.kill(block=False)
                self._loop = None
            self._sample = None
            self.server.publish("stats", self.current())
