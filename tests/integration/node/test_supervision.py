"""Supervision that holds its promises (issue 20 part 2): a worker that hangs while booting
is replaced, one daemon per run directory, SIGHUP reloads config.yml.

Spec: architecture.md (supervisor: restarts with backoff; SIGHUP reloads what can be
reloaded), wings-behaviour.md §14.1 (boot) and §14.3 (packaging), wings-api.md §15.2
(config keys), wings-behaviour.md §5.3 (console throttle).
"""

import os
import pathlib
import signal
import subprocess
import time
import uuid as uuidlib

import pytest
import websocket

from tests.support.browser import BrowserSocket, console_token
from tests.support.daemon import WINGSPAN
from tests.support.polling import wait_until

THROTTLED = "Server is outputting console data too quickly -- throttling..."
OTHER_ORIGIN = "https://other.example"


@pytest.fixture
def running_server(panel, daemon_factory, request):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    overrides = dict(getattr(request, "param", {}))
    daemon = daemon_factory(**overrides)
    os.makedirs(faults_of(daemon))
    daemon.start(faults=faults_of(daemon))
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running", timeout=30)
    return daemon, uuid


def faults_of(daemon):
    """Where the test plants the daemon's faults (``wingspan.testhooks.fault_once``)."""
    return os.path.join(daemon.base_dir, "faults")


def started_at(containers, uuid):
    return containers.containers.get(uuid).attrs["State"]["StartedAt"]


WORKER_LIMITS = {"wingspan": {"worker": {"boot_timeout": 3, "backoff_initial": 0.5}}}


@pytest.mark.parametrize("running_server", [WORKER_LIMITS], indirect=True)
def test_a_worker_that_hangs_while_booting_is_killed_and_replaced(running_server, containers):
    """``wingspan.worker.boot_timeout``: a worker that does not report ready in time is
    killed and restarted with the usual backoff; its game keeps running throughout and the
    replacement re-attaches to it."""
    daemon, uuid = running_server
    faults = pathlib.Path(faults_of(daemon))
    game_started = started_at(containers, uuid)
    first = daemon.worker_pid(uuid)
    (faults / ("hang-boot-%s" % uuid)).write_text("")
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not (faults / ("hang-boot-%s" % uuid)).exists(), timeout=30,
               what="a new worker taking the hang")
    hung = wait_until(lambda: daemon.worker_pid(uuid) not in (None, first)
                      and daemon.worker_pid(uuid), what="the hanging worker's pid")
    wait_until(lambda: "worker %s did not report ready within 3s; killing it" % uuid
               in daemon.log_tail(400), timeout=30, what="the hung worker killed")
    replacement = wait_until(lambda: daemon.worker_pid(uuid) not in (None, first, hung)
                             and daemon.worker_pid(uuid), timeout=30, what="a third worker")
    daemon.wait_state(uuid, "running", timeout=30)
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", console_token(daemon, uuid))
    sock.recv_event("auth success")
    sock.send("send command", "echo still here")
    sock.recv_event("console output", where=lambda m: m["args"] == ["still here"])
    assert daemon.worker_pid(uuid) == replacement
    assert started_at(containers, uuid) == game_started  # never restarted
    assert containers.containers.get(uuid).status == "running"


