"""Server routes: list, create, details, delete, logs, install logs, power, commands,
install, sync, deny (wings-api.md §3.3–3.4, §4; install logs: Pelican, peers.md)."""

import logging
import os
import re
import stat

from api import http
from wingspan import commands, errors, panel

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


def wait_seconds(body):
    """Outside 0..300 becomes 30 (§4.4)."""
    value = http.field(body, "wait_seconds", int, 0)
    return 30 if value < 0 or value > 300 else value


def install(app, ctx):
    limit = lambda: ctx.cfg.wingspan.max_request_body  # noqa: E731 (read live: config can change)

    @app.get("/api/servers")
    def list_servers():
        return http.json_response([view.api_object() for view in ctx.registry.views.values()])

    @app.post("/api/servers")
    def create_server():
        body = http.json_body(limit())
        uuid = http.field(body, "uuid", str, "")
        start = http.field(body, "start_on_completion", bool, False)
        if not UUID_V4.match(uuid):
            raise errors.ValidationFailed()
        timeout = panel.longest_call(ctx.cfg) + CREATE_TIMEOUT
        summary = ctx.client.call(commands.CREATE_SERVER, args={
            "uuid": uuid, "start_on_completion": start}, timeout=timeout)
        ctx.registry.add(summary)
        return http.empty_response(202)

    @app.get("/api/servers/<server>")
    def server_details(server):
        return http.json_response(server.api_object())

    @app.delete("/api/servers/<server>")
    def delete_server(server):
        ctx.client.call(commands.DELETE_SERVER, args={"uuid": server.uuid}, timeout=30.0)
        ctx.registry.remove(server.uuid)
        return http.empty_response(204)

    @app.get("/api/servers/<server>/logs")
    def server_logs(server):
        result = ctx.client.call(commands.LOGS, server.uuid,
                                 {"size": log_size(http.query("size"))})
        return http.json_response({"data": result["lines"] or None})

    @app.get("/api/servers/<server>/install-logs")
    def install_logs(server):
        path = os.path.join(ctx.cfg.system.log_directory, "install", server.uuid + ".log")
        return http.json_response({"data": install_output(path)})

    @app.post("/api/servers/<server>/power")
    def power(server):
        body = http.json_body(limit())
        action = body.get("action")
        if action not in POWER_ACTIONS:
            raise errors.ValidationFailed(INVALID_POWER_ACTION)
        if action in ("start", "restart") and server.suspended:
            raise errors.ServerSuspended()
        args = {"action": action, "wait_seconds": wait_seconds(body)}
        try:
            ctx.client.call(commands.POWER, server.uuid, args)
        except (errors.PowerLocked, errors.ServerBusy, errors.Conflict,
                errors.ServerSuspended) as e:
            # Wings answers 202 first and refuses in the background; only the log knows
            log.info("power %s for %s refused: %s", action, server.uuid, e.public_message)
        return http.empty_response(202)

    @app.post("/api/servers/<server>/commands")
    def send_commands(server):
        if server.state == "offline":
            raise errors.ServerNotRunning()
        body = http.json_body(limit())
        cmds = http.field(body, "commands", list, [])
        if not all(isinstance(c, str) for c in cmds):
            raise errors.UnparsableBody(detail="commands must be strings")
        ctx.client.call(commands.COMMANDS, server.uuid, {"commands": cmds})
        return http.empty_response(204)

    @app.post("/api/servers/<server>/install")
    def install_server(server):
        ctx.client.call(commands.INSTALL, server.uuid)
        return http.empty_response(202)

    @app.post("/api/servers/<server>/reinstall")
    def reinstall_server(server):
        ctx.client.call(commands.REINSTALL, server.uuid)
        return http.empty_response(202)

    @app.post("/api/servers/<server>/sync")
    def sync_server(server):
        # the worker's Panel call fails as a 500 within this; a bus timeout (504) would
        # only mean the worker is stuck
        result = ctx.client.call(commands.SYNC, server.uuid,
                                 timeout=panel.longest_call(ctx.cfg) + 5)
        ctx.registry.apply_event(server.uuid, "definition", result["definition"])
        return http.empty_response(204)

    @app.post("/api/servers/<server>/ws/deny")
    def deny_tokens(server):
        body = http.json_body(limit())
        jtis = http.field(body, "jtis", list, [])
        ctx.denylist.deny([j for j in jtis if isinstance(j, str)])
        return http.empty_response(204)
