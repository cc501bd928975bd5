"""Schemathesis against the committed OpenAPI document (issue 19, "Fuzzing"): every
operation of api/openapi.json, with examples that fit it and examples that do not, sent
once with the node token and once with none, to a real daemon with real Docker and the
fake Panel.

Spec: wings-api.md §1.5 (node token: 401 without one), §1.6 (error bodies and statuses),
§2 (the route table), §16 (the hardened behaviours); the document itself is the contract
every answer is checked against: no 5xx but the three the spec asks for (with their
texts), no status, content type or body it does not declare, no traceback in the daemon's
log, and no daemon process lost.

The examples aim at a server that exists (three in four name it), so that routes are
exercised beyond their 404; a server delete gets a server of its own, created for the
purpose, and the heavy operations (delete, install, reinstall) do their work for three
examples, then name a server that does not exist. Nothing leaves the machine: a URL the
daemon would fetch or send to (pulls, transfers) is pointed at a closed loopback port,
``POST /api/update`` with the node token never receives a key config.yml holds, in any
letter case (it would repoint the Panel or change the token under the test), and the image
prune is limited to a label no image carries (the machine's images are not the test's).
"""

import collections
import os
import shutil
import tempfile
import uuid as uuidlib

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from tests.integration.conftest import KNOWN_UUIDS, SESSION_LABEL, SESSION_ID
from tests.support import dockerenv
from tests.support.daemon import Daemon, node_config
from tests.support.fakepanel import FakePanel
from tests.support.ports import free_port
from wingspan import errors

DOCUMENT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "api", "openapi.json")
EXAMPLES = 12
# Operations whose every example would fork an installer or a worker: a few do the real
# thing, the rest name a server that does not exist.
HEAVY_LIMIT = 3
# The only 5xx answers the spec asks for, each with its exact error text: commands to a
# stopped server (§4.5), and the Panel refusing a server's configuration on create or sync
# (§3.4, §4.8: a captured error).
SPEC_5XX = {
    ("POST /api/servers/{server}/commands", 502): errors.ServerNotRunning.message,
    ("POST /api/servers", 500): errors.PanelError.message,
    ("POST /api/servers/{server}/sync", 500): errors.PanelError.message,
}


def only_the_spec_server_errors(ctx, response, case):
    """A 5xx only where the spec has one, with its text; never a generic failure."""
    if response.status_code < 500:
        return None
    operation = "%s %s" % (case.method.upper(), case.path)
    expected = SPEC_5XX.get((operation, response.status_code))
    body = response.json() if "json" in response.headers.get("content-type", [""])[0] else None
    assert expected is not None and isinstance(body, dict) and body.get("error") == expected, \
        "a %d the spec does not ask for: %r" % (response.status_code, response.text[:500])
    return True


CHECKS = [only_the_spec_server_errors, status_code_conformance, content_type_conformance,
          response_schema_conformance]
CLOSED_PORT_URL = "http://127.0.0.1:%d/" % free_port()
PRUNE_LABEL = "wingspan.test.fuzz=%s" % SESSION_ID
# wings-api.md §15.3: the top-level keys POST /api/update takes, in any letter case.
UPDATE_KEYS = {"debug", "app_name", "uuid", "token_id", "token", "api", "system", "docker",
               "throttles", "remote", "remote_query", "allowed_origins",
               "allow_cors_private_network", "ignore_panel_config_updates", "wingspan"}

schema = schemathesis.openapi.from_path(DOCUMENT)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES, deterministic=True, database="none")


