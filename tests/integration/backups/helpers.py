"""What the backup suites share: a mixed server tree, its fingerprint, starting a backup
as the Panel does and waiting for the node's reports (wings-api.md §8, panel-contract.md
backup and restore reports)."""

import hashlib
import os
import stat
import tarfile

from tests.support.browser import BrowserSocket, console_token
from tests.support.polling import wait_until


def populate(node, server="main"):
    """A mixed tree: text, incompressible data, modes, nesting, a symlink."""
    node.put("server.properties", b"motd=A Minecraft Server\nmax-players=20\n", server, 0o640)
    node.put("world/level.dat", os.urandom(300 * 1024), server, 0o600)
    node.put("world/region/r.0.0.mca", b"chunk " * 50000, server)
    node.put("logs/latest.log", b"[INFO] Done\n" * 100, server)
    node.put("plugins/a.jar", os.urandom(4096), server, 0o755)
    os.utime(node.host("server.properties", server), (1_600_000_000, 1_600_000_000))
    node.link("current.log", "logs/latest.log", server)


def tree(node, server="main"):
    """``{relative path: (mode bits, content hash)}`` of the regular files of a root."""
    found = {}
    root = node.root(server)
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as f:
                    found[os.path.relpath(path, root)] = (
                        info.st_mode & 0o777, hashlib.sha256(f.read()).hexdigest())
    return found


def start_backup(node, server="main", ignore=""):
    backup = node.panel.add_backup(node.uuid(server))
    response = node.driver.backup(node.uuid(server), backup, node.panel.backup_adapter, ignore)
    assert response.status_code == 202, response.text
    assert response.content == b""
    return backup


def report_of(node, backup, timeout=30):
    def find():
        with node.panel.lock:
            return next((r["body"] for r in node.panel.backup_reports if r["uuid"] == backup),
                        None)
    return wait_until(find, timeout, what="the backup report of %s" % backup)


def restore_report_of(node, backup, timeout=30):
    def find():
        with node.panel.lock:
            return next((r for r in node.panel.restore_reports if r["uuid"] == backup), None)
    return wait_until(find, timeout, what="the restore report of %s" % backup)


def backed_up(node, server="main", ignore=""):
    backup = start_backup(node, server, ignore)
    report = report_of(node, backup)
    assert report["successful"] is True, report
    return backup, report


def names_in(path):
    with tarfile.open(path, "r:gz") as bundle:
        return sorted(bundle.getnames())


def key_of(node, backup, server="main"):
    return "%s/%s.tar.gz" % (node.uuid(server), backup)


def big_tree(node, mib=13):
    """Enough incompressible data for three 5 MiB parts, plus compressible text."""
    populate(node)
    node.put("data/random.bin", os.urandom(mib * 1024 * 1024))
    node.put("data/text.txt", b"the quick brown fox\n" * 100000)


def connect(node, permissions, server="main"):
    sock = BrowserSocket(node.daemon, node.uuid(server))
    sock.authenticate(console_token(node.daemon, node.uuid(server), permissions))
    return sock
