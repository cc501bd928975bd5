"""A throwaway node for benchmarks: fake Panel, N servers on the local test image, a daemon.

Built from the integration tests' support code (tests/support), so benchmarks drive
wingspan exactly as tests do. Every container carries ``wingspan.test=<label>``; ``close``
removes them, the node's Docker network and its directories, whatever happened before.
"""

import os
import random
import shutil
import socket
import sys
import tempfile
import time
import uuid as uuidlib

from tests.support import dockerenv
from tests.support.daemon import Daemon, merged, node_config
from tests.support.fakepanel import TEST_LABEL, FakePanel
from tests.support.polling import wait_until

RETRY_START = 5.0
GAME_PORTS = (20000, 32000)


class BenchNode:
    """``servers`` servers registered on a fake Panel and a configured, not started daemon.

    ``config`` is merged in depth into the daemon's config.yml (``daemon.config`` can still
    be edited until ``daemon.start()``).
    """

    def __init__(self, servers, config=None):
        self.label = "bench" + uuidlib.uuid4().hex[:8]
        self.client = dockerenv.engine()
        dockerenv.build_images()
        self.tmp = tempfile.mkdtemp(prefix="wingspan-bench-")
        # ZeroMQ ipc socket paths must stay under 108 bytes: keep this one short.
        self.run_dir = tempfile.mkdtemp(prefix="ws-")
        self.panel = FakePanel(self.label).start()
        self.uuids = [str(uuidlib.uuid4()) for _ in range(servers)]
        for uuid, port in zip(self.uuids, game_ports(servers)):
            self.panel.add_server(uuid, port=port)
        self.network = dockerenv.network_plan(self.client, "wingspan_%s" % self.label)
        settings = node_config(self.panel, self.panel.node, self.tmp, self.run_dir,
                               self.network)
        self.daemon = Daemon(merged(settings, config or {}), self.tmp)
        self.panel.node.address = self.daemon.url

    def start_all(self, timeout=300):
        """Start every server and wait until all run. A server found offline is asked again
        (at most every ``RETRY_START`` seconds): right after boot its worker may not be
        connected yet, and on a loaded machine Docker may time a start out."""
        asked = {}

        def all_running():
            states = self.states()
            now = time.monotonic()
            for uuid in self.uuids:
                if states.get(uuid) == "offline" \
                        and now - asked.get(uuid, now - RETRY_START) >= RETRY_START \
                        and self.daemon.power(uuid, "start").ok:
                    asked[uuid] = now
            return all(states.get(uuid) == "running" for uuid in self.uuids)

        wait_until(all_running, timeout=timeout, interval=0.5, what="every server running")

    def states(self):
        """``{uuid: state}`` of every server, as ``GET /api/servers`` lists them."""
        return {s["configuration"]["uuid"]: s["state"]
                for s in self.daemon.get("/api/servers").json()}

    def running(self):
        return sum(1 for state in self.states().values() if state == "running")

    def close(self):
        """Stop everything and remove what the node made; the daemon's log is kept (its
        path goes to stderr) since a failed benchmark is explained there."""
        try:
            self.daemon.stop()
            self.keep_log()
        finally:
            self.panel.stop()
            dockerenv.remove_containers(self.client, "%s=%s" % (TEST_LABEL, self.label),
                                        self.panel.seen_uuids | set(self.panel.servers))
            dockerenv.remove_network(self.client, self.network["name"])
            shutil.rmtree(self.tmp, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)


    def keep_log(self):
        if os.path.exists(self.daemon.log_path):
            kept = os.path.join(tempfile.gettempdir(), "wingspan-%s-daemon.log" % self.label)
            shutil.move(self.daemon.log_path, kept)
            print("daemon log: %s" % kept, file=sys.stderr)


def game_ports(count, rng=random):
    """``count`` distinct allocation ports nothing is bound to, drawn below the kernel's
    ephemeral range: tests running beside a benchmark take theirs from that range
    (``free_port``), and Docker refuses to start a server whose port is taken."""
    ports = set()
    while len(ports) < count:
        port = rng.randrange(*GAME_PORTS)
        if port not in ports and bindable(port):
            ports.add(port)
    return sorted(ports)


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def timed(func):
    started = time.perf_counter()
    func()
    return time.perf_counter() - started
