"""S3 part uploads and restore downloads under faults, against the in-repo fake S3 that the
fake Panel presigns for (issue 17). Spec: wings-api.md §8.4 (retries with backoff on network
errors and 5xx, a 4xx is fatal, ETags verbatim), §8.2 and §10.2 (a restore holds the
``restoring`` flag: power refused, the server counts as suspended until it ends), §4.4 and
§4.10 (``Cannot start or restart a server that is suspended.``)."""

import io
import json
import os
import tarfile
import threading

from tests.integration.backups.helpers import (
    big_tree,
    connect,
    key_of,
    populate,
    report_of,
    restore_report_of,
    start_backup,
    tree,
)
from tests.support.polling import wait_until

S3 = "fake"
SERVERS = {"main": {}}
FAILED = {"checksum": "", "checksum_type": "", "size": 0, "successful": False, "parts": None}
SUSPENDED = "Cannot start or restart a server that is suspended."


def test_5xx_then_success_is_retried(node):
    big_tree(node, mib=6)
    node.panel.s3.fail_parts(503, times=2)
    backup = start_backup(node)
    report = report_of(node, backup, timeout=60)
    assert report["successful"] is True
    assert node.panel.s3.refused[-2:] == [(1, 503), (1, 503)]
    assert [p["part_number"] for p in report["parts"]] == [1, 2]
    stored = node.panel.s3.objects[key_of(node, backup)]
    assert len(stored) == report["size"]


def test_a_4xx_is_fatal_and_reported_as_a_failure(node):
    """The failure report, and the failure event to ``backup.read`` sockets (§8.1 step 5:
    empty checksum, size 0, checksum_type still ``sha1``)."""
    big_tree(node, mib=6)
    puts_before = len(node.panel.s3.puts)
    node.panel.s3.fail_parts(403, times=1)
    sock = connect(node, ["websocket.connect", "backup.read"])
    backup = start_backup(node)
    assert report_of(node, backup, timeout=60) == FAILED
    event = sock.recv_event("backup completed:%s" % backup, timeout=15)
    assert json.loads(event["args"][0]) == {"checksum": "", "checksum_type": "sha1",
                                            "file_size": 0, "is_successful": False,
                                            "uuid": backup}
    assert node.panel.s3.refused[-1] == (1, 403)
    assert len(node.panel.s3.puts) == puts_before  # no second try
    assert node.panel.backups[backup]["is_successful"] is False
    wait_until(lambda: tree_of_backups(node) == [], what="the part files to be removed")


def tree_of_backups(node):
    directory = os.path.join(node.backup_dir, node.uuid())
    return os.listdir(directory) if os.path.isdir(directory) else []


def test_a_slow_part_is_waited_for(node):
    big_tree(node, mib=6)
    node.panel.s3.delay_parts(3.0, times=1)
    backup = start_backup(node)
    report = report_of(node, backup, timeout=60)
    assert report["successful"] is True and len(report["parts"]) == 2


def test_while_a_restore_runs_power_is_refused_and_a_second_restore_is_409(node):
    """The download is held half-way: meanwhile the server counts as suspended (start is
    400), a second restore is 409; afterwards the suspension is what it was before."""
    populate(node)
    before = tree(node)
    backup = node.panel.add_backup(node.uuid())
    hold = threading.Event()
    node.panel.s3.hold_get = hold
    try:
        archive = tar_of(node)
        node.panel.s3.put_object(key_of(node, backup), archive)
        url = node.panel.s3.download_url(key_of(node, backup))
        response = node.driver.restore(node.uuid(), backup, "s3", False, url)
        assert response.status_code == 202, response.text
        wait_until(lambda: node.driver.details(node.uuid()).json()["is_suspended"] is True,
                   what="the restoring flag to reach the API")
        power = node.driver.power(node.uuid(), "start")
        assert power.status_code == 400
        assert power.json() == {"error": SUSPENDED}
        second = node.driver.restore(node.uuid(), backup, "s3", False, url)
        assert second.status_code == 409, second.text
    finally:
        hold.set()
        node.panel.s3.hold_get = None
    assert restore_report_of(node, backup)["successful"] is True
    after = tree(node)
    after.pop("padding.bin")
    assert after == before
    wait_until(lambda: node.driver.details(node.uuid()).json()["is_suspended"] is False,
               what="the restore to end")


def tar_of(node):
    """A tar.gz of the root's regular files, with incompressible padding so that half of it
    does not hold the whole archive."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as bundle:
        bundle.add(node.root(), arcname=".", filter=lambda m: None if m.issym() else m)
        padding = os.urandom(2 * 1024 * 1024)
        member = tarfile.TarInfo("padding.bin")
        member.size = len(padding)
        bundle.addfile(member, io.BytesIO(padding))
    return data.getvalue()
