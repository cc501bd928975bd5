"""The stats loop: resource usage every second while the server runs (wings-behaviour.md §4).

Figures come from the container's cgroup files and ``/proc/<pid>/net/dev`` (see
``worker.stats``), not from Docker's stats endpoint, which costs a second of latency and CPU
in dockerd per call. While running, the loop also enforces the disk limit: a server over
its limit is told so and stopped, once per start.
"""

import logging
import time
from datetime import datetime

import gevent

from worker.server import OFFLINE, STARTING
from worker.stats import StatsReader, StatsUnavailable, usage_object, zero_usage

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
    """Publishes ``stats`` events and keeps the latest usage object."""

    def __init__(self, server, environment, files, on_over_limit):
        self.server = server
        self.files = files
        self.on_over_limit = on_over_limit
        self.memory_limit = 0
        self.last = zero_usage(0, server.state, 0)
        self._loop = None
        self._disk_trigger_armed = True
        environment.on_attach(self._attached)
        server.on_state_change(self._state_changed)

    def current(self):
        """The usage object now, with a fresh disk figure (API ``utilization``)."""
        self.last["disk_bytes"] = self.files.usage_bytes()
        self.last["state"] = self.server.state
        return dict(self.last)

    def _attached(self, info):
        if self._loop is not None:
            self._loop.kill(block=False)
        reader = StatsReader(info["State"]["Pid"], info["Id"], started_at_epoch(info))
        self._loop = gevent.spawn(self._run, reader)

    def _run(self, reader):
        try:
            while self.server.state != OFFLINE:
                try:
                    sample = reader.sample(time.time())
                except StatsUnavailable:
                    return
                self.memory_limit = sample["memory_limit_bytes"]
                self.last = usage_object(sample, self.server.state, self.files.usage_bytes())
                self.server.publish("stats", self.last)
                self._enforce_disk_limit()
                gevent.sleep(INTERVAL)
        finally:
            reader.close()

    def _enforce_disk_limit(self):
        if self._disk_trigger_armed and not self.files.has_space(allow_stale=True):
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
            self.last = zero_usage(self.memory_limit, OFFLINE, self.files.usage_bytes())
            self.server.publish("stats", self.last)
