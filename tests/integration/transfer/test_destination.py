"""The destination's side, driven directly as a source node would drive it: the transfer
JWT (wings-api.md §7.1, §7.2, §9.3), the multipart body and its parts' order, hostile
archives, a stalled body, and the cleanup every refusal leaves (§9.3 hardened: no 500,
nothing kept, one failure report)."""

import hashlib
import os
import socket
import time

import pytest

from tests.integration.transfer.helpers import (
    BOUNDARY,
    INVALID_TOKEN,
    MISSING_AUTH,
    NOT_TRANSFERRING,
    archive,
    multipart_body,
    post_transfer,
    root_of,
    transfer_body,
    transfer_reports,
    wait_report,
)
from tests.support.polling import wait_until

IDLE_TIMEOUT = 2


class Receiving:
    """A destination daemon, and a server the Panel is moving to it from a node that has
    no daemon here; ``sentinel`` is a directory beside the data directory that no archive
    may reach."""

    def __init__(self, panel, destination, target, uuid):
        self.panel = panel
        self.destination = destination
        self.target = target
        self.uuid = uuid
        self.root = root_of(destination, uuid)
        self.sentinel = os.path.join(destination.base_dir, "sentinel")
        os.makedirs(self.sentinel, exist_ok=True)

    def token(self, **kwargs):
        return self.panel.transfer_token(self.uuid, self.target, **kwargs)

    def post(self, body, token=None, **kwargs):
        return post_transfer(self.destination, token or self.token(), body, **kwargs)

    def assert_nothing_kept(self):
        """The server is gone from the API and its files from the disk; nothing escaped."""
        assert self.destination.details(self.uuid).status_code == 404
        assert self.destination.get("/api/servers").json() == []
        wait_until(lambda: not os.path.exists(self.root), what="the server's files removed")
        assert os.listdir(self.sentinel) == []


@pytest.fixture
def receiving(fake_panel, daemon_factory):
    target = fake_panel.add_node()
    destination = daemon_factory(
        node=target, wingspan={"transfer_idle_timeout": IDLE_TIMEOUT}).start()
    uuid = fake_panel.add_server(skip_egg_scripts=True)["settings"]["uuid"]
    fake_panel.start_transfer(uuid, target)
    return Receiving(fake_panel, destination, target, uuid)


def config_fetches(panel, uuid):
    return panel.calls("GET", "/api/remote/servers/%s" % uuid)


# -- the token (§7.1, §9.3) -------------------------------------------------------------------

def test_no_bearer_token_is_401(receiving):
    response = post_transfer(receiving.destination, None, transfer_body(archive(("a", b"a"))))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == MISSING_AUTH
    assert config_fetches(receiving.panel, receiving.uuid) == []


@pytest.mark.parametrize("forge", [
    pytest.param(lambda r: r.panel.transfer_token(r.uuid, r.panel.node), id="other-node-key"),
    pytest.param(lambda r: r.token(now=time.time() - 2000), id="expired"),
    pytest.param(lambda r: r.token(alg="none"), id="alg-none"),
    pytest.param(lambda r: r.token(alg="HS512"), id="hs512"),
    pytest.param(lambda r: r.token(omit=("sub",)), id="no-sub"),
    pytest.param(lambda r: r.token(claims=[("sub", "../../etc")]), id="sub-not-uuid"),
    pytest.param(lambda r: "not.a.jwt", id="malformed"),
])
def test_a_bad_transfer_token_is_403_and_creates_nothing(receiving, forge):
    response = receiving.post(transfer_body(archive(("a", b"a"))), token=forge(receiving))
    assert response.status_code == 403
    assert response.json() == INVALID_TOKEN
    assert config_fetches(receiving.panel, receiving.uuid) == []
    receiving.assert_nothing_kept()


# -- the body (§9.3) ---------------------------------------------------------------------------

