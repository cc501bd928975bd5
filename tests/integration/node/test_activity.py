"""The activity log: events from the websocket, uploads and other processes reach the Panel
once each, survive outages, kills and restarts, and a backlog never jams (issue 20 part 3).

Spec: wings-behaviour.md §13 (events, storage, sending), wings-api.md §10 (attribution to the
token of each message) and §12 (``POST /activity``), panel-contract.md §2.2 and §6 item 13,
peers.md advisory #11 (CVE-2026-21696).
"""

import re
import signal
import sqlite3
import time
import uuid as uuidlib

import pytest
import requests
import zmq.green as zmq

from tests.support.browser import USER_UUID, BrowserSocket, console_token
from tests.support.panel_jwt import panel_jwt
from tests.support.polling import wait_until
from wingspan import activity, bus, commands

INTERVAL = 1
NODE = {"system": {"activity_send_interval": INTERVAL, "activity_send_count": 100}}
OTHER_USER = "0f6c7c2e-3d5b-4bde-9d38-5a1f1f0e7c11"
PANEL_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ACTIVITY = "/api/remote/activity"


class OtherProcess:
    """A process of the daemon that is not the API (the SFTP process, say): it sends its
    events over the bus with ``wingspan.activity.Sender``, as they all do."""

    def __init__(self, daemon):
        self.context = zmq.Context()
        endpoints = bus.Endpoints(daemon.config["wingspan"]["run_directory"])
        self.client = bus.BusClient(self.context, endpoints.control)
        self.sender = activity.Sender(self.client)

    def send(self, server, event, metadata, user=USER_UUID, ip="203.0.113.7:52114"):
        self.sender.send(server, event, metadata, user, ip)

    def flush(self):
        assert self.sender.flush(60), "the supervisor did not store the events"

    def close(self):
        self.sender.close()
        self.client.close()
        self.context.destroy(linger=0)


@pytest.fixture
def node(panel, daemon_factory):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon = daemon_factory(**NODE)
    return daemon, uuid


@pytest.fixture
def other_process():
    made = []

    def make(daemon):
        made.append(OtherProcess(daemon))
        return made[-1]

    yield make
    for proc in made:
        proc.close()


def stored_rows(daemon):
    path = "%s/activity.db" % daemon.config["system"]["root_directory"]
    with sqlite3.connect(path, timeout=10) as db:
        return db.execute("SELECT COUNT(*) FROM activities").fetchone()[0]


def commands_at_panel(panel):
    with panel.lock:
        return [entry["metadata"]["command"] for entry in panel.activity
                if entry["event"] == activity.CONSOLE_COMMAND]


def test_websocket_and_upload_activity_reaches_the_panel(panel, node):
    """§13.1: power actions and commands sent over the websocket and each uploaded file,
    attributed to the token's ``user_uuid`` and the client IP without port, with RFC 3339
    UTC timestamps (wings-api.md §18 test 87). HTTP power routes record nothing."""
    daemon, uuid = node
    daemon.start()
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", console_token(daemon, uuid))
    sock.recv_event("auth success")
    sock.send("set state", "start")
    sock.recv_event("status", timeout=30, where=lambda m: m["args"] == ["running"])
    sock.send("send command", "echo hello")
    sock.recv_event("console output", where=lambda m: m["args"] == ["hello"])
    # a second token of another user on the same socket: later messages are theirs
    sock.send("auth", console_token(daemon, uuid, user_id=2, user_uuid=OTHER_USER))
    sock.recv_event("auth success")
    sock.send("set state", "kill")
    sock.recv_event("status", timeout=30, where=lambda m: m["args"] == ["offline"])
    assert daemon.power(uuid, "start").status_code == 202  # the Panel logs this one itself
    upload = panel_jwt(daemon.token, daemon.url, "1%s" % uuid, ttl=300,
                       claims=[("server_uuid", uuid)], user={"uuid": USER_UUID, "id": 1})
    response = requests.post(daemon.url + "/upload/file",
                             params={"token": upload, "directory": "/plugins/../config/"},
                             files=[("files", ("a.txt", b"a")), ("files", ("b.txt", b"b"))],
                             timeout=30)
    assert response.status_code == 200

    wait_until(lambda: len(panel.activity) >= 5, timeout=30, what="5 activity events")
    time.sleep(3 * INTERVAL)  # nothing else may follow, the HTTP power action included
    with panel.lock:
        seen = [(e["event"], e["metadata"], e["user"]) for e in panel.activity]
        entries = list(panel.activity)
    assert seen == [
        ("server:power.start", {}, USER_UUID),
        ("server:console.command", {"command": "echo hello"}, USER_UUID),
        ("server:power.kill", {}, OTHER_USER),
        ("server:file.uploaded", {"file": "a.txt", "directory": "/config"}, USER_UUID),
        ("server:file.uploaded", {"file": "b.txt", "directory": "/config"}, USER_UUID),
    ]
    for entry in entries:
        assert entry["server"] == uuid and entry["ip"] == "127.0.0.1"
        assert PANEL_TIMESTAMP.match(entry["timestamp"]), entry["timestamp"]
    for call in panel.calls("POST", ACTIVITY):
        assert call.body["data"], "an empty batch was sent"
    wait_until(lambda: stored_rows(daemon) == 0, what="the sent rows deleted")


