"""The Panel driver sends what the Panel's Guzzle client sends (panel-contract.md §1.1,
§1.3, §7.4): headers on every request, PHP-style JSON, RFC 3986 queries, exact bodies."""

import http.server
import threading

import pytest

from tests.support.driver import ARCHIVE_TIMEOUT, TIMEOUT, PanelDriver, php_json, rfc3986_query

TOKEN = "4rV0c1ZQk8nT2xW5bL7mP9sD3fG6hJ1kL2zX4cV6bN8mQ0wE2rT4yU6iO8pA0sD2f"
UUID = "d3aac109-e5a0-4331-b03e-3454f7e136dc"


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append((self.command, self.path, dict(self.headers), body))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _record

    def log_message(self, *args):
        pass


@pytest.fixture
def driver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    Recorder.seen = []
    yield PanelDriver("http://127.0.0.1:%d" % server.server_address[1], TOKEN)
    server.shutdown()
    server.server_close()


def last():
    return Recorder.seen[-1]


def test_every_request_carries_the_guzzle_headers(driver):
    for send in (lambda: driver.system(), lambda: driver.delete_server(UUID),
                 lambda: driver.sync(UUID), lambda: driver.write(UUID, "a.txt", b"raw")):
        send()
        headers = last()[2]
        assert headers["Authorization"] == "Bearer " + TOKEN
        assert headers["Accept"] == "application/json"
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "GuzzleHttp/7"
        # none of requests' defaults (http.client itself adds "identity")
        assert headers.get("Accept-Encoding") in (None, "identity")
        assert "Connection" not in headers


def test_bodyless_posts_send_no_body(driver):
    driver.sync(UUID)
    driver.reinstall(UUID)
    assert [(m, p, b) for m, p, _, b in Recorder.seen] == [
        ("POST", "/api/servers/%s/sync" % UUID, b""),
        ("POST", "/api/servers/%s/reinstall" % UUID, b"")]


def test_json_is_encoded_like_php():
    assert php_json({"root": "/", "name": "é"}) == '{"root":"\\/","name":"\\u00e9"}'


def test_query_is_rfc3986():
    assert rfc3986_query({"file": "/world/level dat+x.txt"}) == \
        "file=%2Fworld%2Flevel%20dat%2Bx.txt"


def test_file_routes_paths_queries_and_bodies(driver):
    driver.contents(UUID, "/server.properties")
    driver.write(UUID, "eula.txt", b"eula=true\n")
    driver.list_dir(UUID, "/a b")
    driver.rename(UUID, "/", [{"from": "a", "to": "../b"}])
    driver.chmod(UUID, "/", [{"file": "run.sh", "mode": "0755"}])
    assert [(m, p, b) for m, p, _, b in Recorder.seen] == [
        ("GET", "/api/servers/%s/files/contents?file=%%2Fserver.properties" % UUID, b""),
        ("POST", "/api/servers/%s/files/write?file=eula.txt" % UUID, b"eula=true\n"),
        ("GET", "/api/servers/%s/files/list-directory?directory=%%2Fa%%20b" % UUID, b""),
        ("PUT", "/api/servers/%s/files/rename" % UUID,
         b'{"root":"\\/","files":[{"from":"a","to":"..\\/b"}]}'),
        ("POST", "/api/servers/%s/files/chmod" % UUID,
         b'{"root":"\\/","files":[{"file":"run.sh","mode":"0755"}]}')]


def test_pull_drops_null_keys(driver):
    driver.pull(UUID, "https://example.com/a.jar", foreground=True)
    assert last()[3] == b'{"url":"https:\\/\\/example.com\\/a.jar","root":"\\/","foreground":true}'


def test_backup_restore_and_transfer_bodies(driver):
    driver.backup(UUID, "b1", ignore="*.log\ncache/")
    driver.restore(UUID, "b1", "s3", True, download_url="http://s3/x")
    driver.transfer(UUID, "http://127.0.0.1:9", "jwt.x.y")
    assert Recorder.seen[0][1:4:2] == (
        "/api/servers/%s/backup" % UUID,
        b'{"adapter":"wings","uuid":"b1","ignore":"*.log\\ncache\\/"}')
    assert Recorder.seen[1][1:4:2] == (
        "/api/servers/%s/backup/b1/restore" % UUID,
        b'{"adapter":"s3","truncate_directory":true,"download_url":"http:\\/\\/s3\\/x"}')
    assert Recorder.seen[2][3] == php_json({
        "server_id": UUID, "url": "http://127.0.0.1:9/api/transfers", "token": "Bearer jwt.x.y",
        "server": {"uuid": UUID, "start_on_completion": False}}).encode()


def test_system_version_query_and_server_calls(driver):
    driver.system(v=2)
    driver.create_server(UUID)
    driver.power(UUID, "kill")
    driver.commands(UUID, ["say hi"])
    driver.deny_jtis(UUID, ["397e5e6e005611aea66e16636aacc1d0"])
    assert [(m, p, b) for m, p, _, b in Recorder.seen] == [
        ("GET", "/api/system?v=2", b""),
        ("POST", "/api/servers", b'{"uuid":"%s","start_on_completion":false}' % UUID.encode()),
        ("POST", "/api/servers/%s/power" % UUID, b'{"action":"kill"}'),
        ("POST", "/api/servers/%s/commands" % UUID, b'{"commands":["say hi"]}'),
        ("POST", "/api/servers/%s/ws/deny" % UUID,
         b'{"jtis":["397e5e6e005611aea66e16636aacc1d0"]}')]


def test_archive_routes_get_the_long_timeout(monkeypatch):
    driver = PanelDriver("http://127.0.0.1:9", TOKEN)
    timeouts = []
    monkeypatch.setattr(driver.session, "request",
                        lambda method, url, **kw: timeouts.append((url, kw["timeout"])))
    driver.compress(UUID, "/", ["a"])
    driver.decompress(UUID, "/", "a.zip")
    driver.copy(UUID, "/a")
    assert [t for _, t in timeouts] == [ARCHIVE_TIMEOUT, ARCHIVE_TIMEOUT, TIMEOUT]
    assert ARCHIVE_TIMEOUT == (5, 900) and TIMEOUT == (5, 15)


def test_another_token_for_one_request(driver):
    driver.get("/api/system", token="other")
    assert last()[2]["Authorization"] == "Bearer other"
