"""Game servers and their files belong to the system user, never to root (issue 21 part 3).

Spec: wings-behaviour.md §14.1 step 5 (look ``system.username`` up, create it with
``useradd --system --no-create-home --shell /usr/sbin/nologin`` when missing), §3.1
(``Config.User`` is ``"<uid>:<gid>"`` of that user), §9.3 (files written, uploaded and
extracted are chowned to it); wings-api.md §15.2 (``system.user.uid/gid`` are set at boot
and written back). Every daemon here is configured with a user name only, no ids: the
ids the tests expect come from the host's passwd table, so the boot's resolution runs.
"""

import gzip
import io
import os
import pwd
import subprocess
import tarfile
import time
import uuid as uuidlib

import pytest
import requests
import yaml

from tests.support.panel_jwt import panel_jwt

REFUSES_ROOT_IMAGE = "~wingspan-test/game-refuses-root:latest"
PANEL_USER = {"uuid": "0b7c33c4-3b0f-4d6c-8c1e-5a0c2f3e9d11", "id": 7}


@pytest.fixture
def new_user_name():
    """A user name no host has; the daemon creates the user, the test removes it (ask for
    this fixture before ``daemon_factory``: the daemons stop first)."""
    name = "wst%s" % uuidlib.uuid4().hex[:8]
    yield name
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["groupdel", name], capture_output=True)


def named_user_only(daemon_factory, name):
    """A daemon whose config.yml names the system user and sets no ids."""
    daemon = daemon_factory()
    daemon.config["system"]["username"] = name
    del daemon.config["system"]["user"]
    return daemon


def ids_of(name):
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def owner(path):
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def saved_system(daemon):
    with open(daemon.config_path) as f:
        return yaml.safe_load(f)["system"]


def upload(daemon, uuid, name, data):
    """``POST /upload/file`` with a token minted as the Panel mints it (wings-api.md §7.6)."""
    # A token issued in the daemon's boot second counts as issued before boot (§16).
    time.sleep(1.05 - time.time() % 1)
    token = panel_jwt(daemon.token, daemon.url, "%d%s" % (PANEL_USER["id"], uuid),
                      claims=[("server_uuid", uuid)], user=PANEL_USER)
    return requests.post(daemon.url + "/upload/file", params={"token": token},
                         files=[("files", (name, data, "application/octet-stream"))],
                         timeout=30)


def tar_gz(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, 0, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue())


def test_boot_creates_the_missing_user_and_saves_its_ids(panel, new_user_name, daemon_factory):
    """§14.1 step 5: the user is created as Wings creates it; §15.1: its ids are written
    back into config.yml, where every child process reads them."""
    daemon = named_user_only(daemon_factory, new_user_name)
    daemon.start()
    entry = pwd.getpwnam(new_user_name)
    assert entry.pw_uid != 0 and entry.pw_gid != 0
    assert entry.pw_shell == "/usr/sbin/nologin"
    assert not os.path.exists(entry.pw_dir)  # --no-create-home
    system = saved_system(daemon)
    assert system["username"] == new_user_name
    assert system["user"]["uid"] == entry.pw_uid and system["user"]["gid"] == entry.pw_gid


def test_files_written_uploaded_and_extracted_belong_to_the_user(panel, new_user_name,
                                                                  daemon_factory):
    """§9.3: the file owner is the system user for API writes (and the parents they create,
    as Pelican does), uploads, extracted archives and created directories, and the server
    root is theirs too."""
    uuid = panel.add_server()["settings"]["uuid"]
    daemon = named_user_only(daemon_factory, new_user_name)
    daemon.start()
    ids = ids_of(new_user_name)
    root = os.path.join(daemon.config["system"]["data"], uuid)

    assert daemon.write(uuid, "notes/written.txt", b"hello").status_code == 204
    assert daemon.mkdir(uuid, "made", "/").status_code == 204
    response = upload(daemon, uuid, "uploaded.txt", b"up")
    assert response.status_code == 200, response.text
    archive = tar_gz({"pack/inner.txt": b"in", "top.txt": b"top"})
    assert daemon.write(uuid, "pack.tar.gz", archive).status_code == 204
    assert daemon.decompress(uuid, "/", "pack.tar.gz").status_code == 204

    for relative in ("", "notes", "notes/written.txt", "made", "uploaded.txt", "pack.tar.gz",
                     "pack", "pack/inner.txt", "top.txt"):
        assert owner(os.path.join(root, relative)) == ids, relative


def test_a_game_that_refuses_root_runs_as_the_looked_up_user(panel, daemon_factory,
                                                              containers):
    """§3.1: ``Config.User`` is ``"<uid>:<gid>"`` of ``system.username``, here an existing
    user (``nobody``) that is looked up, not created; the game's entrypoint exits at once
    as root, so reaching ``running`` proves it is not."""
    uuid = panel.add_server(image=REFUSES_ROOT_IMAGE)["settings"]["uuid"]
    daemon = named_user_only(daemon_factory, "nobody")
    daemon.start()
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running")
    uid, gid = ids_of("nobody")
    assert containers.containers.get(uuid).attrs["Config"]["User"] == "%d:%d" % (uid, gid)
    assert owner(os.path.join(daemon.config["system"]["data"], uuid)) == (uid, gid)


def test_a_system_user_with_uid_0_stops_the_boot(panel, daemon_factory):
    """wingspan refuses what Wings would do with ``system.username: root``: run every game
    as root. The daemon exits 1 and says why."""
    daemon = named_user_only(daemon_factory, "root")
    daemon.start(wait=False)
    assert daemon.process.wait(timeout=30) == 1
    assert "system.username: root is uid 0" in daemon.log_tail()
