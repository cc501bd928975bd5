"""Server transfers between nodes (wings-api.md §9): the source's routes, which its worker
serves, and the destination's, which receive the archive here (``api.transfers``)."""

import logging

import bottle

from api import declare, http
from api.declare import ERROR, STRING, TRANSFER, Endpoint, Response, obj
from wingspan import commands, errors, tokens

log = logging.getLogger(__name__)

# The source stops a running server first, for up to 15 s (§9.1).
START_TIMEOUT = 30.0


TAG = "transfers"
ACCEPTED = Response("Accepted.")
NOT_TRANSFERRING = Response("No transfer of this server is running.", ERROR)
START = Endpoint(
    "POST", "/api/servers/<server>/transfer", "Send the server to another node "
    "(wings-api.md §9.1).", TAG,
    body=obj(url=dict(STRING, default=""), token=dict(STRING, default=""),
             server={"type": "object"},
             backups=dict({"type": "array", "items": STRING}, default=[])),
    responses={202: ACCEPTED, 409: Response("A transfer or another job is running.", ERROR)})
CANCEL = Endpoint("DELETE", "/api/servers/<server>/transfer", "Cancel an outgoing transfer "
                  "(§9.2).", TAG, responses={202: ACCEPTED, 409: NOT_TRANSFERRING})
RECEIVE = Endpoint(
    "POST", "/api/transfers", "Receive a server from another node (§9.3).", TAG,
    auth=TRANSFER, body=declare.MULTIPART,
    responses={200: Response("Received, extracted and verified."),
               400: Response("Not the archive and checksum parts, or a bad archive.", ERROR),
               409: Response("The server is already on this node.", ERROR)})
CANCEL_INCOMING = Endpoint("DELETE", "/api/transfers/<server>", "Cancel an incoming transfer "
                           "(§9.4).", TAG, responses={202: ACCEPTED, 409: NOT_TRANSFERRING})


def install(app, ctx):
    @declare.route(app, START)
    def start_outgoing(server, body):
        url, token, backup_uuids = body["url"], body["token"], body["backups"]
        if not url or not token:
            raise errors.UnparsableBody(detail="url and token are required")
        ctx.client.call(commands.TRANSFER_OUT, server.uuid,
                        {"url": url, "token": token, "backups": backup_uuids},
                        timeout=START_TIMEOUT)
        return http.empty_response(202)

    @declare.route(app, CANCEL)
    def cancel_outgoing(server):
        ctx.client.call(commands.CANCEL_TRANSFER_OUT, server.uuid)
        return http.empty_response(202)

    @declare.route(app, RECEIVE)
    def receive():
        raw = http.bearer(http.authorization())
        token = tokens.parse_transfer_token(raw, ctx.cfg.token)
        ctx.incoming.receive(token.server_uuid, bottle.request.environ)
        return http.empty_response(200)

    @declare.route(app, CANCEL_INCOMING)
    def cancel_incoming(server):
        ctx.incoming.cancel(server.uuid)
        return http.empty_response(202)
