"""Each HTTP route declared once: method, path, auth, parameters, body and responses.

An ``Endpoint`` is module-level data next to its handler. ``route(app, endpoint)``
installs the handler for it, and the app's plugin (``api.app.ApiPlugin``) reads the
declaration to authenticate the request and to decode and validate a JSON body before
the handler runs: a handler that declares a body gets it as ``body``, checked against
its schema, with ``null`` members dropped (Go leaves such a field at its zero value) and
declared defaults filled in. The OpenAPI document (``api.openapi``) is built from the same
declarations, so the document, the validation and the router cannot drift apart.

Schemas are JSON Schema 2020-12 (the dialect of OpenAPI 3.1), checked as
``wingspan.schema`` says.
"""

from api import http
from wingspan import errors
from wingspan.schema import Schema

# how a route authenticates (the OpenAPI security schemes of the same names)
NODE = "nodeToken"          # Authorization: Bearer <node token> (wings-api.md §1.5)
SIGNED = "signedUrl"        # ?token=<JWT signed with the node token> (§7)
TRANSFER = "transferToken"  # Authorization: Bearer <transfer JWT> (§9.3)
IN_BAND = "inBand"          # the websocket authenticates inside the protocol (§10.3)
OPEN = "open"               # no credentials (configurable routes check them themselves)

JSON = "application/json"
RAW = "application/octet-stream"
MULTIPART = "multipart/form-data"

ALL = []


def obj(required=(), **properties):
    """An object schema; unknown members are allowed, as Go's JSON binding ignores them."""
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items, **extra):
    return dict({"type": "array", "items": items}, **extra)


STRING = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
NUMBER = {"type": "number"}
ERROR = obj(("error",), error=STRING, request_id=STRING)
STAT = obj(("name", "created", "modified", "mode", "mode_bits", "size", "directory", "file",
            "symlink", "mime"),
           name=STRING, created=STRING, modified=STRING, mode=STRING, mode_bits=STRING,
           size=INT, directory=BOOL, file=BOOL, symlink=BOOL, mime=STRING)


class Param:
    """A query-string parameter (values are text; the handler reads them leniently, as
    Go's ``c.Query`` does)."""

    def __init__(self, name, description, schema=STRING, required=False):
        self.name, self.description = name, description
        self.schema, self.required = schema, required


class Response:
    def __init__(self, description, schema=None, content_type=JSON):
        self.description = description
        self.schema = schema
        self.content_type = content_type if schema is not None else None


NO_CONTENT = Response("Done; no body.")


class Endpoint:
    """One declared route.

    Args:
        method, path: bottle's rule, e.g. ``/api/servers/<server>/power``.
        summary: one line for the document.
        tag: the group it is listed under.
        auth: ``NODE``, ``SIGNED``, ``TRANSFER``, ``IN_BAND`` or ``OPEN``.
        query: ``Param`` list.
        body: a JSON Schema (a JSON object body), ``RAW``, ``MULTIPART`` or None.
        responses: ``{status: Response}`` for success and the errors particular to it;
            the errors every such route can give (auth, an unknown server, a bad body) are
            added from the declaration.
    """

    def __init__(self, method, path, summary, tag, auth=NODE, query=(), body=None,
                 responses=None, description=None):
        self.method, self.path, self.summary, self.tag = method, path, summary, tag
        self.description = description
        self.auth, self.query, self.body = auth, list(query), body
        self.responses = dict(responses or {})
        self._schema = Schema(body) if isinstance(body, dict) else None
        ALL.append(self)

    def __repr__(self):
        return "<Endpoint %s %s>" % (self.method, self.path)

    @property
    def path_params(self):
        return [part[1:-1].split(":")[0] for part in self.path.split("/")
                if part.startswith("<")]

    @property
    def takes_json(self):
        return self._schema is not None

    def read_body(self, limit):
        """The request's JSON body, checked against the declaration, defaults filled in.

        Raises:
            BadRequest, UnparsableBody, BodyTooLarge: as ``http.json_body``; a body that
            breaks the schema is a bind error (400), as in Wings.
        """
        body = {k: v for k, v in http.json_body(limit).items() if v is not None}
        problem = self._schema.problem(body)
        if problem is not None:
            raise errors.UnparsableBody(detail="%s: %s" % (problem.where or "body", problem.what))
        return self._schema.with_defaults(body)

    def all_responses(self):
        """Declared responses plus the errors implied by the declaration."""
        implied = {}
        if self.auth in (NODE, TRANSFER):
            implied[401] = Response("No bearer token.", ERROR)
            implied[403] = Response("Wrong token.", ERROR)
        if self.auth == SIGNED:
            implied[403] = Response("Invalid, expired or misused token.", ERROR)
        if "server" in self.path_params:
            implied[404] = Response("No such server on this node.", ERROR)
        if self.takes_json:
            implied[400] = Response("Empty, unparsable or ill-typed body.", ERROR)
            implied[413] = Response("Body larger than the node accepts.", ERROR)
        implied.update(self.responses)
        return dict(sorted(implied.items()))


def route(app, endpoint, **config):
    """Install ``callback`` for ``endpoint`` on the bottle ``app``."""
    def decorate(callback):
        app.route(endpoint.path, method=endpoint.method, callback=callback,
                  endpoint=endpoint, **config)
        return callback
    return decorate
