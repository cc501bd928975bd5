"""Fixtures of the backup suites (wings-api.md §7.5, §8; wings-behaviour.md §10).

Each module gets one daemon booted with the servers of its ``SERVERS`` and the config of
its ``NODE_CONFIG``, as the files suites do (``FilesNode``: roots, the sentinel beside the
data directory that must stay untouched after every test). ``S3`` picks the Panel's backup
storage: ``None`` (the Panel's adapter is ``wings``), ``"moto"`` (a real S3 server, moto in
server mode on loopback, driven with boto3 as the Panel's S3 adapter drives AWS) or
``"fake"`` (the in-repo fake S3, for fault injection).
"""

import os
import shutil

import pytest

from tests.integration.files.conftest import FilesNode, wait_for_next_second
from tests.support.daemon import module_daemon
from tests.support.driver import PanelDriver
from tests.support.fakepanel import FakePanel
from tests.support.motos3 import MotoS3

MIB = 1024 * 1024
S3_PART_SIZE = 5 * MIB  # the smallest part S3 accepts


class BackupNode(FilesNode):
    """A files node with the Panel's backend driver and the backup directory."""

    def __init__(self, panel, daemon, base_dir, uuids):
        super().__init__(panel, daemon, base_dir, uuids)
        self.driver = PanelDriver(daemon.url, daemon.config["token"])
        self.backup_dir = daemon.config["system"]["backup_directory"]

    def archive(self, backup_uuid, server="main"):
        return os.path.join(self.backup_dir, self.uuid(server), backup_uuid + ".tar.gz")

    def reset(self):
        super().reset()
        if os.path.isdir(self.backup_dir):
            for entry in os.listdir(self.backup_dir):
                path = os.path.join(self.backup_dir, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        with self.panel.lock:
            self.panel.backup_reports.clear()
            self.panel.restore_reports.clear()
            self.panel.backups.clear()


@pytest.fixture(scope="module")
def backup_node(request, docker_client, test_network, session_id, tmp_path_factory):
    servers = getattr(request.module, "SERVERS", {"main": {}})
    storage = getattr(request.module, "S3", None)
    s3 = MotoS3() if storage == "moto" else None
    panel = FakePanel(session_id, backup_adapter="s3" if storage else "wings", s3=s3)
    panel.s3_part_size = S3_PART_SIZE
    panel.start()
    uuids = {name: panel.add_server(**overrides)["settings"]["uuid"]
             for name, overrides in servers.items()}
    base_dir = str(tmp_path_factory.mktemp("backups"))
    overrides = getattr(request.module, "NODE_CONFIG", {})
    with module_daemon(panel, docker_client, test_network, base_dir, overrides) as daemon:
        node = BackupNode(panel, daemon, base_dir, uuids)
        daemon.start()
        wait_for_next_second()
        yield node


@pytest.fixture
def node(request, backup_node):
    """The module's node for one test; afterwards nothing outside the roots and the
    backup directory changed, and both are emptied."""
    request.node.wingspan_daemons = [backup_node.daemon]
    yield backup_node
    try:
        backup_node.assert_host_untouched()
    finally:
        backup_node.reset()
