"""Node-level routes: ``GET /api/system`` (wings-api.md §3.1), ``POST /api/update`` (§3.2),
``POST /api/deauthorize-user`` (§16), and Pelican's node routes (peers.md):
``GET /api/diagnostics``, ``GET /api/system/utilization``, ``GET /api/system/ips``,
``GET /api/system/docker/disk`` and ``DELETE /api/system/docker/image/prune``."""

import functools
import logging
import os
import platform

import bottle
import gevent

from api import declare, http, openapi
from api.declare import BOOL, ERROR, INT, NO_CONTENT, STRING, Endpoint, Param, Response, \
    array, obj
from api.routes.websocket import close_sessions_of
from wingspan import __version__, commands, diagnostics, errors, host, tokens

log = logging.getLogger(__name__)

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


def architecture():
    machine = platform.machine()
    return GO_ARCH.get(machine, machine)


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
            "os": host.os_pretty_name() or info.get("OperatingSystem", ""),
            "os_type": "linux",
        },
    }


def boolean_query(name, default):
    """``true``/``false`` in any case; anything else is the default, as in Pelican."""
    value = (http.query(name) or "").lower()
    return {"true": True, "false": False}.get(value, default)


def diagnostics_log_lines():
    """``log_lines``: 1..500 (larger is 500), 200 when absent or not positive; not a
    number is a 400."""
    raw = http.query("log_lines")
    if raw is None or raw == "":
        return diagnostics.DEFAULT_LOG_LINES
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequest("log_lines must be a whole number.") from None
    if value <= 0:
        return diagnostics.DEFAULT_LOG_LINES
    return min(value, diagnostics.MAX_LOG_LINES)


def docker_disk_usage(df):
    """Pelican's ``DockerDiskUsage`` from Docker's ``GET /system/df``."""
    images = df.get("Images") or []
    return {
        "containers_size": sum(c.get("SizeRootFs") or 0 for c in df.get("Containers") or []),
        "images_total": len(images),
        "images_active": sum(1 for i in images if (i.get("Containers") or 0) > 0),
        "images_size": df.get("LayersSize") or 0,
        "build_cache_size": sum(b.get("Size") or 0 for b in df.get("BuildCache") or []
                                if not b.get("Shared")),
    }


def prune_labels():
    """``label=key=value`` query values (repeatable): only images carrying all of them are
    pruned. Pelican has no such filter; it lets an operator (and the tests) prune only
    what they labelled."""
    labels = []
    for raw in bottle.request.query.getall("label"):
        key, equals, value = raw.encode("latin-1").decode("utf-8", "replace").partition("=")
        if not key or not equals:
            raise errors.BadRequest("label must be key=value.")
        labels.append((key, value))
    return labels


def server_image_ids(ctx):
    """Ids of the local images the node's servers are defined with."""
    ids = set()
    for view in list(ctx.registry.views.values()):
        # a leading "~" marks a local-only image (wings-behaviour.md §3.9), not its name
        image = view.definition.container.image.removeprefix("~")
        image_id = ctx.engine.image_id(image) if image else None
        if image_id:
            ids.add(image_id)
    return ids


TAG = "node"
SYSTEM = Endpoint(
    "GET", "/api/system", "The node's software and hardware (wings-api.md §3.1).", TAG,
    query=[Param("v", "2 for the detailed form.")],
    responses={200: Response("Version 1, or 2 with ?v=2.", {"anyOf": [
        obj(("architecture", "cpu_count", "kernel_version", "os", "version"),
            architecture=STRING, cpu_count=INT, kernel_version=STRING, os=STRING,
            version=STRING),
        obj(("version", "docker", "system"), version=STRING, docker={"type": "object"},
            system={"type": "object"})]})})
UPDATE = Endpoint(
    "POST", "/api/update", "Apply the node configuration the Panel sends (§3.2).", TAG,
    body={"type": "object", "description": "config.yml's keys, as the Panel sends them"},
    responses={200: Response("Whether it was applied.", obj(("applied",), applied=BOOL)),
               422: Response("A value the configuration does not accept.", ERROR)})
DEAUTHORIZE = Endpoint(
    "POST", "/api/deauthorize-user", "Revoke a user's tokens and sessions (§16).", TAG,
    body=obj(user=dict(STRING, default=""), servers=array(STRING, default=[])),
    responses={204: NO_CONTENT, 422: Response("A user or server that is not a UUID.", ERROR)})
OPENAPI = Endpoint("GET", "/openapi.json", "This document.", TAG,
                   responses={200: Response("OpenAPI 3.1.", {"type": "object"}),
                              404: Response("Disabled by wingspan.disable_openapi_docs.",
                                            ERROR)})
