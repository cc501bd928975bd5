"""Server transfers between two daemons on this machine, orchestrated by one fake Panel
(wings-api.md §9, wings-behaviour.md §11, panel-contract.md §2.2 transfer reports, §7.6):
the Panel notifies the source, the source streams to the destination, the destination
reports, the Panel deletes the source's copy."""

import os
import re
import signal
import time

import pytest

from tests.integration.transfer.helpers import (
    CANCELED,
    FINISHED,
    IN_PROGRESS,
    MIB,
    NOT_TRANSFERRING,
    PREPARING,
    STREAMING,
    Relay,
    big_tree,
    make_server,
    root_of,
    small_tree,
    snapshot,
    transfer_reports,
    wait_report,
)
from tests.support.browser import ADMIN, BrowserSocket, console_token
from tests.support.polling import wait_until

# §9.1: ESC[33mESC[1m<RFC1123 time> [Transfer System] [Source Node]:ESC[39m <msg>ESC[0m
LOG_LINE = re.compile(r"^\x1b\[33m\x1b\[1m\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \S+ "
                      r"\[Transfer System\] \[Source Node\]:\x1b\[39m (.*)\x1b\[0m$")
UPLOADING = re.compile(r"^Uploading \[[= ]{25}\] \d+(\.\d)? [KMG]?i?B / \d+(\.\d)? [KMG]?i?B$")
# Slow enough (MiB/s) for a transfer of SLOW_TREE bytes to be watched and cancelled.
SLOW_LIMIT = 2
SLOW_TREE = 40 * MIB


@pytest.fixture
def nodes(fake_panel, daemon_factory):
    """``(source daemon, destination daemon, destination node)``."""
    target = fake_panel.add_node()
    source = daemon_factory().start()
    destination = daemon_factory(node=target).start()
    time.sleep(1.1)  # tokens issued in a daemon's boot second are refused, as in Wings
    return source, destination, target


@pytest.fixture
def slow_nodes(fake_panel, daemon_factory):
    """Like ``nodes``, the destination receiving at most SLOW_LIMIT MiB/s
    (``system.transfers.download_limit``, peers.md: Wings documents it, never applies it)."""
    target = fake_panel.add_node()
    source = daemon_factory().start()
    destination = daemon_factory(
        node=target, system={"transfers": {"download_limit": SLOW_LIMIT}}).start()
    time.sleep(1.1)  # tokens issued in a daemon's boot second are refused, as in Wings
    return source, destination, target


def transfer_messages(sock):
    """The texts of the ``transfer logs`` frames received so far, uncoloured."""
    texts = []
    for frame in sock.events("transfer logs"):
        match = LOG_LINE.match(frame["args"][0])
        assert match, "not a Wings transfer log line: %r" % frame["args"][0]
        texts.append(match.group(1))
    return texts


def statuses(sock):
    return [frame["args"][0] for frame in sock.events("transfer status")]


def node_calls(panel, node, outcome, uuid):
    """Transfer reports for ``uuid`` that ``node`` sent."""
    return [c for c in panel.calls("POST", "/api/remote/servers/%s/transfer/%s" % (uuid, outcome))
            if c.headers["Authorization"].endswith(node.credential)]


def admin_socket(daemon, uuid):
    sock = BrowserSocket(daemon, uuid)
    sock.authenticate(console_token(daemon, uuid, ADMIN))
    return sock


def assert_kept_nothing(destination, uuid):
    assert destination.details(uuid).status_code == 404
    wait_until(lambda: not os.path.exists(root_of(destination, uuid)),
               what="the destination's copy removed")


def assert_intact_and_startable(source, uuid, files):
    assert snapshot(root_of(source, uuid)) == files
    wait_until(lambda: source.details(uuid).json()["configuration"] is not None)
    assert source.power(uuid, "start").status_code == 202
    source.wait_state(uuid, "running", timeout=30)


