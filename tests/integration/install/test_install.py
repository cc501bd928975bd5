"""Installing servers against real Docker and the fake Panel (wings-behaviour.md §7,
wings-api.md §3.4, §4.6, §4.7, §10.8; panel-contract.md §2.2 install endpoints)."""

import os
import uuid as uuidlib

import pytest

from tests.integration.install import helpers
from tests.support.browser import ADMIN, OWNER, BrowserSocket, console_token
from tests.support.fakepanel import INSTALLER_IMAGE
from tests.support.polling import wait_until

pytestmark = pytest.mark.timeout(120)


def test_create_installs_reports_success_then_starts(daemon, fake_panel, docker_client):
    """§3.4/§7.1: create → install → Panel gets {successful: true, reinstall: false} → the
    server starts because start_on_completion was asked for (§18 item 36)."""
    uuid = str(uuidlib.uuid4())
    helpers.boot(daemon)
    fake_panel.add_server(uuid)  # the Panel creates the row, then asks the node
    response = daemon.create_server(uuid, start_on_completion=True)
    assert response.status_code == 202, response.text

    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": True, "reinstall": False}
    with open(os.path.join(helpers.server_root(daemon, uuid), "installed.txt")) as f:
        assert f.read() == "hello\n"
    daemon.wait_state(uuid, "running", timeout=30)
    helpers.installer_gone(docker_client, uuid)


def test_install_output_reaches_websocket_viewers(daemon, fake_panel):
    """§4.6, §10.8: every viewer gets `install started` and `install completed`; only a
    token with admin.websocket.install gets the script's lines as `install output`
    (§18 item 37)."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, install=helpers.install_script(
        "#!/bin/ash\r\necho first line\r\necho second line\r\n"))
    helpers.boot(daemon)
    admin = BrowserSocket(daemon, uuid)
    admin.authenticate(console_token(daemon, uuid, ADMIN))
    owner = BrowserSocket(daemon, uuid)
    owner.authenticate(console_token(daemon, uuid, OWNER))
    try:
        assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
        admin.expect_sequence([("install started", [""]),
                               ("daemon message", [helpers.INSTALL_STARTING]),
                               ("install output", ["first line"]),
                               ("install output", ["second line"]),
                               ("daemon message", [helpers.INSTALL_COMPLETED]),
                               ("install completed", [""])], timeout=30)
        owner.expect_sequence([("install started", [""]), ("install completed", [""])],
                              timeout=30)
        assert owner.events("install output") == []
    finally:
        admin.close()
        owner.close()
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": True, "reinstall": False}


def test_install_log_written_with_header(daemon, fake_panel):
    """§7.2 step 7: <log_directory>/install/<uuid>.log, mode 0600, starts with the header
    and ends with the script's output (§18 item 36)."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, install=helpers.install_script("#!/bin/ash\r\necho logged\r\n"))
    helpers.boot(daemon)
    assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
    helpers.install_report(fake_panel, uuid)
    path = os.path.join(daemon.config["system"]["log_directory"], "install", uuid + ".log")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path, "rb") as f:
        text = f.read().decode()
    assert text.startswith("Pterodactyl Server Installation Log\n")
    assert "Server UUID:          %s\n" % uuid in text
    assert "Container Image:      %s\n" % INSTALLER_IMAGE in text
    assert "Container Entrypoint: ash\n" in text
    assert "  STARTUP=sh /game.sh {{START_DELAY}}\n" in text
    assert text.replace("\r\n", "\n").endswith(
        "| Script Output\n| ------------------------------\nlogged\n")