def test_a_body_that_is_not_multipart_is_400_before_anything_is_created(receiving):
    response = receiving.post(b'{"archive": "x"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "error": 'invalid content type "application/json", expected "multipart/form-data"'}
    assert config_fetches(receiving.panel, receiving.uuid) == []
    receiving.assert_nothing_kept()


def refused_body_cases():
    data = archive(("server.properties", b"motd=x\n"))
    digest = hashlib.sha256(data).hexdigest()
    return [
        pytest.param(multipart_body(("checksum", None, digest.encode()),
                                    ("archive", "archive.tar.gz", data)),
                     "archive must be sent before the checksum", id="checksum-first"),
        pytest.param(multipart_body(("archive", "archive.tar.gz", data)),
                     "missing archive or checksum", id="no-checksum"),
        pytest.param(multipart_body(("checksum", None, b"")), "archive must be sent before "
                     "the checksum", id="no-archive"),
        pytest.param(multipart_body(("other", None, b"x")), "missing archive or checksum",
                     id="neither"),
        pytest.param(transfer_body(data, checksum="00" * 32), "checksums don't match",
                     id="wrong-checksum"),
        pytest.param(transfer_body(data, checksum="not hex"), "checksums don't match",
                     id="checksum-not-hex"),
        pytest.param(multipart_body(("archive", "archive.tar.gz", data),
                                    ("archive", "archive.tar.gz", data),
                                    ("checksum", None, digest.encode())),
                     "the archive was sent twice", id="archive-twice"),
    ]


@pytest.mark.parametrize("body, message", refused_body_cases())
def test_a_refused_body_is_400_reported_once_and_removed(receiving, body, message):
    response = receiving.post(body)
    assert response.status_code == 400
    assert response.json() == {"error": message}
    report = wait_report(receiving.panel, receiving.uuid)
    assert report["successful"] is False
    receiving.assert_nothing_kept()
    assert len(transfer_reports(receiving.panel, receiving.uuid)) == 1
    assert receiving.panel.calls("POST", "/api/remote/servers/%s/transfer/success"
                                 % receiving.uuid) == []


def test_a_damaged_archive_is_400_and_removed(receiving):
    data = archive(("a.txt", b"a" * 100_000))
    response = receiving.post(transfer_body(data[:len(data) // 2]))
    assert response.status_code == 400
    assert wait_report(receiving.panel, receiving.uuid)["successful"] is False
    receiving.assert_nothing_kept()


@pytest.mark.parametrize("entries", [
    pytest.param([("../../sentinel/pwned", b"x")], id="dot-dot"),
    pytest.param([("ok.txt", b"ok"), ("link", "symlink", "../../sentinel"),
                  ("link/pwned", b"x")], id="file-through-symlink"),
    pytest.param([("link", "symlink", "/"), ("link/tmp/pwned", b"x")],
                 id="file-through-absolute-symlink"),
])
def test_an_archive_reaching_out_of_the_root_writes_nothing_outside(receiving, entries):
    response = receiving.post(transfer_body(archive(*entries)))
    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert not os.path.exists("/tmp/pwned")
    assert wait_report(receiving.panel, receiving.uuid)["successful"] is False
    receiving.assert_nothing_kept()


def test_absolute_names_and_outward_hard_links_stay_inside_the_root(receiving, tmp_path):
    """Absolute names are taken relative to the root (§6.1); a hard link naming a file
    outside the root is skipped, never linked or copied."""
    data = archive(("/abs/file.txt", b"inside"), ("passwd", "hardlink", "../../../etc/passwd"),
                   ("copy", "hardlink", "/abs/file.txt"))
    response = receiving.post(transfer_body(data))
    assert response.status_code == 200, response.text
    root = receiving.root
    assert open(os.path.join(root, "abs", "file.txt"), "rb").read() == b"inside"
    assert open(os.path.join(root, "copy"), "rb").read() == b"inside"
    assert not os.path.exists(os.path.join(root, "passwd"))
    assert not os.path.exists("/abs/file.txt")
    assert wait_report(receiving.panel, receiving.uuid)["successful"] is True


def test_a_body_that_stops_coming_is_abandoned_after_the_idle_timeout(receiving):
    data = archive(("a.txt", os.urandom(200_000)))
    body = transfer_body(data)
    head = ("POST /api/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
            "Content-Length: %d\r\n\r\n" % (receiving.token(), BOUNDARY, len(body)))
    port = int(receiving.destination.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode() + body[:len(body) // 2])
        reply = conn.recv(65536).decode("latin-1")
    assert reply.startswith("HTTP/1.1 408"), reply
    assert wait_report(receiving.panel, receiving.uuid)["successful"] is False
    receiving.assert_nothing_kept()


# -- cancel (§9.4) ------------------------------------------------------------------------------

def test_cancel_of_an_unknown_server_is_404_and_of_one_not_arriving_409(receiving):
    destination = receiving.destination
    assert destination.delete("/api/transfers/%s" % receiving.uuid).status_code == 404
    assert receiving.post(transfer_body(archive(("a", b"a")))).status_code == 200
    response = destination.delete("/api/transfers/%s" % receiving.uuid)
    assert response.status_code == 409
    assert response.json() == NOT_TRANSFERRING


def test_cancel_needs_the_node_token(receiving):
    response = receiving.destination.delete("/api/transfers/%s" % receiving.uuid,
                                            token="wrong")
    assert response.status_code == 403


# -- the Panel and the quota ------------------------------------------------------------------

def test_a_panel_error_while_creating_the_server_is_a_clean_failure(receiving):
    """§9.3 [HEAD] crashes with a nil dereference; here it is a JSON error and a failure
    report."""
    receiving.panel.fail("GET", "/api/remote/servers/%s" % receiving.uuid, status=404)
    response = receiving.post(transfer_body(archive(("a", b"a"))))
    assert response.status_code == 500
    assert response.json()["error"] == "server does not exist on remote system"
    assert wait_report(receiving.panel, receiving.uuid)["successful"] is False
    receiving.assert_nothing_kept()


def test_an_archive_over_the_disk_limit_stops_at_the_quota(fake_panel, daemon_factory):
    target = fake_panel.add_node()
    destination = daemon_factory(node=target).start()
    uuid = fake_panel.add_server(skip_egg_scripts=True, disk=1)["settings"]["uuid"]
    fake_panel.start_transfer(uuid, target)
    receiving = Receiving(fake_panel, destination, target, uuid)
    response = receiving.post(transfer_body(archive(("big.bin", os.urandom(2 * 1024 * 1024)))))
    assert response.status_code == 400
    assert response.json()["error"] == \
        "There is not enough disk space available to perform that action."
    assert wait_report(fake_panel, uuid)["successful"] is False
    receiving.assert_nothing_kept()
