"""Node-level routes: ``GET /api/system`` (wings-api.md §3.1), ``POST /api/update`` (§3.2)
and ``POST /api/deauthorize-user`` (§16)."""

import functools
import logging
import os
import platform

import gevent

from api import http
from api.routes.websocket import close_sessions_of
from wingspan import __version__, commands, errors, tokens

log = logging.getLogger(__name__)

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


def architecture():
    machine = platform.machine()
    return GO_ARCH.get(machine, machine)


def os_pretty_name(path="/etc/os-release"):
    """``PRETTY_NAME``, else ``NAME``, else None."""
    values = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip('"')
    except OSError:
        return None
    return values.get("PRETTY_NAME") or values.get("NAME")


@functools.cache  # fixed for the life of the process, as Wings reads them once at start
def system_v1():
    return {"architecture": architecture(), "cpu_count": os.cpu_count(),
            "kernel_version": platform.release(), "os": "linux", "version": __version__}


def system_v2(engine):
    info, version = engine.info(), engine.version()
    runc = (info.get("RuncCommit") or {}).get("ID", "")
    backing = dict(info.get("DriverStatus") or []).get("Backing Filesystem", "")
    return {
        "version": __version__,
        "docker": {
            "version": version.get("Version", ""),
            "cgroups": {"driver": info.get("CgroupDriver", ""),
                        "version": info.get("CgroupVersion", "")},
            "containers": {"total": info.get("Containers", 0),
                           "running": info.get("ContainersRunning", 0),
                           "paused": info.get("ContainersPaused", 0),
                           "stopped": info.get("ContainersStopped", 0)},
            "storage": {"driver": info.get("Driver", ""), "filesystem": backing},
            "runc": {"version": runc},
        },
        "system": {
            "architecture": architecture(),
            "cpu_threads": os.cpu_count(),
            "memory_bytes": info.get("MemTotal", 0),
            "kernel_version": platform.release(),
            "os": os_pretty_name() or info.get("OperatingSystem", ""),
            "os_type": "linux",
        },
    }


def install(app, ctx):
    install_update(app, ctx)
    install_deauthorize(app, ctx)

    @app.get("/api/system")
    def get_system():
        if http.query("v") == "2":
            return http.json_response(system_v2(ctx.engine))
        return http.json_response(system_v1())


def reload_everywhere(ctx):
    """Tell the supervisor and every worker to re-read config.yml (token rotation)."""
    targets = [(None, commands.RELOAD_CONFIG)]
    targets += [(uuid, commands.RELOAD_SERVER_CONFIG) for uuid in list(ctx.registry.views)]
    for server, command in targets:
        try:
            ctx.client.call(command, server, timeout=5.0)
        except errors.WingspanError as e:
            log.warning("config reload not confirmed by %s: %s", server or "supervisor", e)


def install_update(app, ctx):
    @app.post("/api/update")
    def update_configuration():
        if ctx.cfg.ignore_panel_config_updates:
            return http.json_response({"applied": False})
        body = http.json_body(ctx.cfg.wingspan.max_request_body)
        updated = ctx.cfg.apply_update(body)
        try:
            updated.save(ctx.config_path)
        except OSError as e:
            raise errors.WingspanError(
                detail="could not write %s: %s" % (ctx.config_path, e)) from e
        ctx.cfg = updated
        gevent.spawn(reload_everywhere, ctx)
        return http.json_response({"applied": True})


def deauthorization(body):
    """``(user, servers)`` of a deauthorize-user body, lower case, servers without
    repeats; no servers means every server (§16). A wrong JSON type is a bind error (400),
    a value that is not a UUID 422."""
    user = http.field(body, "user", str, "")
    servers = http.field(body, "servers", list, [])
    if not all(isinstance(server, str) for server in servers):
        raise errors.UnparsableBody(detail="servers must be strings")
    if not tokens.is_uuid(user):
        raise errors.ValidationFailed(detail="user %r is not a UUID" % user)
    for server in servers:
        if not tokens.is_uuid(server):
            raise errors.ValidationFailed(detail="server %r is not a UUID" % server)
    return user.lower(), list(dict.fromkeys(server.lower() for server in servers))


def install_deauthorize(app, ctx):
    @app.post("/api/deauthorize-user")
    def deauthorize_user():
        """Revoke the user's tokens (kept across restarts), close their websockets and
        tell the other processes (SFTP closes their sessions) with ``daemon.deauthorize``.
        """
        user, servers = deauthorization(http.json_body(ctx.cfg.wingspan.max_request_body))
        try:
            ctx.denylist.deauthorize(user, servers)
        except OSError as e:
            log.error("user %s is deauthorized only until the API restarts: could not save "
                      "%s: %s", user, ctx.denylist.path, e)
        closed = close_sessions_of(ctx.hub, user, servers)
        ctx.publisher.publish(None, "deauthorize", {"user": user, "servers": servers})
        log.info("deauthorized user %s on %s (%d websockets closed)", user,
                 ", ".join(servers) or "every server", closed)
        return http.empty_response(204)
