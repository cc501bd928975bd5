"""HTTP plumbing shared by every route: errors, request ids, CORS, auth, JSON bodies.

``ErrorsAndHeaders`` wraps the whole WSGI app so that every response (errors, 404s,
``OPTIONS`` preflights, even a crash) carries ``X-Request-Id`` and the CORS headers of
wings-api.md §1.3–1.4, and so that every ``WingspanError`` becomes its one JSON body.
"""

import hmac
import ipaddress
import json
import logging
import uuid

import bottle

from wingspan import errors, gojson

log = logging.getLogger(__name__)

REQUEST_ID = "wingspan.request_id"
CORS_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
CORS_HEADERS = ("Accept, Accept-Encoding, Authorization, Cache-Control, Content-Type, "
                "Content-Length, Origin, X-Real-IP, X-CSRF-Token")
JSON_TYPE = "application/json; charset=utf-8"


def allowed_origin(cfg, origin):
    """The ``Access-Control-Allow-Origin`` value for a request Origin (§1.4)."""
    if origin and origin != cfg.remote:
        for entry in cfg.allowed_origins:
            if entry == "*" or entry == origin:
                return entry
    return cfg.remote


def cors_headers(cfg, origin):
    headers = [
        ("Access-Control-Allow-Origin", allowed_origin(cfg, origin)),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", CORS_METHODS),
        ("Access-Control-Allow-Headers", CORS_HEADERS),
        ("Access-Control-Max-Age", "7200"),
    ]
    if cfg.allow_cors_private_network:
        headers.append(("Access-Control-Allow-Private-Network", "true"))
    return headers


def error_response(error, request_id):
    """The one translation of a ``WingspanError`` into an HTTP response."""
    response = bottle.HTTPResponse(status=error.status, body=json.dumps(error.body(request_id)))
    response.content_type = JSON_TYPE
    for name, value in error.headers.items():
        response.set_header(name, value)
    return response


class CheckedBody:
    """``wsgi.input`` for the routes: a body that ends before its Content-Length is an
    ``IncompleteBody`` (a 400) wherever it is read, not an ``OSError`` from the server."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, *args):
        return self._checked(self._stream.read, args)

    def readline(self, *args):
        return self._checked(self._stream.readline, args)

    @staticmethod
    def _checked(method, args):
        try:
            return method(*args)
        except OSError as e:
            raise errors.IncompleteBody(detail=str(e)) from e


class ErrorsAndHeaders:
    """WSGI middleware: request id + CORS on every response; OPTIONS answered here.

    Args:
        app: the bottle application.
        config: a callable returning the live config (it can change via /api/update).
    """

    def __init__(self, app, config):
        self.app = app
        self.config = config

    def __call__(self, environ, start_response):
        request_id = str(uuid.uuid4())
        environ[REQUEST_ID] = request_id
        environ["wsgi.input"] = CheckedBody(environ["wsgi.input"])
        extra = [("X-Request-Id", request_id)]
        extra += cors_headers(self.config(), environ.get("HTTP_ORIGIN"))
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            start_response("204 No Content", extra)
            return [b""]

        def start_with_headers(status, headers, exc_info=None):
            names = {name.lower() for name, _ in headers}
            headers = list(headers) + [(n, v) for n, v in extra if n.lower() not in names]
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_headers)


def request_id():
    return bottle.request.environ.get(REQUEST_ID)


def json_body(limit):
    """The request's JSON object, decoded as Go does (``wingspan.gojson``); ``null``
    counts as ``{}`` as in Wings.

    Raises:
        BadRequest: empty body (Wings' EOF message).
        BodyTooLarge: more than ``limit`` bytes.
        UnparsableBody: not JSON, or not an object.
    """
    length = bottle.request.content_length
    if length > limit:
        raise errors.BodyTooLarge()
    raw = bottle.request.body.read(limit + 1)
    if len(raw) > limit:
        raise errors.BodyTooLarge()
    if not raw.strip():
        raise errors.BadRequest()
    try:
        data = gojson.loads(raw)
    except ValueError as e:
        raise errors.UnparsableBody(detail="invalid JSON: %s" % e) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.UnparsableBody(detail="JSON body is not an object")
    return data


def field(body, name, kind, default=None):
    """A typed field of a JSON body; a wrong type is a bind error, as in Wings."""
    value = body.get(name, default)
    if value is None:
        return default
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise errors.UnparsableBody(detail="field %r has the wrong type" % name)
    return value


def authorization():
    """The ``Authorization`` header as WSGI's latin-1 text: bottle's ``get_header``
    decodes it again as UTF-8 and raises on a byte that is not, which must be a 403."""
    return bottle.request.environ.get("HTTP_AUTHORIZATION")


def bearer(header):
    """The token of an ``Authorization: Bearer <token>`` header (§1.5).

    Raises:
        MissingAuthorization: no header, another scheme, or no token.
    """
    scheme, _, token = (header or "").partition(" ")
    if scheme != "Bearer" or not _:
        raise errors.MissingAuthorization()
    return token


def check_node_token(cfg, header):
    """Bearer auth with the node token, compared in constant time (§1.5)."""
    token = bearer(header)
    if not cfg.token or not hmac.compare_digest(token.encode(), cfg.token.encode()):
        raise errors.Forbidden()


def json_response(data, status=200):
    response = bottle.HTTPResponse(status=status, body=json.dumps(data))
    response.content_type = JSON_TYPE
    return response


def empty_response(status):
    return bottle.HTTPResponse(status=status, body="")


UNSATISFIABLE = object()


def byte_range(header, size):
    """``(first, last)`` of a single ``bytes=`` range of a ``size``-byte body, None when
    the whole body is to be sent (no header, a malformed one, several ranges), or
    UNSATISFIABLE when the range starts past the end."""
    unit, _, spec = (header or "").partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) \
            or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        length = int(last)
        if length == 0:
            return UNSATISFIABLE
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return UNSATISFIABLE
    if end < start:
        return None
    return start, end


def attachment(filename):
    """``Content-Disposition`` of a download: the name quoted like Go's ``strconv.Quote``,
    its UTF-8 bytes carried through WSGI's latin-1 header strings unchanged."""
    quoted = json.dumps(filename, ensure_ascii=False)
    return "attachment; filename=%s" % quoted.encode("utf-8", "surrogateescape").decode("latin-1")


def query(name, default=None):
    """A query-string value; the first one wins when repeated, as in Go (§1.7).

    Bottle unquotes ``%XX`` into latin-1 text; the bytes are UTF-8, as in Go, and a byte
    that is not becomes U+FFFD (a name the Panel can show and send back)."""
    values = bottle.request.query.getall(name)
    if not values:
        return default
    return values[0].encode("latin-1").decode("utf-8", "replace")


def client_ip(environ, trusted_proxies):
    """The address of the user behind a request, as gin's ``ClientIP`` finds it (Wings uses
    it for activity): the TCP peer, unless the peer is one of ``api.trusted_proxies``; then
    the last address in ``X-Forwarded-For`` that is not a trusted proxy (or its first),
    else ``X-Real-IP``."""
    peer = environ.get("REMOTE_ADDR", "")
    networks = _networks(trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",")] if forwarded else []
    for index in range(len(hops) - 1, -1, -1):
        if _address(hops[index]) is None:
            break
        if index == 0 or not _trusted(hops[index], networks):
            return hops[index]
    real = environ.get("HTTP_X_REAL_IP", "").strip()
    return real if _address(real) is not None else peer


def _networks(entries):
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _address(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(text, networks):
    address = _address(text)
    return address is not None and any(address in network for network in networks)
