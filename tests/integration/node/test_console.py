"""Power, console and the websocket console as the Panel's browser drives them (issue 4).

Spec: wings-api.md §4.4–4.5, §10 (websocket), §16 (hardening); wings-behaviour.md §2 (power,
states), §5.3 (throttle), §6 (crash detection); panel-contract.md §3–4.
"""

import hashlib
import json
import os
import re
import signal
import time
import uuid as uuidlib

import pytest
import requests
import websocket

from tests.support.browser import BrowserSocket, SocketClosed, console_token
from tests.support.fakepanel import GAME_IMAGE
from tests.support.polling import wait_until
from worker.power import PULL_FINISHED, PULL_STARTED


@pytest.fixture
def node(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    return daemon, uuid


def connect(daemon, uuid, permissions=("*",), **token):
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", console_token(daemon, uuid, permissions, **token))
    assert sock.recv()["event"] == "auth success"
    return sock


def states_until(sock, final, timeout=20):
    seen = []
    while not seen or seen[-1] != final:
        seen.append(sock.recv_event("status", timeout=timeout)["args"][0])
    return seen


def test_auth_then_status_then_stats_when_offline(node):
    daemon, uuid = node
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", console_token(daemon, uuid))
    assert sock.recv() == {"event": "auth success"}
    assert sock.recv() == {"event": "status", "args": ["offline"]}
    stats = sock.recv()
    assert stats["event"] == "stats"
    usage = json.loads(stats["args"][0])
    assert usage["memory_bytes"] == 0 and usage["state"] == "offline"
    assert usage["network"] == {"rx_bytes": 0, "tx_bytes": 0}


def test_reauth_sends_only_auth_success(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    sock.send("auth", console_token(daemon, uuid))
    assert sock.recv_event("auth success")
    sock.send("send stats")
    assert sock.recv()["event"] == "stats"  # no second status in between


def test_power_cycle_with_exact_states(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    assert sock.recv_event("status")["args"] == ["offline"]
    sock.send("set state", "start")
    assert states_until(sock, "running") == ["starting", "running"]
    sock.send("send command", "echo from the browser")
    sock.recv_event("console output", where=lambda m: m["args"] == ["from the browser"])
    stats = json.loads(sock.recv_event("stats", timeout=5)["args"][0])
    assert stats["state"] == "running" and stats["memory_bytes"] > 0 and stats["uptime"] > 0
    sock.send("set state", "restart")
    assert states_until(sock, "running") == ["stopping", "offline", "starting", "running"]
    sock.send("set state", "stop")
    assert states_until(sock, "offline") == ["stopping", "offline"]
    offline = json.loads(sock.recv_event("stats")["args"][0])
    assert offline["memory_bytes"] == 0 and offline["cpu_absolute"] == 0


def test_usage_is_current_with_or_without_a_viewer(node):
    """Issue 22: a server's stats cross the bus only while a websocket watches it; the
    Panel's ``GET /api/servers/:uuid`` and ``/metrics`` still show its usage of now, before,
    during and after a viewer."""
    daemon, uuid = node
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running")

    def usage():
        return daemon.details(uuid).json()["utilization"]

    first = wait_until(lambda: (u := usage())["uptime"] > 0 and u, what="a first sample")
    assert first["state"] == "running" and 0 < first["memory_bytes"] <= first["memory_limit_bytes"]
    time.sleep(2.2)
    unwatched = usage()
    assert unwatched["uptime"] >= first["uptime"] + 1000
    scraped = daemon.get("/metrics").text
    uptime = float(re.search(r'wingspan_server_uptime_seconds\{server="%s"\} (\S+)' % uuid,
                             scraped).group(1))
    assert round(uptime * 1000) >= unwatched["uptime"]
    sock = connect(daemon, uuid)
    watched = json.loads(sock.recv_event("stats", timeout=5)["args"][0])
    assert watched["state"] == "running" and watched["uptime"] >= unwatched["uptime"]
    assert usage()["uptime"] >= watched["uptime"]
    sock.close()
    time.sleep(2.2)
    assert usage()["uptime"] >= watched["uptime"] + 1000


def test_stats_measure_a_busy_core(node):
    """§4.1: cpu_absolute is a share of one core; a loop spinning on one CPU reads near 100
    (not 1,000 times off, not divided by the host's CPUs), and memory stays within the limit."""
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.send("set state", "start")
    states_until(sock, "running")
    sock.send("send command", "burn 4")
    busy = []
    deadline = time.monotonic() + 10
    while len(busy) < 2 and time.monotonic() < deadline:
        usage = json.loads(sock.recv_event("stats", timeout=5)["args"][0])
        if usage["cpu_absolute"] >= 40:
            busy.append(usage)
    assert len(busy) == 2, "no busy samples while a core was spinning"
    for usage in busy:
        assert usage["cpu_absolute"] <= 100 * os.cpu_count() + 5
        assert 0 < usage["memory_bytes"] <= usage["memory_limit_bytes"]
    sock.recv_event("console output", where=lambda m: m["args"] == ["Burned"], timeout=10)


def test_a_busy_core_reads_busy_when_asked_with_nobody_watching(node):
    """Issue 22: a server nobody watches is sampled when its usage is asked for, and its CPU
    share is measured since the sample before: a core spinning between two requests reads
    near 100, and an idle one near 0 afterwards."""
    daemon, uuid = node
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running")

    def cpu():
        return daemon.details(uuid).json()["utilization"]["cpu_absolute"]

    cpu()
    assert daemon.post("/api/servers/%s/commands" % uuid,
                       {"commands": ["burn 3"]}).status_code == 204
    time.sleep(1.5)
    busy = cpu()
    assert 40 <= busy <= 100 * os.cpu_count() + 5
    time.sleep(3)
    cpu()
    time.sleep(1.2)
    assert cpu() < 20


def test_a_sync_that_lowers_the_limit_under_the_usage_stops_the_server(node, panel):
    """§4.3: the limit a Panel sync brings is enforced at once while the server runs, not
    at the next walk (150 s away here)."""
    daemon, uuid = node
    with open(os.path.join(daemon.config["system"]["data"], uuid, "world.dat"), "wb") as f:
        f.write(b"\0" * (2 * 1024 * 1024))
    sock = connect(daemon, uuid)
    sock.send("set state", "start")
    states_until(sock, "running")
    panel.servers[uuid]["settings"]["build"]["disk_space"] = 1
    assert daemon.post("/api/servers/%s/sync" % uuid).status_code == 204
    warned = sock.recv_event("console output", timeout=10, where=lambda m: m["args"][0].endswith(
        "Server is exceeding the assigned disk space limit, stopping process now.\x1b[0m"))
    assert "Daemon]:" in warned["args"][0]
    assert states_until(sock, "offline") == ["stopping", "offline"]


def test_kill(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.send("set state", "start")
    states_until(sock, "running")
    sock.send("set state", "kill")
    assert states_until(sock, "offline") == ["stopping", "offline"]
    assert daemon.state(uuid) == "offline"


def test_stop_by_signal(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, stop={"type": "signal", "value": "SIGTERM"})
    daemon.start()
    daemon.post("/api/servers/%s/power" % uuid, {"action": "start"})
    daemon.wait_state(uuid, "running")
    daemon.post("/api/servers/%s/power" % uuid, {"action": "stop"})
    daemon.wait_state(uuid, "offline", timeout=10)
    wait_until(lambda: "Caught SIGTERM, exiting" in (daemon.get(
        "/api/servers/%s/logs" % uuid).json()["data"] or []), what="the game's signal handler")


def test_permissions_gate_inbound_events(node):
    daemon, uuid = node
    sock = connect(daemon, uuid, permissions=("websocket.connect",))
    sock.recv_event("status")
    sock.send("set state", "start")
    time.sleep(1.0)
    assert daemon.state(uuid) == "offline"


def test_lock_contention_is_reported(panel, daemon):
    """A restart sent right behind a start meets the start's lock. The start is held once
    its container is up (``power.start_tail``) and never shows ``running``, so however
    slowly the machine relays the two, the restart comes while the lock is taken."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, done=())
    daemon.start(holds=("power.start_tail",))
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    sock.send("set state", "start")
    sock.send("set state", "restart")
    error = sock.recv_event("daemon error")
    assert error["args"][0].endswith("another power action is currently being processed for "
                                     "this server, please try again later")
    assert error["args"][0].startswith("Error Event [")
    # a kill before the container is up would find nothing to kill
    wait_until(lambda: "holding at power.start_tail" in daemon.log_tail(),
               what="the start to be held after starting the container")
    sock.send("set state", "kill")
    daemon.wait_state(uuid, "offline")


@pytest.mark.parametrize("token_kind, text", [
    ("expired", "jwt: exp claim is invalid"),
    ("no_connect", "jwt: missing connect permission"),
    ("other_server", "jwt: server uuid mismatch"),
    ("before_boot", "jwt: created too far in past (denylist)"),
])
def test_jwt_errors_have_the_exact_texts(node, token_kind, text):
    daemon, uuid = node
    tokens = {
        "expired": console_token(daemon, uuid, now=int(time.time()) - 1000, ttl=10),
        "no_connect": console_token(daemon, uuid, permissions=("control.console",)),
        "other_server": console_token(daemon, str(uuidlib.uuid4())),
        "before_boot": console_token(daemon, uuid, now=int(time.time()) - 3600, ttl=7200),
    }
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", tokens[token_kind])
    message = sock.recv()
    assert message["event"] == "jwt error"
    assert message["args"][0].endswith(text)


@pytest.mark.parametrize("forge", ["wrong_key", "alg_none", "hs512"])
def test_forged_tokens_get_a_generic_error(node, forge):
    daemon, uuid = node
    token = {"wrong_key": lambda: console_token(daemon, uuid, key="x" * 64),
             "hs512": lambda: console_token(daemon, uuid, alg="HS512"),
             "alg_none": lambda: console_token(daemon, uuid, alg="none")}[forge]()
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", token)
    message = sock.recv()
    assert message["event"] == "daemon error"
    assert message["args"][0].endswith(
        "an unexpected error was encountered while handling this request")


def test_denied_jti_turns_events_into_jwt_errors(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    jti = hashlib.md5(("1" + uuid).encode()).hexdigest()
    time.sleep(1.1)
    assert daemon.post("/api/servers/%s/ws/deny" % uuid, {"jtis": [jti]}).status_code == 204
    sock.send("send stats")
    message = sock.recv_event("jwt error")
    assert message["args"] == ["jwt: created too far in past (denylist)"]


def test_a_revoked_socket_gets_no_daemon_errors(panel, daemon):
    """§10.4: every outbound event is checked against the token first; a power failure is
    no exception (its text once reached a revoked admin socket)."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, image="~wingspan-test/doesnotexist:latest")
    daemon.start()
    time.sleep(1.1)
    sock = connect(daemon, uuid, ("*", "admin.websocket.errors"))
    sock.recv_event("status")
    time.sleep(1.1)
    jti = hashlib.md5(("1" + uuid).encode()).hexdigest()
    assert daemon.post("/api/servers/%s/ws/deny" % uuid, {"jtis": [jti]}).status_code == 204
    assert daemon.post("/api/servers/%s/power" % uuid, {"action": "start"}).status_code == 202
    sock.recv_event("jwt error")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            sock.recv(0.5)
        except (websocket.WebSocketTimeoutException, SocketClosed):
            continue
    assert sock.events("daemon error") == []


def send_fragmented(sock, text, pieces):
    """``text`` as one message in ``pieces`` frames (a text frame, then continuations)."""
    data = text.encode()
    size = -(-len(data) // pieces)
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    for index, chunk in enumerate(chunks):
        opcode = websocket.ABNF.OPCODE_TEXT if index == 0 else websocket.ABNF.OPCODE_CONT
        sock.ws.send_frame(websocket.ABNF(int(index == len(chunks) - 1), 0, 0, 0, opcode, 1,
                                          chunk))


def stats_request(padding):
    return json.dumps({"event": "send stats", "args": ["x" * padding]})


def test_a_fragmented_message_within_the_limit_is_read(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    send_fragmented(sock, stats_request(24 * 1024), pieces=3)
    sock.recv_event("stats")


@pytest.mark.parametrize("pieces", [1, 4], ids=["one frame", "fragments"])
def test_a_message_over_32_kib_closes_with_1009(node, pieces):
    """§16: 32 KiB per message, counted after the fragments are joined (else a client
    streams continuation frames into the API's memory without end)."""
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    send_fragmented(sock, stats_request(40 * 1024), pieces=pieces)
    assert sock.wait_closed() == 1009


@pytest.mark.parametrize("headers", [
    {"Sec-WebSocket-Version": "8"},
    {"Sec-WebSocket-Key": "x"},
    {"Sec-WebSocket-Key": "\u00e9t\u00e9"},
    {"Sec-WebSocket-Version": None},
    {"Sec-WebSocket-Key": None},
], ids=["version 8", "short key", "non-ascii key", "no version", "no key"])
def test_a_bad_upgrade_handshake_is_a_json_400(node, headers):
    """§10.1: version 13 and a valid key, else 400 and no upgrade."""
    daemon, uuid = node
    sent = {"Upgrade": "websocket", "Connection": "Upgrade", "Origin": daemon.panel_url,
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    sent.update(headers)
    response = requests.get(daemon.url + "/api/servers/%s/ws" % uuid, timeout=10,
                            headers={k: v for k, v in sent.items() if v is not None})
    assert response.status_code == 400
    assert response.json() == {"error": "A websocket upgrade needs Sec-WebSocket-Version 13 "
                                        "and a valid Sec-WebSocket-Key."}


def test_foreign_origin_is_refused(node):
    daemon, uuid = node
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        BrowserSocket(daemon, uuid, origin="https://evil.example")
    assert caught.value.status_code == 403


def test_rate_limit_sends_throttled_once(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    for _ in range(30):
        sock.send("send stats")
    throttled = []
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            message = sock.recv(0.5)
        except (websocket.WebSocketTimeoutException, SocketClosed):
            break
        if message["event"] == "throttled":
            throttled.append(message["args"])
    assert throttled and len(throttled) <= 2


def test_flood_is_throttled_with_one_warning_and_server_keeps_running(panel, daemon_factory):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon = daemon_factory(throttles={"enabled": True, "lines": 50, "line_reset_interval": 1000})
    daemon.start()
    time.sleep(1.1)
    daemon.post("/api/servers/%s/power" % uuid, {"action": "start"})
    daemon.wait_state(uuid, "running")
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    daemon.post("/api/servers/%s/commands" % uuid, {"commands": ["flood 2000"]})
    warnings, lines = 0, 0
    deadline = time.time() + 4
    while time.time() < deadline:
        try:
            message = sock.recv(0.5)
        except (websocket.WebSocketTimeoutException, SocketClosed):
            break
        if message["event"] == "console output":
            if "throttling" in message["args"][0]:
                warnings += 1
            elif message["args"][0].startswith("flood line"):
                lines += 1
    assert warnings == 1
    assert 0 < lines < 2000
    assert daemon.state(uuid) == "running"
    assert daemon.get("/api/system").status_code == 200


def test_crash_restarts_then_refuses_a_crash_loop(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    time.sleep(1.1)
    sock = connect(daemon, uuid, permissions=("*",))
    sock.send("set state", "start")
    states_until(sock, "running")
    daemon.post("/api/servers/%s/commands" % uuid, {"commands": ["crash 3"]})
    sock.recv_event("console output",
                    where=lambda m: "Detected server process in a crashed" in m["args"][0])
    sock.recv_event("console output", where=lambda m: "Exit code: 3" in m["args"][0])
    states_until(sock, "running")  # restarted automatically
    daemon.post("/api/servers/%s/commands" % uuid, {"commands": ["crash 4"]})
    aborted = "Aborting automatic restart, last crash occurred less than 60 seconds ago."
    sock.recv_event("console output", where=lambda m: aborted in m["args"][0])
    assert daemon.state(uuid) == "offline"


def test_killed_worker_keeps_the_websocket(node):
    daemon, uuid = node
    sock = connect(daemon, uuid)
    sock.send("set state", "start")
    states_until(sock, "running")
    os.kill(daemon.worker_pid(uuid), signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: daemon.post("/api/servers/%s/commands" % uuid,
                                   {"commands": ["echo back again"]}).status_code == 204,
               timeout=5, what="the new worker")
    sock.recv_event("console output", where=lambda m: m["args"] == ["back again"], timeout=5)
    assert time.monotonic() - killed < 2.5
    # the new worker learns that the websocket follows its stats, and its loop runs
    first = json.loads(sock.recv_event("stats", timeout=5)["args"][0])
    second = json.loads(sock.recv_event("stats", timeout=5)["args"][0])
    assert first["state"] == second["state"] == "running"
    assert second["uptime"] > first["uptime"]


def test_suspended_server_refuses_start(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, suspended=True)
    daemon.start()
    response = daemon.post("/api/servers/%s/power" % uuid, {"action": "start"})
    assert response.status_code == 400
    assert response.json() == {"error": "Cannot start or restart a server that is suspended."}


def test_a_server_that_outgrows_its_disk_is_told_and_stopped(panel, daemon_factory):
    """§4.3: the disk is walked every ``disk_check_interval`` while the server runs, watched
    or not; a server found over its limit is told so on its console and stopped."""
    daemon = daemon_factory(system={"disk_check_interval": 1})
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, disk=1)
    daemon.start()
    time.sleep(1.1)
    sock = connect(daemon, uuid)
    sock.send("set state", "start")
    states_until(sock, "running")
    with open(os.path.join(daemon.config["system"]["data"], uuid, "world.dat"), "wb") as f:
        f.write(b"\0" * (2 * 1024 * 1024))
    warned = sock.recv_event("console output", timeout=10, where=lambda m: m["args"][0].endswith(
        "Server is exceeding the assigned disk space limit, stopping process now.\x1b[0m"))
    assert "Daemon]:" in warned["args"][0]
    assert states_until(sock, "offline") == ["stopping", "offline"]


def test_a_failed_pull_starts_the_server_on_the_local_copy_of_its_image(panel, daemon,
                                                                         containers):
    """wings-behaviour.md §3.9: the image is pulled before every container creation, its
    progress told on the console; when the pull fails a local copy is used. The registry
    is a closed port on loopback, so Docker's refusal comes back through the pull."""
    image = "127.0.0.1:1/wingspan-test/game:latest"
    containers.images.get(GAME_IMAGE.lstrip("~")).tag(image)
    try:
        uuid = str(uuidlib.uuid4())
        panel.add_server(uuid)["settings"]["container"]["image"] = image
        daemon.start()
        time.sleep(1.1)
        sock = connect(daemon, uuid)
        sock.send("set state", "start")
        assert states_until(sock, "running") == ["offline", "starting", "running"]
        console = [f["args"][0] for f in sock.frames if f["event"] == "console output"]
        told = [text for line in console for text in (PULL_STARTED, PULL_FINISHED)
                if "[Pterodactyl Daemon]" in line and text in line]
        assert told == [PULL_STARTED, PULL_FINISHED]
        assert containers.containers.get(uuid).attrs["Config"]["Image"] == image
        assert daemon.power(uuid, "kill").status_code == 202
        wait_until(lambda: daemon.state(uuid) == "offline", timeout=30, what="killed")
    finally:
        containers.images.remove(image, force=True)
