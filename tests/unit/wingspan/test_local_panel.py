"""LocalPanel, the panel-less stand-in, and the factory that picks it: same methods and errors
as PanelClient (wings-api.md §12.2), definitions on disk, reports in reports.jsonl."""

import json
import os

import pytest

from wingspan import errors
from wingspan.config import Config, ConfigError
from wingspan.panel import LocalPanel, PanelClient, panel_client, write_local_server

UUID = "5f6b6a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"
BACKUP = "9f2c6f7e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def definition(uuid=UUID, script="#!/bin/sh\r\necho installed > /mnt/server/done\r\n"):
    return {
        "settings": {"uuid": uuid, "meta": {"name": "Demo", "description": ""},
                     "suspended": False, "invocation": "sh /game.sh"},
        "process_configuration": {"startup": {"done": ["Server started"]},
                                  "stop": {"type": "command", "value": "stop"}, "configs": []},
        "install": {"container_image": "alpine:3.20", "entrypoint": "sh", "script": script},
    }


def reports(directory):
    with open(os.path.join(directory, "reports.jsonl")) as f:
        return [json.loads(line) for line in f]


def write_sftp(directory, accounts):
    with open(os.path.join(directory, "sftp.json"), "w") as f:
        json.dump(accounts, f)


# -- the factory ------------------------------------------------------------------------------

def test_factory_picks_local_panel_for_local_scheme_and_empty_remote(tmp_path):
    cfg = Config()
    cfg.remote = "local://" + str(tmp_path / "a")
    chosen = panel_client(cfg)
    assert isinstance(chosen, LocalPanel) and chosen.directory == str(tmp_path / "a")
    cfg.remote = ""
    cfg.wingspan.panelless_directory = str(tmp_path / "b")
    chosen = panel_client(cfg)
    assert isinstance(chosen, LocalPanel) and chosen.directory == str(tmp_path / "b")


def test_factory_picks_http_client_for_a_panel_url():
    cfg = Config()
    cfg.remote = "https://panel.example.com/"
    chosen = panel_client(cfg, verify_tls=False)
    assert isinstance(chosen, PanelClient)
    assert chosen.base_url == "https://panel.example.com/api/remote"
    assert chosen.session.verify is False


def test_factory_refuses_no_panel_and_no_directory():
    with pytest.raises(ConfigError, match="remote"):
        panel_client(Config())


# -- server definitions -------------------------------------------------------------------------

def test_written_definition_round_trips(tmp_path):
    path = write_local_server(str(tmp_path), definition())
    assert path == str(tmp_path / "servers" / (UUID + ".json"))
    panel = LocalPanel(str(tmp_path))
    doc = definition()
    assert panel.get_server(UUID) == {"settings": doc["settings"],
                                      "process_configuration": doc["process_configuration"]}
    assert panel.get_servers() == [{"uuid": UUID, "settings": doc["settings"],
                                    "process_configuration": doc["process_configuration"]}]
    assert sorted(os.listdir(tmp_path / "servers")) == [UUID + ".json"]


def test_install_script_is_normalised_like_the_panels(tmp_path):
    """wings-api.md §12.2 #4: CRLF becomes LF, a null script becomes empty."""
    write_local_server(str(tmp_path), definition())
    write_local_server(str(tmp_path), definition(uuid="other", script=None))
    panel = LocalPanel(str(tmp_path))
    assert panel.get_install_script(UUID) == {
        "container_image": "alpine:3.20", "entrypoint": "sh",
        "script": "#!/bin/sh\necho installed > /mnt/server/done\n"}
    assert panel.get_install_script("other")["script"] == ""


def test_missing_install_section_is_a_panel_error(tmp_path):
    doc = definition()
    del doc["install"]
    write_local_server(str(tmp_path), doc)
    with pytest.raises(errors.PanelError):
        LocalPanel(str(tmp_path)).get_install_script(UUID)


@pytest.mark.parametrize("uuid", ["missing", "../servers/" + UUID, "", "a/b", ".hidden"])
def test_unknown_or_unsafe_server_is_not_found(tmp_path, uuid):
    write_local_server(str(tmp_path), definition())
    with pytest.raises(errors.PanelNotFound) as caught:
        LocalPanel(str(tmp_path)).get_server(uuid)
    assert caught.value.public_message == "server does not exist on remote system"
    assert caught.value.http_status == 404


def test_a_broken_definition_is_skipped_at_boot_but_reported_on_fetch(tmp_path, caplog):
    write_local_server(str(tmp_path), definition())
    (tmp_path / "servers" / "broken.json").write_text("{not json")
    (tmp_path / "servers" / "notes.txt").write_text("ignored")
    panel = LocalPanel(str(tmp_path))
    assert [s["uuid"] for s in panel.get_servers()] == [UUID]
    assert "broken" in caplog.text
    with pytest.raises(errors.PanelError) as caught:
        panel.get_server("broken")
    assert not isinstance(caught.value, errors.PanelNotFound)


def test_no_servers_directory_means_no_servers(tmp_path):
    assert LocalPanel(str(tmp_path / "nothing")).get_servers() == []


def test_write_refuses_an_unsafe_uuid(tmp_path):
    with pytest.raises(ValueError):
        write_local_server(str(tmp_path), definition(uuid="../escape"))
    assert not (tmp_path / "servers" / "escape.json").exists()


# -- reports --------------------------------------------------------------------------------------

