"""Container figures from cgroup files and /proc (wings-behaviour.md §4.1, §4.2, Appendix A).

Fake cgroup trees are built under ``tmp_path`` and passed as the reader's ``root``; the last
tests read this machine's real /proc (no Docker involved).
"""

import json
import os
import time
import uuid

import psutil
import pytest

from wingspan import envelope
from wingspan.usage import usage_json, usage_object, zero_usage
from worker.stats import (StatsReader, StatsUnavailable, cpu_percent, locate_cgroup,
                          memory_working_set, parse_mountinfo, parse_net_dev, parse_proc_cgroup,
                          stat_field)

CID = "4f1c2b7e9a" * 6 + "abcd"
PID = 4242
MEM_TOTAL_KB = 8 * 1024 * 1024
UNLIMITED_V1 = 9223372036854771712

MOUNTINFO_V1 = (
    "25 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "31 25 0:28 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw shared:18 - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:19 - cgroup2 cgroup2 rw\n")

MOUNTINFO_V2 = (
    "25 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "31 25 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n")

NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:    5000      50    0    0    0     0          0         0     5000      50    0 "
    "   0    0     0       0          0\n"
    "  eth0:  123456     900    0    0    0     0          0         0    65432     400    0 "
    "   0    0     0       0          0\n"
    "  eth1:1000000000    10    0    0    0     0          0         0       10       1    0 "
    "   0    0     0       0          0\n")


class FakeClock:
    """Monotonic nanoseconds that move only when told to."""

    def __init__(self):
        self.now = 5_000_000_000

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += int(seconds * 1_000_000_000)


def write(root, relative, text):
    path = root / relative.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def proc_files(root, mountinfo, cgroup_text, pid=PID):
    write(root, "/proc/self/mountinfo", mountinfo)
    write(root, "/proc/meminfo", "MemTotal:       %d kB\nMemFree:  1 kB\n" % MEM_TOTAL_KB)
    write(root, "/proc/%d/net/dev" % pid, NET_DEV)
    if cgroup_text is not None:
        write(root, "/proc/%d/cgroup" % pid, cgroup_text)


def v1_cgroup(root, memory_dir, cpu_dir, usage=500_000_000, limit=UNLIMITED_V1, cpu_ns=0):
    write(root, memory_dir + "/memory.usage_in_bytes", "%d\n" % usage)
    write(root, memory_dir + "/memory.limit_in_bytes", "%d\n" % limit)
    write(root, memory_dir + "/memory.stat",
          "cache 300000000\nrss 200000000\ninactive_file 1000\nhierarchical_memory_limit %d\n"
          "total_cache 300000000\ntotal_inactive_file 120000000\n" % limit)
    write(root, cpu_dir + "/cpuacct.usage", "%d\n" % cpu_ns)


def v2_cgroup(root, directory, current=400_000_000, limit="max", usage_usec=0):
    write(root, directory + "/memory.current", "%d\n" % current)
    write(root, directory + "/memory.max", "%s\n" % limit)
    write(root, directory + "/memory.stat",
          "anon 300000000\nfile 100000000\ninactive_file 60000000\nactive_file 40000000\n")
    write(root, directory + "/cpu.stat",
          "usage_usec %d\nuser_usec 1\nsystem_usec 1\nnr_periods 0\n" % usage_usec)


@pytest.fixture
def v1_cgroupfs(tmp_path):
    """cgroup v1, cgroupfs driver: /sys/fs/cgroup/<controller>/docker/<id>."""
    proc_files(tmp_path, MOUNTINFO_V1, "12:pids:/docker/%s\n4:memory:/docker/%s\n"
               "2:cpu,cpuacct:/docker/%s\n1:name=systemd:/docker/%s\n0::/system.slice/"
               "containerd.service\n" % (CID, CID, CID, CID))
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory/docker/" + CID,
              "/sys/fs/cgroup/cpu,cpuacct/docker/" + CID)
    return tmp_path


# locating the cgroup

def test_v1_cgroupfs_located_from_proc_pid_cgroup(v1_cgroupfs):
    files = locate_cgroup(PID, CID, str(v1_cgroupfs))
    assert files.version == 1
    assert files.memory_usage == str(
        v1_cgroupfs / "sys/fs/cgroup/memory/docker" / CID / "memory.usage_in_bytes")
    assert files.memory_limit.endswith("/memory/docker/%s/memory.limit_in_bytes" % CID)
    assert files.cpu_usage == str(
        v1_cgroupfs / "sys/fs/cgroup/cpu,cpuacct/docker" / CID / "cpuacct.usage")


