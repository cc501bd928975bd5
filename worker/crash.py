"""Crash detection and automatic restart (wings-behaviour.md §6).

A change from ``starting``/``running`` straight to ``offline`` was not asked for (every
requested stop passes through ``stopping``), so it is a crash unless the game exited
cleanly and clean exits are not crashes by config. A crash restarts the server, except
when the previous automatic restart was less than ``crash_detection.timeout`` seconds ago.
"""

import logging
import time

import gevent

from wingspan import errors
from worker.server import OFFLINE, RUNNING, STARTING

log = logging.getLogger(__name__)

DETECTED = "---------- Detected server process in a crashed state! ----------"
DISABLED = "Aborting automatic restart, crash detection is disabled for this instance."
TOO_SOON = "Aborting automatic restart, last crash occurred less than %d seconds ago."
FAILED = "Server crash was detected but an error occurred while handling it."


class CrashDetector:
    def __init__(self, server, environment, power, clock=time.monotonic):
        self.server = server
        self.environment = environment
        self.power = power
        self.clock = clock
        self.last_restart = None
        server.on_state_change(self._state_changed)

    def _state_changed(self, old, new):
        if old in (STARTING, RUNNING) and new == OFFLINE:
            gevent.spawn(self.handle_crash)

    def handle_crash(self):
        if self.server.state != OFFLINE:
            return
        if not self.server.definition.crash_detection_enabled:
            self.server.daemon_message(DISABLED)
            return
        exit_code, oom_killed = self._exit_state()
        settings = self.server.cfg.system.crash_detection
        if exit_code == 0 and not oom_killed and not settings.detect_clean_exit_as_crash:
            return
        self.server.daemon_message(DETECTED)
        self.server.daemon_message("Exit code: %d" % exit_code)
        self.server.daemon_message("Out of memory: %s" % str(oom_killed).lower())
        now = self.clock()
        if settings.timeout and self.last_restart is not None \
                and now - self.last_restart < settings.timeout:
            self.server.daemon_message(TOO_SOON % settings.timeout)
            return
        self.last_restart = now
        try:
            self.power.run("start")
        except errors.WingspanError as e:
            log.error("automatic restart failed: %s", e)
            self.server.daemon_message(FAILED)

    def _exit_state(self):
        info = self.environment.inspect()
        if not info:
            return 1, False
        state = info["State"]
        return state.get("ExitCode", 1), bool(state.get("OOMKilled"))
