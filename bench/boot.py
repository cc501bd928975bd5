"""Boot with 100 running containers: time until every server is ``running`` in the API,
against 100 sequential docker-py inspect+attach calls from one process (issues 3, 22).

Beside it, two floors that the boot is the sum of at the least (issue 22):

- the same restart of a daemon with no servers, until its API answers (interpreters,
  imports, the zygote's preload, the Panel's server list). No amount of work saved per
  worker brings the boot below it; on a 2-core machine it alone is several times the
  baseline;
- the design's per-server floor, without wingspan (``bench.design_floor``): a process per
  server forked from a preloaded parent, each on the bus and holding its attach stream.
  What the boot takes beyond the two is wingspan's own work."""

import json
import os
import subprocess
import sys
import time

import docker

from bench.figures import Figure
from bench.node import BenchNode, timed
from tests.support.polling import wait_until

SERVERS = 100
POLL = 0.05
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def docker_baseline(uuids):
    api = docker.APIClient(version="auto")
    sockets = []

    def attach_all():
        for uuid in uuids:
            api.inspect_container(uuid)
            sockets.append(api.attach_socket(uuid, params={"stdin": 1, "stdout": 1,
                                                           "stderr": 1, "stream": 1}))
    elapsed = timed(attach_all)
    for sock in sockets:
        sock.close()
    return elapsed


def restart(node):
    """Seconds from the daemon's start until its API shows every server running.

    Each poll asks for one server not yet seen running, and none walks the process tree:
    listing all of them, or walking a few hundred processes, on each poll would take CPU
    from the boot it measures (``stop`` remembers the tree for the teardown)."""
    node.daemon.stop()
    started = time.perf_counter()
    node.daemon.start(wait=False)
    wait_until(node.daemon.answers_lightly, timeout=300, interval=POLL, what="the API")
    for uuid in node.uuids:
        wait_until(lambda: node.daemon.state(uuid) == "running", timeout=300, interval=POLL,
                   what="server %s running again" % uuid)
    return time.perf_counter() - started


def design_floor(uuids):
    """Seconds until a child per container, forked from a preloaded parent, is attached and
    has said so on a ZeroMQ socket (``bench.design_floor``, a fresh interpreter)."""
    out = subprocess.run([sys.executable, "-m", "bench.design_floor", *uuids], check=True,
                         stdout=subprocess.PIPE, cwd=REPO, timeout=300).stdout
    return json.loads(out)["seconds"]


def floor():
    """A restart of a daemon with no servers, measured as the boot is."""
    node = BenchNode(0)
    try:
        node.daemon.start()
        return restart(node)
    finally:
        node.close()


def run():
    node = BenchNode(SERVERS)
    try:
        node.daemon.start()
        node.start_all(timeout=600)
        boot = restart(node)
        baseline = docker_baseline(node.uuids)
        per_server = design_floor(node.uuids)
    finally:
        node.close()
    return [Figure("boot to all %d running, s" % SERVERS, boot, baseline, unit="s",
                   target="ratio <= 2"),
            Figure("floor: daemon start, no servers, s", floor(), baseline, unit="s",
                   target="(context)"),
            Figure("floor: fork, bus, attach per server, s", per_server, baseline, unit="s",
                   target="(context)")]
