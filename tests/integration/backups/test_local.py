"""Local backups and restores through the real daemon, driven as the Panel drives them
(issue 17). Spec: wings-api.md §8.1–8.3 (routes, bodies, errors), §7.5 (``/download/backup``),
§10.8 (events); wings-behaviour.md §10.1–10.2 (ignore rules, archive, checksum, reports,
restore sequence); panel-contract.md (backup and restore reports, ``backup completed:<uuid>``);
peers.md (Pelican: per-server directories, ``deleteAllBackups``)."""

import hashlib
import io
import json
import os
import stat
import tarfile
import time
import uuid as uuidlib

import requests

from tests.integration.backups.helpers import (
    connect,
    backed_up,
    names_in,
    populate,
    report_of,
    restore_report_of,
    start_backup,
    tree,
)
from tests.integration.files.helpers import BACKUP_NOT_FOUND
from tests.support.polling import wait_until

SERVERS = {"main": {}, "other": {}, "small": {"disk": 1}, "doomed": {}}
BAD_UUID = "The backup uuid provided is not valid."
NO_DOWNLOAD_URL = "The download_url field is required when the backup adapter is set to S3."
GENERIC_400 = "The data passed in the request was not in a parsable format. Please try again."
RESTORED = "Completed server restoration from local backup."


def restore(node, backup, truncate, server="main"):
    return node.driver.restore(node.uuid(server), backup, "wings", truncate)


# -- creating ----------------------------------------------------------------------------

def test_backup_report_archive_and_event(node):
    """§8.1/§10.1: 202, the archive at the per-server path (mode 0600) holding the regular
    files, the report with its SHA-1 and size, and ``backup completed:<uuid>`` to a socket
    with ``backup.read`` only."""
    populate(node)
    reader = connect(node, ["websocket.connect", "backup.read"])
    blind = connect(node, ["websocket.connect", "control.console"])
    backup, report = backed_up(node)
    path = node.archive(backup)
    with open(path, "rb") as f:
        data = f.read()
    assert report == {"checksum": hashlib.sha1(data).hexdigest(), "checksum_type": "sha1",
                      "size": len(data), "successful": True, "parts": None}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert names_in(path) == ["logs/latest.log", "plugins/a.jar", "server.properties",
                              "world/level.dat", "world/region/r.0.0.mca"]
    event = reader.recv_event("backup completed:%s" % backup, timeout=15)
    assert json.loads(event["args"][0]) == {
        "checksum": report["checksum"], "checksum_type": "sha1", "file_size": len(data),
        "is_successful": True, "uuid": backup}
    time.sleep(0.5)
    assert not [f for f in blind.frames if f["event"].startswith("backup completed")]
    assert os.listdir(os.path.dirname(path)) == [backup + ".tar.gz"]


def test_ignore_rules_from_the_request_replace_pteroignore(node):
    """§10.1 step 1: gitignore semantics; a non-empty request ``ignore`` replaces
    ``.pteroignore``; without one, ``.pteroignore`` is used."""
    populate(node)
    node.put(".pteroignore", b"world\n")
    backup, _ = backed_up(node, ignore="logs/\n*.jar\n!keep.jar\n")
    assert names_in(node.archive(backup)) == [
        ".pteroignore", "server.properties", "world/level.dat", "world/region/r.0.0.mca"]
    backup, _ = backed_up(node)
    assert names_in(node.archive(backup)) == [
        ".pteroignore", "logs/latest.log", "plugins/a.jar", "server.properties"]


def test_symlinked_or_oversized_pteroignore_ignores_nothing(node):
    populate(node)
    node.put("rules.txt", b"world\n")
    node.link(".pteroignore", "rules.txt")
    backup, _ = backed_up(node)
    assert "world/level.dat" in names_in(node.archive(backup))
    os.unlink(node.host(".pteroignore"))
    node.put(".pteroignore", b"world\n" + b"#" * (32 * 1024))
    backup, _ = backed_up(node)
    assert "world/level.dat" in names_in(node.archive(backup))


def test_bad_adapter_and_uuid_are_400(node):
    """[REC] an unknown adapter and a backup uuid that is no UUID are 400s, and no
    archive is written anywhere."""
    uuid = node.uuid()
    response = node.driver.backup(uuid, str(uuidlib.uuid4()), "ftp")
    assert response.status_code == 400
    assert response.json() == {"error": "The backup adapter provided is not valid."}
    for bad in ("../../escape", "", "not-a-uuid"):
        response = node.driver.backup(uuid, bad)
        assert response.status_code == 400, bad
        assert response.json() == {"error": BAD_UUID}
    assert not os.path.exists(node.backup_dir) or os.listdir(node.backup_dir) == []


