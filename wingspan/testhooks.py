"""Hold points that keep a race window open in integration tests, and faults a test plants
for the daemon to take once; both inert in production.

A race that loses one run in four cannot be tested by hoping for the bad interleaving. A
hold point marks the window in the code: when the daemon is started with
``WINGSPAN_TEST_HOLDS`` naming the point (comma-separated; ``tests/support/daemon.py``
sets it for the tests that ask), :func:`hold` waits there until :func:`release` is called
for it, so the test decides what happens inside the window; the daemon log says when a
point is reached (``holding at <point>``), which the test waits for. Without the variable
both are a set lookup.

A fault (:func:`fault_once`) is for what a hold cannot do across processes: with
``WINGSPAN_TEST_FAULTS`` naming a directory (set by ``tests/support/daemon.py`` for the tests
that ask), the file ``<directory>/<fault>`` that a test puts there is taken by the first
process that comes by, which removes it. Without the variable it is a string test.
"""

import logging
import os

import gevent.event

log = logging.getLogger(__name__)

ENV = "WINGSPAN_TEST_HOLDS"
FAULTS_ENV = "WINGSPAN_TEST_FAULTS"
# A test that never releases its hold must not hang the daemon.
HOLD_LIMIT = 30.0

_ACTIVE = frozenset(name for name in os.environ.get(ENV, "").split(",") if name)
_held = {}
_FAULTS = os.environ.get(FAULTS_ENV, "")


def hold(point):
    """Wait at ``point`` until it is released (or HOLD_LIMIT passes), if the point is on."""
    if point not in _ACTIVE:
        return
    released = _held[point] = gevent.event.Event()
    log.info("holding at %s", point)
    try:
        released.wait(HOLD_LIMIT)
    finally:
        _held.pop(point, None)


def release(point):
    """End a wait at ``point``; nothing when nothing waits there."""
    released = _held.get(point)
    if released is not None:
        released.set()


def fault_once(name):
    """Whether this process takes the fault ``name`` a test planted (only one process does:
    the fault is gone once taken)."""
    if not _FAULTS:
        return False
    try:
        os.unlink(os.path.join(_FAULTS, name))
    except OSError:
        return False
    log.warning("taking test fault %s", name)
    return True
