"""Signed download and upload URLs: tokens minted exactly as the Panel mints them
(panel-contract.md §3.2), presented by a browser without the node token.

Spec: wings-api.md §7.1 (HS256 with the node token, ``exp`` required; [REC] a bad token is
refused with a 4xx and serves nothing — this daemon answers 403), §7.3 (one-time
``unique_id``, spent only once the server is known, before the file is opened), §7.4-§7.6,
§16 (tokens from before boot are refused), §6.3 [REC] (denylist on download); §18 #50-#58.
"""

import os
import time
import uuid as uuidlib

import pytest
import requests

from tests.integration.files.helpers import (
    BACKUP_NOT_FOUND,
    DENYLISTED,
    MARK,
    NO_UPLOAD_FILES,
    NOT_MULTIPART,
    SECRET,
    TOKEN_NOT_FOUND,
    UPLOAD_TOO_LARGE,
    USER,
    assert_captured,
    assert_handler_error,
    assert_no_secret,
    assert_not_found,
)
from tests.support.daemon import CONTAINER_GID, CONTAINER_UID
from tests.support.panel_jwt import panel_jwt

SERVERS = {"main": {"file_denylist": ["config.yml"]}, "other": {}}
NODE_CONFIG = {"api": {"upload_limit": 1}}
MIB = 1024 * 1024
INVALID_TOKEN_STATUS = 403


def unique():
    return uuidlib.uuid4().hex[:16]


# -- §7.4 GET /download/file ---------------------------------------------------------------

def test_download_serves_the_file_as_an_attachment(node):
    """§7.4, §18 #57."""
    node.put("hello.txt", b"hello")
    response = node.download(node.download_token("/hello.txt"))
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["Content-Length"] == "5"
    assert response.headers["Content-Disposition"] == 'attachment; filename="hello.txt"'
    assert response.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("file_path, name", [("sub/my file.txt", "my file.txt"),
                                             ("/sub/./my file.txt", "my file.txt"),
                                             ('/sub/q"uote.txt', 'q\\"uote.txt')])
def test_download_of_nested_and_odd_names(node, file_path, name):
    """§7.4: the base name, Go-quoted."""
    node.put(file_path.replace("/./", "/").lstrip("/"), b"data")
    response = node.download(node.download_token(file_path))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="%s"' % name
    assert response.content == b"data"


def test_download_token_is_one_time(node):
    """§7.3, §18 #57: a replay is 404 with the signed-URL text."""
    node.put("hello.txt", b"hello")
    token = node.download_token("/hello.txt")
    assert node.download(token).status_code == 200
    replay = node.download(token)
    assert_handler_error(replay, 404, TOKEN_NOT_FOUND)
    assert b"hello" not in replay.content


def test_unique_id_is_shared_across_token_kinds(node):
    """§7.3: one store for downloads and uploads."""
    node.put("hello.txt", b"hello")
    shared = unique()
    assert node.download(node.download_token("/hello.txt", unique_id=shared)).status_code \
        == 200
    response = node.upload(node.token(unique_id=shared), [("%s.txt" % MARK, b"x")])
    assert_handler_error(response, 404, TOKEN_NOT_FOUND)
    assert os.listdir(node.root()) == ["hello.txt"]


def test_download_of_a_directory_is_404(node):
    """§7.4 step 4."""
    os.mkdir(node.host("a"))
    assert_handler_error(node.download(node.download_token("/a")), 404, TOKEN_NOT_FOUND)


def test_download_of_a_missing_file_spends_the_token(node):
    """§7.3: the token is consumed before the file is opened; §1.6 [REC] 404."""
    token = node.download_token("/later.txt")
    assert_not_found(node.download(token))
    node.put("later.txt", b"later")
    assert_handler_error(node.download(token), 404, TOKEN_NOT_FOUND)


def test_download_of_a_denylisted_file_is_403(node):
    """§6.3 [REC]: the denylist also guards signed downloads."""
    node.put("config.yml", b"secret: 1")
    response = node.download(node.download_token("/config.yml"))
    assert_captured(response, 403, DENYLISTED)
    assert b"secret" not in response.content


@pytest.mark.parametrize("file_path", ["../../sentinel/secret.txt",
                                       "/../../sentinel/secret.txt",
                                       "{sentinel}/secret.txt",
                                       "../{other}/other.txt", "/other.txt"])
