"""Permissions, read-only mode and the jail over SFTP (wings-behaviour.md §12.3, wings-api.md
§14, §17 #6; peers.md: denylist and symlinks hardened), with OpenSSH's client and paramiko.

Each permission is granted alone to a subuser and the operations it gates are tried with it
and without it.
"""

import os
import stat

import paramiko
import pytest

from tests.support.daemon import CONTAINER_GID, CONTAINER_UID

SERVERS = {"main": {"owner": "alice", "file_denylist": ["config.yml", "/locked/*"]}}


def assert_refused(result):
    assert result.returncode != 0, result.stdout


def test_file_read_lists_but_does_not_read_content(node, tmp_path):
    node.put("a.txt", b"secret")
    user = node.user("reader", ["file.sftp", "file.read"])
    listing = node.sftp(user, ["ls -1 /"])
    assert listing.returncode == 0, listing.stderr
    assert "a.txt" in listing.stdout
    assert_refused(node.sftp(user, ["get /a.txt %s" % (tmp_path / "a")]))
    assert not (tmp_path / "a").exists()


def test_file_read_content_reads(node, tmp_path):
    node.put("a.txt", b"secret")
    user = node.user("content", ["file.sftp", "file.read", "file.read-content"])
    result = node.sftp(user, ["get /a.txt %s" % (tmp_path / "a")])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a").read_bytes() == b"secret"


def test_without_file_read_nothing_is_listed(node):
    user = node.user("blind", ["file.sftp", "file.read-content"])
    assert_refused(node.sftp(user, ["ls /"]))


def test_file_create_creates_but_does_not_overwrite(node, tmp_path):
    local = tmp_path / "new.txt"
    local.write_bytes(b"new")
    node.put("old.txt", b"old")
    user = node.user("creator", ["file.sftp", "file.read", "file.create"])
    result = node.sftp(user, ["put %s /new.txt" % local, "mkdir /dir"])
    assert result.returncode == 0, result.stderr
    assert node.read("new.txt") == b"new"
    assert os.path.isdir(node.host("dir"))
    assert_refused(node.sftp(user, ["put %s /old.txt" % local]))
    assert node.read("old.txt") == b"old"


def test_file_update_overwrites_renames_and_chmods_but_does_not_create(node, tmp_path):
    local = tmp_path / "x"
    local.write_bytes(b"updated")
    node.put("old.txt", b"old")
    user = node.user("updater", ["file.sftp", "file.read", "file.update"])
    result = node.sftp(user, ["put %s /old.txt" % local, "rename /old.txt /moved.txt",
                              "chmod 600 /moved.txt"])
    assert result.returncode == 0, result.stderr
    assert node.read("moved.txt") == b"updated"
    assert stat.S_IMODE(os.stat(node.host("moved.txt")).st_mode) == 0o600
    assert_refused(node.sftp(user, ["put %s /fresh.txt" % local]))
    assert not os.path.exists(node.host("fresh.txt"))


def test_opening_for_read_and_write_needs_read_content_too(node):
    node.put("old.txt", b"secret")
    user = node.user("writeonly", ["file.sftp", "file.read", "file.update"])
    transport, client = node.paramiko(user)
    try:
        with pytest.raises(PermissionError):
            client.open("/old.txt", "r+")
        with client.open("/old.txt", "w") as f:
            f.write(b"replaced")
    finally:
        transport.close()
    assert node.read("old.txt") == b"replaced"


def test_file_delete_removes_and_is_needed_to(node):
    node.put("dir/deep/a.txt", b"a")
    node.put("b.txt", b"b")
    no_delete = node.user("keeper", ["file.sftp", "file.read", "file.update"])
    assert_refused(node.sftp(no_delete, ["rm /b.txt"]))
    assert os.path.exists(node.host("b.txt"))
    deleter = node.user("deleter", ["file.sftp", "file.read", "file.delete"])
    result = node.sftp(deleter, ["rm /b.txt", "rmdir /dir"])
    assert result.returncode == 0, result.stderr
    assert os.listdir(node.root()) == []


def test_rename_onto_an_existing_file_is_refused(node):
    """§12.3: rename fails if the target exists (posix-rename is the overwriting one)."""
    node.put("a", b"a")
    node.put("b", b"b")
    transport, client = node.paramiko(node.username())
    try:
        with pytest.raises(OSError):
            client.rename("/a", "/b")
    finally:
        transport.close()
    assert node.read("b") == b"b"


def test_setstat_forces_directories_to_0755_and_mode_0_to_0644(node):
    node.put("f", b"f")
    os.makedirs(node.host("d"))
    transport, client = node.paramiko(node.username())
    try:
        client.chmod("/f", 0)
        client.chmod("/d", 0o700)
    finally:
        transport.close()
    assert stat.S_IMODE(os.stat(node.host("f")).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(node.host("d")).st_mode) == 0o755


def test_directories_made_over_sftp_belong_to_the_server_user(node):
    result = node.sftp(node.username(), ["mkdir /made"])
    assert result.returncode == 0, result.stderr
    info = os.stat(node.host("made"))
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == \
        (CONTAINER_UID, CONTAINER_GID, 0o755)


