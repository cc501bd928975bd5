"""S3 backups and restores against a real S3 implementation (moto's server mode on
loopback), the fake Panel creating the multipart upload, presigning the part URLs and
completing the upload with the parts the node reported, exactly as the Panel's S3 adapter
does (issue 17). Spec: wings-api.md §8.1–8.2, §8.4; wings-behaviour.md §10.1 step 6, §10.2
step 3; panel-contract.md ``GET /api/remote/backups/{backup}``; peers.md (users: "S3
backups of big servers fail: not enough disk for the temporary archive")."""

import hashlib
import io
import os
import tarfile

from tests.integration.backups.conftest import S3_PART_SIZE
from tests.integration.backups.helpers import (
    backed_up,
    big_tree,
    connect,
    key_of,
    restore_report_of,
    tree,
)
from tests.integration.files.helpers import BACKUP_NOT_FOUND
from tests.support.diskprobe import DiskProbe
from tests.support.motos3 import CONTENT_TYPE

S3 = "moto"
SERVERS = {"main": {}}
RESTORED = "Completed server restoration from S3 backup."


def test_streamed_s3_backup_arrives_whole_with_two_parts_of_disk_at_most(node):
    """§8.4: parts PUT while the archive is made; the report lists the parts used with
    their ETags verbatim; the object S3 assembles is the archive whose SHA-1 and size were
    reported, holding the server's files; never more than two parts on disk; no local
    archive is left."""
    big_tree(node)
    with DiskProbe(node.backup_dir) as probe:
        backup, report = backed_up(node)
    data = node.panel.s3.get_object(key_of(node, backup))
    assert report["checksum"] == hashlib.sha1(data).hexdigest()
    assert report["checksum_type"] == "sha1" and report["size"] == len(data)
    parts = report["parts"]
    assert [p["part_number"] for p in parts] == list(range(1, len(parts) + 1))
    assert len(parts) == -(-len(data) // S3_PART_SIZE) >= 3
    assert all(p["etag"].startswith('"') and p["etag"].endswith('"') for p in parts)
    assert probe.peak <= 2 * S3_PART_SIZE, probe.peak
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as bundle:
        member = bundle.extractfile("data/random.bin")
        assert member.read() == node.read("data/random.bin")
    assert os.listdir(os.path.join(node.backup_dir, node.uuid())) == []
    assert node.panel.backups[backup]["is_successful"] is True


def test_size_query_is_an_upper_bound(node):
    """The ``?size=`` asked of the Panel covers the archive (it issues that many URLs)."""
    big_tree(node, mib=6)
    backup, report = backed_up(node)
    call = [c for c in node.panel.calls("GET") if c.path.endswith(backup)][-1]
    assert int(call.query["size"][0]) >= report["size"]


def test_s3_restore_round_trip(node):
    """§8.2: the archive is streamed from ``download_url`` (no temporary copy), files come
    back identical; the daemon says it restored from S3."""
    big_tree(node, mib=2)
    before = tree(node)
    backup, _ = backed_up(node)
    node.put("data/random.bin", b"changed")
    node.put("later.txt", b"later")
    url = node.panel.s3.download_url(key_of(node, backup))
    sock = connect(node, ["*"])
    response = node.driver.restore(node.uuid(), backup, "s3", True, url)
    assert response.status_code == 202, response.text
    assert restore_report_of(node, backup)["successful"] is True
    sock.recv_event("backup restore completed", timeout=15)
    assert tree(node) == before
    messages = [f["args"][0] for f in sock.frames if f["event"] == "daemon message"]
    assert "(restoring): data/random.bin" in messages and messages[-1] == RESTORED


def test_s3_restore_of_a_missing_object_is_404_and_truncates_nothing(node):
    big_tree(node, mib=1)
    before = tree(node)
    backup = node.panel.add_backup(node.uuid())
    url = node.panel.s3.download_url(key_of(node, backup))
    response = node.driver.restore(node.uuid(), backup, "s3", True, url)
    assert response.status_code == 404
    assert response.json() == {"error": BACKUP_NOT_FOUND}
    assert tree(node) == before


def test_s3_restore_refuses_a_content_type_that_is_not_gzip(node):
    """§8.2: a ``Content-Type`` not within ``application/x-gzip application/gzip`` is a
    400 with Wings' text, before anything is truncated."""
    big_tree(node, mib=1)
    before = tree(node)
    backup = node.panel.add_backup(node.uuid())
    node.panel.s3.put_object(key_of(node, backup), b"<html/>", content_type="text/html")
    url = node.panel.s3.download_url(key_of(node, backup))
    response = node.driver.restore(node.uuid(), backup, "s3", True, url)
    assert response.status_code == 400
    assert response.json() == {"error": 'The provided backup link is not a supported content '
                                        'type. "text/html" is not application/x-gzip.'}
    assert tree(node) == before
    node.panel.s3.put_object(key_of(node, backup), b"x", content_type=CONTENT_TYPE)
