"""Resource figures of one container, read from its cgroup and /proc (wings-behaviour.md §4).

Wings takes these from Docker's streaming stats endpoint, which keeps a request open in
dockerd per container and has it walk the cgroup every second. The same numbers sit in a
few kernel files: the container's cgroup is found once from its init process, and each
sample re-reads those files. The formulas are Docker's and Wings', so the usage object
carries the figures Wings would publish.

cgroup v1 (cgroupfs or systemd driver) and v2 are supported. The cgroup directory is
derived from ``/proc/<pid>/cgroup`` and the mount table (``/proc/self/mountinfo``),
which also covers a ``cgroup-parent`` and non-standard mount points; the conventional
Docker paths are the fallback. The files are opened once and re-read in place; the
sampling loop closes them when it ends (an open ``net/dev`` keeps the container's network
namespace referenced, so it must not outlive the container).

Every path is taken under ``root``, so tests run on a fake tree.
"""

import logging
import os
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

READ_LIMIT = 65536
NEWLINE = ord("\n")

V1_FILES = ("memory.usage_in_bytes", "memory.stat", "memory.limit_in_bytes", "cpuacct.usage")
V2_FILES = ("memory.current", "memory.stat", "memory.max", "cpu.stat")


class StatsUnavailable(Exception):
    """The container's cgroup or process cannot be read: it is stopped or was never found."""


@dataclass(frozen=True)
class Mount:
    """One cgroup filesystem in the mount table."""

    point: str
    root: str
    fstype: str
    options: frozenset


@dataclass(frozen=True)
class CgroupFiles:
    """The files one container's figures are read from."""

    version: int
    memory_usage: str
    memory_stat: str
    memory_limit: str
    cpu_usage: str


def parse_mountinfo(text):
    """The ``cgroup`` and ``cgroup2`` mounts listed in a ``mountinfo`` file, in order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if dash < 5 or len(fields) < dash + 4:
            continue
        fstype = fields[dash + 1]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append(Mount(_unescape(fields[4]), _unescape(fields[3]), fstype,
                                frozenset(fields[dash + 3].split(","))))
    return mounts


def _unescape(field):
    # mountinfo writes space, tab, newline and backslash as three-digit octal escapes.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_proc_cgroup(text):
    """Controller name -> cgroup path from ``/proc/<pid>/cgroup``; the v2 path is under ``""``."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            paths[controller] = parts[2]
    return paths


def locate_cgroup(pid, container_id, root="/"):
    """Find the cgroup files of a container from its init ``pid``.

    Raises:
        StatsUnavailable: no readable cgroup for the container (it is not running).
    """
    try:
        mounts = parse_mountinfo(_read_text(_path(root, "/proc/self/mountinfo")))
    except OSError as e:
        raise StatsUnavailable("cannot read the mount table: %s" % e) from e
    paths = _proc_cgroup_paths(root, pid)
    v1_memory = [m for m in mounts if m.fstype == "cgroup" and "memory" in m.options]
    if v1_memory:
        v1_cpu = [m for m in mounts if m.fstype == "cgroup" and "cpuacct" in m.options]
        memory_dir = _cgroup_dir(root, v1_memory, paths.get("memory"), container_id, V1_FILES[0])
        cpu_dir = _cgroup_dir(root, v1_cpu, paths.get("cpuacct"), container_id, V1_FILES[3])
        if memory_dir and cpu_dir:
            return CgroupFiles(1, *(os.path.join(memory_dir, name) for name in V1_FILES[:3]),
                               os.path.join(cpu_dir, V1_FILES[3]))
    else:
        unified = [m for m in mounts if m.fstype == "cgroup2"]
        directory = _cgroup_dir(root, unified, paths.get(""), container_id, V2_FILES[0])
        if directory:
            return CgroupFiles(2, *(os.path.join(directory, name) for name in V2_FILES))
    raise StatsUnavailable("no cgroup found for container %s (pid %s)" % (container_id, pid))


