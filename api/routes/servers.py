"""Server routes: list, create, details, delete, logs, install logs, power, commands,
install, sync, deny (wings-api.md §3.3–3.4, §4; install logs: Pelican, peers.md)."""

import logging
import os
import re
import stat

from api import declare, http
from api.declare import BOOL, ERROR, INT, NO_CONTENT, STRING, Endpoint, Param, Response, \
    array, obj
from wingspan import commands, errors
from wingspan.panel_retry import longest_call

log = logging.getLogger(__name__)

UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
POWER_ACTIONS = ("start", "stop", "restart", "kill")
INVALID_POWER_ACTION = ('The power action provided was not valid, should be one of "stop", '
                        '"start", "restart", "kill"')
CREATE_TIMEOUT = 60.0
LOG_SIZE_DEFAULT = 100
# What install logs hold before the script's output (worker/install.py): the container's
# environment, which can carry a user's secrets and is not served.
SCRIPT_OUTPUT_MARK = b"| Script Output\n| ------------------------------\n"
INSTALL_LOG_MAX_BYTES = 8 * 1024 * 1024


def log_size(raw):
    """``size`` query: non-numeric or <= 0 -> 100; capped at 100 (§4.3)."""
    try:
        size = int(raw)
    except (TypeError, ValueError):
        return LOG_SIZE_DEFAULT
    return LOG_SIZE_DEFAULT if size <= 0 else min(size, LOG_SIZE_DEFAULT)


def install_output(path, max_bytes=INSTALL_LOG_MAX_BYTES):
    """The script output of an install log (Pelican's ``GET /install-logs``): what follows
    its header; only the last ``max_bytes``, from a line start, of a longer one.

    Raises:
        InstallLogMissing: there is no such log (or it is not a regular file).
    """
    try:
        # O_NONBLOCK: a FIFO put in its place does not hang the request
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise errors.InstallLogMissing(detail="%s: %s" % (path, e.strerror)) from e
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise errors.InstallLogMissing(detail="%s is not a regular file" % path)
        size = info.st_size
        if size > max_bytes:
            f.seek(size - max_bytes)
            data = f.read(max_bytes)
            return data[data.find(b"\n") + 1:].decode("utf-8", "replace")
        data = f.read()
    _, mark, output = data.partition(SCRIPT_OUTPUT_MARK)
    # Without the mark the header was cut short: nothing of it is served.
    return output.decode("utf-8", "replace") if mark else ""


def wait_seconds(value):
    """Outside 0..300 becomes 30 (§4.4)."""
    return 30 if value < 0 or value > 300 else value


TAG = "servers"
SERVER = obj(("state", "is_suspended", "utilization", "configuration"),
             state={"enum": ["offline", "starting", "running", "stopping"]},
             is_suspended=BOOL, utilization=commands.USAGE,
             configuration=obj(("uuid",), uuid=STRING))
ACCEPTED = Response("Accepted; it runs in the background.")
NOT_RUNNING = Response("The server is not running.", ERROR)
BUSY = Response("The server is busy (installing, transferring or restoring).", ERROR)
WORKER_DOWN = Response("The server's worker is restarting; try again.", ERROR)

LIST = Endpoint("GET", "/api/servers", "Every server on this node (wings-api.md §3.3).", TAG,
                responses={200: Response("The servers.", array(SERVER))})
CREATE = Endpoint(
    "POST", "/api/servers", "Create a server from the Panel's configuration (§3.4).", TAG,
    body=obj(("uuid",), uuid=STRING, start_on_completion=dict(BOOL, default=False)),
    responses={202: ACCEPTED, 409: Response("A server with that uuid exists.", ERROR),
               422: Response("The uuid is not a UUID v4.", ERROR),
               500: Response("The Panel did not answer with the server.", ERROR)})
DETAILS = Endpoint("GET", "/api/servers/<server>", "The server's state, usage and "
                   "configuration (§4.1).", TAG, responses={200: Response("The server.", SERVER)})
DELETE = Endpoint("DELETE", "/api/servers/<server>", "Delete the server, its container and "
                  "files (§4.2).", TAG, responses={204: NO_CONTENT})
LOGS = Endpoint("GET", "/api/servers/<server>/logs", "The last console lines (§4.3).", TAG,
                query=[Param("size", "Lines wanted, 1 to 100 (default 100).")],
                responses={200: Response("The lines, oldest first (null when none).",
                                         obj(("data",), data={"type": ["array", "null"],
                                                              "items": STRING}))})
INSTALL_LOGS = Endpoint(
    "GET", "/api/servers/<server>/install-logs", "The output of the last install script "
    "(Pelican).", TAG,
    responses={200: Response("The output.", obj(("data",), data=STRING))})
