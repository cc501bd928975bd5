"""Fixtures of the files suites (wings-api.md §5-§7).

A daemon boots in about 1.5 s and a module holds dozens of tests, so each module gets one
daemon (``files_node``), booted with the servers the module declares in ``SERVERS``
(``{name: FakePanel.add_server overrides}``; default one server "main") and the config
overrides of the ``node_overrides`` fixture (default: the module's ``NODE_CONFIG``). No
server is started: the files API needs no container.

Beside the data directory lies a sentinel tree, the target of every escape attempt. After
each test (``node``) the sentinel must be byte, mode and mtime identical and no file named
with ``helpers.MARK`` may exist outside the server roots; then the roots are emptied and
the sentinel rebuilt for the next test.
"""

import glob
import os
import shutil
import time
import uuid as uuidlib

import pytest
import requests

from tests.integration.files.helpers import MARK, SECRET, USER, marked_paths, snapshot
from tests.support.daemon import CONTAINER_GID, CONTAINER_UID, module_daemon
from tests.support.fakepanel import FakePanel
from tests.support.panel_jwt import panel_jwt

SIGNED_TTL = 900
SENTINEL_MTIME = 978307200  # 2001-01-01: any change to it shows
# Where a broken sandbox would drop an absolute-path attack on the host.
HOST_DROP_ZONES = ("/", "/tmp", "/etc", "/root")


