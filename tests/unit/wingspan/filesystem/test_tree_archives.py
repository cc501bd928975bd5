"""Whole-root archives streamed to a sink and extracted from a stream: the archive of a
backup (wings-behaviour.md §10.1, wings-api.md §8.1) and of a transfer (§11.1), and the
extraction of a restore (§10.2, wings-api.md §8.2) and of an incoming transfer (§11.2),
with the hostile-archive cases of issue 17 (peers.md: decompression bombs, zip-slip)."""

import hashlib
import io
import os
import tarfile

import pytest

from wingspan import errors
from wingspan.filesystem import Jail, Quota, archives
from wingspan.filesystem.pgzip import MeteredSink

from .conftest import GID, UID
from .test_archives import regular, tar_bytes

MIB = 1024 * 1024


def archive_of(jail, **options):
    out = io.BytesIO()
    archives.write_tree(jail, out, **options)
    return out.getvalue()


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as bundle:
        return {m.name: m for m in bundle.getmembers()}


def populate(server):
    server.put("server.properties", b"motd=hi\n", 0o640)
    server.put("world/region/r.0.0.mca", os.urandom(200000), 0o600)
    server.put("logs/latest.log", b"log\n")
    server.put("cache/a.tmp", b"tmp")
    os.makedirs(server.path("empty"))
    server.link("current.log", "logs/latest.log")
    server.link("escape", server.outside)


def test_backup_archive_holds_regular_files_only(jail, server):
    """§10.1 step 4: only files get entries, names relative without ``./``, modes and
    mtimes from lstat; symlinks and directories are not stored."""
    populate(server)
    os.utime(server.path("server.properties"), (1_600_000_000, 1_600_000_000))
    found = members(archive_of(jail))
    assert sorted(found) == ["cache/a.tmp", "logs/latest.log", "server.properties",
                             "world/region/r.0.0.mca"]
    assert found["server.properties"].mode == 0o640
    assert found["server.properties"].mtime == 1_600_000_000
    assert found["world/region/r.0.0.mca"].size == 200000


def test_transfer_archive_holds_directories_and_links_unfollowed(jail, server):
    populate(server)
    found = members(archive_of(jail, whole_tree=True))
    assert found["empty"].isdir()
    assert found["current.log"].issym() and found["current.log"].linkname == "logs/latest.log"
    assert found["escape"].issym() and found["escape"].linkname == server.outside
    assert not any(name.startswith("escape/") for name in found)


def test_ignore_rules_have_gitignore_semantics(jail, server):
    """§10.1 step 1: patterns match paths relative to the root; an ignored directory's
    content is left out; ``!`` re-includes a file."""
    populate(server)
    server.put("keep.tmp", b"k")
    server.put("a.tmp", b"a")
    text = "logs\n*.tmp\n!keep.tmp\n/world/region\n"
    assert sorted(members(archive_of(jail, ignore=text))) == ["keep.tmp", "server.properties"]


def test_pteroignore_is_used_when_the_request_has_none(jail, server):
    server.put(".pteroignore", b"*.log\n")
    server.put("a.log", b"x")
    assert archives.ignore_rules(jail, "") == "*.log\n"
    assert archives.ignore_rules(jail, "other\n") == "other\n"


def test_symlinked_or_oversized_pteroignore_is_not_used(jail, server):
    """§10.1 step 1: a symlinked ``.pteroignore`` (it could name a file outside) or one
    over 32 KiB means nothing is ignored."""
    server.put("rules", b"*.log\n")
    server.link(".pteroignore", "rules")
    assert archives.ignore_rules(jail, "") == ""
    os.unlink(server.path(".pteroignore"))
    server.put(".pteroignore", b"#" * (32 * 1024 + 1))
    assert archives.ignore_rules(jail, "") == ""


def test_sink_hash_and_size_match_the_bytes(jail, server):
    populate(server)
    sink = MeteredSink(io.BytesIO(), hashlib.sha1())
    archives.write_tree(jail, sink)
    data = sink.sink.getvalue()
    assert sink.written == len(data)
    assert sink.hexdigest() == hashlib.sha1(data).hexdigest()


def test_cancelled_writer_stops(jail, server):
    populate(server)
    with pytest.raises(errors.JobCancelled):
        archives.write_tree(jail, io.BytesIO(), cancelled=lambda: True)


