"""Starting the API process: bus client, registry, event pump and the WSGI server."""

import gc
import logging
import os
import signal
import socket
import time

import gevent
from gevent.pywsgi import WSGIServer

from api import http
from api.app import ApiContext, make_app
from api.hub import Hub
from api.registry import Registry
from api.routes.websocket import WebsocketGate
from wingspan import bus, envelope, lifeline, logs
from wingspan.config import ConfigError, reload
from wingspan.startup import runtime_flags, take_reloads
from wingspan.tokens import Denylist

log = logging.getLogger(__name__)

# The users' deauthorizations (wings-api.md §16), beside states.json.
DEAUTHORIZED = "deauthorized.json"


def pump_events(feed, registry, hub):
    """Feed every worker event to the registry, then to the websocket sessions."""
    for uuid, name, data, published in feed:
        registry.apply_event(uuid, name, data)
        hub.dispatch(uuid, name, data, published)
        if name == "deleted":
            registry.remove(uuid)


def reload_config(ctx):
    """SIGHUP: adopt config.yml as ``wingspan.config.reload`` gives it (routes read
    ``ctx.cfg`` at every request); an invalid file changes nothing."""
    try:
        cfg, _ = reload(ctx.cfg, ctx.config_path)
    except ConfigError as e:
        log.error("config not reloaded, the running configuration is kept: %s", e)
        return
    ctx.cfg = ctx.registry.cfg = cfg
    logs.set_debug(runtime_flags()[0] or cfg.debug)
    log.info("reloaded %s", ctx.config_path)


def listener(host, port):
    """The API's listening socket, with Nagle off before it listens.

    Connections take their options from the listener when the kernel completes their
    handshake, which may be before they are accepted: set after ``listen``, connections
    made in between (a browser's console reconnecting as the node restarts) would keep
    Nagle for life, and a keep-alive client's delayed ACK would then hold every response
    body, which bottle sends after the headers, and every websocket frame back by 40 ms."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)  # the kernel's limit, as Go's listeners (Wings) take
    except OSError:
        sock.close()
        raise
    return sock


def wsgi_server(cfg, app, handler_class):
    """gevent's WSGI server on the API's listener.

    ``SERVER_NAME`` is given: gevent would otherwise look the listening address up in the
    DNS (``getfqdn``) before it serves, and a node whose resolver does not answer would
    keep its API closed for the resolver's timeouts."""
    return WSGIServer(listener(cfg.api.host, cfg.api.port), app,
                      environ={"SERVER_NAME": cfg.api.host}, handler_class=handler_class,
                      log=None, error_log=logging.getLogger("api.wsgi"), **ssl_arguments(cfg))


def ssl_arguments(cfg):
    if not cfg.api.ssl.enabled:
        return {}
    return {"certfile": cfg.api.ssl.cert, "keyfile": cfg.api.ssl.key}


def serve(cfg, config_path, context, supervisor_pidfd):
    """Start serving; the process exits as soon as the supervisor behind
    ``supervisor_pidfd`` does (wingspan/lifeline.py)."""
    endpoints = bus.Endpoints(cfg.wingspan.run_directory)
    client = bus.BusClient(context, endpoints.control)
    publisher = bus.Publisher(context, endpoints.events_in)
    feed = bus.EventFeed(context, endpoints.events_out, (envelope.SERVER_EVENTS,))
    registry = Registry(cfg, client, feed)
    hub = Hub(on_watch=registry.follow_stats)
    denylist = Denylist(time.time(), os.path.join(cfg.system.root_directory, DEAUTHORIZED))
    ctx = ApiContext(cfg, config_path, client, publisher, registry, hub, denylist)
    lifeline.exit_with(supervisor_pidfd)
    gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(reload_config, ctx))
    take_reloads()
    gevent.spawn(pump_events, feed, registry, hub)
    registry.load()
    app = http.ErrorsAndHeaders(make_app(ctx), lambda: ctx.cfg)
    gate = WebsocketGate(ctx)
    server = wsgi_server(cfg, app, gate.handler_class())
    server.start()
    # What exists now lives as long as the process: kept out of every full collection,
    # which otherwise walks it all while holding the GIL.
    gc.collect()
    gc.freeze()
    log.info("listening on %s:%d", cfg.api.host, cfg.api.port)
    return server
