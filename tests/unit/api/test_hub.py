"""Worker events become websocket frames (wings-api.md §10.2, §10.8)."""

import json

from api.hub import Hub, deliveries, frame


def test_frame_format_omits_empty_args_and_ends_with_newline():
    assert frame("auth success") == '{"event": "auth success"}\n'
    assert json.loads(frame("status", ["running"])) == {"event": "status", "args": ["running"]}


def test_console_batch_becomes_one_frame_per_line():
    d = deliveries("console", ["a", "b\x1b[0m"])
    assert [json.loads(f) for f in d.frames] == [
        {"event": "console output", "args": ["a"]},
        {"event": "console output", "args": ["b\x1b[0m"]}]
    assert d.permission is None


def test_stats_arg_is_a_json_string():
    d = deliveries("stats", {"memory_bytes": 1, "network": {"rx_bytes": 0, "tx_bytes": 0}})
    args = json.loads(d.frames[0])["args"]
    assert json.loads(args[0])["network"] == {"rx_bytes": 0, "tx_bytes": 0}


def test_permission_gated_events():
    assert deliveries("install output", ["x"]).permission == "admin.websocket.install"
    assert deliveries("transfer logs", "x").permission == "admin.websocket.transfer"
    backup = deliveries("backup completed", {"uuid": "b1"})
    assert backup.permission == "backup.read"
    assert json.loads(backup.frames[0])["event"] == "backup completed:b1"


def test_install_markers_and_deleted():
    assert json.loads(deliveries("install started", "").frames[0]) == {
        "event": "install started", "args": [""]}
    assert json.loads(deliveries("deleted", None).frames[0]) == {
        "event": "deleted", "args": ["null"]}


def test_unknown_events_are_not_delivered():
    assert deliveries("flags", {}) is None


class Recorder:
    def __init__(self):
        self.got = []

    def deliver(self, delivery):
        self.got.append(delivery)


def test_hub_fans_out_to_the_server_sessions_only():
    hub = Hub()
    a, b, other = Recorder(), Recorder(), Recorder()
    hub.join("s1", a)
    hub.join("s1", b)
    hub.join("s2", other)
    hub.dispatch("s1", "status", "running")
    assert len(a.got) == len(b.got) == 1 and other.got == []
    assert a.got[0] is b.got[0]  # encoded once, shared
    hub.leave("s1", a)
    hub.leave("s1", b)
    assert hub.count("s1") == 0