def test_a_second_daemon_on_the_run_directory_refuses_and_leaves_the_first_alone(
        panel, daemon):
    """One daemon per ``wingspan.run_directory``: the second exits 1 with one line naming
    the running pid; the first keeps every process and keeps serving its workers. A lock
    left by a daemon killed with SIGKILL does not block the next start."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    wait_until(lambda: daemon.worker_pid(uuid), what="the worker")
    before = daemon.processes()
    second = subprocess.run([WINGSPAN, "--config", daemon.config_path], capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr == (
        "wingspan: another wingspan (pid %d) is running with the run directory %s; not "
        "starting a second one\n" % (daemon.process.pid, daemon.config["wingspan"]
                                     ["run_directory"]))
    assert daemon.processes() == before
    for _ in range(5):  # the symptom was "worker not available" for power actions
        assert daemon.power(uuid, "kill").status_code in (202, 204)
        assert daemon.details(uuid).status_code == 200

    daemon.kill()
    wait_until(lambda: not daemon.tree_alive(), what="the killed daemon's processes gone")
    daemon.start()
    wait_until(lambda: daemon.worker_pid(uuid), what="the worker after the restart")
    assert daemon.details(uuid).status_code == 200


def flood(sock, daemon, uuid, lines=50, until=None, quiet=1.5):
    """``(flood lines seen, throttle warnings)`` for one ``flood`` command: read until
    ``until(seen, warnings)`` holds, then until the console has been quiet for ``quiet``
    seconds (throttled lines never come, so nothing else marks the end)."""
    daemon.commands(uuid, ["flood %d" % lines])
    seen, warnings = 0, 0
    last_line = time.monotonic()
    deadline = last_line + 30
    while time.monotonic() < deadline:
        done = until is None or until(seen, warnings)
        if done and time.monotonic() - last_line >= quiet:
            return seen, warnings
        try:
            message = sock.recv(quiet)
        except websocket.WebSocketTimeoutException:
            continue
        if message["event"] != "console output":
            continue  # stats come every second whatever the console does
        last_line = time.monotonic()
        if THROTTLED in message["args"][0]:
            warnings += 1
        elif message["args"][0].startswith("flood line"):
            seen += 1
    raise AssertionError("the flood did not end: %d lines, %d warnings" % (seen, warnings))


def reload_and_wait(daemon, expected_lines):
    before = daemon.log_tail(2000).count("reloaded %s" % daemon.config_path)
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: daemon.log_tail(2000).count("reloaded %s" % daemon.config_path)
               >= before + expected_lines, what="the reload in every process")


def origin_accepted(daemon, uuid, origin):
    try:
        BrowserSocket(daemon, uuid, origin=origin).close()
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 403
        return False
    return True


def test_sighup_reloads_live_keys_reports_restart_keys_and_refuses_a_bad_file(
        running_server):
    """SIGHUP (``systemctl reload``): a changed throttle applies in the worker, a new
    allowed origin in the API process, a changed port is logged as needing a restart (the
    API keeps its port); an invalid file is refused naming the key, and everything keeps
    the running configuration."""
    daemon, uuid = running_server
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", console_token(daemon, uuid))
    sock.recv_event("auth success")
    assert flood(sock, daemon, uuid, until=lambda seen, _: seen == 50) == (50, 0)
    assert not origin_accepted(daemon, uuid, OTHER_ORIGIN)
    port = daemon.config["api"]["port"]

    def change(data):
        data["throttles"]["lines"] = 5
        data["throttles"]["line_reset_interval"] = 60000
        data["allowed_origins"] = [OTHER_ORIGIN]
        data["api"]["port"] = port + 1

    daemon.edit_config(change)
    reload_and_wait(daemon, expected_lines=4)  # supervisor, API, SFTP process, worker
    log = daemon.log_tail(2000)
    assert "changed in %s but applied only after a restart: api.port" % daemon.config_path \
        in log
    assert "changed throttles.lines, throttles.line_reset_interval, allowed_origins" in log
    seen, warnings = flood(sock, daemon, uuid, until=lambda _, warnings: warnings)
    assert warnings == 1 and seen <= 5
    assert origin_accepted(daemon, uuid, OTHER_ORIGIN)
    assert daemon.get("/api/system").status_code == 200  # still on the old port

    def break_it(data):
        data["throttles"]["lines"] = -1
        data["allowed_origins"] = []

    daemon.edit_config(break_it)
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "config not reloaded, the running configuration is kept" in
               daemon.log_tail(200), what="the refusal")
    assert "throttles.lines: must be a positive integer, got -1" in daemon.log_tail(200)
    assert origin_accepted(daemon, uuid, OTHER_ORIGIN)
    seen, warnings = flood(sock, daemon, uuid)
    assert seen == 0 and warnings <= 1
    assert daemon.state(uuid) == "running"


def test_a_process_restarted_after_a_reload_keeps_the_running_restart_keys(panel, daemon):
    """A key a reload left for a restart (``api.port``) is not picked up by a child that
    the supervisor restarts meanwhile: the new API process listens where the daemon runs."""
    daemon.start()
    port = daemon.config["api"]["port"]
    daemon.edit_config(lambda data: data["api"].update(port=port + 1))
    reload_and_wait(daemon, expected_lines=3)  # supervisor, API, SFTP process
    api = daemon.processes()["wingspan: api"]
    os.kill(api, signal.SIGKILL)
    wait_until(lambda: daemon.processes().get("wingspan: api") not in (None, api),
               what="a new API process")
    daemon.wait_ready()
    assert daemon.get("/api/system").status_code == 200


def test_a_reload_sent_while_the_daemon_starts_is_held_until_each_process_handles_it(
        panel, daemon):
    """SIGHUP's default action ends a process: one sent before a process has its handler
    (``systemctl reload`` just after ``start``, or while a child restarts) waits for the
    handler instead. Nothing dies, and every process adopts the file."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start(wait=False)
    # from the zygote's start on: before it, the supervisor is still an interpreter starting
    wait_until(lambda: "wingspan: zygote" in daemon.processes(), interval=0.01,
               what="the zygote")
    deadline = time.monotonic() + 30
    while not (daemon.answers() and daemon.worker_pid(uuid)) and time.monotonic() < deadline:
        daemon.process.send_signal(signal.SIGHUP)
        time.sleep(0.02)
    daemon.process.send_signal(signal.SIGHUP)
    # the SFTP process starts at a lower priority (wingspan.startup.start_in_background):
    # on a busy machine its reload comes last
    for name in ("supervisor", "api", "sftp", "worker"):
        wait_until(lambda: any(" %s[" % name in line and "reloaded" in line
                               for line in daemon.log_tail(100000).splitlines()),
                   timeout=30, what="a reload in the %s process" % name)
    assert daemon.process.poll() is None
    assert " died (" not in daemon.log_tail(100000)
