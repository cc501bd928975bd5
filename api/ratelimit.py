"""Inbound websocket rate limits (wings-api.md §16, WebSocket): token buckets per connection,
one ``throttled`` notice per throttling period.

Every frame first takes a token from the connection's global bucket (burst 10, one token per
200 ms), then one from its event's bucket: ``auth`` and ``send logs`` (burst 2, one per 5 s
each), ``send command`` (burst 10, one per second), and one bucket shared by every other event
(burst 4, one per second). A frame refused by the global bucket takes nothing from its event's
bucket. A dropped frame earns a notice only when it starts a period of drops for its bucket;
the period ends at the bucket's next accepted frame.
"""

import time

GLOBAL = "global"
GLOBAL_BUCKET = (10, 0.2)
EVENT_BUCKETS = {"auth": (2, 5.0), "send logs": (2, 5.0), "send command": (10, 1.0)}
OTHER_BUCKET = (4, 1.0)
# Unknown event names share one bucket and one throttling period: keying anything by a
# client-chosen name would let a client grow this connection's memory at will.
_OTHER = object()


class Bucket:
    """A token bucket: ``burst`` tokens at most, one more every ``interval`` seconds."""

    def __init__(self, burst, interval, now):
        self.burst = burst
        self.interval = interval
        self.tokens = float(burst)
        self.updated = now
        self.throttled = False

    def take(self, now):
        """Take one token if there is one; a clock going backwards refills nothing."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed / self.interval)
        self.updated = max(self.updated, now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Limiter:
    """The buckets of one websocket connection."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._buckets = {}

    def allow(self, event, now=None):
        """``(allowed, notice)`` for one inbound frame; ``event`` is None for a frame that is
        not a valid message, which counts against the global bucket only.

        ``notice`` is ``"global"`` or the event's name when this frame starts a throttling
        period (send one ``throttled`` event with it), else None."""
        now = self._clock() if now is None else now
        allowed, notice = self._pass(GLOBAL, GLOBAL_BUCKET, GLOBAL, now)
        if not allowed or event is None:
            return allowed, notice
        key = event if event in EVENT_BUCKETS else _OTHER
        return self._pass(key, EVENT_BUCKETS.get(event, OTHER_BUCKET), event, now)

    def _pass(self, key, shape, name, now):
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(*shape, now)
        if bucket.take(now):
            bucket.throttled = False
            return True, None
        if bucket.throttled:
            return False, None
        bucket.throttled = True
        return False, name
