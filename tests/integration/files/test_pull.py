"""Remote downloads must never reach the node's own network (SSRF).

Spec: wings-api.md §5.12 (internal destinations refused at dial time, the checked address
pinned, redirects not followed; ``api.disable_remote_download``), §18 #47-#49; peers.md
advisories #1 and #8.

Every target here is a listener on a loopback address that records each connection it
accepts; a pull to it, however the address is spelled, must leave it untouched and write
nothing. No traffic leaves the machine: every host below resolves from its literal or
from /etc/hosts. (A pull that succeeds, the three-download limit and cancelling one in
flight all need a public host, which this suite must not contact.)
"""

import os
import time

import pytest

from tests.integration.files.helpers import (
    PULL_DISABLED,
    Listener,
    assert_handler_error,
)
from tests.support.polling import wait_until

# How long a background pull gets to (wrongly) connect before the listener is checked.
BACKGROUND_GRACE = 0.5

LOOPBACK_URLS = [
    "http://127.0.0.1:{p}/file.txt",
    "http://localhost:{p}/file.txt",
    "http://LOCALHOST:{p}/file.txt",
    "http://127.1:{p}/file.txt",
    "http://2130706433:{p}/file.txt",
    "http://0x7f000001:{p}/file.txt",
    "http://0177.0.0.1:{p}/file.txt",
    "http://0.0.0.0:{p}/file.txt",
    "http://[::ffff:127.0.0.1]:{p}/file.txt",
    "http://[::ffff:7f00:1]:{p}/file.txt",
    "http://[::1]:{p6}/file.txt",
    "http://[0:0:0:0:0:0:0:1]:{p6}/file.txt",
    "http://[::]:{p6}/file.txt",
    "http://user:pass@127.0.0.1:{p}/file.txt",
    "http://example.com@127.0.0.1:{p}/file.txt",
    "https://127.0.0.1:{p}/file.txt",
    "http://127.0.0.1:{r}/redirect",
]


@pytest.fixture(scope="module")
def listeners():
    """A file server on 127.0.0.1 and ::1, and a redirector on 127.0.0.1 pointing at it."""
    target = Listener("127.0.0.1").start()
    target6 = Listener("::1").start()
    redirector = Listener("127.0.0.1",
                          redirect_to="http://127.0.0.1:%d/file.txt" % target.port).start()
    yield {"p": target.port, "p6": target6.port, "r": redirector.port,
           "all": (target, target6, redirector)}
    for listener in (target, target6, redirector):
        listener.stop()


@pytest.fixture
def untouched(listeners):
    """Fails the test if any listener accepted a connection during it."""
    for listener in listeners["all"]:
        listener.connections.clear()
    yield
    assert [c for listener in listeners["all"] for c in listener.connections] == []


def pull_listing(node):
    response = node.daemon.get("/api/servers/%s/files/pull" % node.uuid())
    assert response.status_code == 200
    return response.json()["downloads"]


@pytest.mark.parametrize("template", LOOPBACK_URLS)
def test_pull_to_loopback_is_refused(node, listeners, untouched, template):
    """§5.12, §18 #47: foreground → 4xx at once; background → refused or accepted, but the
    listener never sees a connection and no file appears."""
    url = template.format(**listeners)
    foreground = node.daemon.pull(node.uuid(), url, root="/", foreground=True)
    assert foreground.status_code == 400, (foreground.status_code, foreground.text)
    background = node.daemon.pull(node.uuid(), url, root="/", file_name="bg.txt")
    assert background.status_code in (202, 400), (background.status_code, background.text)
    if background.status_code == 202:
        assert set(background.json()) == {"identifier"}
    time.sleep(BACKGROUND_GRACE)
    wait_until(lambda: pull_listing(node) is None, timeout=5, what="no download in flight")
    assert os.listdir(node.root()) == []


@pytest.mark.parametrize("template", ["ftp://127.0.0.1:{p}/file.txt",
                                      "gopher://127.0.0.1:{p}/_GET%20/",
                                      "file:///etc/passwd",
                                      "file://localhost/etc/hostname",
                                      "//127.0.0.1:{p}/file.txt",
                                      "127.0.0.1:{p}/file.txt"])
def test_pull_of_other_schemes_is_400(node, listeners, untouched, template):
    """§5.12: only http and https have a port to dial; nothing is read from the host."""
    url = template.format(**listeners)
    for foreground in (True, False):
        response = node.daemon.pull(node.uuid(), url, root="/", foreground=foreground)
        assert response.status_code == 400, (response.status_code, response.text)
        assert b"root:" not in response.content
    time.sleep(BACKGROUND_GRACE)
    assert os.listdir(node.root()) == []


def test_pull_with_the_deprecated_directory_key_is_refused_too(node, listeners, untouched):
    """§5.12: ``directory`` stands in for ``root``; the same destination check applies."""
    response = node.daemon.post("/api/servers/%s/files/pull" % node.uuid(), {
        "url": "http://127.0.0.1:%d/file.txt" % listeners["p"], "directory": "/",
        "foreground": True})
    assert response.status_code == 400, response.text
    assert os.listdir(node.root()) == []


def test_pull_routes_when_remote_download_is_disabled(fake_panel, daemon_factory):
    """§2 "remote-download-enabled": all three routes answer 400 with the fixed text."""
    uuid = fake_panel.add_server()["settings"]["uuid"]
    daemon = daemon_factory(api={"disable_remote_download": True}).start()
    base = "/api/servers/%s/files/pull" % uuid
    assert_handler_error(daemon.get(base), 400, PULL_DISABLED)
    assert_handler_error(daemon.post(base, {"url": "http://127.0.0.1:1/a", "root": "/"}),
                         400, PULL_DISABLED)
    assert_handler_error(daemon.delete(base + "/0b7c33c4-3b0f-4d6c-8c1e-5a0c2f3e9d11"), 400,
                         PULL_DISABLED)
