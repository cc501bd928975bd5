"""Escape attempts against the files API and signed URLs: traversal, absolute and encoded
paths, symlinks (file, directory, dangling, looping, pointing outside) and hostile
archives (zip-slip, symlink, hard-link and device entries).

Spec: wings-api.md §1.6 ([REC] 404 for an escape as for a missing file, never 500), §5,
§6.1-§6.2 ([REQ] every resolved object lies under the root; chmod never follows a link),
§5.10 (zip-slip), §18 #32-#34, #44; peers.md advisories #3, #4, #6, #13.

Every attack aims at the sentinel tree beside the data directory (or at "other", a second
server on the node). The ``node`` fixture proves after each test that the sentinel is
byte, mode and mtime identical and that no ``PWNED`` file exists outside the roots; tests
assert the response (status, no sentinel bytes) on top. The module runs twice: with the
kernel's openat2 when it has one (``auto``) and with the per-component ``openat`` walk,
the fallback that carried upstream's symlink escape (§6.2 [HEAD] bug).

Symlinks are made on the host: the test game image has no command to make one, and
``docker exec`` is not used by this suite.
"""

import os
import stat
import tarfile

import pytest

from tests.integration.files.helpers import (
    MARK,
    SECRET,
    WRITE_OVER_DIRECTORY,
    assert_no_secret,
    assert_not_found,
    members_of,
    tar_bytes,
    tar_file,
    tar_special,
    zip_bytes,
    zip_symlink,
)

SERVERS = {"main": {}, "other": {}}
OTHER_FILE = "other.txt"


@pytest.fixture(scope="module", params=["auto", "openat"])
def node_overrides(request):
    """§6.2: both path-resolution strategies must hold."""
    return {"system": {"openat_mode": request.param}}


def expand(node, template):
    """``{sentinel}``, ``{base}``, ``{root}``, ``{other}`` (uuid), ``{other_root}``."""
    return template.format(sentinel=node.sentinel, base=node.base_dir, root=node.root(),
                           other=node.uuid("other"), other_root=node.root("other"))


def sentinel_inodes(node):
    inodes = set()
    for directory, _, files in os.walk(node.sentinel):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            inodes.add((info.st_dev, info.st_ino))
    return inodes


def assert_root_shares_no_inode_with_the_sentinel(node):
    """A hard link into the sentinel would make it readable and writable (§6.2 [REQ])."""
    shared = sentinel_inodes(node)
    for directory, _, files in os.walk(node.root()):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            assert (info.st_dev, info.st_ino) not in shared, os.path.join(directory, name)


def assert_refused_or_done(response):
    """Where the spec allows either outcome: a clean 2xx or a 4xx, never a 5xx."""
    assert response.status_code < 500, (response.status_code, response.text)
    assert_no_secret(response)


# -- lexical traversal (§6.1, §18 #32) -----------------------------------------------------

TRAVERSALS = [
    "../../sentinel/secret.txt",
    "/../../sentinel/secret.txt",
    "a/../../../sentinel/secret.txt",
    "..//..//sentinel//secret.txt",
    "./.././../sentinel/./secret.txt",
    "../../sentinel/inner/../secret.txt",
    "{root}/../../sentinel/secret.txt",
    "/..",
    "..",
]


