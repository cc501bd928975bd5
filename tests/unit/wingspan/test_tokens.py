"""Verification of Panel-minted JWTs (wings-api.md §7.1–7.3, §10.3–10.7, §16;
panel-contract.md §3)."""

import base64
import json
import os
import uuid as uuidlib

import pytest

from tests.support.panel_jwt import panel_jwt
from wingspan import errors, tokens

KEY = "4rV0c1ZQk8nT2xW5bL7mP9sD3fG6hJ1kL2zX4cV6bN8mQ0wE2rT4yU6iO8pA0sD2f"
OTHER_KEY = "Zz" * 32
NODE = "https://node1.example.com:8080"
SERVER = "d3aac109-e5a0-4331-b03e-3454f7e136dc"
OTHER_SERVER = "0b9c1f3e-2d4a-4f5b-8c6d-7e8f9a0b1c2d"
BACKUP = "6f1d2c3b-4a59-4e8f-9d0c-1b2a3c4d5e6f"
USER = {"uuid": "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11", "id": 1}
T = 1_730_000_000          # a whole second: the iat of tokens minted "now"
BOOT = T - 3600.25         # the daemon started an hour earlier
ADMIN = ["*", "admin.websocket.errors", "admin.websocket.install", "admin.websocket.transfer"]


def ws_token(permissions=("*",), server=SERVER, key=KEY, claims=(), **kwargs):
    """A websocket token as WebsocketController mints it (panel-contract.md §3.2);
    ``claims`` override the Panel's."""
    kwargs.setdefault("now", T)
    base = [("server_uuid", server), ("permissions", list(permissions))]
    return panel_jwt(key, NODE, "1" + server, user=USER, claims=base + list(claims), **kwargs)


def file_token(claims=(), key=KEY, **kwargs):
    kwargs.setdefault("now", T)
    kwargs.setdefault("ttl", 900)
    base = [("file_path", "/world/level.dat"), ("server_uuid", SERVER)]
    return panel_jwt(key, NODE, "1" + SERVER, user=USER, claims=base + list(claims), **kwargs)


def backup_token(backup_uuid=BACKUP, **kwargs):
    kwargs.setdefault("now", T)
    return panel_jwt(KEY, NODE, "1" + SERVER, ttl=900, user=USER, unique_id="b1",
                     claims=[("backup_uuid", backup_uuid), ("server_uuid", SERVER)], **kwargs)


def segment(raw, index):
    part = raw.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def denylist():
    return tokens.Denylist(BOOT, clock=lambda: T + 1)


def parse_ws(raw, key=KEY, now=T + 1):
    return tokens.WebsocketToken.parse(raw, key, now=now)


def refusal(raw, key=KEY, now=T + 1):
    with pytest.raises(tokens.TokenError) as caught:
        parse_ws(raw, key, now)
    return caught.value


# -- the common rules (§7.1, panel-contract §3.1, §3.3) ----------------------------------

def test_panel_shaped_websocket_token_is_accepted(denylist):
    raw = ws_token(ADMIN)
    assert segment(raw, 0) == {"typ": "JWT", "alg": "HS256",
                               "jti": segment(raw, 1)["jti"]}
    assert segment(raw, 1)["aud"] == [NODE]  # a JSON array, PyJWT's first trap
    token = parse_ws(raw)
    token.check(SERVER, denylist, now=T + 1)
    assert token.server_uuid == SERVER
    assert token.user_uuid == USER["uuid"]
    assert token.jti == segment(raw, 1)["jti"]
    assert (token.iat, token.exp) == (T, T + 600)
    assert token.permissions == tuple(ADMIN)


def test_wrong_key_is_not_a_jwt_class_error():
    """§10.3: a bad signature is answered with a generic daemon error."""
    error = refusal(ws_token(key=OTHER_KEY))
    assert error.jwt_error is False
    assert error.message == tokens.BAD_SIGNATURE


def test_the_key_is_taken_per_call_so_rotation_applies_at_once():
    raw = ws_token(key=OTHER_KEY)
    assert parse_ws(raw, key=OTHER_KEY).server_uuid == SERVER
    assert refusal(raw, key=KEY).jwt_error is False


