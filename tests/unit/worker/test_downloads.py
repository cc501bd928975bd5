"""Remote downloads (wings-api.md §5.12): naming, status and length rules, quota, cancel,
and the SSRF refusal happening before any request is sent. Only loopback listeners."""

import http.server
import os

import pytest

from tests.support.loopback import LoopbackServer
from wingspan import errors
from wingspan.filesystem import Jail, Quota
from worker import downloads
from worker.downloads import Cancelled, Download, Downloads, RemoteFile


class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}
    seen = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Host"), self.headers.get("User-Agent")))
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client hanging up on purpose is part of these tests."""


@pytest.fixture
def listener():
    Handler.routes = {}
    Handler.seen = []
    server = LoopbackServer(Handler, server_class=QuietServer).start()
    yield server
    server.stop()


@pytest.fixture
def jail(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    return Jail(str(root), os.getuid(), os.getgid(), denylist=["*.jar"], quota=Quota(0))


def fetch(listener, jail, path, file_name="", use_header=False, root="/"):
    """A Download connected to the loopback listener: the address policy is bypassed on
    purpose (it is tested in test_egress and by test_loopback_refused_before_any_request)."""
    remote = RemoteFile("http://files.example:%d%s" % (listener.port, path))
    remote.address = "127.0.0.1"
    return Download(remote, root, file_name, use_header).run(jail)


def test_file_named_after_the_url_with_host_and_user_agent(listener, jail):
    Handler.routes["/pack/mods%20v2.zip?x=1"] = (200, {}, b"zipdata")
    path = fetch(listener, jail, "/pack/mods%20v2.zip?x=1")
    assert path == "/mods v2.zip"
    assert open(os.path.join(jail.root, "mods v2.zip"), "rb").read() == b"zipdata"
    assert Handler.seen == [("/pack/mods%20v2.zip?x=1", "files.example:%d" % listener.port,
                             downloads.USER_AGENT)]


def test_explicit_name_then_header_name(listener, jail):
    header = 'attachment; filename="../from-header.txt"'
    Handler.routes["/a"] = (200, {"Content-Disposition": header}, b"1")
    assert fetch(listener, jail, "/a", file_name="given.txt") == "/given.txt"
    assert fetch(listener, jail, "/a", file_name="given.txt", use_header=True) == \
        "/from-header.txt"


def test_redirect_is_not_followed(listener, jail):
    Handler.routes["/r"] = (302, {"Location": "/a"}, b"")
    with pytest.raises(errors.DownloadFailed) as caught:
        fetch(listener, jail, "/r")
    assert caught.value.status == 400
    assert [seen[0] for seen in Handler.seen] == ["/r"]
    assert os.listdir(jail.root) == []


def test_empty_body_is_refused(listener, jail):
    Handler.routes["/empty"] = (200, {}, b"")
    with pytest.raises(errors.DownloadFailed):
        fetch(listener, jail, "/empty")
    assert os.listdir(jail.root) == []


def test_quota_refuses_before_writing(listener, tmp_path):
    root = tmp_path / "small"
    root.mkdir()
    small = Jail(str(root), os.getuid(), os.getgid(), quota=Quota(1000))
    Handler.routes["/big"] = (200, {}, b"x" * 5000)
    with pytest.raises(errors.NotEnoughDisk):
        fetch(listener, small, "/big")
    assert os.listdir(root) == []


def test_a_file_larger_than_the_free_disk_is_refused_without_a_quota(listener, jail):
    stats = os.statvfs(jail.root)
    free = stats.f_bavail * stats.f_frsize
    # far past the free space: on a shared machine it grows and shrinks while this runs
    Handler.routes["/huge"] = (200, {"Content-Length": str(2 * free + (1 << 40))}, b"")
    with pytest.raises(errors.NotEnoughDisk):
        fetch(listener, jail, "/huge")
    assert os.listdir(jail.root) == []


def test_denylisted_name_is_refused(listener, jail):
    Handler.routes["/mod.jar"] = (200, {}, b"jar")
    with pytest.raises(errors.Denylisted):
        fetch(listener, jail, "/mod.jar")


def test_cancel_leaves_no_partial_file(listener, jail):
    Handler.routes["/slow"] = (200, {}, b"y" * (3 * downloads.CHUNK_BYTES))
    remote = RemoteFile("http://files.example:%d/slow" % listener.port)
    remote.address = "127.0.0.1"
    download = Download(remote, "/", "", False)
    download.cancelled = True
    with pytest.raises(Cancelled):
        download.run(jail)
    assert os.listdir(jail.root) == []


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.com/x", "unsupported protocol scheme"),
    ("http:///nohost", "no host"),
    ("http://example.com:99999/x", "out of range"),
])
def test_bad_urls_are_400(url, reason):
    with pytest.raises(errors.BadRequest) as caught:
        RemoteFile(url)
    assert caught.value.public_message.startswith("An error occurred while parsing that URL: ")
    assert reason in caught.value.public_message


class StubFiles:
    def __init__(self, jail, space=True):
        self._jail = jail
        self.space = space

    def jail(self):
        return self._jail

    def has_space(self):
        return self.space


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_refused_before_any_request(listener, jail, host):
    Handler.routes["/x"] = (200, {}, b"secret")
    with pytest.raises(errors.DestinationRefused):
        Downloads(StubFiles(jail)).start("http://%s:%d/x" % (host, listener.port), "/")
    assert Handler.seen == []
    assert os.listdir(jail.root) == []


def test_over_quota_server_cannot_pull(jail):
    with pytest.raises(errors.NotEnoughDisk):
        Downloads(StubFiles(jail, space=False)).start("http://example.com/x", "/")


def test_three_downloads_at_most(jail):
    manager = Downloads(StubFiles(jail))
    manager.active = {str(n): object() for n in range(3)}
    with pytest.raises(errors.BadRequest) as caught:
        manager.start("http://example.com/x", "/")
    assert caught.value.public_message == downloads.TOO_MANY


def test_listing_shape():
    manager = Downloads(StubFiles(None))
    remote = RemoteFile("http://example.com/x")
    download = Download(remote, "/", "", False)
    download.total, download.received = 200, 50
    manager.active[download.identifier] = download
    assert manager.listing() == [{"Identifier": download.identifier, "Progress": 0.25}]