def test_a_backlog_of_40000_rows_is_sent_once_and_emptied(panel, node, other_process):
    """peers.md advisory #11 (CVE-2026-21696): 40,000 queued SFTP rows are merged, sent and
    deleted (in chunks below SQLite's variable limit): every file reaches the Panel exactly
    once, nothing is sent again, the table ends empty. §13.3: merged per user, server, IP,
    event and minute, earliest timestamp, files concatenated."""
    daemon, uuid = node
    panel.fail("POST", ACTIVITY, status=503, times=None)
    daemon.start()
    proc = other_process(daemon)
    names = ["/world/region/r.%d.mca" % n for n in range(40000)]
    for name in names:
        proc.send(uuid, activity.SFTP_DELETE, {"files": [name]})
    proc.send(uuid, activity.SFTP_RENAME, {"files": [{"from": "/a", "to": "/b"}]},
              user=OTHER_USER)
    proc.flush()
    assert stored_rows(daemon) == 40001
    panel.clear_faults()

    def files_at_panel():
        with panel.lock:
            return [f for e in panel.activity if e["event"] == activity.SFTP_DELETE
                    for f in e["metadata"]["files"]]

    wait_until(lambda: len(files_at_panel()) >= 40000, timeout=180, interval=0.5,
               what="40,000 deleted files at the Panel")
    wait_until(lambda: stored_rows(daemon) == 0, timeout=30, what="an empty activity table")
    posts = len(panel.calls("POST", ACTIVITY))
    time.sleep(3 * INTERVAL)
    assert len(panel.calls("POST", ACTIVITY)) == posts, "rows were sent again"
    assert sorted(files_at_panel()) == sorted(names)
    with panel.lock:
        renames = [e for e in panel.activity if e["event"] == activity.SFTP_RENAME]
        deletes = [e for e in panel.activity if e["event"] == activity.SFTP_DELETE]
    assert [r["metadata"] for r in renames] == [{"files": [{"from": "/a", "to": "/b"}]}]
    assert renames[0]["user"] == OTHER_USER and renames[0]["ip"] == "203.0.113.7"
    # merged: far fewer Panel entries than rows, each within one minute of its rows
    assert len(deletes) < 100
    for entry in deletes:
        assert entry["user"] == USER_UUID and PANEL_TIMESTAMP.match(entry["timestamp"])


def test_events_survive_an_outage_a_kill_9_and_a_restart(panel, node, other_process):
    """A Panel that answers 5xx keeps the rows (§13.3, hardened: retried with backoff); they
    survive a kill -9 of the supervisor (the store is durable WAL, not Wings'
    ``synchronous = OFF``) and a restart, and are sent once when the Panel is back."""
    daemon, uuid = node
    panel.fail("POST", ACTIVITY, status=503, times=None)
    daemon.start()
    proc = other_process(daemon)
    for n in range(300):
        proc.send(uuid, activity.CONSOLE_COMMAND, {"command": "before %d" % n})
    proc.flush()
    panel.wait_for_call("POST", ACTIVITY, timeout=30)
    daemon.kill()
    wait_until(lambda: not daemon.tree_alive(), what="the daemon's children gone with it")
    daemon.start()
    proc = other_process(daemon)
    proc.send(uuid, activity.CONSOLE_COMMAND, {"command": "after"})
    proc.flush()
    assert stored_rows(daemon) == 301
    panel.clear_faults()
    expected = ["before %d" % n for n in range(300)] + ["after"]
    wait_until(lambda: len(commands_at_panel(panel)) >= 301, timeout=120, interval=0.5,
               what="301 commands at the Panel")
    wait_until(lambda: stored_rows(daemon) == 0, what="an empty activity table")
    time.sleep(3 * INTERVAL)
    assert commands_at_panel(panel) == expected


