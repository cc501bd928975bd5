"""Every files route as the Panel drives it: status codes, bodies and effects on disk
(wings-api.md §5.1-§5.12, §6.3, in their [REC] hardened form; test ideas 24-49 of §18).

One daemon serves the module; its server "main" has the egg denylist of §18 #27 and a
512 MiB disk limit. Files are arranged on the host directly where the route under test is
not the one that would create them.
"""

import gzip
import io
import os
import stat
import uuid as uuidlib
import zipfile

import pytest

from api.listing import BATCH as LISTING_BATCH
from tests.integration.files.helpers import (
    ARCHIVE_NAME,
    BAD_URL_PREFIX,
    DENYLISTED,
    GENERIC,
    INVALID_MODE,
    IS_DIRECTORY,
    MISSING_LENGTH,
    NAME_TOO_LONG,
    NO_CHMOD,
    NO_COMPRESS,
    NO_DELETE,
    NO_RENAME,
    NOT_A_DIRECTORY,
    NOT_REGULAR,
    RENAME_EXISTS,
    STAT_KEYS,
    UNKNOWN_ARCHIVE,
    WRITE_OVER_DIRECTORY,
    assert_captured,
    assert_handler_error,
    assert_not_found,
    members_of,
    parse_time,
    tar_bytes,
    tar_file,
    zip_bytes,
)
from tests.support.daemon import CONTAINER_GID, CONTAINER_UID

SERVERS = {"main": {"file_denylist": ["config.yml", "/locked", "*.jar"]}}
JAN_2020 = 1577836800


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def owned_by_server_user(path):
    info = os.lstat(path)
    return (info.st_uid, info.st_gid) == (CONTAINER_UID, CONTAINER_GID)


def listing(node, directory="/"):
    response = node.daemon.list_dir(node.uuid(), directory)
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()}


# -- §5.2 / §5.1 list-directory ------------------------------------------------------------

