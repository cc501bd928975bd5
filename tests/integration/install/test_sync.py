"""Panel syncs of a running server: live resource updates and suspension (wings-api.md §4.8,
§4.4, §4.10, §10.10; wings-behaviour.md §2.8, §3.7)."""

import uuid as uuidlib

import pytest

from tests.integration.install import helpers
from tests.support.browser import OWNER, BrowserSocket, console_token

pytestmark = pytest.mark.timeout(120)


def start_and_wait(daemon, uuid):
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running", timeout=30)


def test_sync_changes_memory_limit_without_restart(daemon, fake_panel, docker_client):
    """§3.7 step 4, §18 item 17: a new memory_limit reaches the live container through an
    update; the container is neither re-created nor restarted. 256 MB → 256*1.15 MB; 512 MB
    → 512*1.15 MB (wings-behaviour.md §3.4 overhead for ≤ 2048 MB)."""
    uuid = str(uuidlib.uuid4())
    record = fake_panel.add_server(uuid, memory=256)
    helpers.boot(daemon)
    start_and_wait(daemon, uuid)
    before = docker_client.api.inspect_container(uuid)
    assert before["HostConfig"]["Memory"] == 294_400_000

    record["settings"]["build"]["memory_limit"] = 512
    response = daemon.sync(uuid)
    assert response.status_code == 204, response.text

    after = docker_client.api.inspect_container(uuid)
    assert after["HostConfig"]["Memory"] == 588_800_000
    assert after["HostConfig"]["MemoryReservation"] == 512_000_000
    assert after["Id"] == before["Id"]
    assert after["State"]["Running"] is True
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert daemon.state(uuid) == "running"
    assert daemon.details(uuid).json()["configuration"]["build"]["memory_limit"] == 512


def test_sync_suspends_and_unsuspends(daemon, fake_panel, docker_client):
    """§2.8, §4.10, §18 item 12: a sync that says suspended stops the running server; start
    and restart are refused with 400. Unsuspending through another sync makes it startable
    again."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid)
    helpers.boot(daemon)
    start_and_wait(daemon, uuid)

    fake_panel.suspend(uuid)
    assert daemon.sync(uuid).status_code == 204
    daemon.wait_state(uuid, "offline", timeout=60)
    assert daemon.details(uuid).json()["is_suspended"] is True
    container = helpers.container_info(docker_client, uuid)
    assert container is None or not container["State"]["Running"]
    for action in ("start", "restart"):
        refused = daemon.power(uuid, action)
        assert refused.status_code == 400
        assert refused.json() == helpers.SUSPENDED_ERROR
    assert daemon.state(uuid) == "offline"

    fake_panel.suspend(uuid, False)
    assert daemon.sync(uuid).status_code == 204
    assert daemon.details(uuid).json()["is_suspended"] is False
    start_and_wait(daemon, uuid)


def test_suspension_closes_websockets_with_4409(daemon, fake_panel):
    """§10.10 [LATER], §16: suspending closes open sockets with 4409 "server is suspended";
    a socket opened while suspended is closed at once with the same code."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid)
    helpers.boot(daemon)
    viewer = BrowserSocket(daemon, uuid)
    viewer.authenticate(console_token(daemon, uuid, OWNER))
    try:
        fake_panel.suspend(uuid)
        assert daemon.sync(uuid).status_code == 204
        assert viewer.wait_closed(timeout=10) == helpers.SUSPENDED_CLOSE
    finally:
        viewer.close()
    late = BrowserSocket(daemon, uuid)
    try:
        assert late.wait_closed(timeout=10) == helpers.SUSPENDED_CLOSE
    finally:
        late.close()


def test_sync_of_a_server_the_panel_no_longer_knows(daemon, fake_panel):
    """§4.8: a Panel 404 (server gone) fails the sync with a 500 captured error."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid)
    helpers.boot(daemon)
    del fake_panel.servers[uuid]
    response = daemon.sync(uuid)
    assert response.status_code == 500
    assert set(response.json()) == {"error", "request_id"}


def test_sync_while_the_panel_keeps_failing_is_a_500_after_its_retries(daemon, fake_panel):
    """§4.8: any failure is a 500; the API waits out the worker's Panel retries (about
    30 s) rather than answering 504 as if the worker were stuck."""
    uuid = str(uuidlib.uuid4())
    fake_panel.add_server(uuid)
    helpers.boot(daemon)
    fake_panel.fail("GET", r"/api/remote/servers/%s$" % uuid, status=500, times=1000)
    response = daemon.post("/api/servers/%s/sync" % uuid, timeout=(5, 60))
    assert response.status_code == 500
    assert set(response.json()) == {"error", "request_id"}
