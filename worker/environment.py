"""The server's container: create, attach, start, stop, terminate (wings-behaviour.md §2.4–2.5,
§3.8).

The attach stream is held here: its reader feeds the console pipeline and its writer is
the game's stdin. When the stream ends the container has exited; the state becomes
``offline`` and the ``exited`` event wakes whoever waits for a stop.
"""

import logging

import gevent
import gevent.event

from wingspan import container, errors
from worker.server import OFFLINE, RUNNING, STARTING, STOPPING

log = logging.getLogger(__name__)

ATTACH_START_TIMEOUT = 30
SIGNALS = {"SIGABRT": "SIGABRT", "SIGINT": "SIGINT", "SIGTERM": "SIGTERM", "C": "SIGINT"}
MANAGED_LABEL = "wingspan.managed"


class Environment:
    """Container operations for one server.

    Args:
        server: ``worker.server.Server``.
        engine: ``wingspan.engine.Engine``.
        output: ``worker.output.ConsoleOutput`` fed by the attach stream.
    """

    def __init__(self, server, engine, output):
        self.server = server
        self.engine = engine
        self.output = output
        self._stream = None
        self._reader = None
        self.exited = gevent.event.Event()
        self.exited.set()
        self._starting = False
        self._attach_listeners = []

    @property
    def name(self):
        return self.server.uuid

    @property
    def attached(self):
        return self._stream is not None

    def on_attach(self, listener):
        """Call ``listener(inspect_data)`` each time a running container is attached."""
        self._attach_listeners.append(listener)

    # -- discovery ----------------------------------------------------------------------

    def inspect(self):
        return self.engine.inspect(self.name)

    def is_running(self):
        info = self.inspect()
        return bool(info and info["State"]["Running"])

    def reattach(self):
        """Adopt a container that is already running: state ``running``, console live.

        Returns True when there was a running container to adopt.
        """
        info = self.inspect()
        if not (info and info["State"]["Running"]):
            return False
        self._open_stream()
        self.output.seed_later(
            lambda: self._recent_lines(self.server.cfg.wingspan.console_buffer_lines))
        self.server.set_state(RUNNING)
        self._attached(info)
        return True

    # -- start ----------------------------------------------------------------------------

    def start(self, pull_image):
        """Create a fresh container and start it, attached first so no output is lost.

        Args:
            pull_image: callable ensuring the image is available (may pull it).
        """
        if self.reattach():
            return
        self.server.set_state(STARTING)
        self.output.reset_history()
        try:
            self.engine.remove(self.name)
            self.create(pull_image)
            self._starting = True
            with gevent.Timeout(ATTACH_START_TIMEOUT, errors.DockerError(
                    detail="attach and start timed out")):
                self._open_stream()
                self.engine.start(self.name)
        except BaseException:
            self._starting = False
            self.server.set_state(STOPPING)
            self._close_stream()
            self.server.set_state(OFFLINE)
            raise
        self._starting = False
        if self._stream is None:
            # the game exited before start() returned: an ordinary (crash) exit
            self.server.set_state(OFFLINE)
            return
        self._attached(self.inspect())

    def create(self, pull_image):
        definition = self.server.definition
        pull_image(definition.container.image)
        self._ensure_outgoing_network(definition)
        config = container.server_container_config(
            definition, self.server.cfg, extra_labels={MANAGED_LABEL: "true"})
        self.engine.create(self.name, config)

    def _ensure_outgoing_network(self, definition):
        """A ``force_outgoing_ip`` server's own bridge network, created on first use."""
        name = container.outgoing_ip_network(definition)
        if name is not None:
            self.engine.ensure_network(name, container.outgoing_network_create_body(definition))

    def _attached(self, info):
        for listener in self._attach_listeners:
            listener(info)

    # -- stop ---------------------------------------------------------------------------

    def stop(self):
        """Ask the game to stop, per the egg's stop configuration (§2.5)."""
        stop = self.server.definition.process.stop
        if stop.type in ("", "signal"):
            if not stop.type:
                log.warning("no stop configuration; killing the server")
            self.terminate(SIGNALS.get((stop.value or "").upper(), "SIGKILL"))
            return
        if self.server.state != OFFLINE:
            self.server.set_state(STOPPING)
        if stop.type == "command" and self.attached:
            self.write_stdin(stop.value)
        else:
            self.engine.stop(self.name)

    def wait_for_stop(self, timeout, terminate=True):
        """Stop and wait up to ``timeout`` seconds; kill after that when ``terminate``."""
        self.stop()
        if self.exited.wait(timeout) or not self.is_running():
            return
        if not terminate:
            raise errors.DockerError(
                detail='environment/docker: error waiting on container to enter "not-running" '
                       'state')
        log.warning("server did not stop within %ss; killing it", timeout)
        self.terminate("SIGKILL")

    def terminate(self, signal_name):
        """Send a signal (canonical ``SIG*`` names, unlike upstream's broken ones)."""
        info = self.inspect()
        if not (info and info["State"]["Running"]):
            if self.server.state != OFFLINE:
                self.server.set_state(STOPPING)
                self.server.set_state(OFFLINE)
            return
        self.server.set_state(STOPPING)
        self.engine.kill(self.name, signal_name)
        if signal_name == "SIGKILL":
            self.exited.wait(10)

    def destroy(self):
        """Remove the container for good (server deletion)."""
        self._close_stream()
        self.engine.remove(self.name, force=True)
        self.server.set_state(OFFLINE)

    # -- console ------------------------------------------------------------------------

    def write_stdin(self, text):
        if self._stream is None:
            raise errors.ServerNotRunning(detail="not attached to instance")
        self._stream.sendall(text.encode() + b"\n")

    def _recent_lines(self, count):
        try:
            raw = self.engine.logs(self.name, tail=count)
        except errors.DockerError as e:
            log.warning("could not read the container log: %s", e)
            return []
        return [line.rstrip("\r") for line in raw.decode("utf-8", "replace").split("\n")
                if line.strip()]

    # -- the stream -----------------------------------------------------------------------

    def _open_stream(self):
        if self._stream is not None:
            return
        self._stream = self.engine.attach(self.name)
        self.exited.clear()
        self._reader = gevent.spawn(self._read_stream, self._stream)

    def _read_stream(self, stream):
        try:
            while True:
                data = stream.recv(65536)
                if not data:
                    break
                self.output.feed(data)
        except OSError as e:
            log.info("console stream closed: %s", e)
        finally:
            self.output.finish()
            self._detached(stream)

    def _detached(self, stream):
        if self._stream is stream:
            self._stream = None
            stream.close()
            if not self._starting:  # start() decides what a failed start means
                self.server.set_state(OFFLINE)
        self.exited.set()

    def _close_stream(self):
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        if self._reader is not None:
            self._reader.kill(block=False)
            self._reader = None
        self.exited.set()
