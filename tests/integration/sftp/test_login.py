"""SFTP listener, host key and logins (wings-behaviour.md §12.1-§12.2, wings-api.md §14,
panel-contract.md sftp/auth), with OpenSSH's own client."""

import os
import stat

from tests.integration.sftp.conftest import OWNER, PASSWORD
from tests.support.daemon import CONTAINER_GID, CONTAINER_UID
from tests.support.panel_routes import key_fingerprint
from tests.support.polling import wait_until


def auth_calls(node):
    return node.panel.calls("POST", "/api/remote/sftp/auth")


def test_password_login_puts_lists_and_gets_a_file(node, tmp_path):
    """§12.3: open for write creates the file owned by the server user, list and read."""
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello over sftp\n")
    result = node.sftp(node.username(), ["put %s /hello.txt" % local, "ls -1 /",
                                         "get /hello.txt %s" % (tmp_path / "back.txt")])
    assert result.returncode == 0, result.stderr
    assert "hello.txt" in result.stdout
    assert (tmp_path / "back.txt").read_bytes() == b"hello over sftp\n"
    info = os.stat(node.host("hello.txt"))
    assert (info.st_uid, info.st_gid) == (CONTAINER_UID, CONTAINER_GID)
    assert stat.S_IMODE(info.st_mode) == 0o644


def test_the_panel_is_asked_with_the_spec_body(node):
    """§12.2: type, username as typed, password, ip with port, session_id, client_version."""
    before = len(auth_calls(node))
    result = node.sftp(node.username(), ["pwd"])
    assert result.returncode == 0, result.stderr
    body = auth_calls(node)[before].body
    assert set(body) == {"type", "username", "password", "ip", "session_id", "client_version"}
    assert body["type"] == "password"
    assert body["username"] == node.username()
    assert body["password"] == PASSWORD
    assert body["ip"].startswith("127.0.0.1:")


def test_public_key_login_sends_the_authorized_keys_line(node, tmp_path):
    """§12.2: the key goes to the Panel as an authorized_keys line with its newline."""
    private, public = node.key("alice_key")
    node.panel.users[OWNER]["ssh_key_fingerprints"].append(key_fingerprint(public))
    before = len(auth_calls(node))
    result = node.sftp(node.username(), ["ls /"], key=private)
    assert result.returncode == 0, result.stderr
    keyed = [c.body for c in auth_calls(node)[before:] if c.body["type"] == "public_key"]
    assert keyed and keyed[-1]["password"] == public + "\n"


def test_a_wrong_password_is_refused(node):
    result = node.sftp(node.username(), ["ls /"], password="wrong")
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_a_username_without_a_server_id_never_reaches_the_panel(node):
    """§12.2: the pattern is checked before the Panel is asked."""
    result = node.sftp("alice", ["ls /"])
    assert result.returncode != 0
    assert [c for c in auth_calls(node) if c.body["username"] == "alice"] == []


def test_shell_and_exec_are_refused(node):
    """§12.2: only the sftp subsystem."""
    result = node.ssh(node.username(), "id")
    assert result.returncode != 0
    assert "uid=" not in result.stdout


def test_the_host_key_is_pkcs8_ed25519_0600_and_kept(node):
    """§12.1: <data>/.sftp/id_ed25519, PKCS#8 PEM, 0600, in a 0755 directory."""
    path = os.path.join(node.data_dir, ".sftp", "id_ed25519")
    with open(path) as f:
        assert f.read().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755


def test_the_sftp_process_is_supervised_and_restarted(node):
    """A crash of the SFTP process is the supervisor's to repair, with the same host key."""
    path = os.path.join(node.data_dir, ".sftp", "id_ed25519")
    with open(path, "rb") as f:
        key = f.read()
    pid = node.daemon.processes()["wingspan: sftp"]
    os.kill(pid, 9)
    wait_until(lambda: node.daemon.processes().get("wingspan: sftp") not in (None, pid),
               timeout=30, what="a new SFTP process")
    wait_until(lambda: node.sftp(node.username(), ["pwd"]).returncode == 0, timeout=30,
               what="SFTP logins after the restart")
    with open(path, "rb") as f:
        assert f.read() == key
    # it starts at a lower priority than the boot (wingspan.startup.start_in_background),
    # and serves at the daemon's own, in every thread: also those started meanwhile
    new = node.daemon.processes()["wingspan: sftp"]
    threads = [int(tid) for tid in os.listdir("/proc/%d/task" % new)]
    assert len(threads) > 1
    assert {os.getpriority(os.PRIO_PROCESS, tid) for tid in threads} == \
        {os.getpriority(os.PRIO_PROCESS, node.daemon.process.pid)}


def test_a_failing_panel_is_an_auth_error_not_a_crash(node):
    """§12.2: a Panel error other than a 4xx is retried as any Panel call, then refused;
    the SFTP process goes on serving."""
    pid = node.daemon.processes()["wingspan: sftp"]
    node.panel.fail("POST", r"/api/remote/sftp/auth", status=500, times=1)
    result = node.sftp(node.username(), ["pwd"])
    assert result.returncode == 0, result.stderr
    node.panel.fail("POST", r"/api/remote/sftp/auth", status=404, times=1)
    assert node.sftp(node.username(), ["pwd"]).returncode != 0
    assert node.daemon.processes()["wingspan: sftp"] == pid


def test_only_the_spec_algorithms_are_offered(node):
    """§12.1: KEX, ciphers and MACs of the spec; anything else finds no match."""
    for options in (["-o", "Ciphers=aes128-gcm@openssh.com"],
                    ["-o", "Ciphers=chacha20-poly1305@openssh.com"],
                    ["-o", "Ciphers=aes256-ctr", "-o", "MACs=hmac-sha2-256-etm@openssh.com"],
                    ["-o", "KexAlgorithms=diffie-hellman-group14-sha256"]):
        result = node.sftp(node.username(), ["pwd"], options=options)
        assert result.returncode == 0, (options, result.stderr)
    for options in (["-o", "Ciphers=aes256-gcm@openssh.com"],
                    ["-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1"],
                    ["-o", "KexAlgorithms=diffie-hellman-group14-sha1"],
                    ["-o", "HostKeyAlgorithms=ssh-rsa"]):
        result = node.sftp(node.username(), ["pwd"], options=options)
        assert result.returncode != 0, options


def test_six_tries_per_connection(node):
    """§12.1: at most 6 authentication attempts on one connection (here: 8 unknown keys
    offered one after the other; the Panel hears of 6 at most)."""
    keys = [node.key("stranger%d" % n)[0] for n in range(8)]
    username = node.username("tries")
    options = []
    for key in keys:
        options += ["-i", key]
    result = node.sftp(username, ["pwd"], key=keys[0], options=options)
    assert result.returncode != 0
    asked = [c for c in auth_calls(node) if c.body["username"] == username]
    assert 0 < len(asked) <= 6