class Node:
    """The daemon under test, its servers, and what the test has done to them."""

    def __init__(self, panel, daemon, server):
        self.panel = panel
        self.daemon = daemon
        self.server = server
        self.config_keys = {key.lower() for key in daemon.config} | UPDATE_KEYS
        self.heavy = {}
        self.deleted = set()
        self.cases = 0
        self.statuses = collections.Counter()  # (with the token?, status)
        self.log_offset = 0
        self.processes = daemon.processes()

    def aim(self, case):
        """Point ``case`` at a server that exists, or one made for it, and keep it on this
        machine."""
        self.cases += 1
        operation = "%s %s" % (case.method.upper(), case.path)
        if "server" in (case.path_parameters or {}) and self.cases % 4:
            case.path_parameters["server"] = self.target(operation)
        if operation == "DELETE /api/system/docker/image/prune":
            # the machine's images are not the test's: only those carrying its label
            case.query = dict(case.query or {}, label=[PRUNE_LABEL])
        if isinstance(case.body, dict):
            if "url" in case.body:
                case.body["url"] = CLOSED_PORT_URL
            if operation == "POST /api/update":
                for key in [k for k in case.body if k.lower() in self.config_keys]:
                    del case.body[key]

    def target(self, operation):
        if operation == "DELETE /api/servers/{server}":
            if not self.counted(operation):
                return str(uuidlib.uuid4())
            uuid = str(uuidlib.uuid4())
            self.panel.add_server(uuid)
            assert self.daemon.create_server(uuid).status_code == 202
            self.deleted.add(uuid)
            return uuid
        if operation in ("POST /api/servers/{server}/reinstall",
                         "POST /api/servers/{server}/install") \
                and not self.counted(operation):
            return str(uuidlib.uuid4())
        return self.server

    def counted(self, operation):
        """Whether ``operation`` may still do its heavy work."""
        self.heavy[operation] = self.heavy.get(operation, 0) + 1
        return self.heavy[operation] <= HEAVY_LIMIT

    def new_tracebacks(self):
        with open(self.daemon.log_path, errors="replace") as f:
            f.seek(self.log_offset)
            text = f.read()
            self.log_offset = f.tell()
        return text if "Traceback" in text else None


@pytest.fixture(scope="module")
def node(docker_client, test_network, tmp_path_factory):
    panel = FakePanel(SESSION_ID).start()
    base_dir = str(tmp_path_factory.mktemp("schemathesis"))
    run_dir = tempfile.mkdtemp(prefix="ws-")  # ipc:// paths must stay under 108 bytes
    daemon = Daemon(node_config(panel, panel.node, base_dir, run_dir, test_network), base_dir)
    panel.node.address = daemon.url
    server = str(uuidlib.uuid4())
    panel.add_server(server)
    try:
        daemon.start()
        daemon.write(server, "hello.txt", b"hello")
        yield Node(panel, daemon, server)
    finally:
        daemon.stop()
        panel.stop()
        KNOWN_UUIDS.update(panel.seen_uuids)
        dockerenv.remove_containers(docker_client, SESSION_LABEL, panel.seen_uuids)
        shutil.rmtree(run_dir, ignore_errors=True)


@schema.parametrize()
def test_operation(case, node):
    node.aim(case)
    token = {"Authorization": "Bearer %s" % node.daemon.token}
    for headers in (token, {}):
        if not headers:  # none at all, not the empty credentials the document's scheme gets
            case.headers = {k: v for k, v in (case.headers or {}).items()
                            if k.lower() != "authorization"}
        response = case.call(base_url=node.daemon.url, headers=headers, timeout=30)
        node.statuses[bool(headers), response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
    logged = node.new_tracebacks()
    assert logged is None, "the daemon logged a traceback:\n%s" % logged


def test_every_daemon_process_outlived_the_examples(node):
    """Runs after the operations (pytest keeps the file's order): only the workers of the
    servers the test deleted are gone."""
    survivors = {title: pid for title, pid in node.processes.items()
                 if not any(uuid in title for uuid in node.deleted)}
    now = node.daemon.processes()
    assert {title: now.get(title) for title in survivors} == survivors
    print("schemathesis: %d examples, each sent with the node token and without; statuses "
          "(with the token?, status): %r" % (node.cases, sorted(node.statuses.items())))