def test_every_report_is_appended_as_a_json_line(tmp_path):
    """wings-api.md §12.2 #2, #5, #6, #8, #9, #11: the calls the Panel would have received."""
    panel = LocalPanel(str(tmp_path))
    backup = {"checksum": "7c2a", "checksum_type": "sha1", "size": 10, "successful": True,
              "parts": None}
    activity = [{"user": None, "server": UUID, "event": "server:power.start", "metadata": {},
                 "ip": "127.0.0.1", "timestamp": "2024-10-24T12:04:30Z"}]
    panel.reset_servers_state()
    panel.set_install_status(UUID, False, True)
    panel.set_transfer_status(UUID, True)
    panel.set_backup_status(BACKUP, backup)
    panel.set_restore_status(BACKUP, True)
    panel.send_activity(activity)
    panel.send_activity([])
    lines = reports(str(tmp_path))
    assert [(r["method"], r["path"], r["body"]) for r in lines] == [
        ("POST", "/servers/reset", None),
        ("POST", "/servers/%s/install" % UUID, {"successful": False, "reinstall": True}),
        ("POST", "/servers/%s/transfer/success" % UUID, None),
        ("POST", "/backups/%s" % BACKUP, backup),
        ("POST", "/backups/%s/restore" % BACKUP, {"successful": True}),
        ("POST", "/activity", {"data": activity}),
    ]
    assert all(r["time"].endswith("Z") and r["time"][10] == "T" for r in lines)


def test_backups_cannot_go_to_s3_without_a_panel(tmp_path):
    """panel-contract.md §7.3: the answer of a Panel whose adapter is not S3."""
    with pytest.raises(errors.PanelError) as caught:
        LocalPanel(str(tmp_path)).get_backup_upload_parts(BACKUP, 100)
    assert caught.value.http_status == 400
    assert str(caught.value) == ("Error response from Panel: BadRequestHttpException: The "
                                 "configured backup adapter is not an S3 compatible adapter. "
                                 "(HTTP/400)")


# -- SFTP ------------------------------------------------------------------------------------

def test_sftp_password_login_with_short_or_full_server_id(tmp_path):
    """panel-contract.md §2.2 sftp/auth: username split at the last dot; short or full id."""
    write_sftp(str(tmp_path), {"jane.doe": {"password": "hunter2", "server": UUID,
                                            "permissions": ["file.read", "file.sftp"],
                                            "user": "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11"}})
    panel = LocalPanel(str(tmp_path))
    for username in ("jane.doe.5f6b6a4e", "jane.doe." + UUID, "jane.doe.5F6B6A4E"):
        assert panel.validate_sftp_credentials(
            {"type": "password", "username": username, "password": "hunter2"}) == {
            "server": UUID, "user": "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11",
            "permissions": ["file.read", "file.sftp"]}


def test_sftp_owner_defaults(tmp_path):
    write_sftp(str(tmp_path), {"admin": {"password": "pw", "server": UUID}})
    answer = LocalPanel(str(tmp_path)).validate_sftp_credentials(
        {"type": "password", "username": "admin.5f6b6a4e", "password": "pw"})
    assert answer["permissions"] == ["*"]
    assert answer["server"] == UUID
    assert len(answer["user"]) == 36


@pytest.mark.parametrize("username, password", [
    ("admin.5f6b6a4e", "wrong"),
    ("admin.5f6b6a4e", ""),
    ("admin.deadbeef", "pw"),
    ("nobody.5f6b6a4e", "pw"),
    ("admin", "pw"),
    (".5f6b6a4e", "pw"),
])
def test_sftp_refusals_are_invalid_credentials(tmp_path, username, password):
    write_sftp(str(tmp_path), {"admin": {"password": "pw", "server": UUID}})
    with pytest.raises(errors.InvalidCredentials):
        LocalPanel(str(tmp_path)).validate_sftp_credentials(
            {"type": "password", "username": username, "password": password})


def test_sftp_without_accounts_file_is_invalid_credentials(tmp_path):
    with pytest.raises(errors.InvalidCredentials):
        LocalPanel(str(tmp_path)).validate_sftp_credentials(
            {"type": "password", "username": "admin.5f6b6a4e", "password": "pw"})


def test_sftp_unreadable_accounts_file_is_an_outage_not_a_refusal(tmp_path):
    (tmp_path / "sftp.json").write_text("[1, 2")
    with pytest.raises(errors.PanelError) as caught:
        LocalPanel(str(tmp_path)).validate_sftp_credentials(
            {"type": "password", "username": "admin.5f6b6a4e", "password": "pw"})
    assert not isinstance(caught.value, errors.InvalidCredentials)


def test_sftp_public_key_matches_type_and_blob_not_comment(tmp_path):
    """wings-api.md §12.2 #10: for public_key, ``password`` is the authorized_keys line."""
    write_sftp(str(tmp_path), {"admin": {"server": UUID, "public_keys": [KEY + " laptop"]}})
    panel = LocalPanel(str(tmp_path))
    answer = panel.validate_sftp_credentials(
        {"type": "public_key", "username": "admin.5f6b6a4e", "password": KEY + "\n"})
    assert answer["server"] == UUID
    with pytest.raises(errors.InvalidCredentials):
        panel.validate_sftp_credentials(
            {"type": "public_key", "username": "admin.5f6b6a4e", "password": KEY[:-4] + "AAAA"})
    with pytest.raises(errors.InvalidCredentials):
        panel.validate_sftp_credentials(
            {"type": "public_key", "username": "admin.5f6b6a4e", "password": "garbage"})
    # Without a password on the account, password logins are refused.
    with pytest.raises(errors.InvalidCredentials):
        panel.validate_sftp_credentials(
            {"type": "password", "username": "admin.5f6b6a4e", "password": ""})
