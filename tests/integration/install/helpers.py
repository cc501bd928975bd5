"""What the install, sync and configuration suites share: install scripts the tests steer
from the host, the exact texts they assert, and waits on the fake Panel and on Docker.

An install script can be held running until the test drops ``.release`` into the server's
root (``HELD_SCRIPT``): the installer container is then inspected and poked while it runs,
and let go without waiting on a timer.
"""

import contextlib
import os
import time

import docker

from tests.support.daemon import module_daemon
from tests.support.fakepanel import INSTALLER_IMAGE, FakePanel
from tests.support.polling import wait_until

# wings-api.md §10.8 daemon messages around an install (wings-behaviour.md §7.2)
INSTALL_STARTING = "Starting installation process, this could take a few minutes..."
INSTALL_COMPLETED = "Installation process completed."
# wings-api.md §4.4 / errors.ServerSuspended
SUSPENDED_ERROR = {"error": "Cannot start or restart a server that is suspended."}
# wings-api.md §4.7
REINSTALL_CONFLICT = {"error": "Cannot execute server reinstall event while another power "
                               "action is running."}
# wings-api.md §10.10 [LATER]
SUSPENDED_CLOSE = 4409

RELEASE_FILE = ".release"
HELD_SCRIPT = (
    "#!/bin/ash\r\n"
    # what a script could reach: mount points under /mnt or named after docker
    "points=$(awk '{print $2}' /proc/mounts | grep -E '^/mnt|docker' | sort | tr '\\n' ' ')\r\n"
    "echo \"mounts: $points\"\r\n"
    "if [ -e /var/run/docker.sock ] || [ -e /run/docker.sock ]; then\r\n"
    "  echo 'docker socket: present'\r\n"
    "else\r\n"
    "  echo 'docker socket: absent'\r\n"
    "fi\r\n"
    "i=0\r\n"
    "while [ ! -e /mnt/server/%s ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\r\n"
    "echo released\r\n" % RELEASE_FILE
)


def boot(daemon):
    """Start the daemon; websocket tokens minted in its boot second count as issued before
    boot (wings-api.md §16 [LATER]), so return in the next second."""
    daemon.start()
    time.sleep(1.05 - time.time() % 1)
    return daemon


@contextlib.contextmanager
def module_node(docker_client, network, session_id, base_dir, servers=(), overrides=None,
                before_start=None):
    """A fake Panel and a started daemon shared by a whole module: ``servers`` are
    ``FakePanel.add_server`` keyword dicts, ``overrides`` merge into config.yml and
    ``before_start(panel, daemon)`` prepares the host. Yields ``(panel, daemon)``; the
    servers' containers are removed at the end."""
    panel = FakePanel(session_id).start()
    for server in servers:
        panel.add_server(**server)
    with module_daemon(panel, docker_client, network, base_dir, overrides) as daemon:
        if before_start is not None:
            before_start(panel, daemon)
        daemon.start()
        yield panel, daemon


def install_script(body):
    """The Panel's ``GET /api/remote/servers/<uuid>/install`` answer for ``body``, run by ash
    in the local installer image (panel-contract.md §2.2)."""
    return {"container_image": INSTALLER_IMAGE, "entrypoint": "ash", "script": body}


def installer_name(uuid):
    return "%s_installer" % uuid


def server_root(daemon, uuid):
    return os.path.join(daemon.config["system"]["data"], uuid)


def release(daemon, uuid):
    """Let a ``HELD_SCRIPT`` install finish."""
    path = os.path.join(server_root(daemon, uuid), RELEASE_FILE)
    with open(path, "w") as f:
        f.write("go\n")


def running_installer(client, uuid, timeout=30):
    """The ``<uuid>_installer`` container once it runs."""
    def find():
        try:
            container = client.containers.get(installer_name(uuid))
        except docker.errors.NotFound:
            return None
        return container if container.attrs["State"]["Running"] else None
    return wait_until(find, timeout=timeout, interval=0.1, what="the running installer")


def installer_gone(client, uuid, timeout=30):
    def gone():
        try:
            client.containers.get(installer_name(uuid))
        except docker.errors.NotFound:
            return True
        return False
    return wait_until(gone, timeout=timeout, interval=0.1, what="the installer removed")


def install_report(panel, uuid, timeout=30):
    """The first install report the fake Panel received for ``uuid``."""
    def first():
        return next((r for r in panel.install_reports if r["uuid"] == uuid), None)
    return wait_until(first, timeout=timeout, interval=0.1,
                      what="the install report of %s" % uuid)


def container_info(client, name):
    """``docker inspect`` of ``name``, or None when it does not exist."""
    try:
        return client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