def test_300_mib_arrive_byte_identical_and_start_on_the_destination(fake_panel, nodes):
    """§9.1 – §9.3: nested directories, modes, mtimes, an empty directory and a symlink
    inside the root; then the Panel moves the server and deletes the source's copy
    (panel-contract.md §2.2), and the server starts on its new node."""
    source, destination, target = nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True, disk=1024)
    big_tree(root_of(source, uuid), 300 * MIB)
    before = snapshot(root_of(source, uuid))

    assert fake_panel.transfer(uuid, target).status_code == 202
    report = wait_report(fake_panel, uuid, timeout=300)

    assert report["successful"] is True
    assert report["new_node"] == target.uuid
    assert snapshot(root_of(destination, uuid)) == before
    wait_until(lambda: report["delete_status"] is not None, what="the source deletion")
    assert report["delete_status"] == 204
    assert source.details(uuid).status_code == 404
    wait_until(lambda: not os.path.exists(root_of(source, uuid)), what="source files removed")
    assert len(transfer_reports(fake_panel, uuid)) == 1
    assert node_calls(fake_panel, target, "success", uuid) != []
    assert fake_panel.calls("POST", "/api/remote/servers/%s/transfer/failure" % uuid) == []
    details = destination.details(uuid).json()
    assert details["state"] == "offline"
    assert destination.power(uuid, "start").status_code == 202
    destination.wait_state(uuid, "running", timeout=30)


def test_a_running_server_is_stopped_first_and_progress_is_shown(fake_panel, slow_nodes):
    """§11.1 steps 2–4: the 202 comes once the server is stopped, power actions and a
    second transfer are refused while it runs; the source's sockets (with
    admin.websocket.transfer) see the log lines and the 5-second progress bar."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    assert source.power(uuid, "start").status_code == 202
    source.wait_state(uuid, "running", timeout=30)
    sock = admin_socket(source, uuid)

    assert fake_panel.transfer(uuid, target).status_code == 202
    assert source.state(uuid) == "offline"
    again = fake_panel.transfer(uuid, target)
    assert again.status_code == 409
    assert again.json() == IN_PROGRESS
    sock.send("set state", "start")  # power actions are refused while it runs
    refusal = sock.recv_event("daemon error", timeout=10)
    assert refusal["args"][0].endswith("]: server is currently being transferred")
    wait_report(fake_panel, uuid, timeout=120)

    sock.recv_event("transfer logs", timeout=30,
                    where=lambda frame: FINISHED in frame["args"][0])
    messages = transfer_messages(sock)
    assert messages[:2] == [PREPARING, STREAMING]
    assert messages[-1] == FINISHED
    progress = messages[2:-1]
    assert progress and all(UPLOADING.match(text) for text in progress), progress
    assert statuses(sock)[0] == "processing"
    assert "failure" not in statuses(sock)


def test_cancel_on_the_source_keeps_the_server_there(fake_panel, slow_nodes):
    """§9.2: ``cancelling``, ``Canceled.``, ``failure``; one failure report from each side
    (the destination sees the body end early), the destination keeps nothing and the
    source's server is intact and starts."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    before = snapshot(root_of(source, uuid))
    sock = admin_socket(source, uuid)
    assert source.delete("/api/servers/%s/transfer" % uuid).json() == NOT_TRANSFERRING

    assert fake_panel.transfer(uuid, target).status_code == 202
    wait_until(lambda: destination.details(uuid).status_code == 200, timeout=30,
               what="the destination receiving")
    assert source.delete("/api/servers/%s/transfer" % uuid).status_code == 202

    sock.recv_event("transfer status", timeout=30, where=lambda f: f["args"] == ["failure"])
    assert statuses(sock)[-2:] == ["cancelling", "failure"]
    assert transfer_messages(sock)[-1] == CANCELED
    assert wait_report(fake_panel, uuid)["successful"] is False
    assert_kept_nothing(destination, uuid)
    wait_until(lambda: node_calls(fake_panel, target, "failure", uuid), what="the "
               "destination's failure report")
    time.sleep(1)  # a second report from either side would come now
    assert len(node_calls(fake_panel, fake_panel.node, "failure", uuid)) == 1
    assert len(node_calls(fake_panel, target, "failure", uuid)) == 1
    assert fake_panel.calls("POST", "/api/remote/servers/%s/transfer/success" % uuid) == []
    assert_intact_and_startable(source, uuid, before)


