"""Backup and restore benchmarks (issue 17), each against a baseline of the same run.

* A backup (wings adapter, level 1) of a mixed server tree (compressible text and
  incompressible data, 2 GiB by default) against ``tar -cf - . | gzip -1`` of the same tree
  into the same directory: wingspan compresses on every core, the baseline on one.
* A restore of that backup (the server offline, truncating the root first) against
  ``tar -xzf`` of the same archive into an empty directory on the same disk.
* A streamed S3 backup to moto's server on loopback (the fake Panel presigning the parts
  as the Panel does) against the local backup of the same tree, with the peak temporary
  disk use of the backup directory while it runs.
* While a backup runs: the game container's CPU share (its one-core ``burn`` loop) and the
  p99 latency of ``GET /api/system``, beside the same figures with no backup running.

The baselines run at the CPU and I/O priority wingspan gives its jobs (nice 10, best-effort
7), so both sides compete for a busy machine on the same terms, and the baseline archive is
fsynced as a backup is before it is reported. ``BENCH_BACKUP_MIB`` sets
the tree's size (smoke runs use a few dozen MiB). The machine is shared and noisy: only
ratios measured in one run mean anything.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time

from bench.figures import Figure
from bench.files import ApiProbe, WrongResult, ms, percentile
from bench.node import BenchNode
from tests.support.diskprobe import DiskProbe
from tests.support.motos3 import MotoS3
from tests.support.polling import wait_until
from worker.jobs import JOB_NICENESS

MIB = 1024 * 1024
TREE_MIB = int(os.environ.get("BENCH_BACKUP_MIB", "2048"))
TEXT_SHARE = 0.5  # half the bytes compress well (logs, configs), half do not (worlds)
FILE_MIB = 16  # large files: what dominates a game server's bytes
SMALL_FILES = max(100, TREE_MIB)  # and many small ones: one per MiB of the tree
S3_PART_SIZE = 64 * MIB
JOB_TIMEOUT = 3600
BURN_SECONDS = 3600
IDLE_SECONDS = 5.0
GAME_START_TIMEOUT = 120


def run():
    node = BenchNode(1, config={"system": {"backups": {"compression_level": "best_speed"}}})
    uuid = node.uuids[0]
    s3 = MotoS3().start()
    try:
        # no quota: the tree is larger than the default document's disk limit
        port = node.panel.servers[uuid]["settings"]["allocations"]["default"]["port"]
        node.panel.add_server(uuid, disk=0, port=port)
        node.panel.s3_part_size = S3_PART_SIZE
        node.daemon.start()
        root = os.path.join(node.daemon.config["system"]["data"], uuid)
        wait_until(lambda: os.path.isdir(root), timeout=30, what="the server root")
        expected = build_tree(root)
        figures = throughput_figures(node, uuid, root, expected, s3)
        node.start_all(timeout=GAME_START_TIMEOUT)
        figures += sharing_figures(node, uuid)
    finally:
        try:
            node.close()
        finally:
            s3.stop()
    return figures


def build_tree(root):
    """``TREE_MIB`` of files under ``root``: half text, half random; returns their bytes."""
    total = TREE_MIB * MIB
    text_bytes = int(total * TEXT_SHARE)
    line = b"[12:00:00] [Server thread/INFO]: Player%d joined the game at x=%d y=64 z=%d\n"
    written = 0
    index = 0
    while written < total:
        text = written < text_bytes
        size = min(FILE_MIB * MIB, total - written)
        directory = os.path.join(root, "logs" if text else "world/region", "d%d" % (index % 8))
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "f%05d.%s" % (index, "log" if text else "mca"))
        with open(path, "wb") as f:
            if text:
                block = b"".join(line % (n, n * 7, n * 13) for n in range(MIB // 64))[:MIB]
                for _ in range(size // MIB):
                    f.write(block)
                f.write(block[:size % MIB])
            else:
                for _ in range(size // MIB):
                    f.write(os.urandom(MIB))
                f.write(os.urandom(size % MIB))
        written += size
        index += 1
    for n in range(SMALL_FILES):
        directory = os.path.join(root, "plugins", "p%d" % (n % 20))
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config%d.yml" % n), "wb") as f:
            f.write(b"enabled: true\nname: plugin %d\n" % n)
    return written


def throughput_figures(node, uuid, root, expected, s3):
    """Backup, restore and S3 backup of the offline server against their baselines."""
    backup_dir = os.path.join(node.daemon.config["system"]["backup_directory"], uuid)
    scratch = tempfile.mkdtemp(prefix="bench-backup-", dir=os.path.dirname(root))
    try:
        backup, ours = timed_backup(node, uuid, "wings")
        archive = os.path.join(backup_dir, backup + ".tar.gz")
        size = os.path.getsize(archive)
        theirs = timed_tar_gzip(root, os.path.join(scratch, "baseline.tar.gz"))
        restore_ours = timed_restore(node, uuid, backup, root, expected)
        restore_theirs = timed_tar_extract(archive, os.path.join(scratch, "extracted"))
        node.panel.backup_adapter = "s3"
        node.panel.s3 = s3
        with DiskProbe(backup_dir, suffix=".tmp") as disk:
            _, s3_seconds = timed_backup(node, uuid, "s3")
        node.panel.backup_adapter = "wings"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    mib = expected / MIB
    return [
        Figure("backup of %d MiB, MiB/s (vs tar | gzip -1)" % mib, mib / ours, mib / theirs,
               unit=" MiB/s", target="ratio >= 1.3"),
        Figure("archive size vs the tree, MiB", size / MIB, mib, unit=" MiB"),
        Figure("restore, MiB/s (vs tar -xzf)", mib / restore_ours, mib / restore_theirs,
               unit=" MiB/s", target="ratio >= 0.8"),
        Figure("S3 streamed backup, MiB/s (vs local backup)", mib / s3_seconds, mib / ours,
               unit=" MiB/s", target="ratio >= 0.7"),
        Figure("S3 peak temporary disk, MiB (vs 2 parts)", disk.peak / MIB,
               2 * S3_PART_SIZE / MIB, unit=" MiB", target="ratio <= 1"),
    ]


def sharing_figures(node, uuid):
    """The running game's CPU (a one-core ``burn`` loop) and the API's latency while a
    backup runs, beside the same figures with nothing else running."""
    daemon = node.daemon
    idle_share = game_share(node, uuid, None)
    with ApiProbe(daemon.url, daemon.token) as probe:
        time.sleep(IDLE_SECONDS)
        quiet_until = time.monotonic()
        done = threading.Event()
        shares = []
        meter = threading.Thread(target=lambda: shares.append(game_share(node, uuid, done)))
        meter.start()
        try:
            timed_backup(node, uuid, "wings")
        finally:
            done.set()
            meter.join()
        busy_window = (quiet_until, time.monotonic())
    quiet = sorted(latency for sent, latency in probe.samples if sent < quiet_until)
    busy = sorted(probe.latencies_within([busy_window]))
    return [
        Figure("game CPU share during backup (vs idle)", shares[0], idle_share,
               target="close to 1"),
        Figure("GET /api/system during backup (vs idle), p99, ms", ms(percentile(busy, 99)),
               ms(percentile(quiet, 99)), unit="ms"),
        Figure("GET /api/system during backup (vs idle), samples", len(busy), len(quiet)),
    ]


def timed_backup(node, uuid, adapter):
    """Start a backup as the Panel does and wait for its report: ``(uuid, seconds)``."""
    backup = node.panel.add_backup(uuid, disk=adapter)
    seen = len(node.panel.backup_reports)
    started = time.perf_counter()
    response = node.daemon.backup(uuid, backup, adapter)
    if response.status_code != 202:
        raise WrongResult("backup answered %d: %s" % (response.status_code, response.text))
    report = wait_until(lambda: next((r["body"] for r in node.panel.backup_reports[seen:]
                                      if r["uuid"] == backup), None),
                        timeout=JOB_TIMEOUT, interval=0.05, what="the backup report")
    elapsed = time.perf_counter() - started
    if not report["successful"]:
        raise WrongResult("the backup failed: %r" % report)
    return backup, elapsed


def game_share(node, uuid, until):
    """The game container's CPU (one core's share) while its ``burn`` loop runs, over
    ``IDLE_SECONDS`` or until the event ``until`` is set."""
    node.daemon.commands(uuid, ["burn %d" % BURN_SECONDS])
    time.sleep(0.5)
    container = node.client.containers.get(uuid)
    before, started = cpu_usage(container), time.monotonic()
    if until is None:
        time.sleep(IDLE_SECONDS)
    else:
        until.wait(JOB_TIMEOUT)
    share = (cpu_usage(container) - before) / (time.monotonic() - started)
    stop_burning(container)
    return share


def stop_burning(container):
    """End the game's ``burn`` loop: its console reads commands again (``stop`` too)."""
    container.exec_run(["sh", "-c", "for p in /proc/[0-9]*; do grep -qs 'while :' $p/cmdline "
                                    "&& kill ${p#/proc/}; done"])


