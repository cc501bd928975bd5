"""Limits and the cooldown of failed logins (issue 16; peers.md: brute force against port
2022, connection limits). Going past a limit is a clean error for that request only.

The per-IP cooldown test comes last: it leaves 127.0.0.1 cooling down for the module.
"""

import paramiko
import pytest

from tests.integration.sftp.conftest import OWNER, PASSWORD
from tests.support.polling import wait_until

NODE_CONFIG = {"wingspan": {"sftp": {
    "failures_per_user": 3, "failures_per_ip": 12, "window": 60, "connections_per_user": 2,
    "channels_per_connection": 1, "handles_per_session": 4, "handles_per_server": 6}}}


def auth_calls(node, username):
    return len([c for c in node.panel.calls("POST", "/api/remote/sftp/auth")
                if c.body["username"] == username])


def try_password(node, username, password):
    transport = paramiko.Transport(("127.0.0.1", node.port))
    try:
        transport.connect(username=username, password=password)
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def test_connections_per_user(node):
    first = node.paramiko(node.username())
    second = node.paramiko(node.username())
    try:
        assert not try_password(node, node.username(), PASSWORD)
    finally:
        first[0].close()
        second[0].close()
    # the node sees the connections end a moment after the client closes them
    wait_until(lambda: try_password(node, node.username(), PASSWORD), timeout=10,
               what="a login once the others closed")


def test_channels_per_connection(node):
    transport, client = node.paramiko(node.username())
    try:
        with pytest.raises(paramiko.SSHException):
            paramiko.SFTPClient.from_transport(transport)
        assert client.listdir("/") == []
    finally:
        transport.close()


def test_handles_per_session_and_per_server(node):
    for n in range(6):
        node.put("f%d" % n, b"x")
    helper = node.user("helper", ["*"])
    one, first = node.paramiko(node.username())
    two, second = node.paramiko(helper)
    try:
        held = [first.open("/f%d" % n) for n in range(4)]
        with pytest.raises(OSError, match="Too many open handles in this session"):
            first.open("/f4")
        held += [second.open("/f%d" % n) for n in range(2)]
        with pytest.raises(OSError, match="Too many open handles on this server"):
            second.open("/f2")
        held.pop().close()
        second.open("/f2").close()
        held.pop(0).close()
        assert len(first.listdir("/")) == 6
    finally:
        one.close()
        two.close()


def test_failed_passwords_cool_a_username_down_without_asking_the_panel(node):
    node.user("mallory")
    username = node.username("mallory")
    for _ in range(3):
        assert not try_password(node, username, "guess")
    before = auth_calls(node, username)
    assert not try_password(node, username, PASSWORD)
    assert auth_calls(node, username) == before
    assert try_password(node, node.username(OWNER), PASSWORD)


def test_refused_shells_give_their_channel_back(node):
    """A channel used for anything but SFTP (refused) does not keep its slot."""
    transport = paramiko.Transport(("127.0.0.1", node.port))
    try:
        transport.connect(username=node.username(), password=PASSWORD)
        for _ in range(3):
            # the node sees a channel close a moment after the client sends it
            channel = wait_until(lambda: _session(transport), timeout=10, what="a channel")
            with pytest.raises(paramiko.SSHException):
                channel.invoke_shell()
            channel.close()
        # the one allowed channel is still free for SFTP
        wait_until(lambda: _sftp_opens(transport), timeout=10, what="an SFTP channel")
    finally:
        transport.close()


def _session(transport):
    try:
        return transport.open_session()
    except paramiko.ChannelException:
        return None


def _sftp_opens(transport):
    try:
        client = paramiko.SFTPClient.from_transport(transport)
    except paramiko.SSHException:
        return False
    return client.listdir("/") is not None


def test_failed_logins_cool_an_ip_down(node):
    for n in range(12):
        assert not try_password(node, "bot%d.%s" % (n, node.uuid()[:8]), "guess")
    before = auth_calls(node, node.username(OWNER))
    assert not try_password(node, node.username(OWNER), PASSWORD)
    assert auth_calls(node, node.username(OWNER)) == before
