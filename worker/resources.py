"""Resource usage while the server runs (wings-behaviour.md §4): ``stats`` events every
second to whoever watches, the usage figure on request, and the disk-limit watchdog.

Figures come from the container's cgroup files and ``/proc/<pid>/net/dev`` (see
``worker.stats``), not from Docker's stats endpoint, which costs a second of latency and CPU
in dockerd per call. While running, the server's disk is walked every
``disk_check_interval`` and a server over its limit is told so and stopped, once per start.

Most of a node's servers run with nobody watching them, and a timer per server waking its
worker every second cost a node with hundreds of them several percent of a core. So the
one-second loop runs only while someone follows the server's stats (the API, while a
websocket watches it): the worker's publisher says when that starts and ends. Otherwise a
figure is sampled when asked for; its CPU share is then the average since the sample
before. The loop runs in the hub, as a repeating timer's callback (no greenlet switched
into per tick), and writes its JSON straight from the sample.
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
    """Publishes ``stats`` events while followed, keeps the latest sample, watches the disk."""

    def __init__(self, server, environment, files, on_over_limit):
        self.server = server
        self.files = files
        self.on_over_limit = on_over_limit
        self.memory_limit = 0
        self._sample = None  # the latest sample while the server runs
        self._sampled_at = None  # when it was taken (monotonic seconds)
        self._reader = None  # while attached
        self._ticks = None  # the one-second loop, while attached and followed
        self._disk_checks = None  # the disk walks' timer, while attached
        self._disk_trigger_armed = True
        self._stats_topic = envelope.topic(server.uuid, envelope.STATS)
        environment.on_attach(self._attached)
        server.on_state_change(self._state_changed)
        server.on_followers_change(self._follow_or_not)
        files.on_quota_change(self._enforce_disk_limit)

    def current(self):
        """The usage object now, with the disk counter (API ``utilization``); sampled anew
        when the latest sample is a tick old."""
        if self._reader is not None and time.monotonic() - self._sampled_at >= INTERVAL:
            self._take_sample()
        disk_bytes = self.files.usage_bytes()
        if self._sample is None:
            return zero_usage(self.memory_limit, self.server.state, disk_bytes)
        return usage_object(self._sample, self.server.state, disk_bytes)

    def _attached(self, info):
        self._end_sampling()
        self._stop_disk_checks()
        self._reader = StatsReader(info["State"]["Pid"], info["Id"], started_at_epoch(info))
        self._take_sample()  # the first sample, which later CPU shares are measured from
        self._watch_disk()
        self._follow_or_not()

    def _follow_or_not(self):
        """Run the one-second loop exactly while the server is sampled and followed."""
        wanted = self._reader is not None and self.server.followed(self._stats_topic)
        if wanted and self._ticks is None:
            self._ticks = gevent.get_hub().loop.timer(INTERVAL, INTERVAL)
            self._ticks.start(self._tick)
        elif not wanted and self._ticks is not None:
            self._stop_ticks()

    def _tick(self):
        sample = self._take_sample()
        if sample is None:
            return
        try:
            self.server.publish_encoded("stats", usage_json(
                sample, self.server.state, self.files.usage_bytes()))
        except Exception:
            self._failed()

    def _take_sample(self):
        """Sample the container now; None (and sampling ended) once it is gone."""
        if self.server.state == OFFLINE:
            self._end_sampling()
            return None
        try:
            sample = self._reader.sample(time.time())
        except StatsUnavailable:
            self._end_sampling()
            return None
        except Exception:
            self._failed()
            return None
        self.memory_limit = sample["memory_limit_bytes"]
        self._sample, self._sampled_at = sample, time.monotonic()
        return sample

    def _failed(self):
        # A bug must not repeat every second, nor fail the attach or the API's request:
        # sampling ends, as a crashed loop would, and the last sample is kept.
        log.exception("stats sampling of %s failed", self.server.uuid)
        self._end_sampling()

    def _watch_disk(self):
        interval = self.files.usage_walk_interval()
        if interval > 0:
            self._disk_checks = gevent.get_hub().loop.timer(0.0, interval)
            self._disk_checks.start(self._walk_disk)

    def _walk_disk(self):
        walk = self.files.refresh_usage_in_background()
        if walk is not None:
            walk.add_done_callback(lambda _walk: self._enforce_disk_limit())

    def _enforce_disk_limit(self):
        """Stop a running server found over its limit, once per start. Checked when the
        figures move (a walk ended, a sync changed the limit, another process wrote)
        rather than every second."""
        if self._disk_checks is None or not self._disk_trigger_armed:
            return  # not running (or walks are off: always space), or told once this start
        if not self.files.has_space(allow_stale=True):
            self._disk_trigger_armed = False
            # this may run in the hub, as a walk's callback; the stop waits, so it may not
            gevent.spawn(self._stop_over_limit)

    def _stop_ticks(self):
        ticks, self._ticks = self._ticks, None
        if ticks is not None:
            ticks.close()

    def _end_sampling(self):
        self._stop_ticks()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _stop_disk_checks(self):
        # apart from sampling: figures that cannot be read do not leave a disk unwatched
        disk_checks, self._disk_checks = self._disk_checks, None
        if disk_checks is not None:
            disk_checks.close()

    def _stop_over_limit(self):
        self.server.daemon_message(OVER_LIMIT)
        self.on_over_limit()

    def _state_changed(self, old, new):
        if new == STARTING:
            self._disk_trigger_armed = True
        elif new == OFFLINE:
            self._end_sampling()
            self._stop_disk_checks()
            self._sample = None
            self.server.publish("stats", self.current())
