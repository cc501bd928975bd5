"""A real wingspan daemon for integration tests: its config.yml and its process tree.

``node_config`` writes what the Panel generates for a node (panel-contract.md §5) plus what
a test node needs on top (temporary directories, loopback listeners, the session's Docker
network, a non-root container user). ``Daemon`` runs ``<venv>/bin/wingspan --config PATH``
with its output in a file, waits until ``GET /api/system`` answers, stops it with SIGTERM
(SIGKILL for the whole tree after a grace period) and, being a ``PanelDriver``, is driven
over its API exactly as the Panel drives it.
"""

import compileall
import contextlib
import copy
import functools
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import psutil
import requests
import yaml

from tests.support import dockerenv
from tests.support.driver import PanelDriver
from tests.support.polling import wait_until
from tests.support.ports import free_port
from wingspan import testhooks

WINGSPAN = os.path.join(os.path.dirname(sys.executable), "wingspan")
CONTAINER_UID = 1000
CONTAINER_GID = 1000
READY_TIMEOUT = 30.0
STOP_GRACE = 15.0
# the top-level packages setup.py installs (tests/unit/support/test_daemon_bytecode.py)
DAEMON_PACKAGES = ("wingspan", "supervisor", "worker", "api", "sftp")


@functools.cache
def compile_daemon_code():
    """Byte-compile the daemon's packages, as pip does when it installs them.

    Tests and benchmarks run the daemon from this tree (an editable install), where no
    process writes the bytecode it compiles under PYTHONDONTWRITEBYTECODE, and none can use
    a cached one for a module edited since: each of the daemon's processes would compile
    the whole tree again at its start (more than a second of a 100-server boot)."""
    for directory in daemon_package_directories():
        compileall.compile_dir(directory, quiet=1)


def daemon_package_directories():
    """The directories the daemon's packages are imported from."""
    for package in DAEMON_PACKAGES:
        yield from importlib.util.find_spec(package).submodule_search_locations


def node_config(panel, node, base_dir, run_dir, network, api_port=None, sftp_port=None):
    """The node's config.yml as a dict. ``network`` is ``dockerenv.network_plan``'s result."""
    api_port = api_port or free_port()
    return {
        # what the Panel's Node::getConfiguration() emits (§5)
        "debug": False,
        "uuid": node.uuid,
        "token_id": node.token_id,
        "token": node.token,
        "api": {"host": "127.0.0.1", "port": api_port,
                "ssl": {"enabled": False,
                        "cert": "/etc/letsencrypt/live/127.0.0.1/fullchain.pem",
                        "key": "/etc/letsencrypt/live/127.0.0.1/privkey.pem"},
                "upload_limit": 100},
        "system": {
            "data": os.path.join(base_dir, "volumes"),
            "sftp": {"bind_address": "127.0.0.1", "bind_port": sftp_port or free_port()},
            # what a test node adds: everything in its own directory, a non-root user
            "root_directory": os.path.join(base_dir, "lib"),
            "log_directory": os.path.join(base_dir, "log"),
            "archive_directory": os.path.join(base_dir, "archives"),
            "backup_directory": os.path.join(base_dir, "backups"),
            "tmp_directory": os.path.join(base_dir, "tmp"),
            "user": {"uid": CONTAINER_UID, "gid": CONTAINER_GID},
        },
        "allowed_mounts": [],
        "remote": panel.url,
        "docker": {"network": {
            "name": network["name"], "network_mode": network["name"],
            "interfaces": {"v4": {"subnet": network["subnet"], "gateway": network["gateway"]},
                           "v6": {"subnet": network["subnet6"],
                                  "gateway": network["gateway6"]}}}},
        "remote_query": {"timeout": 5, "boot_servers_per_page": 50},
        "allowed_origins": [],
        "wingspan": {"run_directory": run_dir},
    }


