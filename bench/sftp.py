"""SFTP benchmarks (issue 16) against Debian's OpenSSH server started on a free loopback
port with its own ``sftp-server``: the same client (OpenSSH's ``sftp``), the same cipher
(aes128-gcm@openssh.com), the same machine, the same run.

* a ``BENCH_SFTP_MIB`` (1 GiB) upload and download: throughput (target ≥ 0.5 of sshd's)
  and server CPU seconds per GiB (the SFTP process's against sshd's per-connection
  processes, which the listening sshd reaps);
* ``BENCH_SFTP_CONCURRENT`` (20) uploads of ``BENCH_SFTP_CONCURRENT_MIB`` (50) MiB at once:
  aggregate throughput;
* the SFTP process's RSS with ``BENCH_SFTP_IDLE`` (200) idle authenticated sessions, above
  its RSS before them (target ≤ 64 MiB; sshd's processes for as many sessions beside it);
* its RSS growth over ``BENCH_SFTP_FAILED`` (10 000) failed logins (target ≤ 4 MiB).

Set the environment variables lower for a smoke run. Figures on a loaded machine are noisy.
"""

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import psutil

from bench.figures import Figure
from bench.node import BenchNode
from tests.support.polling import wait_until
from tests.support.ports import free_port, ssh_answers

MIB = 1024 * 1024
GIB = 1024 * MIB
TRANSFER_MIB = int(os.environ.get("BENCH_SFTP_MIB", "1024"))
CONCURRENT = int(os.environ.get("BENCH_SFTP_CONCURRENT", "20"))
CONCURRENT_MIB = int(os.environ.get("BENCH_SFTP_CONCURRENT_MIB", "50"))
IDLE_SESSIONS = int(os.environ.get("BENCH_SFTP_IDLE", "200"))
FAILED_LOGINS = int(os.environ.get("BENCH_SFTP_FAILED", "10000"))
FAILING_AT_ONCE = 20
CIPHER = "aes128-gcm@openssh.com"
USER = "bench"
PASSWORD = "bench password"
SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
CLIENT_TIMEOUT = 1800
NODE_CONFIG = {"wingspan": {"sftp": {"connections_per_user": IDLE_SESSIONS + CONCURRENT + 10,
                                     "failures_per_ip": 10 ** 9}}}


def run():
    work = tempfile.mkdtemp(prefix="wingspan-bench-sftp-")
    node = None
    sshd = None
    try:
        key = make_key(work)
        big = make_file(os.path.join(work, "big.bin"), TRANSFER_MIB * MIB)
        part = make_file(os.path.join(work, "part.bin"), CONCURRENT_MIB * MIB)
        sshd = OpenSSH(work, key)
        node = start_node(key)
        wingspan = Target("wingspan", node.sftp_port, node.username, key,
                          lambda: sftp_process(node), node.root)
        baseline = Target("sshd", sshd.port, "root", key, lambda: sshd.process, sshd.root)
        figures = transfer_figures(wingspan, baseline, big, work)
        figures += concurrent_figures(wingspan, baseline, part)
        figures += idle_figures(wingspan, sshd, key)
        figures.append(failed_login_figure(wingspan))
        return figures
    finally:
        if node is not None:
            node.close()
        if sshd is not None:
            sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


# -- the two servers -------------------------------------------------------------------------

