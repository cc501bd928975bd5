"""How long one Panel call may take: Wings' retry policy, and the longest call it allows.

Apart from ``wingspan.panel``: the processes that only wait on a Panel call the supervisor
makes (the API, the workers) need these figures but not the HTTP stack behind the call
(requests, urllib3, tenacity), which would cost each of them its import at every start.
"""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff of a Panel request (cenkalti/backoff as Wings sets it, §12.1).

    The n-th wait is ``min(initial * multiplier**n, max_interval)`` spread by
    ±``randomization``; no attempt starts once ``max_elapsed`` seconds would be exceeded.
    """

    initial: float = 0.5
    multiplier: float = 1.5
    randomization: float = 0.5
    max_interval: float = 12.0
    max_elapsed: float = 30.0

    def interval(self, retry_number):
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        base = min(self.initial * self.multiplier ** (retry_number - 1), self.max_interval)
        spread = base * self.randomization
        return random.uniform(base - spread, base + spread)


def longest_call(cfg):
    """Seconds one Panel call may take with its retries: the retry window, then one last
    attempt. A caller waiting on another process's Panel call waits this long at least."""
    return RetryPolicy.max_elapsed + cfg.remote_query.timeout
