"""The cooldown of failed SFTP logins, per client IP and per username (issue: memory growth
under brute force, peers.md). Failures are counted in a sliding window; a key with too many
is refused without asking the Panel until its oldest failure leaves the window. The tables
are bounded, so a flood of distinct usernames or addresses cannot grow the process."""

import collections
import time


class SlidingCounter:
    """Failure instants per key within ``window`` seconds, for at most ``max_keys`` keys
    (the least recently failed are forgotten first)."""

    def __init__(self, limit, window, max_keys=65536, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._failures = collections.OrderedDict()

    def blocked(self, key):
        """Whether ``key`` has reached its limit within the window."""
        times = self._recent(key)
        return times is not None and len(times) >= self.limit

    def failed(self, key):
        times = self._recent(key)
        if times is None:
            times = self._failures[key] = collections.deque(maxlen=self.limit)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(key)
        times.append(self.clock())

    def _recent(self, key):
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self.clock() - self.window
        while times and times[0] < horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def __len__(self):
        return len(self._failures)


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