def test_an_empty_node_token_verifies_nothing():
    """§7.1: "jwt: HMAC key is empty", even for a token signed with the empty key."""
    error = refusal(ws_token(key=""), key="")
    assert (error.jwt_error, error.message) == (False, "jwt: HMAC key is empty")


@pytest.mark.parametrize("alg", ["none", "HS512", "HS384", "RS256", "ES256"])
def test_only_hs256_is_accepted_even_when_signed_with_the_node_token(alg):
    """§7.1 [REC]: require alg == HS256 (HEAD let an HS512 header through)."""
    raw = ws_token(alg=alg)
    assert segment(raw, 0)["alg"] == alg
    error = refusal(raw)
    assert error.jwt_error is False
    assert error.message == tokens.BAD_ALGORITHM


@pytest.mark.parametrize("raw", ["", "not a token", "a.b.c", None])
def test_malformed_or_absent_auth_arguments_are_not_jwt_class(raw):
    """§10.3: "bad signature, malformed token, empty args" → daemon error."""
    assert refusal(raw).jwt_error is False


def test_expired_token_is_a_jwt_error_with_the_refresh_text():
    raw = ws_token(ttl=600)
    error = refusal(raw, now=T + 601)
    assert (error.jwt_error, error.message) == (True, "jwt: exp claim is invalid")


def test_a_token_is_still_valid_during_its_exp_second(denylist):
    """§7.1: valid while floor(now) <= exp."""
    token = parse_ws(ws_token(ttl=600), now=T + 600.9)
    token.check(SERVER, denylist, now=T + 600.9)
    with pytest.raises(tokens.TokenError, match="^jwt: exp claim is invalid$"):
        token.check(SERVER, denylist, now=T + 601)


def test_exp_is_required():
    error = refusal(ws_token(omit=("exp",)))
    assert error.message == "jwt: exp claim is invalid"


def test_nbf_in_the_future_beyond_the_leeway_is_refused():
    beyond = ws_token(claims=[("nbf", T + tokens.NBF_LEEWAY + 5)])
    error = refusal(beyond, now=T)
    assert (error.jwt_error, error.message) == (False, tokens.NBF_INVALID)
    within = ws_token(claims=[("nbf", T + tokens.NBF_LEEWAY - 5)])
    assert parse_ws(within, now=T).server_uuid == SERVER


def test_iat_in_the_future_is_tolerated(denylist):
    """panel-contract §3.3: a Panel clock ahead of ours must not break tokens."""
    token = parse_ws(ws_token(now=T + 120), now=T)
    token.check(SERVER, denylist, now=T)


def test_aud_and_iss_are_not_checked(denylist):
    raw = ws_token(panel_url="https://elsewhere.example", claims=[("aud", ["x"])])
    parse_ws(raw).check(SERVER, denylist, now=T + 1)


def test_claims_of_the_wrong_type_are_malformed():
    raw = panel_jwt(KEY, NODE, "x", now=T, claims=[("server_uuid", SERVER),
                                                   ("permissions", "websocket.connect")])
    assert refusal(raw).jwt_error is False
    raw = ws_token(claims=[("iat", "yesterday")])
    assert refusal(raw).jwt_error is False


# -- the websocket denylist (§10.6, panel-contract §3.3) ------------------------------------

def test_missing_iat_is_denylisted(denylist):
    token = parse_ws(ws_token(omit=("iat",)))
    with pytest.raises(tokens.TokenError) as caught:
        token.check(SERVER, denylist, now=T + 1)
    assert (caught.value.jwt_error, caught.value.message) == (
        True, "jwt: created too far in past (denylist)")


def test_tokens_issued_before_boot_are_denylisted():
    denylist = tokens.Denylist(T + 10.5)
    token = parse_ws(ws_token(now=T))
    with pytest.raises(tokens.TokenError, match=r"^jwt: created too far in past \(denylist\)$"):
        token.check(SERVER, denylist, now=T + 11)