# Names that only look like escapes: §1.7, the query is decoded once, so ``%2e%2e`` stays a
# name; §6.1, an absolute path not under the root is taken relative to the root.
LOOKALIKES = [
    "%2e%2e/%2e%2e/sentinel/secret.txt",
    "..%2f..%2fsentinel%2fsecret.txt",
    "..\\..\\sentinel\\secret.txt",
    "....//....//sentinel/secret.txt",
    "{sentinel}/secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS + LOOKALIKES)
def test_contents_traversal_is_404(node, path):
    response = node.daemon.contents(node.uuid(), expand(node, path))
    assert_not_found(response)
    assert_no_secret(response)


@pytest.mark.parametrize("query", ["file=%2e%2e%2f%2e%2e%2fsentinel%2fsecret.txt",
                                   "file=..%2F..%2Fsentinel%2Fsecret.txt",
                                   "file=%2F..%2F..%2Fsentinel%2Fsecret.txt",
                                   "file=..%252f..%252fsentinel%252fsecret.txt",
                                   "file=ok.txt&file=../../sentinel/secret.txt"])
def test_contents_with_hand_encoded_queries_is_404(node, query):
    """§1.7: one decode; a repeated key uses the first value."""
    response = node.daemon.get("/api/servers/%s/files/contents?%s" % (node.uuid(), query))
    assert_not_found(response)
    assert_no_secret(response)


@pytest.mark.parametrize("directory", ["../../sentinel", "/../../sentinel", "..", "../",
                                       "{root}/../../sentinel", "a/../../../sentinel/inner"])
def test_list_directory_traversal_is_404(node, directory):
    response = node.daemon.list_dir(node.uuid(), expand(node, directory))
    assert_not_found(response)
    assert b"secret.txt" not in response.content


@pytest.mark.parametrize("path", ["../../PWNED.txt", "../../sentinel/PWNED.txt",
                                  "../../sentinel/secret.txt", "/../../sentinel/inner/PWNED",
                                  "x/../../../PWNED.txt", "{root}/../PWNED.txt"])
def test_write_traversal_is_404_and_writes_nothing(node, path):
    """§18 #32: nothing is written, inside the root or out."""
    response = node.daemon.write(node.uuid(), expand(node, path), b"PWNED")
    assert_not_found(response)
    assert os.listdir(node.root()) == []


def test_write_to_an_absolute_host_path_stays_inside_the_root(node):
    """§6.1: an absolute path not under the root is cleaned and joined onto the root."""
    target = os.path.join(node.sentinel, "PWNED.txt")
    response = node.daemon.write(node.uuid(), target, b"PWNED")
    assert response.status_code == 204
    assert node.read(target.lstrip("/")) == b"PWNED"


@pytest.mark.parametrize("name", ["/..", "/../"])
def test_write_to_the_parent_of_the_root_is_refused(node, name):
    response = node.daemon.write(node.uuid(), name, b"PWNED")
    assert response.status_code in (400, 404), response.text
    if response.status_code == 400:
        assert response.json()["error"] == WRITE_OVER_DIRECTORY
    else:
        assert_not_found(response)


@pytest.mark.parametrize("path", ["hello.txt\x00.png", "\x00", "../\x00/../sentinel/secret.txt"])
def test_nul_bytes_are_refused_without_a_500(node, path):
    """§1.6 [REC]: a path the kernel cannot take is a bad path, not a crash."""
    node.put("hello.txt", b"hello")
    for response in (node.daemon.contents(node.uuid(), path),
                     node.daemon.write(node.uuid(), path, b"PWNED"),
                     node.daemon.list_dir(node.uuid(), path)):
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert_no_secret(response)
    assert sorted(os.listdir(node.root())) == ["hello.txt"]


def test_copy_traversal_is_404(node):
    """§18 #32: ``copy {"location":"../../…"}``."""
    for location in ("../../sentinel/secret.txt", "/../../sentinel/secret.txt"):
        assert_not_found(node.daemon.copy(node.uuid(), location))
    assert os.listdir(node.root()) == []


def test_create_directory_traversal(node):
    """§5.7: ``path`` joins ``name`` like Go's path.Join; an unrooted climb is refused."""
    assert_not_found(node.daemon.mkdir(node.uuid(), "PWNED", "../../sentinel"))
    assert_not_found(node.daemon.mkdir(node.uuid(), "../../PWNED", ""))
    response = node.daemon.mkdir(node.uuid(), "../../PWNED-inside", "/")
    assert response.status_code == 204
    assert os.path.isdir(node.host("PWNED-inside"))


def test_rename_traversal_with_a_rooted_root_is_clamped(node):
    """§6.1: with root ``/`` the join cannot climb above it: the source is simply missing."""
    node.put("hello.txt", b"hello")
    response = node.daemon.rename(node.uuid(), "/", [
        {"from": "../../sentinel/secret.txt", "to": "stolen.txt"}])
    assert response.status_code == 204
    assert not node.exists("stolen.txt")
    response = node.daemon.rename(node.uuid(), "/", [
        {"from": "hello.txt", "to": "../../sentinel/PWNED.txt"}])
    assert response.status_code == 204
    assert node.read("sentinel/PWNED.txt") == b"hello"


@pytest.mark.parametrize("pair", [{"from": "../../sentinel/secret.txt", "to": "stolen.txt"},
                                  {"from": "hello.txt", "to": "../../PWNED.txt"},
                                  {"from": "../../sentinel", "to": "stolen"}])
def test_rename_traversal_with_an_empty_root_is_404(node, pair):
    node.put("hello.txt", b"hello")
    assert_not_found(node.daemon.rename(node.uuid(), "", [pair]))
    assert sorted(os.listdir(node.root())) == ["hello.txt"]


@pytest.mark.parametrize("root, name, status", [("", "../../sentinel", 404),
                                                ("", "../../sentinel/secret.txt", 404),
                                                ("/", "../../sentinel", 204),
                                                ("/sub/..", "../../sentinel/inner", 204)])
def test_delete_traversal_never_reaches_outside(node, root, name, status):
    """§5.8/§6.1: rooted joins are clamped (a missing entry is success); unrooted climbs
    are refused."""
    response = node.daemon.delete_files(node.uuid(), root, [name])
    assert response.status_code == status, response.text


@pytest.mark.parametrize("root, status", [("", 404), ("/", 204)])
def test_chmod_traversal_never_reaches_outside(node, root, status):
    """§5.11/§6.1; the sentinel's modes are checked by the fixture."""
    response = node.daemon.chmod(node.uuid(), root, [
        {"file": "../../sentinel/secret.txt", "mode": "777"},
        {"file": "../../sentinel", "mode": "777"}])
    assert response.status_code == status, response.text


def test_compress_traversal(node):
    """§5.9: a root outside is refused; an entry outside matches no file under the root,
    so it is simply absent from the archive."""
    assert_not_found(node.daemon.compress(node.uuid(), "../../sentinel", ["secret.txt"]))
    node.put("a.txt", b"a")
    for root in ("", "/"):
        response = node.daemon.compress(node.uuid(), root, ["../../sentinel", "a.txt",
                                                            "/../../sentinel/secret.txt"])
        assert response.status_code == 200, response.text
        assert set(members_of(node.read(response.json()["name"]))) == {"a.txt"}


def test_decompress_traversal(node):
    """§5.10: neither the archive path nor the extraction root may leave the root."""
    node.put("pack.zip", zip_bytes([("PWNED.txt", b"x")]))
    assert_not_found(node.daemon.decompress(node.uuid(), "../../sentinel", "pack.zip"))
    assert_not_found(node.daemon.decompress(node.uuid(), "", "../../sentinel/secret.txt"))
    assert sorted(os.listdir(node.root())) == ["pack.zip"]


# -- other servers on the node -------------------------------------------------------------

@pytest.fixture
def other_file(node):
    node.put(OTHER_FILE, SECRET, server="other")
    yield
    assert node.read(OTHER_FILE, server="other") == SECRET
    assert os.listdir(node.root("other")) == [OTHER_FILE]


@pytest.mark.parametrize("path", ["../{other}/other.txt", "/../{other}/other.txt",
                                  "{other_root}/other.txt", "{root}/../{other}/other.txt"])
def test_another_servers_files_are_out_of_reach(node, other_file, path):
    path = expand(node, path)
    response = node.daemon.contents(node.uuid(), path)
    assert_not_found(response)
    assert_no_secret(response)
    for response in (
            node.daemon.write(node.uuid(), os.path.join(os.path.dirname(path), "PWNED.txt"),
                              b"x"),
            node.daemon.delete_files(node.uuid(), "", [path]),
            node.daemon.chmod(node.uuid(), "", [{"file": path, "mode": "777"}])):
        assert_refused_or_done(response)
    assert stat.S_IMODE(os.lstat(node.host(OTHER_FILE, "other")).st_mode) == 0o644


@pytest.mark.parametrize("suffix", ["-evil", "evil", ".d"])
def test_a_sibling_sharing_the_roots_prefix_is_out_of_reach(node, suffix):
    """§6.1 step 1: only the root itself (followed by ``/``) is a prefix to strip."""
    sibling = node.root() + suffix
    os.makedirs(sibling)
    with open(os.path.join(sibling, "secret.txt"), "wb") as f:
        f.write(SECRET)
    response = node.daemon.contents(node.uuid(), sibling + "/secret.txt")
    assert_not_found(response)
    assert_no_secret(response)
    response = node.daemon.list_dir(node.uuid(), sibling)
    assert_not_found(response)
    assert b"secret.txt" not in response.content


# -- symlinks (§6.2, §18 #33-#34, advisories #3, #4, #6, #13) ------------------------------

OUT_DIR_TARGETS = ["{sentinel}", "../../sentinel"]
OUT_FILE_TARGETS = ["{sentinel}/secret.txt", "../../sentinel/secret.txt"]


@pytest.fixture(params=OUT_DIR_TARGETS, ids=["absolute", "relative"])
def outdir(node, request):
    """``/outdir`` → the sentinel directory."""
    node.put("hello.txt", b"hello")
    node.link("outdir", expand(node, request.param))
    return "outdir"


@pytest.fixture(params=OUT_FILE_TARGETS, ids=["absolute", "relative"])
def outfile(node, request):
    """``/pw`` → the sentinel's secret file."""
    node.put("hello.txt", b"hello")
    node.link("pw", expand(node, request.param))
    return "pw"


@pytest.mark.parametrize("path", ["outdir/secret.txt", "outdir/inner/deep.txt",
                                  "/outdir/./secret.txt", "outdir/inner/../secret.txt"])
def test_read_through_a_directory_link_out_is_404(node, outdir, path):
    response = node.daemon.contents(node.uuid(), path)
    assert_not_found(response)
    assert_no_secret(response)


@pytest.mark.parametrize("directory", ["outdir", "/outdir/", "outdir/inner"])
def test_list_through_a_directory_link_out_is_404(node, outdir, directory):
    response = node.daemon.list_dir(node.uuid(), directory)
    assert_not_found(response)
    assert b"secret.txt" not in response.content and b"deep.txt" not in response.content


@pytest.mark.parametrize("path", ["outdir/PWNED.txt", "outdir/inner/PWNED.txt",
                                  "outdir/secret.txt", "outdir/new/PWNED.txt"])
def test_write_through_a_directory_link_out_is_404(node, outdir, path):
    """Advisory #3: no file or directory is created through a link."""
    assert_not_found(node.daemon.write(node.uuid(), path, b"PWNED"))


def test_create_directory_through_a_directory_link_out_is_404(node, outdir):
    assert_not_found(node.daemon.mkdir(node.uuid(), "PWNED", "/outdir"))
    assert_not_found(node.daemon.mkdir(node.uuid(), "PWNED/deeper", "/outdir/inner"))


def test_copy_through_a_directory_link_out_is_404(node, outdir):
    assert_not_found(node.daemon.copy(node.uuid(), "outdir/secret.txt"))
    assert sorted(os.listdir(node.root())) == ["hello.txt", "outdir"]


@pytest.mark.parametrize("pair", [{"from": "outdir/secret.txt", "to": "stolen.txt"},
                                  {"from": "outdir/inner", "to": "stolen"},
                                  {"from": "hello.txt", "to": "outdir/PWNED.txt"},
                                  {"from": "hello.txt", "to": "outdir/inner/PWNED.txt"}])
def test_rename_through_a_directory_link_out_is_404(node, outdir, pair):
    assert_not_found(node.daemon.rename(node.uuid(), "/", [pair]))
    assert sorted(os.listdir(node.root())) == ["hello.txt", "outdir"]


def test_rename_of_the_link_itself_moves_the_link(node, outdir):
    target = os.readlink(node.host("outdir"))
    response = node.daemon.rename(node.uuid(), "/", [{"from": "outdir", "to": "moved"}])
    assert response.status_code == 204
    assert os.readlink(node.host("moved")) == target


@pytest.mark.parametrize("name", ["outdir/secret.txt", "outdir/inner", "outdir/inner/deep.txt"])
def test_delete_through_a_directory_link_out_is_404(node, outdir, name):
    """Advisory #4: nothing outside is deleted through a link."""
    assert_not_found(node.daemon.delete_files(node.uuid(), "/", [name]))


def test_delete_of_the_link_removes_only_the_link(node, outdir):
    """§5.8: symlinks are removed, not followed."""
    assert node.daemon.delete_files(node.uuid(), "/", ["outdir"]).status_code == 204
    assert not node.exists("outdir")


def test_chmod_through_a_directory_link_out_is_404(node, outdir):
    """Advisory #13, §5.11 [REQ]; the fixture checks every sentinel mode."""
    response = node.daemon.chmod(node.uuid(), "/", [
        {"file": "outdir/secret.txt", "mode": "777"}])
    assert_not_found(response)


def test_chmod_of_a_directory_link_leaves_its_target(node, outdir):
    """§6.2 [REQ]: chmod never follows the final link."""
    response = node.daemon.chmod(node.uuid(), "/", [{"file": "outdir", "mode": "777"},
                                                    {"file": "/outdir/", "mode": "777"}])
    assert response.status_code in (204, 404), response.text


def test_compress_of_a_directory_link_archives_nothing_outside(node, outdir):
    """§5.9: symlinks are not followed into the archive."""
    response = node.daemon.compress(node.uuid(), "/", ["outdir", "hello.txt"])
    assert response.status_code == 200, response.text
    members = members_of(node.read(response.json()["name"]))
    assert all(data != SECRET for _, data in members.values())
    assert "hello.txt" in members


def test_compress_inside_a_directory_link_out_is_404(node, outdir):
    assert_not_found(node.daemon.compress(node.uuid(), "/outdir", ["secret.txt"]))


def test_decompress_into_a_directory_link_out_is_404(node, outdir):
    node.put("pack.zip", zip_bytes([("PWNED.txt", b"x")]))
    assert_not_found(node.daemon.decompress(node.uuid(), "/outdir", "../pack.zip"))
    assert_not_found(node.daemon.decompress(node.uuid(), "/", "outdir/secret.txt"))


def test_upload_into_a_directory_link_out_is_404(node, outdir):
    response = node.upload(node.token(), [("%s.txt" % MARK, b"x")], directory="/outdir")
    assert_not_found(response)


def test_signed_download_through_a_directory_link_out_is_refused(node, outdir):
    response = node.download(node.download_token("/outdir/secret.txt"))
    assert_not_found(response)
    assert_no_secret(response)


def test_read_of_a_file_link_out_is_404(node, outfile):
    """§18 #34, §6.2: a final-component link is never opened."""
    response = node.daemon.contents(node.uuid(), outfile)
    assert_not_found(response)
    assert_no_secret(response)
    response = node.download(node.download_token("/" + outfile))
    assert_not_found(response)
    assert_no_secret(response)


def test_write_to_a_file_link_out_is_404(node, outfile):
    """§6.2: a final link cannot be written; the target is untouched (fixture)."""
    assert_not_found(node.daemon.write(node.uuid(), outfile, b"PWNED"))
    assert os.path.islink(node.host(outfile))


def test_upload_onto_a_file_link_out_is_404(node, outfile):
    assert_not_found(node.upload(node.token(), [(outfile, b"PWNED")]))
    assert os.path.islink(node.host(outfile))


def test_chmod_of_a_file_link_leaves_its_target(node, outfile):
    """§18 #34, advisory #13: the target's mode does not change (fixture)."""
    response = node.daemon.chmod(node.uuid(), "/", [{"file": outfile, "mode": "777"}])
    assert response.status_code in (204, 404), response.text


def test_copy_of_a_file_link_is_404(node, outfile):
    assert_not_found(node.daemon.copy(node.uuid(), outfile))
    assert sorted(os.listdir(node.root())) == ["hello.txt", outfile]


def test_rename_and_delete_act_on_a_file_link_itself(node, outfile):
    target = os.readlink(node.host(outfile))
    assert node.daemon.rename(node.uuid(), "/", [{"from": outfile, "to": "pw2"}]).status_code \
        == 204
    assert os.readlink(node.host("pw2")) == target
    assert node.daemon.delete_files(node.uuid(), "/", ["pw2"]).status_code == 204
    assert sorted(os.listdir(node.root())) == ["hello.txt"]


def test_a_file_link_lists_as_a_link(node, outfile):
    response = node.daemon.list_dir(node.uuid(), "/")
    assert response.status_code == 200
    entry = {e["name"]: e for e in response.json()}[outfile]
    assert entry["mode"].startswith("L")
    assert entry["size"] == len(os.readlink(node.host(outfile)))


def test_compress_of_a_file_link_archives_no_target(node, outfile):
    response = node.daemon.compress(node.uuid(), "/", [outfile, "hello.txt"])
    assert response.status_code == 200, response.text
    members = members_of(node.read(response.json()["name"]))
    assert all(data != SECRET for _, data in members.values())


def test_decompress_over_a_file_link_never_writes_its_target(node, outfile):
    """§5.10: an entry landing on a link must not write through it."""
    node.put("pack.tar", tar_bytes([tar_file(outfile, b"PWNED")]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "pack.tar"))


def test_links_inside_the_root(node):
    """§6.2: a final link is never opened, even pointing inside; relative intermediate
    links that stay inside resolve; one that climbs out does not."""
    node.put("sub/x.txt", b"x")
    node.put("hello.txt", b"hello")
    node.link("inlink", "hello.txt")
    node.link("indir", "sub")
    node.link("sub/up", "..")
    node.link("sub/up2", "../..")
    assert_not_found(node.daemon.contents(node.uuid(), "inlink"))
    response = node.daemon.contents(node.uuid(), "indir/x.txt")
    assert (response.status_code, response.content) == (200, b"x")
    response = node.daemon.contents(node.uuid(), "sub/up/hello.txt")
    assert (response.status_code, response.content) == (200, b"hello")
    response = node.daemon.contents(node.uuid(), "sub/up2/%s/secret.txt"
                                    % os.path.relpath(node.sentinel, node.data_dir))
    assert_not_found(response)
    assert_no_secret(response)


@pytest.mark.parametrize("target", ["{base}/PWNED-dangling.txt",
                                    "../../sentinel/PWNED-dangling.txt"])
def test_a_dangling_file_link_is_never_created_through(node, target):
    """Advisory #3: writing or uploading onto a dangling link creates nothing outside."""
    node.link("dangle", expand(node, target))
    assert_not_found(node.daemon.write(node.uuid(), "dangle", b"PWNED"))
    assert_not_found(node.upload(node.token(), [("dangle", b"PWNED")]))
    assert_not_found(node.daemon.contents(node.uuid(), "dangle"))
    assert node.daemon.chmod(node.uuid(), "/", [{"file": "dangle", "mode": "777"}]
                             ).status_code in (204, 404)
    assert os.path.islink(node.host("dangle"))


def test_a_dangling_directory_link_is_never_created_through(node):
    """Advisory #3: ``mkdir -p`` and parent creation never follow a link."""
    node.put("hello.txt", b"hello")
    node.link("dangdir", os.path.join(node.base_dir, "PWNED-dir"))
    assert_not_found(node.daemon.write(node.uuid(), "dangdir/x.txt", b"PWNED"))
    assert_not_found(node.daemon.mkdir(node.uuid(), "x", "/dangdir"))
    assert_not_found(node.daemon.rename(node.uuid(), "/", [{"from": "hello.txt",
                                                            "to": "dangdir/x.txt"}]))
    assert_not_found(node.upload(node.token(), [("x.txt", b"PWNED")], directory="/dangdir"))
    response = node.daemon.mkdir(node.uuid(), "dangdir", "/")
    assert response.status_code in (204, 400, 404), response.text
    node.put("pack.zip", zip_bytes([("dangdir/PWNED.txt", b"x")]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "pack.zip"))
    assert os.path.islink(node.host("dangdir"))


@pytest.mark.parametrize("links", [{"loop": "loop"}, {"a": "b", "b": "a"},
                                   {"slash": "/"}, {"proc": "/proc/self/root"}])
def test_loops_and_links_to_the_host_root(node, links):
    for name, target in links.items():
        node.link(name, target)
    name = next(iter(links))
    for path in (name, name + "/etc/hostname", name + "/" + node.sentinel.lstrip("/")
                 + "/secret.txt"):
        response = node.daemon.contents(node.uuid(), path)
        assert_not_found(response)
        assert_no_secret(response)
    for directory in (name, name + "/etc", name + "/" + node.sentinel.lstrip("/")):
        assert_not_found(node.daemon.list_dir(node.uuid(), directory))
    for path in (name + "/PWNED", name + node.sentinel + "/PWNED"):
        assert_not_found(node.daemon.write(node.uuid(), path, b"PWNED"))


def test_link_into_another_server_is_out_of_reach(node, other_file):
    node.link("ol", "../" + node.uuid("other"))
    response = node.daemon.contents(node.uuid(), "ol/" + OTHER_FILE)
    assert_not_found(response)
    assert_no_secret(response)
    assert_not_found(node.daemon.write(node.uuid(), "ol/PWNED.txt", b"x"))


# -- hostile archives (§5.10, §18 #44) ---------------------------------------------------

SLIP_NAMES = ["../../PWNED-slip.txt", "../../sentinel/secret.txt",
              "../../sentinel/PWNED-slip.txt", "/PWNED-abs.txt", "{base}/PWNED-host.txt",
              "a/../../../sentinel/PWNED.txt", "..\\..\\PWNED-backslash.txt"]


def slip_zip(node):
    return zip_bytes([(expand(node, name), b"PWNED") for name in SLIP_NAMES]
                     + [("fine.txt", b"fine")])


def test_zip_slip_with_the_panels_root_stays_inside(node):
    """§18 #44: with root ``/`` the entries are joined onto ``/`` (HEAD 204, files inside)
    or the extraction is refused; nothing lands outside (fixture)."""
    node.put("slip.zip", slip_zip(node))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "slip.zip"))


