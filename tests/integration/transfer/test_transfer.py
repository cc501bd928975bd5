"""Server transfers between two daemons on this machine, orchestrated by one fake Panel
(wings-api.md §9, wings-behaviour.md §11, panel-contract.md §2.2 transfer reports, §7.6)."""

import os

import pytest

from tests.integration.transfer.helpers import (
    make_server,
    root_of,
    small_tree,
    snapshot,
    transfer_reports,
    wait_report,
)
from tests.support.polling import wait_until


@pytest.fixture
def nodes(fake_panel, daemon_factory):
    """``(source daemon, destination daemon, destination node)``."""
    target = fake_panel.add_node()
    source = daemon_factory().start()
    destination = daemon_factory(node=target).start()
    return source, destination, target


def test_a_server_arrives_byte_identical_and_the_source_copy_is_deleted(fake_panel, nodes):
    """§9.1 – §9.3: the source streams, the destination extracts and reports success, the
    Panel moves the server and deletes it on the source (panel-contract.md §2.2)."""
    source, destination, target = nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    small_tree(root_of(source, uuid))
    before = snapshot(root_of(source, uuid))

    assert fake_panel.transfer(uuid, target).status_code == 202
    report = wait_report(fake_panel, uuid)

    assert report["successful"] is True
    assert report["new_node"] == target.uuid
    assert snapshot(root_of(destination, uuid)) == before
    wait_until(lambda: report["delete_status"] is not None, what="the source deletion")
    assert report["delete_status"] == 204
    assert destination.details(uuid).status_code == 200
    assert source.details(uuid).status_code == 404
    assert len(transfer_reports(fake_panel, uuid)) == 1
    wait_until(lambda: not os.path.exists(root_of(source, uuid)), what="source files removed")
