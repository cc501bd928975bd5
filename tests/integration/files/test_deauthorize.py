"""``POST /api/deauthorize-user``: a user who lost access loses it at once (peers.md
advisories #9 and #12).

Spec: wings-api.md §16 (body ``{"user": "<uuid>", "servers": [...]}`` → 204; the user's
websockets on those servers closed, every token of the user for them issued at or before
the request refused, all servers when ``servers`` is empty), §10.6 and panel-contract.md
§3.3 (a revoked websocket token is ``jwt: created too far in past (denylist)``), §1.6
(bind errors 400, validation 422). Tokens are minted as the Panel mints them
(panel-contract.md §3.2), for a fresh user in each test.
"""

import json
import os
import random
import time
import uuid as uuidlib

import pytest
import zmq

from tests.integration.files.conftest import wait_for_next_second
from tests.integration.files.helpers import (
    GENERIC,
    MARK,
    REQUEST_ID,
    SECRET,
    assert_handler_error,
)
from tests.support.browser import BrowserSocket, console_token
from tests.support.panel_jwt import panel_jwt
from tests.support.polling import wait_until

SERVERS = {"main": {}, "other": {}}
PURPOSES = ["websocket", "file-download", "file-upload", "backup-download"]
SIGNED_TTL = 900
REVOKED_WEBSOCKET = "jwt: created too far in past (denylist)"
INVALID_TOKEN = "The provided token is invalid or has expired."
CLOSE_DEAUTHORIZED = 4401
EOF_ERROR = "The data passed in the request was not in a parsable format. Please try again."
NOT_VALID = "The data provided in the request could not be validated."
# Where the daemon keeps the revocations (api/server.py), and how far the test steps the
# clock back across a restart.
DEAUTHORIZED = "deauthorized.json"
CLOCK_STEP = 60


def new_user():
    return {"uuid": str(uuidlib.uuid4()), "id": random.randrange(1, 10 ** 6)}


def deauthorize(node, user, servers=None):
    body = {"user": user["uuid"]}
    if servers is not None:
        body["servers"] = [node.uuid(server) for server in servers]
    return node.daemon.post("/api/deauthorize-user", body)


@pytest.fixture
def files(node):
    """A file in each server and a backup, for the signed URLs to serve."""
    for server in SERVERS:
        node.put("hello.txt", SECRET, server=server)
    node.backup, path = node.put_backup(SECRET)
    yield node
    os.unlink(path)


def mint(node, purpose, user, server="main", now=None):
    """The Panel's token of ``purpose`` for ``user`` on ``server``, issued ``now``."""
    uuid = node.uuid(server)
    if purpose == "websocket":
        return console_token(node.daemon, uuid, user_id=user["id"], user_uuid=user["uuid"],
                             now=now)
    claims = {"file-download": [("file_path", "/hello.txt"), ("server_uuid", uuid)],
              "file-upload": [("server_uuid", uuid)],
              "backup-download": [("backup_uuid", node.backup), ("server_uuid", uuid)]}
    return panel_jwt(node.panel.token, node.daemon.url, "%d%s" % (user["id"], uuid),
                     ttl=SIGNED_TTL, claims=claims[purpose], user=user, now=now)


def assert_accepted(node, purpose, token, server="main"):
    if purpose == "websocket":
        sock = BrowserSocket(node.daemon, node.uuid(server))
        try:
            sock.send("auth", token)
            assert sock.recv() == {"event": "auth success"}
        finally:
            sock.close()
        return
    if purpose == "file-upload":
        name = "%s-%s.txt" % (MARK, uuidlib.uuid4().hex[:8])
        response = node.upload(token, [(name, b"x")])
        assert (response.status_code, response.content) == (200, b"")
        assert node.read(name, server=server) == b"x"
        return
    fetch = node.download if purpose == "file-download" else node.download_backup
    response = fetch(token)
    assert (response.status_code, response.content) == (200, SECRET)


def assert_revoked(node, purpose, token, server="main"):
    """§16: refused as a revoked token, nothing served or written."""
    if purpose == "websocket":
        sock = BrowserSocket(node.daemon, node.uuid(server))
        try:
            sock.send("auth", token)
            message = sock.recv()
        finally:
            sock.close()
        assert message["event"] == "jwt error", message
        assert message["args"][0].endswith(REVOKED_WEBSOCKET)
        return
    before = sorted(os.listdir(node.root(server)))
    if purpose == "file-upload":
        response = node.upload(token, [("%s-revoked.txt" % MARK, b"x")])
    elif purpose == "file-download":
        response = node.download(token)
    else:
        response = node.download_backup(token)
    assert_handler_error(response, 403, INVALID_TOKEN)
    assert SECRET not in response.content
    assert sorted(os.listdir(node.root(server))) == before


