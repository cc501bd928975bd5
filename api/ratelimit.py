"""Websocket inbound rate limits (wings-api.md §16): token buckets, one notice per episode.

A global bucket (burst 10, one token per 200 ms) guards the connection; per-event buckets
guard ``auth`` and ``send logs`` (burst 2, one per 5 s), ``send command`` (burst 10, one per
second) and everything else together (burst 4, one per second). A dropped message yields
one ``throttled`` notice per throttling episode, not one per message.
"""

EVENT_BUCKETS = {"auth": (2, 5.0), "send logs": (2, 5.0), "send command": (10, 1.0)}
OTHER_BUCKET = (4, 1.0)
GLOBAL_BUCKET = (10, 0.2)


class Bucket:
    def __init__(self, burst, refill_seconds, now):
        self.burst = burst
        self.refill = refill_seconds
        self.tokens = float(burst)
        self.updated = now
        self.throttled = False

    def take(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.updated) / self.refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.throttled = False
            return True
        return False


class Limiter:
    def __init__(self):
        self._global = None
        self._events = {}

    def allow(self, event, now):
        """``(allowed, notice)``: notice is ``"global"`` or the event name when a
        throttling episode starts, else None."""
        if self._global is None:
            self._global = Bucket(*GLOBAL_BUCKET, now)
        if not self._global.take(now):
            return False, self._notice(self._global, "global")
        key = event if event in EVENT_BUCKETS else "*"
        bucket = self._events.get(key)
        if bucket is None:
            bucket = self._events[key] = Bucket(*EVENT_BUCKETS.get(event, OTHER_BUCKET), now)
        if not bucket.take(now):
            return False, self._notice(bucket, event)
        return True, None

    @staticmethod
    def _notice(bucket, name):
        if bucket.throttled:
            return None
        bucket.throttled = True
        return name
