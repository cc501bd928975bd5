"""Compress and decompress (wings-api.md §5.9, §5.10, wings-behaviour.md §9.8, §9.9), with
the archive attacks: zip-slip, symlink and hard-link entries, device entries, bombs."""

import bz2
import datetime
import gzip
import io
import lzma
import os
import re
import stat
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib

import py7zr
import pytest
import rarfile

from wingspan import errors
from wingspan.filesystem import archives

from .conftest import GID, UID, body

try:
    from compression import zstd
except ImportError:
    from backports import zstd

MIB = 1024 * 1024


def tar_bytes(members, compression=""):
    """``members``: (TarInfo fields dict, data or None)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:" + compression, format=tarfile.PAX_FORMAT) as bundle:
        for fields, content in members:
            member = tarfile.TarInfo(fields.pop("name"))
            for key, value in fields.items():
                setattr(member, key, value)
            if content is not None:
                member.size = len(content)
            bundle.addfile(member, io.BytesIO(content) if content is not None else None)
    return data.getvalue()


def regular(name, content, **fields):
    return dict(name=name, **fields), content


def zip_bytes(entries):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in entries:
            bundle.writestr(name, content)
    return data.getvalue()


def extract(jail, server, name, data, root="/"):
    server.put(os.path.join(root.lstrip("/"), name), data)
    archives.decompress(jail, root, name)


def listing(server):
    found = []
    for directory, _, files in os.walk(server.root):
        found += [os.path.relpath(os.path.join(directory, f), server.root) for f in files]
    return sorted(found)


# -- compress -----------------------------------------------------------------------------

def test_compress_names_and_content(jail, server):
    """§18 tests 41-42: name pattern, ``mime``, members relative to the root, only the
    requested entry (``map``, not ``map2``), no directory entries, symlinks left out."""
    server.put("map/region/r.0.0.mca", b"region", 0o640)
    server.put("map/level.dat", b"level")
    server.put("map2/other", b"other")
    server.put("server.properties", b"motd=hi")
    os.makedirs(server.path("map/empty"))
    server.link("map/out", "../../outside/etc/passwd")
    server.freeze()
    result = archives.compress(jail, "/", ["map", "server.properties", "missing", "map/level.dat"])
    assert re.match(r"^archive-\d{4}-\d{2}-\d{2}T\d{6}(Z|[+-]\d{4})\.tar\.gz$", result["name"])
    assert result["mime"] == "application/tar+gzip" and result["file"] is True
    with tarfile.open(server.path(result["name"]), "r:gz") as bundle:
        members = {m.name: m for m in bundle.getmembers()}
        assert sorted(members) == ["map/level.dat", "map/region/r.0.0.mca", "server.properties"]
        assert bundle.extractfile("map/region/r.0.0.mca").read() == b"region"
        assert members["map/region/r.0.0.mca"].mode == 0o640
    info = os.lstat(server.path(result["name"]))
    assert (info.st_uid, info.st_gid) == (UID, GID)
    assert jail.quota.usage == info.st_size


def test_compress_ignores_the_denylist(make_jail, server):
    """§6.3: compress is not a denylisted operation, its output name included."""
    jail = make_jail(denylist=["*.tar.gz", "secret.txt"])
    server.put("secret.txt", b"s")
    result = archives.compress(jail, "/", ["secret.txt"])
    with tarfile.open(server.path(result["name"]), "r:gz") as bundle:
        assert bundle.getnames() == ["secret.txt"]


def test_compress_relative_to_a_subdirectory(jail, server):
    server.put("sub/a/b.txt", b"b")
    server.put("sub/c.txt", b"c")
    moment = datetime.datetime(2024, 3, 17, 14, 58, 30, tzinfo=datetime.UTC)
    result = archives.compress(jail, "/sub", ["a", "c.txt", "../escape", server.path("sub/c.txt")],
                               now=moment)
    assert result["name"] == "archive-2024-03-17T145830Z.tar.gz"
    with tarfile.open(server.path("sub/" + result["name"]), "r:gz") as bundle:
        assert sorted(bundle.getnames()) == ["a/b.txt", "c.txt"]


def test_archives_made_in_the_same_second_each_keep_their_own_name(jail, server):
    """Wings would write the second over the first; each request here gets its own file."""
    server.put("a.txt", b"a")
    server.put("b.txt", b"b")
    moment = datetime.datetime(2024, 3, 17, 14, 58, 30, tzinfo=datetime.UTC)
    first = archives.compress(jail, "/", ["a.txt"], now=moment)
    second = archives.compress(jail, "/", ["b.txt"], now=moment)
    assert (first["name"], second["name"]) == ("archive-2024-03-17T145830Z.tar.gz",
                                               "archive-2024-03-17T145830Z-1.tar.gz")
    for result, member in ((first, "a.txt"), (second, "b.txt")):
        with tarfile.open(server.path(result["name"]), "r:gz") as bundle:
            assert bundle.getnames() == [member]


def test_compress_over_quota(make_jail, server):
    """§5.9: already over quota → 409; archive outgrowing the quota → 400 and removed."""
    jail = make_jail(limit=100)
    jail.quota.add(101)
    with pytest.raises(errors.Conflict) as caught:
        archives.compress(jail, "/", ["x"])
    assert caught.value.status == 409
    assert caught.value.public_message == ("This server does not have enough available disk "
                                           "space to generate a compressed archive.")
    jail.quota.set_usage(0)
    server.put("random.bin", os.urandom(4096))
    with pytest.raises(errors.NotEnoughDisk):
        archives.compress(jail, "/", ["random.bin"])
    assert listing(server) == ["random.bin"]


# -- decompress: formats --------------------------------------------------------------------

def test_zip_extraction_modes_and_mtime(jail, server):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        info = zipfile.ZipInfo("plugins/run.sh", date_time=(2020, 1, 2, 3, 4, 6))
        info.create_system = 3
        info.external_attr = (stat.S_IFREG | 0o750) << 16
        bundle.writestr(info, b"#!/bin/sh\n")
        bundle.writestr("empty/", b"")
        bundle.writestr("readme.txt", b"hello")
    extract(jail, server, "bundle.zip", data.getvalue())
    assert server.read("plugins/run.sh") == b"#!/bin/sh\n"
    info = os.lstat(server.path("plugins/run.sh"))
    assert stat.S_IMODE(info.st_mode) == 0o750 and (info.st_uid, info.st_gid) == (UID, GID)
    assert int(info.st_mtime) == int(time.mktime((2020, 1, 2, 3, 4, 6, 0, 0, -1)))
    assert os.path.isdir(server.path("empty"))
    assert server.read("readme.txt") == b"hello"


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz", "zst"])
def test_tar_family(jail, server, compression):
    raw = tar_bytes([regular("world/level.dat", b"level", mode=0o600, mtime=1_600_000_000),
                     (dict(name="world/region", type=tarfile.DIRTYPE), None)])
    if compression == "zst":
        data = zstd.compress(raw)
    else:
        data = tar_bytes([regular("world/level.dat", b"level", mode=0o600,
                                  mtime=1_600_000_000),
                          (dict(name="world/region", type=tarfile.DIRTYPE), None)], compression)
    extract(jail, server, "backup.bin", data)        # the name says nothing: content decides
    assert server.read("world/level.dat") == b"level"
    info = os.lstat(server.path("world/level.dat"))
    assert stat.S_IMODE(info.st_mode) == 0o600 and int(info.st_mtime) == 1_600_000_000
    assert os.path.isdir(server.path("world/region"))


def test_7z(jail, server, tmp_path):
    archive = tmp_path / "pack.7z"
    with py7zr.SevenZipFile(archive, "w") as bundle:
        bundle.writestr(b"one", "dir/one.txt")
        bundle.writestr(b"two" * 1000, "two.txt")
    extract(jail, server, "pack.7z", archive.read_bytes())
    assert server.read("dir/one.txt") == b"one"
    assert server.read("two.txt") == b"two" * 1000
    assert jail.quota.usage == 3 + 3000


@pytest.mark.parametrize("kind, compress, name", [
    ("gz", gzip.compress, "notes.txt.gz"),
    ("bz2", bz2.compress, "notes.txt.bz2"),
    ("xz", lzma.compress, "notes.txt.xz"),
    ("zst", zstd.compress, "notes.txt.zst"),
])
def test_single_compressed_file(jail, server, kind, compress, name):
    """A lone compressed file is written without its suffix (Wings does nothing: QUIRK)."""
    extract(jail, server, name, compress(b"just notes"))
    assert server.read("notes.txt") == b"just notes"


def test_single_compressed_file_without_its_suffix(jail, server):
    with pytest.raises(errors.UnknownArchiveFormat):
        extract(jail, server, "blob", gzip.compress(b"x"))


@pytest.mark.parametrize("content", [b"hello world\n", b"", b"PK\x03\x04broken", b"\x1f\x8bnope",
                                     b"Rar!\x1a\x07\x00" + b"garbage" * 50])
def test_unknown_or_damaged_archives_are_400(jail, server, content):
    """§18 test 43: not an archive → 400 ``The archive provided is in a format Wings does
    not understand.``; a damaged one → 400 too, never a 500."""
    server.put("hello.txt", content)
    with pytest.raises(errors.UnknownArchiveFormat) as caught:
        archives.decompress(jail, "/", "hello.txt")
    assert caught.value.status == 400
    if content in (b"hello world\n", b""):
        assert caught.value.public_message == \
            "The archive provided is in a format Wings does not understand."


def rar4(entries):
    """A RAR 4 archive of ``(name, data, st_mode, method)`` entries, data stored as is
    (method 0x30) so no compressor is needed to make one."""
    def block(body):
        return struct.pack("<H", zlib.crc32(body) & 0xFFFF) + body
    out = b"Rar!\x1a\x07\x00" + block(struct.pack("<BHH", 0x73, 0, 13) + bytes(6))
    for name, data, mode, method in entries:
        encoded = name.encode()
        header = struct.pack("<BHHIIBIIBBHI", 0x74, 0x8000, 32 + len(encoded), len(data),
                             len(data), 3, zlib.crc32(data), 0x50210000, 20, method,
                             len(encoded), mode)
        out += block(header + encoded) + data
    return out + block(struct.pack("<BHH", 0x7B, 0x4000, 7))


def test_rar_stored_entries(jail, server):
    """RAR is read by ``rarfile``; stored entries need no external program. Symlink entries
    are skipped like everywhere else."""
    server.freeze()
    data = rar4([("dir/a.txt", b"hello", stat.S_IFREG | 0o640, 0x30),
                 ("link", server.outside.encode(), stat.S_IFLNK | 0o777, 0x30)])
    extract(jail, server, "pack.rar", data)
    assert server.read("dir/a.txt") == b"hello"
    assert stat.S_IMODE(os.lstat(server.path("dir/a.txt")).st_mode) == 0o640
    assert listing(server) == ["dir/a.txt", "pack.rar"]


def test_rar_slip_is_refused(jail, server):
    server.freeze()
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, server, "slip.rar", rar4([("../evil.txt", b"x", stat.S_IFREG | 0o644,
                                                 0x30)]))
    assert listing(server) == ["slip.rar"]


def test_rar_compressed_entries_without_a_tool(jail, server, monkeypatch):
    """Compressed RAR entries need unrar (or unar, 7z, bsdtar); without one: 400 with a
    clear message, and nothing extracted."""
    def no_tool():
        raise rarfile.RarCannotExec("Cannot find working tool")
    monkeypatch.setattr(rarfile, "tool_setup", no_tool)
    data = rar4([("stored.txt", b"s", stat.S_IFREG | 0o644, 0x30),
                 ("packed.txt", b"p", stat.S_IFREG | 0o644, 0x33)])
    with pytest.raises(errors.UnknownArchiveFormat) as caught:
        extract(jail, server, "pack.rar", data)
    assert caught.value.status == 400
    assert "unrar" in caught.value.public_message
    assert listing(server) == ["pack.rar"]


def test_missing_archive_and_directory(jail, server):
    with pytest.raises(errors.FileNotFound):
        archives.decompress(jail, "/", "nope.zip")
    os.makedirs(server.path("dir"))
    with pytest.raises(errors.IsADirectory):
        archives.decompress(jail, "/", "dir")


def test_extraction_into_a_subdirectory_and_overwrite(jail, server):
    server.put("sub/ok.txt", b"old")
    extract(jail, server, "a.zip", zip_bytes([("ok.txt", "new"), ("../up.txt", "up")]),
            root="/sub")
    assert server.read("sub/ok.txt") == b"new"
    assert server.read("up.txt") == b"up"         # ".." that stays inside is allowed (§9.9)


# -- decompress: attacks ----------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["../../evil.txt", "../outside/evil.txt", "a/../../evil.txt",
                                   "../../../../../../tmp/evil.txt"])
def test_zip_slip_is_refused(jail, server, entry):
    """§18 test 44: nothing is created outside the root; the entry aborts the extraction."""
    server.freeze()
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, server, "slip.zip", zip_bytes([(entry, "pwned")]))
    assert listing(server) == ["slip.zip"]


def test_zip_slip_in_tar_streams(jail, server):
    server.freeze()
    data = tar_bytes([regular("fine.txt", b"fine"), regular("../evil.txt", b"pwned")], "gz")
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, server, "slip.tgz", data)
    assert listing(server) == ["fine.txt", "slip.tgz"]


def test_absolute_entry_names_land_inside(jail, server):
    """An absolute name is joined to the destination, as tar and Wings' join do."""
    server.freeze()
    extract(jail, server, "abs.zip", zip_bytes([("/etc/evil.txt", "x")]))
    assert server.read("etc/evil.txt") == b"x"


