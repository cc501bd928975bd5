"""Booting from a Panel, supervision and survival of game servers (issue 3).

Spec: wings-behaviour.md §14.1 (boot), wings-api.md §12.2 (#1 paged servers, #2 reset),
architecture.md (supervisor, zygote, workers, API process).
"""

import os
import signal
import subprocess
import time
import uuid as uuidlib

import psutil

from tests.support import dockerenv
from tests.support.daemon import WINGSPAN
from tests.support.polling import wait_until


def start_server(daemon, uuid):
    assert daemon.post("/api/servers/%s/power" % uuid, {"action": "start"}).status_code == 202
    daemon.wait_state(uuid, "running")


def test_boot_pages_servers_and_resets_states(panel, daemon_factory):
    uuids = [str(uuidlib.uuid4()) for _ in range(5)]
    for uuid in uuids:
        panel.add_server(uuid)
    daemon = daemon_factory(remote_query={"timeout": 5, "boot_servers_per_page": 2})
    daemon.start()

    pages = panel.calls("GET", r"/api/remote/servers")
    assert [c.query["page"][0] for c in pages][0] == "0"
    assert sorted(c.query["page"][0] for c in pages[1:]) == ["2", "3"]
    assert all(c.query["per_page"] == ["2"] for c in pages)
    panel.wait_for_call("POST", r"/api/remote/servers/reset")
    listed = daemon.get("/api/servers").json()
    assert sorted(s["configuration"]["uuid"] for s in listed) == sorted(uuids)
    assert {s["state"] for s in listed} == {"offline"}
    titles = daemon.processes()
    for uuid in uuids:
        assert "wingspan: worker %s" % uuid in titles
    assert "wingspan: supervisor" in titles and "wingspan: api" in titles
    # the SFTP process is named before its (lower-priority) imports
    assert "wingspan: zygote" in titles and "wingspan: sftp" in titles


def test_servers_created_and_deleted_while_the_node_boots(panel, daemon):
    """The API answers while the supervisor is still forking the booted servers' workers: a
    server the Panel creates or deletes then must not upset the boot (the supervisor once
    died of its server list changing under the boot loop)."""
    booted = [str(uuidlib.uuid4()) for _ in range(20)]
    for uuid in booted:
        panel.add_server(uuid)
    daemon.start()
    created = str(uuidlib.uuid4())
    panel.add_server(created, skip_egg_scripts=True)
    assert daemon.post("/api/servers", {"uuid": created}).status_code == 202
    assert daemon.delete("/api/servers/%s" % booted[-1]).status_code == 204
    listed = {s["configuration"]["uuid"] for s in daemon.get("/api/servers").json()}
    assert listed == set(booted[:-1]) | {created}
    for uuid in booted[:-1] + [created]:
        wait_until(lambda: "wingspan: worker %s" % uuid in daemon.processes(),
                   what="the worker of %s" % uuid)
    assert "wingspan: worker %s" % booted[-1] not in daemon.processes()
    assert daemon.process.poll() is None


def test_panel_calls_carry_wings_headers(panel, daemon):
    daemon.start()
    call = panel.wait_for_call("GET", r"/api/remote/servers")[0]
    assert call.headers["Authorization"] == "Bearer %s.%s" % (panel.token_id, panel.token)
    assert call.headers["Accept"] == "application/vnd.pterodactyl.v1+json"
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["User-Agent"].startswith("Pterodactyl Wings/v")
    reset = panel.wait_for_call("POST", r"/api/remote/servers/reset")[0]
    assert reset.body is None  # the JSON literal null


def test_panel_errors_at_boot_are_retried(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    panel.fail("GET", r"/api/remote/servers", status=500, times=3)
    daemon.start()
    assert len(panel.calls("GET", r"/api/remote/servers")) == 4
    assert daemon.state(uuid) == "offline"


def test_the_api_process_starts_with_the_daemon_and_answers_once_the_servers_are_known(
        panel, daemon):
    """It is started beside the zygote, so that its imports overlap the boot (issue 22), but
    it reads its config and listens only once the servers are loaded."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    panel.fail("GET", r"/api/remote/servers", status=500, times=2)
    daemon.start(wait=False)
    wait_until(lambda: "wingspan: api" in daemon.processes(), timeout=10,
               what="the API process")
    assert len(panel.calls("GET", r"/api/remote/servers")) < 3
    assert not daemon.answers()
    daemon.wait_ready()
    assert len(panel.calls("GET", r"/api/remote/servers")) == 3
    assert daemon.state(uuid) == "offline"


def test_a_servers_files_answer_while_its_worker_boots(panel, daemon):
    """The supervisor makes each server's root before it lets the API in, so a listing or
    a write that comes before the worker is up finds the server's files (§5.2: an empty
    root lists as ``[]``); here the worker hangs before it does anything."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    faults = os.path.join(daemon.base_dir, "faults")
    os.makedirs(faults)
    open(os.path.join(faults, "hang-boot-%s" % uuid), "w").close()
    daemon.start(faults=faults)
    wait_until(lambda: not os.path.exists(os.path.join(faults, "hang-boot-%s" % uuid)),
               timeout=30, what="the worker taking the hang")
    listing = daemon.list_dir(uuid, "/")
    assert (listing.status_code, listing.json()) == (200, [])
    root = os.path.join(daemon.config["system"]["data"], uuid)
    assert oct(os.stat(root).st_mode & 0o777) == oct(0o755)
    assert daemon.post("/api/servers/%s/files/create-directory" % uuid,
                       {"name": "made", "path": "/"}).status_code == 204
    assert os.path.isdir(os.path.join(root, "made"))


