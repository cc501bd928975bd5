"""The supervisor: boots the node from the Panel and keeps every child process alive.

Boot order (wings-behaviour.md §14.1, adapted to our processes): directories -> system
user (its ids reach the children through the rewritten config) -> bus sockets and event
proxy -> servers from the Panel (paged, retried) -> Docker network -> config rewritten ->
saved states -> API and SFTP processes (started beside the zygote, released here) -> one
worker per server (all asked of the zygote at once) -> ``POST /servers/reset``.

The supervisor is the single owner of the server list. It learns about state changes and
configuration updates from the workers' events, persists states, and answers the API's
``servers.*`` commands. It never touches a game server's container while a worker is
alive for it; a dead worker is simply replaced and the new one re-attaches.
"""

import logging
import os
import shutil
import signal
import subprocess
import time

import gevent
import gevent.event
import zmq.green as zmq

from supervisor import broker, child, network, panel_relay, prestart, system_user
from supervisor.activity import ActivityLog
from supervisor.early_exits import EarlyExits
from supervisor.incoming import IncomingMarks
from supervisor.policy import RestartPolicy
from supervisor.states import StateFile
from wingspan import backups, bus, commands, config, envelope, errors, logs, startup
from wingspan.config import ConfigError
from wingspan.engine import Engine
from wingspan.panel import panel_client
from wingspan.roots import make_server_root, server_root
from wingspan.server_config import ServerDefinition
from wingspan.startup import runtime_flags

log = logging.getLogger(__name__)

TICK = 0.05
# the workers' events the supervisor acts on; it never receives the others
FOLLOWED_EVENTS = ("status", "definition", "transfer status")