def test_a_token_from_the_boot_second_is_denylisted_and_the_next_second_is_not():
    denylist = tokens.Denylist(T + 0.4)
    assert denylist.is_denied("j", T)
    assert not denylist.is_denied("j", T + 1)


def test_denying_a_jti_revokes_its_earlier_tokens_only(denylist):
    """§10.6: denied at T+0.3 → iat T (same second) denied, iat T+1 fine."""
    same_second = parse_ws(ws_token(now=T))
    later = parse_ws(ws_token(now=T + 1), now=T + 2)
    other_user = parse_ws(panel_jwt(KEY, NODE, "2" + SERVER, now=T, claims=[
        ("server_uuid", SERVER), ("permissions", ["*"])]))
    denylist.deny([same_second.jti], at=T + 0.3)
    with pytest.raises(tokens.TokenError, match=r"\(denylist\)$"):
        same_second.check(SERVER, denylist, now=T + 2)
    later.check(SERVER, denylist, now=T + 2)
    other_user.check(SERVER, denylist, now=T + 2)


def test_deny_defaults_to_now(denylist):
    denylist.deny(["j"])
    assert denylist.is_denied("j", T)
    assert not denylist.is_denied("k", T)


# -- user deauthorization (§16 deauthorize-user, peers.md advisories #9, #12) ---------------

ALICE = "9a1f0c2e-5b7d-4e3a-8c6f-1d2e3f4a5b6c"
BOB = "2c3d4e5f-6a7b-4c8d-9e0f-a1b2c3d4e5f6"
AT = T + 0.5  # the deauthorization: in the second of T, as a request's time is


def test_deauthorizing_refuses_the_users_tokens_for_the_server_issued_at_or_before(denylist):
    denylist.deauthorize(ALICE, [SERVER], at=AT)
    assert denylist.is_denied("j", T, SERVER, ALICE)
    assert denylist.is_denied("j", T - 60, SERVER, ALICE)
    assert not denylist.is_denied("j", T + 1, SERVER, ALICE)
    assert not denylist.is_denied("j", T, OTHER_SERVER, ALICE)
    assert not denylist.is_denied("j", T, SERVER, BOB)
    assert not denylist.is_denied("j", T, SERVER, "")


def test_no_servers_deauthorizes_the_user_everywhere(denylist):
    denylist.deauthorize(ALICE, [], at=AT)
    for server in (SERVER, OTHER_SERVER, str(uuidlib.uuid4())):
        assert denylist.is_denied("j", T, server, ALICE)
        assert not denylist.is_denied("j", T + 1, server, ALICE)
    assert not denylist.is_denied("j", T, SERVER, BOB)


def test_deauthorization_ignores_case(denylist):
    """The Panel writes UUIDs in lower case; a token in upper case is the same user."""
    denylist.deauthorize(ALICE.upper(), [SERVER.upper()], at=AT)
    assert denylist.is_denied("j", T, SERVER, ALICE)
    assert denylist.is_denied("j", T, SERVER.upper(), ALICE.upper())


def test_a_later_deauthorization_moves_the_instant_an_earlier_one_does_not(denylist):
    denylist.deauthorize(ALICE, [SERVER], at=AT + 10)
    denylist.deauthorize(ALICE, [SERVER], at=AT)
    assert denylist.is_denied("j", T + 10, SERVER, ALICE)


def test_deauthorization_revokes_every_kind_of_token(denylist):
    """§16: websocket tokens and file, upload and backup tokens alike."""
    denylist.deauthorize(USER["uuid"], [SERVER], at=AT)
    with pytest.raises(tokens.TokenError) as caught:
        parse_ws(ws_token()).check(SERVER, denylist, now=T + 1)
    assert caught.value.message == "jwt: created too far in past (denylist)"
    upload = panel_jwt(KEY, NODE, "1" + SERVER, ttl=900, now=T, user=USER,
                       claims=[("server_uuid", SERVER)])
    for parse, raw in ((tokens.parse_download_token, file_token()),
                       (tokens.parse_upload_token, upload),
                       (tokens.parse_backup_token, backup_token())):
        with pytest.raises(errors.InvalidToken):
            parse(raw, KEY, denylist, now=T + 1)
        parse(panel_jwt(KEY, NODE, "1" + SERVER, ttl=900, now=T + 1, user=USER,
                        claims=segment_claims(raw)), KEY, denylist, now=T + 2)
    parse_ws(ws_token(now=T + 1)).check(SERVER, denylist, now=T + 2)


