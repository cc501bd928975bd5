"""HTTP plumbing: CORS, request ids, auth, JSON bodies (wings-api.md §1.3–1.6)."""

import io
import json
from types import SimpleNamespace

import bottle
import pytest

from api import http
from wingspan import errors


def cfg(**kw):
    base = dict(remote="https://panel.example.com", allowed_origins=[], token="t" * 64,
                allow_cors_private_network=False)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.mark.parametrize("origins, origin, expected", [
    ([], "https://panel.example.com", "https://panel.example.com"),
    ([], "https://evil.example", "https://panel.example.com"),
    (["https://a.example"], "https://a.example", "https://a.example"),
    (["*"], "https://b.example", "*"),
    (["https://a.example", "*"], "https://b.example", "*"),
    (["https://a.example"], None, "https://panel.example.com"),
])
def test_allowed_origin(origins, origin, expected):
    assert http.allowed_origin(cfg(allowed_origins=origins), origin) == expected


def run(app, method="GET", origin=None):
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/x", "wsgi.input": io.BytesIO()}
    if origin:
        environ["HTTP_ORIGIN"] = origin
    body = b"".join(app(environ, start_response))
    return seen, body


def test_every_response_gets_request_id_and_cors():
    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ[http.REQUEST_ID].encode()]

    seen, body = run(http.ErrorsAndHeaders(inner, cfg))
    assert seen["headers"]["X-Request-Id"] == body.decode()
    assert seen["headers"]["Access-Control-Allow-Origin"] == "https://panel.example.com"
    assert seen["headers"]["Access-Control-Allow-Credentials"] == "true"
    assert seen["headers"]["Access-Control-Max-Age"] == "7200"
    assert seen["headers"]["Access-Control-Allow-Methods"] == (
        "GET, POST, PATCH, PUT, DELETE, OPTIONS")


def test_options_is_answered_without_the_app():
    def inner(environ, start_response):
        raise AssertionError("the app must not run for OPTIONS")

    seen, body = run(http.ErrorsAndHeaders(inner, cfg), method="OPTIONS")
    assert seen["status"].startswith("204") and body == b""
    assert "X-Request-Id" in seen["headers"]


def test_private_network_header_only_when_enabled():
    headers = dict(http.cors_headers(cfg(allow_cors_private_network=True), None))
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    assert "Access-Control-Allow-Private-Network" not in dict(http.cors_headers(cfg(), None))


@pytest.mark.parametrize("header, error", [
    (None, errors.MissingAuthorization),
    ("Basic abc", errors.MissingAuthorization),
    ("Bearer", errors.MissingAuthorization),
    ("bearer " + "t" * 64, errors.MissingAuthorization),
    ("Bearer wrong", errors.Forbidden),
])
def test_node_token_refusals(header, error):
    with pytest.raises(error):
        http.check_node_token(cfg(), header)


def test_node_token_accepted():
    http.check_node_token(cfg(), "Bearer " + "t" * 64)


def test_empty_configured_token_refuses_everything():
    with pytest.raises(errors.Forbidden):
        http.check_node_token(cfg(token=""), "Bearer ")


def with_body(raw, content_type="application/json"):
    bottle.request.bind({"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(raw),
                         "CONTENT_LENGTH": str(len(raw)), "CONTENT_TYPE": content_type})


@pytest.mark.parametrize("raw, error", [
    (b"", errors.BadRequest),
    (b"   ", errors.BadRequest),
    (b"{bad", errors.UnparsableBody),
    (b"[1]", errors.UnparsableBody),
    (b"x" * 2000, errors.BodyTooLarge),
])
def test_json_body_refusals(raw, error):
    with_body(raw)
    with pytest.raises(error):
        http.json_body(1024)


def test_json_body_null_is_empty_object():
    with_body(b"null")
    assert http.json_body(1024) == {}


def test_empty_body_message_is_wings_eof_message():
    assert errors.BadRequest().body("r") == {
        "error": "The data passed in the request was not in a parsable format. Please try again."}


def test_field_types():
    assert http.field({"a": 1}, "a", int) == 1
    assert http.field({}, "a", int, 5) == 5
    with pytest.raises(errors.UnparsableBody):
        http.field({"a": True}, "a", int)
    with pytest.raises(errors.UnparsableBody):
        http.field({"a": "1"}, "a", int)


def test_error_response_shape():
    response = http.error_response(errors.FileNotFound(), "rid")
    assert response.status_code == 404
    assert json.loads(response.body) == {
        "error": "The requested resources was not found on the system.", "request_id": "rid"}
    assert response.headers["Content-Type"].startswith("application/json")


# -- client IP (wings-api.md §15.2 api.trusted_proxies; gin's ClientIP) ---------------------

@pytest.mark.parametrize("trusted, headers, expected", [
    ([], {"HTTP_X_FORWARDED_FOR": "198.51.100.1"}, "10.0.0.2"),
    (["10.0.0.0/8"], {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 10.0.0.9"}, "198.51.100.1"),
    (["10.0.0.0/8"], {"HTTP_X_FORWARDED_FOR": "10.0.0.7, 10.0.0.9"}, "10.0.0.7"),
    (["10.0.0.0/8"], {"HTTP_X_FORWARDED_FOR": "bogus, 10.0.0.9"}, "10.0.0.2"),
    (["10.0.0.0/8"], {"HTTP_X_FORWARDED_FOR": "bogus", "HTTP_X_REAL_IP": "192.0.2.4"},
     "192.0.2.4"),
    (["10.0.0.0/8"], {"HTTP_X_REAL_IP": "192.0.2.4"}, "192.0.2.4"),
    (["10.0.0.0/8"], {"HTTP_X_REAL_IP": "nope"}, "10.0.0.2"),
    (["192.168.0.0/16"], {"HTTP_X_FORWARDED_FOR": "198.51.100.1"}, "10.0.0.2"),
])
def test_client_ip_trusts_forwarding_headers_only_from_trusted_proxies(trusted, headers,
                                                                        expected):
    environ = dict(headers, REMOTE_ADDR="10.0.0.2")
    assert http.client_ip(environ, trusted) == expected
