"""Running a real wingspan daemon for integration tests, and talking to it like a Panel."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid as uuidlib

import docker
import requests
import yaml

from tests.support.panel_jwt import panel_jwt

WINGSPAN = os.path.join(os.path.dirname(sys.executable), "wingspan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_uuid():
    return str(uuidlib.uuid4())


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def node_config(tmp, panel, network, port):
    """A node config.yml like the Panel generates, pointed at temporary directories."""
    return {
        "debug": False, "uuid": panel.node_uuid, "token_id": panel.token_id,
        "token": panel.token,
        "api": {"host": "127.0.0.1", "port": port},
        "system": {
            "root_directory": os.path.join(tmp, "lib"), "log_directory": os.path.join(tmp, "log"),
            "data": os.path.join(tmp, "volumes"), "archive_directory": os.path.join(tmp, "archives"),
            "backup_directory": os.path.join(tmp, "backups"), "tmp_directory": os.path.join(tmp, "tmp"),
            "user": {"uid": 1000, "gid": 1000},
            "sftp": {"bind_address": "127.0.0.1", "bind_port": free_port()},
        },
        "docker": {"network": {
            "name": network["name"], "network_mode": network["name"],
            "interfaces": {"v4": {"subnet": network["subnet"], "gateway": network["gateway"]},
                           "v6": {"subnet": network["subnet6"], "gateway": network["gateway6"]}}}},
        "remote": panel.url,
        "remote_query": {"timeout": 5, "boot_servers_per_page": 50},
        "allowed_origins": [],
        "wingspan": {"run_directory": os.path.join(tmp, "run")},
    }


class Daemon:
    """One wingspan process tree, started with ``wingspan --config``."""

    def __init__(self, tmp, config):
        self.tmp = tmp
        self.config = config
        self.config_path = os.path.join(tmp, "config.yml")
        self.log_path = os.path.join(tmp, "daemon.log")
        self.process = None
        self.url = "http://127.0.0.1:%d" % config["api"]["port"]
        self.token = config["token"]

    def write_config(self):
        os.makedirs(self.tmp, exist_ok=True)
        with open(self.config_path, "w") as f:
            yaml.safe_dump(self.config, f)

    def start(self, wait=True):
        if not os.path.exists(self.config_path):
            self.write_config()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([WINGSPAN, "--config", self.config_path],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            wait_until(self.answers, timeout=30, what="the daemon's API")
        return self

    def answers(self):
        if self.process.poll() is not None:
            raise AssertionError("daemon exited with %s:\n%s" % (self.process.returncode,
                                                                 self.log_tail()))
        try:
            return self.get("/api/system").status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self, timeout=15):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # -- the Panel's side of the API (panel-contract.md §7.4) -------------------------------

    def headers(self, token=None):
        return {"Authorization": "Bearer %s" % (token or self.token),
                "Accept": "application/json", "Content-Type": "application/json",
                "User-Agent": "GuzzleHttp/7"}

    def get(self, path, **kw):
        return requests.get(self.url + path, headers=self.headers(), timeout=15, **kw)

    def post(self, path, body=None, **kw):
        data = json.dumps(body) if body is not None else None
        return requests.post(self.url + path, data=data, headers=self.headers(), timeout=15, **kw)

    def delete(self, path):
        return requests.delete(self.url + path, headers=self.headers(), timeout=15)

    def state(self, uuid):
        return self.get("/api/servers/%s" % uuid).json()["state"]

    def wait_state(self, uuid, state, timeout=15):
        return wait_until(lambda: self.state(uuid) == state, timeout=timeout,
                          what="%s to be %s" % (uuid, state))

    def processes(self):
        """``{title: pid}`` of this daemon's processes (titles name role and server)."""
        import psutil
        root = psutil.Process(self.process.pid)
        found = {}
        for proc in [root] + root.children(recursive=True):
            try:
                found[" ".join(proc.cmdline()).strip()] = proc.pid
            except psutil.Error:
                continue
        return found

    def worker_pid(self, uuid):
        for title, pid in self.processes().items():
            if title == "wingspan: worker %s" % uuid:
                return pid
        return None


def docker_client():
    return docker.from_env(timeout=60)


def remove_labelled(client, label):
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)


def console_token(node_token, server_uuid, permissions=("*",), ttl=600, user_id=1, iat=None,
                  alg="HS256"):
    """A websocket token as the Panel mints it for user ``user_id`` (panel-contract.md §3)."""
    return panel_jwt(node_token, "http://127.0.0.1", "%s%s" % (user_id, server_uuid), ttl=ttl,
                     claims=[("server_uuid", server_uuid), ("permissions", list(permissions))],
                     user={"uuid": str(uuidlib.uuid4()), "id": user_id}, now=iat, alg=alg)


class BrowserSocket:
    """The Panel's browser console, as a websocket client (panel-contract.md §7.5)."""

    def __init__(self, daemon, uuid, origin=None):
        import websocket
        origin = origin or daemon.config["remote"]  # the Panel's own page
        url = daemon.url.replace("http://", "ws://") + "/api/servers/%s/ws" % uuid
        self.ws = websocket.create_connection(url, origin=origin, timeout=10)
        self.frames = []

    def send(self, event, *args):
        self.ws.send(json.dumps({"event": event, "args": list(args)}))

    def recv(self, timeout=10.0):
        self.ws.settimeout(timeout)
        message = json.loads(self.ws.recv())
        self.frames.append(message)
        return message

    def wait_for(self, event, timeout=10.0, where=lambda m: True):
        """The next frame named ``event`` (satisfying ``where``); earlier ones are kept."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                message = self.recv(max(0.05, deadline - time.time()))
            except Exception as e:  # websocket timeouts and closes end the wait
                raise AssertionError("no %r frame: %s; got %r" % (event, e, self.frames[-20:]))
            if message["event"] == event and where(message):
                return message
        raise AssertionError("no %r frame within %ss; got %r" % (event, timeout, self.frames[-20:]))

    def close(self):
        self.ws.close()
