"""The diagnostics report (wingspan/diagnostics.py; wings-behaviour.md §14.2, issue 20 §1):
nothing secret in it, whatever key holds it, and a report even without Docker."""

from wingspan import diagnostics
from wingspan.config import Config

TOKEN = "T" * 64
TOKEN_ID = "abcdefghijklmnop"
REGISTRY_PASSWORD = "hunter2-registry"
S3_SECRET = "s3-secret-value"


def config(tmp_path):
    cfg = Config.from_dict({
        "uuid": "8d4f6b2c-1e0a-4f5e-9a77-3c1b2d4e5f60", "token_id": TOKEN_ID, "token": TOKEN,
        "remote": "https://panel.example.com",
        "system": {"log_directory": str(tmp_path)},
        "docker": {"registries": {"ghcr.io": {"username": "me",
                                              "password": REGISTRY_PASSWORD}}},
        # a key wingspan does not know (kept in the file) named like a credential
        "backups": {"s3": {"secret_access_key": S3_SECRET, "bucket": "b"}},
    })
    (tmp_path / "wings.log").write_text("".join("line %d\n" % i for i in range(10))
                                        + "token was %s\n" % TOKEN)
    return cfg


class NoDocker:
    def __call__(self):
        raise ConnectionError("no socket")


def test_every_secret_is_redacted(tmp_path):
    report = diagnostics.generate(config(tmp_path), NoDocker(), log_lines=3)
    for secret in (TOKEN, TOKEN_ID, REGISTRY_PASSWORD, S3_SECRET, "panel.example.com"):
        assert secret not in report
    data = diagnostics.redacted_config(config(tmp_path))
    assert data["token"] == data["token_id"] == "{redacted}"
    assert data["docker"]["registries"]["ghcr.io"] == {"username": "me",
                                                       "password": "{redacted}"}
    assert data["backups"]["s3"] == {"secret_access_key": "{redacted}", "bucket": "b"}
    assert data["remote"] == "{redacted}" and data["api"]["ssl"]["enabled"] is False


def test_endpoints_shown_on_request(tmp_path):
    data = diagnostics.redacted_config(config(tmp_path), include_endpoints=True)
    assert data["remote"] == "https://panel.example.com" and data["token"] == "{redacted}"


def test_report_without_docker_and_log_tail(tmp_path):
    report = diagnostics.generate(config(tmp_path), NoDocker(), log_lines=3)
    assert "Docker is not reachable: no socket" in report
    assert report.endswith("line 8\nline 9\ntoken was {redacted}\n")


def test_report_without_config():
    report = diagnostics.generate(None, NoDocker(), config_problem="config.yml: not found")
    assert "not loaded: config.yml: not found" in report


def test_tail_of_a_large_file(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("".join("line %06d\n" % i for i in range(200000)))
    assert diagnostics.tail(str(path), 2) == "line 199998\nline 199999"
    assert diagnostics.tail(str(tmp_path / "missing.log"), 2).startswith("No logs found")
