"""The disk quota over SFTP: checked on every write against live usage, not once at open
(wings-behaviour.md §12.3 status 15 "Quota Exceeded"; peers.md advisory #18).

Every server has ``build.disk_space`` = 1 MiB; each test uses its own server.
"""

import os
import threading

import pytest

from tests.integration.sftp.conftest import OWNER

MIB = 1024 * 1024
TESTS = ["crossing", "concurrent", "full", "freed", "truncate", "append"]
SERVERS = {name: {"owner": OWNER, "disk": 1} for name in TESTS}


def used(node, server):
    total = 0
    for directory, _, files in os.walk(node.root(server)):
        total += sum(os.lstat(os.path.join(directory, name)).st_size for name in files)
    return total


def test_a_write_crossing_the_limit_fails_and_leaves_no_more_than_the_limit(node, tmp_path):
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(3 * MIB))
    result = node.sftp(node.username(server="crossing"), ["put %s /big.bin" % local])
    assert result.returncode != 0
    assert used(node, "crossing") <= MIB


def test_concurrent_sessions_share_one_quota(node):
    """Two sessions writing at once cannot each use the whole quota (advisory #18)."""
    failures = []

    def upload(name):
        transport, client = node.paramiko(node.username(server="concurrent"))
        try:
            with client.open("/%s" % name, "w") as f:
                for _ in range(12):
                    f.write(b"\0" * (64 * 1024))
        except OSError as e:
            failures.append(str(e))
        finally:
            transport.close()

    threads = [threading.Thread(target=upload, args=("f%d" % n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert used(node, "concurrent") <= MIB
    assert failures and "Quota Exceeded" in failures[0]


def test_a_full_server_takes_no_more_bytes(node):
    transport, client = node.paramiko(node.username(server="full"))
    try:
        with client.open("/fill", "w") as f:
            f.write(b"\0" * MIB)
        with pytest.raises(OSError, match="Quota Exceeded"):
            with client.open("/more", "w") as f:
                f.write(b"x")
        assert client.stat("/fill").st_size == MIB
    finally:
        transport.close()
    assert used(node, "full") <= MIB


def test_deleting_gives_the_space_back(node):
    transport, client = node.paramiko(node.username(server="freed"))
    try:
        with client.open("/fill", "w") as f:
            f.write(b"\0" * MIB)
        client.remove("/fill")
        with client.open("/again", "w") as f:
            f.write(b"\0" * (MIB // 2))
    finally:
        transport.close()
    assert used(node, "freed") == MIB // 2


def test_growing_a_file_by_setstat_counts_too(node):
    transport, client = node.paramiko(node.username(server="truncate"))
    try:
        with client.open("/sparse", "w") as f:
            f.write(b"x")
        with pytest.raises(OSError):
            client.truncate("/sparse", 4 * MIB)
    finally:
        transport.close()
    assert used(node, "truncate") <= MIB


def test_appends_are_counted_where_they_land(node):
    """An append lands at the end whatever offset the client sends: counted there."""
    node.put("log", b"0123456789", server="append")
    transport, client = node.paramiko(node.username(server="append"))
    try:
        with client.open("/log", "a") as f:
            f.write(b"abcde")
        with pytest.raises(OSError, match="Quota Exceeded"):
            with client.open("/log", "a") as f:
                for _ in range(20):
                    f.write(b"\0" * (64 * 1024))
    finally:
        transport.close()
    assert node.read("log", server="append")[:15] == b"0123456789abcde"
    assert used(node, "append") <= MIB
