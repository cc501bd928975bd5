"""OpenSSH extensions beyond Wings (issue 16): posix-rename, statvfs from the server's
quota, fsync, lsetstat; readlink and lstat inside the jail. Driven with OpenSSH's own
client, which uses each one when the server offers it."""

import os
import stat

from tests.integration.sftp.conftest import OWNER

MIB = 1024 * 1024
SERVERS = {"main": {"owner": OWNER, "disk": 4}, "unlimited": {"owner": OWNER, "disk": 0}}


def test_rename_is_posix_rename_and_replaces(node):
    """OpenSSH's ``rename`` is posix-rename@openssh.com when offered: it replaces; the
    replaced file's bytes are given back to the quota."""
    node.put("a", b"new")
    node.put("b", b"old")
    result = node.sftp(node.username(), ["rename /a /b"])
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(node.root())) == ["b"]
    assert node.read("b") == b"new"
    legacy = node.sftp(node.username(), ["put /dev/null /c", "rename -l /b /c"])
    assert legacy.returncode != 0
    assert node.read("b") == b"new"


def test_df_answers_from_the_quota(node, tmp_path):
    """statvfs@openssh.com: size is the server's disk limit, available what is left."""
    local = tmp_path / "one"
    local.write_bytes(b"\0" * MIB)
    result = node.sftp(node.username(), ["put %s /one" % local, "df /"])
    assert result.returncode == 0, result.stderr
    size, used, avail = [int(n) for n in result.stdout.splitlines()[-1].split()[:3]]
    assert size == 4 * 1024
    assert avail == 3 * 1024
    assert used == 1024


def test_df_without_a_limit_is_the_host_disk(node):
    result = node.sftp(node.username(server="unlimited"), ["df /"])
    assert result.returncode == 0, result.stderr
    size = int(result.stdout.splitlines()[-1].split()[0])
    host = os.statvfs(node.root("unlimited"))
    assert size == host.f_blocks * host.f_frsize // 1024


def test_put_with_fsync(node, tmp_path):
    """``put -f`` sends fsync@openssh.com after the data."""
    local = tmp_path / "synced"
    local.write_bytes(b"durable")
    result = node.sftp(node.username(), ["put -f %s /synced" % local])
    assert result.returncode == 0, result.stderr
    assert node.read("synced") == b"durable"


def test_chmod_h_uses_lsetstat_and_never_touches_a_link_target(node):
    """lsetstat@openssh.com on a symlink changes nothing behind it."""
    node.put("target", b"t")
    os.chmod(node.host("target"), 0o640)
    os.symlink("target", node.host("link"))
    result = node.sftp(node.username(), ["chmod -h 600 /link", "chmod -h 604 /target"])
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(node.host("target")).st_mode) == 0o604
    assert stat.S_ISLNK(os.lstat(node.host("link")).st_mode)


def test_readlink_and_lstat_inside_the_jail(node):
    node.put("dir/file", b"f")
    os.symlink("dir/file", node.host("rel"))
    os.symlink("/etc/passwd", node.host("abs"))
    transport, client = node.paramiko(node.username())
    try:
        assert client.readlink("/rel") == "/dir/file"
        assert stat.S_ISLNK(client.lstat("/abs").st_mode)
        try:
            client.readlink("/abs")
            raise AssertionError("a link out of the root was read")
        except OSError:
            pass
    finally:
        transport.close()


def test_a_large_directory_is_listed_whole(node):
    """Listed in batches read off the loop: every entry once, each with its lstat."""
    directory = node.host("many")
    os.makedirs(directory)
    for n in range(3000):
        with open(os.path.join(directory, "f%04d" % n), "wb") as f:
            f.write(b"x" * (n % 7))
    os.symlink("/etc", os.path.join(directory, "link"))
    transport, client = node.paramiko(node.username())
    try:
        entries = {a.filename: a for a in client.listdir_attr("/many")}
    finally:
        transport.close()
    assert len(entries) == 3001
    assert entries["f0006"].st_size == 6
    assert stat.S_ISLNK(entries["link"].st_mode)
