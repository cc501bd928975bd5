"""The worker process: one game server, its container, its console and its stats.

Forked from the zygote (already gevent-patched, modules preloaded). It connects to the
supervisor's bus, re-attaches to its running container (or starts it again if it was
running before the host went down), tells the supervisor it is ready, and then serves
commands until SIGTERM, which detaches and leaves the container running. The supervisor
sends SIGTERM to stop it. When the supervisor dies, the pidfd of it that the worker
inherits through the zygote turns readable and the worker exits at once, so no worker
outlives the daemon (wingspan/lifeline.py).
"""

import logging
import os
import signal

import gevent
import gevent.event
import zmq.green as zmq

from wingspan import backups, bus, envelope, errors, lifeline, logs, testhooks
from wingspan.commands import WORKER_READY
from wingspan.config import ConfigError, hold_back, load, reload
from wingspan.engine import Engine
from wingspan.server_config import ServerDefinition
from wingspan.startup import runtime_flags, take_reloads
from worker import commands
from worker.crash import CrashDetector
from worker.downloads import Downloads
from worker.environment import Environment
from worker.files import ServerFiles
from worker.images import ImageStore
from worker.install import Installer
from worker.jobs import Jobs
from worker.output import ConsoleOutput
from worker.panel import BusPanel
from worker.power import SUSPEND_STOP_TIMEOUT, Power
from worker.preboot import PreBoot
from worker.resources import DISK_STOP_TIMEOUT, ResourceMonitor
from worker.server import Server
from worker.transfer import Transfers

log = logging.getLogger(__name__)

RESTORE_STATES = ("running", "starting")


class WorkerRuntime:
    """Wires one server's objects together and runs its loops."""

    def __init__(self, cfg, definition, endpoints, verify_tls, config_path,
                 docker_api_version="auto"):
        self.cfg = cfg
        self.config_path = config_path
        self.verify_tls = verify_tls
        self.endpoints = endpoints
        self.context = zmq.Context()
        self.publisher = bus.Publisher(self.context, endpoints.events_in, learns_followers=True)
        self.engine = Engine(version=docker_api_version)
        self.panel = BusPanel(self.context, endpoints.control, cfg)
        self.server = Server(definition, cfg, self.publisher)
        self.files = ServerFiles(cfg, definition)
        self.downloads = Downloads(self.files)
        self.output = ConsoleOutput(self.server, cfg.wingspan.console_buffer_lines)
        self.server.console = self.output
        self.environment = Environment(self.server, self.engine, self.output)
        self.images = ImageStore(self.engine, cfg.docker.registries)
        self.preboot = PreBoot(self.server, self.panel, self.engine, self.files,
                               on_suspended=lambda: self.power.stop(SUSPEND_STOP_TIMEOUT))
        self.power = Power(self.server, self.environment, self.preboot, self.images)
        self.monitor = ResourceMonitor(self.server, self.environment, self.files,
                                       on_over_limit=lambda: self.power.stop(DISK_STOP_TIMEOUT))
        self.crash = CrashDetector(self.server, self.environment, self.power)
        self.installer = Installer(self)
        self.jobs = Jobs(self.server)
        self.transfers = Transfers(self)
        self.registry = commands.build_registry(self)
        self._stop = gevent.event.Event()
        self._sock = None

    def reload_config(self):
        """Adopt config.yml as it is now (``POST /api/update``, SIGHUP): what may change
        while the daemon runs (``wingspan.config.reload``) applies from its next use."""
        try:
            cfg, _ = reload(self.cfg, self.config_path)
        except ConfigError as e:
            raise errors.ValidationFailed(detail=str(e)) from e
        self.cfg = self.server.cfg = self.files.cfg = cfg
        self.panel.cfg = cfg
        self.images.registries = cfg.docker.registries
        self.output.reconfigure(cfg.throttles)
        logs.set_debug(runtime_flags()[0] or cfg.debug)

    def _reload_on_signal(self):
        try:
            self.reload_config()
        except errors.ValidationFailed as e:
            log.error("config not reloaded, the running configuration is kept: %s", e.detail)
            return
        log.info("reloaded %s", self.config_path)

    def run(self, payload, supervisor):
        gevent.signal_handler(signal.SIGTERM, self._stop.set)
        gevent.signal_handler(signal.SIGINT, self._stop.set)
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(self._reload_on_signal))
        take_reloads()
        lifeline.exit_with(supervisor)
        hang_if_a_test_asks(self.server.uuid)
        self._sock = bus.make_socket(self.context, zmq.DEALER, recheck=bus.IDLE_RECHECK,
                                     IDENTITY=self.server.uuid.encode(),
                                     MAXMSGSIZE=envelope.MAX_MESSAGE_BYTES)
        self._sock.connect(self.endpoints.workers)
        backups.remove_unfinished(self.cfg, self.server.uuid)
        self._boot(payload)
        self._sock.send(envelope.dump(envelope.request(WORKER_READY, self.server.uuid)))
        gevent.spawn(self._serve)
        self._stop.wait()
        log.info("worker stopping; the container keeps running")
        return envelope.EXIT_OK

    def _boot(self, payload):
        if self.environment.reattach():
            log.info("re-attached to the running container")
            return
        create = payload.get("create")
        if payload.get("incoming_transfer"):
            self.transfers.begin_incoming()
        elif create is not None:
            self.installer.request(reinstall=False,
                                   start_after=bool(create.get("start_on_completion")),
                                   create_container=True)
        elif payload.get("restore_state") in RESTORE_STATES:
            log.info("server was %s before the daemon stopped; starting it",
                     payload["restore_state"])
            self._start_in_background()
        self.files.refresh_usage_in_background()

    def _start_in_background(self):
        try:
            self.power.request("start")
        except errors.WingspanError as e:
            log.error("could not restore the server: %s", e)

    def _serve(self):
        while True:
            frames = self._sock.recv_multipart()
            gevent.spawn(self._handle, frames)

    def _handle(self, frames):
        client, body = frames[0], frames[-1]
        req = envelope.load_or_drop(body, "a request", envelope.is_request)
        if req is None or envelope.expired(req):
            return
        self._sock.send_multipart([client] + self.registry.handle(req))


