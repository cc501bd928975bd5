"""Boot with 100 running containers: time until every server is ``running`` in the API,
against 100 sequential docker-py inspect+attach calls from one process (issues 3, 22)."""

import time

import docker

from bench.figures import Figure
from bench.node import BenchNode, timed
from tests.support.polling import wait_until

SERVERS = 100


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


def run():
    node = BenchNode(SERVERS)
    try:
        node.daemon.start()
        node.start_all(timeout=600)
        node.daemon.stop()
        started = time.perf_counter()
        node.daemon.start(wait=False)
        wait_until(lambda: node.daemon.answers() and node.running() == SERVERS, timeout=300,
                   interval=0.1, what="every server running again")
        boot = time.perf_counter() - started
        baseline = docker_baseline(node.uuids)
    finally:
        node.close()
    return [Figure("boot to all %d running, s" % SERVERS, boot, baseline, unit="s",
                   target="ratio <= 2")]
