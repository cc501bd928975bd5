"""``system.sftp.key_only`` (pelican): passwords are not offered, public keys log in."""

from tests.integration.sftp.conftest import OWNER
from tests.support.panel_routes import key_fingerprint

NODE_CONFIG = {"system": {"sftp": {"key_only": True}}}


def test_passwords_are_refused_and_keys_log_in(node):
    before = len(node.panel.calls("POST", "/api/remote/sftp/auth"))
    result = node.sftp(node.username(), ["pwd"])
    assert result.returncode != 0
    assert len(node.panel.calls("POST", "/api/remote/sftp/auth")) == before
    private, public = node.key("key_only")
    node.panel.users[OWNER]["ssh_key_fingerprints"].append(key_fingerprint(public))
    result = node.sftp(node.username(), ["pwd"], key=private)
    assert result.returncode == 0, result.stderr