def test_paths_cannot_climb_out_of_the_root(node, tmp_path):
    """§17 #6: ``..`` and absolute paths stay in the root (the root is ``/``)."""
    node.put("inside.txt", b"in")
    result = node.sftp(node.username(), ["cd ../../..", "pwd", "ls -1"])
    assert result.returncode == 0, result.stderr
    assert "Remote working directory: /" in result.stdout
    assert "inside.txt" in result.stdout
    assert_refused(node.sftp(node.username(), ["get /../../../../etc/hostname %s"
                                               % (tmp_path / "h")]))
    assert not (tmp_path / "h").exists()
    local = tmp_path / "x"
    local.write_bytes(b"x")
    result = node.sftp(node.username(), ["put %s /../../PWNED-sftp" % local])
    assert result.returncode == 0, result.stderr
    assert node.read("PWNED-sftp") == b"x"
    assert not os.path.exists(os.path.join(os.path.dirname(node.data_dir), "PWNED-sftp"))


def test_a_symlink_to_a_host_directory_leads_nowhere(node, tmp_path):
    """A link the container left pointing at the host is never followed: not listed
    through, not read, not written, not chmodded."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"host secret")
    os.chmod(outside / "secret", 0o600)
    os.symlink(str(outside), node.host("hostdir"))
    os.symlink(str(outside / "secret"), node.host("hostfile"))
    transport, client = node.paramiko(node.username())
    try:
        for attempt in (lambda: client.listdir("/hostdir"),
                        lambda: client.open("/hostdir/secret").read(),
                        lambda: client.open("/hostfile").read(),
                        lambda: client.open("/hostdir/PWNED", "w").write(b"x"),
                        lambda: client.open("/hostfile", "w").write(b"x"),
                        lambda: client.chmod("/hostfile", 0o777),
                        lambda: client.stat("/hostfile")):
            with pytest.raises(OSError):
                attempt()
        assert stat.S_ISLNK(client.lstat("/hostfile").st_mode)
    finally:
        transport.close()
    assert (outside / "secret").read_bytes() == b"host secret"
    assert stat.S_IMODE(os.stat(outside / "secret").st_mode) == 0o600
    assert os.listdir(outside) == ["secret"]


def test_symlinks_made_over_sftp_stay_inside(node):
    """A link's target is stored relative to its directory: it resolves in the root only;
    one aimed at a host path lands on the same path inside the root."""
    node.put("real/file.txt", b"real")
    transport, client = node.paramiko(node.username())
    try:
        client.symlink("/real/file.txt", "/link")
        assert client.open("/link").read() == b"real"
        assert client.readlink("/link") == "/real/file.txt"
        client.symlink("/etc/passwd", "/passwd")
        with pytest.raises(OSError):
            client.open("/passwd").read()
    finally:
        transport.close()
    assert os.readlink(node.host("link")) == "real/file.txt"
    assert os.readlink(node.host("passwd")) == "etc/passwd"


def test_rename_through_a_symlinked_directory_cannot_leave_the_root(node, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    node.put("a.txt", b"a")
    os.symlink(str(outside), node.host("out"))
    transport, client = node.paramiko(node.username())
    try:
        with pytest.raises(OSError):
            client.rename("/a.txt", "/out/a.txt")
        with pytest.raises(OSError):
            client.posix_rename("/a.txt", "/out/a.txt")
    finally:
        transport.close()
    assert os.listdir(outside) == []
    assert node.read("a.txt") == b"a"


def test_rename_onto_a_symlink_replaces_the_link_not_its_target(node, tmp_path):
    """posix-rename over a link to a host file moves the file into the root in the link's
    place; the host file is untouched (and plain rename is refused: the target exists)."""
    outside = tmp_path / "host.txt"
    outside.write_bytes(b"host")
    node.put("a.txt", b"a")
    os.symlink(str(outside), node.host("evil"))
    transport, client = node.paramiko(node.username())
    try:
        with pytest.raises(OSError):
            client.rename("/a.txt", "/evil")
        client.posix_rename("/a.txt", "/evil")
    finally:
        transport.close()
    assert outside.read_bytes() == b"host"
    assert not os.path.islink(node.host("evil"))
    assert node.read("evil") == b"a"


def test_the_egg_denylist_applies(node, tmp_path):
    """pelican (wings-api.md §16): denylisted files cannot be written, renamed or removed."""
    node.put("config.yml", b"keep")
    node.put("other.txt", b"o")
    local = tmp_path / "x"
    local.write_bytes(b"x")
    transport, client = node.paramiko(node.username())
    try:
        for attempt in (lambda: client.open("/config.yml", "w").write(b"x"),
                        lambda: client.open("/locked/new", "w").write(b"x"),
                        lambda: client.remove("/config.yml"),
                        lambda: client.rename("/config.yml", "/free.yml"),
                        lambda: client.rename("/other.txt", "/config.yml")):
            with pytest.raises(OSError):
                attempt()
        assert client.open("/config.yml").read() == b"keep"
    finally:
        transport.close()
    assert node.read("config.yml") == b"keep"
    assert not os.path.exists(node.host("locked"))


def test_paramiko_round_trip(node):
    transport, client = node.paramiko(node.username())
    try:
        with client.open("/p.bin", "w") as f:
            f.write(os.urandom(1) * 300000)
        assert client.stat("/p.bin").st_size == 300000
        assert sorted(client.listdir("/")) == ["p.bin"]
    finally:
        transport.close()
    assert isinstance(transport, paramiko.Transport)
