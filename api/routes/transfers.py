"""Server transfers between nodes (wings-api.md §9): the source's routes, which its worker
serves, and the destination's, which receive the archive here (``api.transfers``)."""

import logging

import bottle

from api import http
from wingspan import commands, errors, tokens

log = logging.getLogger(__name__)

# The source stops a running server first, for up to 15 s (§9.1).
START_TIMEOUT = 30.0


def install(app, ctx):
    limit = lambda: ctx.cfg.wingspan.max_request_body  # noqa: E731 (read live: config can change)

    @app.post("/api/servers/<server>/transfer")
    def start_outgoing(server):
        body = http.json_body(limit())
        url = http.field(body, "url", str, "")
        token = http.field(body, "token", str, "")
        if not url or not token:
            raise errors.UnparsableBody(detail="url and token are required")
        ctx.client.call(commands.TRANSFER_OUT, server.uuid, {"url": url, "token": token},
                        timeout=START_TIMEOUT)
        return http.empty_response(202)

    @app.delete("/api/servers/<server>/transfer")
    def cancel_outgoing(server):
        ctx.client.call(commands.CANCEL_TRANSFER_OUT, server.uuid)
        return http.empty_response(202)

    @app.post("/api/transfers", auth=False)
    def receive():
        raw = http.bearer(http.authorization())
        token = tokens.parse_transfer_token(raw, ctx.cfg.token)
        ctx.incoming.receive(token.server_uuid, bottle.request.environ)
        return http.empty_response(200)

    @app.delete("/api/transfers/<server>")
    def cancel_incoming(server):
        ctx.incoming.cancel(server.uuid)
        return http.empty_response(202)
