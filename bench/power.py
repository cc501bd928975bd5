"""Start latency: power start to ``running`` through wingspan, against raw docker-py
create + start + attach until the same done line, on the same image in the same run."""

import statistics
import time

from bench.figures import Figure
from bench.node import BenchNode
from tests.integration.node.harness import wait_until

ROUNDS = 5


def raw_start(client, image, name, label):
    started = time.perf_counter()
    api = client.api
    api.create_container(image, name=name, tty=True, stdin_open=True,
                         environment={"STARTUP": "sh /game.sh", "START_DELAY": "0.2"},
                         labels={"wingspan.test": label})
    sock = api.attach_socket(name, params={"stdin": 1, "stdout": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    api.start(name)
    seen = b""
    while b"Server started" not in seen:
        seen += raw.recv(4096)
    elapsed = time.perf_counter() - started
    sock.close()
    api.remove_container(name, force=True)
    return elapsed


def wingspan_start(daemon, uuid):
    started = time.perf_counter()
    daemon.post("/api/servers/%s/power" % uuid, {"action": "start"})
    wait_until(lambda: daemon.state(uuid) == "running", timeout=30, interval=0.01)
    elapsed = time.perf_counter() - started
    daemon.post("/api/servers/%s/power" % uuid, {"action": "kill"})
    wait_until(lambda: daemon.state(uuid) == "offline", timeout=30, interval=0.05)
    return elapsed


def run():
    node = BenchNode(1)
    uuid = node.uuids[0]
    ours, raw = [], []
    try:
        node.daemon.start()
        for i in range(ROUNDS):
            ours.append(wingspan_start(node.daemon, uuid))
            raw.append(raw_start(node.client, "wingspan-test/game:latest",
                                 "wingspan-bench-raw-%d" % i, node.label))
    finally:
        node.close()
    return [Figure("start to running (median of %d), s" % ROUNDS, statistics.median(ours),
                   statistics.median(raw), unit="s", target="ratio <= 1.3")]