def test_concurrent_backups_of_one_server(node):
    """§10.1: there is no backup lock; both complete with their own archives."""
    populate(node)
    first = start_backup(node)
    second = start_backup(node)
    for backup in (first, second):
        assert report_of(node, backup)["successful"] is True
        assert os.path.isfile(node.archive(backup))
    assert report_of(node, first)["checksum"] == hashlib.sha1(
        open(node.archive(first), "rb").read()).hexdigest()


def test_the_same_backup_twice_is_a_conflict_not_two_writers(node):
    populate(node)
    node.put("big.bin", os.urandom(8 * 1024 * 1024))
    backup = start_backup(node)
    again = node.driver.backup(node.uuid(), backup)
    assert again.status_code in (202, 409), again.text
    assert report_of(node, backup)["successful"] is True
    time.sleep(0.5)
    with node.panel.lock:
        assert len([r for r in node.panel.backup_reports if r["uuid"] == backup]) <= 2


# -- restoring ----------------------------------------------------------------------------

def test_restore_round_trip_without_truncation(node):
    """§8.2/§10.2: files come back byte-identical with their modes and mtimes; a file made
    after the backup stays; daemon messages, the report and ``backup restore completed``."""
    populate(node)
    before = tree(node)
    backup, _ = backed_up(node)
    node.put("server.properties", b"changed")
    os.unlink(node.host("world/level.dat"))
    node.put("new.txt", b"made later")
    sock = connect(node, ["*"])
    response = restore(node, backup, truncate=False)
    assert response.status_code == 202 and response.content == b""
    assert restore_report_of(node, backup)["body"] == {"successful": True}
    sock.recv_event("backup restore completed", timeout=15)
    after = tree(node)
    assert after.pop("new.txt")[1] == hashlib.sha256(b"made later").hexdigest()
    assert after == before
    assert os.stat(node.host("server.properties")).st_mtime == 1_600_000_000
    messages = [f["args"][0] for f in sock.frames if f["event"] == "daemon message"]
    assert "(restoring): server.properties" in messages
    assert "(restoring): world/region/r.0.0.mca" in messages
    assert messages[-1] == RESTORED
    assert [f["event"] for f in sock.frames if f["event"] == "backup restore completed"]


def test_restore_with_truncation(node):
    populate(node)
    before = tree(node)
    backup, _ = backed_up(node)
    node.put("new.txt", b"made later")
    node.put("deep/dir/x", b"x")
    assert restore(node, backup, truncate=True).status_code == 202
    assert restore_report_of(node, backup)["successful"] is True
    assert tree(node) == before
    assert not node.exists("deep")


def test_a_suspended_server_stays_suspended_after_a_restore(node):
    """Hardened §8.2 QUIRK: Wings un-suspends unconditionally after a restore; the Panel's
    suspension is kept here."""
    populate(node)
    backup, _ = backed_up(node)
    node.panel.suspend(node.uuid())
    try:
        assert node.driver.sync(node.uuid()).status_code == 204
        assert restore(node, backup, truncate=False).status_code == 202
        assert restore_report_of(node, backup)["successful"] is True
        time.sleep(0.5)
        assert node.driver.details(node.uuid()).json()["is_suspended"] is True
    finally:
        node.panel.suspend(node.uuid(), False)
        node.driver.sync(node.uuid())
    assert node.driver.details(node.uuid()).json()["is_suspended"] is False


def test_restore_of_a_missing_backup_is_404_and_truncates_nothing(node):
    """Hardened §10.2 QUIRK: the backup is looked for before anything is removed."""
    populate(node)
    before = tree(node)
    response = restore(node, str(uuidlib.uuid4()), truncate=True)
    assert response.status_code == 404
    assert response.json() == {"error": BACKUP_NOT_FOUND}
    assert tree(node) == before
    details = node.driver.details(node.uuid()).json()
    assert details["is_suspended"] is False
    assert node.driver.power(node.uuid(), "kill").status_code == 202


def test_restore_validation(node):
    uuid = node.uuid()
    backup = str(uuidlib.uuid4())
    response = node.driver.restore(uuid, backup, "s3", False)
    assert response.status_code == 400
    assert response.json() == {"error": NO_DOWNLOAD_URL}
    response = node.driver.restore(uuid, backup, "ftp", False)
    assert response.status_code == 400
    assert response.json() == {"error": GENERIC_400}


def test_restore_of_another_servers_backup_is_404(node):
    populate(node, "other")
    backup, _ = backed_up(node, "other")
    response = restore(node, backup, truncate=True)
    assert response.status_code == 404
    assert node.exists("server.properties", "other")