def test_cancel_on_the_destination_fails_the_transfer_cleanly(fake_panel, slow_nodes):
    """§9.4 [REC]: 202, the destination drops what it received; the source sees the
    refusal, reports its failure, and keeps its server intact and startable."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    before = snapshot(root_of(source, uuid))
    sock = admin_socket(source, uuid)

    assert fake_panel.transfer(uuid, target).status_code == 202
    wait_until(lambda: destination.details(uuid).status_code == 200, timeout=30,
               what="the destination receiving")
    assert destination.delete("/api/transfers/%s" % uuid).status_code == 202

    sock.recv_event("transfer status", timeout=30, where=lambda f: f["args"] == ["failure"])
    assert "cancelling" not in statuses(sock)
    assert wait_report(fake_panel, uuid)["successful"] is False
    assert_kept_nothing(destination, uuid)
    wait_until(lambda: node_calls(fake_panel, fake_panel.node, "failure", uuid),
               what="the source's failure report")
    assert len(node_calls(fake_panel, target, "failure", uuid)) == 1
    assert destination.delete("/api/transfers/%s" % uuid).status_code == 404
    assert_intact_and_startable(source, uuid, before)


def test_a_destination_killed_mid_way(fake_panel, slow_nodes):
    """The source notices, reports the failure once and keeps its server; the destination,
    started again, removes the files it had been receiving (supervisor/incoming.py)."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    other = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    before = snapshot(root_of(source, uuid))
    sock = admin_socket(source, uuid)

    assert fake_panel.transfer(uuid, target).status_code == 202
    wait_until(lambda: os.path.exists(root_of(destination, uuid)), timeout=30,
               what="the destination receiving")
    destination.kill()

    sock.recv_event("transfer status", timeout=60, where=lambda f: f["args"] == ["failure"])
    assert wait_report(fake_panel, uuid)["successful"] is False
    assert len(node_calls(fake_panel, fake_panel.node, "failure", uuid)) == 1
    assert source.details(other).status_code == 200
    assert_intact_and_startable(source, uuid, before)
    destination.stop()
    destination.start()
    assert destination.get("/api/servers").json() == []
    assert not os.path.exists(root_of(destination, uuid))


def test_a_source_killed_mid_way(fake_panel, slow_nodes, daemon_factory):
    """The destination notices the body end early, reports the failure once and keeps
    nothing; it goes on serving its other servers."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    resident = make_server(fake_panel, destination, node=target, skip_egg_scripts=True)

    assert fake_panel.transfer(uuid, target).status_code == 202
    wait_until(lambda: destination.details(uuid).status_code == 200, timeout=30,
               what="the destination receiving")
    source.kill()

    wait_until(lambda: node_calls(fake_panel, target, "failure", uuid), timeout=60,
               what="the destination's failure report")
    assert_kept_nothing(destination, uuid)
    time.sleep(1)
    assert len(node_calls(fake_panel, target, "failure", uuid)) == 1
    assert destination.details(resident).status_code == 200
    assert destination.power(resident, "start").status_code == 202
    destination.wait_state(resident, "running", timeout=30)


def test_an_arrived_server_of_a_small_tree(fake_panel, nodes):
    """The same flow for a tree of a few files, with the destination's own report."""
    source, destination, target = nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    small_tree(root_of(source, uuid))
    before = snapshot(root_of(source, uuid))
    assert fake_panel.transfer(uuid, target).status_code == 202
    assert wait_report(fake_panel, uuid)["successful"] is True
    assert snapshot(root_of(destination, uuid)) == before
    assert len(node_calls(fake_panel, target, "success", uuid)) == 1
    assert node_calls(fake_panel, fake_panel.node, "success", uuid) == []


