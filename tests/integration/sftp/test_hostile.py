"""Hostile input hurts only its own connection (issue 16; peers.md advisory #16: a malformed
handshake packet crashed Wings). After each case the SFTP process is the same one, a fresh
login works, and the daemon never logged a traceback."""

import os
import signal
import socket
import struct
import subprocess
import time

import paramiko
import psutil
import pytest
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from tests.integration.sftp.conftest import OWNER
from tests.support.polling import wait_until

SERVERS = {"main": {"owner": OWNER, "disk": 0}}
NODE_CONFIG = {"wingspan": {"sftp": {"handles_per_session": 64, "login_timeout": 5}}}


@pytest.fixture
def same_process(node):
    """The SFTP process survives the test and still serves; nothing logged a traceback."""
    pid = node.daemon.processes()["wingspan: sftp"]
    yield
    assert node.daemon.processes()["wingspan: sftp"] == pid
    transport, client = node.paramiko(node.username())
    try:
        client.listdir("/")
    finally:
        transport.close()
    assert "Traceback" not in node.daemon.log_tail(100000)


def raw(node, data, read=True):
    """Send ``data`` on a fresh TCP connection; what the node answers until it closes."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        banner = sock.recv(256)
        sock.sendall(data)
        answer = b""
        while read:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            answer += chunk
        return banner, answer


def test_garbage_instead_of_a_banner(node, same_process):
    banner, _ = raw(node, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096))
    assert banner.startswith(b"SSH-2.0-")


def test_garbage_inside_the_handshake(node, same_process):
    packet = struct.pack(">I", 0x7FFFFFF0) + os.urandom(2048)
    raw(node, b"SSH-2.0-hostile\r\n" + packet)
    raw(node, b"SSH-2.0-hostile\r\n" + struct.pack(">IB", 12, 4) + os.urandom(11))


def test_a_client_that_never_logs_in_is_dropped(node, same_process):
    """``wingspan.sftp.login_timeout`` (5 s here): the connection ends on the node's side."""
    started = time.monotonic()
    raw(node, b"SSH-2.0-idle\r\n")
    assert time.monotonic() - started < 60


def open_session(node):
    transport = paramiko.Transport(("127.0.0.1", node.port))
    transport.connect(username=node.username(), password="correct horse")
    return transport, transport.open_session()


def test_a_subsystem_request_with_a_short_payload(node, same_process):
    """Upstream crashed on a payload shorter than 4 bytes (§12.2, fixed in Pelican)."""
    transport, channel = open_session(node)
    try:
        message = Message()
        message.add_byte(cMSG_CHANNEL_REQUEST)
        message.add_int(channel.remote_chanid)
        message.add_string("subsystem")
        message.add_boolean(True)
        message.add_bytes(b"\x00\x01")
        transport._send_user_message(message)
        wait_until(lambda: not transport.is_active() or channel.closed, timeout=15,
                   what="the request refused")
    finally:
        transport.close()


def test_an_oversized_sftp_packet_ends_that_session_only(node, same_process):
    bystander, client = node.paramiko(node.username())
    transport, channel = open_session(node)
    try:
        channel.invoke_subsystem("sftp")
        channel.sendall(struct.pack(">I", 0x7FFFFFFF) + os.urandom(1024))
        wait_until(lambda: channel.exit_status_ready() or channel.closed
                   or not transport.is_active() or channel.recv_ready(), timeout=15,
                   what="the session ended")
        assert client.listdir("/") == []
    finally:
        transport.close()
        bystander.close()


def test_malformed_sftp_requests_are_answered_not_fatal(node, same_process):
    transport, channel = open_session(node)
    try:
        channel.invoke_subsystem("sftp")
        init = struct.pack(">BI", 1, 3)
        channel.sendall(struct.pack(">I", len(init)) + init)
        channel.recv(4096)
        for body in (struct.pack(">BI", 3, 7) + b"\x00\x00",  # open, truncated path
                     struct.pack(">BI", 200, 8),  # unknown type
                     struct.pack(">BI", 5, 9) + struct.pack(">I", 4) + b"nope" + b"\x00" * 12,
                     struct.pack(">BI", 17, 10) + os.urandom(64)):  # realpath, garbage
            channel.sendall(struct.pack(">I", len(body)) + body)
        time.sleep(0.5)
    finally:
        transport.close()


def test_thousands_of_handles_are_refused_past_the_limit(node, same_process):
    node.put("f", b"x")
    transport, client = node.paramiko(node.username())
    held, refused = [], 0
    try:
        for _ in range(2000):
            try:
                held.append(client.open("/f"))
            except OSError:
                refused += 1
        assert len(held) == 64
        assert refused == 2000 - 64
    finally:
        transport.close()


def test_a_client_stalled_mid_download_stalls_no_one_else(node, same_process, tmp_path):
    """A client that stops reading holds its own window, not the process."""
    with open(node.host("big"), "wb") as f:
        f.write(os.urandom(64 * 1024 * 1024))
    command = ["sshpass", "-p", "correct horse", "sftp", "-o", "BatchMode=no", "-b", "-",
               "-P", str(node.port), "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "PreferredAuthentications=password", "%s@127.0.0.1" % node.username()]
    stalled = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        stalled.stdin.write(("get /big %s\n" % (tmp_path / "big")).encode())
        stalled.stdin.flush()
        wait_until(lambda: (tmp_path / "big").exists(), timeout=30, what="the download")
        for proc in [stalled.pid] + _children(stalled.pid):
            os.kill(proc, signal.SIGSTOP)
        result = node.sftp(node.username(), ["ls /"])
        assert result.returncode == 0, result.stderr
        assert "big" in result.stdout
    finally:
        for proc in [stalled.pid] + _children(stalled.pid):
            try:
                os.kill(proc, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stalled.wait()


def _children(pid):
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
