"""Sessions end when their authority ends (peers.md advisories #9 and #12; wings-api.md §16
deauthorize-user; wings-behaviour.md §12.3 "every check fails while suspended")."""

import paramiko
import pytest

from tests.integration.sftp.conftest import OWNER
from tests.support.polling import wait_until

SERVERS = {name: {"owner": OWNER} for name in ("suspended", "deleted", "other")}
# logins are asked again every second here (default 300 s)
NODE_CONFIG = {"wingspan": {"sftp": {"recheck_interval": 1}}}


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


def test_a_subuser_losing_sftp_access_is_closed_at_the_next_check(node):
    """Advisory #9: permissions cut on the Panel end the open session."""
    user = node.user("carol", ["file.sftp", "file.read"], server="other")
    transport, client = node.paramiko(user)
    try:
        assert client.listdir("/") == []
        node.panel.add_subuser(node.uuid("other"), "carol", ["file.read"])
        wait_until(lambda: closed(transport), timeout=15, what="the session to close")
    finally:
        transport.close()


def test_narrower_permissions_apply_to_an_open_session(node):
    node.put("f.txt", b"f", server="other")
    user = node.user("dave", ["file.sftp", "file.read", "file.read-content"], server="other")
    transport, client = node.paramiko(user)
    try:
        assert client.open("/f.txt").read() == b"f"
        node.panel.add_subuser(node.uuid("other"), "dave", ["file.sftp", "file.read"])

        def refused():
            try:
                client.open("/f.txt").read()
            except PermissionError:
                return True
            return False

        wait_until(refused, timeout=15, what="reading refused")
        assert client.listdir("/") == ["f.txt"]
    finally:
        transport.close()


def test_a_password_change_closes_password_sessions(node):
    """Advisory #12: the old password no longer logs in, so its session ends."""
    node.user("erin", ["*"], server="other")
    transport, client = node.paramiko(node.username("erin", server="other"))
    try:
        assert client.listdir("/") == []
        node.panel.users["erin"]["password"] = "changed"
        wait_until(lambda: closed(transport), timeout=15, what="the session to close")
    finally:
        transport.close()
