"""An in-repo fake Panel: the ``/api/remote/*`` API a node daemon calls (panel-contract.md §7).

``FakePanel`` is a threaded HTTP server on 127.0.0.1 (several daemon requests are in flight
at once, and the daemon calls back while a test is blocked on its own request, §7.1). It
authenticates nodes exactly as the Panel does (§2.1), holds the Panel's state (§7.2),
answers per ``panel_routes`` (§7.3), records every call, and can be told to fail, delay or
reset the connection of a route. ``server_document`` builds the ``settings`` +
``process_configuration`` of a server running the local test image (§2.3).
"""

import json
import re
import secrets
import socket
import string
import struct
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

from tests.support import panel_routes
from tests.support.driver import PanelDriver
from tests.support.fakes3 import FakeS3
from tests.support.loopback import LoopbackServer
from tests.support.panel_jwt import panel_jwt
from tests.support.panel_routes import error
from tests.support.ports import free_port

# "~": local-only images, never pulled (wings-behaviour.md §3.9): no registry is reachable
GAME_IMAGE = "~wingspan-test/game:latest"
INSTALLER_IMAGE = "~wingspan-test/installer:latest"
TEST_LABEL = "wingspan.test"
DONE_LINE = "Server started"
INVOCATION = "sh /game.sh {{START_DELAY}}"
EGG_UUID = "5a1e0c1d-7f3b-4c2a-9e8d-6b4f2a1c0e9d"
INSTALL_SCRIPT = "#!/bin/ash\r\necho hello > /mnt/server/installed.txt\r\n"
DEFAULT_S3_PART_SIZE = 5 * 1024 ** 3
UUID_IN_PATH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INJECTED = "An unexpected error was encountered while processing this request, please try again."
TRANSFER_TOKEN_TTL = 900
RESET = object()


def random_token(length):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Node:
    """A node as the Panel knows it: its credentials and where the Panel reaches it.

    ``id`` is its number in the Panel (``wingspan configure --node``); ``daemon_listen``,
    ``daemon_sftp``, ``daemon_base``, ``fqdn``, ``scheme`` and ``upload_size`` are the
    admin's settings its generated configuration is made of (panel-contract.md §5)."""

    def __init__(self, id=1):
        self.id = id
        self.uuid = str(uuidlib.uuid4())
        self.token_id = random_token(16)
        self.token = random_token(64)
        self.address = None  # http://127.0.0.1:<port> once a daemon serves this node
        self.maintenance = False
        self.daemon_listen = 8080
        self.daemon_sftp = 2022
        self.daemon_base = "/var/lib/pterodactyl/volumes"
        self.fqdn = "node%d.example.com" % id
        self.scheme = "https"
        self.behind_proxy = False
        self.upload_size = 100
        self.mounts = []

    @property
    def credential(self):
        """What the node sends: ``<token_id>.<token>``."""
        return "%s.%s" % (self.token_id, self.token)


class Call:
    """One request the fake received; ``body`` is the parsed JSON (None for none or null)."""

    def __init__(self, method, path, query, headers, raw, client):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw = raw
        self.client = client
        self.time = time.time()
        self.invalid_json = False
        self.body = None
        if raw:
            try:
                self.body = json.loads(raw)
            except ValueError:
                self.invalid_json = True

    def __repr__(self):
        query = "&".join("%s=%s" % (k, v) for k, vs in self.query.items() for v in vs)
        return "<%s %s%s>" % (self.method, self.path, "?" + query if query else "")


class Fault:
    def __init__(self, method, path_regex, kind, value, times):
        self.method = method
        self.pattern = re.compile(path_regex)
        self.kind = kind
        self.value = value
        self.times = times

    def matches(self, call):
        return ((self.method is None or self.method == call.method)
                and self.pattern.fullmatch(call.path) is not None
                and (self.times is None or self.times > 0))


