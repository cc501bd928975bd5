"""``system.sftp.read_only``: every write or command is "operation unsupported", reads work
(wings-behaviour.md §12.3, wings-api.md §14)."""

import os

import pytest

NODE_CONFIG = {"system": {"sftp": {"read_only": True}}}


def test_reads_work_and_every_change_is_unsupported(node):
    node.put("a.txt", b"a")
    os.makedirs(node.host("d"))
    transport, client = node.paramiko(node.username())
    try:
        assert sorted(client.listdir("/")) == ["a.txt", "d"]
        assert client.open("/a.txt").read() == b"a"
        for attempt in (lambda: client.open("/a.txt", "w"),
                        lambda: client.open("/new.txt", "w"),
                        lambda: client.mkdir("/m"),
                        lambda: client.remove("/a.txt"),
                        lambda: client.rmdir("/d"),
                        lambda: client.rename("/a.txt", "/b.txt"),
                        lambda: client.chmod("/a.txt", 0o600),
                        lambda: client.symlink("/a.txt", "/l")):
            with pytest.raises(OSError, match="operation unsupported"):
                attempt()
    finally:
        transport.close()
    assert sorted(os.listdir(node.root())) == ["a.txt", "d"]
    assert node.read("a.txt") == b"a"
