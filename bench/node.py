"""A throwaway node for benchmarks: fake Panel, N servers on the local test image, a daemon.

Reuses the integration-test harness so benchmarks drive wingspan exactly as tests do.
"""

import os
import subprocess
import tempfile
import time
import uuid as uuidlib

from tests.integration.node.fake_panel import FakePanel
from tests.integration.node.harness import Daemon, docker_client, free_port, node_config, new_uuid, \
    remove_containers, wait_until

IMAGES = os.path.join(os.path.dirname(__file__), "..", "tests", "images", "build.sh")


class BenchNode:
    def __init__(self, servers):
        self.label = "bench" + uuidlib.uuid4().hex[:8]
        self.tmp = tempfile.mkdtemp(prefix="wingspan-bench-")
        self.client = docker_client()
        subprocess.run(["bash", IMAGES], check=True, stdout=subprocess.DEVNULL)
        self.panel = FakePanel(self.label).start()
        self.uuids = [new_uuid() for _ in range(servers)]
        for uuid in self.uuids:
            self.panel.add_server(uuid)
        self.network = {"name": "wingspan_%s" % self.label, "subnet": "172.31.253.0/24",
                        "gateway": "172.31.253.1", "subnet6": "fdba:17c8:6c98::/64",
                        "gateway6": "fdba:17c8:6c98::1011"}
        config = node_config(self.tmp, self.panel, self.network, free_port())
        config["remote_query"]["boot_servers_per_page"] = 50
        self.daemon = Daemon(config, self.tmp)

    def start_all(self, timeout=300):
        for uuid in self.uuids:
            self.daemon.post("/api/servers/%s/power" % uuid, {"action": "start"})
        wait_until(lambda: self.running() == len(self.uuids), timeout=timeout,
                   interval=0.5, what="every server running")

    def running(self):
        return sum(1 for s in self.daemon.get("/api/servers").json() if s["state"] == "running")

    def close(self):
        self.daemon.stop()
        self.panel.stop()
        remove_containers(self.client, "wingspan.test=%s" % self.label)
        for net in self.client.networks.list(names=[self.network["name"]]):
            net.remove()


def timed(func):
    started = time.perf_counter()
    func()
    return time.perf_counter() - started