def connect(node, user, server="main"):
    sock = BrowserSocket(node.daemon, node.uuid(server))
    sock.authenticate(mint(node, "websocket", user, server))
    return sock


def still_open(sock):
    """The socket answers a request after the deauthorization."""
    sock.send("send stats")
    return sock.recv_event("stats")


# -- websockets --------------------------------------------------------------------------

def test_deauthorize_closes_the_users_websockets_at_once(files):
    """§16: the user's sockets on the listed servers close; another user's socket on the
    same server and the user's socket on another server stay open."""
    alice, bob = new_user(), new_user()
    closing = connect(files, alice)
    elsewhere = connect(files, alice, "other")
    bystander = connect(files, bob)
    try:
        response = deauthorize(files, alice, ["main"])
        assert (response.status_code, response.content) == (204, b"")
        assert closing.wait_closed() == CLOSE_DEAUTHORIZED
        still_open(elsewhere)
        still_open(bystander)
    finally:
        for sock in (closing, elsewhere, bystander):
            sock.close()


@pytest.mark.parametrize("servers", [None, []], ids=["absent", "empty"])
def test_no_servers_means_every_server(files, servers):
    """§16: ``servers`` empty (or absent) names every server of the node."""
    alice, bob = new_user(), new_user()
    sockets = [connect(files, alice), connect(files, alice, "other")]
    bystander = connect(files, bob, "other")
    old = mint(files, "file-download", alice, "other")
    try:
        assert deauthorize(files, alice, servers).status_code == 204
        assert [sock.wait_closed() for sock in sockets] == [CLOSE_DEAUTHORIZED] * 2
        still_open(bystander)
        assert_revoked(files, "file-download", old, "other")
    finally:
        for sock in sockets + [bystander]:
            sock.close()


def test_a_closed_socket_cannot_come_back_with_its_token(files):
    """The Panel's client reconnects and re-sends its token: it is refused with the text
    that makes it fetch a new one, which the Panel then refuses or grants."""
    alice = new_user()
    token = mint(files, "websocket", alice)
    sock = BrowserSocket(files.daemon, files.uuid())
    sock.authenticate(token)
    try:
        assert deauthorize(files, alice, ["main"]).status_code == 204
        assert sock.wait_closed() == CLOSE_DEAUTHORIZED
    finally:
        sock.close()
    assert_revoked(files, "websocket", token)


# -- tokens ------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", PURPOSES)
def test_older_tokens_are_refused_newer_ones_accepted(files, purpose):
    """§16: every token of the user for the server issued at or before the request is
    refused; other users and other servers keep theirs; a token issued afterwards works."""
    alice, bob = new_user(), new_user()
    old = mint(files, purpose, alice)
    others = [(mint(files, purpose, bob), "main"), (mint(files, purpose, alice, "other"),
                                                   "other")]
    assert deauthorize(files, alice, ["main"]).status_code == 204
    assert_revoked(files, purpose, old)
    for token, server in others:
        assert_accepted(files, purpose, token, server)
    wait_for_next_second()
    assert_accepted(files, purpose, mint(files, purpose, alice))


def test_a_deauthorization_survives_a_restart(files):
    """Advisories #9/#12: a restart of the daemon does not give the user's tokens back, and
    tokens issued after it work (with a steady clock the boot rule refuses these too; the
    next test is the one only the revocation kept on disk passes)."""
    alice = new_user()
    old = {purpose: mint(files, purpose, alice) for purpose in PURPOSES}
    assert deauthorize(files, alice, ["main"]).status_code == 204
    files.daemon.stop()
    files.daemon.start()
    wait_for_next_second()
    for purpose, token in old.items():
        assert_revoked(files, purpose, token)
    for purpose in PURPOSES:
        assert_accepted(files, purpose, mint(files, purpose, alice))


def test_a_deauthorization_survives_a_restart_whose_clock_stepped_back(files):
    """After a restart the boot rule refuses every older token anyway, unless the clock
    stepped back across it (a host that boots before its clock is set): then only the
    kept revocation refuses them. The step is made by moving the kept instant a minute
    ahead while the daemon is down: tokens issued after boot but within that minute are
    the user's old tokens as the new clock sees them."""
    alice, bob = new_user(), new_user()
    assert deauthorize(files, alice, ["main"]).status_code == 204
    files.daemon.stop()
    kept = os.path.join(files.daemon.config["system"]["root_directory"], DEAUTHORIZED)
    with open(kept) as f:
        entries = json.load(f)
    with open(kept, "w") as f:
        json.dump([[user, server, at + CLOCK_STEP] for user, server, at in entries], f)
    files.daemon.start()
    wait_for_next_second()
    for purpose in PURPOSES:
        assert_revoked(files, purpose, mint(files, purpose, alice))
        assert_accepted(files, purpose, mint(files, purpose, bob))
        assert_accepted(files, purpose, mint(files, purpose, alice, "other"), "other")
        assert_accepted(files, purpose, mint(files, purpose, alice,
                                             now=time.time() + CLOCK_STEP + 1))