def test_download_never_leaves_the_tokens_server(node, file_path):
    """§7.4 step 3 (sandboxed), §18 #57: a token for server A reads only A's root."""
    node.put("other.txt", SECRET, server="other")
    path = file_path.format(sentinel=node.sentinel, other=node.uuid("other"))
    response = node.download(node.download_token(path))
    assert_not_found(response)
    assert_no_secret(response)


def test_download_token_for_an_unknown_server_does_not_spend_its_id(node):
    """§7.3, §18 #56: unknown server → 404; the id still works once for a real one."""
    node.put("hello.txt", b"hello")
    shared = unique()
    for server in (str(uuidlib.uuid4()), node.uuid().upper()):
        stray = node.download_token("/hello.txt", server=server, unique_id=shared)
        assert_handler_error(node.download(stray), 404, TOKEN_NOT_FOUND)
    response = node.download(node.download_token("/hello.txt", unique_id=shared))
    assert (response.status_code, response.content) == (200, b"hello")


def test_a_token_for_one_server_does_not_open_another(node):
    """A token names its server; the file is looked up there only."""
    node.put("mine.txt", b"main's")
    node.put("theirs.txt", SECRET, server="other")
    response = node.download(node.download_token("/theirs.txt"))
    assert_not_found(response)
    assert_no_secret(response)
    response = node.download(node.download_token("/mine.txt", server="other"))
    assert_not_found(response)
    response = node.download(node.download_token("/theirs.txt", server="other"))
    assert (response.status_code, response.content) == (200, SECRET)


# -- §7.1 token verification (download and upload alike) ------------------------------------

def bad_tokens(node, upload=False):
    """``{label: token}``: each must be refused with nothing served or written. Download
    tokens, or upload tokens (no ``file_path``: §16, a token serves only its purpose)."""
    now = time.time()

    def mint(**options):
        return node.token(**options) if upload else node.download_token("/hello.txt",
                                                                        **options)

    good = [("server_uuid", node.uuid())] + ([] if upload else [("file_path", "/hello.txt")])
    other_key = "x" * 64
    return {
        "wrong key": panel_jwt(other_key, node.daemon.url, "1", user=USER, claims=good),
        "expired": mint(now=now - 1000, ttl=900),
        "exp a second ago": mint(ttl=-2),
        "no exp": mint(omit=("exp",)),
        "alg none": mint(alg="none"),
        "alg HS512": mint(alg="HS512"),
        "alg HS384": mint(alg="HS384"),
        "alg RS256 header": mint(alg="RS256"),
        "issued before boot": mint(now=now - 3600, ttl=7200),
        "no iat": mint(omit=("iat",)),
        "no server_uuid": mint(omit=("server_uuid",)),
        "tampered payload": tamper(mint()),
        "garbage": "not.a.jwt",
        "empty": "",
    }


def tamper(token):
    header, payload, signature = token.split(".")
    return ".".join((header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"),
                     signature))


BAD_TOKEN_LABELS = ["wrong key", "expired", "exp a second ago", "no exp", "alg none",
                    "alg HS512", "alg HS384", "alg RS256 header", "issued before boot",
                    "no iat", "no server_uuid", "tampered payload", "garbage", "empty"]


@pytest.mark.parametrize("label", BAD_TOKEN_LABELS)
def test_bad_download_tokens_serve_nothing(node, label):
    """§7.1, §18 #55: [REC] refused with a 4xx (403 here), no file data."""
    node.put("hello.txt", SECRET)
    response = node.download(bad_tokens(node)[label])
    assert response.status_code == INVALID_TOKEN_STATUS, (response.status_code, response.text)
    assert_no_secret(response)


@pytest.mark.parametrize("label", BAD_TOKEN_LABELS)
def test_bad_upload_tokens_write_nothing(node, label):
    """§7.1, §18 #55: nothing is written."""
    response = node.upload(bad_tokens(node, upload=True)[label], [("%s.txt" % MARK, b"x")])
    assert response.status_code == INVALID_TOKEN_STATUS, (response.status_code, response.text)
    assert os.listdir(node.root()) == []


def test_missing_token_parameter_is_refused(node):
    node.put("hello.txt", SECRET)
    response = requests.get(node.daemon.url + "/download/file", timeout=15)
    assert response.status_code == INVALID_TOKEN_STATUS
    assert_no_secret(response)
    response = requests.post(node.daemon.url + "/upload/file",
                             files=[("files", ("%s.txt" % MARK, b"x"))], timeout=15)
    assert response.status_code == INVALID_TOKEN_STATUS
    assert os.listdir(node.root()) == ["hello.txt"]