@pytest.mark.parametrize("whole_tree", [False, True])
def test_round_trip(jail, server, tmp_path, whole_tree):
    populate(server)
    data = archive_of(jail, whole_tree=whole_tree)
    target = tmp_path / "copy"
    target.mkdir()
    names = []
    archives.extract_stream(Jail(str(target), UID, GID), io.BytesIO(data), links=whole_tree,
                            on_entry=names.append)
    assert (target / "world/region/r.0.0.mca").read_bytes() == server.read(
        "world/region/r.0.0.mca")
    assert (target / "server.properties").stat().st_mode & 0o777 == 0o640
    assert (target / "server.properties").stat().st_mtime == \
        int(os.stat(server.path("server.properties")).st_mtime)
    assert "server.properties" in names
    assert (target / "empty").is_dir() == whole_tree
    assert os.path.islink(target / "current.log") == whole_tree
    if whole_tree:
        assert os.readlink(target / "escape") == server.outside


def extract(jail, data, **options):
    archives.extract_stream(jail, io.BytesIO(data), **options)


def test_stream_refuses_climbing_names(jail, server):
    server.freeze()
    data = tar_bytes([regular("fine.txt", b"fine"), regular("../evil.txt", b"pwned")], "gz")
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, data)
    assert os.listdir(server.root) == ["fine.txt"]


def test_stream_absolute_names_land_inside(jail, server):
    server.freeze()
    extract(jail, tar_bytes([regular("/etc/passwd", b"x")], "gz"))
    assert server.read("etc/passwd") == b"x"


def test_stream_symlink_then_a_file_through_it(jail, server):
    """Links are created (links=True) but never lead a write out of the root."""
    server.freeze()
    data = tar_bytes([
        (dict(name="out", type=tarfile.SYMTYPE, linkname=server.outside), None),
        regular("out/etc/passwd", b"pwned"),
    ], "gz")
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, data, links=True)
    data = tar_bytes([
        (dict(name="rel", type=tarfile.SYMTYPE, linkname="../outside/etc"), None),
        regular("rel/passwd", b"pwned"),
    ], "gz")
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, data, links=True)


def test_stream_hard_links_out_of_the_root_and_devices_are_skipped(jail, server):
    server.freeze()
    data = tar_bytes([
        (dict(name="h_abs", type=tarfile.LNKTYPE,
              linkname=os.path.join(server.outside, "etc/passwd")), None),
        (dict(name="h_rel", type=tarfile.LNKTYPE, linkname="../outside/etc/passwd"), None),
        (dict(name="null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None),
        (dict(name="pipe", type=tarfile.FIFOTYPE), None),
        regular("ok.txt", b"ok"),
    ], "gz")
    extract(jail, data, links=True)
    assert os.listdir(server.root) == ["ok.txt"]


def test_stream_bomb_stops_at_the_quota(server):
    jail = Jail(server.root, UID, GID, quota=Quota(MIB))
    data = tar_bytes([regular("first.txt", b"first"), regular("bomb.bin", bytes(16 * MIB))],
                     "gz")
    assert len(data) < 100 * 1024
    with pytest.raises(errors.NotEnoughDisk):
        extract(jail, data)
    assert sorted(os.listdir(server.root)) == ["first.txt"]
    assert jail.quota.usage == 5


def test_stream_damaged_is_unknown_format(jail, server):
    data = tar_bytes([regular("a.txt", b"a" * 100000)], "gz")
    with pytest.raises(errors.UnknownArchiveFormat):
        extract(jail, data[:len(data) // 2])
    with pytest.raises(errors.UnknownArchiveFormat):
        extract(jail, b"not gzip at all")


def test_stream_cancelled(jail, server):
    data = tar_bytes([regular("a.txt", b"a")], "gz")
    with pytest.raises(errors.JobCancelled):
        extract(jail, data, cancelled=lambda: True)
    assert os.listdir(server.root) == []


def test_a_whole_tree_keeps_its_directories_modes_and_times(tmp_path):
    """Transfers (wings-behaviour.md §11): directories arrive with their modes and mtimes,
    set once their content is in."""
    source, target = tmp_path / "source", tmp_path / "target"
    (source / "a" / "b").mkdir(parents=True)
    (source / "a" / "b" / "f.txt").write_bytes(b"f")
    (source / "empty").mkdir()
    os.chmod(source / "a", 0o700)
    for path, when in ((source / "a" / "b", 1_400_000_000), (source / "a", 1_400_000_100),
                       (source / "empty", 1_400_000_200)):
        os.utime(path, (when, when))
    target.mkdir()
    out = io.BytesIO()
    archives.write_tree(Jail(str(source), os.getuid(), os.getgid()), out, whole_tree=True)
    out.seek(0)
    archives.extract_stream(Jail(str(target), os.getuid(), os.getgid()), out, links=True)
    for name, mode, when in (("a", 0o700, 1_400_000_100), ("a/b", 0o755, 1_400_000_000),
                             ("empty", 0o755, 1_400_000_200)):
        info = os.stat(target / name)
        assert (oct(info.st_mode & 0o777), int(info.st_mtime)) == (oct(mode), when), name
