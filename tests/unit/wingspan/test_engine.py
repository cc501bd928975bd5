"""The Docker wrapper (architecture.md: one place calls Docker) against a stand-in Docker on
a unix socket: the requests it sends, how replies and errors come back, and an attach that
hands over the console bytes that arrive with its reply head."""

import base64
import json
import os
import socket
import tempfile
import threading

import pytest

from wingspan import errors
from wingspan.engine import ContainerGone, Engine, repository_and_tag


class FakeDocker:
    """Answers each connection with the next canned reply for its request line's
    ``(method, path without query)``; records every request it read."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fakedocker-")
        self.path = os.path.join(self.dir, "docker.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.replies = {}
        self.requests = []
        self.kept = []
        threading.Thread(target=self._serve, daemon=True).start()

    def reply(self, method, path, status, body=b"", raw=None):
        """Queue a reply; ``raw`` bytes are sent as they are instead."""
        if raw is None:
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            raw = b"HTTP/1.0 %d X\r\nContent-Type: application/json\r\n\r\n" % status + body
        self.replies.setdefault((method, path), []).append(raw)

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            while len(body) < int(headers.get("Content-Length", 0)):
                body += conn.recv(65536)
            method, target, version = lines[0].split(" ")
            self.requests.append({"method": method, "target": target, "version": version,
                                  "headers": headers, "body": body})
            conn.sendall(self.replies[(method, target.split("?")[0])].pop(0))
            if version == "HTTP/1.1":
                self.kept.append(conn)  # an upgraded stream stays open
            else:
                conn.close()

    def close(self):
        self.listener.close()
        for conn in self.kept:
            conn.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def docker():
    fake = FakeDocker()
    yield fake
    fake.close()


@pytest.fixture
def engine(docker):
    return Engine("unix://" + docker.path, timeout=5, version="1.41")


def test_inspect_returns_the_document_or_none(docker, engine):
    docker.reply("GET", "/v1.41/containers/srv/json", 200, {"Id": "abc", "State": {}})
    docker.reply("GET", "/v1.41/containers/srv/json", 404, {"message": "No such container"})
    assert engine.inspect("srv") == {"Id": "abc", "State": {}}
    assert engine.inspect("srv") is None
    assert docker.requests[0]["version"] == "HTTP/1.0"  # a reply that ends at the close


def test_create_sends_the_config_as_json(docker, engine):
    docker.reply("POST", "/v1.41/containers/create", 201, {"Id": "abc", "Warnings": []})
    assert engine.create("srv", {"Image": "game", "Tty": True})["Id"] == "abc"
    sent = docker.requests[0]
    assert sent["target"] == "/v1.41/containers/create?name=srv"
    assert json.loads(sent["body"]) == {"Image": "game", "Tty": True}
    assert sent["headers"]["Content-Type"] == "application/json"


def test_a_container_removed_between_create_and_inspect_is_container_gone(docker, engine):
    """Found by the bus fuzzer (issue 19): two creates of one container at once, the other
    removing it again, let docker-py's NotFound out of create() as a generic 500."""
    docker.reply("POST", "/v1.41/containers/create", 409, {"message": "Conflict"})
    docker.reply("GET", "/v1.41/containers/srv/json", 404, {"message": "No such container"})
    with pytest.raises(ContainerGone):
        engine.create("srv", {})


def test_an_existing_container_is_reused_on_create(docker, engine):
    docker.reply("POST", "/v1.41/containers/create", 409, {"message": "Conflict"})
    docker.reply("GET", "/v1.41/containers/srv/json", 200, {"Id": "abc"})
    assert engine.create("srv", {}) == {"Id": "abc"}


def test_nothing_to_kill_or_remove_is_no_error(docker, engine):
    docker.reply("POST", "/v1.41/containers/srv/kill", 409, {"message": "is not running"})
    docker.reply("POST", "/v1.41/containers/srv/kill", 404, {"message": "No such container"})
    docker.reply("DELETE", "/v1.41/containers/srv", 404, {"message": "No such container"})
    engine.kill("srv", "SIGTERM")
    engine.kill("srv")
    engine.remove("srv", force=True)
    assert docker.requests[0]["target"] == "/v1.41/containers/srv/kill?signal=SIGTERM"
    assert docker.requests[2]["target"] == "/v1.41/containers/srv?v=1&force=1"


