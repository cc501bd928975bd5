"""The fake Panel over real HTTP on loopback: auth, strictness, pagination, validation,
SFTP, activity, backups, transfers, recording and fault injection.

Spec: panel-contract.md §2.1 (auth, envelope), §2.2 (endpoint reference), §2.3 (server
document), §7.1–7.3 (the fake's requirements, state and endpoints); wings-api.md §12.
"""

import base64
import http.server
import json
import threading
import time

import pytest
import requests

from tests.support import panel_routes
from tests.support.fakepanel import FakePanel, server_document

UUID_A = "d3aac109-e5a0-4331-b03e-3454f7e136dc"
UUID_B = "9e1f2c3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
UUID_C = "0c1d2e3f-4a5b-4c6d-9e8f-1a2b3c4d5e6f"
WINGS_ACCEPT = "application/vnd.pterodactyl.v1+json"


@pytest.fixture
def panel():
    with FakePanel("unit") as fake:
        yield fake


def headers(panel, credential=None, **extra):
    base = {"Authorization": "Bearer %s" % (credential or panel.node.credential),
            "Accept": WINGS_ACCEPT, "Content-Type": "application/json",
            "User-Agent": "Pterodactyl Wings/v1.11.11 (id:%s)" % panel.token_id}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def call(panel, method, path, body=None, raw=None, **header_overrides):
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, panel.url + path, data=data, timeout=10,
                            headers=headers(panel, **header_overrides))


def ed25519_line(seed):
    blob = (b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + bytes([seed]) * 32)
    return "ssh-ed25519 %s test@host" % base64.b64encode(blob).decode()


def activity_entry(server_uuid, **changes):
    entry = {"user": None, "server": server_uuid, "event": "server:sftp.write",
             "metadata": {"files": ["/server.properties"]}, "ip": "203.0.113.7",
             "timestamp": "2024-10-24T12:04:30.123456789Z"}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not DROP}


DROP = object()


# -- authentication (§2.1) ---------------------------------------------------------------


def test_missing_bearer_is_401_with_www_authenticate(panel):
    response = requests.get(panel.url + "/api/remote/servers",
                            headers={"Accept": WINGS_ACCEPT}, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"errors": [{
        "code": "HttpException", "status": "401",
        "detail": "Access to this endpoint must include an Authorization header."}]}


@pytest.mark.parametrize("credential", ["onlyonepart", "a.b.c", ".secret", "id."])
def test_malformed_bearer_is_400(panel, credential):
    response = call(panel, "GET", "/api/remote/servers", credential=credential)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "BadRequestHttpException", "status": "400",
        "detail": "The Authorization header provided was not in a valid format."}


@pytest.mark.parametrize("which", ["token", "token_id"])
def test_wrong_token_or_id_is_403(panel, which):
    credential = ("%s.%s" % (panel.token_id, "x" * 64) if which == "token"
                  else "%s.%s" % ("y" * 16, panel.token))
    response = call(panel, "GET", "/api/remote/servers", credential=credential)
    assert response.status_code == 403
    assert response.json() == {"errors": [{
        "code": "AccessDeniedHttpException", "status": "403",
        "detail": "You are not authorized to access this resource."}]}


def test_node_credentials_have_the_panel_lengths(panel):
    assert len(panel.token_id) == 16 and len(panel.token) == 64
    assert panel.token_id.isalnum() and panel.token.isalnum()


# -- strictness switches (§7.1) ------------------------------------------------------------


def test_accept_without_json_is_406(panel):
    response = call(panel, "GET", "/api/remote/servers", Accept="*/*")
    assert response.status_code == 406
    assert "Accept" in response.json()["errors"][0]["detail"]


