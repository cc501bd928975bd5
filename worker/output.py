"""The console pipeline: attach-stream bytes in, published console batches out.

Every chunk read from the container is split into lines (wings-behaviour.md §5.1). Every
line feeds the startup-done check and the history buffer; only lines the throttle allows
reach viewers (§5.3). The lines of one read are published as one ``console`` event, so a
flooding server costs one ZeroMQ message per read, not one per line. Daemon lines join the
same stream, so they keep their place among the game's own lines and skip the throttle.
"""

import logging
import time

from worker.console import ConsoleBuffer, LineSplitter, StartupMatcher, Throttle, daemon_line
from worker.server import RUNNING, STARTING

log = logging.getLogger(__name__)

THROTTLE_MESSAGE = "Server is outputting console data too quickly -- throttling..."


class ConsoleOutput:
    """Turns raw output of one server into lines for viewers, history and state changes."""

    def __init__(self, server, buffer_lines):
        self.server = server
        throttles = server.cfg.throttles
        self._splitter = LineSplitter()
        self._throttle = Throttle(throttles.lines, throttles.line_reset_interval, time.monotonic)
        self.history = ConsoleBuffer(buffer_lines)
        self._pending = []
        self._seed_source = None
        self._matcher = None
        self.reload_matcher()
        server.on_state_change(self._state_changed)

    def reconfigure(self, throttles):
        """Apply a reloaded ``throttles`` section from the next line on."""
        self._throttle.set_limits(throttles.lines, throttles.line_reset_interval)

    def reload_matcher(self):
        startup = self.server.definition.process.startup
        self._matcher = StartupMatcher(startup.done, startup.strip_ansi)

    def feed(self, data):
        """Process one read from the attach stream."""
        self._lines([raw.decode("utf-8", "replace") for raw in self._splitter.feed(data)])
        self.flush()

    def finish(self):
        """The stream ended: emit a trailing partial line, if any."""
        self._lines([raw.decode("utf-8", "replace") for raw in self._splitter.flush()])
        self.flush()

    def daemon_line(self, line):
        self._pending.append(line)
        self.flush()

    def seed_later(self, source):
        """After re-attaching, fill the history from Docker's log the first time someone
        asks for it (``source()`` returns the lines): a node re-attaching hundreds of servers
        at boot should not read hundreds of logs nobody may look at."""
        self._seed_source = source

    def reset_history(self):
        """A fresh container starts a fresh log, as in Docker."""
        self._seed_source = None
        self.history.clear()

    def tail(self, count):
        """The last ``count`` console lines."""
        if self._seed_source is not None:
            source, self._seed_source = self._seed_source, None
            lines = source()  # Docker's log already holds what arrived since the re-attach
            self.history.clear()
            self.history.extend(lines)
        return self.history.tail(count)

    def flush(self):
        if self._pending:
            batch, self._pending = self._pending, []
            self.server.publish("console", batch)

    def _lines(self, lines):
        # one read's lines go through each step together: a flood brings hundreds per read
        if self.server.state == STARTING:
            for line in lines:
                if self._matcher.matches(line):
                    self.server.set_state(RUNNING)
                    break
        self.history.extend(lines)
        if not self.server.cfg.throttles.enabled:
            self._pending.extend(lines)
            return
        for line in lines:
            allowed, warn = self._throttle.check()
            if warn:
                self._pending.append(self._throttle_notice())
            if allowed:
                self._pending.append(line)

    def _throttle_notice(self):
        return daemon_line(self.server.cfg.app_name, THROTTLE_MESSAGE)

    def _state_changed(self, old, new):
        if new == STARTING:
            self._throttle.reset()