def test_an_error_status_is_a_docker_error_with_dockers_message(docker, engine):
    docker.reply("POST", "/v1.41/containers/srv/start", 500, {"message": "port is taken"})
    with pytest.raises(errors.DockerError) as caught:
        engine.start("srv")
    assert caught.value.detail == "start srv: 500 port is taken"
    assert not isinstance(caught.value, ContainerGone)


def test_an_unreachable_docker_is_a_docker_error(docker):
    engine = Engine("unix://" + docker.path + ".missing", timeout=5, version="1.41")
    with pytest.raises(errors.DockerError):
        engine.inspect("srv")


def test_wait_logs_update_and_image_inspect(docker, engine):
    docker.reply("POST", "/v1.41/containers/srv/wait", 200, {"StatusCode": 3})
    docker.reply("GET", "/v1.41/containers/srv/logs", 200, b"line 1\r\nline 2\r\n")
    docker.reply("POST", "/v1.41/containers/srv/update", 200, {"Warnings": []})
    docker.reply("GET", "/v1.41/images/ghcr.io/acme/java:17/json", 404, {"message": "no"})
    assert engine.wait("srv", timeout=None) == 3
    assert engine.logs("srv", tail=2) == b"line 1\r\nline 2\r\n"
    engine.update("srv", {"Memory": 1})
    assert engine.image_exists("ghcr.io/acme/java:17") is False
    assert docker.requests[1]["target"] == "/v1.41/containers/srv/logs?stdout=1&stderr=1&tail=2"


def test_an_update_of_a_missing_container_is_nothing_to_do(docker, engine):
    docker.reply("POST", "/v1.41/containers/srv/update", 404,
                 {"message": "No such container: srv"})
    engine.update("srv", {"Memory": 1})
    assert docker.requests[0]["target"] == "/v1.41/containers/srv/update"


def test_the_version_is_asked_once_when_not_given(docker):
    docker.reply("GET", "/version", 200, {"ApiVersion": "1.43"})
    docker.reply("GET", "/v1.43/containers/srv/json", 200, {"Id": "abc"})
    engine = Engine("unix://" + docker.path, timeout=5)
    assert engine.inspect("srv") == {"Id": "abc"}
    assert engine.api_version == "1.43"


