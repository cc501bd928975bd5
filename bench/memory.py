"""Memory per process role with 50 idle running servers (issues 3 and 22).

Reports PSS and USS of a worker (median), and the PSS of supervisor + API + zygote; the
baseline is a freshly started Python that imports the same modules a worker uses. The
worker figures are measured twice: with the machine's KSM setting as it is, then (as root,
when the kernel has KSM) with KSM running, which keeps the pages the workers hold alike
once (``wingspan.worker.merge_pages``, bench/ksm.py).
"""

import statistics
import subprocess
import sys
import time

import psutil

from bench import ksm
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


def median_worker(roles):
    """Median (PSS, USS) of the workers, MiB."""
    return (statistics.median(p for p, _ in roles["worker"]) / MIB,
            statistics.median(u for _, u in roles["worker"]) / MIB)


def with_ksm(daemon, fresh_pss, fresh_uss):
    """The worker figures once KSM has merged what it can, and what its scanner costs."""
    with ksm.Running() as running:
        took = running.converge(lambda: median_worker(role_memory(daemon))[1])
        pss, uss = median_worker(role_memory(daemon))
        scanner = running.scanner_share()
    return [
        Figure("worker PSS with KSM running, MiB", pss, fresh_pss, target="<= 8 MiB"),
        Figure("worker USS with KSM running, MiB", uss, fresh_uss, target="<= 7 MiB"),
        Figure("KSM merging time at %d pages per scan, s" % ksm.CONVERGE_PAGES_TO_SCAN,
               took, None, unit="s", target="(context)"),
        Figure("ksmd CPU at the kernel's scan rate, % of a core",
               None if scanner is None else scanner * 100, None, target="(context)"),
    ]


def run():
    fresh_pss, fresh_uss = (v / MIB for v in baseline_pss())
    node = BenchNode(SERVERS)
    try:
        node.daemon.start()
        node.start_all()
        time.sleep(5)  # let every stats loop settle
        roles = role_memory(node.daemon)
        merged = with_ksm(node.daemon, fresh_pss, fresh_uss) if ksm.available() else []
    finally:
        node.close()
    worker_pss, worker_uss = median_worker(roles)
    core = sum(p for r in ("supervisor", "api", "zygote") for p, _ in roles[r]) / MIB
    return [
        Figure("worker PSS (median of %d), MiB" % len(roles["worker"]), worker_pss, fresh_pss,
               target="<= 8 MiB"),
        Figure("worker USS (median), MiB", worker_uss, fresh_uss, target="<= 7 MiB"),
        Figure("supervisor+api+zygote PSS, MiB", core, None, target="<= 150 MiB"),
        Figure("all workers PSS total, MiB", sum(p for p, _ in roles["worker"]) / MIB, None),
    ] + merged
