"""Server transfer between two daemons on this machine (issue 18, wings-api.md §9).

A mixed tree (compressible text and incompressible data, files of 4 KiB to 16 MiB) of
``WINGSPAN_BENCH_TRANSFER_MIB`` MiB (default 2048) is moved from a source daemon to a
destination daemon by a fake Panel, against ``tar -czf - . | tar -xzf -`` of the same tree
into another directory on the same disk. Reported beside the throughput ratio (target ≥
0.8): the peak extra disk use on both nodes (bytes under the nodes' directories besides
the two copies of the server: a temporary archive would show here; should be ~0) and the
peak RSS of each node's whole process tree (supervisor, API, SFTP, zygote, worker) against
the same tree idle just before. Both nodes and the baseline share the machine's
cores, as they would not in production: figures are noisy on a loaded machine.
"""

import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid as uuidlib

import psutil

from bench.figures import Figure
from tests.support import dockerenv
from tests.support.daemon import CONTAINER_GID, CONTAINER_UID, Daemon, merged, node_config
from tests.support.fakepanel import TEST_LABEL, FakePanel
from tests.support.polling import wait_until

MIB = 1024 * 1024
TREE_MIB = int(os.environ.get("WINGSPAN_BENCH_TRANSFER_MIB", "2048"))
FILE_SIZES = (4 * 1024, 64 * 1024, 1 * MIB, 4 * MIB, 16 * MIB)
TEXT_SHARE = 0.5
SAMPLE_INTERVAL = 0.2
TRANSFER_TIMEOUT = 3600
WORDS = [w.encode() for w in ("spawn chunk region player entity block world level seed "
                              "server tick mob biome item craft").split()]


def run():
    bench = TwoNodes()
    try:
        tree_bytes = bench.make_tree(TREE_MIB * MIB)
        baseline = bench.baseline_copy()
        moved, disk, rss, idle = bench.transfer()
    finally:
        bench.close()
    mib = tree_bytes / MIB
    return [
        Figure("transfer throughput (%d MiB tree)" % mib, mib / moved, mib / baseline,
               unit=" MiB/s", target=">= 0.8 of tar -czf | tar -xzf"),
        Figure("peak extra disk, source", disk["source"] / MIB, unit=" MiB", target="~0"),
        Figure("peak extra disk, destination", disk["destination"] / MIB, unit=" MiB",
               target="~0"),
        Figure("peak RSS, source processes (vs idle)", rss["source"] / MIB,
               idle["source"] / MIB, unit=" MiB"),
        Figure("peak RSS, destination processes (vs idle)", rss["destination"] / MIB,
               idle["destination"] / MIB, unit=" MiB"),
    ]