def test_v1_systemd_driver(tmp_path):
    scope = "/system.slice/docker-%s.scope" % CID
    proc_files(tmp_path, MOUNTINFO_V1, "4:memory:%s\n2:cpu,cpuacct:%s\n" % (scope, scope))
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory" + scope, "/sys/fs/cgroup/cpu,cpuacct" + scope)
    files = locate_cgroup(PID, CID, str(tmp_path))
    assert files.version == 1
    assert files.memory_stat.endswith("/sys/fs/cgroup/memory%s/memory.stat" % scope)


def test_v2_systemd_driver(tmp_path):
    scope = "/system.slice/docker-%s.scope" % CID
    proc_files(tmp_path, MOUNTINFO_V2, "0::%s\n" % scope)
    v2_cgroup(tmp_path, "/sys/fs/cgroup" + scope)
    files = locate_cgroup(PID, CID, str(tmp_path))
    assert files.version == 2
    assert files.memory_usage == str(tmp_path / ("sys/fs/cgroup" + scope) / "memory.current")
    assert files.cpu_usage.endswith(scope + "/cpu.stat")


def test_custom_cgroup_parent_found_only_through_proc(tmp_path):
    path = "/pterodactyl/%s" % CID
    proc_files(tmp_path, MOUNTINFO_V2, "0::%s\n" % path)
    v2_cgroup(tmp_path, "/sys/fs/cgroup" + path)
    assert locate_cgroup(PID, CID, str(tmp_path)).memory_usage.endswith(path + "/memory.current")


def test_conventional_paths_when_the_pid_is_unknown(tmp_path):
    proc_files(tmp_path, MOUNTINFO_V2, None, pid=0)
    v2_cgroup(tmp_path, "/sys/fs/cgroup/docker/" + CID)
    files = locate_cgroup(0, CID, str(tmp_path))
    assert files.version == 2
    assert files.memory_limit == str(tmp_path / "sys/fs/cgroup/docker" / CID / "memory.max")


def test_recycled_pid_in_another_cgroup_is_not_trusted(tmp_path):
    proc_files(tmp_path, MOUNTINFO_V1, "4:memory:/user.slice\n2:cpu,cpuacct:/user.slice\n")
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory/user.slice", "/sys/fs/cgroup/cpu,cpuacct/user.slice")
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory/docker/" + CID,
              "/sys/fs/cgroup/cpu,cpuacct/docker/" + CID)
    assert "/docker/%s/" % CID in locate_cgroup(PID, CID, str(tmp_path)).memory_usage


def test_mount_of_a_sub_hierarchy_is_translated(tmp_path):
    """A hierarchy mounted from /outer: its cgroup /outer/docker/<id> is <mount>/docker/<id>."""
    mountinfo = ("35 31 0:32 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                 "32 31 0:29 /outer /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n")
    proc_files(tmp_path, mountinfo, "4:memory:/outer/docker/%s\n3:cpuacct:/outer/docker/%s\n"
               % (CID, CID))
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory/docker/" + CID,
              "/sys/fs/cgroup/cpuacct/docker/" + CID)
    files = locate_cgroup(PID, CID, str(tmp_path))
    assert files.cpu_usage == str(tmp_path / "sys/fs/cgroup/cpuacct/docker" / CID / "cpuacct.usage")


def test_missing_cgroup_raises(tmp_path):
    proc_files(tmp_path, MOUNTINFO_V1, "4:memory:/docker/%s\n" % CID)
    with pytest.raises(StatsUnavailable):
        locate_cgroup(PID, CID, str(tmp_path))
    with pytest.raises(StatsUnavailable):
        StatsReader(PID, CID, 0.0, str(tmp_path)).sample(1.0)


def test_parse_mountinfo_optional_fields_and_escapes():
    text = ("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:10 master:2 - cgroup cgroup "
            "rw,cpu,cpuacct\n"
            "33 31 0:30 /a\\040b /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n"
            "34 31 0:31 / /proc rw - proc proc rw\n")
    first, second = parse_mountinfo(text)
    assert (first.point, first.root, first.fstype) == ("/sys/fs/cgroup/cpu,cpuacct", "/", "cgroup")
    assert {"cpu", "cpuacct"} <= first.options
    assert (second.point, second.root, second.fstype) == ("/mnt/cg v2", "/a b", "cgroup2")


