"""The resolver's own contract: mode selection (``system.openat_mode``, wings-api.md §6.2,
§15.2), error mapping (§1.6 [REC]) and the primitives the jail builds on."""

import errno
import logging
import os
import stat

import pytest

from wingspan import errors
from wingspan.filesystem import Jail, resolve

needs_openat2 = pytest.mark.skipif(not resolve.openat2_supported(),
                                   reason="kernel without openat2")


def test_openat_mode_selection(monkeypatch, caplog):
    monkeypatch.setattr(resolve, "openat2_supported", lambda: True)
    assert resolve.use_openat2("auto") and resolve.use_openat2("openat2")
    assert not resolve.use_openat2("openat")
    monkeypatch.setattr(resolve, "openat2_supported", lambda: False)
    resolve._warn_forced_openat2.cache_clear()
    with caplog.at_level(logging.WARNING, logger="wingspan.filesystem.resolve"):
        assert not resolve.use_openat2("openat2")
        assert not resolve.use_openat2("openat2")
    assert [r.getMessage() for r in caplog.records].count(
        "system.openat_mode is openat2 but the kernel refuses it; using openat") == 1


@needs_openat2
def test_openat2_mode_does_not_walk(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"f")

    def no_walk(*args):
        raise AssertionError("the component walk was used")

    monkeypatch.setattr(resolve, "_walk", no_walk)
    assert Jail(str(tmp_path), 0, 0, openat_mode="openat2").read_bytes("a/b/f", 9) == b"f"


def test_openat_mode_walks(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"f")
    monkeypatch.setattr(resolve, "_openat2", None)
    assert Jail(str(tmp_path), 0, 0, openat_mode="openat").read_bytes("a/f", 9) == b"f"


@pytest.mark.parametrize("code, error_type, status", [
    (errno.ENOENT, errors.FileNotFound, 404),
    (errno.ENOTDIR, errors.FileNotFound, 404),
    (errno.ELOOP, errors.PathOutsideRoot, 404),
    (errno.EXDEV, errors.PathOutsideRoot, 404),
    (errno.EISDIR, errors.IsADirectory, 400),
    (errno.ENAMETOOLONG, errors.NameTooLong, 400),
    (errno.ENOSPC, errors.NotEnoughDisk, 400),
    (errno.EDQUOT, errors.NotEnoughDisk, 400),
    (errno.EEXIST, errors.FileExists, 400),
    (errno.EIO, errors.WingspanError, 500),
])
def test_translate(code, error_type, status):
    """§1.6 mapping, hardened: not-found and escapes are 404, never 500."""
    error = resolve.translate(OSError(code, os.strerror(code)), "p")
    assert type(error) is error_type and error.status == status


def test_name_too_long_is_400(tmp_path):
    jail = Jail(str(tmp_path), 0, 0)
    with pytest.raises(errors.NameTooLong) as caught:
        jail.mkdir("x" * 300, "/")
    assert caught.value.public_message == "Cannot perform that action: file name is too long."


def test_open_regular_refuses_everything_but_regular_files(tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to("f")
    os.mkfifo(tmp_path / "p")
    dir_fd = os.open(tmp_path, resolve.DIR_FLAGS)
    try:
        fd, info = resolve.open_regular(dir_fd, "f")
        assert os.read(fd, 10) == b"data" and stat.S_ISREG(info.st_mode)
        os.close(fd)
        for name, error_type in (("d", errors.IsADirectory), ("l", errors.PathOutsideRoot),
                                 ("p", errors.NotARegularFile), ("nope", errors.FileNotFound)):
            with pytest.raises(error_type):
                resolve.open_regular(dir_fd, name)
    finally:
        os.close(dir_fd)


def test_rename_noreplace(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    dir_fd = os.open(tmp_path, resolve.DIR_FLAGS)
    try:
        with pytest.raises(FileExistsError):
            resolve.rename_noreplace(dir_fd, "a", dir_fd, "b")
        resolve.rename_noreplace(dir_fd, "a", dir_fd, "c")
    finally:
        os.close(dir_fd)
    assert (tmp_path / "b").read_bytes() == b"b" and (tmp_path / "c").read_bytes() == b"a"


def test_walk_limits_symlink_expansions(tmp_path):
    """More than MAX_SYMLINKS expansions (a long but finite chain) is refused like ELOOP."""
    for index in range(resolve.MAX_SYMLINKS + 1):
        (tmp_path / ("l%d" % index)).symlink_to("l%d" % (index + 1))
    (tmp_path / ("l%d" % (resolve.MAX_SYMLINKS + 1))).mkdir()
    root_fd = os.open(tmp_path, resolve.DIR_FLAGS)
    try:
        with pytest.raises(errors.PathOutsideRoot):
            resolve.open_directory(root_fd, ["l0"], fast=False)
        os.close(resolve.open_directory(root_fd, ["l1"], fast=False))
    finally:
        os.close(root_fd)