def test_a_second_restore_while_one_runs_is_a_conflict(node):
    """A second restore of the server while one runs is a 409 instead of two extractions
    over one tree (the S3 suite holds a restore open to test this without a race)."""
    populate(node)
    node.put("big.bin", b"\x00" * (1 << 20) + os.urandom(6 * (1 << 20)))
    backup, _ = backed_up(node)
    assert restore(node, backup, truncate=False).status_code == 202
    second = restore(node, backup, truncate=False)
    assert restore_report_of(node, backup)["successful"] is True
    assert second.status_code in (202, 409), second.text


def test_hostile_archive_writes_nothing_outside_the_root(node):
    """Issue 17: ``..``, absolute names, a symlink then a file through it, hard links out
    of the root, device nodes: nothing outside the root changes (the ``node`` fixture
    compares the sentinel) and the restore reports failure."""
    sentinel = os.path.relpath(node.sentinel, node.root())
    entries = [
        ("fine.txt", tarfile.REGTYPE, b"fine", ""),
        ("/abs-PWNED.txt", tarfile.REGTYPE, b"inside", ""),
        ("dev-PWNED", tarfile.CHRTYPE, None, ""),
        ("hard-PWNED", tarfile.LNKTYPE, None, os.path.join(sentinel, "secret.txt")),
        ("link-PWNED", tarfile.SYMTYPE, None, node.sentinel),
        ("link-PWNED/x-PWNED.txt", tarfile.REGTYPE, b"pwned", ""),
        ("../../x-PWNED.txt", tarfile.REGTYPE, b"pwned", ""),
    ]
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as bundle:
        for name, kind, content, link in entries:
            member = tarfile.TarInfo(name)
            member.type = kind
            member.linkname = link
            if content is not None:
                member.size = len(content)
            bundle.addfile(member, io.BytesIO(content) if content is not None else None)
    backup = node.panel.add_backup(node.uuid())
    os.makedirs(node.backup_dir, exist_ok=True)
    with open(os.path.join(node.backup_dir, backup + ".tar.gz"), "wb") as f:
        f.write(data.getvalue())
    assert restore(node, backup, truncate=False).status_code == 202
    assert restore_report_of(node, backup)["successful"] is False
    assert node.read("fine.txt") == b"fine"
    assert node.read("abs-PWNED.txt") == b"inside"
    assert not node.exists("hard-PWNED") and not node.exists("dev-PWNED")


# -- the flat Wings path, deleting, downloading --------------------------------------------

def wings_backup(node, content=b""):
    """A backup Wings made at the flat path ``<backup_directory>/<uuid>.tar.gz``."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as bundle:
        member = tarfile.TarInfo("from-wings.txt")
        member.size = len(content)
        bundle.addfile(member, io.BytesIO(content))
    backup = node.panel.add_backup(node.uuid())
    os.makedirs(node.backup_dir, exist_ok=True)
    path = os.path.join(node.backup_dir, backup + ".tar.gz")
    with open(path, "wb") as f:
        f.write(data.getvalue())
    return backup, path


def test_a_backup_at_wings_flat_path_restores_downloads_and_deletes(node):
    backup, path = wings_backup(node, b"made by wings")
    assert restore(node, backup, truncate=False).status_code == 202
    assert restore_report_of(node, backup)["successful"] is True
    assert node.read("from-wings.txt") == b"made by wings"
    response = node.download_backup(node.token(claims=[("backup_uuid", backup)]))
    assert response.status_code == 200
    assert response.content == open(path, "rb").read()
    assert node.driver.delete_backup(node.uuid(), backup).status_code == 204
    assert not os.path.exists(path)


def test_delete(node):
    """§8.3: 204, then 404 JSON; another server's backup is not this server's to delete."""
    populate(node, "other")
    backup, _ = backed_up(node, "other")
    response = node.driver.delete_backup(node.uuid(), backup)
    assert response.status_code == 404
    assert response.json() == {"error": BACKUP_NOT_FOUND}
    assert os.path.isfile(node.archive(backup, "other"))
    assert node.driver.delete_backup(node.uuid("other"), backup).status_code == 204
    assert not os.path.exists(node.archive(backup, "other"))
    response = node.driver.delete_backup(node.uuid("other"), backup)
    assert response.status_code == 404
    assert response.json() == {"error": BACKUP_NOT_FOUND}
    assert node.driver.delete_backup(node.uuid(), "../../etc").status_code == 404


def test_delete_all_backups(node):
    """Pelican ``DELETE /api/servers/:server/deleteAllBackups``: 204, that server's only."""
    populate(node)
    populate(node, "other")
    mine, _ = backed_up(node)
    theirs, _ = backed_up(node, "other")
    response = node.driver.delete("/api/servers/%s/deleteAllBackups" % node.uuid())
    assert response.status_code == 204
    assert not os.path.exists(node.archive(mine))
    assert os.path.isfile(node.archive(theirs, "other"))
    assert node.driver.delete("/api/servers/%s/deleteAllBackups" % node.uuid()).status_code \
        == 204


