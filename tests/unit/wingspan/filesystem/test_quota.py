"""Disk quota and usage walks (wings-api.md §6.4, wings-behaviour.md §4.3, §9.4)."""

import concurrent.futures
import os
import threading
import time

import pytest

from wingspan import errors
from wingspan.filesystem import DiskUsage, Quota, disk_usage

from .conftest import body


def test_can_fit_and_has_space():
    """§6.4: limit 0 is unlimited, a negative limit refuses every write, else
    ``usage + n <= limit``; "has space" is ``usage <= limit``."""
    unlimited, refused, limited = Quota(0), Quota(-1), Quota(100)
    assert unlimited.can_fit(10 ** 15) and unlimited.has_space()
    assert not refused.can_fit(0) and not refused.has_space()
    limited.add(60)
    assert limited.can_fit(40) and not limited.can_fit(41) and limited.can_fit(-50)
    limited.add(41)
    assert not limited.has_space()
    limited.add(-1000)
    assert limited.usage == 0
    assert Quota.from_disk_space(10).limit == 10 * 1024 * 1024


def test_require_raises_the_disk_error():
    with pytest.raises(errors.NotEnoughDisk) as caught:
        Quota(5).require(6)
    assert caught.value.status == 400
    assert caught.value.public_message == \
        "There is not enough disk space available to perform that action."


def test_write_with_a_length_is_checked_before_anything_is_written(make_jail, server):
    """§18 test 29: too big → 400 disk message and no file created."""
    jail = make_jail(limit=10)
    with pytest.raises(errors.NotEnoughDisk):
        jail.write("big.bin", body(b"x" * 11), 11)
    assert not os.path.exists(server.path("big.bin"))
    assert server.temp_files() == []
    assert jail.quota.usage == 0


def test_overwrite_is_credited_with_the_old_size(make_jail):
    """§9.4: the check is ``size - existing size``; usage moves by ``written - existing``."""
    jail = make_jail(limit=10)
    jail.write("f", body(b"x" * 8), 8)
    jail.write("f", body(b"y" * 10), 10)
    assert jail.quota.usage == 10
    jail.write("f", body(b""), 0)
    assert jail.quota.usage == 0


def test_write_without_a_length_stops_at_the_limit(make_jail, server):
    """Unknown length: checked chunk by chunk; the partial file is removed."""
    jail = make_jail(limit=200 * 1024)
    jail.write("small", body(b"s" * 1000))
    with pytest.raises(errors.NotEnoughDisk):
        jail.write("endless", body(b"z" * (10 * 1024 * 1024)))
    assert not os.path.exists(server.path("endless"))
    assert server.temp_files() == []
    assert jail.quota.usage == 1000


def test_copy_needs_room_for_the_whole_file(make_jail, server):
    jail = make_jail(limit=15)
    jail.write("a.txt", body(b"x" * 8), 8)
    with pytest.raises(errors.NotEnoughDisk):
        jail.copy("a.txt")
    assert os.listdir(server.root) == ["a.txt"]
    assert jail.quota.usage == 8


def test_disk_usage_counts_regular_files_only(tmp_path):
    """§4.3: lstat sizes of regular files; symlinks and directories 0; hard links each time."""
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f").write_bytes(b"x" * 1000)
    (tmp_path / "g").write_bytes(b"y" * 24)
    os.link(tmp_path / "g", tmp_path / "g2")
    (tmp_path / "link").symlink_to("d/e/f")
    (tmp_path / "linkdir").symlink_to("/usr")
    os.mkfifo(tmp_path / "pipe")
    assert disk_usage(str(tmp_path)) == 1048


def test_disk_usage_of_a_deep_tree_keeps_few_descriptors(tmp_path):
    path = tmp_path
    for depth in range(300):
        path = path / ("d%d" % depth)
    path.mkdir(parents=True)
    (path / "f").write_bytes(b"z" * 7)
    for index in range(300):
        (tmp_path / ("sib%d" % index)).mkdir()
    assert disk_usage(str(tmp_path)) == 7