def test_list_empty_root_is_an_empty_array(node):
    """§5.2: an empty directory lists as ``[]``, JSON."""
    response = node.daemon.list_dir(node.uuid(), "/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == []


def test_list_without_directory_lists_the_root(node):
    """§5.2: a missing or empty ``directory`` is the root."""
    node.put("here.txt", b"x")
    for path in ("/api/servers/%s/files/list-directory" % node.uuid(),
                 "/api/servers/%s/files/list-directory?directory=" % node.uuid()):
        response = node.daemon.get(path)
        assert response.status_code == 200
        assert [e["name"] for e in response.json()] == ["here.txt"]


def test_a_listing_of_several_batches_is_one_json_array(node):
    """A big directory streams in batches shared with the server's worker: the document is
    still one valid array, every entry once, in order; listing it again (MIME types
    cached) gives the same document, and the worker answered every time."""
    count = LISTING_BATCH * 2 + 7
    for index in range(count):
        node.put("big/f%05d.txt" % index, b"line %d\n" % index)
    node.put("big/data.json", b'{"a": [1, 2]}')
    first = node.daemon.list_dir(node.uuid(), "/big")
    assert first.status_code == 200
    entries = first.json()
    assert [e["name"] for e in entries] == ["data.json"] + ["f%05d.txt" % i for i in range(count)]
    assert entries[0]["mime"] == "application/json"
    assert {e["mime"] for e in entries[1:]} == {"text/plain; charset=utf-8"}
    assert node.daemon.list_dir(node.uuid(), "/big").content == first.content
    with open(node.daemon.log_path, errors="replace") as f:
        assert "without its worker" not in f.read()


def test_stat_object_of_a_file_and_a_directory(node):
    """§5.1, §18 #35: keys, mode strings, sizes, times (ctime/mtime, RFC 3339), mime."""
    u = node.uuid()
    assert node.daemon.write(u, "/hello.txt", b"hello").status_code == 204
    assert node.daemon.mkdir(u, "a", "/").status_code == 204
    entries = listing(node)
    assert set(entries) == {"hello.txt", "a"}

    hello = entries["hello.txt"]
    assert set(hello) == set(STAT_KEYS)
    info = os.lstat(node.host("hello.txt"))
    assert hello["name"] == "hello.txt"
    assert hello["mode"] == "-rw-r--r--"
    assert hello["mode_bits"] == "644"
    assert hello["size"] == 5
    assert (hello["directory"], hello["file"], hello["symlink"]) == (False, True, False)
    assert hello["mime"] == "text/plain; charset=utf-8"
    assert parse_time(hello["modified"]).timestamp() == int(info.st_mtime)
    assert parse_time(hello["created"]).timestamp() == int(info.st_ctime)

    directory = entries["a"]
    assert set(directory) == set(STAT_KEYS)
    assert directory["mode"] == "drwxr-xr-x"
    assert directory["mode_bits"] == "755"
    assert directory["size"] == os.lstat(node.host("a")).st_size
    assert (directory["directory"], directory["file"], directory["symlink"]) == (True, False,
                                                                                 False)
    assert directory["mime"] == "inode/directory"
    parse_time(directory["created"])
    parse_time(directory["modified"])


def test_nested_write_lists_parents_as_directories(node):
    """§18 #26: parents are created and list as directories."""
    u = node.uuid()
    assert node.daemon.write(u, "/a/b/c.txt", b"deep").status_code == 204
    assert listing(node, "/a/b")["c.txt"]["size"] == 4
    assert listing(node, "/a")["b"]["directory"] is True
    assert listing(node)["a"]["directory"] is True


def test_mime_types_are_sniffed_from_content(node):
    """§5.1 ``mime``: content-sniffed for regular files, not taken from the name."""
    node.put("data.json", b'{"a": 1, "b": [true, null]}')
    node.put("blob.gz", gzip.compress(b"x" * 200))
    node.put("bundle.zip", zip_bytes([("x.txt", b"x")]))
    node.put("noise.txt", bytes(range(256)) * 8)
    entries = listing(node)
    assert entries["data.json"]["mime"] == "application/json"
    assert entries["blob.gz"]["mime"] == "application/gzip"
    assert entries["bundle.zip"]["mime"] == "application/zip"
    assert entries["noise.txt"]["mime"] == "application/octet-stream"


def test_special_modes_render_like_go(node):
    """§5.1 ``mode``: Go ``FileMode.String()`` type letters; ``mode_bits`` only 0777."""
    os.chmod(node.put("suid", b"#!/bin/sh\n"), 0o4755)
    os.mkdir(node.host("sticky"))
    os.chmod(node.host("sticky"), 0o1777)
    os.mkfifo(node.host("pipe"))
    os.chmod(node.host("pipe"), 0o644)
    os.chmod(node.put("none", b""), 0)
    entries = listing(node)
    assert (entries["suid"]["mode"], entries["suid"]["mode_bits"]) == ("urwxr-xr-x", "755")
    assert (entries["sticky"]["mode"], entries["sticky"]["mode_bits"]) == ("dtrwxrwxrwx", "777")
    assert (entries["pipe"]["mode"], entries["pipe"]["mode_bits"]) == ("prw-r--r--", "644")
    assert entries["pipe"]["mime"] == "application/octet-stream"
    assert entries["pipe"]["file"] is True
    assert (entries["none"]["mode"], entries["none"]["mode_bits"]) == ("----------", "0")


def test_symlinks_are_listed_not_followed(node):
    """§5.1/§5.2: lstat; a link to a directory is not a directory; [REC] ``symlink`` true."""
    node.put("target.txt", b"target")
    os.mkdir(node.host("dir"))
    node.link("file-link", "target.txt")
    node.link("dir-link", "dir")
    entries = listing(node)
    for name in ("file-link", "dir-link"):
        entry = entries[name]
        assert entry["mode"] == "Lrwxrwxrwx"
        assert (entry["directory"], entry["file"], entry["symlink"]) == (False, True, True)
        assert entry["mime"] == "application/octet-stream"


def test_list_missing_directory_is_404(node):
    """§5.2 errors, §18 #36: [REC] 404 with the §1.6 text."""
    assert_not_found(node.daemon.list_dir(node.uuid(), "/does-not-exist"))


def test_list_a_file_is_404(node):
    """§5.2: "not a directory" maps like not-found ([REC] 404)."""
    node.put("plain.txt", b"x")
    assert_not_found(node.daemon.list_dir(node.uuid(), "/plain.txt"))


# -- §5.3 contents -------------------------------------------------------------------------

def test_contents_of_a_text_file(node):
    """§5.3, §18 #24: raw bytes, Content-Length, X-Mime-Type, sniffed Content-Type."""
    u = node.uuid()
    assert node.daemon.write(u, "/hello.txt", b"hello").status_code == 204
    response = node.daemon.contents(u, "/hello.txt")
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["Content-Length"] == "5"
    assert response.headers["X-Mime-Type"].startswith("text/plain")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Content-Disposition" not in response.headers


@pytest.mark.parametrize("name", ["hello.txt", "/hello.txt", "///hello.txt"])
def test_contents_strips_leading_slashes(node, name):
    """§5.3: leading ``/`` characters of ``file`` are stripped."""
    node.put("hello.txt", b"hello")
    response = node.daemon.contents(node.uuid(), name)
    assert (response.status_code, response.content) == (200, b"hello")


def test_contents_accepts_an_absolute_host_path_inside_the_root(node):
    """§6.1 step 1: the root's absolute path as a prefix is removed."""
    node.put("sub/in.txt", b"inside")
    response = node.daemon.contents(node.uuid(), node.host("sub/in.txt"))
    assert (response.status_code, response.content) == (200, b"inside")


@pytest.mark.parametrize("value", ["1", "false", "yes"])
def test_contents_download_headers(node, value):
    """§5.3, §18 #25: any non-empty ``download`` makes an attachment."""
    node.put("hello.txt", b"hello")
    response = node.daemon.get("/api/servers/%s/files/contents" % node.uuid(),
                               query={"file": "hello.txt", "download": value})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="hello.txt"'
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b"hello"


def test_contents_download_name_is_go_quoted(node):
    """§5.3: the file name is quoted like Go's strconv.Quote."""
    node.put('say "hi".txt', b"hi")
    response = node.daemon.get("/api/servers/%s/files/contents" % node.uuid(),
                               query={"file": 'say "hi".txt', "download": "1"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="say \\"hi\\".txt"'


def test_contents_of_binary_data_is_exact(node):
    """§5.3: body is exactly the file's bytes."""
    data = os.urandom(3 * 1024 * 1024 + 7)
    node.put("world.bin", data)
    response = node.daemon.contents(node.uuid(), "world.bin")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(data))
    assert response.content == data


def test_contents_missing_file_is_404(node):
    """§5.3 errors, §1.6 [REC]."""
    assert_not_found(node.daemon.contents(node.uuid(), "/nope.txt"))


@pytest.mark.parametrize("name", ["/folder", ""])
def test_contents_of_a_directory_is_400(node, name):
    """§5.3 [REC]: a directory (or the root) is 400 "file is a directory"."""
    os.mkdir(node.host("folder"))
    assert_captured(node.daemon.contents(node.uuid(), name), 400, IS_DIRECTORY)


def test_contents_of_a_named_pipe_is_400_and_does_not_hang(node):
    """§5.3: named pipe → 400 "Cannot open files of this type."."""
    os.mkfifo(node.host("pipe"))
    assert_handler_error(node.daemon.contents(node.uuid(), "pipe"), 400, NOT_REGULAR)


def test_contents_of_a_denylisted_file_is_403(node):
    """§6.3 [REC]: the denylist also guards contents."""
    node.put("config.yml", b"secret: 1")
    response = node.daemon.contents(node.uuid(), "/config.yml")
    assert_captured(response, 403, DENYLISTED)
    assert b"secret" not in response.content


# -- §5.4 write ----------------------------------------------------------------------------

def test_write_creates_a_file_0644_owned_by_the_server_user(node):
    """§5.4: mode 0644, lchown to the configured uid/gid, exact bytes."""
    response = node.daemon.write(node.uuid(), "/hello.txt", b"hello")
    assert response.status_code == 204
    assert response.content == b""
    assert node.read("hello.txt") == b"hello"
    assert mode_of(node.host("hello.txt")) == 0o644
    assert owned_by_server_user(node.host("hello.txt"))


def test_write_creates_parents_0755(node):
    """§5.4: missing parents are created with mode 0755, owned by the server user."""
    assert node.daemon.write(node.uuid(), "p/q/r.txt", b"r").status_code == 204
    for directory in ("p", "p/q"):
        assert mode_of(node.host(directory)) == 0o755
        assert owned_by_server_user(node.host(directory))
    assert node.read("p/q/r.txt") == b"r"


def test_write_truncates_and_keeps_the_existing_mode(node):
    """§5.4: an existing file keeps its mode and is truncated."""
    node.put("keep.sh", b"a much longer original content", mode=0o750)
    assert node.daemon.write(node.uuid(), "/keep.sh", b"short").status_code == 204
    assert node.read("keep.sh") == b"short"
    assert mode_of(node.host("keep.sh")) == 0o750


def test_write_of_zero_bytes_creates_an_empty_file(node):
    """§5.4: ``Content-Length: 0`` creates or truncates to an empty file."""
    node.put("full.txt", b"content")
    assert node.daemon.write(node.uuid(), "/full.txt", b"").status_code == 204
    assert node.daemon.write(node.uuid(), "/empty.txt", b"").status_code == 204
    assert node.read("full.txt") == b""
    assert node.read("empty.txt") == b""


def test_write_body_is_raw_even_when_labelled_json(node):
    """§5.4 / panel-contract §1.1: the Panel labels the raw body application/json."""
    raw = b'{"not": "parsed"}\n\x00\xff'
    assert node.daemon.write(node.uuid(), "raw.bin", raw).status_code == 204
    assert node.read("raw.bin") == raw


def test_write_without_content_length_is_400(node):
    """§5.4, §18 #30: a chunked body → 400 ``{"error":"Missing Content-Length"}``."""
    response = node.daemon.request("POST", "/api/servers/%s/files/write" % node.uuid(),
                                   query={"file": "/chunked.txt"},
                                   data=(part for part in [b"chunk", b"ed"]))
    assert_handler_error(response, 400, MISSING_LENGTH)
    assert not node.exists("chunked.txt")


@pytest.mark.parametrize("name", ["/a", "a/", ""])
def test_write_over_a_directory_is_400(node, name):
    """§5.4, §18 #31: a directory (or the root) as target."""
    os.mkdir(node.host("a"))
    response = node.daemon.write(node.uuid(), name, b"x")
    assert_handler_error(response, 400, WRITE_OVER_DIRECTORY)
    assert os.path.isdir(node.host("a"))


def test_write_of_a_too_long_name_is_400(node):
    """§1.6: "file name too long" → 400 with its own text."""
    response = node.daemon.write(node.uuid(), "/" + "n" * 300, b"x")
    assert_captured(response, 400, NAME_TOO_LONG)


@pytest.mark.parametrize("name", ["/config.yml", "sub/config.yml", "/locked/x", "lib/a.jar",
                                  "/sub/../config.yml", "//config.yml", "./locked/x"])
def test_write_of_a_denylisted_path_is_403(node, name):
    """§6.3, §18 #27: denylisted names, at any depth, and [REC] after normalisation."""
    response = node.daemon.write(node.uuid(), name, b"x")
    assert_captured(response, 403, DENYLISTED)
    assert os.listdir(node.root()) == []


def test_write_beside_the_denylist_is_allowed(node):
    """§18 #27: ``/locked`` is anchored: ``/notlocked/x`` and ``/sub/locked`` are fine."""
    for name in ("/notlocked/x", "/sub/locked", "/config.yml.bak"):
        assert node.daemon.write(node.uuid(), name, b"ok").status_code == 204
        assert node.read(name.lstrip("/")) == b"ok"


# -- §5.5 rename ---------------------------------------------------------------------------

def test_rename_moves_a_file(node):
    node.put("hello.txt", b"hello")
    response = node.daemon.rename(node.uuid(), "/", [{"from": "hello.txt", "to": "b.txt"}])
    assert response.status_code == 204
    assert not node.exists("hello.txt")
    assert node.read("b.txt") == b"hello"


@pytest.mark.parametrize("body", [{"root": "/", "files": []}, {"root": "/"}])
def test_rename_without_files_is_422(node, body):
    """§5.5, §18 #37."""
    response = node.daemon.put("/api/servers/%s/files/rename" % node.uuid(), body)
    assert_handler_error(response, 422, NO_RENAME)


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_rename_onto_an_existing_entry_is_400(node, kind):
    """§5.5, §18 #37: an existing destination, file or directory, is refused."""
    node.put("a.txt", b"a")
    if kind == "file":
        node.put("b.txt", b"b")
    else:
        os.mkdir(node.host("b.txt"))
    response = node.daemon.rename(node.uuid(), "/", [{"from": "a.txt", "to": "b.txt"}])
    assert_handler_error(response, 400, RENAME_EXISTS)
    assert node.read("a.txt") == b"a"


def test_rename_to_itself_is_a_no_op(node):
    node.put("same.txt", b"same")
    response = node.daemon.rename(node.uuid(), "/", [{"from": "same.txt", "to": "/same.txt"}])
    assert response.status_code == 204
    assert node.read("same.txt") == b"same"


def test_rename_of_a_missing_source_succeeds(node):
    """§5.5: a missing source is ignored."""
    response = node.daemon.rename(node.uuid(), "/", [{"from": "ghost", "to": "x"}])
    assert response.status_code == 204
    assert not node.exists("x")


def test_rename_creates_destination_parents_and_honours_root(node):
    """§5.5, §18 #37: paths join ``root``; destination parents are created."""
    node.put("sub/x.txt", b"x")
    response = node.daemon.rename(node.uuid(), "/sub",
                                  [{"from": "x.txt", "to": "new/dir/x.txt"}])
    assert response.status_code == 204
    assert node.read("sub/new/dir/x.txt") == b"x"
    assert not node.exists("sub/x.txt")


def test_rename_several_pairs(node):
    node.put("one", b"1")
    node.put("two", b"2")
    response = node.daemon.rename(node.uuid(), "/", [{"from": "one", "to": "uno"},
                                                     {"from": "two", "to": "dos"}])
    assert response.status_code == 204
    assert (node.read("uno"), node.read("dos")) == (b"1", b"2")


def test_rename_moves_a_symlink_itself(node):
    """§5.5/§6.2: a symlink is renamed, not followed."""
    node.put("target.txt", b"t")
    node.link("ln", "target.txt")
    response = node.daemon.rename(node.uuid(), "/", [{"from": "ln", "to": "ln2"}])
    assert response.status_code == 204
    assert os.readlink(node.host("ln2")) == "target.txt"
    assert node.read("target.txt") == b"t"


@pytest.mark.parametrize("source", ["/", ""])
def test_rename_of_the_root_is_refused(node, source):
    """§5.5/§6.1: the root itself cannot be renamed; [REC] a 4xx, never a 500."""
    node.put("keep.txt", b"k")
    response = node.daemon.rename(node.uuid(), "/", [{"from": source, "to": "moved"}])
    assert_not_found(response)
    assert node.read("keep.txt") == b"k"
    assert not node.exists("moved")


@pytest.mark.parametrize("pair", [{"from": "hello.txt", "to": "config.yml"},
                                  {"from": "locked/x", "to": "free.txt"},
                                  {"from": "hello.txt", "to": "sub/../locked/y"}])
def test_rename_touching_the_denylist_is_403(node, pair):
    """§5.5, §18 #28: both ends are checked."""
    node.put("hello.txt", b"hello")
    node.put("locked/x", b"x")
    response = node.daemon.rename(node.uuid(), "/", [pair])
    assert_captured(response, 403, DENYLISTED)
    assert node.read("hello.txt") == b"hello"
    assert node.read("locked/x") == b"x"
    assert not node.exists("config.yml")
    assert not node.exists("free.txt")


# -- §5.6 copy -----------------------------------------------------------------------------

def names_in(node, directory=""):
    return sorted(os.listdir(node.host(directory) if directory else node.root()))


def test_copy_names_the_copies_in_sequence(node):
    """§5.6, §18 #38."""
    node.put("hello.txt", b"hello")
    for _ in range(3):
        assert node.daemon.copy(node.uuid(), "/hello.txt").status_code == 204
    assert names_in(node) == ["hello copy 1.txt", "hello copy 2.txt", "hello copy.txt",
                              "hello.txt"]
    assert node.read("hello copy 2.txt") == b"hello"


@pytest.mark.parametrize("name, copy", [("x.tar.gz", "x copy.tar.gz"),
                                        ("README", "README copy"),
                                        (".bashrc", " copy.bashrc"),
                                        ("a.b.c", "a.b copy.c")])
def test_copy_name_splits_the_extension_like_go(node, name, copy):
    """§5.6: ``.tar`` is glued to the last extension; Go ``filepath.Ext`` semantics."""
    node.put(name, b"data")
    assert node.daemon.copy(node.uuid(), name).status_code == 204
    assert node.read(copy) == b"data"


def test_copy_stays_in_the_directory_with_mode_and_owner(node):
    """§5.6: same directory, source mode, configured ownership."""
    node.put("sub/secret.key", b"k", mode=0o600)
    assert node.daemon.copy(node.uuid(), "sub/secret.key").status_code == 204
    copy = node.host("sub/secret copy.key")
    assert node.read("sub/secret copy.key") == b"k"
    assert mode_of(copy) == 0o600
    assert owned_by_server_user(copy)
    assert names_in(node) == ["sub"]


@pytest.mark.parametrize("setup", ["missing", "directory", "fifo"])
def test_copy_of_anything_but_a_regular_file_is_404(node, setup):
    """§5.6 [REC]: a directory or special file is treated as not existing."""
    if setup == "directory":
        os.mkdir(node.host("thing"))
    elif setup == "fifo":
        os.mkfifo(node.host("thing"))
    before = names_in(node)
    assert_not_found(node.daemon.copy(node.uuid(), "/thing"))
    assert names_in(node) == before


def test_copy_of_a_denylisted_file_is_403(node):
    node.put("server.jar", b"jar")
    assert_captured(node.daemon.copy(node.uuid(), "/server.jar"), 403, DENYLISTED)
    assert names_in(node) == ["server.jar"]


# -- §5.7 create-directory -----------------------------------------------------------------

def test_create_directory_makes_parents_and_is_idempotent(node):
    """§5.7, §18 #39."""
    for _ in range(2):
        response = node.daemon.mkdir(node.uuid(), "d", "/p/q")
        assert response.status_code == 204
    for directory in ("p", "p/q", "p/q/d"):
        assert os.path.isdir(node.host(directory))
        assert mode_of(node.host(directory)) == 0o755
        assert owned_by_server_user(node.host(directory))


def test_create_directory_through_a_file_is_400(node):
    """§5.7: a path component that is a file → 400 ENOTDIR text (intended behaviour)."""
    node.put("file.txt", b"x")
    response = node.daemon.mkdir(node.uuid(), "d", "/file.txt")
    assert_handler_error(response, 400, NOT_A_DIRECTORY)
    assert node.read("file.txt") == b"x"


# -- §5.8 delete ---------------------------------------------------------------------------

def test_delete_files_and_trees(node):
    node.put("a.txt", b"a")
    node.put("dir/sub/b.txt", b"b")
    node.put("keep.txt", b"k")
    response = node.daemon.delete_files(node.uuid(), "/", ["a.txt", "dir", "ghost"])
    assert response.status_code == 204
    assert names_in(node) == ["keep.txt"]


def test_delete_honours_root(node):
    node.put("sub/a.txt", b"a")
    node.put("a.txt", b"top")
    assert node.daemon.delete_files(node.uuid(), "/sub", ["a.txt"]).status_code == 204
    assert not node.exists("sub/a.txt")
    assert node.read("a.txt") == b"top"


def test_delete_without_files_is_422(node):
    """§5.8, §18 #40."""
    assert_handler_error(node.daemon.delete_files(node.uuid(), "/", []), 422, NO_DELETE)


@pytest.mark.parametrize("root, name", [("/", "/"), ("/", ""), ("/", ".."), ("/", "../"),
                                        ("/sub", ".."), ("", "")])
def test_delete_of_the_root_is_refused(node, root, name):
    """§5.8, §18 #40: the root cannot be deleted; [REC] 4xx, root intact."""
    node.put("sub/keep.txt", b"k")
    response = node.daemon.delete_files(node.uuid(), root, [name])
    assert_not_found(response)
    assert node.read("sub/keep.txt") == b"k"


def test_delete_removes_a_symlink_not_its_target(node):
    """§5.8: symlinks are removed, not followed."""
    node.put("dir/in.txt", b"in")
    node.link("dir-link", "dir")
    assert node.daemon.delete_files(node.uuid(), "/", ["dir-link"]).status_code == 204
    assert not node.exists("dir-link")
    assert node.read("dir/in.txt") == b"in"


# -- §5.9 compress -------------------------------------------------------------------------

def archive_of(node, stat_object, root=""):
    path = os.path.join(root, stat_object["name"]).lstrip("/")
    response = node.daemon.get("/api/servers/%s/files/contents" % node.uuid(),
                               query={"file": path, "download": "1"})
    assert response.status_code == 200
    return members_of(response.content)


def test_compress_returns_the_archive_stat(node):
    """§5.9, §18 #41: name pattern, stat keys, mime application/tar+gzip; members are the
    regular files relative to root."""
    node.put("a/b/c.txt", b"c")
    node.put("a/d.txt", b"d")
    node.put("other.txt", b"o")
    response = node.daemon.compress(node.uuid(), "/", ["a"])
    assert response.status_code == 200
    info = response.json()
    assert set(info) == set(STAT_KEYS)
    assert ARCHIVE_NAME.match(info["name"]), info["name"]
    assert info["mime"] == "application/tar+gzip"
    assert (info["directory"], info["file"]) == (False, True)
    assert info["size"] == os.path.getsize(node.host(info["name"]))
    parse_time(info["modified"])
    members = archive_of(node, info)
    assert set(members) == {"a/b/c.txt", "a/d.txt"}
    assert all(member.isfile() for member, _ in members.values())
    assert members["a/b/c.txt"][1] == b"c"


def test_compress_matches_whole_names_only(node):
    """§18 #42: ``map`` does not take ``map2``."""
    node.put("map/x", b"x")
    node.put("map2/y", b"y")
    info = node.daemon.compress(node.uuid(), "/", ["map"]).json()
    assert set(archive_of(node, info)) == {"map/x"}


def test_compress_under_a_root_and_skips_missing_entries(node):
    """§5.9: the archive lands in ``root``; entry names relative to it; missing ones are
    simply absent; an absolute host path under the root is accepted."""
    node.put("sub/x.txt", b"x")
    node.put("sub/y.txt", b"y")
    response = node.daemon.compress(node.uuid(), "/sub",
                                    ["x.txt", "ghost", node.host("sub/y.txt")])
    assert response.status_code == 200
    info = response.json()
    assert node.exists(os.path.join("sub", info["name"]))
    assert set(archive_of(node, info, "/sub")) == {"x.txt", "y.txt"}


def test_compress_without_files_is_422(node):
    assert_handler_error(node.daemon.compress(node.uuid(), "/", []), 422, NO_COMPRESS)


def test_compress_in_a_missing_root_is_404(node):
    assert_not_found(node.daemon.compress(node.uuid(), "/nowhere", ["a"]))


# -- §5.10 decompress ----------------------------------------------------------------------

SCRIPT = b"#!/bin/sh\necho hi\n"


def sample_tar(compression):
    return tar_bytes([tar_file("readme.txt", b"read me", 0o600, JAN_2020),
                      tar_file("bin/run.sh", SCRIPT, 0o755, JAN_2020)], compression)


@pytest.mark.parametrize("compression, name", [("", "pack.tar"), ("gz", "pack.tar.gz"),
                                               ("gz", "pack.tgz"), ("bz2", "pack.tar.bz2"),
                                               ("xz", "pack.tar.xz")])
def test_decompress_tar_family(node, compression, name):
    """§5.10: entries written with their mode and mtime, directories implied."""
    node.put(name, sample_tar(compression))
    response = node.daemon.decompress(node.uuid(), "/", name)
    assert response.status_code == 204, response.text
    assert node.read("readme.txt") == b"read me"
    assert node.read("bin/run.sh") == SCRIPT
    assert mode_of(node.host("readme.txt")) == 0o600
    assert mode_of(node.host("bin/run.sh")) == 0o755
    assert int(os.lstat(node.host("readme.txt")).st_mtime) == JAN_2020
    assert owned_by_server_user(node.host("bin/run.sh"))
    assert owned_by_server_user(node.host("bin"))


def test_decompress_zip(node):
    """§5.10: zip entries, nested directories and Unix modes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plugins/a.txt", b"a" * 1000)
        script = zipfile.ZipInfo("start.sh")
        script.create_system = 3
        script.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(script, SCRIPT)
    node.put("mods.zip", out.getvalue())
    assert node.daemon.decompress(node.uuid(), "/", "mods.zip").status_code == 204
    assert node.read("plugins/a.txt") == b"a" * 1000
    assert node.read("start.sh") == SCRIPT
    assert mode_of(node.host("start.sh")) == 0o755


def test_decompress_into_a_root_overwrites(node):
    """§5.10: archive = root/file, extraction into root; existing files are overwritten."""
    node.put("sub/readme.txt", b"old")
    node.put("sub/pack.tar", sample_tar(""))
    assert node.daemon.decompress(node.uuid(), "/sub", "pack.tar").status_code == 204
    assert node.read("sub/readme.txt") == b"read me"
    assert node.read("sub/bin/run.sh") == SCRIPT
    assert not node.exists("readme.txt")


def test_decompress_skips_denylisted_entries(node):
    """§5.10, §18 #44: denylisted entries are silently skipped."""
    node.put("mixed.zip", zip_bytes([("config.yml", b"c"), ("ok.txt", b"ok"),
                                     ("deep/config.yml", b"c"), ("locked/x", b"x"),
                                     ("libs/evil.jar", b"j")]))
    assert node.daemon.decompress(node.uuid(), "/", "mixed.zip").status_code == 204
    assert node.read("ok.txt") == b"ok"
    for name in ("config.yml", "deep/config.yml", "locked", "libs/evil.jar"):
        assert not node.exists(name)


def test_decompress_of_a_non_archive_is_400(node):
    """§5.10, §18 #43 (a disk limit is set)."""
    node.put("hello.txt", b"hello, not an archive")
    response = node.daemon.decompress(node.uuid(), "/", "hello.txt")
    assert_handler_error(response, 400, UNKNOWN_ARCHIVE)
    assert names_in(node) == ["hello.txt"]


def test_decompress_of_a_missing_archive_is_404(node):
    assert_not_found(node.daemon.decompress(node.uuid(), "/", "ghost.zip"))


# -- §5.11 chmod ---------------------------------------------------------------------------

def test_chmod_applies_each_mode_to_its_own_file(node):
    """§5.11 [REQ]: every pair is applied to its own file (HEAD's loop-variable bug)."""
    for name in ("a", "b", "c"):
        node.put(name, b"x")
    os.mkdir(node.host("d"))
    changes = [{"file": "a", "mode": "600"}, {"file": "b", "mode": "0755"},
               {"file": "c", "mode": "640"}, {"file": "d", "mode": "700"}]
    assert node.daemon.chmod(node.uuid(), "/", changes).status_code == 204
    assert [mode_of(node.host(n)) for n in "abcd"] == [0o600, 0o755, 0o640, 0o700]


def test_chmod_shows_in_the_listing(node):
    """§18 #46: ``mode_bits`` becomes ``600``."""
    assert node.daemon.write(node.uuid(), "hello.txt", b"hello").status_code == 204
    response = node.daemon.chmod(node.uuid(), "/", [{"file": "hello.txt", "mode": "600"}])
    assert response.status_code == 204
    entry = listing(node)["hello.txt"]
    assert (entry["mode"], entry["mode_bits"]) == ("-rw-------", "600")


def test_chmod_under_a_root(node):
    node.put("sub/run.sh", SCRIPT)
    response = node.daemon.chmod(node.uuid(), "/sub", [{"file": "run.sh", "mode": "755"}])
    assert response.status_code == 204
    assert mode_of(node.host("sub/run.sh")) == 0o755


@pytest.mark.parametrize("mode", ["abc", "9", "-1", ""])
def test_chmod_with_a_bad_mode_is_400(node, mode):
    """§5.11, §18 #46."""
    node.put("hello.txt", b"h")
    response = node.daemon.chmod(node.uuid(), "/", [{"file": "hello.txt", "mode": mode}])
    assert_handler_error(response, 400, INVALID_MODE)
    assert mode_of(node.host("hello.txt")) == 0o644


def test_chmod_with_a_json_number_is_a_bind_error(node):
    """§5.11: ``mode`` must be a JSON string; a number is a §1.6 bind error."""
    node.put("hello.txt", b"h")
    response = node.daemon.chmod(node.uuid(), "/", [{"file": "hello.txt", "mode": 755}])
    assert_captured(response, 400, GENERIC)
    assert mode_of(node.host("hello.txt")) == 0o644


def test_chmod_without_files_is_422(node):
    assert_handler_error(node.daemon.chmod(node.uuid(), "/", []), 422, NO_CHMOD)


def test_chmod_of_a_missing_file_is_ignored(node):
    response = node.daemon.chmod(node.uuid(), "/", [{"file": "ghost", "mode": "755"}])
    assert response.status_code == 204
    assert not node.exists("ghost")


def test_chmod_never_sets_special_bits(node):
    """§5.11 [REC]: bits above 0777 are masked off or the request is refused."""
    node.put("run.sh", SCRIPT)
    response = node.daemon.chmod(node.uuid(), "/", [{"file": "run.sh", "mode": "6755"}])
    assert response.status_code in (204, 400), response.text
    mode = stat.S_IMODE(os.lstat(node.host("run.sh")).st_mode)
    assert mode & 0o7000 == 0
    if response.status_code == 204:
        assert mode == 0o755


# -- §5.12 pull (listing, cancel, validation; SSRF in test_pull.py) ------------------------

def test_pull_listing_is_null_when_idle(node):
    """§5.12, §18 #49: ``{"downloads":null}`` when none, capitalised keys otherwise."""
    response = node.daemon.get("/api/servers/%s/files/pull" % node.uuid())
    assert response.status_code == 200
    assert response.json() == {"downloads": None}


def test_pull_cancel_of_an_unknown_download_is_204(node):
    """§5.12: always 204."""
    response = node.daemon.delete("/api/servers/%s/files/pull/%s" % (node.uuid(),
                                                                     uuidlib.uuid4()))
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("body", [{"root": "/"}, {"url": "https://example.com/a"},
                                  {"url": "", "root": "/"}])
def test_pull_without_url_or_root_is_a_bind_error(node, body):
    """§5.12 step 1: missing ``url``, or both ``root`` and ``directory`` → 400 generic.
    Nothing is fetched: validation fails before any connection."""
    response = node.daemon.post("/api/servers/%s/files/pull" % node.uuid(), body)
    assert_captured(response, 400, GENERIC)


def test_pull_with_an_unparsable_url_is_400(node):
    """§5.12 step 2."""
    response = node.daemon.pull(node.uuid(), "http://[::1", root="/")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"].startswith(BAD_URL_PREFIX)