def test_node_token_is_not_a_signed_url(node):
    """The node's bearer token does not replace the JWT of a signed URL."""
    node.put("hello.txt", SECRET)
    response = requests.get(node.daemon.url + "/download/file",
                            headers={"Authorization": "Bearer %s" % node.panel.token},
                            timeout=15)
    assert response.status_code == INVALID_TOKEN_STATUS
    assert_no_secret(response)


def test_an_upload_token_does_not_download(node):
    """An upload token has no ``file_path``: it opens nothing."""
    node.put("hello.txt", SECRET)
    response = node.download(node.token())
    assert 400 <= response.status_code < 500
    assert_no_secret(response)


# -- §7.5 GET /download/backup ---------------------------------------------------------------

def backup_token(node, backup_uuid, server="main"):
    return node.token(server, [("backup_uuid", backup_uuid)])


def backup_directory(node):
    return node.daemon.config["system"]["backup_directory"]


def test_backup_download(node):
    """§7.5, §18 #58: ``<backup_directory>/<uuid>.tar.gz`` as an attachment."""
    backup = str(uuidlib.uuid4())
    os.makedirs(backup_directory(node), exist_ok=True)
    path = os.path.join(backup_directory(node), "%s.tar.gz" % backup)
    with open(path, "wb") as f:
        f.write(b"\x1f\x8bbackup bytes")
    try:
        response = node.download_backup(backup_token(node, backup))
        assert response.status_code == 200
        assert response.content == b"\x1f\x8bbackup bytes"
        assert response.headers["Content-Disposition"] == \
            'attachment; filename="%s.tar.gz"' % backup
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Length"] == str(len(b"\x1f\x8bbackup bytes"))
    finally:
        os.unlink(path)


def test_backup_download_of_an_unknown_backup_is_404(node):
    """§7.5 step 4."""
    response = node.download_backup(backup_token(node, str(uuidlib.uuid4())))
    assert_handler_error(response, 404, BACKUP_NOT_FOUND)


@pytest.mark.parametrize("backup", ["../leak", "../../../../../../etc/passwd", "../sentinel/x",
                                    "/etc/passwd"])
def test_backup_download_never_leaves_the_backup_directory(node, backup):
    """§7.5 [REQ]: ``backup_uuid`` must be a UUID; nothing else is joined into a path."""
    leak = os.path.join(node.base_dir, "leak.tar.gz")
    with open(leak, "wb") as f:
        f.write(SECRET)
    try:
        response = node.download_backup(backup_token(node, backup))
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert_no_secret(response)
        assert b"root:" not in response.content
    finally:
        os.unlink(leak)


# -- §7.6 POST /upload/file ----------------------------------------------------------------

def test_upload_writes_the_files(node):
    """§7.6, §18 #50: 200 with an empty body; mode 0644; the server user owns it."""
    response = node.upload(node.token(), [("one.txt", b"one"), ("two.bin", b"\x00\x01")],
                           directory="/up")
    assert response.status_code == 200
    assert response.content == b""
    assert (node.read("up/one.txt"), node.read("up/two.bin")) == (b"one", b"\x00\x01")
    info = os.lstat(node.host("up/one.txt"))
    assert info.st_mode & 0o777 == 0o644
    assert (info.st_uid, info.st_gid) == (CONTAINER_UID, CONTAINER_GID)


def test_upload_defaults_to_the_root_and_overwrites(node):
    node.put("hello.txt", b"old")
    assert node.upload(node.token(), [("hello.txt", b"new")]).status_code == 200
    assert node.read("hello.txt") == b"new"


def test_upload_token_is_one_time(node):
    """§18 #51."""
    token = node.token()
    assert node.upload(token, [("a.txt", b"a")]).status_code == 200
    replay = node.upload(token, [("%s.txt" % MARK, b"b")])
    assert_handler_error(replay, 404, TOKEN_NOT_FOUND)
    assert os.listdir(node.root()) == ["a.txt"]


@pytest.mark.parametrize("filename, stored", [("../../../%s-escape.txt" % MARK,
                                               "%s-escape.txt" % MARK),
                                              ("/etc/%s-abs.txt" % MARK, "%s-abs.txt" % MARK),
                                              ("a/b/%s-c.txt" % MARK, "%s-c.txt" % MARK)])
