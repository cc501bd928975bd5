"""Fixtures: real Docker, the local test image, a fake Panel and wingspan daemons.

Every container a test causes carries ``wingspan.test=<session id>`` and is removed at
teardown, even after a failure; so is the session's Docker network.
"""

import ipaddress
import os
import subprocess
import uuid as uuidlib

import docker
import pytest

from tests.integration.node.fake_panel import FakePanel
from tests.integration.node.harness import Daemon, docker_client, free_port, node_config, remove_containers

IMAGES = os.path.join(os.path.dirname(__file__), "..", "..", "images")
SESSION = uuidlib.uuid4().hex[:10]
LABEL = "wingspan.test=%s" % SESSION


def free_subnet_octet(client):
    """A 172.30.X.0/24 no Docker network uses yet (runs may overlap on one machine)."""
    used = []
    for net in client.networks.list():
        for pool in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if ":" not in pool.get("Subnet", ":"):
                used.append(ipaddress.ip_network(pool["Subnet"]))
    for third in range(10, 250):
        candidate = ipaddress.ip_network("172.30.%d.0/24" % third)
        if not any(candidate.overlaps(net) for net in used):
            return third
    raise RuntimeError("no free test subnet")


@pytest.fixture(scope="session")
def docker_engine():
    try:
        client = docker_client()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail("integration tests need a running Docker engine: %s" % e)
    subprocess.run(["bash", os.path.join(IMAGES, "build.sh")], check=True,
                   stdout=subprocess.DEVNULL)
    third = free_subnet_octet(client)
    network = {"name": "wingspan_test_%s" % SESSION, "subnet": "172.30.%d.0/24" % third,
               "gateway": "172.30.%d.1" % third, "subnet6": "fdba:17c8:%x::/64" % third,
               "gateway6": "fdba:17c8:%x::1011" % third}
    yield client, network
    remove_containers(client, LABEL)
    for net in client.networks.list(names=[network["name"]]):
        net.remove()


@pytest.fixture
def panel():
    fake = FakePanel(SESSION).start()
    yield fake
    fake.stop()


@pytest.fixture
def daemon_factory(docker_engine, panel, tmp_path):
    client, network = docker_engine
    daemons = []

    def make(**config_overrides):
        config = node_config(str(tmp_path / ("node%d" % len(daemons))), panel, network,
                             free_port())
        for key, value in config_overrides.items():
            config[key] = value
        daemon = Daemon(config, str(tmp_path / ("node%d" % len(daemons))))
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        daemon.stop()
    remove_containers(client, LABEL)


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


@pytest.fixture
def containers(docker_engine):
    client, _ = docker_engine
    return client