def _proc_cgroup_paths(root, pid):
    if not pid:
        return {}
    try:
        return parse_proc_cgroup(_read_text(_path(root, "/proc/%d/cgroup" % pid)))
    except OSError:
        return {}


def _cgroup_dir(root, mounts, proc_path, container_id, probe):
    candidates = []
    # A recycled pid would point at someone else's cgroup; Docker's paths always hold the id.
    if proc_path and container_id in proc_path:
        candidates.append(proc_path)
    if container_id:
        candidates += ["/docker/%s" % container_id, "/system.slice/docker-%s.scope" % container_id]
    for path in candidates:
        for mount in mounts:
            directory = _mounted_dir(root, mount, path)
            if directory and os.path.exists(os.path.join(directory, probe)):
                return directory
    return None


def _mounted_dir(root, mount, cgroup_path):
    """Where ``cgroup_path`` of the hierarchy appears under ``mount``, or None."""
    base = mount.root.rstrip("/")
    if cgroup_path != base and not cgroup_path.startswith(base + "/"):
        return None
    relative = cgroup_path[len(base):]
    # Seen from inside a cgroup namespace, paths outside it start with "/..".
    if ".." in relative.split("/"):
        return None
    return _path(root, mount.point + relative)


def read_mem_total(root="/"):
    """Host RAM in bytes (``MemTotal``), or 0 when unknown."""
    try:
        text = _read_text(_path(root, "/proc/meminfo"))
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def parse_net_dev(data):
    """``(rx_bytes, tx_bytes)`` summed over every interface except ``lo``."""
    rx = tx = 0
    for line in data.splitlines()[2:]:
        name, sep, counters = line.partition(b":")
        if not sep or name.strip() == b"lo":
            continue
        fields = counters.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def stat_field(data, key):
    """The value of ``key`` in a ``key value`` file (``memory.stat``, ``cpu.stat``), or None.

    Only the one or two wanted fields are parsed: ``memory.stat`` has dozens.
    """
    wanted = key + b" "
    at = data.find(wanted)
    while at > 0 and data[at - 1] != NEWLINE:
        at = data.find(wanted, at + 1)
    if at < 0:
        return None
    end = data.find(b"\n", at)
    return int(data[at + len(wanted):end if end >= 0 else len(data)])


def memory_working_set(usage, total_inactive_file, inactive_file):
    """Memory in use as the docker CLI and Wings count it: page cache that can go is left out.

    ``total_inactive_file`` exists on cgroup v1 only; a missing field is None.
    """
    if total_inactive_file is not None and total_inactive_file < usage:
        return usage - total_inactive_file
    inactive = inactive_file or 0
    if inactive < usage:
        return usage - inactive
    return usage


def cpu_percent(cpu_delta, elapsed):
    """Share of one core (100 = one full core) over the interval, 3 decimals (§4.1).

    Docker divides by the host's CPU time over the interval and multiplies by the number
    of online CPUs; that host time is the elapsed time times the CPUs, so both cancel and
    the elapsed time alone gives the same figure without reading ``/proc/stat`` (a file
    the kernel builds from every CPU's counters on each read).
    """
    if cpu_delta <= 0 or elapsed <= 0:
        return 0.0
    return _round_half_away(cpu_delta / elapsed * 100.0 * 1000) / 1000


def _round_half_away(value):
    # Go's math.Round; Python's round() would round halves to even.
    whole = float(int(value))
    if abs(value - whole) >= 0.5:
        whole += 1.0 if value > 0 else -1.0
    return whole