POWER = Endpoint(
    "POST", "/api/servers/<server>/power", "Start, stop, restart or kill (§4.4).", TAG,
    body=obj(("action",), action=dict(STRING, description="start, stop, restart or kill"),
             wait_seconds=dict(INT, default=0)),
    responses={202: ACCEPTED, 400: Response("Suspended (start, restart).", ERROR),
               422: Response("Not a power action.", ERROR), 503: WORKER_DOWN})
COMMANDS = Endpoint("POST", "/api/servers/<server>/commands", "Send console commands "
                    "(§4.5).", TAG, body=obj(commands=array(STRING, default=[])),
                    responses={204: NO_CONTENT, 502: NOT_RUNNING})
INSTALL = Endpoint("POST", "/api/servers/<server>/install", "Run the egg's install script "
                   "(§4.6).", TAG, responses={202: ACCEPTED, 409: BUSY})
REINSTALL = Endpoint("POST", "/api/servers/<server>/reinstall", "Stop, sync and install "
                     "again (§4.7).", TAG, responses={202: ACCEPTED, 409: BUSY})
SYNC = Endpoint("POST", "/api/servers/<server>/sync", "Fetch the configuration from the Panel "
                "again (§4.8).", TAG,
                responses={204: NO_CONTENT,
                           500: Response("The Panel did not answer with the server.", ERROR)})
DENY = Endpoint("POST", "/api/servers/<server>/ws/deny", "Revoke websocket tokens by jti "
                "(§4.9).", TAG, body=obj(jtis=array(STRING, default=[])),
                responses={204: NO_CONTENT})


def install(app, ctx):
    @declare.route(app, LIST)
    def list_servers():
        views = list(ctx.registry.views.values())
        ctx.registry.refresh_utilizations(views)
        return http.json_response([view.api_object() for view in views])

    @declare.route(app, CREATE)
    def create_server(body):
        if not UUID_V4.match(body["uuid"]):
            raise errors.ValidationFailed()
        timeout = longest_call(ctx.cfg) + CREATE_TIMEOUT
        summary = ctx.client.call(commands.CREATE_SERVER, args={
            "uuid": body["uuid"], "start_on_completion": body["start_on_completion"]},
            timeout=timeout)
        ctx.registry.add(summary)
        return http.empty_response(202)

    @declare.route(app, DETAILS)
    def server_details(server):
        ctx.registry.utilization(server)
        return http.json_response(server.api_object())

    @declare.route(app, DELETE)
    def delete_server(server):
        ctx.client.call(commands.DELETE_SERVER, args={"uuid": server.uuid}, timeout=30.0)
        ctx.registry.remove(server.uuid)
        return http.empty_response(204)

    @declare.route(app, LOGS)
    def server_logs(server):
        result = ctx.client.call(commands.LOGS, server.uuid,
                                 {"size": log_size(http.query("size"))})
        return http.json_response({"data": result["lines"] or None})

    @declare.route(app, INSTALL_LOGS)
    def install_logs(server):
        path = os.path.join(ctx.cfg.system.log_directory, "install", server.uuid + ".log")
        return http.json_response({"data": install_output(path)})

    @declare.route(app, POWER)
    def power(server, body):
        action = body["action"]
        if action not in POWER_ACTIONS:
            raise errors.ValidationFailed(INVALID_POWER_ACTION)
        if action in ("start", "restart") and server.suspended:
            raise errors.ServerSuspended()
        args = {"action": action, "wait_seconds": wait_seconds(body["wait_seconds"])}
        try:
            ctx.client.call(commands.POWER, server.uuid, args)
        except (errors.PowerLocked, errors.ServerBusy, errors.Conflict,
                errors.ServerSuspended) as e:
            # Wings answers 202 first and refuses in the background; only the log knows
            log.info("power %s for %s refused: %s", action, server.uuid, e.public_message)
        return http.empty_response(202)

    @declare.route(app, COMMANDS)
    def send_commands(server, body):
        if server.state == "offline":
            raise errors.ServerNotRunning()
        ctx.client.call(commands.COMMANDS, server.uuid, {"commands": body["commands"]})
        return http.empty_response(204)

    @declare.route(app, INSTALL)
    def install_server(server):
        ctx.client.call(commands.INSTALL, server.uuid)
        return http.empty_response(202)

    @declare.route(app, REINSTALL)
    def reinstall_server(server):
        ctx.client.call(commands.REINSTALL, server.uuid)
        return http.empty_response(202)

    @declare.route(app, SYNC)
    def sync_server(server):
        # the worker's Panel call fails as a 500 within this; a bus timeout (504) would
        # only mean the worker is stuck
        result = ctx.client.call(commands.SYNC, server.uuid,
                                 timeout=longest_call(ctx.cfg) + 5)
        ctx.registry.apply_event(server.uuid, "definition", result["definition"])
        return http.empty_response(204)

    @declare.route(app, DENY)
    def deny_tokens(server, body):
        ctx.denylist.deny(body["jtis"])
        return http.empty_response(204)
