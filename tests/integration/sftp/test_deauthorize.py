"""``POST /api/deauthorize-user`` ends the user's SFTP sessions (peers.md advisory #12:
sessions survived account deletion or a password change; wings-api.md §16: "cancels the
user's SFTP sessions", every server when ``servers`` is empty). The API publishes
``daemon.deauthorize`` on the bus and the SFTP process closes the matching sessions."""

from tests.integration.sftp.conftest import OWNER
from tests.support.polling import wait_until

SERVERS = {"main": {"owner": OWNER}, "other": {"owner": OWNER}}
OTHER_USER = "bob"


def closed(transport):
    return not transport.is_active()


def deauthorize(node, user, servers):
    uuid = node.panel.find_user(user)["uuid"]
    return node.daemon.post("/api/deauthorize-user", {
        "user": uuid, "servers": [node.uuid(server) for server in servers]})


def test_deauthorize_ends_the_users_sessions_on_the_named_servers(node):
    """The user's session on a named server ends; theirs on another server and another
    user's on the same server go on."""
    named, _ = node.paramiko(node.username())
    elsewhere, elsewhere_client = node.paramiko(node.username(server="other"))
    bystander, bystander_client = node.paramiko(node.user(OTHER_USER, ["file.sftp", "file.read"]))
    try:
        assert deauthorize(node, OWNER, ["main"]).status_code == 204
        wait_until(lambda: closed(named), timeout=15, what="the session to close")
        assert elsewhere_client.listdir("/") == []
        assert bystander_client.listdir("/") == []
    finally:
        for transport in (named, elsewhere, bystander):
            transport.close()


def test_deauthorize_without_servers_ends_the_users_sessions_everywhere(node):
    sessions = [node.paramiko(node.username(server=server))[0] for server in SERVERS]
    bystander, bystander_client = node.paramiko(node.user(OTHER_USER, ["file.sftp", "file.read"]))
    try:
        assert deauthorize(node, OWNER, []).status_code == 204
        for transport in sessions:
            wait_until(lambda t=transport: closed(t), timeout=15, what="the session to close")
        assert bystander_client.listdir("/") == []
    finally:
        for transport in sessions + [bystander]:
            transport.close()
