"""Free TCP ports on loopback, for daemons, SFTP and game-server allocations."""

import socket


def free_port():
    """A port nothing listens on right now (the kernel's pick, released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
