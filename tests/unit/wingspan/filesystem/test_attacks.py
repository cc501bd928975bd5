"""The attack suite: traversal, symlinks and races against every jail operation.

Every test freezes the tree outside the root (``server.freeze()``) and the fixture checks
at teardown that nothing there changed (wings-api.md §17 REQ 6: no operation may read,
write, list, chmod, rename, delete, create or extract anything outside the server root;
§6.2; peers.md advisories 3, 4, 6 and 13).
"""

import os
import shutil
import threading
import time

import pytest

from wingspan import errors
from wingspan.filesystem import resolve

from .conftest import SECRET, body, listed

TRAVERSALS = [
    "../outside/etc/passwd",
    "/../outside/etc/passwd",
    "../../../../../../etc/passwd",
    "a/../../outside/etc/passwd",
    "..//outside/etc/passwd",
    "/..%2F..%2Foutside".replace("%2F", "/"),   # already decoded by the HTTP layer
    "x\x00/../../outside/etc/passwd",
]


@pytest.fixture
def scene(server):
    """Links planted in the root by a hostile container: to a file and a directory outside,
    absolute and relative, plus harmless content."""
    server.put("a/inside.txt", b"inside")
    server.link("abs_dir", server.outside)                      # -> /tmp/.../outside
    server.link("rel_dir", "../outside")                        # climbs out relatively
    server.link("abs_file", os.path.join(server.outside, "etc/passwd"))
    server.link("rel_file", "../outside/etc/passwd")
    server.link("deep/rel_dir", "../../outside/etc")
    server.link("dangling_out", "../outside/newdir")            # target does not exist yet
    server.link("dangling_abs", os.path.join(server.outside, "created"))
    server.freeze()
    return server


