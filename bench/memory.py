"""Memory per process role with 50 idle running servers (issues 3 and 22).

Reports PSS and USS of a worker (median), and the PSS of supervisor + API + zygote; the
baseline is a freshly started Python that imports the same modules a worker uses.
"""

import statistics
import subprocess
import sys
import time

import psutil

from bench.figures import Figure
from bench.node import BenchNode

SERVERS = 50
MIB = 1024 * 1024
BASELINE_IMPORTS = ("from gevent import monkey; monkey.patch_all(); import worker.runtime, "
                    "zmq.green, docker, requests; import time; time.sleep(60)")


def role_memory(daemon):
    roles = {"worker": [], "supervisor": [], "api": [], "zygote": []}
    for title, pid in daemon.processes().items():
        info = psutil.Process(pid).memory_full_info()
        role = title.split()[1] if title.startswith("wingspan:") else None
        if role in roles:
            roles[role].append((info.pss, info.uss))
    return roles


def baseline_pss():
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_IMPORTS])
    try:
        time.sleep(4)
        info = psutil.Process(proc.pid).memory_full_info()
        return info.pss, info.uss
    finally:
        proc.kill()
        proc.wait()


def run():
    node = BenchNode(SERVERS)
    try:
        node.daemon.start()
        node.start_all()
        time.sleep(5)  # let every stats loop settle
        roles = role_memory(node.daemon)
    finally:
        node.close()
    worker_pss = statistics.median(p for p, _ in roles["worker"]) / MIB
    worker_uss = statistics.median(u for _, u in roles["worker"]) / MIB
    core = sum(p for r in ("supervisor", "api", "zygote") for p, _ in roles[r]) / MIB
    fresh_pss, fresh_uss = (v / MIB for v in baseline_pss())
    return [
        Figure("worker PSS (median of %d), MiB" % len(roles["worker"]), worker_pss, fresh_pss,
               target="<= 8 MiB"),
        Figure("worker USS (median), MiB", worker_uss, fresh_uss, target="<= 7 MiB"),
        Figure("supervisor+api+zygote PSS, MiB", core, None, target="<= 150 MiB"),
        Figure("all workers PSS total, MiB", sum(p for p, _ in roles["worker"]) / MIB, None),
    ]