def test_zip_slip_with_an_empty_root_is_refused(node):
    """§18 #44: with ``"root":""`` a climbing entry must be refused."""
    node.put("slip.zip", zip_bytes([("../../PWNED-slip.txt", b"PWNED")]))
    assert_not_found(node.daemon.decompress(node.uuid(), "", "slip.zip"))


@pytest.mark.parametrize("compression", ["", "gz"])
def test_tar_slip_stays_inside(node, compression):
    node.put("slip.tar", tar_bytes([tar_file(expand(node, name), b"PWNED")
                                    for name in SLIP_NAMES], compression))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "slip.tar"))


def test_tar_entries_with_inner_dots_stay_usable(node):
    """§5.10: an entry is cleaned like any path; ``..`` that stays inside is fine."""
    node.put("dots.tar", tar_bytes([tar_file("a/../b.txt", b"b"), tar_file("./c.txt", b"c")]))
    assert node.daemon.decompress(node.uuid(), "/", "dots.tar").status_code == 204
    assert (node.read("b.txt"), node.read("c.txt")) == (b"b", b"c")


@pytest.mark.parametrize("target", OUT_DIR_TARGETS)
def test_tar_symlink_then_file_through_it(node, target):
    """A link entry followed by an entry beneath it: the classic two-step slip."""
    node.put("evil.tar", tar_bytes([
        tar_special("ln", tarfile.SYMTYPE, expand(node, target)),
        tar_file("ln/PWNED.txt", b"PWNED"),
        tar_file("ln/secret.txt", b"PWNED"),
        tar_special("deep/ln2", tarfile.SYMTYPE, "../" + expand(node, target)),
        tar_file("deep/ln2/inner/PWNED.txt", b"PWNED")]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "evil.tar"))
    response = node.daemon.contents(node.uuid(), "ln/secret.txt")
    assert_no_secret(response)


