"""SFTP activity reaches the Panel merged per minute (wings-behaviour.md §13.1, §13.3;
panel-contract.md ``POST /api/remote/activity``)."""

import time

from tests.integration.sftp.conftest import OWNER
from tests.support.polling import wait_until

# One send per this many seconds: a burst's operations of one kind are merged only when they
# wait for the same send, and a short interval let a slow burst straddle two sends.
NODE_CONFIG = {"system": {"activity_send_interval": 5}}


def wait_for_a_fresh_minute():
    """Events of one burst must share their minute to be merged into one."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def sftp_events(node):
    return [e for e in node.panel.activity
            if e["server"] == node.uuid() and e["event"].startswith("server:sftp.")]


def test_operations_are_recorded_and_merged_per_minute(node, tmp_path):
    local = tmp_path / "x"
    local.write_bytes(b"x")
    node.put("existing.txt", b"old")
    wait_for_a_fresh_minute()
    result = node.sftp(node.username(), [
        "put %s /a.txt" % local, "put %s /b.txt" % local, "put %s /existing.txt" % local,
        "mkdir /dir", "rename /a.txt /c.txt", "rm /b.txt"])
    assert result.returncode == 0, result.stderr
    names = {"server:sftp.create", "server:sftp.write", "server:sftp.create-directory",
             "server:sftp.rename", "server:sftp.delete"}
    wait_until(lambda: {e["event"] for e in sftp_events(node)} >= names, timeout=30,
               what="the SFTP activity at the Panel")
    events = {e["event"]: e for e in sftp_events(node)}
    assert len(sftp_events(node)) == len(names)
    assert events["server:sftp.create"]["metadata"] == {"files": ["/a.txt", "/b.txt"]}
    assert events["server:sftp.write"]["metadata"] == {"files": ["/existing.txt"]}
    assert events["server:sftp.create-directory"]["metadata"] == {"files": ["/dir"]}
    assert events["server:sftp.rename"]["metadata"] == {
        "files": [{"from": "/a.txt", "to": "/c.txt"}]}
    assert events["server:sftp.delete"]["metadata"] == {"files": ["/b.txt"]}
    alice = node.panel.find_user(OWNER)["uuid"]
    for event in events.values():
        assert event["user"] == alice
        assert event["ip"] == "127.0.0.1"
        assert event["timestamp"].endswith("Z")
