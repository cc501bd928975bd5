"""When to restart a child that died: exponential backoff and the flapping limit.

Pure logic with no I/O; every method takes ``now`` so tests drive it with a fake clock.
"""

import random


class RestartPolicy:
    """Backoff state for one child process.

    A child that stays up for ``stable_after`` seconds is healthy again and its failure
    count resets. ``max_failures`` consecutive quick deaths mark it failed (no restart
    until someone asks), so a child dying in a loop never becomes a tight loop.
    """

    def __init__(self, initial=1.0, maximum=60.0, max_failures=5, stable_after=60.0,
                 jitter=0.2, rng=random.random):
        self.initial = initial
        self.maximum = maximum
        self.max_failures = max_failures
        self.stable_after = stable_after
        self.jitter = jitter
        self._rng = rng
        self.failures = 0
        self.started_at = None

    def reconfigure(self, initial, maximum, max_failures, stable_after):
        """New limits (a reloaded config); the failure count so far is kept."""
        self.initial = initial
        self.maximum = maximum
        self.max_failures = max_failures
        self.stable_after = stable_after

    def started(self, now):
        self.started_at = now

    def died(self, now):
        """Record a death; return the delay before the next start, or None if failed."""
        if self.started_at is not None and now - self.started_at >= self.stable_after:
            self.failures = 0
        self.failures += 1
        self.started_at = None
        if self.failures >= self.max_failures:
            return None
        return self.delay()

    def delay(self):
        base = min(self.maximum, self.initial * 2 ** (self.failures - 1))
        spread = base * self.jitter
        return max(0.0, base + (self._rng() * 2 - 1) * spread)

    def reset(self):
        self.failures = 0
        self.started_at = None
