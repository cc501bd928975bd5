"""Start latency: power start to ``running`` through wingspan, against raw docker-py
create + start + attach until the same done line in the same run, with the very container
body wingspan sends for the server (same image, network, limits, ports and mounts), so the
ratio is what the daemon adds and not what a different container costs Docker."""

import statistics
import time

from bench.figures import Figure
from bench.node import BenchNode
from tests.support.fakepanel import TEST_LABEL
from tests.support.polling import wait_until
from wingspan import config, container
from wingspan.server_config import ServerDefinition

ROUNDS = 5
READ_TIMEOUT = 30
DONE = b"Server started"


class RawStartFailed(RuntimeError):
    """The container started without wingspan ended before printing its done line."""


def wingspan_container_body(node, uuid, label):
    """What wingspan posts to ``/containers/create`` for this server (its config as the
    daemon saved it at boot, the server as the Panel defines it)."""
    cfg = config.load(node.daemon.config_path)
    definition = ServerDefinition.from_panel(node.panel.servers[uuid],
                                             cfg.system.crash_detection.enabled)
    body = container.server_container_config(definition, cfg)
    body["Labels"][TEST_LABEL] = label
    return body


def raw_start(client, body, name):
    started = time.perf_counter()
    api = client.api
    api.create_container_from_config(body, name=name)
    sock = api.attach_socket(name, params={"stdin": 1, "stdout": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(READ_TIMEOUT)
    api.start(name)
    seen = b""
    while DONE not in seen:
        data = raw.recv(4096)
        if not data:
            raise RawStartFailed("%s ended before %r" % (name, DONE))
        seen += data
    elapsed = time.perf_counter() - started
    sock.close()
    api.remove_container(name, force=True)
    return elapsed


def wingspan_start(daemon, uuid):
    started = time.perf_counter()
    daemon.power(uuid, "start")
    wait_until(lambda: daemon.state(uuid) == "running", timeout=30, interval=0.01,
               what="the server running")
    elapsed = time.perf_counter() - started
    daemon.power(uuid, "kill")
    wait_until(lambda: daemon.state(uuid) == "offline", timeout=30, interval=0.05,
               what="the server offline")
    return elapsed


def run():
    node = BenchNode(1)
    uuid = node.uuids[0]
    ours, raw = [], []
    try:
        node.daemon.start()
        body = wingspan_container_body(node, uuid, node.label)
        for i in range(ROUNDS):
            ours.append(wingspan_start(node.daemon, uuid))
            raw.append(raw_start(node.client, body, "wingspan-%s-raw-%d" % (node.label, i)))
    finally:
        node.close()
    return [Figure("start to running (median of %d), s" % ROUNDS, statistics.median(ours),
                   statistics.median(raw), unit="s", target="ratio <= 1.3")]