def segment_claims(raw):
    payload = segment(raw, 1)
    return [(name, payload[name]) for name in ("file_path", "backup_uuid", "server_uuid")
            if name in payload]


def test_deauthorizations_are_saved_and_read_back(tmp_path):
    path = str(tmp_path / "deauthorized.json")
    clock = lambda: AT  # noqa: E731
    tokens.Denylist(BOOT, path, clock=clock).deauthorize(ALICE, [SERVER, OTHER_SERVER])
    tokens.Denylist(BOOT, path, clock=clock).deauthorize(BOB, [])
    assert os.stat(path).st_mode & 0o777 == 0o600
    restarted = tokens.Denylist(T + 0.9, path, clock=lambda: T + 60)
    # the clock stepped back across the restart: the boot rule no longer covers T
    restarted.boot_time = T - 100
    for server, user in ((SERVER, ALICE), (OTHER_SERVER, ALICE), (SERVER, BOB)):
        assert restarted.is_denied("j", T, server, user)
        assert not restarted.is_denied("j", T + 1, server, user)
    assert not tokens.Denylist(T - 100, path, clock=lambda: T).is_denied("j", T, BACKUP, ALICE)


def test_deauthorizations_expire_after_every_token_they_refuse(tmp_path):
    path = str(tmp_path / "deauthorized.json")
    now = [AT]
    denylist = tokens.Denylist(BOOT, path, clock=lambda: now[0])
    denylist.deauthorize(ALICE, [SERVER])
    now[0] = AT + tokens.DEAUTHORIZATION_RETENTION + 1
    denylist.deauthorize(BOB, [SERVER])
    with open(path) as f:
        assert json.load(f) == [[BOB, SERVER, now[0]]]
    assert tokens.Denylist(T - 100, path, clock=lambda: now[0]).is_denied(
        "j", T, SERVER, ALICE) is False
    later = now[0] + tokens.DEAUTHORIZATION_RETENTION
    assert tokens.Denylist(T - 100, path, clock=lambda: later - 1).is_denied(
        "j", T, SERVER, BOB)
    assert not tokens.Denylist(T - 100, path, clock=lambda: later).is_denied(
        "j", T, SERVER, BOB)


def test_deauthorizations_are_bounded_oldest_forgotten_first(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tokens, "MAX_DEAUTHORIZATIONS", 3)
    path = str(tmp_path / "deauthorized.json")
    denylist = tokens.Denylist(BOOT, path, clock=lambda: AT + 10)
    users = [str(uuidlib.uuid4()) for _ in range(5)]
    for i, user in enumerate(users):
        denylist.deauthorize(user, [SERVER], at=AT + i)
    with open(path) as f:
        assert sorted(user for user, _, _ in json.load(f)) == sorted(users[2:])
    assert "forgetting the 1 oldest" in caplog.text


@pytest.mark.parametrize("content", ["", "{", "null", '{"a": 1}', "[1]"])
def test_an_unreadable_file_is_ignored(tmp_path, content):
    path = tmp_path / "deauthorized.json"
    path.write_text(content)
    assert not tokens.Denylist(BOOT, str(path), clock=lambda: AT).is_denied("j", T, SERVER,
                                                                           ALICE)


@pytest.mark.parametrize("entry", ['["a", "b"]', '["a", "b", "x"]', '["a", "b", NaN]',
                                   '[1, "b", 3]', '["a", "b", true]', '{"a": 1}'])
def test_a_broken_entry_is_skipped_the_others_kept(tmp_path, entry):
    path = tmp_path / "deauthorized.json"
    path.write_text('[%s, ["%s", "%s", %r]]' % (entry, ALICE, SERVER, AT))
    assert tokens.Denylist(BOOT, str(path), clock=lambda: AT).is_denied("j", T, SERVER, ALICE)


