"""Sessions end when their authority ends (peers.md advisories #9 and #12; wings-api.md §16
deauthorize-user; wings-behaviour.md §12.3 "every check fails while suspended")."""

import paramiko
import pytest

from tests.integration.sftp.conftest import OWNER
from tests.support.polling import wait_until

SERVERS = {name: {"owner": OWNER} for name in ("suspended", "deleted", "other")}


def closed(transport):
    return not transport.is_active()


def test_suspending_a_server_closes_its_live_sessions(node):
    transport, client = node.paramiko(node.username(server="suspended"))
    other, other_client = node.paramiko(node.username(server="other"))
    try:
        assert client.listdir("/") == []
        node.panel.suspend(node.uuid("suspended"))
        assert node.daemon.sync(node.uuid("suspended")).status_code == 204
        wait_until(lambda: closed(transport), timeout=15, what="the session to close")
        assert other_client.listdir("/") == []
        with pytest.raises(paramiko.AuthenticationException):
            node.paramiko(node.username(server="suspended"))
    finally:
        transport.close()
        other.close()
        node.panel.suspend(node.uuid("suspended"), False)
        node.daemon.sync(node.uuid("suspended"))


def test_deleting_a_server_closes_its_live_sessions(node):
    transport, client = node.paramiko(node.username(server="deleted"))
    try:
        assert client.listdir("/") == []
        assert node.daemon.delete_server(node.uuid("deleted")).status_code == 204
        wait_until(lambda: closed(transport), timeout=15, what="the session to close")
    finally:
        transport.close()


def test_deauthorizing_a_user_closes_their_sessions_only(node):
    """wings-api.md §16: ``POST /api/deauthorize-user`` cancels the user's SFTP sessions
    on the named servers (advisory #12); another user's session goes on."""
    bystander = node.user("bob", ["*"], server="other")
    transport, client = node.paramiko(node.username(server="other"))
    other, other_client = node.paramiko(bystander)
    try:
        assert client.listdir("/") == []
        alice = node.panel.find_user(OWNER)["uuid"]
        response = node.daemon.post("/api/deauthorize-user",
                                    {"user": alice, "servers": [node.uuid("other")]})
        assert response.status_code == 204
        wait_until(lambda: closed(transport), timeout=15, what="alice's session to close")
        assert other_client.listdir("/") == []
    finally:
        transport.close()
        other.close()


def test_deauthorizing_a_user_everywhere(node):
    """No servers named: every server of the node."""
    transport, client = node.paramiko(node.username(server="other"))
    try:
        alice = node.panel.find_user(OWNER)["uuid"]
        assert node.daemon.post("/api/deauthorize-user",
                                {"user": alice, "servers": []}).status_code == 204
        wait_until(lambda: closed(transport), timeout=15, what="the session to close")
    finally:
        transport.close()