DIAGNOSTICS = Endpoint(
    "GET", "/api/diagnostics", "The node's diagnostics report, secrets redacted (Pelican).",
    TAG, query=[Param("include_endpoints", "true: keep the Panel URL, addresses, TLS paths."),
                Param("include_logs", "false: leave wings.log out (default true)."),
                Param("log_lines", "Lines of wings.log, 1 to 500 (default 200).")],
    responses={200: Response("The report.", STRING, "text/plain"),
               400: Response("log_lines is not a number.", ERROR)})
UTILIZATION = Endpoint(
    "GET", "/api/system/utilization", "Host CPU, memory, swap, load and disks (Pelican).", TAG,
    responses={200: Response("The host's usage.", {"type": "object"})})
IPS = Endpoint("GET", "/api/system/ips", "The host's addresses, link-local left out (Pelican).",
               TAG, responses={200: Response("The addresses.", obj(
                   ("ip_addresses",), ip_addresses=array(STRING)))})
DOCKER_DISK = Endpoint(
    "GET", "/api/system/docker/disk", "Docker's disk use (Pelican).", TAG,
    responses={200: Response("Sizes in bytes.", obj(
        ("containers_size", "images_total", "images_active", "images_size",
         "build_cache_size"), containers_size=INT, images_total=INT, images_active=INT,
        images_size=INT, build_cache_size=INT))})
PRUNE_IMAGES = Endpoint(
    "DELETE", "/api/system/docker/image/prune", "Remove untagged images no server uses "
    "(Pelican).", TAG, query=[Param("label", "key=value: only images with this label "
                                             "(repeatable).")],
    responses={200: Response("Docker's prune report.", {"type": "object"}),
               400: Response("A label that is not key=value.", ERROR)})


def install(app, ctx):
    install_update(app, ctx)
    install_deauthorize(app, ctx)
    install_pelican(app, ctx)

    @declare.route(app, OPENAPI)
    def openapi_document():
        if ctx.cfg.wingspan.disable_openapi_docs:
            raise errors.RouteNotFound()
        return http.json_response(openapi.document())

    @declare.route(app, SYSTEM)
    def get_system():
        if http.query("v") == "2":
            return http.json_response(system_v2(ctx.engine))
        return http.json_response(system_v1())


def install_pelican(app, ctx):
    @declare.route(app, DIAGNOSTICS)
    def get_diagnostics():
        include_endpoints = boolean_query("include_endpoints", False)
        include_logs = boolean_query("include_logs", True)
        log_lines = diagnostics_log_lines()
        text = diagnostics.generate(ctx.cfg, lambda: ctx.engine, log_lines=log_lines,
                                    include_endpoints=include_endpoints,
                                    include_logs=include_logs)
        response = bottle.HTTPResponse(body=text.encode("utf-8"))
        response.content_type = "text/plain; charset=utf-8"
        return response

    @declare.route(app, UTILIZATION)
    def get_utilization():
        return http.json_response(host.utilization(ctx.cfg))

    @declare.route(app, IPS)
    def get_ips():
        return http.json_response({"ip_addresses": host.ip_addresses(
            ctx.cfg.docker.system_ips)})

    @declare.route(app, DOCKER_DISK)
    def get_docker_disk():
        return http.json_response(docker_disk_usage(ctx.engine.disk_usage()))

    @declare.route(app, PRUNE_IMAGES)
    def prune_images():
        labels = prune_labels()
        return http.json_response(ctx.engine.prune_images(server_image_ids(ctx), labels))


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
    @declare.route(app, UPDATE)
    def update_configuration(body):
        if ctx.cfg.ignore_panel_config_updates:
            return http.json_response({"applied": False})
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
    repeats; no servers means every server (§16). A value that is not a UUID is a 422."""
    user, servers = body["user"], body["servers"]
    if not tokens.is_uuid(user):
        raise errors.ValidationFailed(detail="user %r is not a UUID" % user)
    for server in servers:
        if not tokens.is_uuid(server):
            raise errors.ValidationFailed(detail="server %r is not a UUID" % server)
    return user.lower(), list(dict.fromkeys(server.lower() for server in servers))


def install_deauthorize(app, ctx):
    @declare.route(app, DEAUTHORIZE)
    def deauthorize_user(body):
        """Revoke the user's tokens (kept across restarts), close their websockets and
        tell the other processes (SFTP closes their sessions) with ``daemon.deauthorize``.
        """
        user, servers = deauthorization(body)
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
