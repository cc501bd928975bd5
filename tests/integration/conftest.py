"""Fixtures for integration tests: real Docker, the local test images, a fake Panel and real
wingspan daemons (panel-contract.md §7, wings-api.md §12).

Without a usable Docker engine every integration test fails with the reason; none is
skipped. Every container a test causes is removed when it ends, even after a failure:
those labelled ``wingspan.test=<session id>`` and those named after a server uuid the fake
Panel knew (and ``<uuid>_installer``). The session's Docker network goes at session end,
after a last sweep of the same containers.
"""

import shutil
import tempfile
import uuid as uuidlib

import pytest

from tests.support import dockerenv
from tests.support.daemon import Daemon, merged, node_config
from tests.support.fakepanel import TEST_LABEL, FakePanel

SESSION_ID = uuidlib.uuid4().hex[:10]
SESSION_LABEL = "%s=%s" % (TEST_LABEL, SESSION_ID)
# Every server uuid any fake Panel of this session knew, for the final sweep.
KNOWN_UUIDS = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the output of the test's daemons to a failure report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for daemon in getattr(item, "wingspan_daemons", ()):
            report.sections.append(("wingspan daemon output (%s)" % daemon.log_path,
                                    daemon.log_tail(200)))


@pytest.fixture(scope="session")
def session_id():
    return SESSION_ID


@pytest.fixture(scope="session")
def docker_client(request):
    """The Docker engine, with the test images built; the session's leftovers are swept at
    the end."""
    problem = None
    try:
        client = dockerenv.engine()
        dockerenv.build_images()
    except dockerenv.DockerUnavailable as e:
        problem = str(e)
    if problem:
        pytest.fail(problem, pytrace=False)
    request.addfinalizer(lambda: dockerenv.remove_containers(client, SESSION_LABEL,
                                                             KNOWN_UUIDS))
    return client


@pytest.fixture(scope="session")
def test_network(docker_client):
    """Name, subnets and gateways of the session's Docker network (daemons create it)."""
    plan = dockerenv.network_plan(docker_client, "wingspan_test_%s" % SESSION_ID)
    yield plan
    dockerenv.remove_containers(docker_client, SESSION_LABEL, KNOWN_UUIDS)
    dockerenv.remove_network(docker_client, plan["name"])


@pytest.fixture
def fake_panel():
    panel = FakePanel(SESSION_ID).start()
    yield panel
    panel.stop()
    KNOWN_UUIDS.update(panel.seen_uuids)


@pytest.fixture
def panel(fake_panel):
    """The fake Panel under the name the first integration tests use."""
    return fake_panel


@pytest.fixture
def daemon_factory(request, fake_panel, docker_client, test_network, tmp_path):
    """``make(node=None, **config_overrides)`` returns a configured, not yet started
    ``Daemon`` for ``node`` (default: the fake Panel's primary node); overrides are merged
    into its config.yml in depth. All are stopped and their containers removed at teardown."""
    daemons = []
    run_dirs = []
    request.node.wingspan_daemons = daemons

    def make(node=None, **config_overrides):
        node = node or fake_panel.node
        base_dir = str(tmp_path / ("node%d" % len(daemons)))
        # ZeroMQ ipc socket paths must stay under 108 bytes: keep this one short.
        run_dirs.append(tempfile.mkdtemp(prefix="ws-"))
        config = merged(node_config(fake_panel, node, base_dir, run_dirs[-1], test_network),
                        config_overrides)
        daemon = Daemon(config, base_dir)
        node.address = daemon.url
        daemons.append(daemon)
        return daemon

    yield make
    try:
        for daemon in daemons:
            daemon.stop()
    finally:
        dockerenv.remove_containers(docker_client, SESSION_LABEL,
                                    fake_panel.seen_uuids | set(fake_panel.servers))
        for path in run_dirs:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(daemon_factory):
    """A daemon for the fake Panel's primary node, configured but not started."""
    return daemon_factory()


@pytest.fixture
def containers(docker_client):
    """The Docker client, under the name the first integration tests use."""
    return docker_client
