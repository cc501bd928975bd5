"""Power actions and the power lock (wings-behaviour.md §2.2–2.5).

One action at a time per server. A request is checked at once (busy, lock, state, in-memory
suspension) and refused with a typed error; accepted actions run in the background. A
failure after acceptance (the Panel now says suspended, disk full, Docker error, or any
other exception) is published as a ``power error`` event, which the API shows to websocket
viewers as a ``daemon error``: every request ends in the action or in an error.

Two holders of the lock have already done what a viewer sees when the next request comes:
a kill once the server shows ``offline`` (Docker has yet to answer it), and a start once
the server shows ``running`` (the done line can arrive before the start has attached its
stats loop and returned). A request meeting either waits for the lock briefly instead of
being refused, so a stop sent the moment ``running`` shows is not turned away.
"""

import logging
import time

import gevent
import gevent.lock

from wingspan import errors, testhooks
from worker.server import OFFLINE, RUNNING

log = logging.getLogger(__name__)

ACTIONS = ("start", "stop", "restart", "kill")
STOP_TIMEOUT = 600
# Docker answers a SIGKILL only once the container is cleaned up, a moment after the exit
# has been seen and `offline` published: an action asked for meanwhile waits this long.
KILL_SETTLE_TIMEOUT = 10
# What is left of a start once the server is `running`: an inspect and the stats loop.
START_SETTLE_TIMEOUT = 10
# Tests hold a start here, after `running` can show and before the lock is released.
START_TAIL_HOLD = "power.start_tail"
SUSPEND_STOP_TIMEOUT = 60
PULL_STARTED = "Pulling Docker container image, this could take a few minutes to complete..."
PULL_FINISHED = "Finished pulling Docker container image"


class Power:
    """Runs power actions for one server.

    Args:
        server: ``worker.server.Server``.
        environment: ``worker.environment.Environment``.
        preboot: ``worker.preboot.PreBoot``; prepares a start (sync, checks, files).
        images: ``worker.images.ImageStore``; makes the server's image available.
    """

    def __init__(self, server, environment, preboot, images):
        self.server = server
        self.environment = environment
        self.preboot = preboot
        self.images = images
        self.lock = gevent.lock.BoundedSemaphore(1)
        self._holder = None  # the action holding the lock

    def request(self, action, wait_seconds=0):
        """Accept an action or refuse it now; the action itself runs in the background.

        Args:
            wait_seconds: 0 tries the lock once; >0 waits that long for it (in the
                background, as Wings' HTTP route does).
        Raises:
            ValidationFailed, ServerBusy, PowerLocked, Conflict, ServerSuspended.
        """
        if action not in ACTIONS:
            raise errors.ValidationFailed("attempting to handle unknown power action")
        testhooks.release(START_TAIL_HOLD)  # decided below, before the held start goes on
        self._refuse_if_busy()
        if action == "kill":
            gevent.spawn(self._guarded, self.kill)
            return
        if wait_seconds > 0:
            gevent.spawn(self._guarded, self._wait_and_run, action, wait_seconds)
            return
        if not self.lock.acquire(blocking=False):
            settle = self._settle_timeout(action)
            if settle is None:
                raise errors.PowerLocked()
            gevent.spawn(self._guarded, self._wait_and_run, action, settle)
            return
        try:
            self._precheck(action)
        except errors.WingspanError:
            self.lock.release()
            raise
        gevent.spawn(self._guarded, self._run_locked, action)

    def run(self, action):
        """Run an action now, in this greenlet, without waiting for the lock."""
        self._refuse_if_busy()
        if action == "kill":
            self.kill()
            return
        if not self.lock.acquire(blocking=False):
            raise errors.PowerLocked()
        self._precheck(action)
        self._run_locked(action)

    # -- the actions ----------------------------------------------------------------------

    def start(self):
        self.preboot.prepare()
        self.environment.start(self._pull_image)
        testhooks.hold(START_TAIL_HOLD)

    def stop(self, timeout=STOP_TIMEOUT):
        self.environment.wait_for_stop(timeout, terminate=True)

    def restart(self):
        self.stop()
        self.start()

    def kill(self):
        held = self.lock.acquire(blocking=False)
        if held:
            self._holder = "kill"
        try:
            self.environment.terminate("SIGKILL")
        finally:
            if held:
                self._holder = None
                self.lock.release()

    # -- helpers ------------------------------------------------------------------------

    def _refuse_if_busy(self):
        reason = self.server.busy_reason()
        if reason:
            raise errors.ServerBusy(reason)

    def _settle_timeout(self, action):
        """How long ``action`` may wait for the lock instead of being refused, or None."""
        if self._holder == "kill" and self.server.state == OFFLINE:
            return KILL_SETTLE_TIMEOUT
        if self._holder in ("start", "restart") and action in ("stop", "restart") \
                and self.server.state == RUNNING:
            return START_SETTLE_TIMEOUT
        return None

    def _precheck(self, action):
        if action == "start" and self.server.state != OFFLINE:
            raise errors.Conflict("server is running")
        if action in ("start", "restart") and self.server.suspended:
            raise errors.ServerSuspended("server is currently in a suspended state")

    def _wait_and_run(self, action, wait_seconds):
        if not self.lock.acquire(timeout=wait_seconds):
            raise errors.PowerLocked(
                "could not acquire lock on power action after %d seconds" % wait_seconds)
        try:
            self._precheck(action)
        except errors.WingspanError:
            self.lock.release()
            raise
        self._run_locked(action)

    def _run_locked(self, action):
        self._holder = action
        try:
            getattr(self, action)()
        finally:
            self._holder = None
            self.lock.release()

    def _guarded(self, func, *args):
        started = time.monotonic()
        try:
            func(*args)
        except errors.WingspanError as e:
            log.warning("power action failed after %.1fs: %s", time.monotonic() - started, e)
            self.server.publish("power error", e.to_wire())
        except Exception:  # a bug or an untranslated error still answers the viewer
            log.exception("power action failed after %.1fs", time.monotonic() - started)
            self.server.publish("power error", errors.WingspanError().to_wire())

    def _pull_image(self, image):
        self.server.daemon_message(PULL_STARTED)
        self.images.ensure(image, on_progress=lambda line: self.server.publish(
            "install output", line))
        self.server.daemon_message(PULL_FINISHED)
