"""Verification of the JWTs the Panel mints for this node (wings-api.md §7, §10.3–10.7, §16;
panel-contract.md §3).

Every kind shares one verification (§7.1): HS256 only, whatever else the header claims;
the signature checked with the node token as it is at the time of the call (the key rotates
with /api/update); ``exp`` required and valid while ``floor(now) <= exp``; ``nbf`` honoured
with a leeway; ``aud`` (a JSON array from the Panel), ``iss`` and a future ``iat`` ignored.

Websocket tokens fail with the exact texts the Panel's browser console reacts to
(:class:`TokenError`); signed-URL and transfer tokens fail with the wire errors of
``wingspan.errors`` (403 for a token that does not verify or was revoked, 404 for a replay).
Both websocket and signed-URL tokens need an ``iat`` no earlier than the daemon's boot or
the denial of their ``jti``, and later than their user's deauthorization (:class:`Denylist`).

A token is good only for the purpose it was minted for (§16, peers.md advisory #14): the
one its ``scope`` claim names, or, from a Panel that sends no ``scope``, the one its shape
shows (:func:`purposes`).
"""

import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass

import jwt

from wingspan import errors

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
# The Panel already back-dates nbf by five minutes; this much more absorbs a Panel clock
# running ahead of ours before a token is refused as not yet valid.
NBF_LEEWAY = 300
CONNECT = "websocket.connect"
WILDCARD = "*"
ONE_TIME_TTL = 3600
ALL_SERVERS = "*"
# A deauthorization outlives every token it refuses: the Panel's live 15 minutes at most,
# ``wingspan token``'s an hour unless told otherwise.
DEAUTHORIZATION_RETENTION = 24 * 3600
MAX_DEAUTHORIZATIONS = 10000
SWEEP_INTERVAL = 300

# The five websocket texts (§10.3, §10.4); the browser refreshes its token silently on the
# first two only (panel-contract.md §3.3).
EXP_INVALID = "jwt: exp claim is invalid"
DENYLISTED = "jwt: created too far in past (denylist)"
NO_CONNECT = "jwt: missing connect permission"
UUID_MISMATCH = "jwt: server uuid mismatch"
NO_JWT = "jwt: no jwt present"

# Texts that only reach logs, or admins holding admin.websocket.errors (§10.7).
EMPTY_KEY = "jwt: HMAC key is empty"
MALFORMED = "jwt: malformed token"
BAD_SIGNATURE = "jwt: HMAC verification failed"
BAD_ALGORITHM = "jwt: algorithm is not HS256"
NBF_INVALID = "jwt: nbf claim is invalid"

# The purposes of §16, as the ``scope`` claim spells them.
WEBSOCKET = "websocket"
FILE_UPLOAD = "file-upload"
FILE_DOWNLOAD = "file-download"
BACKUP_DOWNLOAD = "backup-download"
TRANSFER = "transfer"
# Without ``scope``, the claim only the Panel's token of one purpose carries
# (panel-contract.md §3.2); a token with none of them is an upload token.
_PURPOSE_MARKS = {"sub": TRANSFER, "permissions": WEBSOCKET, "file_path": FILE_DOWNLOAD,
                  "backup_uuid": BACKUP_DOWNLOAD}

_DECODE_OPTIONS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                   "verify_aud": False, "verify_iss": False}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class TokenError(Exception):
    """A websocket token was refused with one of the five texts above; the socket answers
    with a ``jwt error`` event carrying ``message``."""

    jwt_error = True

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class UnverifiableToken(TokenError):
    """Malformed, wrongly signed or not HS256: answered as a generic ``daemon error``, not
    as a ``jwt error`` (§10.3)."""

    jwt_error = False


# -- the checks every kind shares ------------------------------------------------------

