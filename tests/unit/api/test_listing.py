"""A huge listing is shared with the server's worker: it is kept ``AHEAD`` batches of names
ahead (``server.list_entries``), the API lists the next free batch whenever the worker's
oldest answer is not in, the answers are put back in order, and a worker that fails
leaves the rest of the listing to the API."""

import json
import os
import types

import pytest

from api import listing as api_listing
from api.files import ServerFiles
from api.listing import AHEAD
from wingspan import commands, envelope, errors
from wingspan.filesystem import Jail

VIEW = types.SimpleNamespace(uuid="8c5b3d4e-1f2a-4b6c-9d7e-0a1b2c3d4e5f")


class FakeWorker:
    """The bus client, answering ``server.list_entries`` from a jail of its own on the
    same root (as the worker does), or failing from its ``fail_at``-th call on.

    ``speed`` is how many more of its answers are in each time the API looks for one:
    0 is a worker far slower than the API, AHEAD one that answers at once."""

    def __init__(self, root, fail_at=None, speed=AHEAD):
        self.jail = Jail(root, os.getuid(), os.getgid())
        self.fail_at = fail_at
        self.speed = speed
        self.calls = []
        self.pending = []
        self.progress = 0.0

    def ask(self, cmd, server=None, args=None, timeout=5.0):
        self.calls.append((cmd, server, args["directory"], list(args["names"])))
        self.pending.append(Pending(self, len(self.calls), args))
        return self.pending[-1]

    def answer(self, number, args):
        if self.fail_at is not None and number >= self.fail_at:
            raise errors.WorkerUnavailable()
        with self.jail.open_listing(args["directory"], scan=False) as listing:
            return envelope.Attached({}, listing.encoded(args["names"]))


class Pending:
    def __init__(self, worker, number, args):
        self.worker, self.number, self.args = worker, number, args
        self.discarded = False

    def ready(self):
        worker = self.worker
        worker.progress = min(len(worker.calls), worker.progress + worker.speed)
        return self.number <= worker.progress

    def result(self):
        assert not self.discarded
        return self.worker.answer(self.number, self.args)

    def discard(self):
        self.discarded = True


def server_files(worker):
    ctx = types.SimpleNamespace(cfg=types.SimpleNamespace(
        wingspan=types.SimpleNamespace(mime_cache_entries=0)), client=worker)
    return ServerFiles(ctx)


BATCH = 10  # entries per batch here, so that a hundred files make several batches
BATCHES = 12


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(api_listing, "BATCH", BATCH)


@pytest.fixture
def root(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    (big / "sub").mkdir()
    for index in range(BATCH * BATCHES - BATCH + 5):
        (big / ("f%05d.txt" % index)).write_bytes(b"line %d\n" % index)
    return str(tmp_path)


def listed(root, worker, directory="/big"):
    jail = Jail(root, os.getuid(), os.getgid())
    files = server_files(worker)
    listing = jail.open_listing(directory)
    body = b"".join(files._listing_body(VIEW, directory, listing))
    assert listing.dir_fd is None  # closed at the end of the stream
    return json.loads(body), listing.names


def batches(names, numbers):
    return [names[BATCH * n:BATCH * (n + 1)] for n in numbers]


def asked_batches(worker, names):
    """The numbers of the batches the worker was asked for, in the order asked."""
    every = batches(names, range(BATCHES))
    return [every.index(call[3]) for call in worker.calls]


def test_a_worker_as_fast_as_asked_lists_every_batch(root):
    worker = FakeWorker(root, speed=AHEAD)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert names[:2] == ["sub", "f00000.txt"] and len(names) == BATCH * (BATCHES - 1) + 6
    assert [call[:3] for call in worker.calls] == [
        (commands.LIST_ENTRIES, VIEW.uuid, "/big")] * BATCHES
    assert asked_batches(worker, names) == list(range(BATCHES))


def test_the_api_lists_the_free_batches_while_a_slow_worker_works(root):
    worker = FakeWorker(root, speed=0)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert asked_batches(worker, names) == list(range(AHEAD))


def test_each_side_takes_the_next_free_batch(root):
    worker = FakeWorker(root, speed=0.5)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    asked = asked_batches(worker, names)
    assert asked[:AHEAD] == list(range(AHEAD))
    assert asked == sorted(asked) and AHEAD < len(asked) < BATCHES


def test_the_api_stops_listing_ahead_of_a_slow_worker_at_the_limit(root, monkeypatch):
    monkeypatch.setattr(api_listing, "HELD_MAX", 2)
    worker = FakeWorker(root, speed=0)
    jail = Jail(root, os.getuid(), os.getgid())
    listing = jail.open_listing("/big")
    shared = api_listing.SharedListing(listing, lambda names: worker.ask(
        "server.list_entries", VIEW.uuid, {"directory": "/big", "names": names}),
        lambda func, *args: func(*args), VIEW.uuid)
    members = shared.members()
    assert next(members).startswith(b'{"name":"sub"')
    assert sorted(shared.listed) == [AHEAD, AHEAD + 1]  # listed here, and no more
    assert shared.next_free == AHEAD + 2
    members.close()
    listing.close()


def test_a_failing_worker_leaves_the_rest_to_the_api(root):
    worker = FakeWorker(root, fail_at=2)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert len(worker.calls) == AHEAD + 1  # not asked again after it failed
    assert all(pending.discarded for pending in worker.pending[2:])


def test_a_listing_cut_short_forgets_what_it_asked_for(root):
    worker = FakeWorker(root, speed=0)
    jail = Jail(root, os.getuid(), os.getgid())
    listing = jail.open_listing("/big")
    body = server_files(worker)._listing_body(VIEW, "/big", listing)
    assert next(body) == b"["
    assert next(body).startswith(b'{"name":"sub"')
    body.close()  # the client went away
    assert listing.dir_fd is None
    assert len(worker.pending) == AHEAD
    assert all(pending.discarded for pending in worker.pending[1:])  # never read


def test_a_small_directory_is_listed_without_the_worker(root):
    worker = FakeWorker(root)
    os.makedirs(os.path.join(root, "small"))
    entries, _ = listed(root, worker, "/small")
    assert entries == []
    assert worker.calls == []


def test_undecodable_names_never_go_over_the_bus(root):
    worker = FakeWorker(root)
    with open(os.path.join(root, "big", "\udcff-raw"), "wb") as f:
        f.write(b"x")
    entries, names = listed(root, worker)
    assert names[-1] == "\udcff-raw"
    # written as Go writes a byte that is not UTF-8: U+FFFD, never a lone surrogate
    assert [entry["name"] for entry in entries] == names[:-1] + ["\ufffd-raw"]
    assert worker.calls == []


def test_an_answer_without_entries_counts_as_a_failure(root):
    class Empty(FakeWorker):
        def answer(self, number, args):
            return {}

    worker = Empty(root)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert len(worker.calls) == AHEAD
