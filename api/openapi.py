"""The OpenAPI 3.1 document of the node API, built from the routes' declarations.

Served at ``GET /openapi.json`` (node token) and committed as ``api/openapi.json`` for
integrators and the fuzzer; ``python -m api.openapi`` rewrites the committed file and
``python -m api.openapi --check`` fails when it differs from the routes.
"""

import argparse
import functools
import json
import os
import re
import sys

from api import declare
from wingspan import __version__

COMMITTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.json")
DESCRIPTION = (
    "The HTTP API of a wingspan node, wire-compatible with Pterodactyl Wings: what a "
    "Pterodactyl or Pelican Panel, its browser console and signed URLs use. Errors are "
    "JSON objects {\"error\": <message>} (with \"request_id\" where Wings adds one). "
    "The websocket protocol's events are listed under x-websocket.")
SECURITY_SCHEMES = {
    declare.NODE: {"type": "http", "scheme": "bearer",
                   "description": "The node's token (config.yml `token`)."},
    declare.SIGNED: {"type": "apiKey", "in": "query", "name": "token",
                     "description": "A JWT the Panel signed with the node token for this "
                                    "purpose."},
    declare.TRANSFER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "The transfer JWT the Panel gave the source node."},
}
BINARY = {"type": "string", "format": "binary"}
BODIES = {
    declare.RAW: BINARY,
    declare.MULTIPART: {"type": "object", "additionalProperties": BINARY},
}


def openapi_path(rule):
    """bottle's ``/a/<server>/b/<name:path>`` as OpenAPI's ``/a/{server}/b/{name}``."""
    return re.sub(r"<([^>:]+)[^>]*>", r"{\1}", rule)


def operation_id(endpoint):
    words = re.findall(r"[a-z0-9]+", endpoint.path.lower())
    return "_".join([endpoint.method.lower()] + words)


def security(endpoint):
    if endpoint.auth in SECURITY_SCHEMES:
        return [{endpoint.auth: []}]
    if endpoint.auth == declare.OPEN:
        return [{}, {declare.NODE: []}]
    return []


def parameters(endpoint):
    found = [{"name": name, "in": "path", "required": True, "schema": declare.STRING}
             for name in endpoint.path_params]
    for param in endpoint.query:
        found.append({"name": param.name, "in": "query", "required": param.required,
                      "description": param.description, "schema": param.schema})
    return found


def request_body(endpoint):
    if endpoint.body is None:
        return None
    if endpoint.takes_json:
        content_type, schema = declare.JSON, endpoint.body
    else:
        content_type, schema = endpoint.body, BODIES[endpoint.body]
    return {"required": True, "content": {content_type: {"schema": schema}}}


def responses(endpoint):
    found = {}
    for status, response in endpoint.all_responses().items():
        doc = {"description": response.description}
        if response.schema is not None:
            doc["content"] = {response.content_type: {"schema": response.schema}}
        found[str(status)] = doc
    return found


def operation(endpoint):
    doc = {"operationId": operation_id(endpoint), "summary": endpoint.summary,
           "tags": [endpoint.tag], "security": security(endpoint)}
    if endpoint.description:
        doc["description"] = endpoint.description
    if parameters(endpoint):
        doc["parameters"] = parameters(endpoint)
    if request_body(endpoint):
        doc["requestBody"] = request_body(endpoint)
    doc["responses"] = responses(endpoint)
    return doc


@functools.cache
def document():
    """The whole document (built once: the declarations do not change at run time)."""
    from api.routes import websocket
    paths = {}
    for endpoint in sorted(declare.ALL, key=lambda e: (e.path, e.method)):
        paths.setdefault(openapi_path(endpoint.path), {})[endpoint.method.lower()] = \
            operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "wingspan node API", "version": __version__,
                 "description": DESCRIPTION},
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES},
        "x-websocket": {"path": openapi_path(websocket.WEBSOCKET.path),
                        "frame": {"event": "<name>", "args": ["<string>", "..."]},
                        "inbound": websocket.INBOUND, "outbound": websocket.OUTBOUND},
    }


def rendered():
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m api.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="fail when %s differs from the routes" % COMMITTED)
    args = parser.parse_args(argv)
    with open(COMMITTED) if os.path.exists(COMMITTED) else open(os.devnull) as f:
        current = f.read()
    if args.check:
        if current != rendered():
            print("%s is out of date: run python -m api.openapi" % COMMITTED, file=sys.stderr)
            return 1
        return 0
    with open(COMMITTED, "w") as f:
        f.write(rendered())
    return 0


if __name__ == "__main__":
    sys.exit(main())
