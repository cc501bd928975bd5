"""Fixtures: real Docker, the local test image, a fake Panel and wingspan daemons.

Every container a test causes carries ``wingspan.test=<session id>`` and is removed at
teardown, even after a failure; so is the session's Docker network.
"""

import os
import subprocess
import uuid as uuidlib

import docker
import pytest

from tests.integration.fake_panel import FakePanel
from tests.integration.harness import Daemon, docker_client, free_port, node_config, remove_labelled

IMAGES = os.path.join(os.path.dirname(__file__), "..", "images")
SESSION = uuidlib.uuid4().hex[:10]
LABEL = "wingspan.test=%s" % SESSION


@pytest.fixture(scope="session")
def docker_engine():
    try:
        client = docker_client()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail("integration tests need a running Docker engine: %s" % e)
    subprocess.run(["bash", os.path.join(IMAGES, "build.sh")], check=True,
                   stdout=subprocess.DEVNULL)
    network = {"name": "wingspan_test_%s" % SESSION, "subnet": "172.31.254.0/24",
               "gateway": "172.31.254.1", "subnet6": "fdba:17c8:6c99::/64",
               "gateway6": "fdba:17c8:6c99::1011"}
    yield client, network
    remove_labelled(client, LABEL)
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
        daemon = Daemon(str(tmp_path / ("node%d" % len(daemons))), config)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        daemon.stop()
    remove_labelled(client, LABEL)


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


@pytest.fixture
def containers(docker_engine):
    client, _ = docker_engine
    return client