class Target:
    """One server under test: how to log in, and the process whose CPU and memory count."""

    def __init__(self, name, port, username, key, process, root):
        self.name = name
        self.port = port
        self.username = username
        self.key = key
        self.process = process
        self.root = root

    def sftp(self, commands):
        command = ["sftp", "-q", "-b", "-", "-P", str(self.port), "-i", self.key,
                   "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                   "-o", "Ciphers=%s" % CIPHER, "-o", "Compression=no",
                   "%s@127.0.0.1" % self.username]
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True), "\n".join(commands) + "\n"

    def run_sftp(self, commands):
        proc, script = self.sftp(commands)
        _, err = proc.communicate(script, timeout=CLIENT_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError("%s: sftp %s failed: %s" % (self.name, commands, err))

    def cpu_seconds(self):
        """CPU of the serving processes: the SFTP process (threads included), or the
        per-connection processes sshd has reaped."""
        times = self.process().cpu_times()
        return times.user + times.system + times.children_user + times.children_system


class OpenSSH:
    """``sshd -D`` on a free loopback port, root logging in with the bench key."""

    def __init__(self, work, key):
        self.dir = os.path.join(work, "sshd")
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        host_key = os.path.join(self.dir, "host_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key],
                       check=True)
        authorized = os.path.join(self.dir, "authorized_keys")
        shutil.copy(key + ".pub", authorized)
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        self.port = free_port()
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write("\n".join([
                "ListenAddress 127.0.0.1", "Port %d" % self.port, "HostKey %s" % host_key,
                "PidFile none", "UsePAM no", "PermitRootLogin prohibit-password",
                "PasswordAuthentication no", "StrictModes no",
                "AuthorizedKeysFile %s" % authorized, "Ciphers %s" % CIPHER,
                "MaxStartups 1000", "MaxSessions 1000",
                "Subsystem sftp %s -d %s" % (SFTP_SERVER, self.root), ""]))
        self.process = psutil.Popen([SSHD, "-D", "-e", "-f", config],
                                    stderr=subprocess.DEVNULL)
        wait_until(lambda: ssh_answers(self.port), timeout=30, what="sshd listening")

    def session_rss(self):
        """RSS of every process serving a connection (children of the listener)."""
        return sum(_rss(p) for p in self.process.children(recursive=True))

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def start_node(key):
    node = BenchNode(1, config=NODE_CONFIG)
    uuid = node.uuids[0]
    with open(key + ".pub") as f:
        node.panel.add_user(USER, PASSWORD, keys=[f.read().strip()])
    node.panel.add_server(uuid, disk=0, owner=USER)
    node.daemon.start()
    node.sftp_port = node.daemon.config["system"]["sftp"]["bind_port"]
    node.username = "%s.%s" % (USER, uuid[:8])
    node.root = os.path.join(node.daemon.config["system"]["data"], uuid)
    wait_until(lambda: ssh_answers(node.sftp_port), timeout=30, what="the SFTP listener")
    return node


def sftp_process(node):
    return psutil.Process(node.daemon.processes()["wingspan: sftp"])


# -- figures ---------------------------------------------------------------------------------

def transfer_figures(wingspan, baseline, big, work):
    size = os.path.getsize(big)
    figures = []
    for direction in ("upload", "download"):
        results = {}
        for target in (baseline, wingspan):
            if direction == "upload":
                commands = ["put %s big.bin" % big]
            else:
                commands = ["get big.bin %s" % os.path.join(work, "back.bin")]
            cpu = target.cpu_seconds()
            started = time.monotonic()
            target.run_sftp(commands)
            elapsed = time.monotonic() - started
            if direction == "download":
                os.unlink(os.path.join(work, "back.bin"))
            # sshd's per-connection processes are counted once the listener reaped them
            time.sleep(0.5)
            results[target.name] = (size / MIB / elapsed,
                                    (target.cpu_seconds() - cpu) * GIB / size)
        figures.append(Figure("%s MiB/s (%d MiB)" % (direction, size // MIB),
                              results["wingspan"][0], results["sshd"][0], target="≥ 0.5"))
        figures.append(Figure("%s CPU s per GiB" % direction, results["wingspan"][1],
                              results["sshd"][1]))
    return figures


def concurrent_figures(wingspan, baseline, part):
    size = os.path.getsize(part)
    rates = {}
    for target in (baseline, wingspan):
        started = time.monotonic()
        clients = [target.sftp(["put %s part%d.bin" % (part, n)]) for n in range(CONCURRENT)]
        for proc, script in clients:
            proc.stdin.write(script)
            proc.stdin.close()
        failed = [proc.wait(CLIENT_TIMEOUT) for proc, _ in clients]
        if any(failed):
            raise RuntimeError("%s: %d of %d concurrent uploads failed"
                               % (target.name, sum(1 for code in failed if code), CONCURRENT))
        rates[target.name] = CONCURRENT * size / MIB / (time.monotonic() - started)
        for n in range(CONCURRENT):
            os.unlink(os.path.join(target.root, "part%d.bin" % n))
    return [Figure("%d concurrent %d MiB uploads, MiB/s" % (CONCURRENT, size // MIB),
                   rates["wingspan"], rates["sshd"], target="all finish")]


def idle_figures(wingspan, sshd, key):
    """Sessions that logged in, listed their directory once and then wait."""
    process = wingspan.process()
    before = _rss(process)
    grown = hold_sessions(wingspan, key, lambda: _rss(process) - before)
    sshd_rss = hold_sessions(sshd_target(sshd, key), key, sshd.session_rss)
    return [Figure("RSS for %d idle sessions, MiB" % IDLE_SESSIONS, grown / MIB,
                   sshd_rss / MIB, target="≤ 64 MiB")]


def hold_sessions(target, key, measure):
    """``measure()`` while ``IDLE_SESSIONS`` idle SFTP sessions are open on ``target``."""
    import asyncssh  # the bench's own client

    async def hold():
        connections = []
        try:
            for _ in range(IDLE_SESSIONS):
                conn = await asyncssh.connect(
                    "127.0.0.1", target.port, username=target.username, client_keys=[key],
                    known_hosts=None, encryption_algs=[CIPHER])
                connections.append(conn)
                client = await conn.start_sftp_client()
                await client.listdir(".")
            await asyncio.sleep(1.0)
            return measure()
        finally:
            for conn in connections:
                conn.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return asyncio.run(hold())


def sshd_target(sshd, key):
    return Target("sshd", sshd.port, "root", key, lambda: sshd.process, sshd.root)


def failed_login_figure(wingspan):
    """Bad passwords for ever new usernames, ``FAILING_AT_ONCE`` connections at a time;
    measured after a warm-up round (tables and code paths in use)."""
    process = wingspan.process()
    warm = min(200, FAILED_LOGINS)
    fail_logins(wingspan, warm, "warm")
    before = _rss(process)
    fail_logins(wingspan, FAILED_LOGINS, "bot")
    grown = _rss(process) - before
    return Figure("RSS growth over %d failed logins, MiB" % FAILED_LOGINS, grown / MIB,
                  target="≤ 4 MiB")


def fail_logins(target, count, prefix):
    import asyncssh

    async def one(n):
        try:
            conn = await asyncssh.connect(
                "127.0.0.1", target.port, username="%s%d.abcd1234" % (prefix, n),
                password="wrong", client_keys=None, known_hosts=None,
                preferred_auth="password", encryption_algs=[CIPHER])
        except (asyncssh.PermissionDenied, asyncssh.DisconnectError, OSError):
            return
        conn.close()
        raise RuntimeError("a bad password was accepted")

    async def fail_all():
        for start in range(0, count, FAILING_AT_ONCE):
            await asyncio.gather(*(one(n) for n in range(start, min(count, start
                                                                     + FAILING_AT_ONCE))))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asyncio.run(fail_all())


# -- helpers ---------------------------------------------------------------------------------

def make_key(work):
    key = os.path.join(work, "client_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key],
                   check=True)
    return key


def make_file(path, size):
    with open(path, "wb") as f:
        block = os.urandom(4 * MIB)
        left = size
        while left:
            f.write(block[:min(left, len(block))])
            left -= min(left, len(block))
    return path


def _rss(process):
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0