def cpu_usage(container):
    """Seconds of CPU the container used so far, as Docker accounts it."""
    stats = container.stats(stream=False, one_shot=True)
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def timed_restore(node, uuid, backup, root, expected):
    seen = len(node.panel.restore_reports)
    started = time.perf_counter()
    response = node.daemon.restore(uuid, backup, "wings", True)
    if response.status_code != 202:
        raise WrongResult("restore answered %d: %s" % (response.status_code, response.text))
    report = wait_until(lambda: next((r for r in node.panel.restore_reports[seen:]
                                      if r["uuid"] == backup), None),
                        timeout=JOB_TIMEOUT, interval=0.05, what="the restore report")
    elapsed = time.perf_counter() - started
    if not report["successful"]:
        raise WrongResult("the restore failed")
    restored = sum(os.lstat(os.path.join(d, name)).st_size
                   for d, _, names in os.walk(root) for name in names)
    if restored < expected:
        raise WrongResult("the restore brought back %d bytes of %d" % (restored, expected))
    return elapsed


def at_job_priority(argv):
    """``argv`` at the priority wingspan gives its long file jobs: the baselines compete
    for this shared machine on the same terms as the job they are compared with."""
    return ["nice", "-n", str(JOB_NICENESS), "ionice", "-c", "2", "-n", "7"] + argv


def timed_tar_gzip(root, output):
    started = time.perf_counter()
    with open(output, "wb") as out:
        tar = subprocess.Popen(at_job_priority(["tar", "-cf", "-", "."]), cwd=root,
                               stdout=subprocess.PIPE)
        gzip = subprocess.Popen(at_job_priority(["gzip", "-1"]), stdin=tar.stdout, stdout=out)
        tar.stdout.close()
        if gzip.wait() != 0 or tar.wait() != 0:
            raise WrongResult("tar | gzip failed")
        # on disk before the clock stops, as a backup is before it is reported
        os.fsync(out.fileno())
    return time.perf_counter() - started


def timed_tar_extract(archive, directory):
    os.makedirs(directory)
    started = time.perf_counter()
    subprocess.run(at_job_priority(["tar", "-xzf", archive, "-C", directory]), check=True)
    return time.perf_counter() - started

