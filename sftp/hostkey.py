"""The node's SSH host key: ED25519 at ``<system.data>/.sftp/id_ed25519`` in PKCS#8 PEM,
mode 0600 in a 0755 directory, generated once and reused (wings-behaviour.md §12.1)."""

import logging
import os

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger(__name__)


def key_path(data_directory):
    return os.path.join(data_directory, ".sftp", "id_ed25519")


def load_or_create(data_directory):
    """The host key (an ``asyncssh.SSHKey``), generated on first use."""
    path = key_path(data_directory)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        log.info("generated the SFTP host key %s", path)
    key = asyncssh.read_private_key(path)
    log.info("SFTP host key %s", key.get_fingerprint())
    return key
