"""The bottle application: routes, the auth/lookup plugin and the shared context.

Routes live in ``api/routes/<area>.py``; each module declares its endpoints
(``api.declare.Endpoint``) and has ``install(app, ctx)``. A route is node-token protected
when its declaration says so (a path no route matches is too, so that only a client with
the token learns what is not there); a ``server`` URL argument is resolved to its
``ServerView`` after authentication (an unauthenticated request for an unknown server
gets 401), and a declared JSON body is read and validated before the handler runs.
"""

import logging

import bottle

from api import declare, http
from api.files import ServerFiles
from api.transfers import IncomingTransfers
from wingspan import activity, errors
from wingspan.engine import Engine
from wingspan.tokens import OneTimeStore

log = logging.getLogger(__name__)


class ApiContext:
    """What the routes share: live config, bus client and publisher, server registry,
    token state.

    The config is replaced as a whole by ``POST /api/update``; routes read ``ctx.cfg``
    on every request so a rotated token applies at once.
    """

    def __init__(self, cfg, config_path, client, publisher, registry, hub, denylist):
        self.cfg = cfg
        self.config_path = config_path
        self.client = client
        self.publisher = publisher
        self.registry = registry
        self.hub = hub
        self.denylist = denylist
        self.activity = activity.Sender(client)
        self.one_time = OneTimeStore()
        self.files = ServerFiles(self)
        self.engine = Engine()
        self.incoming = IncomingTransfers(self)


class ApiPlugin:
    """Auth, server lookup and error translation around every route callback."""

    name = "wingspan"
    api = 2

    def __init__(self, ctx):
        self.ctx = ctx

    def apply(self, callback, route):
        endpoint = route.config.get("endpoint")
        needs_auth = endpoint.auth == declare.NODE if endpoint else route.config.get("auth", True)
        takes_json = endpoint is not None and endpoint.takes_json
        ctx = self.ctx

        def wrapper(*args, **kwargs):
            try:
                if needs_auth:
                    http.check_node_token(ctx.cfg, http.authorization())
                if "server" in kwargs:
                    kwargs["server"] = ctx.registry.get(kwargs["server"])
                if takes_json:
                    kwargs["body"] = endpoint.read_body(ctx.cfg.wingspan.max_request_body)
                return callback(*args, **kwargs)
            except errors.WingspanError as e:
                if e.status >= 500:
                    # Only a 500 is the daemon failing; 502-504 are passing states (a stopped
                    # server, a worker being replaced), not worth an operator's alert.
                    log.log(logging.ERROR if e.status == 500 else logging.WARNING,
                            "%s %s failed: %s", bottle.request.method, bottle.request.path, e)
                return http.error_response(e, http.request_id())
            except bottle.HTTPResponse:
                raise
            except Exception:  # the client gets a JSON 500 with the request id, never a traceback
                log.exception("%s %s crashed (request %s)", bottle.request.method,
                              bottle.request.path, http.request_id())
                return http.error_response(errors.WingspanError(), http.request_id())

        return wrapper


def make_app(ctx):
    """Build the WSGI application (without the outer headers middleware)."""
    from api.routes import MODULES
    app = bottle.Bottle()
    # errors become JSON bodies in http.ErrorsAndHeaders, and every route builds its own
    # response: bottle neither catches exceptions nor encodes returned dicts
    app.config["catchall"] = False
    app.uninstall("json")
    app.install(ApiPlugin(ctx))
    for module in MODULES:
        module.install(app, ctx)

    @app.route("/<path:path>", method="ANY")
    def unknown_route(path):
        raise errors.RouteNotFound()

    @app.route("/", method="ANY")
    def root():
        raise errors.RouteNotFound()

    return app