def test_failing_script_reported_as_failed_install(daemon, fake_panel, docker_client):
    """§7.2 step 8: a script exiting non-zero is reported `successful: false` (upstream ignores
    the exit code, a bug not reproduced); the Panel then marks the server install_failed."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, install=helpers.install_script(
        "#!/bin/ash\r\necho failing\r\nexit 3\r\n"))
    helpers.boot(daemon)
    assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": False, "reinstall": False}
    assert fake_panel.servers[uuid]["status"] == "install_failed"
    helpers.installer_gone(docker_client, uuid)
    assert daemon.state(uuid) == "offline"


def test_unreachable_install_script_reported_as_failed(daemon, fake_panel, docker_client):
    """§7.2 step 3/8: the Panel refusing GET /install is an install error, still reported to
    the Panel (`successful: false`); no installer container is made. (A 404: a 5xx would
    be retried for half a minute first, §12.1.)"""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid)
    helpers.boot(daemon)
    fake_panel.fail("GET", r"/api/remote/servers/%s/install" % uuid, status=404, times=None)
    assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": False, "reinstall": False}
    assert helpers.container_info(docker_client, helpers.installer_name(uuid)) is None


def test_skip_egg_scripts_reports_success_without_container(daemon, fake_panel, docker_client):
    """§7.2 step 1, panel-contract.md §2.2: no script runs but the Panel is still told
    `successful: true` (§18 item 38)."""
    uuid = str(uuidlib.uuid4())
    helpers.boot(daemon)
    fake_panel.add_server(uuid, skip_egg_scripts=True)
    assert daemon.create_server(uuid).status_code == 202
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": True, "reinstall": False}
    assert helpers.container_info(docker_client, helpers.installer_name(uuid)) is None
    assert fake_panel.calls("GET", r"/api/remote/servers/%s/install" % uuid) == []


def test_installer_is_confined_and_power_is_refused_meanwhile(daemon, fake_panel,
                                                               docker_client):
    """While the install script runs (CVE-2023-32080, peers.md advisory #5; §7.2 step 6):
    the container sees only the server's files at /mnt/server and the script at
    /mnt/install, no Docker socket, and is not privileged. Power actions are refused
    (§4.4, §4.10): HTTP answers 202 and nothing starts; a websocket admin gets
    `daemon error` "server is currently installing" (§18 item 11)."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, install=helpers.install_script(helpers.HELD_SCRIPT))
    helpers.boot(daemon)
    admin = BrowserSocket(daemon, uuid)
    admin.authenticate(console_token(daemon, uuid, ADMIN))
    try:
        assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
        installer = helpers.running_installer(docker_client, uuid)
        admin.recv_event("install output", timeout=30,
                         where=lambda m: m["args"] == ["docker socket: absent"])
        info = docker_client.api.inspect_container(installer.id)
        assert_confined(info, daemon, uuid)

        assert daemon.power(uuid, "start").status_code == 202
        admin.send("set state", "start")
        error = admin.recv_event("daemon error", timeout=10)
        assert error["args"][0].endswith("server is currently installing"), error
        assert daemon.details(uuid).json()["state"] == "offline"
        assert helpers.container_info(docker_client, uuid) is None

        helpers.release(daemon, uuid)
        admin.recv_event("install completed", timeout=30)
    finally:
        admin.close()
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": True, "reinstall": False}
    mounts = [m["args"][0] for m in admin.events("install output")
              if m["args"][0].startswith("mounts: ")]
    assert mounts == ["mounts: /mnt/install /mnt/server "]
    helpers.installer_gone(docker_client, uuid)
    assert helpers.container_info(docker_client, uuid) is None


def assert_confined(info, daemon, uuid):
    """The installer's definition as Docker holds it (§7.2 step 6, hardened)."""
    host = info["HostConfig"]
    script_dir = os.path.join(daemon.config["system"]["tmp_directory"], uuid)
    mounts = sorted((m["Type"], m["Source"], m["Destination"], m["RW"])
                    for m in info["Mounts"])
    assert mounts == [("bind", script_dir, "/mnt/install", False),
                      ("bind", helpers.server_root(daemon, uuid), "/mnt/server", True)]
    assert not host.get("Binds")
    assert not host.get("VolumesFrom")
    assert not host.get("Devices")
    assert host["Privileged"] is False
    assert "no-new-privileges" in (host.get("SecurityOpt") or [])
    assert not host.get("CapAdd")
    assert host.get("PidMode", "") == ""
    assert host.get("IpcMode") in ("private", "shareable", "")
    assert host["NetworkMode"] == daemon.config["docker"]["network"]["network_mode"]
    assert info["Config"]["Hostname"] == "installer"
    assert info["Config"]["Cmd"] == ["ash", "/mnt/install/install.sh"]
    assert info["Config"]["Labels"]["ContainerType"] == "server_installer"
    assert info["Config"]["Labels"]["Service"] == "Pterodactyl"
    assert all("docker.sock" not in (m["Source"] or "") for m in info["Mounts"])


def start_and_wait(daemon, uuid):
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running", timeout=30)


def test_reinstall_of_running_server_stops_it_and_keeps_files(daemon, fake_panel,
                                                              docker_client):
    """§4.7, §7.1: reinstall stops a running server (killed when it ignores the stop
    command for 10 s), syncs, installs with `reinstall: true`; files are kept (§7.2, §18
    item 39). The server is not started again."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, install=helpers.install_script(
        "#!/bin/ash\r\necho reinstalled > /mnt/server/installed.txt\r\n"))
    helpers.boot(daemon)
    start_and_wait(daemon, uuid)
    keep = os.path.join(helpers.server_root(daemon, uuid), "world.dat")
    with open(keep, "w") as f:
        f.write("precious\n")
    assert daemon.commands(uuid, ["ignore-stop"]).status_code == 204

    assert daemon.reinstall(uuid).status_code == 202
    daemon.wait_state(uuid, "offline", timeout=15)  # 10 s for the stop, then the kill
    report = helpers.install_report(fake_panel, uuid, timeout=30)
    assert report["body"] == {"successful": True, "reinstall": True}
    server = helpers.container_info(docker_client, uuid)
    assert server is None or not server["State"]["Running"]
    with open(keep) as f:
        assert f.read() == "precious\n"
    with open(os.path.join(helpers.server_root(daemon, uuid), "installed.txt")) as f:
        assert f.read() == "reinstalled\n"
    assert daemon.state(uuid) == "offline"


def test_reinstall_refused_while_a_power_action_runs(daemon, fake_panel):
    """§4.7: 409 with Wings' text while the power lock is held (here by a stop the game
    ignores); once the server is killed the reinstall goes through."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid)
    helpers.boot(daemon)
    start_and_wait(daemon, uuid)
    assert daemon.commands(uuid, ["ignore-stop"]).status_code == 204
    assert daemon.power(uuid, "stop").status_code == 202
    daemon.wait_state(uuid, "stopping", timeout=10)

    response = daemon.reinstall(uuid)
    assert response.status_code == 409
    assert response.json() == helpers.REINSTALL_CONFLICT
    assert fake_panel.install_reports == []

    assert daemon.power(uuid, "kill").status_code == 202
    daemon.wait_state(uuid, "offline", timeout=15)
    reinstall = wait_until(lambda: daemon.reinstall(uuid), timeout=15, interval=0.2,
                           what="the reinstall to be accepted")
    assert reinstall.status_code == 202
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": True, "reinstall": True}


