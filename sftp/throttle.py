"""The cooldown of failed SFTP logins, per client IP and per username (issue: memory growth
under brute force, peers.md). A key with too many failures within its window is refused
without asking the Panel until the window ends. The tables are small and bounded, so a
flood of distinct usernames or addresses cannot grow the process."""

import time


class SlidingCounter:
    """Failures per key, counted for ``window`` seconds from the key's first failure; a
    key that reached ``limit`` is blocked until that window ends.

    Each key costs one small tuple under the hash of its name (a 10 000-name brute force
    would otherwise hold 10 000 strings and timestamp lists), keys whose window ended are
    dropped oldest first at every failure, and at most ``max_keys`` are kept at all."""

    def __init__(self, limit, window, max_keys=20000, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._entries = {}  # hash(key) -> (first failure, count), oldest first

    def blocked(self, key):
        """Whether ``key`` has reached its limit within its window."""
        entry = self._entries.get(hash(key))
        return entry is not None and entry[1] >= self.limit \
            and self.clock() - entry[0] < self.window

    def failed(self, key):
        now = self.clock()
        self._forget_ended(now)
        slot = hash(key)
        entry = self._entries.get(slot)
        if entry is not None and now - entry[0] < self.window:
            self._entries[slot] = (entry[0], entry[1] + 1)
            return
        self._entries.pop(slot, None)
        self._entries[slot] = (now, 1)
        if len(self._entries) > self.max_keys:
            del self._entries[next(iter(self._entries))]

    def _forget_ended(self, now):
        entries = self._entries
        while entries:
            oldest = next(iter(entries))
            if now - entries[oldest][0] < self.window:
                return
            del entries[oldest]

    def __len__(self):
        return len(self._entries)


class LoginThrottle:
    """Per-IP failures of any kind, per-username failures of passwords."""

    def __init__(self, limits, clock=time.monotonic):
        self.by_ip = SlidingCounter(limits.failures_per_ip, limits.window, clock=clock)
        self.by_user = SlidingCounter(limits.failures_per_user, limits.window, clock=clock)

    def cooling(self, ip, username):
        return self.by_ip.blocked(ip) or self.by_user.blocked(username.lower())

    def failed(self, ip, username, password):
        self.by_ip.failed(ip)
        if password:
            self.by_user.failed(username.lower())