def test_an_unwritable_file_raises_after_the_revocation_holds(tmp_path):
    denylist = tokens.Denylist(BOOT, str(tmp_path / "missing" / "deauthorized.json"),
                               clock=lambda: AT)
    with pytest.raises(OSError):
        denylist.deauthorize(ALICE, [SERVER])
    assert denylist.is_denied("j", T, SERVER, ALICE)


def test_is_uuid():
    assert tokens.is_uuid(SERVER) and tokens.is_uuid(SERVER.upper())
    for text in ("", "*", SERVER + "0", "{%s}" % SERVER, SERVER.replace("-", ""), None, 5,
                 SERVER + "\n"):
        assert not tokens.is_uuid(text)


# -- permissions and the per-message check (§10.4, §10.6) ----------------------------------

@pytest.mark.parametrize("permissions, permission, expected", [
    (["*"], "websocket.connect", True),
    (["*"], "control.console", True),
    (["*"], "control.start", True),
    (["*"], "backup.read", True),
    (["*"], "admin.websocket.errors", False),
    (["*"], "admin.websocket.install", False),
    (["*"], "admin.websocket.transfer", False),
    (ADMIN, "admin.websocket.install", True),
    (ADMIN, "admin.websocket.transfer", True),
    (ADMIN, "control.stop", True),
    (["websocket.connect", "control.console"], "control.console", True),
    (["websocket.connect", "control.console"], "control.start", False),
    (["websocket.connect", "admin.websocket.errors"], "admin.websocket.errors", True),
    ([], "websocket.connect", False),
])
def test_permission_matrix(permissions, permission, expected):
    assert parse_ws(ws_token(permissions)).has_permission(permission) is expected


def test_missing_connect_permission(denylist):
    token = parse_ws(ws_token(["control.console"]))
    with pytest.raises(tokens.TokenError, match="^jwt: missing connect permission$"):
        token.check(SERVER, denylist, now=T + 1)


def test_server_uuid_mismatch(denylist):
    token = parse_ws(ws_token(server=OTHER_SERVER))
    with pytest.raises(tokens.TokenError) as caught:
        token.check(SERVER, denylist, now=T + 1)
    assert (caught.value.jwt_error, caught.value.message) == (True, "jwt: server uuid mismatch")


def test_check_order_is_exp_denylist_permission_server():
    """§10.4: when several checks fail, the first in Wings' order is reported."""
    late_boot = tokens.Denylist(T + 5.5)
    everything_wrong = parse_ws(ws_token(["control.console"], server=OTHER_SERVER, ttl=10))
    messages = []
    for denylist, now in [(late_boot, T + 11), (late_boot, T + 6), (tokens.Denylist(BOOT), T + 6)]:
        with pytest.raises(tokens.TokenError) as caught:
            everything_wrong.check(SERVER, denylist, now=now)
        messages.append(caught.value.message)
    assert messages == ["jwt: exp claim is invalid", "jwt: created too far in past (denylist)",
                        "jwt: missing connect permission"]


def test_no_token_yet(denylist):
    with pytest.raises(tokens.TokenError) as caught:
        tokens.check_websocket(None, SERVER, denylist)
    assert (caught.value.jwt_error, caught.value.message) == (True, "jwt: no jwt present")
    tokens.check_websocket(parse_ws(ws_token()), SERVER, denylist, now=T + 1)


# -- signed URLs (§7.2–7.6, §16) ------------------------------------------------------------

def test_download_token_fields(denylist):
    token = tokens.parse_download_token(file_token(unique_id="d1"), KEY, denylist, now=T + 1)
    assert token == tokens.DownloadToken(server_uuid=SERVER, user_uuid=USER["uuid"],
                                         unique_id="d1", file_path="/world/level.dat")


