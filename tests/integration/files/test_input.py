"""Hostile and unusual input to the files API and signed uploads: text encodings, JSON
that Go would not produce, and bodies that end early. Each must get a 4xx JSON error or
the answer Wings gives, never a 500, and must leave the files on disk as they were.
"""

import json
import os
import socket

from tests.integration.files.helpers import GENERIC, NOT_MULTIPART, assert_captured

INCOMPLETE = "The request body ended before the length given in its Content-Length header."


def raw_request(node, method, path, headers, body, content_length):
    """Send ``body`` under ``Content-Length`` header(s) (a list: each one sent), half-close,
    and return the response's status and body."""
    host, port = node.daemon.url.rsplit("/", 1)[-1].split(":")
    lengths = content_length if isinstance(content_length, list) else [content_length]
    head = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%s" % (host, port),
            "Connection: close"] + ["Content-Length: %d" % length for length in lengths]
    head += ["%s: %s" % item for item in headers.items()]
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def auth(node):
    return {"Authorization": "Bearer %s" % node.daemon.token}


# -- query strings are UTF-8, as Go's net/url reads them (§1.7) ----------------------------

def test_query_paths_are_read_as_utf8(node):
    u = node.uuid()
    node.put("\u00e9t\u00e9/\u65e5\u672c.txt", b"summer")
    response = node.daemon.get("/api/servers/%s/files/contents" % u,
                               query={"file": "/\u00e9t\u00e9/\u65e5\u672c.txt"})
    assert response.status_code == 200 and response.content == b"summer"
    listed = node.daemon.list_dir(u, "/\u00e9t\u00e9")
    assert [entry["name"] for entry in listed.json()] == ["\u65e5\u672c.txt"]
    assert node.daemon.write(u, "/caf\u00e9.txt", b"au lait").status_code == 204
    assert node.read("caf\u00e9.txt") == b"au lait"
    assert sorted(os.listdir(os.fsencode(node.root()))) == sorted(
        ["\u00e9t\u00e9".encode(), "caf\u00e9.txt".encode()])


def test_a_query_byte_that_is_not_utf8_becomes_the_replacement_character(node):
    u = node.uuid()
    response = node.daemon.post("/api/servers/%s/files/write?file=%%ff.txt" % u, data=b"x")
    assert response.status_code == 204
    assert os.listdir(node.root()) == ["\ufffd.txt"]


def test_a_signed_upload_into_a_utf8_directory(node):
    response = node.upload(node.token(unique_id="utf8-dir"), [("a.txt", b"a")],
                           directory="/\u65e5\u672c")
    assert response.status_code == 200, response.text
    assert node.read("\u65e5\u672c/a.txt") == b"a"


# -- JSON as Go decodes it: lone surrogates, NaN, depth -----------------------------------

def test_a_lone_surrogate_in_a_json_field_becomes_the_replacement_character(node):
    u = node.uuid()
    assert node.daemon.mkdir(u, "\ud800", "/").status_code == 204
    assert os.path.isdir(node.host("\ufffd"))
    node.put("doomed.txt", b"x")
    response = node.daemon.post("/api/servers/%s/files/delete" % u,
                                {"root": "/\udfff/..", "files": ["doomed.txt", "\udcff.txt"]})
    assert response.status_code == 204
    assert not node.exists("doomed.txt")


def test_undecodable_file_names_are_listed_as_go_writes_them(node):
    """A container can name a file with bytes that are not UTF-8. Go writes each such byte
    as U+FFFD; a lone surrogate escape instead would make PHP reject the whole listing."""
    with open(os.path.join(os.fsencode(node.root()), b"\xff\xfe.txt"), "wb") as f:
        f.write(b"x")
    node.put("plain.txt", b"y")
    response = node.daemon.list_dir(node.uuid(), "/")
    assert response.status_code == 200
    assert b"\\ud" not in response.content.lower()
    assert sorted(entry["name"] for entry in response.json()) == ["plain.txt", "\ufffd\ufffd.txt"]


def test_nan_in_a_json_body_is_a_bind_error(node):
    response = node.daemon.post("/api/servers/%s/files/create-directory" % node.uuid(),
                                data=b'{"name": "n", "path": "/", "x": NaN}')
    assert_captured(response, 400, GENERIC)
    assert os.listdir(node.root()) == []


def test_json_nested_too_deeply_is_a_bind_error(node):
    body = b'{"root": "/", "files": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for route in ("rename", "delete", "compress", "chmod"):
        method = "PUT" if route == "rename" else "POST"
        response = node.daemon.request(method, "/api/servers/%s/files/%s" % (node.uuid(), route),
                                       data=body)
        assert_captured(response, 400, GENERIC)


# -- bodies that end before their Content-Length ------------------------------------------

def test_a_write_cut_short_keeps_the_old_file(node):
    node.put("world.dat", b"the whole old world")
    status, body = raw_request(node, "POST", "/api/servers/%s/files/write?file=world.dat"
                               % node.uuid(), auth(node), b"abc", content_length=10)
    assert status == 400
    assert json.loads(body)["error"] == INCOMPLETE
    assert node.read("world.dat") == b"the whole old world"


def test_a_json_body_cut_short_is_a_400(node):
    node.put("keep.txt", b"x")
    headers = dict(auth(node), **{"Content-Type": "application/json"})
    status, body = raw_request(node, "POST", "/api/servers/%s/files/delete" % node.uuid(),
                               headers, b'{"root": "/", "files": ["keep.txt"]}',
                               content_length=100)
    assert status == 400
    assert json.loads(body)["error"] == INCOMPLETE
    assert node.exists("keep.txt")


def test_an_upload_cut_short_writes_nothing(node):
    boundary = "wingspanboundary"
    part = ("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"done.txt\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\ncomplete\r\n" % boundary)
    part += ("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"cut.txt\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\nhalf" % boundary)
    token = node.token(unique_id="cut-upload")
    status, body = raw_request(node, "POST", "/upload/file?token=%s" % token,
                               {"Content-Type": "multipart/form-data; boundary=%s" % boundary},
                               part.encode(), content_length=len(part) + 500)
    assert status == 400
    assert json.loads(body)["error"] == NOT_MULTIPART
    assert os.listdir(node.root()) == []



def test_conflicting_content_lengths_are_refused_before_any_route(node):
    status, _ = raw_request(node, "POST", "/api/servers/%s/files/write?file=smuggled.txt"
                            % node.uuid(), auth(node), b"abcde", content_length=[3, 5])
    assert status == 400
    assert os.listdir(node.root()) == []


def test_a_repeated_content_length_of_one_value_is_fine(node):
    status, _ = raw_request(node, "POST", "/api/servers/%s/files/write?file=twice.txt"
                            % node.uuid(), auth(node), b"abc", content_length=[3, 3])
    assert status == 204
    assert node.read("twice.txt") == b"abc"