def test_upload_keeps_only_the_base_name(node, filename, stored):
    """§7.6 step 6, §18 #52."""
    response = node.upload(node.token(), [(filename, b"x")], directory="/up")
    assert response.status_code == 200, response.text
    assert os.listdir(node.host("up")) == [stored]


def test_upload_needs_the_files_field(node):
    """§7.6 step 4, §18 #54."""
    response = node.upload(node.token(), [("a.txt", b"a")], field="file")
    assert_handler_error(response, 400, NO_UPLOAD_FILES)
    assert os.listdir(node.root()) == []


def test_upload_needs_a_multipart_body(node):
    """§7.6 step 3, §18 #54."""
    response = requests.post(node.daemon.url + "/upload/file", params={"token": node.token()},
                             data=b"raw bytes", headers={"Content-Type": "text/plain"},
                             timeout=15)
    assert_handler_error(response, 400, NOT_MULTIPART)
    assert os.listdir(node.root()) == []


def test_upload_over_the_limit_is_400(node):
    """§7.6 step 5, §18 #53: ``api.upload_limit: 1``."""
    response = node.upload(node.token(), [("big.bin", b"\0" * (2 * MIB))])
    assert_handler_error(response, 400, UPLOAD_TOO_LARGE % ("big.bin", 1))
    assert os.listdir(node.root()) == []


def test_upload_of_exactly_the_limit_is_allowed(node):
    """§7.6 step 5: a file of exactly the limit passes."""
    response = node.upload(node.token(), [("edge.bin", b"\1" * MIB)])
    assert response.status_code == 200, response.text
    assert os.path.getsize(node.host("edge.bin")) == MIB


def test_upload_limit_is_checked_before_anything_is_written(node):
    """§7.6 step 5: every file is checked before the first is written."""
    response = node.upload(node.token(), [("small.txt", b"small"),
                                          ("big.bin", b"\0" * (MIB + 1))])
    assert_handler_error(response, 400, UPLOAD_TOO_LARGE % ("big.bin", 1))
    assert os.listdir(node.root()) == []


def test_upload_of_a_denylisted_file_is_403(node):
    """§6.3, §7.6 step 6: 403; earlier files of the request stay."""
    response = node.upload(node.token(), [("ok.txt", b"ok"), ("config.yml", b"c")])
    assert_captured(response, 403, DENYLISTED)
    assert os.listdir(node.root()) == ["ok.txt"]
    response = node.upload(node.token(), [("config.yml", b"c")], directory="/deep/er")
    assert_captured(response, 403, DENYLISTED)
    assert not node.exists("deep/er/config.yml")


@pytest.mark.parametrize("directory", ["../../sentinel", "../{other}", "up/../../.."])
def test_upload_directory_climbing_out_is_404(node, directory):
    """§7.6 step 6: ``directory`` is sandboxed (the fixture checks the sentinel)."""
    directory = directory.format(other=node.uuid("other"))
    response = node.upload(node.token(), [("%s.txt" % MARK, b"x")], directory=directory)
    assert_not_found(response)
    assert os.listdir(node.root()) == []
    assert os.listdir(node.root("other")) == []


@pytest.mark.parametrize("directory", ["/../..", "{sentinel}/.."])
def test_upload_directory_rooted_stays_inside(node, directory):
    """§7.6 step 6 joins like Go's filepath.Join: a rooted ``..`` cannot climb above ``/``,
    and an absolute path outside the root is taken relative to it (§6.1)."""
    directory = directory.format(sentinel=node.sentinel)
    response = node.upload(node.token(), [("%s.txt" % MARK, b"x")], directory=directory)
    assert response.status_code == 200, response.text
    landed = os.path.normpath(os.path.join(directory, "%s.txt" % MARK))
    assert node.read(landed.lstrip("/")) == b"x"


def test_upload_for_an_unknown_server_does_not_spend_its_id(node):
    """§7.3, §18 #56."""
    shared = unique()
    stray = node.token(str(uuidlib.uuid4()), unique_id=shared)
    assert_handler_error(node.upload(stray, [("%s.txt" % MARK, b"x")]), 404, TOKEN_NOT_FOUND)
    assert node.upload(node.token(unique_id=shared), [("a.txt", b"a")]).status_code == 200
    assert os.listdir(node.root()) == ["a.txt"]


def test_upload_goes_to_the_tokens_server(node):
    assert node.upload(node.token("other"), [("theirs.txt", b"t")]).status_code == 200
    assert os.listdir(node.root("other")) == ["theirs.txt"]
    assert os.listdir(node.root()) == []
