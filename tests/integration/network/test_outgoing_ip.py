"""``force_outgoing_ip`` (wings-behaviour.md §3.5): the container joins a bridge network of its
own, ``ip-<default ip>``, created on first start with Wings' options, so its outbound
traffic leaves from its allocation's address. No traffic is sent by this test."""

import uuid as uuidlib

import docker
import pytest

from tests.support.polling import wait_until

NETWORK = "ip-127-0-0-1"


@pytest.fixture
def outgoing_network(docker_client):
    """Set up before the daemon, so removed after the daemon's containers are gone."""
    yield NETWORK
    try:
        docker_client.networks.get(NETWORK).remove()
    except docker.errors.NotFound:
        pass


def test_forced_outgoing_ip_server_runs_on_its_own_network(outgoing_network, daemon, fake_panel,
                                                           docker_client):
    uuid = str(uuidlib.uuid4())
    record = fake_panel.add_server(uuid)
    record["settings"]["allocations"]["force_outgoing_ip"] = True
    daemon.start()
    assert daemon.power(uuid, "start").status_code == 202
    wait_until(lambda: daemon.state(uuid) == "running", timeout=30, what="server running")

    container = docker_client.containers.get(uuid)
    assert container.attrs["HostConfig"]["NetworkMode"] == outgoing_network
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [outgoing_network]
    network = docker_client.networks.get(outgoing_network).attrs
    assert network["Driver"] == "bridge"
    assert network["EnableIPv6"] is False
    assert network["Options"]["com.docker.network.host_ipv4"] == "127.0.0.1"
    assert network["Options"]["com.docker.network.bridge.default_bridge"] == "false"

    assert daemon.power(uuid, "kill").status_code == 202
    wait_until(lambda: daemon.state(uuid) == "offline", timeout=30, what="server offline")
