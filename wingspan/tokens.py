"""Verification of the JWTs the Panel mints for this node (wings-api.md §7, §10.3–10.6;
panel-contract.md §3).

HS256 only, signed with the node token as it is now (the key rotates with /api/update).
``aud``, ``iss`` and ``nbf`` are not checked (the Panel's ``aud`` is a JSON array); ``exp``
is required. Websocket tokens are also checked against the daemon's boot time, the jti
denylist, the ``websocket.connect`` permission and the socket's server, in that order, and
fail with the exact texts the Panel's browser console reacts to.
"""

import time

import jwt

EXP_INVALID = "jwt: exp claim is invalid"
DENYLISTED = "jwt: created too far in past (denylist)"
NO_CONNECT = "jwt: missing connect permission"
UUID_MISMATCH = "jwt: server uuid mismatch"
NO_JWT = "jwt: no jwt present"


class TokenError(Exception):
    """A token was refused. ``jwt_error`` tells the websocket layer to answer with a
    ``jwt error`` event (the texts above) rather than a generic ``daemon error``."""

    def __init__(self, message, jwt_error=True):
        super().__init__(message)
        self.message = message
        self.jwt_error = jwt_error


def decode(raw, key):
    """The claims of an HS256 token signed with ``key``; raises TokenError."""
    if not raw:
        raise TokenError(NO_JWT)
    try:
        return jwt.decode(raw, key, algorithms=["HS256"], leeway=300,
                          options={"verify_aud": False, "verify_iss": False,
                                   "verify_iat": False, "require": ["exp"]})
    except jwt.ExpiredSignatureError as e:
        raise TokenError(EXP_INVALID) from e
    except jwt.PyJWTError as e:
        raise TokenError("invalid token: %s" % e, jwt_error=False) from e


class Denylist:
    """Tokens issued before boot, or before their jti was denied, are refused (§10.6)."""

    def __init__(self, boot_time):
        self.boot_time = boot_time
        self.denied = {}

    def deny(self, jtis, at=None):
        at = time.time() if at is None else at
        for jti in jtis:
            self.denied[jti] = at

    def is_denied(self, jti, iat):
        if not isinstance(iat, (int, float)) or isinstance(iat, bool):
            return True
        # iat has whole seconds and these instants do not: a token from the very second
        # of boot or denial is refused too, as in Wings
        if iat < self.boot_time:
            return True
        denied_at = self.denied.get(jti)
        return denied_at is not None and iat < denied_at


class WebsocketToken:
    def __init__(self, claims):
        self.claims = claims
        self.server_uuid = claims.get("server_uuid")
        self.user_uuid = claims.get("user_uuid")
        self.jti = claims.get("jti", "")
        self.iat = claims.get("iat")
        self.exp = claims.get("exp", 0)
        permissions = claims.get("permissions")
        self.permissions = [p for p in permissions if isinstance(p, str)] \
            if isinstance(permissions, list) else []

    @classmethod
    def parse(cls, raw, key):
        return cls(decode(raw, key))

    def has_permission(self, permission):
        """``*`` grants everything except ``admin.*`` permissions."""
        if permission in self.permissions:
            return True
        return "*" in self.permissions and not permission.startswith("admin")

    def check(self, server_uuid, denylist, now=None):
        """The per-message check of §10.4, in Wings' order; raises TokenError."""
        now = time.time() if now is None else now
        if self.exp <= now:
            raise TokenError(EXP_INVALID)
        if denylist.is_denied(self.jti, self.iat):
            raise TokenError(DENYLISTED)
        if not self.has_permission("websocket.connect"):
            raise TokenError(NO_CONNECT)
        if self.server_uuid != server_uuid:
            raise TokenError(UUID_MISMATCH)
