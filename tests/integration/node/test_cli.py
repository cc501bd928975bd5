"""The operator's ``wingspan`` command (issue 20 §1): ``configure`` against the fake Panel's
application API (wings-api.md §15.1, wings-behaviour.md §14.2, panel-contract.md §5),
``diagnostics`` beside a real daemon, ``version`` and ``--help``."""

import os
import socket
import stat
import subprocess
import time

import pytest
import yaml

from tests.support.daemon import WINGSPAN
from tests.support.ports import free_port

from wingspan import __version__, config


def wingspan(*args, timeout=60):
    return subprocess.run([WINGSPAN, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# -- version and help -------------------------------------------------------------------------

def test_version_command_and_flag():
    for args in (["version"], ["--version"]):
        result = wingspan(*args)
        assert result.returncode == 0
        assert result.stdout == "wingspan v%s\n" % __version__


@pytest.mark.parametrize("args", [["--help"], ["configure", "--help"],
                                  ["diagnostics", "--help"], ["token", "--help"]])
def test_help_has_no_markup(args):
    result = wingspan(*args)
    assert result.returncode == 0 and result.stdout.startswith("usage: wingspan")
    for markup in ("``", ":func:", ":class:", "%(", "\x1b["):
        assert markup not in result.stdout


# -- configure ------------------------------------------------------------------------------

def configure(panel, node, path, *extra, key=None):
    key = key or panel.add_application_key()
    return wingspan("configure", "--panel-url", panel.url, "--token", key,
                    "--node", str(node.id), "--config-path", str(path), *extra), key


def test_configure_writes_the_panels_configuration(panel, tmp_path):
    path = tmp_path / "etc" / "config.yml"
    panel.node.daemon_listen, panel.node.daemon_base = 8443, "/srv/volumes"
    result, key = configure(panel, panel.node, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "wingspan: node 1 configured; configuration written to %s\n" % path
    assert key not in result.stdout + result.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    written = yaml.safe_load(path.read_text())
    assert written["uuid"] == panel.node.uuid
    assert written["token_id"] == panel.node.token_id
    assert written["token"] == panel.node.token
    assert written["remote"] == panel.url
    assert written["api"]["port"] == 8443 and written["api"]["host"] == "0.0.0.0"
    live = "/etc/letsencrypt/live/node1.example.com/"
    assert written["api"]["ssl"] == {"enabled": True, "cert": live + "fullchain.pem",
                                     "key": live + "privkey.pem"}
    assert written["system"]["data"] == "/srv/volumes"
    assert written["system"]["sftp"]["bind_port"] == 2022
    # every other key is there with its default, and the file loads as the daemon loads it
    assert written["system"]["root_directory"] == "/var/lib/pterodactyl"
    assert written["throttles"]["lines"] == 2000
    config.load(str(path)).validate_for_serving()
    [call] = panel.calls("GET", r"/api/application/nodes/1/configuration")
    assert call.headers["Authorization"] == "Bearer " + key
    assert call.headers["Accept"] == "application/vnd.pterodactyl.v1+json"


def test_configure_refuses_to_overwrite_without_override(panel, tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("keep: me\n")
    result, key = configure(panel, panel.node, path)
    assert result.returncode == 1
    assert result.stderr == ("wingspan configure: %s already exists; add --override to "
                             "replace it\n" % path)
    assert path.read_text() == "keep: me\n"
    assert panel.calls("GET", r"/api/application/.*") == []
    result, _ = configure(panel, panel.node, path, "--override", key=key)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(path.read_text())["uuid"] == panel.node.uuid


@pytest.mark.parametrize("status,key_kind", [(401, "unknown"), (403, "no-permission")])
def test_configure_with_a_bad_key_says_so_in_one_line(panel, tmp_path, status, key_kind):
    key = "ptla_nope" if key_kind == "unknown" else panel.add_application_key(read_nodes=False)
    path = tmp_path / "config.yml"
    result, _ = configure(panel, panel.node, path, key=key)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "wingspan configure: The authentication credentials provided were not valid (the "
        "Panel answered HTTP %d): use an application API key that may read nodes\n" % status)
    assert key not in result.stderr
    assert not path.exists()


def test_configure_unknown_node(panel, tmp_path):
    result, key = configure(panel, type("Unknown", (), {"id": 99})(), tmp_path / "c.yml")
    assert result.returncode == 1
    assert result.stderr == ("wingspan configure: the Panel answered HTTP 404 for node 99: "
                             "NotFoundHttpException: The requested resource could not be found "
                             "on the server.\n")


def test_configure_refused_connection(tmp_path):
    port = free_port()
    result = wingspan("configure", "--panel-url", "http://127.0.0.1:%d" % port, "--token",
                      "ptla_secret_value", "--node", "1", "--config-path",
                      str(tmp_path / "c.yml"))
    assert result.returncode == 1
    assert result.stderr == ("wingspan configure: could not connect to the Panel at "
                             "http://127.0.0.1:%d: connection refused\n" % port)
    assert "ptla_secret_value" not in result.stdout + result.stderr


@pytest.fixture
def self_signed_server(tmp_path):
    """``openssl s_server`` with a self-signed certificate: a Panel whose certificate no
    store trusts (it answers any request with an HTML status page)."""
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                               "-cert", cert, "-key", key, "-www", "-quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "openssl s_server did not start"
                time.sleep(0.05)
        yield "https://127.0.0.1:%d" % port
    finally:
        server.kill()
        server.wait()


def test_configure_bad_certificate(self_signed_server, tmp_path):
    args = ["configure", "--panel-url", self_signed_server, "--token", "ptla_secret_value",
            "--node", "1", "--config-path", str(tmp_path / "c.yml")]
    result = wingspan(*args)
    assert result.returncode == 1
    assert result.stderr == ("wingspan configure: the Panel's TLS certificate was not accepted "
                             "(self-signed certificate); fix it, or add --allow-insecure to "
                             "skip the check\n")
    # --allow-insecure gets past the certificate (this server is no Panel, though)
    result = wingspan(*args, "--allow-insecure")
    assert result.returncode == 1
    assert result.stderr == ("wingspan configure: the answer of %s is not a JSON object: is "
                             "it the Panel's URL?\n" % self_signed_server)
    assert not (tmp_path / "c.yml").exists()


@pytest.mark.parametrize("args,complaint", [
    (["--node", "one"], "argument --node/-n: must be the node's numeric id, got 'one'"),
    (["--panel-url", "ftp://x"], "argument --panel-url/-p: must be an http:// or https:// URL"),
])
def test_configure_bad_arguments(args, complaint, tmp_path):
    base = {"--panel-url": "http://127.0.0.1:1", "--token": "t", "--node": "1"}
    base.update(dict(zip(args[::2], args[1::2])))
    result = wingspan("configure", *[x for kv in base.items() for x in kv],
                      "--config-path", str(tmp_path / "c.yml"))
    assert result.returncode == 2
    assert complaint in result.stderr


# -- diagnostics ----------------------------------------------------------------------------

REGISTRY_PASSWORD = "registry-pass-5f1e"


@pytest.fixture
def running(panel, daemon_factory):
    daemon = daemon_factory(docker={"registries": {"registry.example.com": {
        "username": "someone", "password": REGISTRY_PASSWORD}}})
    daemon.start()
    log_path = os.path.join(daemon.config["system"]["log_directory"], "wings.log")
    with open(log_path, "a") as f:
        # a line quoting a secret must not carry it into the report
        f.write("a line naming the token %s\n" % daemon.config["token"])
        f.writelines("filler line %d\n" % i for i in range(30))
    return daemon


def secrets_of(daemon):
    return [daemon.config["token"], daemon.config["token_id"], REGISTRY_PASSWORD]


def check_report(report, daemon, lines):
    assert report.startswith("wingspan - Diagnostics Report\n")
    assert "wingspan: v%s" % __version__ in report
    for label in ("Python", "Docker", "runc", "Kernel", "OS"):
        assert "%20s: " % label in report
    for secret in secrets_of(daemon):
        assert secret not in report
    assert "token: '{redacted}'" in report and "token_id: '{redacted}'" in report
    assert "password: '{redacted}'" in report and "username: someone" in report
    assert daemon.panel_url not in report  # an endpoint: redacted unless asked for
    assert "| Docker: Info" in report and "Server Version:" in report
    assert "| Docker: Containers managed by wingspan" in report
    tail = report.split("| Latest logs (wings.log)\n| ------------------------------\n")[1]
    assert tail.splitlines() == ["filler line %d" % i for i in range(30 - lines, 30)]


def test_diagnostics_command(running):
    result = wingspan("diagnostics", "--config", running.config_path, "--log-lines", "5")
    assert result.returncode == 0, result.stderr
    check_report(result.stdout, running, 5)


def test_diagnostics_command_with_endpoints_and_no_logs(running):
    result = wingspan("--config", running.config_path, "diagnostics", "--log-lines", "0",
                      "--include-endpoints")
    assert result.returncode == 0, result.stderr
    assert running.panel_url in result.stdout
    assert result.stdout.rstrip().endswith("Logs redacted.")
    for secret in secrets_of(running):
        assert secret not in result.stdout


def test_diagnostics_endpoint_serves_the_same_report(running):
    response = running.get("/api/diagnostics", query={"log_lines": "5"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    check_report(response.text, running, 5)
    response = running.get("/api/diagnostics", query={"include_logs": "false",
                                                       "include_endpoints": "true"})
    assert response.status_code == 200
    assert running.panel_url in response.text
    assert response.text.rstrip().endswith("Logs redacted.")


def test_diagnostics_endpoint_bad_input(running):
    response = running.get("/api/diagnostics", query={"log_lines": "many"})
    assert response.status_code == 400
    assert response.json() == {"error": "log_lines must be a whole number."}
    # as in Pelican: more than 500 is 500, and zero or less is the default (200)
    response = running.get("/api/diagnostics", query={"log_lines": "100000"})
    assert response.status_code == 200
    response = running.get("/api/diagnostics", query={"log_lines": "-3"})
    assert response.status_code == 200 and "filler line 0\n" in response.text