def test_download_streams_the_backup_with_ranges(node):
    """§7.5: the archive as an attachment; a ``Range`` gets a 206 slice, as files do."""
    populate(node)
    backup, report = backed_up(node)
    with open(node.archive(backup), "rb") as f:
        data = f.read()
    url = node.daemon.url + "/download/backup"
    response = requests.get(url, params={"token": node.token(
        claims=[("backup_uuid", backup)])}, timeout=15)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="%s.tar.gz"' % backup
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == data
    response = requests.get(url, params={"token": node.token(
        claims=[("backup_uuid", backup)])}, headers={"Range": "bytes=100-199"}, timeout=15)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == "bytes 100-199/%d" % len(data)
    assert response.content == data[100:200]
    response = requests.get(url, params={"token": node.token(
        claims=[("backup_uuid", backup)])}, headers={"Range": "bytes=-10"}, timeout=15)
    assert response.status_code == 206 and response.content == data[-10:]
    response = requests.get(url, params={"token": node.token(
        claims=[("backup_uuid", backup)])},
        headers={"Range": "bytes=%d-" % len(data)}, timeout=15)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */%d" % len(data)
    response = requests.get(url, params={"token": node.token(
        "other", claims=[("backup_uuid", backup)])}, timeout=15)
    assert response.status_code == 404


# -- with the game, the quota, a deletion ------------------------------------------------

def state_of(node, server="main"):
    return node.driver.details(node.uuid(server)).json()["state"]


def test_the_game_runs_on_during_a_backup_and_is_stopped_for_a_restore(node):
    """§10.1: a backup does not stop the server; §10.2: a restore stops it first (and does
    not start it again)."""
    populate(node)
    before = tree(node)
    assert node.driver.power(node.uuid(), "start").status_code == 202
    wait_until(lambda: state_of(node) == "running", 60, what="the game to run")
    backup, _ = backed_up(node)
    assert state_of(node) == "running"
    node.put("server.properties", b"changed while running")
    assert restore(node, backup, truncate=True).status_code == 202
    assert restore_report_of(node, backup, timeout=90)["successful"] is True
    assert state_of(node) == "offline"
    assert tree(node) == before


def test_a_restore_stops_at_the_quota(node):
    """Issue 17: a restore is written through the quota; past it the restore fails and
    the server's usage stays within its limit (1 MiB here)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as bundle:
        for name, size in (("first.txt", 1000), ("bomb.bin", 64 * 1024 * 1024)):
            member = tarfile.TarInfo(name)
            member.size = size
            bundle.addfile(member, io.BytesIO(bytes(size)))
    backup = node.panel.add_backup(node.uuid("small"))
    os.makedirs(node.backup_dir, exist_ok=True)
    with open(os.path.join(node.backup_dir, backup + ".tar.gz"), "wb") as f:
        f.write(data.getvalue())
    assert restore(node, backup, truncate=True, server="small").status_code == 202
    assert restore_report_of(node, backup)["successful"] is False
    assert node.read("first.txt", "small") == bytes(1000)
    assert not node.exists("bomb.bin", "small")
    assert sum(size for size in (os.lstat(os.path.join(d, n)).st_size
                                 for d, _, names in os.walk(node.root("small"))
                                 for n in names)) <= 1024 * 1024


def test_a_backup_while_its_server_is_deleted_leaves_nothing(node):
    """The worker dies with the server: no archive, no partial part, no backup
    directory is left (``wingspan.remove_backups_on_server_delete``, Pelican's default)."""
    populate(node, "doomed")
    node.put("big.bin", os.urandom(64 * 1024 * 1024), "doomed")
    backup = start_backup(node, "doomed")
    doomed = node.uuids.pop("doomed")
    assert node.driver.delete_server(doomed).status_code == 204
    directory = os.path.join(node.backup_dir, doomed)
    wait_until(lambda: not os.path.exists(directory), 30, what="the backup directory to go")
    time.sleep(1)
    assert not os.path.exists(directory)
    with node.panel.lock:
        assert not [r for r in node.panel.backup_reports
                    if r["uuid"] == backup and r["body"]["successful"]]