def hang_if_a_test_asks(uuid):
    """The supervision tests' fault (``wingspan.testhooks``): this worker hangs before it
    reports ready; the supervisor must kill it after ``wingspan.worker.boot_timeout`` and
    start another."""
    if testhooks.fault_once("hang-boot-%s" % uuid):
        while True:
            gevent.sleep(3600)


def current_config(config_path, preloaded):
    """The zygote's parsed config while the file is unchanged, else a fresh load: parsing
    it again in every worker would copy pages the workers could share."""
    if preloaded.get("config") is not None:
        mtime, cfg = preloaded["config"]
        try:
            if os.stat(config_path).st_mtime_ns == mtime:
                return cfg
        except OSError:
            pass
    return load(config_path)


def main(uuid, payload, config_path, supervisor, preloaded=None):
    """Entry point in a freshly forked worker. Returns the process exit code.

    ``supervisor`` is a pidfd of the supervisor process. ``preloaded`` is what the zygote
    learned once for all workers: ``config`` (mtime, Config) and ``docker_api_version``.
    """
    preloaded = preloaded or {}
    import setproctitle
    setproctitle.setproctitle("wingspan: worker %s" % uuid)
    debug, verify_tls = runtime_flags()
    try:
        cfg = hold_back(current_config(config_path, preloaded), payload.get("held_back") or {})
    except ConfigError as e:
        logs.configure("worker", debug, server=uuid)
        log.error("%s", e)
        return envelope.EXIT_CONFIG
    logs.configure("worker", debug or cfg.debug, server=uuid)
    try:
        definition = ServerDefinition.from_panel(payload["definition"],
                                                 cfg.system.crash_detection.enabled)
    except errors.WingspanError as e:
        log.error("invalid server definition: %s", e.detail or e.public_message)
        return envelope.EXIT_CONFIG
    runtime = WorkerRuntime(cfg, definition, bus.Endpoints(payload["endpoints"]), verify_tls,
                            config_path, preloaded.get("docker_api_version", "auto"))
    return runtime.run(payload, supervisor)
