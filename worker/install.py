"""Installing a server: the egg's install script in a separate install container
(wings-behaviour.md §7, wings-api.md §4.6–4.7).

The install container gets the server's files at ``/mnt/server`` and the script at
``/mnt/install`` and nothing else from the host: no Docker socket, no other path, not
privileged. Its output goes to websocket viewers as ``install output`` and to
``<log_directory>/install/<uuid>.log``. The result is reported to the Panel, then the
server is started if the Panel asked for it.
"""

import logging
import os
import shutil

import gevent
import gevent.lock

from wingspan import container, errors
from worker.console import LineSplitter
from worker.server import OFFLINE

log = logging.getLogger(__name__)

STARTING = "Starting installation process, this could take a few minutes..."
COMPLETED = "Installation process completed."
LOG_HEADER = """Pterodactyl Server Installation Log

|
| Details
| ------------------------------
  Server UUID:          %(uuid)s
  Container Image:      %(image)s
  Container Entrypoint: %(entrypoint)s

|
| Environment Variables
| ------------------------------
%(environment)s

|
| Script Output
| ------------------------------
"""
REINSTALL_STOP_TIMEOUT = 10
START_LOCK_WAIT = 30


class Installer:
    """Runs installs for one worker (one at a time)."""

    def __init__(self, runtime):
        self.rt = runtime
        self._lock = gevent.lock.BoundedSemaphore(1)

    @property
    def server(self):
        return self.rt.server

    def request(self, reinstall, start_after=False, create_container=False):
        """Start an install in the background; refused if one is already running."""
        if not self._lock.acquire(blocking=False):
            raise errors.Conflict("An installation is already running for this server.")
        self.server.set_flag("installing", True)
        gevent.spawn(self._run, reinstall, start_after, create_container)

    def _run(self, reinstall, start_after, create_container):
        successful = False
        try:
            successful = self._install(reinstall, create_container)
        except errors.WingspanError as e:
            log.error("installation failed: %s (%s)", e.public_message, e.detail)
        finally:
            self._finish(successful, reinstall)
        if successful and start_after:
            try:
                self.rt.power.request("start", wait_seconds=START_LOCK_WAIT)
            except errors.WingspanError as e:
                log.error("could not start after installation: %s", e)

    def _install(self, reinstall, create_container):
        if reinstall and self.server.state != OFFLINE:
            self.rt.power.stop(REINSTALL_STOP_TIMEOUT)
        if not create_container:
            self.rt.preboot.sync()
        else:
            self.rt.environment.create(self.rt.images.ensure)
        if self.server.definition.skip_egg_scripts:
            return True
        self.server.publish("install started", "")
        script = self.rt.panel.get_install_script(self.server.uuid)
        self.server.publish("daemon message", STARTING)
        code = self._run_container(script)
        if code != 0:
            log.warning("the install script exited with code %s", code)
            return False
        self.server.publish("daemon message", COMPLETED)
        return True

    def _finish(self, successful, reinstall):
        try:
            self.rt.panel.set_install_status(self.server.uuid, successful, reinstall)
        except errors.PanelError as e:
            log.error("could not report the installation result to the Panel: %s", e)
        self.server.set_flag("installing", False)
        self.server.set_state(OFFLINE)
        if not self.server.definition.skip_egg_scripts:
            self.server.publish("install completed", "")
        self._lock.release()

    # -- the install container ----------------------------------------------------------

    def _run_container(self, script):
        cfg, engine = self.server.cfg, self.rt.engine
        name = "%s_installer" % self.server.uuid
        script_dir = self._write_script(script["script"])
        image = script["container_image"]
        try:
            self.rt.images.ensure(image, on_progress=self._install_output)
            config = container.installer_container_config(
                self.server.definition, cfg, script_dir, image.removeprefix("~"),
                script["entrypoint"])
            engine.remove(name, force=True)
            engine.create(name, config)
            stream = engine.attach(name)
            engine.start(name)
            self._pump_output(stream, script)
            return engine.wait(name, timeout=None)
        finally:
            engine.remove(name, force=True)
            shutil.rmtree(script_dir, ignore_errors=True)

    def _write_script(self, text):
        script_dir = os.path.join(self.server.cfg.system.tmp_directory, self.server.uuid)
        os.makedirs(script_dir, mode=0o755, exist_ok=True)
        path = os.path.join(script_dir, "install.sh")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return script_dir

    def _pump_output(self, stream, script):
        splitter = LineSplitter()
        with self._open_log(script) as log_file:
            while True:
                data = stream.recv(65536)
                if not data:
                    break
                log_file.write(data)
                self._install_output([line.decode("utf-8", "replace")
                                      for line in splitter.feed(data)])
            self._install_output([line.decode("utf-8", "replace") for line in splitter.flush()])
        stream.close()

    def _open_log(self, script):
        """``<log_directory>/install/<uuid>.log``, emptied, its header written (§7.2 step 7)."""
        path = os.path.join(self.server.cfg.system.log_directory, "install",
                            "%s.log" % self.server.uuid)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        # the environment may hold a user's secrets: the log is the node owner's alone,
        # also when an older log was left with looser permissions
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        log_file = os.fdopen(fd, "wb")
        log_file.write(self._log_header(script).encode("utf-8"))
        return log_file

    def _log_header(self, script):
        """What the install log says before the script's output (wings-behaviour.md §7.2
        step 7); values are written as they are, not HTML-escaped as upstream does."""
        env = container.environment_list(self.server.definition, self.server.cfg,
                                         rewrite_loopback=False)
        return LOG_HEADER % {
            "uuid": self.server.uuid, "image": script["container_image"],
            "entrypoint": script["entrypoint"],
            "environment": "".join("  %s\n" % variable for variable in env)}

    def _install_output(self, lines):
        if lines:
            self.server.publish("install output", lines)
