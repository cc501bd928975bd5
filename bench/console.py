"""Console throughput and latency through wingspan, against reading the same container's
attach stream directly with docker-py in the same run (issue 4).

Throughput: the game prints as fast as it can (throttling off); bytes per second a
websocket client receives, divided by bytes per second a direct attach reader receives.
Latency: lines paced at 1,000/s; for each line, its arrival at the websocket client minus
its arrival at the direct reader (both clocks are this process's).
"""

import json
import statistics
import threading
import time

import docker

from bench.figures import Figure
from bench.node import BenchNode
from tests.integration.node.harness import BrowserSocket, console_token

FLOOD_LINES = 200000
TICKS = 3000


class DirectReader(threading.Thread):
    """Reads a container's attach stream with docker-py, timing each line."""

    def __init__(self, uuid):
        super().__init__(daemon=True)
        api = docker.APIClient(version="auto")
        self.sock = api.attach_socket(uuid, params={"stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(self.sock, "_sock", self.sock)
        raw.settimeout(30)
        self.raw = raw
        self.bytes = 0
        self.first = self.last = None
        self.arrivals = {}

    def run(self):
        pending = b""
        try:
            while True:
                data = self.raw.recv(65536)
                if not data:
                    return
                now = time.perf_counter()
                self.first = self.first or now
                self.last = now
                self.bytes += len(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.startswith(b"tick "):
                        self.arrivals.setdefault(line.strip(), now)
        except OSError:
            return


def websocket_reader(sock, stop_line, result):
    first = last = None
    total = 0
    arrivals = {}
    while True:
        message = json.loads(sock.ws.recv())
        if message["event"] != "console output":
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        line = message["args"][0]
        total += len(line) + 2
        if line.startswith("tick "):
            arrivals.setdefault(line.strip().encode(), now)
        if line == stop_line:
            break
    result.update(first=first, last=last, bytes=total, arrivals=arrivals)


def measure(node, uuid, command, stop_line):
    daemon = node.daemon
    sock = BrowserSocket(daemon, uuid)
    sock.send("auth", console_token(daemon.token, uuid))
    sock.recv_event("status")
    direct = DirectReader(uuid)
    direct.start()
    result = {}
    reader = threading.Thread(target=websocket_reader, args=(sock, stop_line, result))
    reader.start()
    time.sleep(0.5)
    daemon.post("/api/servers/%s/commands" % uuid, {"commands": [command]})
    reader.join(300)
    time.sleep(0.5)
    sock.close()
    return result, direct


def run():
    node = BenchNode(1)
    node.daemon.config["throttles"] = {"enabled": False, "lines": 2000, "line_reset_interval": 100}
    uuid = node.uuids[0]
    try:
        node.daemon.start()
        time.sleep(1.1)
        node.start_all()
        flood, direct = measure(node, uuid, "flood %d" % FLOOD_LINES,
                                "flood line %d" % (FLOOD_LINES - 1))
        ws_rate = flood["bytes"] / (flood["last"] - flood["first"])
        direct_rate = direct.bytes / (direct.last - direct.first)
        ticks, direct_ticks = measure(node, uuid, "tick %d 1000" % TICKS, "tick %d" % (TICKS - 1))
        delays = sorted((t - direct_ticks.arrivals[k]) * 1000 for k, t in ticks["arrivals"].items()
                        if k in direct_ticks.arrivals)
    finally:
        node.close()
    p50 = statistics.median(delays)
    p99 = delays[int(len(delays) * 0.99) - 1]
    return [
        Figure("console throughput, MB/s", ws_rate / 1e6, direct_rate / 1e6, target=">= 0.7"),
        Figure("added latency p50 at 1000 lines/s, ms", p50, None),
        Figure("added latency p99 at 1000 lines/s, ms", p99, None, target="<= 20 ms"),
    ]
