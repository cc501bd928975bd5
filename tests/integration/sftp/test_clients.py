"""Real clients beyond OpenSSH's: lftp mirroring a tree of 1 000 files up and back, and 20
sessions uploading at once (issue 16 tests; wings-behaviour.md §12.3)."""

import hashlib
import os
import subprocess
import threading

from tests.integration.sftp.conftest import OWNER, PASSWORD

SERVERS = {"main": {"owner": OWNER, "disk": 0}}
NODE_CONFIG = {"wingspan": {"sftp": {"connections_per_user": 25}}}
FILES = 1000
SESSIONS = 20


def tree_digest(top):
    """``{relative path: sha256}`` of every file beneath ``top``."""
    found = {}
    for directory, _, files in os.walk(top):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, top)] = hashlib.sha256(f.read()).hexdigest()
    return found


def make_tree(top):
    for n in range(FILES):
        directory = os.path.join(top, "d%02d" % (n % 25), "sub%d" % (n % 3))
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "file%04d.bin" % n), "wb") as f:
            f.write(os.urandom(n * 37 % 20000))


def lftp(node, script):
    ssh = ("ssh -a -x -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           "-o LogLevel=ERROR -o PubkeyAuthentication=no")
    command = ["lftp", "-u", "%s,%s" % (node.username(), PASSWORD), "-p", str(node.port),
               "-e", "set sftp:connect-program '%s'; set net:max-retries 1; "
                     "set cmd:fail-exit yes; %s; bye" % (ssh, script),
               "sftp://127.0.0.1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def test_lftp_mirrors_a_tree_up_and_back_byte_identical(node, tmp_path):
    local = tmp_path / "tree"
    make_tree(str(local))
    up = lftp(node, "mirror -R --parallel=4 %s /tree" % local)
    assert up.returncode == 0, up.stderr
    assert tree_digest(node.host("tree")) == tree_digest(str(local))
    back = tmp_path / "back"
    down = lftp(node, "mirror --parallel=4 /tree %s" % back)
    assert down.returncode == 0, down.stderr
    assert tree_digest(str(back)) == tree_digest(str(local))
    assert len(tree_digest(str(back))) == FILES


def test_twenty_sessions_upload_at_once(node):
    payloads = {n: os.urandom(256 * 1024 + n) for n in range(SESSIONS)}
    errors = []

    def upload(n):
        try:
            transport, client = node.paramiko(node.username())
            try:
                with client.open("/upload%02d.bin" % n, "w") as f:
                    f.set_pipelined(True)
                    for start in range(0, len(payloads[n]), 32768):
                        f.write(payloads[n][start:start + 32768])
            finally:
                transport.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for n, payload in payloads.items():
        assert node.read("upload%02d.bin" % n) == payload