def test_a_batch_the_panel_refuses_is_logged_and_dropped(panel, node, other_process):
    """A 4xx batch would be refused forever: it is logged and dropped, and the events after
    it flow (§13.3 hardened). An empty batch is never sent (panel-contract.md §6 item 11)."""
    daemon, uuid = node
    panel.fail("POST", ACTIVITY, status=422, times=1)
    daemon.start()
    proc = other_process(daemon)
    proc.send(uuid, activity.CONSOLE_COMMAND, {"command": "refused"})
    proc.flush()
    panel.wait_for_call("POST", ACTIVITY, timeout=30)
    wait_until(lambda: "the Panel refused 1 activity events" in daemon.log_tail(),
               what="the refusal logged")
    proc.send(uuid, activity.CONSOLE_COMMAND, {"command": "accepted"})
    proc.flush()
    wait_until(lambda: commands_at_panel(panel), timeout=30, what="the next event")
    time.sleep(3 * INTERVAL)
    assert commands_at_panel(panel) == ["accepted"]
    assert len(panel.calls("POST", ACTIVITY)) == 2
    assert stored_rows(daemon) == 0


def test_the_store_is_bounded_and_keeps_the_newest(panel, daemon_factory, other_process):
    """``wingspan.activity.max_stored``: past it the oldest events go, with one warning, and
    the newest are sent. (No send runs while they pile up: a batch already on its way to
    the Panel is delivered even if its rows are dropped meanwhile.)"""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon = daemon_factory(wingspan={"activity": {"max_stored": 50}},
                            system={"activity_send_interval": 3600}).start()
    proc = other_process(daemon)
    for chunk in range(4):
        for n in range(20):
            proc.send(uuid, activity.CONSOLE_COMMAND, {"command": "c%d" % (chunk * 20 + n)})
        proc.flush()
    assert stored_rows(daemon) == 50
    log = open(daemon.log_path).read()
    assert log.count("the activity store holds its maximum of 50 events") == 1
    daemon.edit_config(lambda data: data["system"].update(activity_send_interval=INTERVAL))
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: len(commands_at_panel(panel)) >= 50, timeout=120, interval=0.5,
               what="50 commands at the Panel")
    time.sleep(2 * INTERVAL)
    assert commands_at_panel(panel) == ["c%d" % n for n in range(30, 80)]


def test_invalid_events_from_a_process_are_dropped_by_the_supervisor(panel, node,
                                                                    other_process):
    """The supervisor trusts no process: an event the Panel would refuse (no server UUID, an
    event outside ``server:``, an IP with a zone, metadata that is not an object) is
    dropped with a warning and never poisons a batch; the valid ones around it go."""
    daemon, uuid = node
    daemon.start()
    proc = other_process(daemon)
    good = activity.Event.new(uuid, activity.CONSOLE_COMMAND, {"command": "ok"}, USER_UUID,
                              "::1").to_wire()
    bad = [dict(good, id="a", server="nope"), dict(good, id="b", event="auth:sftp.fail"),
           dict(good, id="c", ip="not an ip"), dict(good, id="d", metadata=["x"])]
    result = proc.client.call(commands.RECORD_ACTIVITY, None, {"events": bad + [good]})
    assert result == {"stored": 1}
    wait_until(lambda: commands_at_panel(panel) == ["ok"], timeout=30, what="the valid event")
    with panel.lock:
        assert panel.activity[0]["ip"] == "::1"
    assert daemon.log_tail(200).count("dropping an invalid activity event") == 4


def test_sighup_applies_a_new_send_interval_at_once(panel, daemon_factory, other_process):
    """``system.activity_send_interval`` is live: a reload restarts the pause under way with
    the new interval (issue 20 part 2), so an hour-long pause does not hold events back."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon = daemon_factory(system={"activity_send_interval": 3600}).start()
    proc = other_process(daemon)
    proc.send(uuid, activity.CONSOLE_COMMAND, {"command": "waiting"})
    proc.flush()
    daemon.edit_config(lambda data: data["system"].update(activity_send_interval=1))
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: commands_at_panel(panel) == ["waiting"], timeout=30,
               what="the event sent with the new interval")
