"""The activity store and its uploads to the Panel (wings-behaviour.md §13.2–13.3,
peers.md advisory #11 / CVE-2026-21696)."""

import sqlite3
from types import SimpleNamespace

import pytest

from supervisor.activity import ActivityLog, ActivityUploader, merge_sftp
from supervisor.activity_store import ActivityStore
from wingspan import activity, errors
from wingspan.activity import Event

SERVER = "d3aac109-e5a0-4331-b03e-3454f7e136dc"
USER = "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11"
OTHER = "0f6c7c2e-3d5b-4bde-9d38-5a1f1f0e7c11"


def event(name=activity.CONSOLE_COMMAND, metadata=None, user=USER, ip="203.0.113.7",
          stamp="2024-03-17T20:58:30.000001Z"):
    made = Event.new(SERVER, name, metadata or {}, user, ip)
    made.timestamp = stamp
    return made


@pytest.fixture
def store(tmp_path):
    made = ActivityStore(str(tmp_path / "lib" / "activity.db"), max_rows=1000000)
    made.open()
    yield made
    made.close()


def test_store_is_a_durable_wal_database(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._thread.apply(store._db.execute, ("PRAGMA synchronous",)).fetchone()[0] == 2


def test_rows_survive_reopening_and_a_repeated_id_is_stored_once(tmp_path, store):
    first = [event(metadata={"command": str(n)}) for n in range(3)]
    store.add(first)
    store.add(first[:1])
    store.close()
    again = ActivityStore(store.path, max_rows=10)
    again.open()
    rows = again.oldest(10, sftp=False)
    assert [r.event for r in rows] == first and again.rows == 3
    again.close()


def test_40000_rows_are_deleted_in_one_call(store):
    """CVE-2026-21696: one ``DELETE … IN`` above 32,766 ids failed and nothing was deleted."""
    store.add([event(activity.SFTP_DELETE, {"files": ["/%d" % n]}) for n in range(40000)])
    ids = [r.id for r in store.oldest(50000, sftp=True)]
    assert len(ids) == 40000
    store.delete(ids)
    assert store.rows == 0 and store.oldest(10, sftp=True) == []


def test_sftp_and_general_rows_are_read_apart(store):
    store.add([event(activity.SFTP_WRITE, {"files": ["/a"]}), event(), event("server:power.kill")])
    assert [r.event.event for r in store.oldest(10, sftp=True)] == [activity.SFTP_WRITE]
    assert [r.event.event for r in store.oldest(10, sftp=False)] == [
        activity.CONSOLE_COMMAND, "server:power.kill"]


def test_past_max_rows_the_oldest_go_with_one_warning(store, caplog):
    store.max_rows = 5
    added = [event(metadata={"command": str(n)}) for n in range(8)]
    for item in added:
        store.add([item])
    assert [r.event for r in store.oldest(10, sftp=False)] == added[3:]
    assert caplog.text.count("holds its maximum of 5 events") == 1


def test_merge_sftp_groups_by_user_server_ip_event_and_minute():
    """§13.3: files concatenated, earliest timestamp, at most ``limit`` groups."""
    rows = [
        SimpleNamespace(id=1, event=event(activity.SFTP_DELETE, {"files": ["/a"]},
                                          stamp="2024-03-17T20:58:31.000000Z")),
        SimpleNamespace(id=2, event=event(activity.SFTP_DELETE, {"files": ["/b"]},
                                          stamp="2024-03-17T20:58:30.000000Z")),
        SimpleNamespace(id=3, event=event(activity.SFTP_DELETE, {"files": ["/c"]},
                                          stamp="2024-03-17T20:59:00.000000Z")),
        SimpleNamespace(id=4, event=event(activity.SFTP_DELETE, {"files": ["/d"]}, user=OTHER)),
        SimpleNamespace(id=5, event=event(activity.SFTP_RENAME,
                                          {"files": [{"from": "/x", "to": "/y"}]})),
        SimpleNamespace(id=6, event=event(activity.SFTP_DELETE, {"files": ["/e"]},
                                          stamp="2024-03-17T20:58:59.000000Z")),
    ]
    items, ids = merge_sftp(rows, limit=10)
    assert [(i["event"], i["metadata"], i["timestamp"], i["user"]) for i in items] == [
        (activity.SFTP_DELETE, {"files": ["/a", "/b", "/e"]}, "2024-03-17T20:58:30.000000Z",
         USER),
        (activity.SFTP_DELETE, {"files": ["/c"]}, "2024-03-17T20:59:00.000000Z", USER),
        (activity.SFTP_DELETE, {"files": ["/d"]}, "2024-03-17T20:58:30.000001Z", OTHER),
        (activity.SFTP_RENAME, {"files": [{"from": "/x", "to": "/y"}]},
         "2024-03-17T20:58:30.000001Z", USER),
    ]
    assert ids == [1, 2, 3, 4, 5, 6]
    items, ids = merge_sftp(rows, limit=1)
    assert len(items) == 1 and ids == [1, 2, 6]


class FakePanel:
    def __init__(self, failures=()):
        self.failures = list(failures)
        self.batches = []

    def send_activity(self, items):
        if self.failures:
            status = self.failures.pop(0)
            raise errors.PanelError(detail="HTTP %s" % status, http_status=status)
        self.batches.append(items)


def uploader(store, panel, count=100, interval=60):
    cfg = SimpleNamespace(system=SimpleNamespace(activity_send_count=count,
                                                 activity_send_interval=interval))
    return ActivityUploader(store, lambda: (cfg, panel))


def test_a_run_sends_one_batch_of_each_kind_and_deletes_what_was_accepted(store):
    store.add([event(metadata={"command": str(n)}) for n in range(150)])
    store.add([event(activity.SFTP_WRITE, {"files": ["/%d" % n]}) for n in range(3)])
    panel = FakePanel()
    assert uploader(store, panel).run_once()
    general, sftp = panel.batches
    assert [i["metadata"]["command"] for i in general] == [str(n) for n in range(100)]
    assert sftp[0]["metadata"] == {"files": ["/0", "/1", "/2"]} and len(sftp) == 1
    assert store.rows == 50


@pytest.mark.parametrize("status", [500, 503, None, 401, 403, 429])
def test_rows_are_kept_when_the_panel_fails_or_may_recover(store, status):
    store.add([event()])
    panel = FakePanel([status])
    assert not uploader(store, panel).run_once()
    assert store.rows == 1
    assert uploader(store, panel).run_once() and store.rows == 0


@pytest.mark.parametrize("status", [400, 422])
def test_a_refused_batch_is_dropped_and_logged(store, status, caplog):
    store.add([event()])
    assert uploader(store, FakePanel([status])).run_once()
    assert store.rows == 0 and "the Panel refused 1 activity events" in caplog.text


def test_backoff_grows_from_the_interval_and_is_bounded(store):
    up = uploader(store, FakePanel(), interval=60)
    pauses = []
    for failures in range(6):
        up.failures = failures
        pauses.append(up._pause())
    assert pauses == [60, 120, 240, 480, 600, 600]


def test_record_command_stores_valid_events_and_drops_the_rest(tmp_path, caplog):
    cfg = SimpleNamespace(system=SimpleNamespace(root_directory=str(tmp_path)),
                          wingspan=SimpleNamespace(activity=SimpleNamespace(max_stored=10)))
    log = ActivityLog(lambda: (cfg, None))
    log.open()
    good = event().to_wire()
    assert log.record({"events": [good, dict(good, id="x", ip="1.2.3.4%eth0:5")]}) == \
        {"stored": 2}
    assert log.record({"events": [dict(good, id="y", server="../etc")]}) == {"stored": 0}
    with pytest.raises(errors.ValidationFailed):
        log.record({"events": "nope"})
    assert log.store.rows == 2 and "dropping an invalid activity event" in caplog.text
    log.close()
