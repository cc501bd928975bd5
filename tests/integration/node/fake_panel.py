"""An in-repo fake Panel: the /api/remote endpoints a node calls (panel-contract.md §7).

A threaded HTTP server on 127.0.0.1 that authenticates like the Panel (§2.1), answers with
the Panel's envelopes, records every call, and can be told to fail a route N times.
"""

import json
import re
import secrets
import string
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def panel_error(status, code, detail=""):
    return status, {"errors": [{"code": code, "status": str(status), "detail": detail}]}


class Call:
    def __init__(self, method, path, query, headers, body):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body
        self.time = time.time()

    def __repr__(self):
        return "<%s %s %s>" % (self.method, self.path, self.query)


class FakePanel:
    def __init__(self, session_label):
        alphabet = string.ascii_letters + string.digits
        self.token_id = "".join(secrets.choice(alphabet) for _ in range(16))
        self.token = "".join(secrets.choice(alphabet) for _ in range(64))
        self.node_uuid = str(uuidlib.uuid4())
        self.session_label = session_label
        self.servers = {}
        self.install_scripts = {}
        self.calls = []
        self.faults = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"panel": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- test controls ----------------------------------------------------------------------

    def add_server(self, uuid, **overrides):
        self.servers[uuid] = server_document(uuid, self.session_label, **overrides)
        return self.servers[uuid]

    def fail(self, method, path_pattern, status=500, times=1):
        """Answer the next ``times`` matching calls with ``status``."""
        with self._lock:
            self.faults.append([method, re.compile(path_pattern), status, times])

    def calls_to(self, method, path_pattern):
        pattern = re.compile(path_pattern)
        with self._lock:
            return [c for c in self.calls if c.method == method and pattern.search(c.path)]

    def wait_for_call(self, method, path_pattern, timeout=10.0, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.calls_to(method, path_pattern)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError("no %s %s within %ss; calls: %r" % (method, path_pattern, timeout,
                                                                 self.calls))

    # -- request handling -------------------------------------------------------------------

    def _record(self, call):
        with self._lock:
            self.calls.append(call)
            for fault in self.faults:
                method, pattern, status, times = fault
                if times > 0 and method == call.method and pattern.search(call.path):
                    fault[3] -= 1
                    return panel_error(status, "HttpException", "injected fault")
        return None

    def _authenticate(self, header):
        if not header or not header.startswith("Bearer "):
            return panel_error(401, "HttpException",
                               "Access to this endpoint must include an Authorization header.")
        parts = header[len("Bearer "):].split(".")
        if len(parts) != 2 or not all(parts):
            return panel_error(400, "BadRequestHttpException", "")
        if parts[0] != self.token_id or parts[1] != self.token:
            return panel_error(403, "AccessDeniedHttpException",
                               "You are not authorized to access this resource.")
        return None

    def handle(self, call, auth_header, accept, content_type):
        fault = self._record(call)
        if fault:
            return fault
        refused = self._authenticate(auth_header)
        if refused:
            return refused
        if "json" not in (accept or ""):
            return 406, {"errors": [{"detail": "Accept must ask for JSON"}]}
        if call.method == "POST" and content_type != "application/json":
            return 415, {"errors": [{"detail": "Content-Type must be application/json"}]}
        return self._route(call)

    def _route(self, call):
        path, method = call.path, call.method
        if method == "GET" and path == "/api/remote/servers":
            return self._list(call)
        if method == "POST" and path == "/api/remote/servers/reset":
            return 204, None
        match = re.fullmatch(r"/api/remote/servers/([^/]+)(/install)?", path)
        if match:
            doc = self._find(match.group(1))
            if doc is None:
                return panel_error(404, "RecordNotFoundException", "")
            if not match.group(2) and method == "GET":
                return 200, {"settings": doc["settings"],
                             "process_configuration": doc["process_configuration"]}
            if match.group(2) and method == "GET":
                return 200, self.install_scripts.get(doc["settings"]["uuid"], {
                    "container_image": "wingspan-test/game:latest", "entrypoint": "sh",
                    "script": "#!/bin/sh\r\necho installed > /mnt/server/installed.txt\r\n"})
            if match.group(2) and method == "POST":
                if not isinstance((call.body or {}).get("successful"), bool):
                    return 422, {"errors": [{"code": "ValidationException", "status": "422",
                                             "detail": "The successful field must be present."}]}
                return 204, None
        if method == "POST" and path == "/api/remote/activity":
            return 200, None
        return panel_error(404, "NotFoundHttpException", "unknown route")

    def _find(self, key):
        for uuid, doc in self.servers.items():
            if key in (uuid, uuid[:8]):
                return doc
        return None

    def _list(self, call):
        per_page = int(call.query.get("per_page", ["50"])[0])
        page = max(int(call.query.get("page", ["1"])[0] or 1), 1)
        uuids = list(self.servers)
        last_page = max(1, -(-len(uuids) // per_page))
        chunk = uuids[(page - 1) * per_page:page * per_page]
        data = [{"uuid": u, "settings": self.servers[u]["settings"],
                 "process_configuration": self.servers[u]["process_configuration"]} for u in chunk]
        return 200, {"data": data, "links": {}, "meta": {
            "current_page": page, "from": (page - 1) * per_page + 1 if chunk else None,
            "last_page": last_page, "per_page": per_page,
            "to": (page - 1) * per_page + len(chunk) if chunk else None, "total": len(uuids)}}


class _Handler(BaseHTTPRequestHandler):
    panel = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        call = Call(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
        status, payload = self.panel.handle(call, self.headers.get("Authorization"),
                                            self.headers.get("Accept"),
                                            self.headers.get("Content-Type"))
        out = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def server_document(uuid, session_label, port=None, image="wingspan-test/game:latest",
                    invocation="sh /game.sh", done=("Server started",), stop=None,
                    suspended=False, memory=128, disk=256, environment=None):
    """A Panel server document (panel-contract.md §2.3) for the local test image."""
    allocation = {"default": {"ip": "127.0.0.1", "port": port or 0},
                  "mappings": {"127.0.0.1": [port]} if port else {},
                  "force_outgoing_ip": False}
    return {
        "settings": {
            "uuid": uuid, "meta": {"name": "test " + uuid[:8], "description": ""},
            "suspended": suspended, "environment": environment or {"START_DELAY": "0.2"},
            "invocation": invocation, "skip_egg_scripts": True,
            "build": {"memory_limit": memory, "swap": 0, "io_weight": 500, "cpu_limit": 0,
                      "threads": None, "disk_space": disk, "oom_disabled": False},
            "container": {"image": image, "oom_disabled": False, "requires_rebuild": False},
            "allocations": allocation, "mounts": [],
            "egg": {"id": "test-egg", "file_denylist": []},
            "labels": {"wingspan.test": session_label},
        },
        "process_configuration": {
            "startup": {"done": list(done), "user_interaction": [], "strip_ansi": False},
            "stop": stop or {"type": "command", "value": "stop"},
            "configs": [],
        },
    }
