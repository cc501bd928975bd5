"""JWTs minted byte for byte the way the Panel mints them (panel-contract.md §3.1, §3.4), for
unit and integration tests. Not part of the product: the daemon only verifies tokens.

Header ``{"typ":"JWT","alg":"HS256","jti":…}`` (+ ``sub``); payload ``iss``, ``aud`` as a JSON
array, ``jti``, integer ``iat``, ``nbf`` five minutes back, ``exp``, ``sub``, the custom claims
in order, ``user_uuid``/``user_id``, then a 16-character ``unique_id``.

Kinds (panel-contract.md §3.2):
    websocket: identified_by=f"{user_id}{server_uuid}", ttl=600,
               claims=[("server_uuid", u), ("permissions", [...])], user=...
    download:  ttl=900, claims=[("file_path", "/x"), ("server_uuid", u)], user=...
    transfer:  identified_by=server_uuid, algo="sha256", ttl=900, subject=server_uuid
"""

import base64
import hashlib
import hmac
import json
import secrets
import string
import time

PANEL_URL = "https://panel.example.com"
_HMAC_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def panel_jwt(node_token, node_addr, identified_by, *, algo="md5", ttl=600, subject=None,
              claims=(), user=None, panel_url=PANEL_URL, now=None, alg="HS256",
              unique_id=None, omit=()):
    """A compact JWS signed with ``node_token``.

    Args beyond the Panel's own: ``user`` is ``{"uuid": …, "id": …}``; ``claims`` override
    earlier claims in place; ``unique_id`` fixes the random id; ``omit`` names claims to
    leave out. ``alg`` forges the header for negative tests: ``"none"`` has an empty
    signature, ``HS384``/``HS512`` are HMACs of that size with the node token, and any
    other name (``RS256``…) carries an HS256 signature made with the node token.
    """
    now = int(time.time() if now is None else now)
    jti = hashlib.new(algo, identified_by.encode()).hexdigest()
    header = {"typ": "JWT", "alg": alg, "jti": jti}
    if subject:
        header["sub"] = subject
    payload = {"iss": panel_url, "aud": [node_addr], "jti": jti, "iat": now,
               "nbf": now - 300, "exp": now + ttl}
    if subject:
        payload["sub"] = subject
    payload.update(claims)
    if user:
        payload.update(user_uuid=user["uuid"], user_id=user["id"])
    payload["unique_id"] = unique_id if unique_id is not None else _random_id()
    for name in omit:
        payload.pop(name, None)
    signing_input = _encode(header) + "." + _encode(payload)
    return signing_input + "." + _signature(alg, node_token, signing_input)


def _signature(alg, key, signing_input):
    if alg == "none":
        return ""
    digest = _HMAC_DIGESTS.get(alg, hashlib.sha256)
    return _b64(hmac.new(key.encode(), signing_input.encode(), digest).digest())


def _encode(obj):
    return _b64(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _random_id():
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))