class FilesNode:
    """A running daemon, its servers by name, their roots on the host and the sentinel."""

    def __init__(self, panel, daemon, base_dir, uuids):
        self.panel = panel
        self.daemon = daemon
        self.base_dir = base_dir
        self.uuids = uuids
        self.data_dir = daemon.config["system"]["data"]
        self.sentinel = os.path.join(base_dir, "sentinel")
        self.sentinel_state = None
        self.build_sentinel()

    # -- servers and their files on the host ---------------------------------------------

    def uuid(self, server="main"):
        return self.uuids[server]

    def root(self, server="main"):
        return os.path.join(self.data_dir, self.uuids[server])

    def host(self, relative, server="main"):
        return os.path.join(self.root(server), relative)

    def put(self, relative, data=b"", server="main", mode=0o644):
        """A file created on the host inside a root, as the container would leave it."""
        path = self.host(relative, server)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def link(self, relative, target, server="main"):
        """A symlink inside a root (only SFTP or the container can make one, §6.2)."""
        path = self.host(relative, server)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
        return path

    def read(self, relative, server="main"):
        with open(self.host(relative, server), "rb") as f:
            return f.read()

    def exists(self, relative, server="main"):
        return os.path.lexists(self.host(relative, server))

    def put_backup(self, data):
        """A local backup archive holding ``data`` (any bytes: the signed download serves
        it as it is); returns its uuid and its path on the host."""
        backup = str(uuidlib.uuid4())
        directory = self.daemon.config["system"]["backup_directory"]
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "%s.tar.gz" % backup)
        with open(path, "wb") as f:
            f.write(data)
        return backup, path

    # -- signed URLs (wings-api.md §7), minted as the Panel mints them -------------------

    def token(self, server="main", claims=(), **options):
        uuid = self.uuids.get(server, server)
        options.setdefault("ttl", SIGNED_TTL)
        options.setdefault("user", USER)
        return panel_jwt(self.panel.token, self.daemon.url, "%d%s" % (USER["id"], uuid),
                         claims=[("server_uuid", uuid)] + list(claims), **options)

    def download_token(self, file_path, server="main", **options):
        claims = [("file_path", file_path), ("server_uuid", self.uuids.get(server, server))]
        return self.token(server, claims, **options)

    def download(self, token):
        return requests.get(self.daemon.url + "/download/file", params={"token": token},
                            timeout=15)

    def download_backup(self, token):
        return requests.get(self.daemon.url + "/download/backup", params={"token": token},
                            timeout=15)

    def upload(self, token, files, directory=None, field="files"):
        """``files``: ``[(filename, bytes)]`` sent as multipart parts named ``field``."""
        params = {"token": token}
        if directory is not None:
            params["directory"] = directory
        parts = [(field, (name, data, "application/octet-stream")) for name, data in files]
        return requests.post(self.daemon.url + "/upload/file", params=params, files=parts,
                             timeout=30)

    # -- the sentinel and the host outside the roots ------------------------------------

    def build_sentinel(self):
        shutil.rmtree(self.sentinel, ignore_errors=True)
        os.makedirs(os.path.join(self.sentinel, "inner"))
        for relative, mode in (("secret.txt", 0o640), ("inner/deep.txt", 0o600)):
            path = os.path.join(self.sentinel, relative)
            with open(path, "wb") as f:
                f.write(SECRET)
            os.chmod(path, mode)
            os.utime(path, (SENTINEL_MTIME, SENTINEL_MTIME))
        os.chmod(os.path.join(self.sentinel, "inner"), 0o700)
        for directory in (os.path.join(self.sentinel, "inner"), self.sentinel):
            os.utime(directory, (SENTINEL_MTIME, SENTINEL_MTIME))
        self.sentinel_state = (os.lstat(self.sentinel).st_mode, snapshot(self.sentinel))

    def assert_host_untouched(self):
        """Nothing outside the server roots was created, changed or removed."""
        state = (os.lstat(self.sentinel).st_mode, snapshot(self.sentinel))
        assert state == self.sentinel_state, "the sentinel beside the data directory changed"
        assert self.escaped_files() == []

    def escaped_files(self):
        """Files an attack left outside the roots (their names carry MARK)."""
        roots = [self.root(name) for name in self.uuids]
        found = marked_paths(self.base_dir, skip=roots)
        for zone in HOST_DROP_ZONES:
            found.extend(glob.glob(os.path.join(zone, "*%s*" % MARK)))
        return found

    def reset(self):
        """Empty every root, remove what an attack left outside them, rebuild the
        sentinel: one test's failure does not fail the next."""
        for path in self.escaped_files():
            remove(path)
        for name in self.uuids:
            root = self.root(name)
            for entry in os.listdir(root):
                remove(os.path.join(root, entry))
            os.chmod(root, 0o755)
            os.chown(root, CONTAINER_UID, CONTAINER_GID)
        roots = {self.uuids[name] for name in self.uuids}
        for entry in os.listdir(self.data_dir):
            if entry not in roots:
                remove(os.path.join(self.data_dir, entry))
        self.build_sentinel()


def remove(path):
    """Remove a file, link or tree without following links."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def wait_for_next_second():
    """Signed URLs minted in the daemon's boot second count as issued before boot (§16)."""
    time.sleep(1.05 - time.time() % 1)


@pytest.fixture(scope="module")
def node_overrides(request):
    return getattr(request.module, "NODE_CONFIG", {})


@pytest.fixture(scope="module")
def files_node(request, node_overrides, docker_client, test_network, session_id,
               tmp_path_factory):
    servers = getattr(request.module, "SERVERS", {"main": {}})
    panel = FakePanel(session_id).start()
    uuids = {name: panel.add_server(**overrides)["settings"]["uuid"]
             for name, overrides in servers.items()}
    base_dir = str(tmp_path_factory.mktemp("files"))
    with module_daemon(panel, docker_client, test_network, base_dir, node_overrides) as daemon:
        node = FilesNode(panel, daemon, base_dir, uuids)
        daemon.start()
        wait_for_next_second()
        yield node


@pytest.fixture
def node(request, files_node):
    """The module's node for one test; afterwards the host outside the roots must be as it
    was, and the roots are emptied."""
    request.node.wingspan_daemons = [files_node.daemon]
    yield files_node
    try:
        files_node.assert_host_untouched()
    finally:
        files_node.reset()
