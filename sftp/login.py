"""The SSH side of one connection: who may log in, and how many channels they open.

Logins (wings-behaviour.md §12.2): the username must read ``<panel user>.<8-char server
id>`` before the Panel is asked; password and public key both go to ``POST
/api/remote/sftp/auth`` (the key as an authorized_keys line). A Panel 4xx is a wrong
credential, anything else an error on our side; neither ends the connection. Failures cool
an IP (and, for passwords, a username) down for a while, during which the Panel is not
asked at all (peers.md: brute force against port 2022 is routine).
"""

import base64
import logging
import re

import asyncssh
from asyncssh.stream import SSHServerStreamSession

from wingspan import errors

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^(.+)\.([a-z0-9]{8})$", re.IGNORECASE)
MAX_AUTH_TRIES = 6
SFTP_VERSION = 3


class Login:
    """An authenticated connection: the Panel user, the server and the permissions."""

    def __init__(self, conn, user, server, permissions, ip):
        self.conn = conn
        self.user = user
        self.server = server
        self.permissions = frozenset(permissions)
        self.ip = ip
        self.sessions = 0

    def close(self):
        self.conn.close()


class LoginGate(asyncssh.SSHServer):
    """One per connection (asyncssh's ``server_factory``)."""

    def __init__(self, node):
        self.node = node
        self.conn = None
        self.ip = ""
        self.peer = ""
        self.login = None
        self.tries = 0
        self._checked_keys = {}

    # -- connection ---------------------------------------------------------------------

    def connection_made(self, conn):
        self.conn = conn
        host, port = conn.get_extra_info("peername")[:2]
        self.ip = host
        self.peer = "%s:%d" % (host, port) if ":" not in host else "[%s]:%d" % (host, port)

    def connection_lost(self, exc):
        if self.login is not None:
            self.node.registry.logins.discard(self.login)

    # -- authentication -----------------------------------------------------------------

    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return not self.node.cfg.system.sftp.key_only

    def public_key_auth_supported(self):
        return True

    def kbdint_auth_supported(self):
        return False

    async def validate_password(self, username, password):
        return await self._check(username, "password", password)

    async def validate_public_key(self, username, key):
        # asyncssh asks twice for one key (the probe, then the signed request)
        line = key.export_public_key("openssh").decode()
        if line not in self._checked_keys:
            self._checked_keys[line] = await self._check(username, "public_key", line)
        return self._checked_keys[line]

    async def _check(self, username, kind, secret):
        self.tries += 1
        if self.tries > MAX_AUTH_TRIES:
            self.conn.close()
            return False
        node = self.node
        if node.throttle.cooling(self.ip, username):
            log.info("SFTP login of %r from %s refused: cooling down after failed logins",
                     username, self.ip)
            return False
        if not USERNAME.match(username):
            node.throttle.failed(self.ip, username, kind == "password")
            return False
        try:
            answer = await node.ask_panel(self._auth_body(username, kind, secret))
        except errors.InvalidCredentials:
            log.warning("SFTP login of %r from %s: invalid credentials", username, self.ip)
            node.throttle.failed(self.ip, username, kind == "password")
            return False
        except errors.PanelError as e:
            log.error("SFTP login of %r from %s: the Panel could not be asked: %s",
                      username, self.ip, e.detail)
            return False
        return await self._bind(username, answer)

    def _auth_body(self, username, kind, secret):
        return {"type": kind, "username": username, "password": secret, "ip": self.peer,
                "session_id": "",
                "client_version": base64.b64encode(
                    (self.conn.get_extra_info("client_version") or "").encode()).decode()}

    async def _bind(self, username, answer):
        uuid, user = answer.get("server"), answer.get("user")
        permissions = answer.get("permissions")
        if not isinstance(uuid, str) or not isinstance(user, str) \
                or not isinstance(permissions, list):
            log.error("SFTP login of %r: the Panel answered without server, user and "
                      "permissions", username)
            return False
        server = await self.node.registry.find(uuid)
        if server is None:
            log.warning("SFTP login of %r: server %s is not on this node", username, uuid)
            return False
        limit = self.node.cfg.wingspan.sftp.connections_per_user
        if self.node.registry.logins_of(user) >= limit:
            log.warning("SFTP login of %r refused: %d connections open already", username,
                        limit)
            return False
        self.login = Login(self.conn, user, server,
                           [p for p in permissions if isinstance(p, str)], self.ip)
        self.node.registry.logins.add(self.login)
        return True

    # -- channels -----------------------------------------------------------------------

    def session_requested(self):
        login = self.login
        if login is None or login.sessions >= self.node.cfg.wingspan.sftp.channels_per_connection:
            return False
        login.sessions += 1
        return SSHServerStreamSession(None, self._sftp_server, SFTP_VERSION, False)

    def _sftp_server(self, chan):
        return self.node.sftp_server(chan, self.login)
