"""Waiting for a condition with a deadline, failing with a message that says what was awaited."""

import time


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns something truthy and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)
