"""A huge listing is shared with the server's worker: its share of the batches of names is
sent as ``server.list_entries`` ahead of time, the answers are put back in order, and a
worker that fails leaves the rest of the listing to the API."""

import json
import os
import types

import pytest

from api import files as api_files
from api.files import LISTING_AHEAD, LISTING_CYCLE, LISTING_OURS, ServerFiles
from wingspan import envelope, errors
from wingspan.filesystem import Jail

VIEW = types.SimpleNamespace(uuid="8c5b3d4e-1f2a-4b6c-9d7e-0a1b2c3d4e5f")


class FakeWorker:
    """The bus client, answering ``server.list_entries`` from a jail of its own on the
    same root (as the worker does), or failing from its ``fail_at``-th call on."""

    def __init__(self, root, fail_at=None):
        self.jail = Jail(root, os.getuid(), os.getgid())
        self.fail_at = fail_at
        self.calls = []
        self.pending = []

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
    monkeypatch.setattr(api_files, "LISTING_BATCH", BATCH)


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


WORKERS_SHARE = [n for n in range(BATCHES) if n % LISTING_CYCLE >= LISTING_OURS]


def test_the_worker_lists_its_share_of_the_batches(root):
    worker = FakeWorker(root)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert names[:2] == ["sub", "f00000.txt"] and len(names) == BATCH * (BATCHES - 1) + 6
    assert len(WORKERS_SHARE) > LISTING_AHEAD
    assert [call[:3] for call in worker.calls] == [
        ("server.list_entries", VIEW.uuid, "/big")] * len(WORKERS_SHARE)
    assert [call[3] for call in worker.calls] == batches(names, WORKERS_SHARE)


def test_a_failing_worker_leaves_the_rest_to_the_api(root):
    worker = FakeWorker(root, fail_at=1)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert len(worker.calls) == LISTING_AHEAD  # not asked again after it failed


def test_a_listing_cut_short_forgets_what_it_asked_for(root):
    worker = FakeWorker(root)
    jail = Jail(root, os.getuid(), os.getgid())
    listing = jail.open_listing("/big")
    body = server_files(worker)._listing_body(VIEW, "/big", listing)
    assert next(body) == b"["
    assert next(body).startswith(b'{"name":"sub"')
    body.close()  # the client went away
    assert listing.dir_fd is None
    assert len(worker.pending) == LISTING_AHEAD
    assert all(pending.discarded for pending in worker.pending)  # none was read yet


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
    assert [entry["name"] for entry in entries] == names
    assert names[-1] == "\udcff-raw"
    assert worker.calls == []


def test_an_answer_without_entries_counts_as_a_failure(root):
    class Empty(FakeWorker):
        def answer(self, number, args):
            return {}

    worker = Empty(root)
    entries, names = listed(root, worker)
    assert [entry["name"] for entry in entries] == names
    assert len(worker.calls) == LISTING_AHEAD