class FakePanel:
    """The Panel, as far as nodes can tell. Use ``start()``/``stop()`` or ``with``.

    Tests read and edit the state directly: ``servers[uuid]`` (``settings``,
    ``process_configuration``, ``status``, ``installed_at``, ``transfer``, ``install``,
    ``owner``, ``node``), ``users``, ``subusers``, ``backups``, ``nodes``; and the logs
    ``activity``, ``install_reports``, ``backup_reports``, ``restore_reports``,
    ``transfer_reports``, ``reset_calls``. Paths in ``calls``, ``wait_for_call`` and the
    fault methods are regular expressions that must match the whole path.
    """

    def __init__(self, session_label="", backup_adapter="wings", s3=None):
        self.session_label = session_label
        self.node = Node()
        self.nodes = {self.node.uuid: self.node}
        self.servers = {}
        self.users = {}
        self.subusers = {}
        self.backups = {}
        self.backup_adapter = backup_adapter
        self.s3_part_size = DEFAULT_S3_PART_SIZE
        self.strict_headers = True
        self.strict_timestamps = True
        self.activity = []
        self.install_reports = []
        self.backup_reports = []
        self.restore_reports = []
        self.transfer_reports = []
        self.reset_calls = 0
        self.seen_uuids = set()
        # application API keys (ptla_...) and whether each may read nodes
        self.application_keys = {}
        self.lock = threading.RLock()
        self._calls = []
        self._faults = []
        self._sftp_failures = {}
        self._recorded = threading.Condition(self.lock)
        self.s3 = s3 if s3 is not None else FakeS3()
        self.server = LoopbackServer(type("PanelHandler", (_Handler,), {"panel": self}),
                                     name="fake-panel")
        self.url = self.server.url

    # -- lifecycle ---------------------------------------------------------------------

    def start(self):
        self.s3.start()
        self.server.start()
        return self

    def stop(self):
        self.server.stop()
        self.s3.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the primary node, by the names a config.yml uses (§5) --------------------------

    @property
    def panel_url(self):
        """``remote`` in the node config, the JWT ``iss`` and the browser's Origin."""
        return self.url

    @property
    def node_uuid(self):
        return self.node.uuid

    @property
    def token_id(self):
        return self.node.token_id

    @property
    def token(self):
        return self.node.token

    # -- state set-up --------------------------------------------------------------------

    def add_application_key(self, read_nodes=True):
        """An application API key, as an administrator creates one; returns its token."""
        key = "ptla_" + random_token(43)
        self.application_keys[key] = read_nodes
        return key

    def add_node(self):
        """Another node (a transfer target); give it a daemon with ``node=``."""
        node = Node(len(self.nodes) + 1)
        self.nodes[node.uuid] = node
        return node

    def server_document(self, uuid, **overrides):
        return server_document(uuid, self.session_label, **overrides)

    def add_server(self, uuid=None, *, node=None, owner=None, status=None, install=None,
                   **overrides):
        """Register a server on ``node`` (default: the primary node); ``overrides`` go to
        ``server_document``. Returns the server's record."""
        uuid = uuid or str(uuidlib.uuid4())
        record = self.server_document(uuid, **overrides)
        record.update(
            node=(node or self.node).uuid, owner=owner,
            status="suspended" if overrides.get("suspended") else status,
            installed_at=None, transfer=None,
            install=install or {"container_image": INSTALLER_IMAGE, "entrypoint": "ash",
                                "script": INSTALL_SCRIPT})
        with self.lock:
            self.servers[uuid] = record
            self.seen_uuids.add(uuid)
        return record

    def suspend(self, uuid, suspended=True):
        """What the Panel's SuspensionService changes (then it calls ``/sync``)."""
        record = self.servers[uuid]
        record["settings"]["suspended"] = suspended
        record["status"] = "suspended" if suspended else None

    def add_user(self, username, password="password", keys=(), root_admin=False):
        """A Panel user; ``keys`` are authorized_keys lines for SFTP key logins."""
        with self.lock:
            user = {"id": len(self.users) + 1, "uuid": str(uuidlib.uuid4()),
                    "username": username, "password": password, "root_admin": root_admin,
                    "ssh_key_fingerprints": [panel_routes.key_fingerprint(k) for k in keys]}
            self.users[username] = user
        return user

    def add_subuser(self, server_uuid, username, permissions):
        self.subusers[(server_uuid, username)] = list(permissions)

    def add_backup(self, server_uuid, backup_uuid=None, disk=None, ignored=""):
        """The backup row the Panel creates before it asks the node to make the backup."""
        backup_uuid = backup_uuid or str(uuidlib.uuid4())
        self.backups[backup_uuid] = {
            "server_uuid": server_uuid, "is_successful": False, "is_locked": False,
            "completed_at": None, "checksum": None, "bytes": 0,
            "disk": disk or self.backup_adapter, "upload_id": None, "ignored": ignored}
        return backup_uuid

    def start_transfer(self, server_uuid, new_node):
        """What the admin transfer page records before it notifies the source node."""
        record = self.servers[server_uuid]
        record["transfer"] = {"old_node": record["node"], "new_node": new_node.uuid}

    def transfer_token(self, server_uuid, new_node, **kwargs):
        """The JWT the admin transfer page mints for ``new_node`` (panel-contract.md §3.2):
        signed with that node's token, ``sub`` = the server, jti sha256(uuid), 15 min."""
        return panel_jwt(new_node.token, new_node.address, server_uuid, algo="sha256",
                         ttl=TRANSFER_TOKEN_TTL, subject=server_uuid, panel_url=self.url,
                         **kwargs)

    def transfer(self, server_uuid, new_node, token=None, backups=None):
        """Move a server as the Panel does (panel-contract.md §6 item 11): record the
        transfer, then notify the source node with the destination's address and a transfer
        JWT (``token`` replaces it), and with Pelican's ``backups`` when given. Returns the
        source's response; from there the source streams to the destination, which reports
        to this fake."""
        old_node = self.nodes[self.servers[server_uuid]["node"]]
        self.start_transfer(server_uuid, new_node)
        token = token or self.transfer_token(server_uuid, new_node)
        return PanelDriver(old_node.address, old_node.token).transfer(
            server_uuid, new_node.address, token, backups)

    # -- lookups used by the routes ------------------------------------------------------

    def find_server(self, key):
        """``(uuid, record)`` by full uuid or 8-char short id, or None."""
        if key in self.servers:
            return key, self.servers[key]
        if len(key) == 8:
            for uuid, record in self.servers.items():
                if uuid[:8] == key:
                    return uuid, record
        return None

    def find_user(self, username):
        for name, user in self.users.items():
            if name.lower() == username.lower():
                return user
        return None

    def sftp_failure(self, key):
        self._sftp_failures.setdefault(key, []).append(time.monotonic())

    def sftp_failures_within(self, key, seconds):
        horizon = time.monotonic() - seconds
        return sum(1 for t in self._sftp_failures.get(key, []) if t >= horizon)

    # -- fault injection (§7.1) ------------------------------------------------------------

    def fail(self, method, path_regex, status=500, times=1):
        """Answer the next ``times`` matching calls (None: all) with ``status``."""
        self._add_fault(Fault(method, path_regex, "status", status, times))

    def delay(self, method, path_regex, seconds, times=1):
        """Hold the next ``times`` matching calls for ``seconds``, then answer normally."""
        self._add_fault(Fault(method, path_regex, "delay", seconds, times))

    def reset_connection(self, method, path_regex, times=1):
        """Drop the next ``times`` matching calls with a TCP reset, without answering."""
        self._add_fault(Fault(method, path_regex, "reset", None, times))

    def clear_faults(self):
        with self.lock:
            self._faults.clear()

    def _add_fault(self, fault):
        with self.lock:
            self._faults.append(fault)

    def _take_fault(self, call):
        with self.lock:
            for fault in self._faults:
                if fault.matches(call):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- recorded calls --------------------------------------------------------------------

    def calls(self, method=None, path=None):
        """Recorded calls, oldest first, optionally filtered by method and path regex."""
        pattern = re.compile(path) if path is not None else None
        with self.lock:
            return [c for c in self._calls
                    if (method is None or c.method == method)
                    and (pattern is None or pattern.fullmatch(c.path))]

    def wait_for_call(self, method, path, timeout=10.0, count=1):
        """Block until ``count`` matching calls were received; return them all."""
        deadline = time.monotonic() + timeout
        with self._recorded:
            while True:
                found = self.calls(method, path)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("fake Panel: %d x %s %s not received within %ss; "
                                         "calls: %r" % (count, method, path, timeout,
                                                        self._calls[-30:]))
                self._recorded.wait(remaining)

    # -- request handling ------------------------------------------------------------------

    def handle(self, call):
        """The reply to one request, or ``RESET`` to drop the connection."""
        with self._recorded:
            self._calls.append(call)
            self.seen_uuids.update(UUID_IN_PATH.findall(call.path))
            self._recorded.notify_all()
        fault = self._take_fault(call)
        if fault is not None and fault.kind == "reset":
            return RESET
        if fault is not None and fault.kind == "status":
            return error(fault.value, "HttpException", INJECTED)
        if fault is not None:
            time.sleep(fault.value)
        if call.path.startswith(panel_routes.APPLICATION_PREFIX):
            node, refusal = None, self._authenticate_application(call)
        else:
            node, refusal = self._authenticate(call.headers.get("Authorization"))
        if refusal is None and self.strict_headers:
            refusal = strictness_refusal(call)
        if refusal is not None:
            return refusal
        handler, resolved = panel_routes.resolve(call.method, call.path)
        if handler is None:
            return resolved
        with self.lock:
            reply = handler(self, node, call, *resolved)
        if reply.after is not None:
            reply.after()
        return reply

    def _authenticate_application(self, call):
        """The application API's key check: None when the key may read nodes, else the
        Panel's 401 (no or unknown key) or 403 (a key without that permission)."""
        header = call.headers.get("Authorization") or ""
        key = header[len("Bearer "):] if header.startswith("Bearer ") else None
        if key not in self.application_keys:
            return error(401, "AuthenticationException", "Unauthenticated.")
        if not self.application_keys[key]:
            return error(403, "AccessDeniedHttpException", "This action is unauthorized.")
        return None

    def _authenticate(self, header):
        """``DaemonAuthenticate`` (§2.1): ``(node, None)`` or ``(None, refusal)``."""
        header = header or ""
        position = header.rfind("Bearer ")
        if position < 0:
            return None, error(401, "HttpException",
                               "Access to this endpoint must include an Authorization header.",
                               {"WWW-Authenticate": "Bearer"})
        bearer = header[position + len("Bearer "):].split(",")[0]
        parts = bearer.split(".")
        if len(parts) != 2 or parts[0] in ("", "0") or parts[1] in ("", "0"):
            return None, error(400, "BadRequestHttpException",
                               "The Authorization header provided was not in a valid format.")
        for node in self.nodes.values():
            if node.token_id == parts[0] and secrets.compare_digest(node.token, parts[1]):
                return node, None
        return None, error(403, "AccessDeniedHttpException",
                           "You are not authorized to access this resource.")


