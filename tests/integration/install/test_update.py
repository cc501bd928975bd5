"""``POST /api/update`` as the Panel sends it, and as a leaked node token could abuse it
(wings-api.md §3.2, §15.3; panel-contract.md §5; CVE-2024-34066, peers.md advisory #7)."""

import os

import pytest
import yaml

from tests.integration.install import helpers

pytestmark = pytest.mark.timeout(120)

UNKNOWN_TOP = {"future_feature": {"enabled": True, "level": 3}}
UNKNOWN_NESTED = "future_path_option"


def panel_body(daemon, **changes):
    """What the Panel's ``Node::getConfiguration()`` sends for this node (§3.2)."""
    config = daemon.config
    body = {"debug": False, "uuid": config["uuid"], "token_id": config["token_id"],
            "token": config["token"],
            "api": {"host": config["api"]["host"], "port": config["api"]["port"],
                    "ssl": {"enabled": False,
                            "cert": "/etc/letsencrypt/live/127.0.0.1/fullchain.pem",
                            "key": "/etc/letsencrypt/live/127.0.0.1/privkey.pem"},
                    "upload_limit": 100},
            "system": {"data": config["system"]["data"],
                       "sftp": {"bind_port": config["system"]["sftp"]["bind_port"]}},
            "allowed_mounts": [], "remote": config["remote"]}
    body.update(changes)
    return body


def with_change(body, change):
    """``body`` with ``change`` merged in depth; a changed key replaces any spelling of it
    that differs only in case (Go matches JSON names case-insensitively)."""
    result = {k: v for k, v in body.items()
              if not any(k.casefold() == c.casefold() for c in change)}
    for key, value in change.items():
        old = next((v for k, v in body.items() if k.casefold() == key.casefold()), None)
        result[key] = (with_change(old, value) if isinstance(value, dict)
                       and isinstance(old, dict) else value)
    return result


def saved(daemon):
    with open(daemon.config_path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def shared_node(docker_client, test_network, session_id, tmp_path_factory):
    """One daemon for the module: refused updates leave it as it was. Its owner switched
    remote downloads off, keys unknown to this version are in its file."""
    overrides = dict(UNKNOWN_TOP, system={UNKNOWN_NESTED: "/srv/kept"},
                     api={"disable_remote_download": True})
    with helpers.module_node(docker_client, test_network, session_id,
                             str(tmp_path_factory.mktemp("update")),
                             overrides=overrides) as (_, daemon):
        yield daemon


@pytest.fixture
def node(request, shared_node):
    request.node.wingspan_daemons = [shared_node]
    return shared_node


def test_panel_update_applies_and_keeps_unknown_keys(node):
    """§3.2: the Panel's document is merged onto the file: its change applied, every other
    key kept, including keys this daemon does not know; the file stays mode 0600."""
    body = panel_body(node)
    body["api"]["upload_limit"] = 5
    response = node.update_config(body)
    assert response.status_code == 200, response.text
    assert response.json() == {"applied": True}
    written = yaml.safe_load(saved(node))
    assert written["api"]["upload_limit"] == 5
    assert written["future_feature"] == UNKNOWN_TOP["future_feature"]
    assert written["system"][UNKNOWN_NESTED] == "/srv/kept"
    assert written["system"]["data"] == node.config["system"]["data"]
    assert written["api"]["ssl"]["cert"] == node.config["api"]["ssl"]["cert"]
    assert os.stat(node.config_path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("change", [
    {"system": {"data": "/"}},
    {"system": {"Data": "/etc"}},
    {"system": {"RootDirectory": "/etc"}},
    {"system": {"LogDirectory": "/etc/cron.d"}},
    {"system": {"TmpDirectory": "/etc/cron.d"}},
    {"system": {"BackupDirectory": "/root"}},
    {"system": {"ArchiveDirectory": "/root"}},
    {"system": {"User": {"Uid": 0, "Gid": 0}}},
    {"system": {"Username": "root"}},
    {"api": {"ssl": {"enabled": False, "cert": "/etc/shadow", "key": "/etc/shadow"}}},
    {"docker": {"registries": {"registry.evil.example": {"Username": "u", "Password": "p"}}}},
    {"docker": {"network": {"Mode": "host"}}},
    {"docker": {"network": {"Name": "host"}}},
    {"docker": {"userns_mode": "host"}},
    {"docker": {"container_pid_limit": 0}},
    {"docker": {"log_config": {"type": "syslog",
                               "config": {"syslog-address": "tcp://evil.example:514"}}}},
    {"api": {"disable_remote_download": False}},
    {"remote": "local:///etc"},
    {"remote": "https://attacker.example"},
], ids=lambda change: repr(change)[:60])
def test_update_refuses_new_paths_and_hosts(node, change):
    """CVE-2024-34066: a node token holder cannot repoint host paths, the file owner, TLS
    files, registry credentials, container isolation or the Panel source; the whole update
    is refused with 422 and config.yml is left byte for byte."""
    before = saved(node)
    body = with_change(panel_body(node), change)
    body["api"] = dict(body["api"], upload_limit=7)  # a legitimate change riding along
    response = node.update_config(body)
    assert response.status_code == 422, response.text
    assert "cannot be changed through the API" in response.json()["error"]
    assert saved(node) == before
    assert node.system().status_code == 200


def test_allowed_mounts_cannot_be_set(node):
    """§3.2, §15.3: ``allowed_mounts`` is not decoded (`json:"-"`): the update applies, the
    list stays as the node's owner wrote it."""
    response = node.update_config(panel_body(node, allowed_mounts=["/"]))
    assert response.json() == {"applied": True}
    assert yaml.safe_load(saved(node))["allowed_mounts"] == []


def test_ignore_panel_config_updates(daemon):
    """§3.2: with ignore_panel_config_updates the answer is {"applied": false} and the file
    is not rewritten (§18 item 21)."""
    daemon.config["ignore_panel_config_updates"] = True
    daemon.start()
    before = saved(daemon)
    body = panel_body(daemon)
    body["api"]["upload_limit"] = 5
    response = daemon.update_config(body)
    assert response.status_code == 200
    assert response.json() == {"applied": False}
    assert saved(daemon) == before
