"""The API over TLS (``api.ssl``), as most Panels reach their nodes: HTTPS requests and the
browser console over ``wss://`` (wings-api.md §1, §10)."""

import os
import subprocess
import time
import uuid as uuidlib

import pytest

from tests.support.browser import BrowserSocket, console_token

FLOOD_LINES = 3000


@pytest.fixture
def tls_daemon(panel, daemon_factory, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon = daemon_factory(api={"ssl": {"enabled": True, "cert": cert, "key": key}},
                            throttles={"enabled": False})
    daemon.start()
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    return daemon, uuid


def test_https_api_and_wss_console(tls_daemon):
    daemon, uuid = tls_daemon
    assert daemon.url.startswith("https://")
    response = daemon.get("/api/system")
    assert response.status_code == 200 and response.json()["os"] == "linux"
    sock = BrowserSocket(daemon, uuid)
    sock.authenticate(console_token(daemon, uuid))
    assert sock.recv_event("status")["args"] == ["offline"]
    sock.send("set state", "start")
    sock.recv_event("status", where=lambda m: m["args"] == ["running"], timeout=20)
    # enough output that frames pile up and go out several at a time
    sock.send("send command", "flood %d" % FLOOD_LINES)
    last = "flood line %d" % (FLOOD_LINES - 1)
    sock.recv_event("console output", where=lambda m: m["args"] == [last], timeout=20)
    lines = [m["args"][0] for m in sock.frames if m["event"] == "console output"
             and m["args"][0].startswith("flood line ")]
    assert lines == ["flood line %d" % i for i in range(FLOOD_LINES)]


def test_file_write_and_read_back_over_https(tls_daemon):
    """A body of several chunks is received and written behind over TLS, byte for byte."""
    daemon, uuid = tls_daemon
    body = os.urandom(3 * 1024 * 1024 + 17)
    assert daemon.write(uuid, "/blob.bin", body).status_code == 204
    response = daemon.contents(uuid, "/blob.bin")
    assert response.status_code == 200 and response.content == body