def test_jail_disk_usage_matches(make_jail, server):
    jail = make_jail()
    jail.write("a/b", body(b"12345"))
    server.link("l", "a/b")
    assert jail.disk_usage() == 5


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def executor():
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def test_disk_usage_cache_freshness(tmp_path, executor):
    """§4.3: fresh for ``interval`` seconds; stale + allow_stale → the counter now and a
    background walk; stale without → a synchronous walk."""
    (tmp_path / "f").write_bytes(b"x" * 10)
    quota, clock = Quota(100), FakeClock()
    usage = DiskUsage(str(tmp_path), quota, 150, executor, clock)
    assert usage.get(allow_stale=False) == 10
    (tmp_path / "g").write_bytes(b"x" * 5)
    clock.now += 150
    assert usage.get(allow_stale=False) == 10          # still fresh at exactly 150 s
    clock.now += 1
    assert usage.get(allow_stale=True) == 10           # stale: answered at once
    usage._background.result(timeout=10)
    assert quota.usage == 15 and usage.checked_at == clock.now
    assert usage.get(allow_stale=True) == 15


def test_has_space_walks_only_when_the_cache_is_stale(tmp_path, executor):
    """§4.3 and the stats loop's watchdog: a fresh cache answers from the counter; a stale
    one answers at once and walks in the background (allow_stale) or walks first."""
    (tmp_path / "f").write_bytes(b"x" * 10)
    quota, clock = Quota(12), FakeClock()
    usage = DiskUsage(str(tmp_path), quota, 150, executor, clock)
    assert usage.has_space(allow_stale=False) is True and usage.checked_at == clock.now
    (tmp_path / "g").write_bytes(b"x" * 5)
    clock.now += 150
    assert usage.has_space(allow_stale=True) is True and usage._background is None
    clock.now += 1
    assert usage.has_space(allow_stale=True) is True
    usage._background.result(timeout=10)
    assert quota.usage == 15 and usage.has_space(allow_stale=True) is False
    (tmp_path / "g").unlink()
    clock.now += 151
    assert usage.has_space(allow_stale=False) is True and quota.usage == 10


def test_disk_usage_disabled_by_interval_zero(tmp_path, executor):
    """§4.3: ``disk_check_interval = 0``: usage reads 0 and has-space is always true."""
    (tmp_path / "f").write_bytes(b"x" * 10)
    quota = Quota(1)
    quota.add(5)
    usage = DiskUsage(str(tmp_path), quota, 0, executor, FakeClock())
    assert usage.get(allow_stale=False) == 0
    assert usage.has_space(allow_stale=False) is True
    assert usage.refresh_in_background() is None
    assert usage._background is None


def test_one_walk_at_a_time(tmp_path):
    """Only one background walk runs; a synchronous caller waits for it, then walks again."""
    started, release = threading.Event(), threading.Event()
    walks = []

    class GatedExecutor(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn, *args):
            def gated():
                walks.append(1)
                started.set()
                release.wait(10)
                return fn(*args)
            return super().submit(gated)

    with GatedExecutor(max_workers=4) as pool:
        usage = DiskUsage(str(tmp_path), Quota(10), 150, pool, FakeClock())
        first = usage.refresh_in_background()
        started.wait(10)
        assert usage.refresh_in_background() is first
        assert len(walks) == 1
        release.set()
        assert usage.refresh() == 0
        assert len(walks) == 2


def test_walk_failure_still_records_the_time(tmp_path, executor):
    clock = FakeClock()
    usage = DiskUsage(str(tmp_path / "missing"), Quota(10), 150, executor, clock)
    assert usage.refresh() == 0
    assert usage.checked_at == clock.now
    assert usage.has_space(allow_stale=False) is True


def test_a_background_walk_is_recorded_before_its_callers_callbacks(tmp_path, executor):
    """The stats monitor checks the limit in a callback on the walk: it must see the walk's
    result, not the figure before it."""
    (tmp_path / "f").write_bytes(b"x" * 10)
    quota = Quota(5)
    usage = DiskUsage(str(tmp_path), quota, 150, executor, FakeClock())
    seen = []
    walk = usage.refresh_in_background()
    walk.add_done_callback(lambda _: seen.append((quota.usage, quota.has_space())))
    walk.result(10)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [(10, False)]