@pytest.mark.parametrize("target", OUT_FILE_TARGETS)
def test_tar_symlink_then_overwrite(node, target):
    """A link entry to a host file, then a regular entry of the same name."""
    node.put("evil.tar", tar_bytes([tar_special("pw", tarfile.SYMTYPE, expand(node, target)),
                                    tar_file("pw", b"PWNED")]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "evil.tar"))
    assert_no_secret(node.daemon.contents(node.uuid(), "pw"))


@pytest.mark.parametrize("target", OUT_FILE_TARGETS + ["../" + OUT_FILE_TARGETS[1]])
def test_tar_hard_link_to_a_host_file(node, target):
    """A hard link entry must not link (or copy) a file from outside the root, and a later
    entry of the same name must not write into it."""
    node.put("evil.tar", tar_bytes([tar_special("hl", tarfile.LNKTYPE, expand(node, target)),
                                    tar_file("hl", b"PWNED"),
                                    tar_special("hl2", tarfile.LNKTYPE, expand(node, target))]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "evil.tar"))
    assert_root_shares_no_inode_with_the_sentinel(node)
    for name in ("hl", "hl2"):
        assert_no_secret(node.daemon.contents(node.uuid(), name))


@pytest.mark.parametrize("target", OUT_DIR_TARGETS)
def test_zip_symlink_entries(node, target):
    node.put("evil.zip", zip_bytes([
        zip_symlink("zl", expand(node, target)),
        ("zl/PWNED.txt", b"PWNED"),
        zip_symlink("zf", expand(node, target) + "/secret.txt")]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "evil.zip"))
    for path in ("zl/secret.txt", "zf"):
        assert_no_secret(node.daemon.contents(node.uuid(), path))


def test_device_and_fifo_entries_are_never_created(node):
    """A root daemon must not make device nodes from an archive; FIFOs would hang readers."""
    node.put("dev.tar", tar_bytes([tar_special("null", tarfile.CHRTYPE),
                                   tar_special("disk", tarfile.BLKTYPE),
                                   tar_special("fifo", tarfile.FIFOTYPE),
                                   tar_file("ok.txt", b"ok")]))
    assert_refused_or_done(node.daemon.decompress(node.uuid(), "/", "dev.tar"))
    for name in ("null", "disk", "fifo"):
        if node.exists(name):
            assert stat.S_ISREG(os.lstat(node.host(name)).st_mode), name


def test_decompress_of_a_link_to_a_host_archive_is_404(node):
    """The archive path's final component is never followed (§6.2)."""
    archive = os.path.join(node.sentinel, "inner")
    node.link("arch.tar", archive)
    node.link("arch2.tar", os.path.join(node.sentinel, "secret.txt"))
    assert_not_found(node.daemon.decompress(node.uuid(), "/", "arch.tar"))
    assert_not_found(node.daemon.decompress(node.uuid(), "/", "arch2.tar"))
