"""CPU time processes spend over a window, as a share of one core."""

import os
import time

import psutil

from bench.figures import Figure

ENGINE_NAMES = ("dockerd", "containerd")
# the kernel truncates process names to 15 characters: containerd-shim-runc-v2
SHIM_NAME = "containerd-shim"


def cpu_seconds(process):
    """User + system seconds of ``process`` so far (children not included); None once gone."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


class CpuWindow:
    """Opened on a set of processes; ``shares()`` gives each one's CPU since then, per pid,
    as a fraction of one core. A process that ended counts for nothing."""

    def __init__(self, pids):
        self._processes = [psutil.Process(pid) for pid in pids]
        self._started = time.perf_counter()
        self._before = {p.pid: cpu_seconds(p) for p in self._processes}

    def shares(self):
        elapsed = time.perf_counter() - self._started
        shares = {}
        for process in self._processes:
            before, after = self._before[process.pid], cpu_seconds(process)
            if before is None or after is None:
                shares[process.pid] = 0.0
            else:
                shares[process.pid] = (after - before) / elapsed
        return shares

    def total(self):
        return sum(self.shares().values())


def engine_pids():
    """dockerd and containerd."""
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ENGINE_NAMES]


def shim_pids(container_ids):
    """The runc shims of ``container_ids``: a container's stats come from its shim,
    through containerd."""
    wanted = set(container_ids)
    pids = []
    for process in psutil.process_iter(["name", "cmdline"]):
        name, cmdline = process.info["name"] or "", process.info["cmdline"] or []
        if name.startswith(SHIM_NAME) and "-id" in cmdline:
            position = cmdline.index("-id") + 1
            if position < len(cmdline) and cmdline[position] in wanted:
                pids.append(process.pid)
    return pids


def flood_roles(daemon, client, uuid):
    """The processes that share the CPU while one server floods its console: wingspan's
    API and the server's worker, Docker, the game itself and this process (the readers)."""
    titles = daemon.processes()
    container = client.api.inspect_container(uuid)
    return {"api": [titles["wingspan: api"]], "worker": [daemon.worker_pid(uuid)],
            "docker engine": engine_pids() + shim_pids([container["Id"]]),
            "game": [container["State"]["Pid"]], "bench readers": [os.getpid()]}


def role_shares(roles):
    """A ``CpuWindow`` per role of ``{role: pids}``; call ``shares()`` at the window's end."""
    meters = {role: CpuWindow(pids) for role, pids in roles.items()}
    return lambda: {role: meter.total() for role, meter in meters.items()}


def role_figures(shares, label):
    """One figure per role: its CPU over the window, in % of a core."""
    return [Figure("CPU %s: %s, %% of a core" % (label, role), 100.0 * share, None)
            for role, share in shares.items()]
