"""The SFTP process: the SSH listener, its bus clients and its lifeline.

One asyncio loop serves every connection; the Panel is asked in threads (its client is
blocking), as are the long file operations. The process exits with the supervisor.
"""

import asyncio
import concurrent.futures
import logging
import signal

import asyncssh

from sftp import hostkey
from sftp.handler import ServerSession
from sftp.login import LoginGate
from sftp.registry import Registry
from sftp.throttle import LoginThrottle
from wingspan import activity, aiobus, bus, lifeline, logs
from wingspan.config import ConfigError, reload
from wingspan.panel import panel_client
from wingspan.startup import runtime_flags, take_reloads

log = logging.getLogger(__name__)

# wings-behaviour.md §12.1: only these
KEX_ALGS = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group14-sha256"]
ENCRYPTION_ALGS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr",
                   "aes192-ctr", "aes256-ctr"]
MAC_ALGS = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"]
KEEPALIVE_INTERVAL = 60
PANEL_THREADS = 8


class Node:
    """What every connection of the process shares."""

    def __init__(self, cfg, panel, registry, activity_sender):
        self.cfg = cfg
        self.panel = panel
        self.registry = registry
        self.activity = activity_sender
        self.throttle = LoginThrottle(cfg.wingspan.sftp)
        self._panel_pool = concurrent.futures.ThreadPoolExecutor(
            PANEL_THREADS, thread_name_prefix="panel")

    async def ask_panel(self, body):
        """``POST /api/remote/sftp/auth`` in a thread: the Panel client blocks."""
        return await asyncio.get_running_loop().run_in_executor(
            self._panel_pool, self.panel.validate_sftp_credentials, body)

    def sftp_server(self, chan, login):
        return ServerSession(chan, self, login)

    def reload(self, verify_tls):
        """SIGHUP: adopt config.yml as ``wingspan.config.reload`` gives it; the limits apply
        from the next login or operation. New login limits start with a clean count."""
        try:
            cfg, _ = reload(self.cfg, self.cfg.source)
        except ConfigError as e:
            log.error("config not reloaded, the running configuration is kept: %s", e)
            return
        if cfg.wingspan.sftp != self.cfg.wingspan.sftp:
            self.throttle = LoginThrottle(cfg.wingspan.sftp)
        self.cfg = self.registry.cfg = cfg
        self.panel = panel_client(cfg, verify_tls=verify_tls)
        logs.set_debug(runtime_flags()[0] or cfg.debug)
        log.info("reloaded %s", cfg.source)


async def listen(cfg, node):
    """The listener; a port that cannot be bound ends the process with the reason logged
    (the supervisor starts it again with backoff)."""
    sftp = cfg.system.sftp
    key = hostkey.load_or_create(cfg.system.data)
    try:
        server = await _listen(cfg, node, key)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", sftp.bind_address, sftp.bind_port, e)
        raise SystemExit(1) from None
    log.info("SFTP listening on %s:%d", sftp.bind_address, sftp.bind_port)
    return server


async def _listen(cfg, node, key):
    sftp = cfg.system.sftp
    return await asyncssh.listen(
        sftp.bind_address, sftp.bind_port, server_factory=lambda: LoginGate(node),
        server_host_keys=[key], kex_algs=KEX_ALGS, encryption_algs=ENCRYPTION_ALGS,
        mac_algs=MAC_ALGS, compression_algs=["none"], allow_pty=False,
        agent_forwarding=False, x11_forwarding=False, kbdint_auth=False,
        login_timeout=cfg.wingspan.sftp.login_timeout, keepalive_interval=KEEPALIVE_INTERVAL,
        server_version="wingspan")


async def serve(cfg, supervisor_pidfd, verify_tls=True, on_listening=None):
    """Run until SIGTERM; the process exits as soon as the supervisor does.
    ``on_listening()`` is called once connections are taken."""
    loop = asyncio.get_running_loop()
    lifeline.exit_with_loop(supervisor_pidfd, loop)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    endpoints = bus.Endpoints(cfg.wingspan.run_directory)
    context = aiobus.context()
    client = aiobus.AsyncBusClient(context, endpoints.control)
    feed = aiobus.AsyncEventFeed(context, endpoints.events_out)
    registry = Registry(cfg, client, feed)
    follower = loop.create_task(registry.follow())
    await registry.load()
    reporter = loop.create_task(registry.report_forever())
    node = Node(cfg, panel_client(cfg, verify_tls=verify_tls), registry,
                activity.AsyncSender(client))
    loop.add_signal_handler(signal.SIGHUP, node.reload, verify_tls)
    take_reloads()
    server = await listen(cfg, node)
    if on_listening is not None:
        on_listening()
    await stop.wait()
    log.info("stopping")
    server.close()
    follower.cancel()
    reporter.cancel()
    for login in list(registry.logins):
        login.close()
