"""The worker's ServerFiles tells its listeners when the quota's figures move other than by
a walk: a sync that changes the limit, bytes another process wrote."""

import pytest

from tests.support.fakepanel import server_document
from wingspan.config import Config
from wingspan.server_config import ServerDefinition
from worker.files import ServerFiles

UUID = "0b7e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
MIB = 1024 * 1024


def definition(disk_mib):
    doc = dict(server_document(UUID, disk=disk_mib), uuid=UUID)
    return ServerDefinition.from_panel(doc, True)


@pytest.fixture
def files(tmp_path):
    cfg = Config.from_dict({"system": {"data": str(tmp_path)}}, source="config.yml")
    files = ServerFiles(cfg, definition(512))
    files.changes = []
    files.on_quota_change(lambda: files.changes.append(
        (files.quota.usage, files.quota.limit)))
    return files


def test_a_new_limit_is_told(files):
    files.apply_definition(definition(1))
    assert files.changes == [(0, MIB)]


def test_the_same_limit_again_is_not(files):
    files.apply_definition(definition(512))
    assert files.changes == []


def test_bytes_another_process_wrote_or_freed_are_told(files):
    files.adjust_usage(2 * MIB)
    files.adjust_usage(-MIB)
    assert files.changes == [(2 * MIB, 512 * MIB), (MIB, 512 * MIB)]
