"""The disk quota against every route that adds bytes, decompression bombs included.

Spec: wings-api.md §6.4 ("can fit" for write/upload/copy/extract, "has space" for
compress and pull; 400 disk message, 409 for compress), §5.4, §5.6, §5.9, §5.10, §5.12,
§7.6; §18 #29, #45; peers.md advisory #18 (the quota holds on every write).

Every server here has ``build.disk_space`` = 1 MiB, and each test uses its own server so
that no test's usage leaks into another's. Disk usage is re-walked every second
(``system.disk_check_interval: 1``) so a file placed on the host counts quickly.
"""

import os

from tests.integration.files.helpers import (
    NO_DISK,
    NO_SPACE_TO_COMPRESS,
    assert_captured,
    assert_handler_error,
    tar_bytes,
    tar_file,
    tree_size,
    zip_bytes,
    zip_with_lying_size,
)
from tests.support.polling import wait_until

QUOTA = 1024 * 1024
KIB = 1024
TESTS_WITH_A_SERVER = ["bomb_tar", "bomb_entries", "lying_zip", "fits", "second_entry",
                       "write", "rewrite", "upload", "copy", "archive_too_big", "over",
                       "delete"]
SERVERS = {name: {"disk": 1} for name in TESTS_WITH_A_SERVER}
NODE_CONFIG = {"system": {"disk_check_interval": 1}}


def assert_within_quota(node, server):
    assert tree_size(node.root(server)) <= QUOTA


def test_decompression_bomb_is_refused(node):
    """§18 #45: one highly compressible entry far over the quota → 400, nothing extracted."""
    node.put("bomb.tar.gz", tar_bytes([tar_file("bomb.bin", b"\0" * (4 * QUOTA))], "gz"),
             server="bomb_tar")
    response = node.daemon.decompress(node.uuid("bomb_tar"), "/", "bomb.tar.gz")
    assert_captured(response, 400, NO_DISK)
    assert os.listdir(node.root("bomb_tar")) == ["bomb.tar.gz"]


def test_many_small_entries_over_the_quota_are_refused(node):
    """§5.10: the uncompressed sizes are summed before extraction."""
    entries = [("part%02d.bin" % i, b"\0" * (64 * KIB)) for i in range(40)]
    node.put("many.zip", zip_bytes(entries), server="bomb_entries")
    response = node.daemon.decompress(node.uuid("bomb_entries"), "/", "many.zip")
    assert_captured(response, 400, NO_DISK)
    assert os.listdir(node.root("bomb_entries")) == ["many.zip"]


def test_a_zip_lying_about_its_sizes_never_exceeds_the_quota(node):
    """Headers claim 100 bytes for 4 MiB: the check cannot trust the headers, the writes
    must stop at the quota (or the damaged archive be refused), never a 5xx."""
    node.put("liar.zip", zip_with_lying_size("bomb.bin", b"\0" * (4 * QUOTA), 100),
             server="lying_zip")
    response = node.daemon.decompress(node.uuid("lying_zip"), "/", "liar.zip")
    assert response.status_code < 500, (response.status_code, response.text)
    assert_within_quota(node, "lying_zip")


