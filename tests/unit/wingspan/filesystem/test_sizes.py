"""The C per-directory scan behind the disk-usage walk (wingspan/filesystem/_sizes.c)."""

import errno
import os

import pytest

from wingspan.filesystem._sizes import scan_sizes
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
    size, subdirs = scan_sizes(open_dir(tmp_path))
    assert (size, subdirs) == (42, ["sub"])


def test_hard_links_count_each_time(tmp_path, open_dir):
    (tmp_path / "one").write_bytes(b"x" * 5)
    os.link(tmp_path / "one", tmp_path / "two")
    assert scan_sizes(open_dir(tmp_path)) == (10, [])


def test_sizes_beyond_32_bits_are_exact(tmp_path, open_dir):
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(5 * 2**30 + 3)
    assert scan_sizes(open_dir(tmp_path)) == (5 * 2**30 + 3, [])


def test_reads_from_the_start_every_time_and_leaves_the_descriptor_open(tmp_path, open_dir):
    (tmp_path / "f").write_bytes(b"x" * 7)
    fd = open_dir(tmp_path)
    assert scan_sizes(fd) == (7, [])
    assert scan_sizes(fd) == (7, [])
    os.fstat(fd)


def test_many_long_subdirectory_names_all_come_back(tmp_path, open_dir):
    names = {"%04d-%s" % (n, "d" * 200) for n in range(300)}
    for name in names:
        (tmp_path / name).mkdir()
    size, subdirs = scan_sizes(open_dir(tmp_path))
    assert size == 0
    assert sorted(subdirs) == sorted(names)


def test_a_name_that_is_not_utf8_round_trips_to_open_child(tmp_path, open_dir):
    raw = b"caf\xe9-\xff"
    os.mkdir(os.path.join(os.fsencode(tmp_path), raw))
    with open(os.path.join(os.fsencode(tmp_path), raw, b"f"), "wb") as f:
        f.write(b"q" * 3)
    fd = open_dir(tmp_path)
    _, subdirs = scan_sizes(fd)
    assert subdirs == [os.fsdecode(raw)]
    child = open_child(fd, subdirs[0])
    try:
        assert scan_sizes(child) == (3, [])
    finally:
        os.close(child)


def test_a_file_descriptor_is_refused_with_enotdir(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with pytest.raises(OSError) as caught:
            scan_sizes(fd)
        assert caught.value.errno == errno.ENOTDIR
    finally:
        os.close(fd)


def test_a_closed_descriptor_is_refused_with_ebadf(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    os.close(fd)
    with pytest.raises(OSError) as caught:
        scan_sizes(fd)
    assert caught.value.errno == errno.EBADF


def test_only_descriptors_are_accepted():
    with pytest.raises(TypeError):
        scan_sizes("/tmp")