def test_body_without_json_content_type_is_415(panel):
    panel.add_server(UUID_A)
    response = call(panel, "POST", "/api/remote/servers/%s/install" % UUID_A,
                    raw='{"successful":true}', **{"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert panel.install_reports == []


def test_bodyless_get_without_content_type_passes(panel):
    response = call(panel, "GET", "/api/remote/servers", **{"Content-Type": None})
    assert response.status_code == 200


def test_strictness_can_be_switched_off(panel):
    panel.strict_headers = False
    assert call(panel, "GET", "/api/remote/servers", Accept="*/*").status_code == 200


def test_invalid_json_body_is_refused(panel):
    panel.add_server(UUID_A)
    response = call(panel, "POST", "/api/remote/servers/%s/install" % UUID_A, raw="{nope")
    assert response.status_code == 400


# -- servers list, pagination (§2.2, §7.3) -------------------------------------------------


def test_page_zero_is_page_one_with_laravel_meta(panel):
    for uuid in (UUID_A, UUID_B, UUID_C):
        panel.add_server(uuid)
    body = call(panel, "GET", "/api/remote/servers?page=0&per_page=2").json()
    assert [s["uuid"] for s in body["data"]] == [UUID_A, UUID_B]
    meta = body["meta"]
    assert (meta["current_page"], meta["from"], meta["to"], meta["last_page"],
            meta["per_page"], meta["total"]) == (1, 1, 2, 2, 2, 3)
    assert meta["path"] == panel.url + "/api/remote/servers"
    assert body["links"] == {"first": panel.url + "/api/remote/servers?page=1",
                             "last": panel.url + "/api/remote/servers?page=2",
                             "prev": None, "next": panel.url + "/api/remote/servers?page=2"}
    assert set(body["data"][0]) == {"uuid", "settings", "process_configuration"}


def test_second_page_and_empty_page(panel):
    for uuid in (UUID_A, UUID_B, UUID_C):
        panel.add_server(uuid)
    second = call(panel, "GET", "/api/remote/servers?page=2&per_page=2").json()
    assert [s["uuid"] for s in second["data"]] == [UUID_C]
    assert (second["meta"]["from"], second["meta"]["to"]) == (3, 3)
    beyond = call(panel, "GET", "/api/remote/servers?page=7&per_page=2").json()
    assert beyond["data"] == []
    assert beyond["meta"]["from"] is None and beyond["meta"]["to"] is None


def test_no_servers_and_default_per_page(panel):
    body = call(panel, "GET", "/api/remote/servers").json()
    assert body["data"] == []
    assert (body["meta"]["per_page"], body["meta"]["total"], body["meta"]["last_page"],
            body["meta"]["from"], body["meta"]["to"]) == (50, 0, 1, None, None)


@pytest.mark.parametrize("page", ["-1", "abc", "", "1.5"])
def test_invalid_page_is_page_one(panel, page):
    panel.add_server(UUID_A)
    body = call(panel, "GET", "/api/remote/servers?page=%s" % page).json()
    assert body["meta"]["current_page"] == 1 and len(body["data"]) == 1


def test_listing_is_node_scoped(panel):
    other = panel.add_node()
    panel.add_server(UUID_A)
    panel.add_server(UUID_B, node=other)
    mine = call(panel, "GET", "/api/remote/servers").json()
    theirs = call(panel, "GET", "/api/remote/servers", credential=other.credential).json()
    assert [s["uuid"] for s in mine["data"]] == [UUID_A]
    assert [s["uuid"] for s in theirs["data"]] == [UUID_B]


def test_json_slashes_are_escaped_like_laravel(panel):
    panel.add_server(UUID_A)
    raw = call(panel, "GET", "/api/remote/servers/%s" % UUID_A).text
    assert r'"sh \/game.sh {{START_DELAY}}"' in raw


# -- one server, install (§2.2) ----------------------------------------------------------


def test_server_by_full_and_short_uuid_from_any_node(panel):
    other = panel.add_node()
    panel.add_server(UUID_A)
    full = call(panel, "GET", "/api/remote/servers/%s" % UUID_A)
    short = call(panel, "GET", "/api/remote/servers/%s" % UUID_A[:8],
                 credential=other.credential)
    assert full.status_code == short.status_code == 200
    assert full.json() == short.json()
    assert set(full.json()) == {"settings", "process_configuration"}
    assert full.json()["settings"]["uuid"] == UUID_A


def test_unknown_server_is_404_with_empty_detail(panel):
    response = call(panel, "GET", "/api/remote/servers/%s" % UUID_B)
    assert response.status_code == 404
    assert response.json() == {"errors": [{"code": "RecordNotFoundException", "status": "404",
                                           "detail": ""}]}


def test_reset_clears_installing_and_restoring(panel):
    panel.add_server(UUID_A, status="installing")
    panel.add_server(UUID_B, status="restoring_backup")
    panel.add_server(UUID_C, status="install_failed")
    response = call(panel, "POST", "/api/remote/servers/reset", raw="null")
    assert response.status_code == 204 and response.content == b""
    assert [panel.servers[u]["status"] for u in (UUID_A, UUID_B, UUID_C)] == [
        None, None, "install_failed"]
    assert panel.reset_calls == 1


def test_install_script_keeps_crlf(panel):
    panel.add_server(UUID_A)
    body = call(panel, "GET", "/api/remote/servers/%s/install" % UUID_A[:8]).json()
    assert body == {"container_image": "~wingspan-test/installer:latest", "entrypoint": "ash",
                    "script": "#!/bin/ash\r\necho hello > /mnt/server/installed.txt\r\n"}


def test_install_report_without_successful_is_422(panel):
    panel.add_server(UUID_A, status="installing")
    response = call(panel, "POST", "/api/remote/servers/%s/install" % UUID_A,
                    body={"reinstall": False})
    assert response.status_code == 422
    assert response.json() == {"errors": [{
        "code": "ValidationException", "status": "422",
        "detail": "The successful field must be present.",
        "meta": {"source_field": "successful", "rule": "present"}}]}
    assert panel.servers[UUID_A]["status"] == "installing"


@pytest.mark.parametrize("body, before, after", [
    ({"successful": True, "reinstall": False}, "installing", None),
    ({"successful": False, "reinstall": False}, "installing", "install_failed"),
    ({"successful": False, "reinstall": True}, "installing", "reinstall_failed"),
    ({"successful": True, "reinstall": True}, "suspended", "suspended"),
])
def test_install_report_sets_status(panel, body, before, after):
    panel.add_server(UUID_A, status=before)
    response = call(panel, "POST", "/api/remote/servers/%s/install" % UUID_A, body=body)
    assert response.status_code == 204
    assert panel.servers[UUID_A]["status"] == after
    assert panel.servers[UUID_A]["installed_at"] is not None
    assert panel.install_reports[-1]["body"] == body


# -- activity (§2.2 table) -----------------------------------------------------------------


def test_activity_keeps_this_nodes_server_events(panel):
    other = panel.add_node()
    panel.add_server(UUID_A)
    panel.add_server(UUID_B, node=other)
    body = {"data": [activity_entry(UUID_A), activity_entry(UUID_B),
                     activity_entry(UUID_A, event="auth:sftp.fail"),
                     activity_entry(UUID_A, ip=None, event="server:power.kill", metadata={})]}
    response = call(panel, "POST", "/api/remote/activity", body=body)
    assert response.status_code == 200 and response.content == b""
    assert [(a["server"], a["event"], a["ip"]) for a in panel.activity] == [
        (UUID_A, "server:sftp.write", "203.0.113.7"), (UUID_A, "server:power.kill", "127.0.0.1")]


def test_empty_activity_batch_is_422(panel):
    response = call(panel, "POST", "/api/remote/activity", body={"data": []})
    assert response.status_code == 422
    assert response.json()["errors"][0]["meta"] == {"source_field": "data", "rule": "required"}


def test_activity_without_user_key_is_500(panel):
    panel.add_server(UUID_A)
    response = call(panel, "POST", "/api/remote/activity",
                    body={"data": [activity_entry(UUID_A, user=DROP)]})
    assert response.status_code == 500
    assert panel.activity == []


@pytest.mark.parametrize("changes, field, rule", [
    ({"ip": "203.0.113.7:51234"}, "data.0.ip", "ip"),
    ({"ip": "fe80::1%eth0"}, "data.0.ip", "ip"),
    ({"metadata": DROP}, "data.0.metadata", "present"),
    ({"server": "not-a-uuid"}, "data.0.server", "uuid"),
    ({"timestamp": "2024-10-24T12:04:30.123456+00:00"}, "data.0.timestamp",
     "fake_panel_rfc3339"),
])
def test_invalid_activity_entries_fail_the_batch(panel, changes, field, rule):
    panel.add_server(UUID_A)
    response = call(panel, "POST", "/api/remote/activity",
                    body={"data": [activity_entry(UUID_A, **changes)]})
    assert response.status_code == 422
    assert [(e["meta"]["source_field"], e["meta"]["rule"])
            for e in response.json()["errors"]] == [(field, rule)]


@pytest.mark.parametrize("timestamp", ["2024-10-24T12:04:30Z", "2024-10-24T12:04:30.5Z",
                                       "2024-10-24T12:04:30+00:00"])
def test_panel_parseable_timestamps_pass(panel, timestamp):
    panel.add_server(UUID_A)
    response = call(panel, "POST", "/api/remote/activity",
                    body={"data": [activity_entry(UUID_A, timestamp=timestamp)]})
    assert response.status_code == 200


def test_lenient_timestamps_when_switched_off(panel):
    panel.add_server(UUID_A)
    panel.strict_timestamps = False
    response = call(panel, "POST", "/api/remote/activity",
                    body={"data": [activity_entry(UUID_A, timestamp="yesterday")]})
    assert response.status_code == 200


# -- SFTP auth (§2.2) ----------------------------------------------------------------------


def sftp(panel, username, password, kind="password"):
    return call(panel, "POST", "/api/remote/sftp/auth",
                body={"type": kind, "username": username, "password": password,
                      "ip": "203.0.113.7:50022", "session_id": "c2Vzcw==",
                      "client_version": "U1NILTIuMA=="})


def test_sftp_owner_by_short_id_gets_full_uuid(panel):
    user = panel.add_user("jane.doe", password="hunter2")
    panel.add_server(UUID_A, owner="jane.doe")
    response = sftp(panel, "jane.doe.%s" % UUID_A[:8], "hunter2")
    assert response.status_code == 200
    assert response.json() == {"user": user["uuid"], "server": UUID_A, "permissions": ["*"]}


def test_sftp_root_admin_permissions(panel):
    panel.add_user("admin", password="pw", root_admin=True)
    panel.add_server(UUID_A)
    assert sftp(panel, "admin.%s" % UUID_A, "pw").json()["permissions"] == [
        "*", "admin.websocket.errors", "admin.websocket.install", "admin.websocket.transfer"]


def test_sftp_subusers_need_file_sftp(panel):
    panel.add_user("reader", password="pw")
    panel.add_user("viewer", password="pw")
    panel.add_server(UUID_A)
    panel.add_subuser(UUID_A, "reader", ["file.read", "file.sftp", "websocket.connect"])
    panel.add_subuser(UUID_A, "viewer", ["file.read", "websocket.connect"])
    assert sftp(panel, "reader.%s" % UUID_A[:8], "pw").json()["permissions"] == [
        "file.read", "file.sftp", "websocket.connect"]
    refused = sftp(panel, "viewer.%s" % UUID_A[:8], "pw")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["detail"] == panel_routes.NO_SFTP


def test_sftp_wrong_password_is_403_and_sixth_attempt_429(panel):
    panel.add_user("jane", password="right")
    panel.add_server(UUID_A, owner="jane")
    for _ in range(5):
        response = sftp(panel, "jane.%s" % UUID_A[:8], "wrong")
        assert response.status_code == 403
        assert response.json() == {"errors": [{
            "code": "HttpForbiddenException", "status": "403",
            "detail": "Authorization credentials were not correct, please try again."}]}
    throttled = sftp(panel, "jane.%s" % UUID_A[:8], "right")
    assert throttled.status_code == 429
    assert throttled.json()["errors"][0]["detail"] == (
        "Too many login attempts for this account, please try again in 60 seconds.")


def test_sftp_server_on_other_node_is_403(panel):
    other = panel.add_node()
    panel.add_user("jane", password="pw")
    panel.add_server(UUID_A, owner="jane", node=other)
    assert sftp(panel, "jane.%s" % UUID_A[:8], "pw").status_code == 403


def test_sftp_empty_server_part_is_400(panel):
    assert sftp(panel, "jane.", "pw").status_code == 400


def test_sftp_suspended_server_is_409(panel):
    panel.add_user("jane", password="pw")
    panel.add_server(UUID_A, owner="jane", suspended=True)
    response = sftp(panel, "jane.%s" % UUID_A[:8], "pw")
    assert response.status_code == 409
    assert response.json()["errors"][0] == {
        "code": "ServerStateConflictException", "status": "409",
        "detail": "This server is currently suspended and the functionality requested is "
                  "unavailable."}


def test_sftp_public_key_by_fingerprint(panel):
    panel.add_user("jane", password="pw", keys=[ed25519_line(1)])
    panel.add_server(UUID_A, owner="jane")
    assert sftp(panel, "jane.%s" % UUID_A[:8], ed25519_line(1), "public_key").status_code == 200
    assert sftp(panel, "jane.%s" % UUID_A[:8], ed25519_line(2), "public_key").status_code == 403
    assert sftp(panel, "jane.%s" % UUID_A[:8], "ssh-ed25519 !!!", "public_key").status_code == 403


def test_sftp_unknown_well_formed_keys_do_not_count_towards_throttle(panel):
    panel.add_user("jane", password="pw")
    panel.add_server(UUID_A, owner="jane")
    for seed in range(6):
        assert sftp(panel, "jane.%s" % UUID_A[:8], ed25519_line(seed),
                    "public_key").status_code == 403
    assert sftp(panel, "jane.%s" % UUID_A[:8], "pw").status_code == 200


# -- backups and restore (§2.2, §7.3) -------------------------------------------------------


def test_backup_upload_urls_refused_for_local_adapter(panel):
    panel.add_server(UUID_A)
    backup = panel.add_backup(UUID_A)
    response = call(panel, "GET", "/api/remote/backups/%s?size=100" % backup)
    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == (
        "The configured backup adapter is not an S3 compatible adapter.")
    assert call(panel, "GET", "/api/remote/backups/%s?size=0" % backup).json()[
        "errors"][0]["detail"] == 'A non-empty "size" query parameter must be provided.'


def test_s3_backup_round_trip(panel):
    panel.backup_adapter = "s3"
    panel.s3_part_size = 4
    panel.add_server(UUID_A)
    backup = panel.add_backup(UUID_A)
    body = call(panel, "GET", "/api/remote/backups/%s?size=10" % backup).json()
    assert body["part_size"] == 4 and len(body["parts"]) == 3
    assert body["parts"][0].startswith(panel.s3.url + "/bucket/%s/%s.tar.gz?partNumber=1&"
                                       % (UUID_A, backup))
    etags = []
    for url, chunk in zip(body["parts"], (b"abcd", b"efgh", b"ij"), strict=True):
        put = requests.put(url, data=chunk, headers={"Content-Type": "application/x-gzip"})
        assert put.status_code == 200
        etags.append(put.headers["ETag"])
    report = {"checksum": "7c2a", "checksum_type": "sha1", "size": 10, "successful": True,
              "parts": [{"etag": e, "part_number": n + 1} for n, e in enumerate(etags)]}
    assert call(panel, "POST", "/api/remote/backups/%s" % backup, body=report).status_code == 204
    assert panel.s3.objects["%s/%s.tar.gz" % (UUID_A, backup)] == b"abcdefghij"
    assert panel.backups[backup]["checksum"] == "sha1:7c2a"
    assert panel.backups[backup]["bytes"] == 10 and panel.backups[backup]["is_successful"]
    again = call(panel, "POST", "/api/remote/backups/%s" % backup, body=report)
    assert again.status_code == 400
    assert again.json()["errors"][0]["detail"] == (
        "Cannot update the status of a backup that is already marked as completed.")


def test_s3_backup_with_wrong_etag_is_refused(panel):
    panel.backup_adapter = "s3"
    panel.add_server(UUID_A)
    backup = panel.add_backup(UUID_A)
    url = call(panel, "GET", "/api/remote/backups/%s?size=3" % backup).json()["parts"][0]
    requests.put(url, data=b"abc")
    report = {"checksum": "x", "checksum_type": "sha1", "size": 3, "successful": True,
              "parts": [{"etag": '"0000"', "part_number": 1}]}
    response = call(panel, "POST", "/api/remote/backups/%s" % backup, body=report)
    assert response.status_code == 500
    assert not panel.backups[backup]["is_successful"]


def test_backup_report_needs_checksum_when_successful(panel):
    panel.add_server(UUID_A)
    backup = panel.add_backup(UUID_A)
    response = call(panel, "POST", "/api/remote/backups/%s" % backup,
                    body={"successful": True, "checksum": "", "checksum_type": "",
                          "size": 0, "parts": None})
    assert response.status_code == 422
    assert [e["meta"]["source_field"] for e in response.json()["errors"]] == [
        "checksum", "checksum_type"]


def test_failed_local_backup_report(panel):
    panel.add_server(UUID_A)
    backup = panel.add_backup(UUID_A)
    body = {"checksum": "", "checksum_type": "", "size": 0, "successful": False, "parts": None}
    assert call(panel, "POST", "/api/remote/backups/%s" % backup, body=body).status_code == 204
    assert panel.backups[backup]["completed_at"] is not None
    assert panel.backups[backup]["is_successful"] is False


def test_restore_report_clears_status(panel):
    panel.add_server(UUID_A, status="restoring_backup")
    backup = panel.add_backup(UUID_A)
    response = call(panel, "POST", "/api/remote/backups/%s/restore" % backup,
                    body={"successful": False})
    assert response.status_code == 204
    assert panel.servers[UUID_A]["status"] is None
    assert panel.restore_reports == [{"uuid": backup, "successful": False,
                                      "body": {"successful": False}}]


# -- transfers (§2.2) ----------------------------------------------------------------------


class OldNode(http.server.BaseHTTPRequestHandler):
    deletes = []

    def do_DELETE(self):
        OldNode.deletes.append((self.path, self.headers["Authorization"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_transfer_without_one_in_progress_is_409(panel):
    panel.add_server(UUID_A)
    for method in ("GET", "POST"):
        response = call(panel, method, "/api/remote/servers/%s/transfer/success" % UUID_A,
                        raw="null")
        assert response.status_code == 409
        assert response.json()["errors"][0] == {"code": "ConflictHttpException",
                                                "status": "409",
                                                "detail": "Server is not being transferred."}


def test_transfer_success_moves_server_and_deletes_on_old_node(panel):
    old_node = http.server.HTTPServer(("127.0.0.1", 0), OldNode)
    threading.Thread(target=old_node.handle_request, daemon=True).start()
    panel.node.address = "http://127.0.0.1:%d" % old_node.server_address[1]
    target = panel.add_node()
    panel.add_server(UUID_A)
    panel.start_transfer(UUID_A, target)
    response = call(panel, "POST", "/api/remote/servers/%s/transfer/success" % UUID_A,
                    raw="null", credential=target.credential)
    old_node.server_close()
    assert response.status_code == 204
    assert panel.servers[UUID_A]["node"] == target.uuid
    assert OldNode.deletes == [("/api/servers/%s" % UUID_A, "Bearer %s" % panel.token)]
    assert panel.transfer_reports[-1]["delete_status"] == 204


def test_transfer_failure_keeps_the_server(panel):
    target = panel.add_node()
    panel.add_server(UUID_A)
    panel.start_transfer(UUID_A, target)
    response = call(panel, "GET", "/api/remote/servers/%s/transfer/failure" % UUID_A,
                    credential=target.credential)
    assert response.status_code == 204
    assert panel.servers[UUID_A]["node"] == panel.node_uuid
    assert panel.servers[UUID_A]["transfer"] is None
    assert panel.transfer_reports[-1]["successful"] is False


# -- routing ---------------------------------------------------------------------------------


def test_unknown_route_is_404_and_wrong_method_405(panel):
    assert call(panel, "GET", "/api/remote/websocket").status_code == 404
    response = call(panel, "GET", "/api/remote/servers/reset")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "MethodNotAllowedHttpException"


# -- recording -------------------------------------------------------------------------------


def test_every_call_is_recorded_with_its_details(panel):
    panel.add_server(UUID_A)
    call(panel, "GET", "/api/remote/servers?page=0&per_page=50")
    call(panel, "POST", "/api/remote/servers/%s/install" % UUID_A,
         body={"successful": True, "reinstall": False})
    recorded = panel.calls()
    assert [(c.method, c.path) for c in recorded] == [
        ("GET", "/api/remote/servers"), ("POST", "/api/remote/servers/%s/install" % UUID_A)]
    listing, report = recorded
    assert listing.query == {"page": ["0"], "per_page": ["50"]}
    assert listing.headers["authorization"] == "Bearer %s" % panel.node.credential
    assert listing.headers["Accept"] == WINGS_ACCEPT
    assert report.body == {"successful": True, "reinstall": False}
    assert report.raw == b'{"successful": true, "reinstall": false}'
    assert listing.time <= report.time
    assert panel.calls("POST") == [report]
    assert panel.calls(path=r"/api/remote/servers") == [listing]
    assert panel.calls("GET", r"/api/remote/servers/.*") == []


def test_wait_for_call_returns_once_the_call_arrives(panel):
    panel.add_server(UUID_A)
    timer = threading.Timer(0.2, call, (panel, "POST", "/api/remote/servers/reset"),
                            {"raw": "null"})
    timer.start()
    found = panel.wait_for_call("POST", r"/api/remote/servers/reset", timeout=5)
    timer.join()
    assert len(found) == 1 and found[0].body is None and found[0].raw == b"null"


def test_wait_for_call_times_out_with_the_calls_seen(panel):
    call(panel, "GET", "/api/remote/servers")
    with pytest.raises(AssertionError, match="GET /api/remote/servers"):
        panel.wait_for_call("POST", r"/api/remote/servers/reset", timeout=0.2)


def test_seen_uuids_cover_added_and_requested_servers(panel):
    panel.add_server(UUID_A)
    call(panel, "GET", "/api/remote/servers/%s" % UUID_B)
    assert panel.seen_uuids == {UUID_A, UUID_B}


# -- fault injection (§7.1) --------------------------------------------------------------------


def test_fail_answers_n_times_then_recovers(panel):
    panel.fail("GET", r"/api/remote/servers", status=502, times=2)
    statuses = [call(panel, "GET", "/api/remote/servers").status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert len(panel.calls("GET", r"/api/remote/servers")) == 3


def test_fail_matches_method_and_whole_path(panel):
    panel.add_server(UUID_A)
    panel.fail("POST", r"/api/remote/servers", status=500, times=None)
    assert call(panel, "GET", "/api/remote/servers").status_code == 200
    assert call(panel, "GET", "/api/remote/servers/%s" % UUID_A).status_code == 200
    panel.fail(None, r"/api/remote/servers/[^/]+", status=503, times=None)
    assert call(panel, "GET", "/api/remote/servers/%s" % UUID_A).status_code == 503
    panel.clear_faults()
    assert call(panel, "GET", "/api/remote/servers/%s" % UUID_A).status_code == 200


def test_delay_holds_the_answer(panel):
    panel.delay("GET", r"/api/remote/servers", 0.5)
    started = time.monotonic()
    assert call(panel, "GET", "/api/remote/servers").status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    call(panel, "GET", "/api/remote/servers")
    assert time.monotonic() - started < 0.5


def test_delay_beyond_the_client_timeout(panel):
    panel.delay("GET", r"/api/remote/servers", 1.0)
    with pytest.raises(requests.Timeout):
        requests.get(panel.url + "/api/remote/servers", headers=headers(panel), timeout=0.2)


def test_reset_connection_drops_the_request(panel):
    panel.reset_connection("GET", r"/api/remote/servers")
    with pytest.raises(requests.ConnectionError):
        call(panel, "GET", "/api/remote/servers")
    assert call(panel, "GET", "/api/remote/servers").status_code == 200


def test_concurrent_requests_are_served_while_one_is_delayed(panel):
    """A single-threaded fake deadlocks the daemon's callbacks (§7.1)."""
    panel.delay("GET", r"/api/remote/servers", 1.0)
    slow = threading.Thread(target=call, args=(panel, "GET", "/api/remote/servers"))
    slow.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert call(panel, "POST", "/api/remote/servers/reset", raw="null").status_code == 204
    assert time.monotonic() - started < 0.5
    slow.join()


# -- server document (§2.3) --------------------------------------------------------------------


def test_server_document_for_the_test_image():
    doc = server_document(UUID_A, "sess1", port=25565)
    settings = doc["settings"]
    assert settings["container"] == {"image": "~wingspan-test/game:latest",
                                     "oom_disabled": False, "requires_rebuild": False}
    assert settings["build"]["memory_limit"] == 256 and settings["build"]["disk_space"] == 512
    assert settings["build"]["threads"] is None
    assert settings["allocations"] == {"force_outgoing_ip": False,
                                       "default": {"ip": "127.0.0.1", "port": 25565},
                                       "mappings": {"127.0.0.1": [25565]}}
    assert settings["invocation"] == "sh /game.sh {{START_DELAY}}"
    assert settings["environment"]["STARTUP"] == settings["invocation"]
    assert settings["environment"]["P_SERVER_UUID"] == UUID_A
    assert settings["environment"]["P_SERVER_ALLOCATION_LIMIT"] == 0
    assert settings["labels"] == {"wingspan.test": "sess1"}
    assert doc["process_configuration"] == {
        "startup": {"done": ["Server started"], "user_interaction": [], "strip_ansi": False},
        "stop": {"type": "command", "value": "stop"}, "configs": []}


def test_server_document_picks_a_free_port_and_takes_overrides():
    doc = server_document(UUID_A, image="other:1", memory=1024,
                          stop={"type": "signal", "value": "SIGTERM"},
                          environment={"EXTRA": "1"})
    port = doc["settings"]["allocations"]["default"]["port"]
    assert 0 < port < 65536
    assert doc["settings"]["container"]["image"] == "other:1"
    assert doc["settings"]["build"]["memory_limit"] == 1024
    assert doc["process_configuration"]["stop"] == {"type": "signal", "value": "SIGTERM"}
    assert list(doc["settings"]["environment"])[:2] == ["START_DELAY", "EXTRA"]


def test_add_server_suspended_sets_panel_status(panel):
    record = panel.add_server(UUID_A, suspended=True)
    assert record["settings"]["suspended"] is True and record["status"] == "suspended"
    panel.suspend(UUID_A, False)
    assert record["settings"]["suspended"] is False and record["status"] is None


# -- the application API (wingspan configure; panel-contract.md §5) ---------------------------

def test_node_configuration_needs_an_application_key(panel):
    path = "/api/application/nodes/%d/configuration" % panel.node.id
    node_token = call(panel, "GET", path)
    assert node_token.status_code == 401
    assert node_token.json()["errors"][0]["code"] == "AuthenticationException"
    narrow = call(panel, "GET", path, credential=panel.add_application_key(read_nodes=False))
    assert narrow.status_code == 403
    assert narrow.json()["errors"][0]["detail"] == "This action is unauthorized."


def test_node_configuration_is_the_generated_document(panel):
    key = panel.add_application_key()
    other = panel.add_node()
    response = call(panel, "GET", "/api/application/nodes/%d/configuration" % other.id,
                    credential=key)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["debug", "uuid", "token_id", "token", "api", "system",
                          "allowed_mounts", "remote"]
    assert (body["uuid"], body["token_id"], body["token"]) == (other.uuid, other.token_id,
                                                               other.token)
    assert body["api"]["ssl"]["cert"] == "/etc/letsencrypt/live/node2.example.com/fullchain.pem"
    assert body["remote"] == panel.url.rstrip("/")
    missing = call(panel, "GET", "/api/application/nodes/99/configuration", credential=key)
    assert missing.status_code == 404
