"""Activity events and their sender (wings-behaviour.md §13.1–13.2, panel-contract.md §2.2)."""

import gevent
import pytest

from wingspan import activity, commands, errors
from wingspan.activity import Event, InvalidEvent, Sender

SERVER = "d3aac109-e5a0-4331-b03e-3454f7e136dc"
USER = "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11"


@pytest.mark.parametrize("given, expected", [
    ("203.0.113.7", "203.0.113.7"),
    (" 203.0.113.7:52114 ", "203.0.113.7"),
    ("::1", "::1"),
    ("[2001:db8::1]:2022", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"),
    ("2001:DB8:0::1", "2001:db8::1"),
    ("", None),
    (None, None),
    ("example.com", None),
    ("203.0.113", None),
])
def test_clean_ip_keeps_what_the_panel_accepts(given, expected):
    """§13.2: the port is stripped; the Panel refuses a batch with host:port or a zone."""
    assert activity.clean_ip(given) == expected


def test_timestamp_is_rfc3339_utc_with_z():
    """panel-contract.md §2.2: Python's +00:00 does not parse at the Panel."""
    assert activity.timestamp(1710709110.123456) == "2024-03-17T20:58:30.123456Z"


def test_new_event_as_the_panel_receives_it():
    event = Event.new(SERVER.upper(), activity.CONSOLE_COMMAND, {"command": "say hi"},
                      USER, "203.0.113.7:1")
    assert event.to_panel() == {"user": USER, "server": SERVER,
                                "event": "server:console.command",
                                "metadata": {"command": "say hi"}, "ip": "203.0.113.7",
                                "timestamp": event.timestamp}
    assert Event.checked(event.to_wire()) == event


def test_no_user_and_no_metadata():
    """§13.2: empty user -> null, nil metadata -> {} (the ``user`` key is always sent)."""
    event = Event.new(SERVER, "server:power.kill", None, "", "::1")
    assert event.to_panel()["user"] is None and event.to_panel()["metadata"] == {}


@pytest.mark.parametrize("change, field", [
    ({"server": "nope"}, "server"),
    ({"server": None}, "server"),
    ({"user": "bob"}, "user"),
    ({"event": "auth:sftp.fail"}, "event"),
    ({"event": "server:x" * 40}, "event"),
    ({"metadata": ["a"]}, "metadata"),
    ({"metadata": {"command": "x" * (300 * 1024)}}, "larger than"),
    ({"ip": "bogus"}, "ip"),
    ({"timestamp": "2024-03-17T20:58:30+00:00"}, "timestamp"),
    ({"id": ""}, "id"),
])
def test_checked_refuses_what_the_panel_would(change, field):
    doc = Event.new(SERVER, activity.SFTP_WRITE, {"files": ["/a"]}, USER, "::1").to_wire()
    doc.update(change)
    with pytest.raises(InvalidEvent, match=field):
        Event.checked(doc)


class FakeClient:
    """The supervisor's side of ``activity.record``: fails ``fail`` times first."""

    def __init__(self, fail=0, error=errors.BusTimeout):
        self.fail = fail
        self.error = error
        self.batches = []

    def call(self, cmd, server=None, args=None, timeout=5.0):
        assert cmd == commands.RECORD_ACTIVITY and server is None
        if self.fail:
            self.fail -= 1
            raise self.error(detail="injected")
        self.batches.append([e["id"] for e in args["events"]])
        return {"stored": len(args["events"])}


def test_sender_batches_and_keeps_order():
    client = FakeClient()
    sender = Sender(client)
    for n in range(1200):
        sender.send(SERVER, activity.CONSOLE_COMMAND, {"command": str(n)}, USER, "::1")
    assert sender.flush(5)
    assert [len(b) for b in client.batches] == [500, 500, 200]
    sender.close()


def test_sender_offers_a_batch_again_until_it_is_stored(monkeypatch):
    monkeypatch.setattr(Sender, "RETRY_INITIAL", 0.01)
    client = FakeClient(fail=3)
    sender = Sender(client)
    sender.send(SERVER, activity.CONSOLE_COMMAND, {"command": "a"}, USER, "::1")
    sender.send(SERVER, activity.CONSOLE_COMMAND, {"command": "b"}, USER, "::1")
    assert sender.flush(5)
    assert len(client.batches) == 1 and len(client.batches[0]) == 2
    sender.close()


def test_sender_drops_a_refused_batch(caplog):
    client = FakeClient(fail=1, error=errors.ValidationFailed)
    sender = Sender(client)
    sender.send(SERVER, activity.CONSOLE_COMMAND, {"command": "a"}, USER, "::1")
    assert sender.flush(5)
    assert client.batches == [] and "refused 1 activity events" in caplog.text
    sender.close()


def test_sender_drops_invalid_events_and_the_oldest_past_its_bound(caplog):
    client = FakeClient()
    sender = Sender(client, max_queued=3)
    sender.send("not-a-uuid", activity.CONSOLE_COMMAND, {}, USER, "::1")
    ids = []
    for n in range(5):
        sender.send(SERVER, activity.CONSOLE_COMMAND, {"command": str(n)}, USER, "::1")
        ids.append(sender._queue[-1].id)
    assert sender.flush(5)
    assert client.batches == [ids[2:]]
    assert caplog.text.count("dropping the oldest") == 1
    assert "not recorded" in caplog.text
    sender.close()
    gevent.sleep(0)
