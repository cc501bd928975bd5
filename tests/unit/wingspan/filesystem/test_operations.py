"""What each jail operation does when used as intended (wings-api.md §5, wings-behaviour.md §9)."""

import json
import os
import stat

import pytest

from wingspan import errors
from wingspan.filesystem import Jail, Quota, lchown_tree
from wingspan.filesystem.mime import SniffCache

from .conftest import GID, UID, body, listed


class FailingBody:
    """A request body that breaks after some bytes (a client hanging up mid-upload)."""

    def __init__(self, data):
        self.data = data

    def read(self, size):
        if self.data:
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk
        raise ConnectionResetError("client went away")


# -- write (§5.4, §9.4) -----------------------------------------------------------------

def test_write_creates_parents_file_mode_and_ownership(jail, server):
    """§5.4: parents 0755, file 0644, both owned by the configured uid/gid."""
    assert jail.write("/a/b/c.txt", body(b"hello"), 5) == 5
    assert server.read("a/b/c.txt") == b"hello"
    for name, mode in (("a", 0o755), ("a/b", 0o755), ("a/b/c.txt", 0o644)):
        info = os.lstat(server.path(name))
        assert stat.S_IMODE(info.st_mode) == mode
        assert (info.st_uid, info.st_gid) == (UID, GID)


def test_write_copies_at_most_length_and_a_short_body_makes_a_short_file(jail, server):
    jail.write("f", body(b"0123456789"), 4)
    assert server.read("f") == b"0123"
    jail.write("f", body(b"ab"), 10)
    assert server.read("f") == b"ab"
    jail.write("f", body(b""), 0)
    assert server.read("f") == b""


def test_write_keeps_the_mode_of_an_existing_file(jail, server):
    server.put("start.sh", b"old", 0o750)
    jail.write("start.sh", body(b"new"), 3)
    assert stat.S_IMODE(os.stat(server.path("start.sh")).st_mode) == 0o750


def test_write_onto_a_directory_or_the_root(jail, server):
    """§5.4: a directory target → 400 ``file is a directory``."""
    os.makedirs(server.path("dir"))
    for target in ("dir", "", "/"):
        with pytest.raises(errors.IsADirectory) as caught:
            jail.write(target, body(b"x"), 1)
        assert caught.value.status == 400


def test_write_through_a_file_used_as_a_directory(jail, server):
    server.put("file", b"x")
    with pytest.raises(errors.NotADirectory) as caught:
        jail.write("file/child", body(b"x"))
    assert caught.value.status == 400


def test_failed_write_leaves_the_old_file_and_no_temporary(jail, server):
    server.put("world.dat", b"precious")
    with pytest.raises(ConnectionResetError):
        jail.write("world.dat", FailingBody(b"partial"))
    assert server.read("world.dat") == b"precious"
    assert server.temp_files() == []


def test_write_refuses_special_files(jail, server):
    os.mkfifo(server.path("pipe"))
    with pytest.raises(errors.NotARegularFile):
        jail.write("pipe", body(b"x"), 1)


def test_write_bytes_is_the_daemons_own_edit(make_jail, server):
    """Egg config edits bypass the denylist and the quota pre-check (§9.4 legacy write)."""
    jail = make_jail(denylist=["server.properties"], limit=1)
    jail.write_bytes("server.properties", b"motd=hi\n")
    assert server.read("server.properties") == b"motd=hi\n"
    assert jail.quota.usage == 8


def test_read_bytes(jail, server):
    server.put("cfg.json", b"{}")
    assert jail.read_bytes("cfg.json", 10) == b"{}"
    assert jail.read_bytes("missing.json", 10) is None
    assert jail.read_bytes("missing/dir/x.json", 10) is None
    with pytest.raises(errors.FileTooLarge):
        jail.read_bytes("cfg.json", 1)


# -- read (§5.3) ------------------------------------------------------------------------

def test_open_read_is_capped_at_the_size_seen_at_open(jail, server):
    server.put("log.txt", b"12345")
    with jail.open_read("/log.txt") as stream:
        with open(server.path("log.txt"), "ab") as grow:
            grow.write(b"67890")
        assert stream.size == 5
        assert stream.name == "log.txt"
        assert stream.mime == "text/plain; charset=utf-8"
        assert b"".join(stream) == b"12345"