def merged(base, overrides):
    """``base`` with ``overrides`` merged in depth (dicts merge, anything else replaces)."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@contextlib.contextmanager
def module_daemon(panel, docker_client, network, base_dir, overrides=None):
    """A daemon for ``panel``'s primary node, configured (``overrides`` merged into its
    config.yml) but not started, for a whole module. On leaving, the daemon and ``panel``
    stop and the containers of every server ``panel`` knew are removed."""
    # ZeroMQ ipc socket paths must stay under 108 bytes: keep this one short.
    run_dir = tempfile.mkdtemp(prefix="ws-")
    config = merged(node_config(panel, panel.node, base_dir, run_dir, network), overrides or {})
    daemon = Daemon(config, base_dir)
    panel.node.address = daemon.url
    try:
        yield daemon
    finally:
        try:
            daemon.stop()
            panel.stop()
        finally:
            dockerenv.remove_containers(docker_client, None,
                                        set(panel.servers) | panel.seen_uuids)
            shutil.rmtree(run_dir, ignore_errors=True)


class DaemonExited(AssertionError):
    """The daemon process ended while a test waited for it."""


class Daemon(PanelDriver):
    def __init__(self, config, base_dir):
        ssl = config["api"].get("ssl") or {}
        scheme = "https" if ssl.get("enabled") else "http"
        super().__init__("%s://127.0.0.1:%d" % (scheme, config["api"]["port"]),
                         config["token"])
        if ssl.get("enabled"):
            self.verify = ssl["cert"]  # a self-signed certificate for 127.0.0.1
        self.config = config
        self.base_dir = base_dir
        self.config_path = os.path.join(base_dir, "config.yml")
        self.log_path = os.path.join(base_dir, "daemon.log")
        self.process = None
        self._tree = []

    @property
    def panel_url(self):
        """The Panel this daemon reports to: its ``remote`` and the browser's Origin."""
        return self.config["remote"]

    def write_config(self):
        os.makedirs(self.base_dir, exist_ok=True)
        with open(self.config_path, "w") as f:
            yaml.safe_dump(self.config, f, default_flow_style=False)

    def edit_config(self, change):
        """Rewrite config.yml as it is on disk now (the daemon may have rewritten it)
        through ``change(data)``, as an operator edits it before a reload or a restart."""
        with open(self.config_path) as f:
            data = yaml.safe_load(f)
        change(data)
        with open(self.config_path, "w") as f:
            yaml.safe_dump(data, f)

    def start(self, wait=True, debug=False, cwd=None, holds=(), faults=None):
        """Run the daemon (writing config.yml first if it does not exist yet: on a restart
        the daemon's own rewrite of it is kept) in ``cwd`` (default: the tests' own), then
        wait for its API unless told not to. ``holds`` names the ``wingspan.testhooks``
        hold points to switch on; ``faults`` is the directory its faults are planted in."""
        if not os.path.exists(self.config_path):
            self.write_config()
        compile_daemon_code()
        command = [WINGSPAN, "--config", self.config_path] + (["--debug"] if debug else [])
        env = dict(os.environ)
        env.pop(testhooks.ENV, None)
        env.pop(testhooks.FAULTS_ENV, None)
        if holds:
            env[testhooks.ENV] = ",".join(holds)
        if faults:
            env[testhooks.FAULTS_ENV] = faults
        with open(self.log_path, "ab") as log:
            log.write(("\n=== %s\n" % " ".join(command)).encode())
            log.flush()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            cwd=cwd, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        try:
            wait_until(self.answers, timeout=timeout, interval=0.1, what="the daemon's API")
        except DaemonExited:
            raise
        except AssertionError as e:
            raise AssertionError("%s; daemon output:\n%s" % (e, self.log_tail())) from None

    def answers(self):
        """True once ``GET /api/system`` with the node token is 200; every process of the
        tree is remembered on the way, to be killed at teardown."""
        self._remember_tree()
        return self.answers_lightly()

    def answers_lightly(self):
        """:meth:`answers` without walking the process tree: a poll a benchmark times, where
        the walk of a few hundred processes would take CPU from what it measures."""
        if self.process.poll() is not None:
            raise DaemonExited("the daemon exited with %s; output:\n%s"
                               % (self.process.returncode, self.log_tail()))
        try:
            return self.get("/api/system", timeout=(1, 5)).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, grace=STOP_GRACE):
        """SIGTERM, then SIGKILL for the whole process tree after ``grace`` seconds; any
        process of the tree still alive after a clean exit is killed too."""
        if self.process is None:
            return
        self._remember_tree()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._kill_leftovers()

    def kill(self):
        """SIGKILL the supervisor alone, as a crash or the OOM killer would."""
        self._remember_tree()
        self.process.kill()
        self.process.wait()

    def tree_alive(self):
        """Whether a process of the daemon's tree (as last seen) still runs."""
        for proc in self._tree:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    return True
            except psutil.Error:
                continue
        return False

    def log_tail(self, lines=80):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def processes(self):
        """``{title: pid}`` of the daemon's own live processes, titled ``wingspan: <role>``;
        the short-lived programs they run (asyncssh's import runs gcc to look for liboqs)
        are not among them."""
        root = psutil.Process(self.process.pid)
        found = {}
        for proc in [root] + root.children(recursive=True):
            try:
                # an exited process not yet reaped (the zygote's intermediate) has no title
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                title = " ".join(proc.cmdline()).strip()
                if title.startswith("wingspan: "):
                    found[title] = proc.pid
            except psutil.Error:
                continue
        return found

    def worker_pid(self, uuid):
        return self.processes().get("wingspan: worker %s" % uuid)

    def _remember_tree(self):
        """Keep every process ever seen in the tree, to kill survivors at teardown."""
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root] + root.children(recursive=True):
                if proc not in self._tree:
                    self._tree.append(proc)
        except psutil.Error:
            return

    def _kill_leftovers(self):
        for proc in self._tree:
            try:
                if proc.is_running():
                    proc.kill()
            except psutil.Error:
                continue
        psutil.wait_procs([p for p in self._tree if p.pid != self.process.pid], timeout=5)