ESCAPING_DIRS = ["abs_dir", "rel_dir", "deep/rel_dir", "dangling_out", "dangling_abs"]
ESCAPING_FILES = ["abs_file", "rel_file"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused_everywhere(jail, scene, path):
    """§6.1: ``..`` above the root fails with 404 for every operation, touching nothing."""
    for attempt in (lambda: jail.stat(path), lambda: jail.open_read(path),
                    lambda: listed(jail, path),
                    lambda: jail.write(path, body(b"pwned")), lambda: jail.copy(path)):
        with pytest.raises(errors.PathOutsideRoot) as caught:
            attempt()
        assert caught.value.status == 404


def test_mkdir_joins_like_go_and_stays_inside(jail, scene):
    """§5.7 joins ``path`` and ``name``: a rooted path cannot climb above ``/``."""
    jail.mkdir("x", "/../outside/etc")
    assert os.path.isdir(scene.path("outside/etc/x"))
    jail.mkdir("../../../y", "/")
    assert os.path.isdir(scene.path("y"))
    with pytest.raises(errors.PathOutsideRoot):
        jail.mkdir("x", "../outside")


@pytest.mark.parametrize("path", [path for path in TRAVERSALS if not path.startswith("/")])
def test_traversal_with_an_unrooted_root_is_refused(jail, scene, path):
    """rename/delete/chmod join with ``root`` (§5.5, §5.8, §5.11); with an empty root an
    unrooted ``..`` is not clamped at ``/`` and is refused."""
    with pytest.raises(errors.PathOutsideRoot):
        jail.rename("", "a/inside.txt", path)
    with pytest.raises(errors.PathOutsideRoot):
        jail.delete("", [path])
    with pytest.raises(errors.PathOutsideRoot):
        jail.chmod("", [{"file": path, "mode": "777"}])
    assert scene.read("a/inside.txt") == b"inside"


@pytest.mark.parametrize("link", ESCAPING_DIRS)
def test_intermediate_symlink_out_is_refused(jail, scene, link):
    """§6.2 [REQ]: ``link/x`` with ``link -> outside`` is refused for every operation
    (the openat fallback bug of Wings HEAD), including creation through a dangling link
    (CVE-2023-25152)."""
    target = link + "/passwd"
    for attempt in (lambda: jail.stat(target), lambda: jail.open_read(target),
                    lambda: listed(jail, link + "/"),
                    lambda: jail.write(target, body(b"pwned")),
                    lambda: jail.write(link + "/new/deeper.txt", body(b"pwned")),
                    lambda: jail.copy(target), lambda: jail.mkdir("made", link),
                    lambda: jail.rename("/", "a/inside.txt", link + "/moved"),
                    lambda: jail.rename("/", target, "stolen"),
                    lambda: jail.delete("/", [target]),
                    lambda: jail.chmod("/", [{"file": target, "mode": "777"}])):
        with pytest.raises(errors.PathOutsideRoot):
            attempt()
    assert scene.read("a/inside.txt") == b"inside"


@pytest.mark.parametrize("link", ESCAPING_FILES + ESCAPING_DIRS)
def test_final_symlink_is_never_followed(jail, scene, link):
    """§6.2: a symlink as the last element cannot be stat-ed, read, written, listed or
    copied; chmod skips it (GHSA-rhq6-9rgh-v45c)."""
    for attempt in (lambda: jail.stat(link), lambda: jail.open_read(link),
                    lambda: listed(jail, link),
                    lambda: jail.write(link, body(b"pwned"))):
        with pytest.raises(errors.FileNotFound):   # PathOutsideRoot is one
            attempt()
    with pytest.raises(errors.FileNotFound):
        jail.copy(link)
    jail.chmod("/", [{"file": link, "mode": "777"}])
    assert os.lstat(os.path.join(scene.outside, "etc/passwd")).st_mode & 0o777 == 0o644
    assert jail.read_bytes("a/inside.txt", 100) == b"inside"


def test_chmod_of_a_symlink_changes_neither_link_nor_target(jail, scene):
    """peers.md #13: fchmodat without AT_SYMLINK_NOFOLLOW changed host files."""
    jail.chmod("/", [{"file": "abs_file", "mode": "0777"}, {"file": "rel_file", "mode": "777"},
                     {"file": "abs_dir", "mode": "777"}])
    assert os.stat(os.path.join(scene.outside, "etc/passwd")).st_mode & 0o777 == 0o644
    assert os.stat(scene.outside).st_mode & 0o777 == 0o755


def test_delete_removes_links_not_targets(jail, scene):
    """peers.md #4 (CVE-2023-25168): deleting a link never deletes what it points to."""
    jail.delete("/", ["abs_dir", "rel_dir", "abs_file", "rel_file", "deep", "dangling_out"])
    for name in ("abs_dir", "rel_dir", "abs_file", "rel_file", "deep", "dangling_out"):
        assert not os.path.lexists(scene.path(name))
    with open(os.path.join(scene.outside, "etc/passwd"), "rb") as passwd:
        assert passwd.read() == SECRET


def test_delete_of_a_directory_holding_links_out(jail, scene):
    scene.link("tree/sub/out", scene.outside)
    scene.put("tree/sub/file", b"12345")
    scene.freeze()
    jail.delete("/", ["tree"])
    assert not os.path.lexists(scene.path("tree"))


@pytest.mark.parametrize("files", [["/"], [""], ["."], [".."], ["../"], ["a", "/"]])
def test_delete_never_removes_the_root(jail, scene, files):
    """§5.8: deleting the root is an error and nothing at all is removed."""
    with pytest.raises(errors.PathOutsideRoot):
        jail.delete("/", files)
    assert scene.read("a/inside.txt") == b"inside"


def test_rename_into_parent_stays_inside(jail, scene):
    """§5.5: ``to = path.Join(root, to)``: ``../x`` from ``/`` is ``/x``."""
    jail.rename("/", "a/inside.txt", "../../moved.txt")
    assert scene.read("moved.txt") == b"inside"
    jail.rename("/a", "../moved.txt", "../back.txt")
    assert scene.read("back.txt") == b"inside"


def test_rename_moves_a_link_itself(jail, scene):
    jail.rename("/", "abs_dir", "a/still_a_link")
    assert os.readlink(scene.path("a/still_a_link")) == scene.outside


def test_in_root_symlinks_are_followed_inside_only(jail, server):
    """§6.2: relative links that stay inside work (as with openat2 RESOLVE_BENEATH);
    absolute links fail even when they name a place inside the root."""
    server.put("data/real.txt", b"real")
    server.link("rel", "data")
    server.link("chain1", "chain2")
    server.link("chain2", "./rel")
    server.link("nested/up", "../data")
    server.link("absolute_inside", server.path("data"))
    server.freeze()
    assert jail.read_bytes("rel/real.txt", 10) == b"real"
    assert jail.read_bytes("chain1/real.txt", 10) == b"real"
    assert jail.read_bytes("nested/up/real.txt", 10) == b"real"
    jail.write("chain1/new.txt", body(b"new"))
    assert server.read("data/new.txt") == b"new"
    with pytest.raises(errors.PathOutsideRoot):
        jail.read_bytes("absolute_inside/real.txt", 10)


def test_symlink_loop_and_long_chains(jail, server):
    server.link("loop1", "loop2")
    server.link("loop2", "loop1")
    server.link("self", "self")
    server.freeze()
    for path in ("loop1/x", "self/x"):
        with pytest.raises(errors.PathOutsideRoot):
            jail.open_read(path)
        with pytest.raises(errors.PathOutsideRoot):
            jail.write(path, body(b"x"))


def test_symlink_chain_ending_outside(jail, server):
    server.link("hop1", "hop2")
    server.link("hop2", "sub/hop3")
    server.link("sub/hop3", "../../outside")
    server.freeze()
    with pytest.raises(errors.PathOutsideRoot):
        jail.write("hop1/etc/passwd", body(b"pwned"))


def test_dangling_link_inside_creates_inside(jail, server):
    server.link("later", "made/here")
    server.freeze()
    jail.write("later/file.txt", body(b"ok"))
    assert server.read("made/here/file.txt") == b"ok"


def test_directory_swapped_for_a_symlink_between_components(jail, server, monkeypatch):
    """A race, made deterministic: right after the walk opens ``a``, the container
    replaces ``a/b`` with a link to the outside. The walk reads the new link and refuses
    it; no string path is ever re-resolved."""
    server.put("a/b/keep.txt", b"keep")
    server.freeze()
    real_open = os.open

    def racing_open(path, flags, mode=0o777, *, dir_fd=None):
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        if path == "a" and dir_fd is not None and not os.path.islink(server.path("a/b")):
            os.rename(server.path("a/b"), server.path("b_moved"))
            os.symlink(server.outside, server.path("a/b"))
        return fd

    monkeypatch.setattr(resolve, "use_openat2", lambda mode: False)
    monkeypatch.setattr(os, "open", racing_open)
    with pytest.raises(errors.PathOutsideRoot):
        jail.write("a/b/etc/passwd", body(b"pwned"))
    monkeypatch.undo()
    assert os.path.islink(server.path("a/b"))


def test_parent_swapped_after_resolution_is_not_followed(jail, server, monkeypatch):
    """The parent is swapped for a link after it was resolved: the write lands in the
    directory that was resolved (now moved, still inside), never through the new link."""
    server.put("a/old.txt", b"old")
    server.freeze()
    real_open_directory = resolve.open_directory

    def swapping(root_fd, parts, **kwargs):
        fd = real_open_directory(root_fd, parts, **kwargs)
        if parts == ["a"]:
            os.rename(server.path("a"), server.path("a_moved"))
            os.symlink("../outside/etc", server.path("a"))
        return fd

    monkeypatch.setattr(resolve, "open_directory", swapping)
    jail.write("a/passwd", body(b"pwned"))
    monkeypatch.undo()
    assert server.read("a_moved/passwd") == b"pwned"


def test_racing_swaps_never_lead_outside(jail, server):
    """A thread swaps ``a/b`` between a directory and a link out as fast as it can for
    half a second while writes, reads, listings and chmods go through ``a/b``."""
    os.makedirs(server.path("a/b"))
    server.freeze()
    stop = time.monotonic() + 0.5
    swaps = []

    def swapper():
        b, parked = server.path("a/b"), server.path("a/parked")
        while time.monotonic() < stop:
            try:
                if os.path.islink(b):
                    os.unlink(b)
                    os.rename(parked, b)
                else:
                    shutil.rmtree(parked, ignore_errors=True)
                    os.rename(b, parked)
                    os.symlink(server.outside, b)
                    swaps.append(1)
            except OSError:
                continue

    thread = threading.Thread(target=swapper)
    thread.start()
    attempts = 0
    while time.monotonic() < stop:
        attempts += 1
        for attempt in (lambda: jail.write("a/b/etc/passwd", body(b"pwned")),
                        lambda: jail.write("a/b/run.sh", body(b"pwned")),
                        lambda: jail.read_bytes("a/b/etc/passwd", 100),
                        lambda: listed(jail, "a/b/etc"),
                        lambda: jail.chmod("/", [{"file": "a/b/run.sh", "mode": "4777"}]),
                        lambda: jail.mkdir("made", "a/b/etc")):
            try:
                result = attempt()
            except errors.WingspanError:
                continue
            assert result != SECRET
    thread.join()
    assert swaps and attempts > 10
    server.assert_untouched()


def test_openat2_mode_resolves_like_the_walk(server, make_jail):
    """Both modes answer the same for the same scene (the kernel's RESOLVE_BENEATH
    against our component walk)."""
    server.put("d/f.txt", b"f")
    server.link("in", "d")
    server.link("out", "../outside")
    server.freeze()
    jail = make_jail()
    assert jail.read_bytes("in/f.txt", 10) == b"f"
    with pytest.raises(errors.PathOutsideRoot):
        jail.read_bytes("out/etc/passwd", 100)


def test_the_sentinel_notices_any_change(server):
    """The outside check itself can fail: a mode, a byte or a new file is noticed."""
    server.freeze()
    passwd = os.path.join(server.outside, "etc/passwd")
    for change, undo in (
            (lambda: os.chmod(passwd, 0o777), lambda: os.chmod(passwd, 0o644)),
            (lambda: open(os.path.join(server.base, "evil"), "wb").close(),
             lambda: os.unlink(os.path.join(server.base, "evil"))),
            (lambda: os.utime(passwd, ns=(0, 0)), None)):
        change()
        with pytest.raises(AssertionError):
            server.assert_untouched()
        if undo is not None:
            undo()
    server.freeze()