def test_open_read_of_a_directory_fifo_or_device(jail, server):
    """§5.3 [REC]: a directory → 400; a FIFO or device node is never opened (no hang, no
    read of a host device made with mknod inside the container)."""
    os.makedirs(server.path("dir"))
    os.mkfifo(server.path("pipe"))
    os.mknod(server.path("zero"), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    with pytest.raises(errors.IsADirectory):
        jail.open_read("dir")
    with pytest.raises(errors.IsADirectory):
        jail.open_read("/")
    for special in ("pipe", "zero"):
        with pytest.raises(errors.NotARegularFile) as caught:
            jail.open_read(special)
        assert caught.value.status == 400


def test_missing_file_is_404(jail):
    for attempt in (lambda: jail.open_read("nope.txt"), lambda: jail.stat("nope/x"),
                    lambda: listed(jail, "/does-not-exist")):
        with pytest.raises(errors.FileNotFound) as caught:
            attempt()
        assert caught.value.status == 404
        assert caught.value.public_message == "The requested resources was not found on the system."


# -- stat and list (§5.1, §5.2, §9.5) ----------------------------------------------------

def test_list_directory_entry_shape_and_order(jail, server):
    """§5.2 [REC]: directories first, then files, each in byte order."""
    server.put("b.txt", b"b")
    server.put("A.txt", b"a")
    server.put("zdir/x", b"")
    server.put("adir/x", b"")
    server.link("link", "b.txt")
    texts = listed(jail, "/")
    entries = [json.loads(text) for text in texts]
    assert [e["name"] for e in entries] == ["adir", "zdir", "A.txt", "b.txt", "link"]
    assert texts[0] == json.dumps(entries[0], separators=(",", ":"))  # keys in §5.1 order
    assert set(entries[0]) == {"name", "created", "modified", "mode", "mode_bits", "size",
                               "directory", "file", "symlink", "mime"}
    adir, link = entries[0], entries[-1]
    assert (adir["directory"], adir["file"], adir["mime"]) == (True, False, "inode/directory")
    assert adir["mode"].startswith("d")
    assert link["mode"].startswith("L") and link["symlink"] is True and link["file"] is True
    assert link["mime"] == "application/octet-stream"


def test_list_directory_sorts_by_bytes_even_with_undecodable_names(jail, server):
    """Byte order: a name holding the raw byte 0x80 sorts before "é" (0xc3 0xa9), though
    as a Python string (U+DC80) it would sort after."""
    names = ["\u00e9", "\udc80raw", "Z", "z", "\u2028"]
    for name in names:
        server.put(name, b"x")
    names_listed = [json.loads(text)["name"] for text in listed(jail, "/")]
    assert names_listed == ["Z", "z", "\ufffdraw", "\u00e9", "\u2028"]


def test_list_directory_of_a_subdirectory_and_empty(jail, server):
    server.put("a/b/c.txt", b"c")
    os.makedirs(server.path("empty"))
    assert [json.loads(e)["name"] for e in listed(jail, "a/b")] == ["c.txt"]
    assert listed(jail, "/empty") == []
    assert listed(jail, "") != []


def test_list_directory_of_a_file_is_not_found(jail, server):
    server.put("file.txt", b"x")
    with pytest.raises(errors.FileNotFound):
        listed(jail, "file.txt")


def test_a_listing_can_be_stated_in_batches_by_another_jail(jail, server):
    """The API reads and sorts the names; the worker's jail (scan=False) states any batch of
    them, with the same texts the API would produce."""
    os.makedirs(server.path("many/sub"))
    for index in range(30):
        server.put("many/f%03d" % index, b"%d" % index)
    with jail.open_listing("many") as listing:
        whole = listing.entries(listing.names)
        assert [json.loads(text)["name"] for text in whole] == ["sub"] + [
            "f%03d" % index for index in range(30)]
        other = Jail(server.root, UID, GID, quota=Quota())
        with other.open_listing("many", scan=False) as helper:
            assert helper.names == []
            assert helper.entries(listing.names[10:20]) == whole[10:20]
        os.remove(server.path("many/f005"))  # removed after the scan: left out
        assert [json.loads(text)["name"] for text in listing.entries(listing.names[5:8])] == [
            "f004", "f006"]


@pytest.mark.parametrize("name", ["../outside", "sub/x", "", ".", "..", "nul\0byte"])
def test_a_listing_refuses_names_that_are_not_entries(jail, server, name):
    server.put("sub/x", b"x")
    with jail.open_listing("/", scan=False) as listing:
        with pytest.raises(errors.BadRequest):
            listing.entries(["sub", name])


def test_names_are_escaped_in_listings(jail, server):
    names = ['quote"d', "back\\slash", "tab\tname", "caf\u00e9 \u2028 <b>", "\udcff-raw"]
    for name in names:
        server.put(name, b"x")
    texts = listed(jail, "/")
    names_listed = [json.loads(text)["name"] for text in texts]
    # a byte that is not UTF-8 is written as Go writes it: U+FFFD, never a lone surrogate
    assert sorted(names_listed) == sorted(names[:-1] + ["\ufffd-raw"])
    assert all(text.encode("ascii") for text in texts)


def test_relisting_takes_mime_types_from_the_sniff_cache(server):
    cache = SniffCache(100)
    jail = Jail(server.root, UID, GID, quota=Quota(), sniff_cache=cache)
    server.put("data.json", b'{"a": 1}')
    server.put("empty", b"")
    assert [json.loads(e)["mime"] for e in listed(jail, "/")] == [
        "application/json", "text/plain; charset=utf-8"]
    assert len(cache) == 1  # empty files are not worth a cache entry
    os.chmod(server.path("data.json"), 0)  # a re-read would now fail...
    assert json.loads(listed(jail, "/")[0])["mime"] == "application/json"
    with open(server.path("data.json"), "wb") as f:  # ...but a write is a new identity
        f.write(b"plain words")
    os.chmod(server.path("data.json"), 0o644)
    assert json.loads(listed(jail, "/")[0])["mime"] == "text/plain; charset=utf-8"


def test_listing_leaves_access_times_alone(jail, server):
    server.put("log.txt", b"line\n")
    server.put("control.txt", b"line\n")
    for name in ("log.txt", "control.txt"):  # relatime updates an atime older than mtime
        os.utime(server.path(name), (1_000_000, 2_000_000))
    with open(server.path("control.txt"), "rb") as f:
        f.read()
    if os.stat(server.path("control.txt")).st_atime == 1_000_000:
        pytest.skip("this mount never updates access times")
    assert [json.loads(e)["mime"] for e in listed(jail, "/")][1] == (
        "text/plain; charset=utf-8")
    assert os.stat(server.path("log.txt")).st_atime == 1_000_000


def test_sniff_cache_drops_its_oldest_entries():
    cache = SniffCache(2)
    infos = [os.stat(path) for path in ("/", "/etc", "/usr")]
    for info in infos:
        assert cache.sniffed(info, lambda: "x") == "x"
    assert len(cache) == 2
    assert cache.sniffed(infos[0], lambda: "sniffed again") == "sniffed again"
    assert cache.sniffed(infos[2], lambda: "sniffed again") == "x"
    disabled = SniffCache(0)
    disabled.sniffed(infos[0], lambda: "x")
    assert len(disabled) == 0
    assert disabled.sniffed(infos[0], lambda: "sniffed again") == "sniffed again"


def test_stat_of_a_file_and_of_the_root(jail, server):
    server.put("hello.txt", b"hello", 0o644)
    info = jail.stat("/hello.txt")
    assert info["name"] == "hello.txt" and info["size"] == 5
    assert (info["mode"], info["mode_bits"]) == ("-rw-r--r--", "644")
    assert info["mime"] == "text/plain; charset=utf-8"
    assert jail.stat("/")["directory"] is True


# -- copy (§5.6, §9.6) -------------------------------------------------------------------

def test_copy_names_mode_and_ownership(jail, server):
    """§18 test 38: three copies are ``hello copy.txt``, ``hello copy 1.txt``,
    ``hello copy 2.txt``; ``x.tar.gz`` → ``x copy.tar.gz``."""
    server.put("dir/hello.txt", b"hello", 0o640)
    server.put("x.tar.gz", b"\x1f\x8b")
    made = [jail.copy("/dir/hello.txt") for _ in range(3)]
    assert made == ["/dir/hello copy.txt", "/dir/hello copy 1.txt", "/dir/hello copy 2.txt"]
    assert jail.copy("x.tar.gz") == "/x copy.tar.gz"
    info = os.lstat(server.path("dir/hello copy 2.txt"))
    assert stat.S_IMODE(info.st_mode) == 0o640 and (info.st_uid, info.st_gid) == (UID, GID)
    assert server.read("dir/hello copy 2.txt") == b"hello"
    assert jail.quota.usage == 3 * 5 + 2


def test_copy_of_directories_and_specials_is_not_found(jail, server):
    os.makedirs(server.path("dir"))
    os.mkfifo(server.path("pipe"))
    for name in ("dir", "pipe", "missing", "/"):
        with pytest.raises(errors.FileNotFound):
            jail.copy(name)


def test_copy_skips_a_name_taken_by_a_symlink(jail, server):
    server.put("a.txt", b"a")
    server.link("a copy.txt", "../outside/etc/passwd")
    server.freeze()
    assert jail.copy("a.txt") == "/a copy 1.txt"


# -- rename (§5.5, §9.7) -----------------------------------------------------------------

def test_rename_creates_target_parents(jail, server):
    server.put("hello.txt", b"hi")
    jail.rename("/", "hello.txt", "new/dir/x.txt")
    assert server.read("new/dir/x.txt") == b"hi"
    assert not os.path.exists(server.path("hello.txt"))


def test_rename_refuses_an_existing_target(jail, server):
    """§5.5: ``Cannot move or rename file, destination already exists.`` (400)."""
    server.put("a.txt", b"a")
    server.put("b.txt", b"b")
    os.makedirs(server.path("d"))
    for target in ("b.txt", "d"):
        with pytest.raises(errors.FileExists) as caught:
            jail.rename("/", "a.txt", target)
        assert caught.value.status == 400
        assert caught.value.public_message == \
            "Cannot move or rename file, destination already exists."
    assert server.read("b.txt") == b"b"


def test_rename_missing_source_and_same_path_are_no_ops(jail, server):
    jail.rename("/", "missing.txt", "other.txt")
    jail.rename("/", "missing/deeper.txt", "other.txt")
    server.put("same.txt", b"s")
    jail.rename("/", "same.txt", "./same.txt")
    assert not os.path.exists(server.path("other.txt"))
    assert server.read("same.txt") == b"s"


def test_rename_the_root_or_into_itself(jail, server):
    os.makedirs(server.path("d/e"))
    with pytest.raises(errors.PathOutsideRoot):
        jail.rename("/", "/", "x")
    with pytest.raises(errors.BadRequest):
        jail.rename("/", "d", "d/e/inside")


# -- mkdir, delete, chmod, truncate (§5.7, §5.8, §5.11, §9.7) ----------------------------

def test_mkdir_is_mkdir_p(jail, server):
    """§18 test 39: ``{"name":"d","path":"/p/q"}`` makes ``/p/q/d``; repeating is fine."""
    jail.mkdir("d", "/p/q")
    jail.mkdir("d", "/p/q")
    assert os.path.isdir(server.path("p/q/d"))
    info = os.lstat(server.path("p/q"))
    assert stat.S_IMODE(info.st_mode) == 0o755 and info.st_uid == UID


def test_mkdir_through_a_file(jail, server):
    """§5.7 intended: 400 ``Part of the path being created is not a directory (ENOTDIR).``"""
    server.put("file", b"x")
    with pytest.raises(errors.NotADirectory) as caught:
        jail.mkdir("d", "/file")
    assert caught.value.status == 400
    assert caught.value.public_message == \
        "Part of the path being created is not a directory (ENOTDIR)."


def test_delete_is_recursive_and_gives_the_quota_back(make_jail, server):
    jail = make_jail(limit=1000)
    jail.write("tree/a/b.txt", body(b"12345"))
    jail.write("tree/c.txt", body(b"123"))
    jail.write("keep.txt", body(b"12"))
    assert jail.quota.usage == 10
    jail.delete("/", ["tree", "missing", "keep.txt/nothing"])
    assert not os.path.exists(server.path("tree"))
    assert jail.quota.usage == 2


def writes_into_while_removed(monkeypatch, server, directory, times):
    """Make the first ``times`` removals of ``directory`` meet a file written into it just
    before (a game or another request writing while the delete runs)."""
    real_rmdir = os.rmdir
    written = []

    def rmdir(name, *, dir_fd=None):
        if name == directory and len(written) < times:
            written.append(name)
            server.put("tree/late-%d.txt" % len(written), b"1234567")
        return real_rmdir(name, dir_fd=dir_fd)

    monkeypatch.setattr(os, "rmdir", rmdir)
    return written


def test_a_directory_written_into_while_deleted_is_emptied_again(make_jail, server,
                                                                   monkeypatch):
    jail = make_jail(limit=1000)
    jail.write("tree/a.txt", body(b"123"))
    written = writes_into_while_removed(monkeypatch, server, "tree", times=2)
    jail.delete("/", ["tree"])
    assert written == ["tree", "tree"]
    assert not os.path.exists(server.path("tree"))
    assert jail.quota.usage == 0


def test_a_directory_that_keeps_being_written_is_a_409(make_jail, server, monkeypatch):
    jail = make_jail(limit=1000)
    jail.write("tree/a.txt", body(b"123"))
    writes_into_while_removed(monkeypatch, server, "tree", times=100)
    with pytest.raises(errors.DirectoryBeingWritten) as caught:
        jail.delete("/", ["tree"])
    assert caught.value.status == 409


def test_delete_relative_to_a_root(jail, server):
    server.put("sub/a.txt", b"a")
    server.put("a.txt", b"a")
    jail.delete("/sub", ["a.txt"])
    assert not os.path.exists(server.path("sub/a.txt"))
    assert os.path.exists(server.path("a.txt"))


def test_chmod_applies_each_pair_masked(jail, server):
    """§5.11 [REQ]: each pair to its own file; [REC] bits above 0777 dropped."""
    server.put("a.sh", b"")
    server.put("b.sh", b"")
    jail.chmod("/", [{"file": "a.sh", "mode": "755"}, {"file": "b.sh", "mode": "4600"},
                     {"file": "missing", "mode": "700"}])
    assert stat.S_IMODE(os.stat(server.path("a.sh")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(server.path("b.sh")).st_mode) == 0o600
    assert jail.stat("a.sh")["mode_bits"] == "755"


@pytest.mark.parametrize("mode", ["abc", "", "8", "-1", "0x1ff", None, 1.5, "777777777777"])
def test_chmod_invalid_mode(jail, server, mode):
    """§5.11: ``{"error":"Invalid file mode."}`` (400), and nothing applied."""
    server.put("a.sh", b"", 0o644)
    with pytest.raises(errors.BadRequest) as caught:
        jail.chmod("/", [{"file": "a.sh", "mode": "700"}, {"file": "a.sh", "mode": mode}])
    assert caught.value.public_message == "Invalid file mode."
    assert caught.value.status == 400
    assert stat.S_IMODE(os.stat(server.path("a.sh")).st_mode) == 0o644


def test_truncate_empties_the_root(make_jail, server):
    jail = make_jail(limit=100)
    jail.write("a/b.txt", body(b"123"))
    server.link("l", "../outside")
    jail.truncate()
    assert os.listdir(server.root) == []
    assert jail.quota.usage == 0
    assert os.listdir(server.outside) != []


def test_chown_tree_never_follows_links(server):
    """§9.3: lchown of the whole root (check_permissions_on_boot)."""
    server.put("a/b.txt", b"x")
    server.link("a/out", "../../outside/etc/passwd")
    server.freeze()
    assert lchown_tree(server.root, UID, GID) == 3
    for name in ("", "a", "a/b.txt", "a/out"):
        info = os.lstat(server.path(name))
        assert (info.st_uid, info.st_gid) == (UID, GID)
    assert lchown_tree(server.root, UID, GID) == 0


def test_a_root_that_is_missing_or_a_symlink_is_not_chowned(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for root in ("nope", "link"):
        with pytest.raises(errors.FileNotFound):
            lchown_tree(str(tmp_path / root), UID, GID)
    assert os.stat(tmp_path / "elsewhere").st_uid == 0


def test_a_missing_root_is_not_found(tmp_path):
    jail = Jail(str(tmp_path / "nope"), UID, GID, quota=Quota())
    with pytest.raises(errors.FileNotFound):
        listed(jail, "/")