def test_tar_symlink_entries_are_skipped(jail, server):
    """A symlink entry pointing out, then a file written through it: the link is never
    created, the file lands in a real directory inside the root."""
    server.freeze()
    data = tar_bytes([
        (dict(name="link", type=tarfile.SYMTYPE, linkname=server.outside), None),
        (dict(name="rel", type=tarfile.SYMTYPE, linkname="../outside/etc"), None),
        regular("link/pwned.txt", b"pwned"),
        regular("rel/passwd", b"pwned"),
    ])
    extract(jail, server, "links.tar", data)
    assert not os.path.islink(server.path("link")) and not os.path.islink(server.path("rel"))
    assert listing(server) == ["link/pwned.txt", "links.tar", "rel/passwd"]


def test_tar_symlink_entry_meets_an_existing_link(jail, server):
    """The container planted ``out -> outside``; an archive writing ``out/x`` is refused."""
    server.link("out", "../outside")
    server.freeze()
    with pytest.raises(errors.PathOutsideRoot):
        extract(jail, server, "x.tar", tar_bytes([regular("out/etc/passwd", b"pwned")]))


def test_tar_hard_links(jail, server):
    """A hard link becomes a copy of the named file when it lies inside; one naming a file
    outside (absolute or climbing) is skipped, never linked."""
    server.freeze()
    data = tar_bytes([
        regular("a.txt", b"alpha"),
        (dict(name="same.txt", type=tarfile.LNKTYPE, linkname="a.txt"), None),
        (dict(name="h_abs", type=tarfile.LNKTYPE,
              linkname=os.path.join(server.outside, "etc/passwd")), None),
        (dict(name="h_rel", type=tarfile.LNKTYPE, linkname="../outside/etc/passwd"), None),
    ])
    extract(jail, server, "links.tar", data)
    assert server.read("same.txt") == b"alpha"
    assert os.stat(server.path("same.txt")).st_nlink == 1
    assert listing(server) == ["a.txt", "links.tar", "same.txt"]