def test_parse_proc_cgroup():
    paths = parse_proc_cgroup("4:memory:/docker/x\n2:cpu,cpuacct:/docker/y\n0::/z\n")
    assert paths == {"memory": "/docker/x", "cpu": "/docker/y", "cpuacct": "/docker/y", "": "/z"}


# sampling

def test_v1_sample_figures(v1_cgroupfs):
    """§4.1: memory = usage - total_inactive_file; unlimited -> host RAM; lo not counted."""
    reader = StatsReader(PID, CID, 1000.0, str(v1_cgroupfs))
    sample = reader.sample(1012.3456)
    assert sample == {
        "memory_bytes": 500_000_000 - 120_000_000,
        "memory_limit_bytes": MEM_TOTAL_KB * 1024,
        "cpu_absolute": 0.0,
        "network": {"rx_bytes": 123456 + 1000000000, "tx_bytes": 65432 + 10},
        "uptime": 12345,
    }


def test_v1_total_inactive_not_below_usage_falls_back_to_inactive_file(tmp_path):
    """§4.1: total_inactive_file counts only when below usage; then inactive_file does."""
    proc_files(tmp_path, MOUNTINFO_V1, "4:memory:/docker/%s\n2:cpu,cpuacct:/docker/%s\n"
               % (CID, CID))
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory/docker/" + CID,
              "/sys/fs/cgroup/cpu,cpuacct/docker/" + CID, usage=120_000_000)
    assert StatsReader(PID, CID, 0.0, str(tmp_path)).sample(1.0)["memory_bytes"] == \
        120_000_000 - 1000


def test_v1_hard_limit_is_reported_as_is(tmp_path):
    proc_files(tmp_path, MOUNTINFO_V1, "4:memory:/docker/%s\n2:cpu,cpuacct:/docker/%s\n"
               % (CID, CID))
    v1_cgroup(tmp_path, "/sys/fs/cgroup/memory/docker/" + CID,
              "/sys/fs/cgroup/cpu,cpuacct/docker/" + CID, limit=1_178_599_424)
    sample = StatsReader(PID, CID, 0.0, str(tmp_path)).sample(1.0)
    assert sample["memory_limit_bytes"] == 1_178_599_424


def test_cpu_percent_between_samples_v1(v1_cgroupfs):
    """§4.1 example: 0.2 s of container CPU in one second (4 CPUs accumulate 4 s) -> 20.0."""
    clock = FakeClock()
    reader = StatsReader(PID, CID, 1000.0, str(v1_cgroupfs), clock=clock)
    assert reader.sample(1001.0)["cpu_absolute"] == 0.0
    cpu_file = v1_cgroupfs / "sys/fs/cgroup/cpu,cpuacct/docker" / CID / "cpuacct.usage"
    cpu_file.write_text("200000000\n")
    clock.advance(1.0)
    sample = reader.sample(1002.0)
    assert sample["cpu_absolute"] == 20.0
    assert json.dumps(usage_object(sample, "running", 0)["cpu_absolute"]) == "20"


def test_v2_sample_figures_and_cpu(tmp_path):
    """§4.1 cgroup v2: memory.current - inactive_file, memory.max "max" -> host RAM."""
    scope = "/system.slice/docker-%s.scope" % CID
    proc_files(tmp_path, MOUNTINFO_V2, "0::%s\n" % scope)
    v2_cgroup(tmp_path, "/sys/fs/cgroup" + scope, usage_usec=1_000_000)
    clock = FakeClock()
    reader = StatsReader(PID, CID, 50.0, str(tmp_path), clock=clock)
    first = reader.sample(50.0)
    assert first["memory_bytes"] == 400_000_000 - 60_000_000
    assert first["memory_limit_bytes"] == MEM_TOTAL_KB * 1024
    assert first["uptime"] == 0
    v2_cgroup(tmp_path, "/sys/fs/cgroup" + scope, limit="1073741824", usage_usec=1_750_000)
    clock.advance(1.0)
    second = reader.sample(51.0)
    # 0.75 s of CPU in one second = 75 % of one core.
    assert second["cpu_absolute"] == 75.0
    assert second["memory_limit_bytes"] == 1073741824


