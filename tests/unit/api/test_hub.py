"""Worker events become websocket frames (wings-api.md §10.2, §10.8)."""

import json
import logging
import time

from api.hub import STALE_OUTPUT_SECONDS, Hub, deliveries, frame


def test_frame_format_omits_empty_args_and_ends_with_newline():
    assert frame("auth success") == '{"event": "auth success"}\n'
    assert json.loads(frame("status", ["running"])) == {"event": "status", "args": ["running"]}


def test_console_batch_becomes_one_frame_per_line():
    d = deliveries("console", ["a", "b\x1b[0m"])
    assert [json.loads(f) for f in d.frames] == [
        {"event": "console output", "args": ["a"]},
        {"event": "console output", "args": ["b\x1b[0m"]}]
    assert d.permission is None


def test_console_and_install_lines_are_framed_byte_for_byte_as_the_encoder_frames_them():
    lines = ["", "plain", 'quote " and \\ backslash', "tab\tnew\nline\r", "\x00\x1f\x7f",
             "\x1b[33m\x1b[1m[Pterodactyl Daemon]:\x1b[39m hi\x1b[0m", "é ☃ 😀", "\ud800 lone"]
    assert deliveries("console", lines).frames == [frame("console output", [line])
                                                   for line in lines]
    assert deliveries("install output", lines).frames == [frame("install output", [line])
                                                          for line in lines]


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
    hub.dispatch("s1", "status", "running", time.time())
    assert len(a.got) == len(b.got) == 1 and other.got == []
    assert a.got[0] is b.got[0]  # encoded once, shared
    hub.leave("s1", a)
    hub.leave("s1", b)
    assert hub.count("s1") == 0


def test_late_output_is_not_fanned_out_but_state_always_is(caplog):
    """An API too busy to keep up skips output that is already old instead of queueing it
    for every viewer; status and stats get through however late, and each episode of
    lateness is logged once when it starts and once when it ends."""
    now = [1000.0]
    hub = Hub(clock=lambda: now[0])
    viewer = Recorder()
    hub.join("s1", viewer)
    late = now[0] - STALE_OUTPUT_SECONDS - 0.5
    with caplog.at_level(logging.WARNING, logger="api.hub"):
        hub.dispatch("s1", "console", ["old 1"], late)
        hub.dispatch("s1", "install output", ["old 2"], late)
        hub.dispatch("s1", "status", "running", late)
        hub.dispatch("s1", "stats", {"state": "running"}, late)
        hub.dispatch("s1", "console", ["nearly"], now[0] - 2.0)  # on time, still behind
        hub.dispatch("s1", "console", ["fresh"], now[0] - 0.1)
    assert [d.name for d in viewer.got] == ["status", "stats", "console", "console"]
    assert json.loads(viewer.got[-1].frames[0])["args"] == ["fresh"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "late" in messages[0] and "2 late output batches" in messages[1]


def test_members_of_some_servers_or_of_all():
    hub = Hub()
    a1, a2, b1 = object(), object(), object()
    hub.join("aaaa", a1)
    hub.join("aaaa", a2)
    hub.join("bbbb", b1)
    assert set(hub.members(["AAAA"])) == {a1, a2}
    assert set(hub.members(["bbbb", "cccc"])) == {b1}
    assert set(hub.members()) == {a1, a2, b1}
    assert hub.members(["cccc"]) == []


def test_a_server_is_watched_from_its_first_session_to_its_last():
    """The registry follows a server's stats only while it is watched (api/registry.py)."""
    told = []
    hub = Hub(on_watch=lambda uuid, watched: told.append((uuid, watched)))
    a, b = Recorder(), Recorder()
    hub.join("s1", a)
    hub.join("s1", b)
    hub.leave("s1", a)
    assert told == [("s1", True)]
    hub.leave("s1", a)
    hub.leave("s1", b)
    hub.leave("s1", b)
    assert told == [("s1", True), ("s1", False)]