class Manager:
    """Owns the children, the server list and the bus.

    Args:
        cfg: the loaded ``wingspan.config.Config``.
        config_path: where the config lives (children load it themselves).
        zygote: a started ``supervisor.zygote.Zygote``.
        own_pidfd: a pidfd of this process, handed to the API process so that it exits
            with us (``wingspan.lifeline``).
        prestarted: ``{"api"|"sftp": supervisor.prestart.Prestarted}``, the processes
            started ahead of the boot, released once the servers are loaded (the others
            are started then).
    """

    def __init__(self, cfg, config_path, zygote, own_pidfd, verify_tls=True, prestarted=None):
        self.cfg = cfg
        self.prestarted = prestarted or {}
        self.config_path = config_path
        self.zygote = zygote
        self.own_pidfd = own_pidfd
        self.endpoints = bus.Endpoints(cfg.wingspan.run_directory)
        self.engine = Engine()
        self.panel = panel_client(cfg, verify_tls=verify_tls)
        self.verify_tls = verify_tls
        self.definitions = {}
        self.workers = {}
        self._creating = set()  # uuids whose create request is still asking the Panel
        self._held_back = {}  # what reloads left for a restart, as it runs: config.hold_back
        self.api = None
        self.sftp = None
        self.states = StateFile(os.path.join(cfg.system.root_directory, "states.json"))
        self.activity = ActivityLog(lambda: (self.cfg, self.panel))
        self.incoming = IncomingMarks(os.path.join(cfg.system.root_directory, "incoming"),
                                      cfg.system.data)
        self.commands = bus.CommandRegistry()
        self._register_commands()
        self._stop = gevent.event.Event()
        self._states_dirty = False
        self._early_exits = EarlyExits()
        self._publisher = None
        self._events = None

    # -- lifecycle ----------------------------------------------------------------------

    def run(self):
        """Boot, supervise until SIGTERM/SIGINT, shut down. Returns the exit code.

        A boot that cannot succeed (Docker refuses the network, say) stops every child
        and returns 1 with the reason logged, never a traceback. A bug does the same, with
        its traceback in the log; game servers keep running either way.
        """
        try:
            return self._run()
        except errors.WingspanError as e:
            log.error("cannot run: %s", e.detail or e.public_message)
        except ConfigError as e:
            log.error("cannot run: %s", e)
        except Exception:
            log.exception("the supervisor failed; stopping (game servers keep running)")
        self._stop.set()
        self._shutdown()
        return 1

    def _run(self):
        gevent.signal_handler(signal.SIGTERM, self._stop.set)
        gevent.signal_handler(signal.SIGINT, self._stop.set)
        self._adopt_zygote()
        self._watch_children()
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(self.reload_from_file))
        startup.take_reloads()
        self._prepare_directories()
        system_user.apply(self.cfg)
        self.activity.open()
        context = zmq.Context()
        self.endpoints.prepare()
        gevent.get_hub().threadpool.spawn(broker.run_event_proxy, self.endpoints)
        self._broker = broker.Broker(context, self.endpoints, self.commands,
                                     self._worker_state, self._on_worker_notice)
        gevent.spawn(self._broker.run)
        self._publisher = bus.Publisher(context, self.endpoints.events_in)
        self._events = bus.EventFeed(context, self.endpoints.events_out,
                                     [envelope.every_server(name) for name in FOLLOWED_EVENTS])
        gevent.spawn(self._follow_events)
        if not self._boot():
            return 0
        gevent.spawn(self._save_states_periodically)
        gevent.spawn(self._reset_panel_states)
        self.activity.start_uploads()
        while not self._stop.wait(TICK):
            self._tick(time.monotonic())
        self._shutdown()
        return 0

    def _boot(self):
        docs = self._fetch_servers()
        if docs is None:
            return False
        try:
            network.ensure_network(self.engine, self.cfg)
        except errors.DockerError as e:
            raise errors.DockerError(detail="docker network %s is not usable (check "
                                            "docker.network in %s): %s"
                                     % (self.cfg.docker.network.name, self.config_path,
                                        e.detail)) from e
        self.cfg.save(self.config_path)
        for doc in docs:
            self._add_definition(doc)
        self.incoming.sweep(set(self.definitions))
        saved = self.states.load(set(self.definitions))
        self._make_roots()
        self._start_api()
        self._start_sftp()
        now = time.monotonic()
        # Every worker is asked for at once: the zygote forks them back to back while the
        # first ones boot. The API answers from here on: a server the Panel creates or
        # deletes while the workers are forked changes the list under us.
        gevent.joinall([gevent.spawn(self._boot_worker, uuid, saved.get(uuid), now)
                        for uuid in list(self.definitions)], raise_error=True)
        log.info("booted %d servers", len(self.definitions))
        return True

    def _make_roots(self):
        """Every server's root, before the API and SFTP are let in: a request that comes
        while the workers are forked finds its server's files. A root that cannot be made
        is left to the worker's spawn, which makes it too and retries with backoff."""
        for uuid in self.definitions:
            try:
                make_server_root(self.cfg, uuid)
            except OSError as e:
                log.error("could not create the data directory of %s: %s", uuid, e)

    def _boot_worker(self, uuid, restore_state, now):
        if uuid in self.definitions and uuid not in self.workers:
            self._add_worker(uuid, {"restore_state": restore_state}, now)

    def _fetch_servers(self):
        """All servers of this node, retrying with backoff until the Panel answers."""
        policy = RestartPolicy(initial=1.0, maximum=30.0, max_failures=10 ** 9)
        while not self._stop.is_set():
            try:
                return self.panel.get_servers()
            except errors.PanelError as e:
                delay = policy.died(time.monotonic())
                log.error("could not load servers from the Panel (%s); retrying in %.0fs", e, delay)
                if self._stop.wait(delay):
                    break
        return None

    def _add_definition(self, doc):
        try:
            definition = ServerDefinition.from_panel(
                doc, self.cfg.system.crash_detection.enabled)
        except errors.WingspanError as e:
            log.error("skipping server %s: invalid configuration from the Panel: %s",
                      doc.get("uuid"), e.detail or e.public_message)
            return None
        self.definitions[definition.uuid] = definition
        return definition

    def _prepare_directories(self):
        system = self.cfg.system
        os.makedirs(system.root_directory, mode=0o700, exist_ok=True)
        for path in (system.data, system.archive_directory, system.backup_directory,
                     system.tmp_directory):
            os.makedirs(path, mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(system.log_directory, "install"), mode=0o700, exist_ok=True)

    def _tick(self, now):
        for proc, status in self._early_exits.claim(self._children(), now):
            self._child_exited(proc, status, now)
        for proc in self._children():
            proc.tick(now)

    def _children(self):
        procs = list(self.workers.values())
        procs.append(self.zygote_child)
        procs.extend(proc for proc in (self.api, self.sftp) if proc is not None)
        return procs

    def _adopt_zygote(self):
        def respawn():
            self.zygote.stop()
            self.zygote.start()
            return self.zygote.pid

        self.zygote_child = child.Child("zygote", respawn, self._policy())
        self.zygote_child.adopt(self.zygote.pid, time.monotonic())

    def _shutdown(self):
        """Stop the API and the workers; game-server containers keep running."""
        log.info("shutting down; game servers keep running")
        procs = [p for p in self._children() if p.alive]
        for proc in procs:
            proc.stop()
        deadline = time.monotonic() + self.cfg.wingspan.worker.stop_timeout * 0.8
        while any(p.alive for p in procs) and time.monotonic() < deadline:
            gevent.sleep(TICK)
        for proc in procs:
            if proc.alive:
                log.warning("%s did not stop in time; killing it", proc.name)
                proc.signal(signal.SIGKILL)
        self._flush_states()
        self.activity.close()
        self.zygote_child.stop(signal.SIGKILL)
        self.zygote.stop()

    # -- children -----------------------------------------------------------------------

    def _watch_children(self):
        """Reap every child, workers included: they are re-parented to us (subreaper)."""
        watcher = gevent.get_hub().loop.child(0, False)
        by_pid = self._child_by_pid

        def reaped():
            proc = by_pid(watcher.rpid)
            if proc is None:
                self._early_exits.add(watcher.rpid, watcher.rstatus, time.monotonic())
            else:
                self._child_exited(proc, watcher.rstatus, time.monotonic())

        watcher.start(reaped)
        self._child_watcher = watcher

    def _child_exited(self, proc, status, now):
        proc.exited(now, status)
        if proc.server is not None:
            self._broker.worker_gone(proc.server)
        elif proc is self.api:
            gevent.spawn(self._abandon_incoming)

    def _child_by_pid(self, pid):
        for proc in self._children():
            if proc.pid == pid:
                return proc
        return None

    def _start_api(self):
        self.api = self._start_process("api")

    def _start_sftp(self):
        """The SFTP server, a process of its own: a hostile handshake or a busy transfer
        in the SSH stack never stalls the API or a worker (wings-behaviour.md §12)."""
        self.sftp = self._start_process("sftp")

    def _start_process(self, module):
        """Supervise ``module``'s process: the one the command line started ahead of the
        boot (``supervisor.prestart``), released now, or a new one."""
        proc = child.Child(module, self._spawner(module), self._policy())
        prestarted = self.prestarted.get(module)
        if prestarted is None or prestarted.released:
            proc.start(time.monotonic())
        else:
            proc.adopt(prestarted.pid, time.monotonic())
            prestarted.release()
        return proc

    def _spawner(self, module):
        """Start ``python -m <module>`` (the installed one), which exits with this process
        (``wingspan.lifeline``); returns its pid."""
        def spawn():
            with startup.reloads_held():
                proc = subprocess.Popen(prestart.command(module, self.config_path,
                                                         self.own_pidfd),
                                        pass_fds=[self.own_pidfd],
                                        env=prestart.environment(self._held_back))
            return proc.pid

        return spawn

    def _add_worker(self, uuid, extra, now):
        def spawn():
            make_server_root(self.cfg, uuid)
            payload = {"definition": self.definitions[uuid].to_panel_doc(),
                       "endpoints": self.endpoints.run_dir, "held_back": self._held_back}
            payload.update(extra)
            extra.clear()  # restore/create instructions apply to the first spawn only
            if self.incoming.is_pending(uuid):
                # a server being received stays transferring (no power actions) in every
                # worker it gets, also one that replaces a worker that died meanwhile
                payload["incoming_transfer"] = True
            return self.zygote.fork_worker(uuid, payload)

        worker = child.Child("worker %s" % uuid, spawn, self._policy(),
                             permanent_exit_codes=(envelope.EXIT_CONFIG,), signals_ready=True,
                             boot_timeout=self.cfg.wingspan.worker.boot_timeout)
        worker.server = uuid
        self.workers[uuid] = worker
        worker.start(now)
        return worker

    def _policy(self):
        limits = self.cfg.wingspan.worker
        return RestartPolicy(initial=limits.backoff_initial, maximum=limits.backoff_max,
                             max_failures=limits.max_failures, stable_after=limits.stable_after)

    def _worker_state(self, uuid):
        worker = self.workers.get(uuid)
        return worker.state if worker is not None else None

    # -- events -------------------------------------------------------------------------

    def _follow_events(self):
        for uuid, name, data, _ in self._events:
            self._on_event(uuid, name, data)

    def _on_worker_notice(self, uuid, message):
        worker = self.workers.get(uuid)
        if message.get("cmd") == commands.WORKER_READY.name and worker is not None:
            worker.ready()
            self._broker.worker_ready(uuid)
            # tells the API to take a fresh snapshot from this worker
            self._publisher.publish(uuid, "worker", "ready")

    def _on_event(self, uuid, name, data):
        if name == "status" and uuid in self.definitions:
            self._states_dirty |= self.states.set(uuid, data)
        elif name == "definition" and uuid in self.definitions:
            self._add_definition(data)
        elif name == "transfer status" and data == "success":
            # the server arrived and the Panel knows it: from now on it is this node's,
            # even if the API process dies before it says the transfer is over
            self.incoming.end(uuid)

    def _save_states_periodically(self):
        while True:
            gevent.sleep(1.0)
            if self._states_dirty:
                self._flush_states()

    def _flush_states(self):
        try:
            self.states.save()
            self._states_dirty = False
        except OSError as e:
            log.error("could not save %s: %s", self.states.path, e)

    def _reset_panel_states(self):
        try:
            self.panel.reset_servers_state()
        except errors.PanelError as e:
            log.error("could not reset server states on the Panel: %s", e)

    # -- commands from the API ------------------------------------------------------------

    def _register_commands(self):
        register = self.commands.register
        register(commands.LIST_SERVERS)(self._cmd_list)
        register(commands.CREATE_SERVER)(self._cmd_create)
        register(commands.DELETE_SERVER)(self._cmd_delete)
        register(commands.TRANSFER_FINISHED)(self._cmd_transfer_finished)
        register(commands.RELOAD_CONFIG)(self._cmd_reload_config)
        register(commands.RECORD_ACTIVITY)(self.activity.record)
        panel_relay.register(self.commands, lambda: self.panel)

    def _cmd_list(self, args):
        """``{}`` -> ``{"servers": [{"uuid", "definition", "worker"}]}``"""
        return {"servers": [self._summary(uuid) for uuid in self.definitions]}

    def _summary(self, uuid):
        worker = self.workers.get(uuid)
        return {"uuid": uuid, "definition": self.definitions[uuid].to_panel_doc(),
                "worker": worker.state if worker else child.STOPPED}

    def _cmd_create(self, args):
        """``{"uuid", "start_on_completion", "transfer"}`` -> the new server's summary.

        Fetches the configuration from the Panel (its errors surface to the caller), then
        forks a worker that creates the data directory and container and installs; with
        ``transfer``, one that creates the data directory only and marks the server
        transferring (its files and container come with the transfer, wings-api.md §9.3).
        """
        uuid = args.get("uuid")
        # Taken before the Panel is asked: the request yields there, and a second create of
        # the same uuid meanwhile would fork a second worker for it.
        if uuid in self.definitions or uuid in self._creating:
            raise errors.Conflict("A server with that identifier already exists on this instance.")
        self._creating.add(uuid)
        try:
            doc = dict(self.panel.get_server(uuid), uuid=uuid)
            if self._add_definition(doc) is None:
                raise errors.PanelError(
                    detail="the Panel sent an invalid configuration for %s" % uuid)
            if args["transfer"]:
                self.incoming.begin(uuid)
                extra = {}
            else:
                extra = {"create": {"start_on_completion": args["start_on_completion"]}}
            self._add_worker(uuid, extra, time.monotonic())
        finally:
            self._creating.discard(uuid)
        return self._summary(uuid)

    def _cmd_reload_config(self, args):
        """``{}`` -> ``{}``: re-read config.yml after ``POST /api/update``."""
        try:
            cfg, pending = config.reload(self.cfg, self.config_path)
        except ConfigError as e:
            raise errors.ValidationFailed(detail=str(e)) from e
        self._adopt(cfg, pending)
        return {}

    def reload_from_file(self):
        """SIGHUP (``systemctl reload``): adopt config.yml here and in every child process.

        Keys that cannot change while the daemon runs keep their running values and are
        named in a warning; a file that is not valid is refused, with each key named, and
        the running configuration stays as it is everywhere.
        """
        try:
            cfg, pending = config.reload(self.cfg, self.config_path)
        except ConfigError as e:
            log.error("config not reloaded, the running configuration is kept: %s", e)
            return
        changed = config.changed_keys(self.cfg, cfg)
        self._adopt(cfg, pending)
        if pending:
            log.warning("changed in %s but applied only after a restart: %s",
                        self.config_path, ", ".join(pending))
        log.info("reloaded %s: %s", self.config_path,
                 "changed " + ", ".join(changed) if changed else "no live key changed")
        for proc in self._children():
            if proc is not self.zygote_child:
                proc.signal(signal.SIGHUP)  # each child adopts the file as config.reload does

    def _adopt(self, cfg, pending):
        """Make ``cfg`` the supervisor's configuration (the children adopt it themselves);
        the children started from now on are given the running values of ``pending``."""
        self._held_back.update((dotted, config.get_key(cfg, dotted)) for dotted in pending)
        self.cfg = cfg
        self.panel = panel_client(cfg, verify_tls=self.verify_tls)
        self.activity.reconfigure(cfg)
        logs.set_debug(runtime_flags()[0] or cfg.debug)
        limits = cfg.wingspan.worker
        for proc in self._children():
            proc.policy.reconfigure(limits.backoff_initial, limits.backoff_max,
                                    limits.max_failures, limits.stable_after)
            if proc.server is not None:
                proc.boot_timeout = limits.boot_timeout

    def _cmd_delete(self, args):
        """``{"uuid"}`` -> ``{}``: container removed, worker stopped, files removed later."""
        uuid = args.get("uuid")
        if uuid not in self.definitions:
            raise errors.ServerNotFound()
        self._forget(uuid, remove_container=True)
        return {}

    def _cmd_transfer_finished(self, args):
        """``{"uuid", "successful", "created"}`` -> ``{}``: the end of an incoming transfer.

        A failed one loses the server it ``created`` (worker, files; its container, if the
        worker had made one, the worker removed itself: the name may be the source
        node's container when both nodes share a Docker engine) and is reported to the
        Panel in the background (wings-behaviour.md §11.2 step 5, without the quirks)."""
        self._end_incoming(args["uuid"], args["successful"], args["created"])
        return {}

    def _end_incoming(self, uuid, successful, created):
        if not successful:
            if created and uuid in self.definitions:
                self._publisher.publish(uuid, "transfer status", "failure")
                self._forget(uuid, remove_container=False)
            gevent.spawn(self._report_transfer_failure, uuid)
        self.incoming.end(uuid)

    def _abandon_incoming(self):
        """The API process died: the transfers it was receiving died with their
        connections, and their servers would otherwise stay half-received here."""
        for uuid in self.incoming.pending():
            log.warning("server %s: the API process died while receiving it; removing it",
                        uuid)
            self._end_incoming(uuid, successful=False, created=True)

    def _report_transfer_failure(self, uuid):
        try:
            self.panel.set_transfer_status(uuid, False)
        except errors.PanelError as e:
            log.error("server %s: the failed transfer was not reported to the Panel: %s",
                      uuid, e)

    def _forget(self, uuid, remove_container):
        """Stop the worker, drop the server, remove its files in the background."""
        self._publisher.publish(uuid, "deleted", None)
        worker = self.workers.pop(uuid, None)
        if worker is not None:
            # killed before the container goes, so it never mistakes the removal for a crash
            worker.stop(signal.SIGKILL)
        if remove_container:
            self.engine.remove(uuid, force=True)
        del self.definitions[uuid]
        self.states.forget(uuid)
        self._states_dirty = True
        data_dir = server_root(self.cfg, uuid)
        gevent.get_hub().threadpool.spawn(shutil.rmtree, data_dir, ignore_errors=True)
        gevent.get_hub().threadpool.spawn(self._remove_backups, uuid)

    def _remove_backups(self, uuid):
        """The server's backups go with it (``wingspan.remove_backups_on_server_delete``);
        kept or not, archives its killed worker left half-written are removed."""
        try:
            if self.cfg.wingspan.remove_backups_on_server_delete:
                backups.delete_all(self.cfg, uuid)
            else:
                backups.remove_unfinished(self.cfg, uuid)
        except (OSError, errors.WingspanError) as e:
            log.warning("backups of deleted server %s not removed: %s", uuid, e)
