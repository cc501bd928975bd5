"""PanelClient against a stub Panel on loopback: headers, paths, bodies, pagination, retries
and error wording (wings-api.md §12.1, §12.2; wings-behaviour.md §16; panel-contract.md §2)."""

import http.server
import json
import logging
import socket
import threading
import time
import urllib.parse

import pytest
import requests

from wingspan import errors
from wingspan.config import Config
from wingspan.panel import PanelClient
from wingspan.panel_retry import RetryPolicy

TOKEN_ID = "Xq3T9bV1kP0aL7mZ"
TOKEN = "4rV0c1ZQk8nT2xW5bL7mP9sD3fG6hJ1kL2zX4cV6bN8mQ0wE2rT4yU6iO8pA0sD2f"
UUID = "d3aac109-e5a0-4331-b03e-3454f7e136dc"
BACKUP = "9f2c6f7e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"
FAST = RetryPolicy(initial=0.01, multiplier=1.5, randomization=0.5, max_interval=0.05,
                   max_elapsed=1.0)


class StubPanel:
    """A threaded HTTP server that records every request and answers from a script.

    ``answer(method, path, *responses)`` queues responses for a route; the last one repeats.
    A response is ``(status, body)`` where body is JSON-encoded unless bytes, or a callable
    taking the recorded request and returning such a pair.
    """

    def __init__(self):
        self.requests = []
        self.routes = {}
        self.lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stub.handle(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    def answer(self, method, path, *responses):
        self.routes[(method, path)] = list(responses)

    def handle(self, handler):
        url = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = {"method": handler.command, "path": url.path,
                   "query": urllib.parse.parse_qs(url.query), "headers": dict(handler.headers),
                   "body": handler.rfile.read(length) if length else None}
        with self.lock:
            self.requests.append(request)
            queue = self.routes.get((handler.command, url.path), [(404, b"")])
            response = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(response):
            response = response(request)
        status, body = response
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        if payload:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def calls(self, method, path):
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


@pytest.fixture
def panel():
    stub = StubPanel()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def make_config(remote, timeout=5, per_page=50):
    cfg = Config()
    cfg.remote = remote
    cfg.token_id = TOKEN_ID
    cfg.token = TOKEN
    cfg.remote_query.timeout = timeout
    cfg.remote_query.boot_servers_per_page = per_page
    return cfg


def make_client(panel, retry=FAST, **kwargs):
    # A trailing "/" on remote must not double up in the URL (§12.1).
    return PanelClient(make_config(panel.url + "/", **kwargs), retry=retry)


def envelope(code, status, detail):
    return {"errors": [{"code": code, "status": str(status), "detail": detail}]}


def server_doc(uuid):
    return {"uuid": uuid, "settings": {"uuid": uuid}, "process_configuration": {"configs": []}}


def page(number, last, uuids):
    return (200, {"data": [server_doc(u) for u in uuids],
                  "meta": {"current_page": number, "from": 1, "last_page": last,
                           "per_page": 2, "to": 2, "total": 5}})


# -- transport --------------------------------------------------------------------------

def test_every_request_carries_wings_headers(panel):
    """§12.1: the four headers on every request, GETs included."""
    panel.answer("GET", "/api/remote/servers/%s" % UUID,
                 (200, {"settings": {"uuid": UUID}, "process_configuration": {}}))
    panel.answer("POST", "/api/remote/servers/reset", (204, b""))
    client = make_client(panel)
    client.get_server(UUID)
    client.reset_servers_state()
    assert len(panel.requests) == 2
    for request in panel.requests:
        headers = request["headers"]
        assert headers["Authorization"] == "Bearer %s.%s" % (TOKEN_ID, TOKEN)
        assert headers["User-Agent"] == "Pterodactyl Wings/v1.11.11 (id:%s)" % TOKEN_ID
        assert headers["Accept"] == "application/vnd.pterodactyl.v1+json"
        assert headers["Content-Type"] == "application/json"


def test_tls_verification_follows_the_flag():
    """§12.1: verification is on unless --ignore-certificate-errors."""
    cfg = make_config("https://panel.example.com")
    assert PanelClient(cfg).session.verify is True
    assert PanelClient(cfg, verify_tls=False).session.verify is False
    assert PanelClient(cfg).base_url == "https://panel.example.com/api/remote"


# -- endpoints (§12.2) --------------------------------------------------------------------

def test_get_servers_fetches_remaining_pages_in_parallel_and_keeps_their_order(panel):
    """§12.2 #1: page=0 first with per_page, then pages current_page+1..last_page in parallel."""
    third_page_asked = threading.Event()

    def second_page(request):
        # Page 2 only answers once page 3 has been asked for: proof the two run concurrently.
        assert third_page_asked.wait(5)
        return page(2, 3, ["c", "d"])

    def by_page(request):
        number = request["query"]["page"][0]
        if number == "0":
            return page(1, 3, ["a", "b"])
        if number == "2":
            return second_page(request)
        third_page_asked.set()
        return page(3, 3, ["e"])

    panel.answer("GET", "/api/remote/servers", by_page)
    servers = make_client(panel, per_page=2).get_servers()
    assert [s["uuid"] for s in servers] == ["a", "b", "c", "d", "e"]
    assert servers[0] == server_doc("a")
    calls = panel.calls("GET", "/api/remote/servers")
    assert calls[0]["query"] == {"page": ["0"], "per_page": ["2"]}
    assert sorted(c["query"]["page"][0] for c in calls[1:]) == ["2", "3"]
    assert all(c["query"]["per_page"] == ["2"] for c in calls)
    assert len(calls) == 3


def test_get_servers_with_a_single_page_asks_once(panel):
    """§12.2 #1 / panel-contract.md §7.3: an empty node is one page with no data."""
    panel.answer("GET", "/api/remote/servers",
                 (200, {"data": [], "meta": {"current_page": 1, "from": None, "last_page": 1,
                                             "per_page": 50, "to": None, "total": 0}}))
    assert make_client(panel).get_servers() == []
    assert [r["query"] for r in panel.requests] == [{"page": ["0"], "per_page": ["50"]}]


def test_reset_posts_the_json_literal_null(panel):
    """§12.2 #2: POST /servers/reset with body null, 204."""
    panel.answer("POST", "/api/remote/servers/reset", (204, b""))
    make_client(panel).reset_servers_state()
    assert [r["body"] for r in panel.calls("POST", "/api/remote/servers/reset")] == [b"null"]


def test_get_server_returns_settings_and_process_configuration(panel):
    """§12.2 #3."""
    doc = {"settings": {"uuid": UUID, "suspended": False},
           "process_configuration": {"startup": {"done": ["Done"]}}}
    panel.answer("GET", "/api/remote/servers/%s" % UUID, (200, doc))
    assert make_client(panel).get_server(UUID) == doc
    assert panel.requests[0]["body"] is None


def test_install_script_line_ends_are_normalised(panel):
    """§12.2 #4: \\r\\n becomes \\n; a null script becomes empty."""
    path = "/api/remote/servers/%s/install" % UUID
    panel.answer("GET", path,
                 (200, {"container_image": "alpine:3.20", "entrypoint": "ash",
                        "script": "#!/bin/ash\r\necho hello > /mnt/server/installed.txt\r\n"}),
                 (200, {"container_image": "alpine:3.20", "entrypoint": "ash", "script": None}))
    client = make_client(panel)
    assert client.get_install_script(UUID) == {
        "container_image": "alpine:3.20", "entrypoint": "ash",
        "script": "#!/bin/ash\necho hello > /mnt/server/installed.txt\n"}
    assert client.get_install_script(UUID)["script"] == ""


def test_status_reports_send_exact_bodies(panel):
    """§12.2 #5, #6, #8, #9, #11: paths and JSON bodies of every report."""
    for path in ("/api/remote/servers/%s/install" % UUID,
                 "/api/remote/servers/%s/transfer/success" % UUID,
                 "/api/remote/servers/%s/transfer/failure" % UUID,
                 "/api/remote/backups/%s" % BACKUP, "/api/remote/backups/%s/restore" % BACKUP):
        panel.answer("POST", path, (204, b""))
    panel.answer("POST", "/api/remote/activity", (200, b""))
    backup = {"checksum": "7c2a", "checksum_type": "sha1", "size": 104857600,
              "successful": True, "parts": None}
    activity = [{"user": None, "server": UUID, "event": "server:power.start", "metadata": {},
                 "ip": "203.0.113.7", "timestamp": "2024-10-24T12:04:30.123456789Z"}]
    client = make_client(panel)
    client.set_install_status(UUID, True, False)
    client.set_transfer_status(UUID, True)
    client.set_transfer_status(UUID, False)
    client.set_backup_status(BACKUP, backup)
    client.set_restore_status(BACKUP, False)
    client.send_activity(activity)
    client.send_activity([])
    sent = [(r["path"], json.loads(r["body"])) for r in panel.requests]
    assert sent == [
        ("/api/remote/servers/%s/install" % UUID, {"successful": True, "reinstall": False}),
        ("/api/remote/servers/%s/transfer/success" % UUID, None),
        ("/api/remote/servers/%s/transfer/failure" % UUID, None),
        ("/api/remote/backups/%s" % BACKUP, backup),
        ("/api/remote/backups/%s/restore" % BACKUP, {"successful": False}),
        ("/api/remote/activity", {"data": activity}),
    ]
    assert all(r["method"] == "POST" for r in panel.requests)


def test_backup_upload_parts_pass_the_size(panel):
    """§12.2 #7: GET /backups/<uuid>?size=<bytes>."""
    parts = {"parts": ["http://127.0.0.1:9100/bucket/a.tar.gz?partNumber=1&uploadId=u1"],
             "part_size": 5368709120}
    panel.answer("GET", "/api/remote/backups/%s" % BACKUP, (200, parts))
    assert make_client(panel).get_backup_upload_parts(BACKUP, 1234) == parts
    assert panel.requests[0]["query"] == {"size": ["1234"]}


def test_sftp_auth_returns_the_panel_answer(panel):
    """§12.2 #10."""
    answer = {"server": UUID, "user": "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11",
              "permissions": ["*"]}
    request = {"type": "password", "username": "jane.d3aac109", "password": "secret",
               "ip": "203.0.113.7:51234", "session_id": "c2Vzcw==", "client_version": "U1NI"}
    panel.answer("POST", "/api/remote/sftp/auth", (200, answer))
    assert make_client(panel).validate_sftp_credentials(request) == answer
    assert json.loads(panel.requests[0]["body"]) == request


@pytest.mark.parametrize("status", [400, 403, 429])
def test_sftp_auth_4xx_is_invalid_credentials_and_final(panel, status):
    """§12.2 #10 / wings-behaviour.md §12.2: any 4xx means invalid credentials."""
    panel.answer("POST", "/api/remote/sftp/auth", (status, envelope(
        "HttpForbiddenException", status,
        "Authorization credentials were not correct, please try again.")))
    with pytest.raises(errors.InvalidCredentials) as caught:
        make_client(panel).validate_sftp_credentials({"username": "jane.d3aac109"})
    assert caught.value.http_status == status
    assert len(panel.requests) == 1


def test_sftp_auth_outage_is_not_invalid_credentials(panel):
    """wings-behaviour.md §12.2: other errors are auth errors, not invalid credentials."""
    panel.answer("POST", "/api/remote/sftp/auth", (500, b""))
    with pytest.raises(errors.PanelError) as caught:
        make_client(panel, retry=RetryPolicy(0.01, 1.5, 0.5, 0.02, 0.1)) \
            .validate_sftp_credentials({"username": "jane.d3aac109"})
    assert not isinstance(caught.value, errors.InvalidCredentials)
    assert caught.value.http_status == 500


# -- retries (§12.1) ----------------------------------------------------------------------

def test_5xx_is_retried_with_the_same_body_until_success(panel):
    """§12.1: 5xx retried; the body is re-sent on each attempt."""
    path = "/api/remote/servers/%s/install" % UUID
    panel.answer("POST", path, (500, b""), (502, b""), (503, b""), (204, b""))
    make_client(panel).set_install_status(UUID, False, True)
    calls = panel.calls("POST", path)
    assert len(calls) == 4
    assert {c["body"] for c in calls} == {b'{"successful": false, "reinstall": true}'}


def test_unfollowable_redirect_is_retried(panel):
    """§12.1: a 3xx that cannot be followed counts as a failure and is retried."""
    path = "/api/remote/servers/%s" % UUID
    panel.answer("GET", path, (302, b""), (200, {"settings": {}, "process_configuration": {}}))
    assert make_client(panel).get_server(UUID) == {"settings": {}, "process_configuration": {}}
    assert len(panel.calls("GET", path)) == 2


@pytest.mark.parametrize("status, code, detail", [
    (403, "HttpForbiddenException", "You are not authorized to access this resource."),
    (409, "ConflictHttpException", "Server is not being transferred."),
    (422, "ValidationException", "The successful field must be present."),
])
def test_4xx_is_final_and_worded_like_wings(panel, status, code, detail):
    """§12.1: 4xx never retried; the first envelope entry becomes the message."""
    path = "/api/remote/backups/%s" % BACKUP
    panel.answer("POST", path, (status, envelope(code, status, detail)), (204, b""))
    with pytest.raises(errors.PanelError) as caught:
        make_client(panel).set_backup_status(BACKUP, {"successful": False})
    assert str(caught.value) == "Error response from Panel: %s: %s (HTTP/%d)" % (
        code, detail, status)
    assert caught.value.http_status == status
    assert not isinstance(caught.value, errors.PanelNotFound)
    assert len(panel.calls("POST", path)) == 1


def test_404_on_a_server_endpoint_means_the_server_is_gone(panel):
    """§12.2 #3: a 404 is "server does not exist"; RecordNotFoundException has an empty detail."""
    panel.answer("GET", "/api/remote/servers/%s" % UUID,
                 (404, envelope("RecordNotFoundException", 404, "")))
    with pytest.raises(errors.PanelNotFound) as caught:
        make_client(panel).get_server(UUID)
    assert caught.value.public_message == "server does not exist on remote system"
    assert caught.value.detail == ("Error response from Panel: RecordNotFoundException:  "
                                   "(HTTP/404)")
    assert len(panel.requests) == 1


def test_404_on_a_backup_is_not_a_missing_server(panel):
    panel.answer("GET", "/api/remote/backups/%s" % BACKUP, (404, b""))
    with pytest.raises(errors.PanelError) as caught:
        make_client(panel).get_backup_upload_parts(BACKUP, 10)
    assert not isinstance(caught.value, errors.PanelNotFound)
    assert len(panel.requests) == 1


def test_retries_stop_after_max_elapsed(panel):
    """§12.1: unlimited attempts, but none started after max elapsed; no envelope ->
    _MissingResponseCode."""
    panel.answer("GET", "/api/remote/servers/%s" % UUID, (500, b"<html>oops</html>"))
    policy = RetryPolicy(initial=0.02, multiplier=1.5, randomization=0.5, max_interval=0.05,
                         max_elapsed=0.4)
    started = time.monotonic()
    with pytest.raises(errors.PanelError) as caught:
        make_client(panel, retry=policy).get_server(UUID)
    elapsed = time.monotonic() - started
    assert str(caught.value) == ("Error response from Panel: _MissingResponseCode: "
                                 "No error response returned from API endpoint. (HTTP/500)")
    assert caught.value.http_status == 500
    assert len(panel.requests) >= 4
    assert 0.3 <= elapsed < 1.5


def test_slow_answers_hit_the_per_attempt_timeout_and_are_retried(panel):
    """§12.1: remote_query.timeout bounds each attempt; a timeout is retried."""
    path = "/api/remote/servers/%s" % UUID

    def slow(request):
        time.sleep(1)
        return 200, {"settings": {"late": True}, "process_configuration": {}}

    panel.answer("GET", path, slow, (200, {"settings": {}, "process_configuration": {}}))
    client = make_client(panel)
    client.timeout = 0.2
    assert client.get_server(UUID) == {"settings": {}, "process_configuration": {}}
    assert len(panel.calls("GET", path)) == 2


def test_connection_refused_is_retried_then_raises(caplog):
    """§12.1: transport errors are retried until max elapsed, then surface as PanelError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PanelClient(make_config("http://127.0.0.1:%d" % port),
                         retry=RetryPolicy(0.01, 1.5, 0.5, 0.03, 0.3))
    with caplog.at_level(logging.DEBUG, logger="wingspan.panel"), \
            pytest.raises(errors.PanelError) as caught:
        client.get_server(UUID)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert caught.value.http_status is None
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) >= 2
    assert TOKEN not in caplog.text


def test_the_token_is_never_logged(panel, caplog):
    panel.answer("GET", "/api/remote/servers/%s" % UUID, (500, envelope("X", 500, "boom")))
    client = make_client(panel, retry=RetryPolicy(0.01, 1.5, 0.5, 0.02, 0.1))
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.PanelError):
        client.get_server(UUID)
    assert "retrying" in caplog.text
    assert TOKEN not in caplog.text


def test_a_body_that_is_not_json_is_a_panel_error(panel):
    panel.answer("GET", "/api/remote/servers/%s" % UUID, (200, b"<html>login</html>"))
    with pytest.raises(errors.PanelError):
        make_client(panel).get_server(UUID)


# -- the policy itself ----------------------------------------------------------------------

def test_wings_backoff_intervals():
    """§12.1: initial 0.5 s, x1.5, capped at 12 s, spread by +-50 %."""
    exact = RetryPolicy(randomization=0)
    assert [round(exact.interval(n), 4) for n in (1, 2, 3, 4)] == [0.5, 0.75, 1.125, 1.6875]
    assert exact.interval(20) == 12.0
    default = RetryPolicy()
    assert (default.initial, default.multiplier, default.randomization,
            default.max_interval, default.max_elapsed) == (0.5, 1.5, 0.5, 12.0, 30.0)
    samples = [default.interval(1) for _ in range(200)]
    assert all(0.25 <= s <= 0.75 for s in samples)
    assert max(samples) - min(samples) > 0.1


def test_a_server_list_without_usable_pagination_is_a_panel_error(panel):
    panel.answer("GET", "/api/remote/servers", (200, {"data": []}),
                 (200, {"data": [], "meta": {"current_page": 1, "last_page": "many"}}))
    client = make_client(panel)
    for _ in range(2):
        with pytest.raises(errors.PanelError):
            client.get_servers()


def test_many_calls_at_once_share_the_client_without_dropping_connections(panel, caplog):
    """The supervisor makes every worker's Panel calls (supervisor/panel_relay.py): a mass
    start's syncs run at once on one client, and each keeps its connection for reuse."""
    def slow_server(request):
        time.sleep(0.2)
        return 200, server_doc(UUID)

    panel.answer("GET", "/api/remote/servers/%s" % UUID, slow_server)
    client = make_client(panel)
    calls = 40
    answers = []
    caplog.set_level(logging.WARNING, logger="urllib3")
    threads = [threading.Thread(target=lambda: answers.append(client.get_server(UUID)))
               for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == calls
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