def test_attach_keeps_the_console_bytes_sent_with_the_reply_head(docker, engine):
    docker.reply("POST", "/v1.41/containers/srv/attach", 101, raw=(
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nServer starting...\r\n"))
    stream = engine.attach("srv")
    try:
        assert stream.gettimeout() is None
        assert stream.recv(100) == b"Server starting...\r\n"
    finally:
        stream.close()
    sent = docker.requests[0]
    assert sent["version"] == "HTTP/1.1" and sent["headers"]["Upgrade"] == "tcp"
    assert sent["target"].endswith("?stdin=1&stdout=1&stderr=1&stream=1&logs=0")


def test_attach_to_a_missing_container_is_container_gone(docker, engine):
    body = b'{"message":"No such container: srv"}\n'
    docker.reply("POST", "/v1.41/containers/srv/attach", 404, raw=(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"))
    with pytest.raises(ContainerGone) as caught:
        engine.attach("srv")
    assert caught.value.detail == "attach srv: No such container: srv"


def test_an_image_name_that_is_no_reference_has_no_id(docker, engine):
    """Found by the schemathesis run (issue 19): a server's local-only image ``~game``
    reached Docker as a name, and Docker's 400 made the image prune a 500."""
    docker.reply("GET", "/v1.41/images/~game:latest/json", 400,
                 {"message": "invalid reference format"})
    docker.reply("GET", "/v1.41/images/game:latest/json", 200, {"Id": "sha256:game"})
    assert engine.image_id("~game:latest") is None
    assert engine.image_id("game:latest") == "sha256:game"


def progress_reply(*lines, tail=b""):
    """A pull's reply: Docker's JSON lines as it streams them, the last one maybe cut."""
    return (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
            + b"".join(json.dumps(line).encode() + b"\r\n" for line in lines) + tail)


def test_a_pull_reports_each_progress_line_and_sends_only_the_given_credentials(
        docker, engine):
    docker.reply("POST", "/v1.41/images/create", None, raw=progress_reply(
        {"status": "Pulling from acme/java", "id": "17"},
        {"status": "Downloading", "progress": "[==>   ] 1MB/3MB"},
        tail=b'{"status": "Status: Downloaded newer image"}'))
    docker.reply("POST", "/v1.41/images/create", None, raw=progress_reply({"status": "Done"}))
    seen = []
    engine.pull("ghcr.io/acme/java:17", ("bot", "s3cret"), seen.append)
    engine.pull("ghcr.io/acme/java:17")
    assert seen == ["Pulling from acme/java", "Downloading [==>   ] 1MB/3MB",
                    "Status: Downloaded newer image"]
    with_auth, without = docker.requests
    assert with_auth["target"] == "/v1.41/images/create?fromImage=ghcr.io%2Facme%2Fjava&tag=17"
    assert json.loads(base64.urlsafe_b64decode(with_auth["headers"]["X-Registry-Auth"])) == {
        "username": "bot", "password": "s3cret"}
    assert "X-Registry-Auth" not in without["headers"]


def test_a_pull_that_fails_part_way_is_a_docker_error(docker, engine):
    docker.reply("POST", "/v1.41/images/create", None, raw=progress_reply(
        {"status": "Pulling fs layer"}, {"error": "unauthorized: authentication required"}))
    with pytest.raises(errors.DockerError) as caught:
        engine.pull("ghcr.io/acme/private:1")
    assert caught.value.detail == "pull ghcr.io/acme/private:1: " \
                                  "unauthorized: authentication required"


def test_a_pull_docker_refuses_is_a_docker_error_with_its_message(docker, engine):
    docker.reply("POST", "/v1.41/images/create", 500,
                 {"message": "Get \"https://127.0.0.1:1/v2/\": connection refused"})
    with pytest.raises(errors.DockerError) as caught:
        engine.pull("127.0.0.1:1/game")
    assert caught.value.detail == 'pull 127.0.0.1:1/game: 500 Get "https://127.0.0.1:1/v2/": ' \
                                  "connection refused"
    assert docker.requests[0]["target"].endswith("?fromImage=127.0.0.1%3A1%2Fgame&tag=latest")


@pytest.mark.parametrize("image,expected", [
    ("java", ("java", "latest")),
    ("ghcr.io/acme/java:17", ("ghcr.io/acme/java", "17")),
    ("registry:5000/acme/java", ("registry:5000/acme/java", "latest")),
    ("registry:5000/acme/java:21-jre", ("registry:5000/acme/java", "21-jre")),
    ("acme/java@sha256:" + "a" * 64, ("acme/java", "sha256:" + "a" * 64)),
])
def test_an_image_reference_splits_into_repository_and_tag(image, expected):
    assert repository_and_tag(image) == expected


def test_a_missing_network_is_created_with_the_engine_api_body(docker, engine):
    docker.reply("GET", "/v1.41/networks/ip-10-0-0-5", 404, {"message": "not found"})
    docker.reply("POST", "/v1.41/networks/create", 201, {"Id": "n1", "Warning": ""})
    docker.reply("GET", "/v1.41/networks/ip-10-0-0-5", 200, {"Id": "n1", "Driver": "bridge"})
    docker.reply("GET", "/v1.41/networks/ip-10-0-0-5", 200, {"Id": "n1", "Driver": "bridge"})
    body = {"Driver": "bridge", "Internal": False, "Options": {"encryption": "false"}}
    assert engine.ensure_network("ip-10-0-0-5", body) == {"Id": "n1", "Driver": "bridge"}
    assert engine.ensure_network("ip-10-0-0-5", body) == {"Id": "n1", "Driver": "bridge"}
    assert [r["method"] for r in docker.requests] == ["GET", "POST", "GET", "GET"]
    assert json.loads(docker.requests[1]["body"]) == dict(body, Name="ip-10-0-0-5")
