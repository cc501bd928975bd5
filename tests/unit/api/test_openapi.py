"""The node API is declared once (issue 19): the router, the request validation and the
OpenAPI document all come from ``api.declare`` endpoints."""

import io
import json
import types

import bottle
import pytest
import schemathesis

from api import declare, openapi
from api.app import make_app
from wingspan import errors

CATCH_ALL = {"/<path:path>", "/"}


@pytest.fixture(scope="module")
def app():
    return make_app(types.SimpleNamespace(files=None, registry=None, cfg=None))


def test_every_route_the_app_serves_is_declared_and_every_declaration_is_served(app):
    served = {(r.method, r.rule) for r in app.routes if r.rule not in CATCH_ALL}
    declared = {(e.method, e.path) for e in declare.ALL}
    assert served == declared
    assert all(r.config.get("endpoint") is not None for r in app.routes
               if r.rule not in CATCH_ALL)


def test_the_committed_document_is_the_one_the_routes_make():
    """Fails when a route changes without ``python -m api.openapi`` being run."""
    with open(openapi.COMMITTED) as f:
        assert json.load(f) == openapi.document()
    assert openapi.main(["--check"]) == 0


def test_the_document_covers_every_route_with_its_method():
    doc = openapi.document()
    operations = {(method.upper(), path) for path, item in doc["paths"].items()
                  for method in item}
    assert operations == {(e.method, openapi.openapi_path(e.path)) for e in declare.ALL}
    assert ("POST", "/api/servers/{server}/power") in operations
    assert doc["openapi"] == "3.1.0"
    assert "set state" in doc["x-websocket"]["inbound"]
    assert "console output" in doc["x-websocket"]["outbound"]


def test_a_fuzzer_can_load_the_document():
    schema = schemathesis.openapi.from_dict(openapi.document())
    names = {op.ok().label for op in schema.get_all_operations()}
    assert "POST /api/servers/{server}/power" in names
    assert len(names) == len(declare.ALL)


def test_node_routes_declare_their_auth_errors_and_json_bodies_their_bind_errors():
    power = next(e for e in declare.ALL if e.path == "/api/servers/<server>/power")
    assert {400, 401, 403, 404, 413, 202, 422} <= set(power.all_responses())
    upload = next(e for e in declare.ALL if e.path == "/upload/file")
    assert 401 not in upload.all_responses() and upload.auth == declare.SIGNED


class Request:
    """What ``Endpoint.read_body`` reads from bottle's request."""

    def __init__(self, raw):
        environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(raw)),
                   "wsgi.input": io.BytesIO(raw)}
        bottle.request.bind(environ)


SCHEMA = declare.obj(("action",), action=declare.STRING,
                     wait_seconds=dict(declare.INT, default=0))


def endpoint():
    ep = declare.Endpoint("POST", "/test/<server>", "test", "test", body=SCHEMA)
    declare.ALL.remove(ep)
    return ep


def test_a_valid_body_gets_its_defaults_and_null_members_count_as_absent():
    Request(b'{"action": "start", "wait_seconds": null, "unknown": 1}')
    assert endpoint().read_body(1024) == {"action": "start", "wait_seconds": 0, "unknown": 1}


@pytest.mark.parametrize("raw,error", [
    (b"", errors.BadRequest),
    (b'{"action": 5}', errors.UnparsableBody),
    (b'{"wait_seconds": 1}', errors.UnparsableBody),
    (b'{"action": "start", "wait_seconds": "1"}', errors.UnparsableBody),
    (b"[1]", errors.UnparsableBody),
    (b'{"action": "' + b"x" * 2000 + b'"}', errors.BodyTooLarge),
])
def test_a_body_outside_its_declaration_is_the_spec_error(raw, error):
    Request(raw)
    with pytest.raises(error) as caught:
        endpoint().read_body(1024)
    assert 400 <= caught.value.status < 500
