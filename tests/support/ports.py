"""Free TCP ports on loopback, for daemons, SFTP and game-server allocations, and whether an
SSH server answers on one."""

import socket


def free_port():
    """A port nothing listens on right now (the kernel's pick, released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssh_answers(port):
    """True once the port on loopback sends an SSH banner (wingspan's SFTP or an sshd)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False