class TwoNodes:
    """A fake Panel, a source and a destination daemon, one server on the source."""

    def __init__(self):
        self.label = "bench" + uuidlib.uuid4().hex[:8]
        self.client = dockerenv.engine()
        dockerenv.build_images()
        self.tmp = tempfile.mkdtemp(prefix="wingspan-bench-transfer-")
        self.run_dirs = [tempfile.mkdtemp(prefix="ws-") for _ in range(2)]
        self.panel = FakePanel(self.label).start()
        self.target = self.panel.add_node()
        self.network = dockerenv.network_plan(self.client, "wingspan_%s" % self.label)
        self.source = self._daemon(self.panel.node, "source", self.run_dirs[0])
        self.destination = self._daemon(self.target, "destination", self.run_dirs[1])
        self.source.start()
        self.destination.start()
        self.uuid = self.panel.add_server(skip_egg_scripts=True, disk=0)["settings"]["uuid"]
        assert self.source.create_server(self.uuid).status_code == 202
        self.panel.wait_for_call("POST", "/api/remote/servers/%s/install" % self.uuid,
                                 timeout=120)

    def _daemon(self, node, name, run_dir):
        base = os.path.join(self.tmp, name)
        daemon = Daemon(merged(node_config(self.panel, node, base, run_dir, self.network), {}),
                        base)
        node.address = daemon.url
        return daemon

    def root(self, daemon):
        return os.path.join(daemon.config["system"]["data"], self.uuid)

    def make_tree(self, total, rng=random.Random(18)):
        """Write the mixed tree into the source server's root; returns its size."""
        root = self.root(self.source)
        written = index = 0
        while written < total:
            size = min(rng.choice(FILE_SIZES), total - written)
            path = os.path.join(root, "d%02d" % (index % 16), "s%02d" % (index % 7),
                                "f%05d.%s" % (index, "txt" if rng.random() < TEXT_SHARE
                                              else "bin"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(_text(size, rng) if path.endswith(".txt") else os.urandom(size))
            os.chown(path, CONTAINER_UID, CONTAINER_GID)
            written += size
            index += 1
        return written

    def baseline_copy(self):
        """Seconds of ``tar -czf - . | tar -xzf -`` of the tree into a directory beside it."""
        target = os.path.join(self.tmp, "baseline")
        os.makedirs(target)
        started = time.perf_counter()
        subprocess.run("tar -C %s -czf - . | tar -C %s -xzf -" % (self.root(self.source),
                                                                   target),
                       shell=True, check=True)
        elapsed = time.perf_counter() - started
        shutil.rmtree(target)
        return elapsed

    def transfer(self):
        """Seconds from the Panel's request to the destination's success report, and the
        peak extra disk use and RSS of each side."""
        sampler = Sampler({"source": self.source, "destination": self.destination},
                          exclude=(self.root(self.source), self.root(self.destination)))
        sampler.start()
        started = time.perf_counter()
        assert self.panel.transfer(self.uuid, self.target).status_code == 202
        wait_until(lambda: self.panel.transfer_reports, timeout=TRANSFER_TIMEOUT,
                   interval=0.05, what="the transfer report")
        elapsed = time.perf_counter() - started
        sampler.stop()
        if not self.panel.transfer_reports[0]["successful"]:
            raise AssertionError("the transfer failed; see the daemons' logs in %s" % self.tmp)
        return elapsed, sampler.disk, sampler.rss, sampler.idle_rss

    def close(self):
        try:
            for daemon in (self.source, self.destination):
                daemon.stop()
        finally:
            self.panel.stop()
            dockerenv.remove_containers(self.client, "%s=%s" % (TEST_LABEL, self.label),
                                        self.panel.seen_uuids | set(self.panel.servers))
            dockerenv.remove_network(self.client, self.network["name"])
            shutil.rmtree(self.tmp, ignore_errors=True)
            for path in self.run_dirs:
                shutil.rmtree(path, ignore_errors=True)


class Sampler(threading.Thread):
    """Samples, for each daemon, the bytes under its directory outside ``exclude`` and the
    summed RSS of its process tree, keeping the peaks."""

    def __init__(self, daemons, exclude):
        super().__init__(daemon=True)
        self.daemons = daemons
        self.exclude = set(exclude)
        self.disk = dict.fromkeys(daemons, 0)
        self.rss = dict.fromkeys(daemons, 0)
        self.idle_rss = dict.fromkeys(daemons, 0)
        self._done = threading.Event()

    def run(self):
        before = {name: self._bytes_under(d.base_dir) for name, d in self.daemons.items()}
        self.idle_rss = {name: _tree_rss(d.process.pid) for name, d in self.daemons.items()}
        while not self._done.wait(SAMPLE_INTERVAL):
            for name, daemon in self.daemons.items():
                extra = self._bytes_under(daemon.base_dir) - before[name]
                self.disk[name] = max(self.disk[name], extra)
                self.rss[name] = max(self.rss[name], _tree_rss(daemon.process.pid))

    def stop(self):
        self._done.set()
        self.join()

    def _bytes_under(self, top):
        total = 0
        for parent, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if os.path.join(parent, d) not in self.exclude]
            for name in files:
                try:
                    total += os.lstat(os.path.join(parent, name)).st_blocks * 512
                except OSError:
                    continue
        return total


def _tree_rss(pid):
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def _text(size, rng):
    line = b" ".join(rng.choice(WORDS) for _ in range(12)) + b"\n"
    return (line * (size // len(line) + 1))[:size]