def test_upload_token_fields(denylist):
    raw = panel_jwt(KEY, NODE, "1" + SERVER, ttl=900, now=T, user=USER, unique_id="a1",
                    claims=[("server_uuid", SERVER)])
    token = tokens.parse_upload_token(raw, KEY, denylist, now=T + 1)
    assert token == tokens.UploadToken(server_uuid=SERVER, user_uuid=USER["uuid"],
                                       unique_id="a1")


def test_backup_token_fields(denylist):
    token = tokens.parse_backup_token(backup_token(), KEY, denylist, now=T + 1)
    assert (token.server_uuid, token.backup_uuid, token.unique_id) == (SERVER, BACKUP, "b1")


@pytest.mark.parametrize("backup_uuid", ["../../../etc/passwd", "", "{%s}" % BACKUP,
                                         BACKUP + "/x", BACKUP + "\n"])
def test_backup_uuid_must_be_a_uuid(denylist, backup_uuid):
    """§7.5 [REQ], §16: never a path out of the backup directory."""
    with pytest.raises(errors.InvalidToken):
        tokens.parse_backup_token(backup_token(backup_uuid), KEY, denylist, now=T + 1)


@pytest.mark.parametrize("case", [
    {"key": OTHER_KEY},
    {"alg": "HS512"},
    {"alg": "none"},
    {"ttl": -1},
    {"omit": ("exp",)},
    {"omit": ("iat",)},
    {"omit": ("user_uuid", "user_id"), "user": None},
    {"scope": "file-download", "omit": ("file_path",)},
    {"omit": ("server_uuid",)},
    {"now": BOOT - 1},
])
def test_signed_url_refusals_are_403_invalid_token(denylist, case):
    """§7.1 [REC] 401/403 instead of HEAD's 500; §16: issued before boot, missing iat,
    server_uuid or user_uuid ⇒ denied."""
    user = case.pop("user", USER)
    key = case.pop("key", KEY)
    scope = [("scope", case.pop("scope"))] if "scope" in case else []
    case.setdefault("now", T)
    raw = panel_jwt(key, NODE, "1" + SERVER, ttl=case.pop("ttl", 900), user=user,
                    claims=[("file_path", "/a"), ("server_uuid", SERVER)] + scope, **case)
    with pytest.raises(errors.InvalidToken) as caught:
        tokens.parse_download_token(raw, KEY, denylist, now=T + 1)
    assert caught.value.status == 403
    assert caught.value.body("rid") == {"error": "The provided token is invalid or has expired."}


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_time_claims_that_are_not_finite_are_refused(denylist, claim, value):
    """NaN is not JSON, and no comparison with it is ever true: an ``exp`` of NaN would
    never expire, an ``iat`` of NaN would pass the issued-before-boot check."""
    raw = file_token(claims=[(claim, value)])
    with pytest.raises(errors.InvalidToken):
        tokens.parse_download_token(raw, KEY, denylist, now=T + 1)
    assert refusal(ws_token(claims=[(claim, value)])).jwt_error is False


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_huge_integer_time_claims_are_judged_not_crashed_on(denylist, claim):
    """An integer beyond any float is still a number: compared, never converted."""
    try:
        tokens.parse_download_token(file_token(claims=[(claim, 10**400)]), KEY, denylist,
                                    now=T + 1)
    except errors.InvalidToken:
        pass
    try:
        parse_ws(ws_token(claims=[(claim, 10**400)])).check(SERVER, denylist, now=T + 1)
    except tokens.TokenError:
        pass


def test_denying_the_jti_revokes_signed_urls_too(denylist):
    raw = file_token()
    denylist.deny([segment(raw, 1)["jti"]], at=T + 0.5)
    with pytest.raises(errors.InvalidToken):
        tokens.parse_download_token(raw, KEY, denylist, now=T + 1)


def test_download_token_for_another_server_does_not_consume_its_id(denylist):
    """§7.3: the server lookup (the route's, 404) comes before the one-time check, so a
    token naming a server not on this node leaves its unique_id usable."""
    store = tokens.OneTimeStore()
    token = tokens.parse_download_token(file_token([("server_uuid", OTHER_SERVER)],
                                                   unique_id="d1"), KEY, denylist, now=T + 1)
    assert token.server_uuid == OTHER_SERVER
    store.claim("d1", now=10)
    with pytest.raises(errors.TokenResourceNotFound):
        store.claim("d1", now=11)