def test_device_and_fifo_entries_are_skipped(jail, server):
    server.freeze()
    data = tar_bytes([
        (dict(name="sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0), None),
        (dict(name="null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None),
        (dict(name="pipe", type=tarfile.FIFOTYPE), None),
        regular("ok.txt", b"ok"),
    ])
    extract(jail, server, "dev.tar", data)
    assert listing(server) == ["dev.tar", "ok.txt"]


def test_zip_symlink_entries_are_skipped(jail, server):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(info, server.outside)
        bundle.writestr("ok.txt", "ok")
    server.freeze()
    extract(jail, server, "l.zip", data.getvalue())
    assert listing(server) == ["l.zip", "ok.txt"]


def test_7z_symlink_entries_are_skipped(jail, server, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "ok.txt").write_bytes(b"ok")
    (source / "link").symlink_to(server.outside)
    archive = tmp_path / "l.7z"
    with py7zr.SevenZipFile(archive, "w", dereference=False) as bundle:
        bundle.write(source / "ok.txt", "ok.txt")
        bundle.write(source / "link", "link")
    server.freeze()
    extract(jail, server, "l.7z", archive.read_bytes())
    assert listing(server) == ["l.7z", "ok.txt"]


def test_denylisted_entries_are_silently_skipped(make_jail, server):
    """§17 REQ 7 / §18 test 44: ``config.yml`` absent, ``ok.txt`` present, success."""
    jail = make_jail(denylist=["config.yml", "/locked"])
    extract(jail, server, "d.zip", zip_bytes([("config.yml", "x"), ("ok.txt", "ok"),
                                               ("locked/a", "x"), ("sub/config.yml", "x")]))
    extract(jail, server, "d.tar", tar_bytes([regular("config.yml", b"x"),
                                              regular("fine.txt", b"f")]))
    assert listing(server) == ["d.tar", "d.zip", "fine.txt", "ok.txt"]


def bomb_tar_gz(size):
    """A small tar.gz holding a small file then ``size`` zero bytes."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as bundle:
        first = tarfile.TarInfo("first.txt")
        first.size = 5
        bundle.addfile(first, io.BytesIO(b"first"))
        member = tarfile.TarInfo("bomb.bin")
        member.size = size
        bundle.addfile(member, io.BytesIO(bytes(size)))
    return data.getvalue()


def test_decompression_bomb_stops_at_the_quota(make_jail, server):
    """peers.md (decompression bombs): a 64 MiB member in a ~64 KiB tar.gz against a 1 MiB
    quota stops once the limit is reached: the partial file is removed, what was
    extracted before stays, and the usage counter is exact."""
    jail = make_jail(limit=MIB)
    data = bomb_tar_gz(64 * MIB)
    assert len(data) < 200 * 1024
    jail.write("bomb.tgz", body(data), len(data))
    with pytest.raises(errors.NotEnoughDisk):
        archives.decompress(jail, "/", "bomb.tgz")
    assert listing(server) == ["bomb.tgz", "first.txt"]
    assert jail.quota.usage == len(data) + 5 == jail.disk_usage()


def test_zip_bomb_refused_by_the_declared_sizes(make_jail, server):
    """§9.9: with a limit, the declared uncompressed total is checked before extracting."""
    jail = make_jail(limit=MIB)
    data = zip_bytes([("a.txt", "a"), ("zeros.bin", bytes(8 * MIB))])
    jail.write("z.zip", body(data), len(data))
    with pytest.raises(errors.NotEnoughDisk):
        archives.decompress(jail, "/", "z.zip")
    assert listing(server) == ["z.zip"]
    assert jail.quota.usage == len(data)


def test_7z_bomb_stops_at_the_quota(make_jail, server, tmp_path, monkeypatch):
    """Even when the pre-check is fooled, the writes stop at the limit."""
    archive = tmp_path / "b.7z"
    with py7zr.SevenZipFile(archive, "w") as bundle:
        bundle.writestr(bytes(8 * MIB), "zeros.bin")
    jail = make_jail(limit=MIB)
    monkeypatch.setattr(archives._Extraction, "prepare", lambda self, sizes: None)
    jail.write("b.7z", body(archive.read_bytes()))
    with pytest.raises(errors.NotEnoughDisk):
        archives.decompress(jail, "/", "b.7z")
    assert listing(server) == ["b.7z"]
    assert jail.quota.usage == archive.stat().st_size


@pytest.mark.parametrize("kind", ["tgz", "zip", "7z", "tar"])
def test_damaged_archives_are_never_a_500(make_jail, server, tmp_path, kind):
    """Truncated or bit-flipped archives end in success or a 4xx, never a 500 (§17 [REC]:
    no 500 for a user's mistake) and never an exception that is not a WingspanError."""
    if kind == "7z":
        path = tmp_path / "g.7z"
        with py7zr.SevenZipFile(path, "w") as bundle:
            bundle.writestr(b"text " * 300, "a.txt")
        data = path.read_bytes()
    elif kind == "zip":
        data = zip_bytes([("a/b.txt", "text " * 300), ("c.txt", "c")])
    else:
        data = tar_bytes([regular("a/b.txt", b"text " * 300), regular("c.txt", b"c")],
                         "gz" if kind == "tgz" else "")
    damaged = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 23))]
    for position in range(0, len(data), max(1, len(data) // 17)):
        flipped = bytearray(data)
        flipped[position] ^= 0xA5
        damaged.append(bytes(flipped))
    for index, variant in enumerate(damaged):
        jail = make_jail(limit=MIB)
        server.put("v%d.bin" % index, variant)
        try:
            archives.decompress(jail, "/", "v%d.bin" % index)
        except errors.WingspanError as e:
            assert e.status < 500, (index, e.detail)


def test_the_daemons_processes_start_without_the_7z_and_rar_libraries():
    """They are imported when such an archive comes (``wingspan.filesystem.sevenzip``,
    ``rar``): py7zr's crypto stack cost each process about 65 ms of its start."""
    check = ("import sys, api.server, sftp.server, supervisor.manager, worker.runtime; "
             "print(sorted({'py7zr', 'rarfile'} & set(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert (run.returncode, run.stdout.strip()) == (0, "[]"), run.stderr