def verify(raw, key, now=None):
    """The claims of a Panel token signed with ``key`` (§7.1); raises TokenError."""
    if not key:
        raise UnverifiableToken(EMPTY_KEY)
    if not isinstance(raw, str) or not raw:
        raise UnverifiableToken(MALFORMED)
    try:
        claims = jwt.decode(raw, key, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.InvalidSignatureError as e:
        raise UnverifiableToken(BAD_SIGNATURE) from e
    except jwt.InvalidAlgorithmError as e:
        raise UnverifiableToken(BAD_ALGORITHM) from e
    except jwt.PyJWTError as e:
        raise UnverifiableToken(MALFORMED) from e
    now = time.time() if now is None else now
    _check_expiry(_number_claim(claims, "exp"), now)
    nbf = _number_claim(claims, "nbf")
    if nbf is not None and nbf > now + NBF_LEEWAY:
        raise UnverifiableToken(NBF_INVALID)
    return claims


def purposes(claims):
    """The purposes a verified token was minted for (§16).

    ``scope`` decides when present (space-separated, as Wings splits it). Without it the
    shape does: the one purpose whose mark the token carries, upload when it carries none,
    and none at all when it carries the marks of two (a websocket token that also names a
    ``file_path`` is neither a websocket nor a download token).
    """
    scope = claims.get("scope")
    if scope is not None:
        if not isinstance(scope, str):
            raise UnverifiableToken(MALFORMED)
        return frozenset(scope.split(" ")) - {""}
    marked = {purpose for claim, purpose in _PURPOSE_MARKS.items() if claim in claims}
    if not marked:
        return frozenset((FILE_UPLOAD,))
    return frozenset(marked) if len(marked) == 1 else frozenset()


def _check_expiry(exp, now):
    # exp counts in whole seconds: a token is still good during its exp second
    if exp is None or math.floor(now) > exp:
        raise TokenError(EXP_INVALID)


def _number_claim(claims, name):
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnverifiableToken(MALFORMED)
    # NaN and Infinity are not JSON (Go refuses them), yet Python's decoder reads them, and
    # every comparison with NaN is false: an exp of NaN would never expire. (An int is
    # finite however large; isfinite would overflow converting it.)
    if isinstance(value, float) and not math.isfinite(value):
        raise UnverifiableToken(MALFORMED)
    return value


def _string_claim(claims, name):
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise UnverifiableToken(MALFORMED)
    return value


class Denylist:
    """Revoked websocket and signed-URL tokens (§10.6, §16).

    A token is refused when its ``iat`` is missing, earlier than the daemon's boot, earlier
    than the moment its ``jti`` was denied (``ws/deny``, for the life of the process), or
    at or before the moment its user was deauthorized for its server or for every server
    (``deauthorize-user``). ``iat`` has whole seconds and those instants do not, so a token
    issued in the very second of boot or of a denial is refused too, as in Wings.

    Deauthorizations are written to ``path`` (when given) before :meth:`deauthorize`
    returns and read back at start: the boot rule alone would forget them should the clock
    step back across a restart (a host booting before its clock is set). Each is kept
    :data:`DEAUTHORIZATION_RETENTION` seconds, at most :data:`MAX_DEAUTHORIZATIONS` of them.
    """

    def __init__(self, boot_time, path=None, clock=time.time):
        self.boot_time = boot_time
        self.path = path
        self._clock = clock
        self._denied_at = {}
        self._deauthorized = {}  # (user uuid, server uuid or ALL_SERVERS) -> instant
        if path:
            self._load()

    def deny(self, jtis, at=None):
        """Revoke every token with one of ``jtis`` issued before ``at`` (default: now)."""
        at = self._clock() if at is None else at
        for jti in jtis:
            self._denied_at[jti] = at

    def deauthorize(self, user_uuid, server_uuids=(), at=None):
        """Revoke every token of ``user_uuid`` for ``server_uuids`` (every server when
        empty) issued at or before ``at`` (default: now), and save the lot.

        Raises:
            OSError: the file could not be written (the revocation holds until restart).
        """
        at = self._clock() if at is None else at
        for server in server_uuids or (ALL_SERVERS,):
            key = (user_uuid.lower(), server.lower())
            self._deauthorized[key] = max(at, self._deauthorized.get(key, at))
        self._forget_expired(self._clock())
        if self.path:
            self._save()

    def is_denied(self, jti, iat, server_uuid="", user_uuid=""):
        if iat is None or iat < self.boot_time:
            return True
        denied_at = self._denied_at.get(jti)
        if denied_at is not None and iat < denied_at:
            return True
        user = user_uuid.lower()
        for server in (server_uuid.lower(), ALL_SERVERS):
            deauthorized_at = self._deauthorized.get((user, server))
            if deauthorized_at is not None and iat <= deauthorized_at:
                return True
        return False

    def _forget_expired(self, now):
        kept = sorted(((at, key) for key, at in self._deauthorized.items()
                       if at > now - DEAUTHORIZATION_RETENTION), reverse=True)
        if len(kept) > MAX_DEAUTHORIZATIONS:
            log.warning("more than %d user deauthorizations in %ds: forgetting the %d oldest",
                        MAX_DEAUTHORIZATIONS, DEAUTHORIZATION_RETENTION,
                        len(kept) - MAX_DEAUTHORIZATIONS)
            del kept[MAX_DEAUTHORIZATIONS:]
        self._deauthorized = {key: at for at, key in kept}

    def _load(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.error("ignoring unreadable %s: %s", self.path, e)
            return
        for entry in saved if isinstance(saved, list) else ():
            if _is_deauthorization(entry):
                user, server, at = entry
                self._deauthorized[(user, server)] = at
        self._forget_expired(self._clock())

    def _save(self):
        entries = [[user, server, at] for (user, server), at in self._deauthorized.items()]
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(entries, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        directory = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def is_uuid(text):
    """Whether ``text`` is a UUID in its canonical 8-4-4-4-12 hex form."""
    return isinstance(text, str) and _UUID.fullmatch(text) is not None


def _is_deauthorization(entry):
    return (isinstance(entry, list) and len(entry) == 3
            and all(isinstance(part, str) for part in entry[:2])
            and isinstance(entry[2], (int, float)) and not isinstance(entry[2], bool)
            and math.isfinite(entry[2]))


# -- websocket tokens --------------------------------------------------------------------

class WebsocketToken:
    """A verified websocket token (§10.6); reusable until it expires or is revoked."""

    def __init__(self, claims):
        self.server_uuid = _string_claim(claims, "server_uuid")
        self.user_uuid = _string_claim(claims, "user_uuid")
        self.jti = _string_claim(claims, "jti")
        self.iat = _number_claim(claims, "iat")
        self.exp = _number_claim(claims, "exp")
        self.permissions = _permissions(claims.get("permissions"))
        self.purposes = purposes(claims)

    @classmethod
    def parse(cls, raw, key, now=None):
        """The token of an ``auth`` message; raises TokenError."""
        return cls(verify(raw, key, now))

    def has_permission(self, permission):
        """``*`` grants every permission except those starting with ``admin``."""
        if permission in self.permissions:
            return True
        return WILDCARD in self.permissions and not permission.startswith("admin")

    def check(self, server_uuid, denylist, now=None):
        """The per-message check of §10.4, in Wings' order; raises TokenError."""
        _check_expiry(self.exp, time.time() if now is None else now)
        if denylist.is_denied(self.jti, self.iat, self.server_uuid, self.user_uuid):
            raise TokenError(DENYLISTED)
        # Wings answers a token minted for another purpose as one without the permission
        if not self.has_permission(CONNECT) or WEBSOCKET not in self.purposes:
            raise TokenError(NO_CONNECT)
        if self.server_uuid != server_uuid:
            raise TokenError(UUID_MISMATCH)


def check_websocket(token, server_uuid, denylist, now=None):
    """§10.4 for a connection whose token may not have arrived yet (``None``)."""
    if token is None:
        raise TokenError(NO_JWT)
    token.check(server_uuid, denylist, now)


def _permissions(value):
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise UnverifiableToken(MALFORMED)
    return tuple(value)


# -- signed URLs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DownloadToken:
    """``GET /download/file`` (§7.4)."""

    server_uuid: str
    user_uuid: str
    unique_id: str
    file_path: str


@dataclass(frozen=True)
class UploadToken:
    """``POST /upload/file`` (§7.6)."""

    server_uuid: str
    user_uuid: str
    unique_id: str


@dataclass(frozen=True)
class BackupToken:
    """``GET /download/backup`` (§7.5); ``backup_uuid`` is a UUID, safe to join into a path."""

    server_uuid: str
    user_uuid: str
    unique_id: str
    backup_uuid: str


def parse_download_token(raw, key, denylist, now=None):
    claims, fields = _signed_url_claims(raw, key, denylist, now, FILE_DOWNLOAD)
    return DownloadToken(file_path=_required(claims, "file_path"), **fields)


def parse_upload_token(raw, key, denylist, now=None):
    return UploadToken(**_signed_url_claims(raw, key, denylist, now, FILE_UPLOAD)[1])


def parse_backup_token(raw, key, denylist, now=None):
    claims, fields = _signed_url_claims(raw, key, denylist, now, BACKUP_DOWNLOAD)
    backup_uuid = _required(claims, "backup_uuid")
    if not _UUID.fullmatch(backup_uuid):
        raise errors.InvalidToken(detail="backup_uuid %r is not a UUID" % backup_uuid)
    return BackupToken(backup_uuid=backup_uuid, **fields)


def _signed_url_claims(raw, key, denylist, now, purpose):
    """``(claims, fields)`` of a signed URL minted for ``purpose``, naming its server and
    user, issued after boot and after any denial of its jti or its user (§16); raises
    InvalidToken, or TokenResourceNotFound (§16: 404) for a token minted for another
    purpose, whose one-time id stays unspent."""
    claims = _verified_or_invalid(raw, key, now)
    _check_purpose(claims, purpose, errors.TokenResourceNotFound)
    fields = _signed_url_fields(claims)
    iat = _claim_or_invalid(_number_claim, claims, "iat")
    jti = _claim_or_invalid(_string_claim, claims, "jti")
    if denylist.is_denied(jti, iat, fields["server_uuid"], fields["user_uuid"]):
        raise errors.InvalidToken(detail="signed URL token issued before boot or revoked")
    return claims, fields


def _check_purpose(claims, purpose, error):
    try:
        minted_for = purposes(claims)
    except TokenError as e:
        raise errors.InvalidToken(detail="scope: %s" % e.message) from e
    if purpose not in minted_for:
        raise error(detail="token was not minted for %s" % purpose)


def _signed_url_fields(claims):
    return {"server_uuid": _required(claims, "server_uuid"),
            "user_uuid": _required(claims, "user_uuid"),
            "unique_id": _claim_or_invalid(_string_claim, claims, "unique_id")}


def _required(claims, name):
    value = _claim_or_invalid(_string_claim, claims, name)
    if not value:
        raise errors.InvalidToken(detail="token has no %s" % name)
    return value


def _claim_or_invalid(read, claims, name):
    try:
        return read(claims, name)
    except TokenError as e:
        raise errors.InvalidToken(detail="%s: %s" % (name, e.message)) from e


def _verified_or_invalid(raw, key, now):
    try:
        return verify(raw, key, now)
    except TokenError as e:
        raise errors.InvalidToken(detail=e.message) from e


class OneTimeStore:
    """The ``unique_id`` of every signed URL used in the last ``ttl`` seconds (§7.3), shared
    by the three one-time kinds. Lost on restart; tokens from before boot are refused by
    the denylist instead."""

    def __init__(self, ttl=ONE_TIME_TTL, clock=time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._used_at = {}
        self._swept_at = None

    def claim(self, unique_id, now=None):
        """Record the first use of ``unique_id``; raises TokenResourceNotFound on a replay.

        Call it only once the token's server is known to exist here, and before opening
        the file, so that a token for another node is not consumed and a token for a
        missing file is."""
        now = self._clock() if now is None else now
        self._sweep(now)
        used_at = self._used_at.get(unique_id)
        if used_at is not None and now - used_at < self.ttl:
            raise errors.TokenResourceNotFound(detail="signed URL %r already used" % unique_id)
        self._used_at[unique_id] = now

    def _sweep(self, now):
        if self._swept_at is not None and now - self._swept_at < SWEEP_INTERVAL:
            return
        self._swept_at = now
        expired = [u for u, used_at in self._used_at.items() if now - used_at >= self.ttl]
        for unique_id in expired:
            del self._used_at[unique_id]
        if expired:
            log.debug("forgot %d used signed URL ids", len(expired))


# -- transfers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TransferToken:
    """``POST /api/transfers`` on the destination node (§9.3): ``sub`` names the server."""

    server_uuid: str


def parse_transfer_token(raw, key, now=None):
    """Signed with this (target) node's token; not one-time and not bound to boot, so a
    restart of this node does not break a transfer in flight. Raises InvalidToken."""
    claims = _verified_or_invalid(raw, key, now)
    _check_purpose(claims, TRANSFER, errors.InvalidToken)
    subject = _claim_or_invalid(_string_claim, claims, "sub")
    if not _UUID.fullmatch(subject):
        raise errors.InvalidToken(detail="transfer token subject %r is not a UUID" % subject)
    return TransferToken(server_uuid=subject)