def test_one_time_ids_are_refused_on_reuse_for_an_hour():
    """§7.3: second presentation within 60 minutes → 404."""
    store = tokens.OneTimeStore(ttl=3600)
    store.claim("a1", now=100.0)
    store.claim("a2", now=100.0)
    with pytest.raises(errors.TokenResourceNotFound) as caught:
        store.claim("a1", now=3699.0)
    assert caught.value.status == 404
    assert caught.value.body("rid") == {
        "error": "The requested resource was not found on this server."}
    store.claim("a1", now=3700.0)


def test_one_time_store_forgets_expired_ids():
    store = tokens.OneTimeStore(ttl=60)
    for i in range(5):
        store.claim("old%d" % i, now=0.0)
    store.claim("new", now=tokens.SWEEP_INTERVAL + 1)
    assert list(store._used_at) == ["new"]


def test_one_time_store_uses_its_clock():
    now = [0.0]
    store = tokens.OneTimeStore(ttl=10, clock=lambda: now[0])
    store.claim("x")
    now[0] = 9.9
    with pytest.raises(errors.TokenResourceNotFound):
        store.claim("x")
    now[0] = 10.0
    store.claim("x")


# -- purposes (§16 scope, peers.md advisory #14) ----------------------------------------------

PURPOSES = ["websocket", "file-upload", "file-download", "backup-download", "transfer"]
# What each purpose's token needs to pass the other checks of a use (added to a token of
# another purpose to show that only its purpose refuses it).
NEEDS = {"websocket": [("server_uuid", SERVER), ("permissions", ["*"])],
         "file-upload": [("server_uuid", SERVER)],
         "file-download": [("server_uuid", SERVER), ("file_path", "/world/level.dat")],
         "backup-download": [("server_uuid", SERVER), ("backup_uuid", BACKUP)],
         "transfer": [("sub", SERVER)]}


def minted_for(purpose, scope=True, added=()):
    """The Panel's exact token of ``purpose`` (panel-contract.md §3.2), with ``scope`` as
    §16 adds it, then ``added`` claims the Panel never puts there."""
    claims = list(NEEDS[purpose]) if purpose != "transfer" else []
    if scope:
        claims.append(("scope", purpose))
    claims += [c for c in added if c[0] not in dict(claims)]
    if purpose == "transfer":
        return panel_jwt(KEY, NODE, SERVER, algo="sha256", ttl=900, subject=SERVER,
                         claims=claims, now=T)
    return panel_jwt(KEY, NODE, "1" + SERVER, ttl=900, user=USER, claims=claims, now=T)


def use(purpose, raw, denylist):
    """Present ``raw`` where ``purpose`` is needed; raises what the daemon answers."""
    if purpose == "websocket":
        parse_ws(raw).check(SERVER, denylist, now=T + 1)
    elif purpose == "file-upload":
        tokens.parse_upload_token(raw, KEY, denylist, now=T + 1)
    elif purpose == "file-download":
        tokens.parse_download_token(raw, KEY, denylist, now=T + 1)
    elif purpose == "backup-download":
        tokens.parse_backup_token(raw, KEY, denylist, now=T + 1)
    else:
        tokens.parse_transfer_token(raw, KEY, now=T + 1)


def refusal_of(purpose):
    """§16: a websocket answers ``missing connect permission``, a signed URL 404, a
    transfer 403."""
    return {"websocket": tokens.TokenError, "transfer": errors.InvalidToken}.get(
        purpose, errors.TokenResourceNotFound)


@pytest.mark.parametrize("scope", [True, False], ids=["scope", "shape"])
@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_token_serves_the_purpose_it_was_minted_for(denylist, purpose, scope):
    use(purpose, minted_for(purpose, scope), denylist)


