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
        self._matcher = None
        self.reload_matcher()
        server.on_state_change(self._state_changed)

    def reload_matcher(self):
        startup = self.server.definition.process.startup
        self._matcher = StartupMatcher(startup.done, startup.strip_ansi)

    def feed(self, data):
        """Process one read from the attach stream."""
        for raw in self._splitter.feed(data):
            self._line(raw.decode("utf-8", "replace"))
        self.flush()

    def finish(self):
        """The stream ended: emit a trailing partial line, if any."""
        for raw in self._splitter.flush():
            self._line(raw.decode("utf-8", "replace"))
        self.flush()

    def daemon_line(self, line):
        self._pending.append(line)
        self.flush()

    def seed(self, lines):
        """Fill the history from Docker's log after re-attaching to a running container."""
        self.history.extend(lines)

    def flush(self):
        if self._pending:
            batch, self._pending = self._pending, []
            self.server.publish("console", batch)

    def _line(self, line):
        if self.server.state == STARTING and self._matcher.matches(line):
            self.server.set_state(RUNNING)
        self.history.extend((line,))
        if not self.server.cfg.throttles.enabled:
            self._pending.append(line)
            return
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