class StatsReader:
    """Samples one running container; locates and opens its files on the first sample.

    The files stay open between samples and are re-read from offset 0: a sample is then
    five reads, with no path lookups. Once Docker removes the container's cgroup, reads of
    its files fail (ENODEV), which ends sampling. :meth:`close` releases the files.

    Args:
        pid: the container's init pid on the host (``State.Pid``).
        container_id: the full container id.
        started_at_epoch: ``State.StartedAt`` in epoch seconds, for the uptime.
        root: prefix for ``/proc`` and ``/sys`` paths (tests).
        clock: monotonic nanoseconds, the interval CPU use is measured over.
    """

    def __init__(self, pid, container_id, started_at_epoch, root="/", clock=time.monotonic_ns):
        self.pid = pid
        self.container_id = container_id
        self.started_at = started_at_epoch
        self.root = root
        self.clock = clock
        self._version = None
        self._fds = None
        self._mem_total = 0
        self._previous = None
        self._limit_read = None  # the limit file's bytes that ``_limit`` was parsed from
        self._limit = 0

    def sample(self, now):
        """The container's figures now (``now`` in epoch seconds).

        Returns a dict with ``memory_bytes``, ``memory_limit_bytes``, ``cpu_absolute``,
        ``network`` (``rx_bytes``, ``tx_bytes``) and ``uptime`` in ms. The first sample
        has no interval to measure CPU over and reports 0.

        Raises:
            StatsUnavailable: the cgroup or the process is gone.
        """
        if self._fds is None:
            self._open()
        usage_fd, stat_fd, limit_fd, cpu_fd, net_fd = self._fds
        pread = os.pread
        try:
            usage = int(pread(usage_fd, READ_LIMIT, 0))
            stat = pread(stat_fd, READ_LIMIT, 0)
            limit = pread(limit_fd, READ_LIMIT, 0)
            cpu = pread(cpu_fd, READ_LIMIT, 0)
            rx, tx = parse_net_dev(pread(net_fd, READ_LIMIT, 0))
            if self._version == 1:
                cpu_ns = int(cpu)
                total_inactive = stat_field(stat, b"total_inactive_file")
                if total_inactive is not None and total_inactive < usage:
                    memory = usage - total_inactive  # the first rule; inactive_file is not needed
                else:
                    memory = memory_working_set(usage, total_inactive,
                                                stat_field(stat, b"inactive_file"))
            else:
                cpu_ns = stat_field(cpu, b"usage_usec") * 1000
                memory = memory_working_set(usage, None, stat_field(stat, b"inactive_file"))
            if limit != self._limit_read:
                self._limit = self._clamp_limit(None if limit.strip() == b"max" else int(limit))
                self._limit_read = limit
        except (OSError, ValueError, IndexError, TypeError) as e:
            raise StatsUnavailable("container %s: %s" % (self.container_id, e)) from e
        taken = self.clock()
        percent = 0.0
        previous = self._previous
        if previous is not None and cpu_ns > previous[0]:  # an idle container used none
            percent = cpu_percent(cpu_ns - previous[0], taken - previous[1])
        self._previous = (cpu_ns, taken)
        return {
            "memory_bytes": memory,
            "memory_limit_bytes": self._limit,
            "cpu_absolute": percent,
            "network": {"rx_bytes": rx, "tx_bytes": tx},
            "uptime": max(0, int((now - self.started_at) * 1000)),
        }

    def close(self):
        """Release the open files (safe to call more than once)."""
        fds, self._fds = self._fds, None
        for fd in fds or ():
            os.close(fd)

    def _open(self):
        files = locate_cgroup(self.pid, self.container_id, self.root)
        self._mem_total = read_mem_total(self.root)
        paths = (files.memory_usage, files.memory_stat, files.memory_limit, files.cpu_usage,
                 _path(self.root, "/proc/%d/net/dev" % self.pid))
        fds = []
        try:
            for path in paths:
                fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as e:
            for fd in fds:
                os.close(fd)
            raise StatsUnavailable("container %s: %s" % (self.container_id, e)) from e
        self._version, self._fds = files.version, tuple(fds)
        log.debug("container %s: cgroup v%d, %s", self.container_id, files.version,
                  os.path.dirname(files.memory_usage))

    def _clamp_limit(self, limit):
        # Docker reports host RAM for an unlimited container, and never more than that.
        if limit is None:
            return self._mem_total
        if self._mem_total and limit > self._mem_total:
            return self._mem_total
        return limit


def _path(root, absolute):
    return os.path.join(root, absolute.lstrip("/"))


def _read_text(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, READ_LIMIT).decode("ascii", "replace")
    finally:
        os.close(fd)