def test_files_are_read_again_in_place(v1_cgroupfs):
    """Held files: a rewritten value is seen by the next sample, and close releases them."""
    reader = StatsReader(PID, CID, 0.0, str(v1_cgroupfs))
    assert reader.sample(1.0)["memory_limit_bytes"] == MEM_TOTAL_KB * 1024
    memory = v1_cgroupfs / "sys/fs/cgroup/memory/docker" / CID
    (memory / "memory.limit_in_bytes").write_text("1073741824\n")
    (memory / "memory.usage_in_bytes").write_text("130000000\n")
    sample = reader.sample(2.0)
    assert sample["memory_limit_bytes"] == 1073741824
    assert sample["memory_bytes"] == 130_000_000 - 120_000_000
    open_before = len(os.listdir("/proc/self/fd"))
    reader.close()
    reader.close()
    assert len(os.listdir("/proc/self/fd")) == open_before - 5


def test_process_gone_before_the_first_sample_raises(v1_cgroupfs):
    os.remove(v1_cgroupfs / ("proc/%d/net/dev" % PID))
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(StatsUnavailable):
        StatsReader(PID, CID, 0.0, str(v1_cgroupfs)).sample(1.0)
    assert len(os.listdir("/proc/self/fd")) == open_before


def test_unreadable_value_raises_stats_unavailable(v1_cgroupfs):
    reader = StatsReader(PID, CID, 0.0, str(v1_cgroupfs))
    reader.sample(1.0)
    (v1_cgroupfs / "sys/fs/cgroup/cpu,cpuacct/docker" / CID / "cpuacct.usage").write_text("")
    with pytest.raises(StatsUnavailable):
        reader.sample(2.0)
    reader.close()


# formulas

def test_cpu_percent_formula_and_guards():
    """Appendix A: cpu_delta / sys_delta * 100 * cpus, where sys_delta = elapsed * cpus;
    3 decimals, 0 unless both deltas > 0."""
    assert cpu_percent(200_000_000, 1_000_000_000) == 20.0
    assert cpu_percent(2_500_000_000, 1_000_000_000) == 250.0
    assert cpu_percent(0, 1_000_000_000) == 0.0
    assert cpu_percent(-5, 1_000_000_000) == 0.0
    assert cpu_percent(5, 0) == 0.0
    assert cpu_percent(1, 3) == 33.333


def test_cpu_percent_rounds_halves_away_from_zero():
    """Go math.Round: 1.5625 -> 1.563 (Python's round() would give 1.562)."""
    assert cpu_percent(1, 64) == 1.563
    assert cpu_percent(3, 64) == 4.688


def test_memory_working_set_rules():
    """§4.1: total_inactive_file first (v1), else inactive_file (v2), else raw usage."""
    assert memory_working_set(1000, 300, 10) == 700
    assert memory_working_set(1000, 1000, 10) == 990
    assert memory_working_set(1000, None, 400) == 600
    assert memory_working_set(1000, None, 1500) == 1000
    assert memory_working_set(1000, None, None) == 1000


def test_stat_field_matches_whole_keys_only():
    data = b"cache 1\ntotal_inactive_file 300\ninactive_file 10\nlast 7"
    assert stat_field(data, b"inactive_file") == 10
    assert stat_field(data, b"total_inactive_file") == 300
    assert stat_field(data, b"cache") == 1
    assert stat_field(data, b"last") == 7
    assert stat_field(b"total_inactive_file 300\n", b"inactive_file") is None
    assert stat_field(b"", b"usage_usec") is None


def test_parse_net_dev_skips_lo_and_handles_glued_counters():
    text = NET_DEV + "eth2:4294967296 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
    assert parse_net_dev(text.encode()) == (123456 + 1000000000 + 4294967296, 65432 + 10 + 7)


# usage object

def test_usage_object_key_order_and_values():
    """§4.2 / wings-api.md §10.8: exact keys in Wings' order."""
    sample = {"memory_bytes": 1, "memory_limit_bytes": 2, "cpu_absolute": 12.345,
              "network": {"rx_bytes": 3, "tx_bytes": 4}, "uptime": 5}
    obj = usage_object(sample, "running", 6)
    assert json.dumps(obj, separators=(",", ":")) == (
        '{"memory_bytes":1,"memory_limit_bytes":2,"cpu_absolute":12.345,'
        '"network":{"rx_bytes":3,"tx_bytes":4},"uptime":5,"state":"running","disk_bytes":6}')
    obj["network"]["rx_bytes"] = 99
    assert sample["network"]["rx_bytes"] == 3