def strictness_refusal(call):
    """Requests the real Panel would misread (302s, HTML, missing fields), refused loudly."""
    accept = call.headers.get("Accept") or ""
    if "json" not in accept:
        return error(406, "FakePanelNotAcceptable",
                     "fake Panel: Accept %r does not ask for JSON; the real Panel would answer "
                     "with a redirect or HTML" % accept)
    content_type = call.headers.get("Content-Type") or ""
    if call.raw and "/json" not in content_type and "+json" not in content_type:
        return error(415, "FakePanelUnsupportedMediaType",
                     "fake Panel: a body sent as %r is not parsed by the real Panel; send "
                     "Content-Type: application/json" % content_type)
    if call.invalid_json:
        return error(400, "FakePanelInvalidJson",
                     "fake Panel: the body is not valid JSON; the real Panel would read every "
                     "field as missing")
    return None


def server_document(uuid, session="", *, name=None, image=GAME_IMAGE, invocation=INVOCATION,
                    environment=None, start_delay="0.2", port=None, memory=256, swap=0,
                    disk=512, cpu=0, io=500, threads=None, oom_disabled=False,
                    suspended=False, skip_egg_scripts=False, mounts=(), file_denylist=(),
                    done=(DONE_LINE,), stop=None, strip_ansi=False, configs=(), labels=None):
    """``{"settings", "process_configuration"}`` as the Panel builds them (§2.3), for a
    server of the local test image: ``game.sh`` started through the yolks-like entrypoint,
    done at "Server started", stopped with the ``stop`` command, on a free 127.0.0.1 port,
    labelled ``wingspan.test=<session>`` so cleanup finds its container."""
    port = port or free_port()
    env = {"START_DELAY": start_delay}
    env.update(environment or {})
    env.update(STARTUP=invocation, P_SERVER_LOCATION="test", P_SERVER_UUID=uuid,
               P_SERVER_ALLOCATION_LIMIT=0)
    return {
        "settings": {
            "uuid": uuid,
            "meta": {"name": name or "test %s" % uuid[:8], "description": ""},
            "suspended": suspended,
            "environment": env,
            "invocation": invocation,
            "skip_egg_scripts": skip_egg_scripts,
            "build": {"memory_limit": memory, "swap": swap, "io_weight": io, "cpu_limit": cpu,
                      "threads": threads, "disk_space": disk, "oom_disabled": oom_disabled},
            "container": {"image": image, "oom_disabled": oom_disabled,
                          "requires_rebuild": False},
            "allocations": {"force_outgoing_ip": False,
                            "default": {"ip": "127.0.0.1", "port": port},
                            "mappings": {"127.0.0.1": [port]}},
            "mounts": list(mounts),
            "egg": {"id": EGG_UUID, "file_denylist": list(file_denylist)},
            "labels": dict(labels) if labels is not None else {TEST_LABEL: session},
        },
        "process_configuration": {
            "startup": {"done": list(done), "user_interaction": [], "strip_ansi": strip_ansi},
            "stop": stop or {"type": "command", "value": "stop"},
            "configs": list(configs),
        },
    }


class _Handler(BaseHTTPRequestHandler):
    panel = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        parts = urlsplit(self.path)
        call = Call(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                    CaseInsensitiveDict(self.headers.items()), self._read_body(),
                    self.client_address[0])
        reply = self.panel.handle(call)
        if reply is RESET:
            self._reset()
        else:
            self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    return b"".join(chunks)
                chunks.append(chunk)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply):
        out = reply.raw
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def _reset(self):
        # SO_LINGER 0 turns close() into an RST instead of an orderly FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

