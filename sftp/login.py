"""The SSH side of one connection: who may log in, and how many channels they open.

Logins (wings-behaviour.md §12.2): the username must read ``<panel user>.<8-char server
id>`` before the Panel is asked; password and public key both go to ``POST
/api/remote/sftp/auth`` (the key as an authorized_keys line). A Panel 4xx is a wrong
credential, anything else an error on our side; neither ends the connection. Failures cool
an IP (and, for passwords, a username) down for a while, during which the Panel is not
asked at all (peers.md: brute force against port 2022 is routine).
"""

import asyncio
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
    """An authenticated connection: the Panel user, the server, the permissions, and the
    request that logged it in (asked again now and then: a revoked login ends)."""

    def __init__(self, conn, user, server, permissions, ip, auth_body):
        self.conn = conn
        self.user = user
        self.server = server
        self.permissions = frozenset(permissions)
        self.ip = ip
        self.auth_body = auth_body
        self.sessions = 0
        self.rechecks = None

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
        host, port = (conn.get_extra_info("peername") or ("", 0))[:2]
        self.ip = host
        self.peer = "%s:%d" % (host, port) if ":" not in host else "[%s]:%d" % (host, port)

    def connection_lost(self, exc):
        if self.login is not None:
            self.node.registry.logins.discard(self.login)
            if self.login.rechecks is not None:
                self.login.rechecks.cancel()

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
            # debug only: a brute force would write a line per attempt
            log.debug("SFTP login of %r from %s refused: cooling down after failed logins",
                      username, self.ip)
            return False
        if not USERNAME.match(username):
            node.throttle.failed(self.ip, username, kind == "password")
            return False
        body = self._auth_body(username, kind, secret)
        try:
            answer = await node.ask_panel(body)
        except errors.InvalidCredentials:
            log.warning("SFTP login of %r from %s: invalid credentials", username, self.ip)
            node.throttle.failed(self.ip, username, kind == "password")
            return False
        except errors.PanelError as e:
            log.error("SFTP login of %r from %s: the Panel could not be asked: %s",
                      username, self.ip, e.detail)
            return False
        return await self._bind(username, answer, body)

    def _auth_body(self, username, kind, secret):
        return {"type": kind, "username": username, "password": secret, "ip": self.peer,
                "session_id": "",
                "client_version": base64.b64encode(
                    (self.conn.get_extra_info("client_version") or "").encode()).decode()}

    async def _bind(self, username, answer, body):
        parsed = _login_answer(answer)
        if parsed is None:
            log.error("SFTP login of %r: the Panel answered without server, user and "
                      "permissions", username)
            return False
        uuid, user, permissions = parsed
        server = await self.node.registry.find(uuid)
        if server is None:
            log.warning("SFTP login of %r: server %s is not on this node", username, uuid)
            return False
        limit = self.node.cfg.wingspan.sftp.connections_per_user
        if self.node.registry.logins_of(user) >= limit:
            log.warning("SFTP login of %r refused: %d connections open already", username,
                        limit)
            return False
        self.login = Login(self.conn, user, server, permissions, self.ip, body)
        self.node.registry.logins.add(self.login)
        if self.node.cfg.wingspan.sftp.recheck_interval > 0:
            self.login.rechecks = asyncio.ensure_future(self._recheck_forever(self.login))
        return True

    async def _recheck_forever(self, login):
        """Ask the Panel again every ``recheck_interval``: a login it now refuses (password
        changed, key or user removed, SFTP permission taken away, server suspended) ends;
        new permissions apply at once. A Panel that cannot be reached ends nothing."""
        while True:
            await asyncio.sleep(self.node.cfg.wingspan.sftp.recheck_interval)
            try:
                parsed = _login_answer(await self.node.ask_panel(login.auth_body))
            except errors.InvalidCredentials:
                parsed = None
            except errors.PanelError as e:
                log.warning("could not re-check the SFTP login of %s: %s", login.user,
                            e.detail)
                continue
            if parsed is None or parsed[0] != login.server.uuid or parsed[1] != login.user:
                log.info("closing the SFTP connection of %s to %s: the Panel no longer "
                         "accepts the login", login.user, login.server.uuid)
                login.close()
                return
            login.permissions = frozenset(parsed[2])

    # -- channels -----------------------------------------------------------------------

    def session_requested(self):
        login = self.login
        if login is None or login.sessions >= self.node.cfg.wingspan.sftp.channels_per_connection:
            return False
        login.sessions += 1
        return CountedSession(login, self._sftp_server)

    def _sftp_server(self, chan):
        return self.node.sftp_server(chan, self.login)


class CountedSession(SSHServerStreamSession):
    """A session channel that serves only the ``sftp`` subsystem (shell, exec and pty are
    refused) and gives its slot back when it closes, whatever it was used for."""

    def __init__(self, login, sftp_factory):
        super().__init__(None, sftp_factory, SFTP_VERSION, False)
        self._login = login

    def connection_lost(self, exc):
        self._login.sessions -= 1
        super().connection_lost(exc)


def _login_answer(answer):
    """``(server, user, permissions)`` of the Panel's answer, or None when it lacks one."""
    uuid, user, permissions = answer.get("server"), answer.get("user"), answer.get("permissions")
    if not isinstance(uuid, str) or not isinstance(user, str) \
            or not isinstance(permissions, list):
        return None
    return uuid, user, [p for p in permissions if isinstance(p, str)]