def test_worker_log_lines_name_the_role_process_and_server(panel, daemon):
    """The zygote sets up the workers' logging before it forks them; each worker only
    puts its server's name in (wingspan.logs.configure)."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    pid = wait_until(lambda: daemon.worker_pid(uuid), what="the worker")
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running", timeout=30)
    assert " INFO worker[%d] %s worker.server: state " % (pid, uuid[:8]) in daemon.log_tail(200)


def test_running_container_survives_sigterm_and_is_reattached(panel, daemon, containers):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    start_server(daemon, uuid)
    started = time.monotonic()
    daemon.stop()
    assert daemon.process.returncode == 0
    assert time.monotonic() - started < 10
    assert containers.containers.get(uuid).status == "running"

    daemon.start()
    daemon.wait_state(uuid, "running", timeout=10)
    assert daemon.post("/api/servers/%s/commands" % uuid,
                       {"commands": ["echo still here"]}).status_code == 204
    wait_until(lambda: "still here" in daemon.get("/api/servers/%s/logs" % uuid).json()["data"],
               what="the command's output in the console")


def test_killed_worker_is_replaced_and_reattaches(panel, daemon, containers):
    victim, bystander = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    panel.add_server(victim)
    panel.add_server(bystander)
    daemon.start()
    start_server(daemon, victim)
    start_server(daemon, bystander)
    old_pid, other_pid = daemon.worker_pid(victim), daemon.worker_pid(bystander)

    os.kill(old_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: daemon.worker_pid(victim) not in (None, old_pid), timeout=5,
               what="a new worker")
    wait_until(lambda: daemon.post("/api/servers/%s/commands" % victim,
                                   {"commands": ["echo reattached"]}).status_code == 204,
               timeout=5, what="commands to work again")
    assert time.monotonic() - killed_at < 2.0
    assert containers.containers.get(victim).status == "running"
    assert daemon.worker_pid(bystander) == other_pid
    assert daemon.state(victim) == "running" and daemon.state(bystander) == "running"


def test_killed_api_process_comes_back(panel, daemon):
    daemon.start()
    api_pid = next(pid for title, pid in daemon.processes().items() if title == "wingspan: api")
    os.kill(api_pid, signal.SIGKILL)
    wait_until(lambda: daemon.answers(), timeout=10, what="the API to come back")
    assert daemon.get("/api/system").json()["os"] == "linux"


def test_no_process_outlives_the_supervisor(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    pids = list(daemon.processes().values())
    daemon.process.kill()
    daemon.process.wait()
    wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                               for p in pids), timeout=10, what="every child to exit")


def test_the_waiting_api_process_does_not_outlive_a_supervisor_killed_before_it_booted(
        panel, daemon):
    panel.fail("GET", r"/api/remote/servers", status=500, times=100)
    daemon.start(wait=False)
    wait_until(lambda: "wingspan: api" in daemon.processes(), timeout=10,
               what="the API process")
    pids = list(daemon.processes().values())
    daemon.process.kill()
    daemon.process.wait()
    wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                               for p in pids), timeout=10, what="every child to exit")


def test_no_worker_outlives_a_supervisor_killed_while_it_forks_them(panel, daemon):
    """Killed while the zygote forks the booted servers' workers: a worker whose fork was
    under way then is re-parented away from the dying supervisor, yet must exit too."""
    uuids = [str(uuidlib.uuid4()) for _ in range(12)]
    for uuid in uuids:
        panel.add_server(uuid)
    daemon.start(wait=False)
    wait_until(lambda: any(title.startswith("wingspan: worker") for title in daemon.processes()),
               timeout=60, interval=0.02, what="the first worker")
    daemon.process.kill()
    daemon.process.wait()
    titles = {"wingspan: worker %s" % uuid for uuid in uuids}
    wait_until(lambda: not live_processes_titled(titles), timeout=10,
               what="every worker, forked or being forked, to exit")


def test_a_worker_killed_while_the_others_are_forked_is_replaced(panel, daemon):
    """At boot every worker is asked of the zygote at once: one that dies while the others
    are still being forked is restarted like any dead worker, and every server has one."""
    uuids = [str(uuidlib.uuid4()) for _ in range(12)]
    for uuid in uuids:
        panel.add_server(uuid)
    daemon.start(wait=False)
    uuid, pid = wait_until(lambda: first_worker(daemon, uuids), timeout=60, interval=0.01,
                           what="the first worker")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: all(daemon.worker_pid(u) for u in uuids)
               and daemon.worker_pid(uuid) != pid, timeout=60,
               what="a worker for every server, a new one for %s" % uuid)
    daemon.wait_ready()
    assert "worker %s died (signal SIGKILL" % uuid in daemon.log_tail(400)
    listed = daemon.get("/api/servers").json()
    assert sorted(s["configuration"]["uuid"] for s in listed) == sorted(uuids)


def first_worker(daemon, uuids):
    """``(uuid, pid)`` of a worker of one of ``uuids`` that is up, or None."""
    for uuid in uuids:
        pid = daemon.worker_pid(uuid)
        if pid:
            return uuid, pid
    return None


def live_processes_titled(titles):
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or []).strip()
        if cmdline in titles and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


def test_servers_running_before_a_reboot_are_started_again(panel, daemon, containers):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    start_server(daemon, uuid)
    daemon.stop()
    containers.containers.get(uuid).kill()  # the host went down under the game
    daemon.start()
    daemon.wait_state(uuid, "running", timeout=15)


def test_state_of_a_server_created_after_boot_is_kept(panel, daemon, containers):
    """The supervisor follows the state of servers the Panel creates later, too."""
    daemon.start()
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    response = daemon.post("/api/servers", {"uuid": uuid, "start_on_completion": True})
    assert response.status_code == 202
    daemon.wait_state(uuid, "running", timeout=30)
    daemon.stop()
    containers.containers.get(uuid).kill()
    daemon.start()
    daemon.wait_state(uuid, "running", timeout=15)


def test_bad_config_exits_1_naming_the_key(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("api:\n  port: not-a-port\ntoken: x\n")
    result = subprocess.run([WINGSPAN, "--config", str(path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    assert "api.port" in result.stderr and "Traceback" not in result.stderr


def test_missing_config_exits_1_naming_the_file(tmp_path):
    path = tmp_path / "absent.yml"
    result = subprocess.run([WINGSPAN, "--config", str(path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    assert str(path) in result.stderr and "Traceback" not in result.stderr


def test_unusable_docker_network_exits_1_without_traceback(panel, daemon_factory, containers):
    daemon = daemon_factory()
    bridge = docker_default_bridge_subnet(containers)
    daemon.config["docker"]["network"]["interfaces"]["v4"]["subnet"] = bridge  # Docker refuses
    daemon.config["docker"]["network"]["name"] = daemon.config["docker"]["network"]["name"] + "x"
    daemon.config["docker"]["network"]["network_mode"] = daemon.config["docker"]["network"]["name"]
    daemon.write_config()
    result = subprocess.run([WINGSPAN, "--config", daemon.config_path], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "docker network" in result.stderr


def docker_default_bridge_subnet(client):
    bridge = client.networks.get("bridge")
    return bridge.attrs["IPAM"]["Config"][0]["Subnet"]


def test_boot_creates_a_missing_node_network_as_wings_does(panel, daemon_factory, containers):
    """wings-behaviour.md §3.5: the configured network, created at boot when missing, with
    its subnets, bridge name, MTU and inter-container setting."""
    plan = dockerenv.network_plan(containers, "wingspan_boot_%s" % uuidlib.uuid4().hex[:8])
    daemon = daemon_factory()
    network = daemon.config["docker"]["network"]
    network["name"] = network["network_mode"] = plan["name"]
    network["interfaces"] = {"v4": {"subnet": plan["subnet"], "gateway": plan["gateway"]},
                             "v6": {"subnet": plan["subnet6"], "gateway": plan["gateway6"]}}
    network["enable_icc"] = False
    daemon.write_config()
    daemon.start()
    try:
        attrs = containers.networks.get(network["name"]).attrs
        options = attrs["Options"]
        assert (attrs["Driver"], attrs["EnableIPv6"], attrs["Internal"]) == ("bridge", True, False)
        assert [c["Subnet"] for c in attrs["IPAM"]["Config"]] == [
            network["interfaces"]["v4"]["subnet"], network["interfaces"]["v6"]["subnet"]]
        assert options["com.docker.network.bridge.name"].startswith("wg-")
        assert options["com.docker.network.bridge.enable_icc"] == "false"
        assert options["com.docker.network.driver.mtu"] == str(network.get("network_mtu", 1500))
    finally:
        daemon.stop()
        dockerenv.remove_network(containers, plan["name"])