@pytest.mark.parametrize("cpu", [12.345, 20.0, 0.0, 0, 0.001, 1e-05, 123456.789])
def test_usage_json_is_the_usage_object_dumped(cpu):
    """The stats loop writes the event's JSON itself: byte for byte what the encoder writes
    for the usage object, whole CPU figures without a fraction (Go)."""
    sample = {"memory_bytes": 2**40 + 1, "memory_limit_bytes": 2, "cpu_absolute": cpu,
              "network": {"rx_bytes": 3, "tx_bytes": 2**33}, "uptime": 5}
    for state in ("starting", "running", "stopping", "offline"):
        assert usage_json(sample, state, 6) == envelope.dump(usage_object(sample, state, 6))


def test_zero_usage_keeps_only_the_memory_limit():
    """§4.2: offline zeroes memory, cpu, uptime and network; memory_limit_bytes is kept."""
    assert json.dumps(zero_usage(1_178_599_424, "offline", 4096), separators=(",", ":")) == (
        '{"memory_bytes":0,"memory_limit_bytes":1178599424,"cpu_absolute":0,'
        '"network":{"rx_bytes":0,"tx_bytes":0},"uptime":0,"state":"offline","disk_bytes":4096}')


# this machine's real /proc (no Docker)

def test_real_net_dev_matches_psutil():
    with open("/proc/self/net/dev", "rb") as f:
        before = parse_net_dev(f.read())
    counters = psutil.net_io_counters(pernic=True)
    with open("/proc/self/net/dev", "rb") as f:
        after = parse_net_dev(f.read())
    rx = sum(c.bytes_recv for name, c in counters.items() if name != "lo")
    tx = sum(c.bytes_sent for name, c in counters.items() if name != "lo")
    assert before[0] <= rx <= after[0]
    assert before[1] <= tx <= after[1]


def test_real_cgroup_of_this_process():
    """Locating through the real mount table; skipped where our own cgroup has no files."""
    try:
        sample = StatsReader(os.getpid(), "", time.time() - 2.0).sample(time.time())
    except StatsUnavailable as e:
        pytest.skip("own cgroup not readable here: %s" % e)
    assert sample["memory_bytes"] > 0
    assert 0 < sample["memory_limit_bytes"] <= psutil.virtual_memory().total
    assert 1900 <= sample["uptime"] <= 3000


@pytest.fixture
def real_container_cgroup():
    """An empty cgroup where Docker would put a container's (``docker/<id>`` on v1,
    ``system.slice/docker-<id>.scope`` on v2); removed afterwards. Needs root."""
    container_id = "wingspantest" + uuid.uuid4().hex
    with open("/proc/self/mountinfo") as f:
        mounts = parse_mountinfo(f.read())
    v1 = [m.point for m in mounts if m.fstype == "cgroup" and m.options & {"memory", "cpuacct"}]
    if v1:
        made = [os.path.join(point, "docker", container_id) for point in v1]
    else:
        made = [os.path.join(m.point, "system.slice", "docker-%s.scope" % container_id)
                for m in mounts if m.fstype == "cgroup2"][:1]
    created = []
    try:
        for directory in made:
            os.mkdir(directory)
            created.append(directory)
    except OSError as e:
        for directory in created:
            os.rmdir(directory)
        pytest.skip("cannot create a cgroup here: %s" % e)
    yield container_id, created
    for directory in created:
        if os.path.isdir(directory):
            os.rmdir(directory)


def test_removed_cgroup_ends_sampling(real_container_cgroup):
    """The kernel fails reads of a removed cgroup's open files (ENODEV): when Docker
    removes a stopped container's cgroup, the next sample raises instead of repeating."""
    container_id, directories = real_container_cgroup
    reader = StatsReader(os.getpid(), container_id, time.time())
    try:
        assert reader.sample(time.time())["memory_bytes"] == 0
        for directory in directories:
            os.rmdir(directory)
        with pytest.raises(StatsUnavailable):
            reader.sample(time.time())
    finally:
        reader.close()
