"""The ZeroMQ envelope (architecture.md §ZeroMQ; issue 3: versioned, ids, deadlines, errors)."""

import json
import time

import pytest

from wingspan import commands, envelope, errors


def test_request_has_version_id_deadline():
    req = envelope.request(commands.POWER, "abc", {"action": "start"}, timeout=2.0)
    assert req["v"] == 1 and req["cmd"] == "server.power" and req["server"] == "abc"
    assert req["args"] == {"action": "start", "wait_seconds": 0}
    assert len(req["id"]) == 32
    assert time.time() + 1.5 < req["deadline"] <= time.time() + 2.0


def test_round_trip_through_bytes():
    req = envelope.request(commands.INSTALL)
    assert envelope.load(envelope.dump(req)) == req


def test_ok_reply_carries_the_request_id_and_result():
    req = envelope.request(commands.INSTALL)
    reply = envelope.reply_ok(req, {"a": 1})
    assert reply == {"v": 1, "id": req["id"], "ok": True, "result": {"a": 1}}
    assert envelope.result_of(reply) == {"a": 1}


def test_error_reply_is_re_raised_as_the_same_type():
    reply = envelope.reply_error("id1", errors.PowerLocked())
    assert reply["error"]["code"] == "power_locked"
    assert "Traceback" not in json.dumps(reply)
    with pytest.raises(errors.PowerLocked) as caught:
        envelope.result_of(reply)
    assert caught.value.status == 409


def test_unknown_error_code_becomes_generic_500():
    with pytest.raises(errors.WingspanError) as caught:
        envelope.result_of({"ok": False, "error": {"code": "no_such_code", "message": "m"}})
    assert caught.value.status == 500


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b'{"v": 2, "id": "x"}', b"\xff\xfe"])
def test_bad_messages_are_refused_with_typed_errors(raw):
    with pytest.raises(errors.WingspanError):
        envelope.load(raw)


def test_expired_uses_the_deadline():
    req = envelope.request(commands.INSTALL, timeout=0.0)
    assert envelope.expired(req, now=time.time() + 1)
    assert not envelope.expired(envelope.request(commands.INSTALL, timeout=60))


def test_topics():
    assert envelope.topic("u1", "console") == b"server.console.u1"
    assert envelope.topic("u1", "console").startswith(envelope.every_server("console"))
    assert not envelope.topic("u1", "console output").startswith(
        envelope.every_server("console"))
    assert envelope.topic(None, "ready") == b"daemon.ready"
    assert not envelope.topic(None, "ready").startswith(envelope.SERVER_EVENTS)


def test_stats_have_a_prefix_of_their_own_per_server():
    """Subscribing to every server's events leaves their stats out; one server's stats are
    followed on their own (api/registry.py)."""
    assert envelope.topic("u1", "stats") == envelope.STATS_EVENTS + b"u1" == b"stats.u1"
    assert not envelope.topic("u1", "stats").startswith(envelope.SERVER_EVENTS)


def test_event_stamp_numbers_events():
    stamp = envelope.EventStamp()
    first = envelope.load(stamp.event("u", "status", "running")[1])
    second = envelope.load(stamp.event("u", "status", "offline")[1])
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["boot"] == second["boot"] and first["data"] == "running"


def test_event_body_is_the_whole_envelope_dumped(monkeypatch):
    """The cached head and tail write the same bytes as dumping the envelope whole, for a
    server's events and the daemon's, whatever was published before."""
    monkeypatch.setattr(envelope.time, "time", lambda: 1765000000.123456)
    stamp = envelope.EventStamp()
    for seq, (server, name, data) in enumerate([
            ("u1", "stats", {"a": 1.5, "b": [None, "\u00e9"]}), (None, "ready", None),
            ("u1", "stats", {"a": 2}), ("u1", "console", ["x\"y"])], start=1):
        topic, body = stamp.event(server, name, data)
        assert topic == envelope.topic(server, name)
        assert body == envelope.dump({"v": 1, "server": server, "event": name, "data": data,
                                      "seq": seq, "boot": stamp.boot, "ts": 1765000000.123456})


def test_encoded_event_carries_the_given_json_as_data():
    stamp = envelope.EventStamp()
    event = envelope.load(stamp.encoded("u1", "stats", b'{"cpu_absolute":20}')[1])
    assert (event["data"], event["seq"], event["event"]) == ({"cpu_absolute": 20}, 1, "stats")


def test_a_lone_surrogate_travels_escaped():
    """Found by the bus fuzzer (issue 19): JSON's ``\\ud800`` decodes to a string that has
    no UTF-8 form; dumping it failed the sender."""
    message = {"v": 1, "id": "\ud800x\u00e9", "ok": True, "result": None}
    assert envelope.load(envelope.dump(message)) == message


@pytest.mark.parametrize("shape, raw", [
    (envelope.is_request, b'{"v":1,"id":["x"],"server":null,"cmd":"c","deadline":1}'),
    (envelope.is_request, b'{"v":1,"id":"x","server":1,"cmd":"c","deadline":1}'),
    (envelope.is_request, b'{"v":1,"id":"x","server":null,"cmd":null,"deadline":1}'),
    (envelope.is_request, b'{"v":1,"id":"x","server":null,"cmd":"c"}'),
    (envelope.is_request, b'{"v":1,"id":"x","server":null,"cmd":"c","deadline":true}'),
    (envelope.is_reply, b'{"v":1,"id":{},"ok":true}'),
    (envelope.is_reply, b'{"v":1,"id":"x"}'),
    (envelope.is_event, b'{"v":1,"event":"status"}'),
    (envelope.is_event, b'{"v":1,"server":[],"event":"status"}'),
    (envelope.is_event, b'{"v":1,"server":null,"event":1}'),
])
def test_messages_of_the_wrong_shape_are_dropped(shape, raw):
    """Found by the bus fuzzer: fields of the wrong type or missing ended the loop that
    read them (the broker's, a worker's, the API's event feed)."""
    assert envelope.load_or_drop(raw, "a message", shape) is None


@pytest.mark.parametrize("shape, raw", [
    (envelope.is_request, b'{"v":1,"id":"x","server":null,"cmd":"c","deadline":1.5}'),
    (envelope.is_request, b'{"v":1,"id":"x","server":"u","cmd":"c","deadline":1}'),
    (envelope.is_reply, b'{"v":1,"id":"x","ok":false,"error":{}}'),
    (envelope.is_event, b'{"v":1,"server":null,"event":"status"}'),
])
def test_messages_of_the_right_shape_are_kept(shape, raw):
    assert envelope.load_or_drop(raw, "a message", shape) == envelope.load(raw)


@pytest.mark.parametrize("args", [{"action": "dance"}, {}, {"action": "start", "extra": 1},
                                  {"action": "start", "wait_seconds": "5"}, ["start"]])
def test_arguments_breaking_the_declaration_never_leave(args):
    """Issue 19: a request is built only from arguments its command declares."""
    with pytest.raises(errors.BadCommandArguments) as caught:
        envelope.request(commands.POWER, "abc", args)
    assert caught.value.status == 400