@pytest.mark.parametrize("scope", [True, False], ids=["scope", "shape"])
@pytest.mark.parametrize("presented_at", PURPOSES)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_token_serves_no_other_purpose_whatever_claims_were_added(denylist, purpose,
                                                                    presented_at, scope):
    """Advisory #14: every pair, with the claims the other use needs added. Without
    ``scope`` an upload token is the shape without marks, so one that gained the mark of
    another purpose is that purpose's token: those pairs are judged on the Panel's exact
    upload token instead."""
    if purpose == presented_at:
        return
    added = NEEDS[presented_at] if scope or purpose != "file-upload" else ()
    raw = minted_for(purpose, scope, added)
    with pytest.raises(refusal_of(presented_at)) as caught:
        use(presented_at, raw, denylist)
    if presented_at == "websocket":
        assert (caught.value.jwt_error, caught.value.message) == (
            True, "jwt: missing connect permission")
    elif presented_at != "transfer":
        assert caught.value.body("rid") == {
            "error": "The requested resource was not found on this server."}


@pytest.mark.parametrize("scope, purpose", [
    ("websocket file-upload", "file-upload"), ("file-upload websocket", "websocket"),
    ("file-download ", "file-download")])
def test_scope_is_space_separated(denylist, scope, purpose):
    """§16: a space-separated list, as Wings splits it."""
    use(purpose, minted_for(purpose, scope=False, added=[("scope", scope)]), denylist)


@pytest.mark.parametrize("scope", ["", " ", "File-Upload", "file-upload,websocket",
                                   "file_upload"])
def test_a_scope_naming_no_purpose_opens_nothing(denylist, scope):
    raw = minted_for("file-upload", scope=False, added=[("scope", scope)])
    with pytest.raises(errors.TokenResourceNotFound):
        use("file-upload", raw, denylist)


@pytest.mark.parametrize("scope", [["file-upload"], 1, {"file-upload": True}])
def test_a_scope_that_is_not_a_string_is_malformed(denylist, scope):
    raw = minted_for("file-upload", scope=False, added=[("scope", scope)])
    with pytest.raises(errors.InvalidToken):
        use("file-upload", raw, denylist)
    assert refusal(minted_for("websocket", scope=False, added=[("scope", scope)])) \
        .jwt_error is False


def test_a_wrong_purpose_is_judged_before_revocation(denylist):
    """404 even for a token from before boot: it spends nothing either way."""
    raw = panel_jwt(KEY, NODE, "1" + SERVER, ttl=900, user=USER, now=BOOT - 10,
                    claims=NEEDS["file-download"])
    with pytest.raises(errors.TokenResourceNotFound):
        tokens.parse_upload_token(raw, KEY, denylist, now=BOOT)


# -- transfers (§7.2, §9.3) ------------------------------------------------------------------

def transfer_token(**kwargs):
    kwargs.setdefault("now", T)
    kwargs.setdefault("ttl", 900)
    return panel_jwt(KEY, NODE, SERVER, algo="sha256", subject=SERVER, **kwargs)


def test_transfer_token_names_the_server_in_sub():
    raw = transfer_token()
    assert segment(raw, 0)["sub"] == SERVER
    assert tokens.parse_transfer_token(raw, KEY, now=T + 1) == tokens.TransferToken(SERVER)


def test_transfer_token_is_reusable():
    raw = transfer_token()
    assert tokens.parse_transfer_token(raw, KEY, now=T + 1).server_uuid == SERVER
    assert tokens.parse_transfer_token(raw, KEY, now=T + 2).server_uuid == SERVER


@pytest.mark.parametrize("case", [{"omit": ("sub",)}, {"claims": [("sub", "../etc")]},
                                  {"claims": [("sub", SERVER + "\n")]},
                                  {"ttl": -1}])
def test_transfer_token_refusals(case):
    with pytest.raises(errors.InvalidToken):
        tokens.parse_transfer_token(transfer_token(**case), KEY, now=T + 1)


def test_transfer_token_signed_by_another_node_is_refused():
    raw = panel_jwt(OTHER_KEY, NODE, SERVER, algo="sha256", ttl=900, subject=SERVER, now=T)
    with pytest.raises(errors.InvalidToken):
        tokens.parse_transfer_token(raw, KEY, now=T + 1)