# -- the bus event for the other processes ---------------------------------------------

def test_deauthorize_publishes_a_bus_event(files):
    """``daemon.deauthorize`` with ``{"user", "servers"}`` on the daemon's event bus, for
    the SFTP process to close the user's sessions (wingspan/bus.py, wingspan/envelope.py).
    """
    alice, bob = new_user(), new_user()
    endpoint = "ipc://%s" % os.path.join(files.daemon.config["wingspan"]["run_directory"],
                                         "events.sock")
    context = zmq.Context()
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"daemon.deauthorize")
    sock.connect(endpoint)
    try:
        def subscribed():
            # a subscription takes a moment to reach the publisher: ask until it has
            assert deauthorize(files, alice).status_code == 204
            return sock.poll(100)
        wait_until(subscribed, timeout=10, interval=0, what="a daemon.deauthorize event")
        assert deauthorize(files, bob, ["main", "other"]).status_code == 204
        while True:
            topic, body = sock.recv_multipart()
            assert topic == b"daemon.deauthorize"
            event = json.loads(body)
            assert (event["server"], event["event"]) == (None, "deauthorize")
            if event["data"]["user"] == bob["uuid"]:
                break
            assert event["data"] == {"user": alice["uuid"], "servers": []}
        assert event["data"] == {"user": bob["uuid"],
                                 "servers": [files.uuid("main"), files.uuid("other")]}
    finally:
        sock.close()
        context.term()


# -- bad requests ----------------------------------------------------------------------

@pytest.mark.parametrize("body, status, message", [
    (b"", 400, EOF_ERROR),
    (b"{", 400, GENERIC),
    (b"[]", 400, GENERIC),
    (b'{"user": 5}', 400, GENERIC),
    (b'{"user": "%(user)s", "servers": "%(server)s"}', 400, GENERIC),
    (b'{"user": "%(user)s", "servers": [5]}', 400, GENERIC),
    (b"{}", 422, NOT_VALID),
    (b"null", 422, NOT_VALID),
    (b'{"user": ""}', 422, NOT_VALID),
    (b'{"user": "not-a-uuid"}', 422, NOT_VALID),
    (b'{"user": "%(user)s", "servers": ["../etc"]}', 422, NOT_VALID),
    (b'{"user": "%(user)s", "servers": ["%(server)s", "*"]}', 422, NOT_VALID),
])
def test_bad_bodies_are_refused_and_revoke_nothing(files, body, status, message):
    """§1.6: a body that does not bind is 400, one that binds but names no user or a
    server that is not a UUID is 422; nothing is revoked either way."""
    alice = new_user()
    token = mint(files, "file-download", alice)
    raw = body % {b"user": alice["uuid"].encode(), b"server": files.uuid().encode()}
    response = files.daemon.post("/api/deauthorize-user", data=raw)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == message
    if status == 400 and message == GENERIC:
        assert REQUEST_ID.match(payload["request_id"])
    else:
        assert set(payload) == {"error"}
    assert_accepted(files, "file-download", token)


def test_deauthorize_needs_the_node_token(files):
    """§1.5: without the node token nothing is revoked; with it the same body is."""
    alice = new_user()
    token = mint(files, "file-download", alice)
    body = {"user": alice["uuid"], "servers": []}
    assert files.daemon.post("/api/deauthorize-user", body, token="x" * 64).status_code == 403
    response = files.daemon.session.post(files.daemon.url + "/api/deauthorize-user",
                                         json=body, timeout=15)
    assert response.status_code == 401
    assert_accepted(files, "file-download", token)
    token = mint(files, "file-download", alice)
    assert files.daemon.post("/api/deauthorize-user", body).status_code == 204
    assert_revoked(files, "file-download", token)


def test_a_server_not_on_this_node_is_accepted(files):
    """The Panel may name a server this node does not have (yet): 204, and the servers it
    does have are deauthorized."""
    alice = new_user()
    token = mint(files, "file-upload", alice)
    response = files.daemon.post("/api/deauthorize-user", {
        "user": alice["uuid"].upper(), "servers": [str(uuidlib.uuid4()), files.uuid().upper()]})
    assert response.status_code == 204
    assert_revoked(files, "file-upload", token)
