"""Where local backups live (wings-api.md §7.5, §8.3 [REQ]; peers.md, Pelican's per-server
backup directories): the server's directory first, Wings' flat path still found, uuids
validated before they touch a path, symlinks and directories never taken for a backup."""

import os
import types

import pytest

from wingspan import backups, errors

SERVER = "8d6c1d64-3b3a-4f0e-9a51-0d2f6c0b7e10"
OTHER = "1f0e2d3c-4b5a-4697-8887-a9b8c7d6e5f4"
BACKUP = "4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture
def cfg(tmp_path):
    return types.SimpleNamespace(system=types.SimpleNamespace(
        backup_directory=str(tmp_path / "backups")))


def put(path, data=b"archive"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_new_backups_go_to_the_servers_directory(cfg):
    assert backups.archive_path(cfg, SERVER, BACKUP) == os.path.join(
        cfg.system.backup_directory, SERVER, BACKUP + ".tar.gz")


def test_the_servers_directory_wins_then_the_flat_path(cfg):
    flat = put(os.path.join(cfg.system.backup_directory, BACKUP + ".tar.gz"), b"flat")
    with backups.open_backup(cfg, SERVER, BACKUP) as stream:
        assert stream.read() == b"flat"
    put(backups.archive_path(cfg, SERVER, BACKUP), b"mine")
    with backups.open_backup(cfg, SERVER, BACKUP) as stream:
        assert stream.read() == b"mine" and stream.size == 4
    assert os.path.exists(flat)


def test_another_servers_backup_is_not_found(cfg):
    put(backups.archive_path(cfg, OTHER, BACKUP))
    with pytest.raises(errors.BackupNotFound):
        backups.open_backup(cfg, SERVER, BACKUP)
    with pytest.raises(errors.BackupNotFound):
        backups.delete_backup(cfg, SERVER, BACKUP)
    assert os.path.exists(backups.archive_path(cfg, OTHER, BACKUP))


@pytest.mark.parametrize("name", ["../../etc/passwd", "", "x" * 36, BACKUP + "\n",
                                  BACKUP + "/../" + BACKUP, None])
def test_a_name_that_is_no_uuid_names_no_backup(cfg, name):
    with pytest.raises(errors.BackupNotFound):
        backups.open_backup(cfg, SERVER, name)
    with pytest.raises(errors.BadRequest):
        backups.check_uuid(name)


def test_symlinks_and_directories_are_no_backups(cfg, tmp_path):
    secret = put(str(tmp_path / "secret"), b"secret")
    os.makedirs(os.path.join(cfg.system.backup_directory, SERVER))
    os.symlink(secret, backups.archive_path(cfg, SERVER, BACKUP))
    os.makedirs(os.path.join(cfg.system.backup_directory, BACKUP + ".tar.gz"))
    with pytest.raises(errors.BackupNotFound):
        backups.open_backup(cfg, SERVER, BACKUP)
    with pytest.raises(errors.BackupNotFound):
        backups.delete_backup(cfg, SERVER, BACKUP)
    assert os.path.exists(secret)


def test_delete_then_404(cfg):
    path = put(backups.archive_path(cfg, SERVER, BACKUP))
    backups.delete_backup(cfg, SERVER, BACKUP)
    assert not os.path.exists(path)
    with pytest.raises(errors.BackupNotFound):
        backups.delete_backup(cfg, SERVER, BACKUP)


def test_delete_all_takes_the_servers_directory_only(cfg):
    mine = put(backups.archive_path(cfg, SERVER, BACKUP))
    theirs = put(backups.archive_path(cfg, OTHER, BACKUP))
    flat = put(os.path.join(cfg.system.backup_directory, BACKUP + ".tar.gz"))
    backups.delete_all(cfg, SERVER)
    backups.delete_all(cfg, SERVER)
    assert not os.path.exists(mine)
    assert os.path.exists(theirs) and os.path.exists(flat)


def test_unfinished_archives_are_swept(cfg):
    done = put(backups.archive_path(cfg, SERVER, BACKUP))
    directory = os.path.dirname(done)
    put(os.path.join(directory, ".%s.1a2b.tmp" % BACKUP))
    put(os.path.join(directory, ".%s.1a2b.part3.tmp" % BACKUP))
    backups.remove_unfinished(cfg, SERVER)
    backups.remove_unfinished(cfg, OTHER)
    assert os.listdir(directory) == [BACKUP + ".tar.gz"]


@pytest.mark.parametrize("adapter", ["wings", "s3"])
def test_adapters(adapter):
    assert backups.check_adapter(adapter) == adapter


@pytest.mark.parametrize("adapter", ["", "S3", "local", None])
def test_unknown_adapters_are_400(adapter):
    with pytest.raises(errors.BadRequest) as caught:
        backups.check_adapter(adapter)
    assert caught.value.status == 400
