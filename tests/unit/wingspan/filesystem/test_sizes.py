"""The C per-directory scan behind the disk-usage walk and the ownership fix
(wingspan/filesystem/_sizes.c)."""

import errno
import os
import subprocess

import pytest

from wingspan.filesystem._sizes import scan_directory
from wingspan.filesystem.tree import open_child


@pytest.fixture
def open_dir():
    fds = []

    def opener(path):
        fds.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY))
        return fds[-1]

    yield opener
    for fd in fds:
        os.close(fd)


def test_sums_regular_files_and_names_real_subdirectories_only(tmp_path, open_dir):
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "b").write_bytes(b"y" * 32)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deeper").write_bytes(b"z" * 1000)
    (tmp_path / "to-file").symlink_to("a")
    (tmp_path / "to-dir").symlink_to("sub")
    (tmp_path / "dangling").symlink_to("nowhere")
    os.mkfifo(tmp_path / "pipe")
    assert scan_directory(open_dir(tmp_path)) == (42, ["sub"], 0)


def test_hard_links_count_each_time(tmp_path, open_dir):
    (tmp_path / "one").write_bytes(b"x" * 5)
    os.link(tmp_path / "one", tmp_path / "two")
    assert scan_directory(open_dir(tmp_path)) == (10, [], 0)


def test_sizes_beyond_32_bits_are_exact(tmp_path, open_dir):
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(5 * 2**30 + 3)
    assert scan_directory(open_dir(tmp_path)) == (5 * 2**30 + 3, [], 0)


def test_reads_from_the_start_every_time_and_leaves_the_descriptor_open(tmp_path, open_dir):
    (tmp_path / "f").write_bytes(b"x" * 7)
    fd = open_dir(tmp_path)
    assert scan_directory(fd) == (7, [], 0)
    assert scan_directory(fd) == (7, [], 0)
    os.fstat(fd)


def test_many_long_subdirectory_names_all_come_back(tmp_path, open_dir):
    names = {"%04d-%s" % (n, "d" * 200) for n in range(300)}
    for name in names:
        (tmp_path / name).mkdir()
    size, subdirs, _ = scan_directory(open_dir(tmp_path))
    assert size == 0
    assert sorted(subdirs) == sorted(names)


def test_a_name_that_is_not_utf8_round_trips_to_open_child(tmp_path, open_dir):
    raw = b"caf\xe9-\xff"
    os.mkdir(os.path.join(os.fsencode(tmp_path), raw))
    with open(os.path.join(os.fsencode(tmp_path), raw, b"f"), "wb") as f:
        f.write(b"q" * 3)
    fd = open_dir(tmp_path)
    _, subdirs, _ = scan_directory(fd)
    assert subdirs == [os.fsdecode(raw)]
    child = open_child(fd, subdirs[0])
    try:
        assert scan_directory(child) == (3, [], 0)
    finally:
        os.close(child)


def test_a_file_descriptor_is_refused_with_enotdir(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with pytest.raises(OSError) as caught:
            scan_directory(fd)
        assert caught.value.errno == errno.ENOTDIR
    finally:
        os.close(fd)


def test_a_closed_descriptor_is_refused_with_ebadf(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    os.close(fd)
    with pytest.raises(OSError) as caught:
        scan_directory(fd)
    assert caught.value.errno == errno.EBADF


def test_only_descriptors_are_accepted():
    with pytest.raises(TypeError):
        scan_directory("/tmp")


def owners(path):
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def test_an_owner_is_given_every_entry_that_is_not_theirs_without_following_links(
        tmp_path, open_dir):
    outside = tmp_path / "outside"
    outside.write_bytes(b"host file")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a").write_bytes(b"x" * 4)
    (root / "link").symlink_to(outside)
    os.mkfifo(root / "pipe")
    (root / "mine").write_bytes(b"y")
    os.chown(root / "mine", 1234, 5678)
    fd = open_dir(root)
    size, subdirs, changed = scan_directory(fd, (1234, 5678))
    assert (size, subdirs, changed) == (5, ["sub"], 4)
    for name in ("sub", "a", "link", "pipe", "mine"):
        assert owners(root / name) == (1234, 5678), name
    assert owners(outside) == (0, 0)
    assert owners(root) == (0, 0)  # the directory scanned is its caller's to give
    assert scan_directory(fd, (1234, 5678)) == (5, ["sub"], 0)


def test_an_entry_that_cannot_be_given_away_is_an_error(tmp_path, open_dir):
    """``check_permissions_on_boot``: a chown failure aborts the start (wings-behaviour.md
    §2.3). An immutable file refuses even root."""
    stuck = tmp_path / "stuck"
    stuck.write_bytes(b"x")
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem has no immutable attribute")
    try:
        with pytest.raises(PermissionError):
            scan_directory(open_dir(tmp_path), (1234, 5678))
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)


@pytest.mark.parametrize("owner,error", [((1,), TypeError), (("a", 1), TypeError),
                                         ((-1, 1), ValueError), ((1, 2**32 - 1), ValueError),
                                         ((2**40, 1), ValueError)])
def test_an_owner_must_be_a_pair_of_real_ids(tmp_path, open_dir, owner, error):
    """-1 would leave the id alone rather than give the entry away."""
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(error):
        scan_directory(open_dir(tmp_path), owner)
    assert owners(tmp_path / "f") == (0, 0)