def test_a_network_cut_between_the_nodes(fake_panel, slow_nodes):
    """Both sides notice the connection reset; each reports the failure once, the source
    keeps its server intact and startable, the destination keeps nothing."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    before = snapshot(root_of(source, uuid))
    relay = Relay(int(destination.url.rsplit(":", 1)[1]))
    address, target.address = target.address, relay.url
    try:
        assert fake_panel.transfer(uuid, target).status_code == 202
    finally:
        target.address = address
    wait_until(lambda: destination.details(uuid).status_code == 200, timeout=30,
               what="the destination receiving")
    relay.cut()

    assert wait_report(fake_panel, uuid)["successful"] is False
    wait_until(lambda: node_calls(fake_panel, fake_panel.node, "failure", uuid)
               and node_calls(fake_panel, target, "failure", uuid), timeout=60,
               what="a failure report from each side")
    assert_kept_nothing(destination, uuid)
    time.sleep(1)
    assert len(node_calls(fake_panel, fake_panel.node, "failure", uuid)) == 1
    assert len(node_calls(fake_panel, target, "failure", uuid)) == 1
    assert_intact_and_startable(source, uuid, before)


def test_the_destination_api_process_killed_mid_way(fake_panel, slow_nodes):
    """The receiving request dies with the API process: the supervisor removes the half
    received server and reports the failure; the source notices and keeps its server."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    before = snapshot(root_of(source, uuid))

    assert fake_panel.transfer(uuid, target).status_code == 202
    wait_until(lambda: destination.details(uuid).status_code == 200, timeout=30,
               what="the destination receiving")
    api = next(pid for title, pid in destination.processes().items()
               if title.startswith("wingspan: api"))
    os.kill(api, signal.SIGKILL)

    assert wait_report(fake_panel, uuid)["successful"] is False
    wait_until(lambda: node_calls(fake_panel, target, "failure", uuid), timeout=60,
               what="the destination's failure report")
    destination.wait_ready()
    assert_kept_nothing(destination, uuid)
    assert_intact_and_startable(source, uuid, before)


def test_local_backups_named_by_the_panel_travel_with_the_server(fake_panel, nodes):
    """Pelican's Panel names the server's backups (peers.md): each travels as a
    ``backup_<uuid>.tar.gz`` part with its own SHA-256, into the destination's backup
    directory of the server; one that is not stored here is left out."""
    source, destination, target = nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    small_tree(root_of(source, uuid))
    backup_uuid = fake_panel.add_backup(uuid)
    assert source.backup(uuid, backup_uuid).status_code == 202
    fake_panel.wait_for_call("POST", "/api/remote/backups/%s" % backup_uuid, timeout=60)
    name = backup_uuid + ".tar.gz"
    with open(os.path.join(source.config["system"]["backup_directory"], uuid, name),
              "rb") as f:
        backup = f.read()

    missing = "00000000-0000-4000-8000-000000000000"
    assert fake_panel.transfer(uuid, target, backups=[backup_uuid, missing]).status_code == 202
    assert wait_report(fake_panel, uuid)["successful"] is True

    directory = os.path.join(destination.config["system"]["backup_directory"], uuid)
    assert os.listdir(directory) == [name]
    with open(os.path.join(directory, name), "rb") as f:
        assert f.read() == backup


def test_the_destination_worker_replaced_mid_way_keeps_the_server_transferring(
        fake_panel, slow_nodes):
    """A worker that dies while its server is being received is replaced by one that
    still refuses power actions; the transfer completes with it."""
    source, destination, target = slow_nodes
    uuid = make_server(fake_panel, source, skip_egg_scripts=True)
    big_tree(root_of(source, uuid), SLOW_TREE)
    before = snapshot(root_of(source, uuid))

    assert fake_panel.transfer(uuid, target).status_code == 202
    first = wait_until(lambda: destination.worker_pid(uuid), timeout=30,
                       what="the destination's worker")
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: destination.worker_pid(uuid) not in (None, first), timeout=30,
               what="a new worker")
    sock = admin_socket(destination, uuid)
    sock.send("set state", "start")
    refusal = sock.recv_event("daemon error", timeout=10)
    assert refusal["args"][0].endswith("]: server is currently being transferred")

    assert wait_report(fake_panel, uuid, timeout=120)["successful"] is True
    assert snapshot(root_of(destination, uuid)) == before
