"""Fixtures of the SFTP suites (wings-behaviour.md §12, wings-api.md §14).

Each module gets one daemon (``sftp_node``) with the servers it declares in ``SERVERS``
(``{name: FakePanel.add_server overrides}``; default one server "main" owned by ``OWNER``)
and the config overrides in ``NODE_CONFIG``. No game server is started: SFTP needs no
container. Clients are real: OpenSSH's ``sftp`` in batch mode (``sshpass`` for passwords)
and paramiko.
"""

import os
import shutil
import subprocess

import paramiko
import pytest

from tests.support.daemon import CONTAINER_GID, CONTAINER_UID, module_daemon
from tests.support.fakepanel import FakePanel
from tests.support.polling import wait_until
from tests.support.ports import ssh_answers

OWNER = "alice"
PASSWORD = "correct horse"
CLIENT_TIMEOUT = 60


class SftpNode:
    """A running daemon, its servers by name and the Panel users that log in to them."""

    def __init__(self, panel, daemon, uuids, key_dir):
        self.panel = panel
        self.daemon = daemon
        self.uuids = uuids
        self.key_dir = key_dir
        self.port = daemon.config["system"]["sftp"]["bind_port"]
        self.data_dir = daemon.config["system"]["data"]

    def uuid(self, server="main"):
        return self.uuids[server]

    def root(self, server="main"):
        return os.path.join(self.data_dir, self.uuids[server])

    def host(self, relative, server="main"):
        return os.path.join(self.root(server), relative)

    def put(self, relative, data=b"", server="main"):
        path = self.host(relative, server)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, CONTAINER_UID, CONTAINER_GID)
        return path

    def read(self, relative, server="main"):
        with open(self.host(relative, server), "rb") as f:
            return f.read()

    def username(self, user=OWNER, server="main"):
        return "%s.%s" % (user, self.uuids[server][:8])

    def user(self, name, permissions=None, server="main"):
        """A Panel user with the password ``PASSWORD``, a subuser of ``server`` with
        ``permissions`` when given."""
        if self.panel.find_user(name) is None:
            self.panel.add_user(name, PASSWORD)
        if permissions is not None:
            self.panel.add_subuser(self.uuids[server], name, list(permissions))
        return self.username(name, server)

    def key(self, name):
        """An ed25519 key pair in the suite's key directory: ``(private path, public line)``."""
        path = os.path.join(self.key_dir, name)
        if not os.path.exists(path):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "",
                            "-f", path], check=True)
        with open(path + ".pub") as f:
            return path, f.read().strip()

    # -- clients ---------------------------------------------------------------------------

    def sftp(self, username, commands, password=PASSWORD, key=None, options=()):
        """OpenSSH's ``sftp -b -``; every command must succeed for exit code 0."""
        command = ["sftp", "-b", "-", "-P", str(self.port)] + _ssh_options(key) + list(options)
        command.append("%s@127.0.0.1" % username)
        if key is None:
            # -b turns BatchMode on, which would refuse to ask for a password
            command[1:1] = ["-o", "BatchMode=no"]
            command = ["sshpass", "-p", password] + command
        return subprocess.run(command, input="\n".join(commands) + "\n", capture_output=True,
                              text=True, timeout=CLIENT_TIMEOUT)

    def ssh(self, username, remote_command, password=PASSWORD):
        """OpenSSH's ``ssh`` asking for a command (which the node refuses)."""
        command = ["sshpass", "-p", password, "ssh", "-p", str(self.port)] + _ssh_options(None) \
            + ["%s@127.0.0.1" % username, remote_command]
        return subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)

    def paramiko(self, username, password=PASSWORD):
        """A paramiko ``(transport, SFTPClient)``; close the transport when done."""
        transport = paramiko.Transport(("127.0.0.1", self.port))
        transport.connect(username=username, password=password)
        return transport, paramiko.SFTPClient.from_transport(transport)

    def reset(self):
        for name in self.uuids:
            root = self.root(name)
            if not os.path.isdir(root):
                continue  # a test deleted the server
            for entry in os.listdir(root):
                path = os.path.join(root, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)


def _ssh_options(key):
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]
    if key is None:
        return options + ["-o", "PubkeyAuthentication=no",
                          "-o", "PreferredAuthentications=password"]
    return options + ["-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
                      "-i", key]


@pytest.fixture(scope="module")
def sftp_node(request, docker_client, test_network, session_id, tmp_path_factory):
    servers = getattr(request.module, "SERVERS", {"main": {"owner": OWNER}})
    panel = FakePanel(session_id).start()
    panel.add_user(OWNER, PASSWORD)
    uuids = {name: panel.add_server(**overrides)["settings"]["uuid"]
             for name, overrides in servers.items()}
    base_dir = str(tmp_path_factory.mktemp("sftp"))
    key_dir = str(tmp_path_factory.mktemp("keys"))
    overrides = getattr(request.module, "NODE_CONFIG", {})
    with module_daemon(panel, docker_client, test_network, base_dir, overrides) as daemon:
        daemon.start()
        node = SftpNode(panel, daemon, uuids, key_dir)
        wait_until(lambda: ssh_answers(node.port), timeout=30, what="the SFTP listener")
        yield node


@pytest.fixture
def node(request, sftp_node):
    """The module's node for one test; the roots are emptied afterwards."""
    request.node.wingspan_daemons = [sftp_node.daemon]
    yield sftp_node
    sftp_node.reset()