def test_an_archive_within_the_quota_is_extracted(node):
    node.put("ok.tar.gz", tar_bytes([tar_file("half.bin", b"\1" * (QUOTA // 2))], "gz"),
             server="fits")
    assert node.daemon.decompress(node.uuid("fits"), "/", "ok.tar.gz").status_code == 204
    assert os.path.getsize(node.host("half.bin", "fits")) == QUOTA // 2


def test_an_archive_whose_second_entry_overflows_writes_nothing(node):
    """§5.10: the pre-check covers all entries, so not even the first one is written."""
    node.put("two.zip", zip_bytes([("a.bin", b"\0" * (700 * KIB)),
                                   ("b.bin", b"\0" * (700 * KIB))]), server="second_entry")
    response = node.daemon.decompress(node.uuid("second_entry"), "/", "two.zip")
    assert_captured(response, 400, NO_DISK)
    assert os.listdir(node.root("second_entry")) == ["two.zip"]


def test_write_over_the_quota_is_400(node):
    """§5.4, §18 #29: refused on Content-Length, no file created."""
    response = node.daemon.write(node.uuid("write"), "/big.bin", b"\0" * (2 * QUOTA))
    assert_captured(response, 400, NO_DISK)
    assert os.listdir(node.root("write")) == []
    assert node.daemon.write(node.uuid("write"), "/small.bin", b"\0" * KIB).status_code == 204


def test_rewriting_a_file_counts_only_the_difference(node):
    """§5.4: ``Content-Length − current size`` must fit."""
    u = node.uuid("rewrite")
    assert node.daemon.write(u, "/f.bin", b"\1" * (800 * KIB)).status_code == 204
    assert node.daemon.write(u, "/f.bin", b"\2" * (900 * KIB)).status_code == 204
    assert_captured(node.daemon.write(u, "/g.bin", b"\3" * (200 * KIB)), 400, NO_DISK)
    assert os.listdir(node.root("rewrite")) == ["f.bin"]
    assert node.read("f.bin", "rewrite") == b"\2" * (900 * KIB)


def test_upload_over_the_quota_is_400(node):
    """§7.6 step 6: the quota applies to each uploaded file."""
    first = node.upload(node.token("upload"), [("one.bin", b"\1" * (600 * KIB))])
    assert first.status_code == 200, first.text
    second = node.upload(node.token("upload"), [("two.bin", b"\2" * (600 * KIB))])
    assert_captured(second, 400, NO_DISK)
    assert os.listdir(node.root("upload")) == ["one.bin"]


def test_copy_over_the_quota_is_400(node):
    """§5.6: the source size must fit."""
    u = node.uuid("copy")
    assert node.daemon.write(u, "/data.bin", b"\1" * (600 * KIB)).status_code == 204
    assert_captured(node.daemon.copy(u, "/data.bin"), 400, NO_DISK)
    assert os.listdir(node.root("copy")) == ["data.bin"]


def test_an_archive_that_outgrows_the_quota_is_removed(node):
    """§5.9 post-check: 400 disk message and no archive left."""
    u = node.uuid("archive_too_big")
    assert node.daemon.write(u, "/noise.bin", os.urandom(700 * KIB)).status_code == 204
    response = node.daemon.compress(u, "/", ["noise.bin"])
    assert_captured(response, 400, NO_DISK)
    assert os.listdir(node.root("archive_too_big")) == ["noise.bin"]


def test_a_server_over_its_quota_cannot_compress_or_pull(node):
    """§6.4 "has space" (cached usage; a stale cache is re-walked): pull → 400 disk
    message, checked before the destination so nothing is dialled; compress → 409."""
    u = node.uuid("over")
    node.put("placed.bin", b"\0" * (QUOTA + QUOTA // 2), server="over")

    def pull_sees_no_space():
        response = node.daemon.pull(u, "http://127.0.0.1:1/file.bin", root="/",
                                    foreground=True)
        assert response.status_code == 400, response.text
        return response.json()["error"] == NO_DISK

    wait_until(pull_sees_no_space, timeout=10, interval=0.5,
               what="a disk walk to count the placed file")
    response = node.daemon.pull(u, "http://127.0.0.1:1/file.bin", root="/", foreground=True)
    assert_captured(response, 400, NO_DISK)
    assert_handler_error(node.daemon.compress(u, "/", ["placed.bin"]), 409,
                         NO_SPACE_TO_COMPRESS)
    assert os.listdir(node.root("over")) == ["placed.bin"]


def test_deleting_gives_the_space_back(node):
    """§5.8: usage decreases by the removed files' sizes."""
    u = node.uuid("delete")
    assert node.daemon.write(u, "/a.bin", b"\1" * (900 * KIB)).status_code == 204
    assert node.daemon.delete_files(u, "/", ["a.bin"]).status_code == 204
    assert node.daemon.write(u, "/b.bin", b"\2" * (900 * KIB)).status_code == 204