# An image on a registry at a closed loopback port: Docker's pull fails at once, and no
# traffic leaves the machine.
UNPULLABLE = "127.0.0.1:1/wingspan-test/missing:latest"


def test_installer_image_that_cannot_be_pulled_fails_the_install(daemon, fake_panel,
                                                                 docker_client):
    """wings-behaviour.md §3.9: a pull that fails with no local copy is an install error,
    reported to the Panel (`successful: false`), and no installer container is left."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, install={"container_image": UNPULLABLE, "entrypoint": "ash",
                                         "script": "echo never\n"})
    helpers.boot(daemon)
    assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
    report = helpers.install_report(fake_panel, uuid)
    assert report["body"] == {"successful": False, "reinstall": False}
    assert helpers.container_info(docker_client, helpers.installer_name(uuid)) is None
    assert 'environment/docker: failed to pull "%s" image for server' % UNPULLABLE in \
        daemon.log_tail(400)


def test_server_image_that_cannot_be_pulled_refuses_the_start(daemon, fake_panel,
                                                              docker_client):
    """§3.9: the start fails with Wings' message (shown to admins as a daemon error) and the
    server stays offline without a container."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid, image=UNPULLABLE)
    helpers.boot(daemon)
    socket = BrowserSocket(daemon, uuid)
    try:
        socket.authenticate(console_token(daemon, uuid, permissions=ADMIN))
        socket.recv_event("status")
        assert daemon.power(uuid, "start").status_code == 202
        error = socket.recv_event("daemon error", timeout=30)
        assert 'environment/docker: failed to pull "%s" image for server' % UNPULLABLE in \
            error["args"][0]
    finally:
        socket.close()
    assert daemon.state(uuid) == "offline"
    assert helpers.container_info(docker_client, uuid) is None
