"""Filesystem benchmarks (issue 6), each against a baseline measured in the same run.

* ``GET /files/list-directory`` of a 100 000-file directory against ``os.scandir`` + lstat
  of each entry: the first listing (every file opened and sniffed) of three such
  directories and the next ones of one (MIME types from the sniff caches), then the
  latency of a ``GET /api/system`` loop while a fourth one is listed.
* ``wingspan.filesystem.disk_usage`` of a 200 000-file tree against ``du -s -b``.
* A 2 GiB signed download and upload (wings-api.md §7.4, §7.6) against
  ``shutil.copyfile`` of the same file on the same disk, in interleaved rounds, and the
  API process's RSS growth.

Files live under the daemon's data directory (listing, transfers) or a temporary directory
(disk usage) and are removed at the end; no server is started.
"""

import http.client
import json
import multiprocessing
import os
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse

import psutil
import requests

from bench.figures import Figure
from bench.node import BenchNode
from tests.support.panel_jwt import panel_jwt
from tests.support.polling import wait_until
from wingspan.filesystem import disk_usage

ROUNDS = 3
# A walk takes about a second and its time here swings by a third from one to the next:
# the usage figures are medians of more rounds, each side going first in every other one.
USAGE_ROUNDS = 7
LISTING_DIRECTORIES = 3  # each listed once with every file sniffed: their median
LISTING_AGAIN = 3  # listings of the last one again, MIME types cached
LISTING_FILES = 100_000
USAGE_FILES = 200_000
USAGE_DIRS = (20, 10)  # 20 top directories of 10 subdirectories each: 1 000 files a leaf
USAGE_MAX_FILE = 4096
TRANSFER_BYTES = 2 * 1024 ** 3
MIB = 1024 * 1024
GIB = 1024 * MIB
CHUNK = 4 * MIB
RSS_INTERVAL = 0.05
UPLOAD_LIMIT_MIB = 4096
USER = {"uuid": "5d1c5f0e-2b1f-4e43-9d0c-6f2d3a7b9e10", "id": 1}
SIGNED_TTL = 900
TRANSFER_TIMEOUT = (5, 300)
LISTING_TIMEOUT = (5, 300)
PROBE_TIMEOUT = (2, 30)
IDLE_PROBE = 3.0
PROBE_INTERVAL = 0.01  # 100 requests a second: far more than a Panel sends one node
SNIFF_BYTES = 3072
DU_TIMEOUT = 600
# Three 2 GiB copies (source, baseline copy, upload), the trees and room to spare.
NEEDED_BYTES = 8 * 1024 ** 3
NEEDED_INODES = LISTING_FILES * (LISTING_DIRECTORIES + 1) + USAGE_FILES + 10_000


class NotEnoughRoom(RuntimeError):
    """The disk lacks the space or inodes the benchmark needs."""


class WrongResult(AssertionError):
    """A measured operation answered wrongly, so its timing means nothing."""


def run():
    check_room(tempfile.gettempdir())
    figures = usage_figures()
    node = BenchNode(1, config={"api": {"upload_limit": UPLOAD_LIMIT_MIB}})
    uuid = node.uuids[0]
    try:
        # No quota: the upload writes 2 GiB (the Panel's default document has 256 MiB).
        node.panel.add_server(uuid, disk=0)
        node.daemon.start()
        root = os.path.join(node.daemon.config["system"]["data"], uuid)
        wait_until(lambda: os.path.isdir(root), timeout=30, what="the server root")
        check_room(root)
        figures += listing_figures(node.daemon, uuid, root)
        figures += transfer_figures(node, uuid, root)
    finally:
        node.close()
    return figures


def check_room(path):
    """Refuse to start on a disk without the space and inodes every tree and copy need."""
    fs = os.statvfs(path)
    free, inodes = fs.f_bavail * fs.f_frsize, fs.f_favail
    if free < NEEDED_BYTES or inodes < NEEDED_INODES:
        raise NotEnoughRoom("%s: %d MiB and %d inodes free, %d MiB and %d inodes needed"
                            % (path, free // MIB, inodes, NEEDED_BYTES // MIB, NEEDED_INODES))


# -- disk usage ----------------------------------------------------------------------------

def usage_figures():
    top = tempfile.mkdtemp(prefix="wingspan-bench-du-")
    try:
        expected = build_usage_tree(top)
        ours, theirs = [], []  # seconds; (bytes, seconds) of du
        sides = (lambda: ours.append(timed_disk_usage(top, expected)),
                 lambda: theirs.append(timed(du_apparent_bytes, top)))
        for round_number in range(USAGE_ROUNDS):
            for measure in sides if round_number % 2 == 0 else sides[::-1]:
                measure()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    du_bytes = theirs[-1][0]
    return [
        Figure("disk usage, %dk files (median of %d), s" % (USAGE_FILES // 1000, USAGE_ROUNDS),
               statistics.median(ours), statistics.median(elapsed for _, elapsed in theirs),
               unit="s", target="ratio <= 1.5 vs du -s -b"),
        # Wings counts regular files only; du -b adds every directory's own size.
        Figure("bytes counted: files only vs du -s -b, MiB", expected / MIB, du_bytes / MIB,
               unit=" MiB", target="ratio < 1 (du adds directories)"),
    ]


def timed_disk_usage(top, expected):
    counted, elapsed = timed(disk_usage, top)
    if counted != expected:
        raise WrongResult("disk_usage counted %d bytes, the tree holds %d" % (counted, expected))
    return elapsed


def build_usage_tree(top):
    """``USAGE_FILES`` files of 0 to 4 KiB in ``USAGE_DIRS`` directories; their byte total."""
    outer, inner = USAGE_DIRS
    per_leaf = USAGE_FILES // (outer * inner)
    sizes = random.Random(6)
    block = os.urandom(USAGE_MAX_FILE)
    total = 0
    for i in range(outer):
        for j in range(inner):
            leaf = os.path.join(top, "region-%02d" % i, "chunk-%02d" % j)
            os.makedirs(leaf)
            for k in range(per_leaf):
                size = sizes.randrange(USAGE_MAX_FILE + 1)
                write_file(os.path.join(leaf, "f%04d.dat" % k), block[:size])
                total += size
    os.sync()  # written back now, not by kernel threads competing with the first walk
    return total


def du_apparent_bytes(top):
    """``du -s -b``: apparent bytes of everything under ``top``, directories included."""
    out = subprocess.run(["du", "-s", "-b", top], check=True, capture_output=True, text=True,
                         timeout=DU_TIMEOUT).stdout
    return int(out.split()[0])


# -- directory listing ---------------------------------------------------------------------

def listing_figures(daemon, uuid, root):
    """Listing times are taken on a quiet node (a load generator on this 2-core machine
    would take CPU from the daemon's two processes, not from the one-threaded baseline);
    the ``GET /api/system`` probe runs during listings of one more directory."""
    timed_names = ["listing-%d" % n for n in range(LISTING_DIRECTORIES)]
    probed_name = "listing-probed"
    try:
        for name in timed_names + [probed_name]:
            build_listing(os.path.join(root, name))
        os.sync()  # written back now, not by kernel threads competing with the listings
        # Each directory's first listing sniffs every file; the last one is listed again,
        # the MIME types then coming from the sniff caches of the API and the worker
        # (files unchanged), as when a user comes back to a directory.
        first = [timed_listings(daemon, uuid, root, name, 1) for name in timed_names]
        again = timed_listings(daemon, uuid, root, timed_names[-1], LISTING_AGAIN)
        with ApiProbe(daemon.url, daemon.token) as probe:
            idle = (time.monotonic(), time.monotonic() + IDLE_PROBE)
            time.sleep(IDLE_PROBE)
            probed = timed_listings(daemon, uuid, root, probed_name, LISTING_AGAIN)
        busy = sorted(probe.latencies_within(probed.windows))
        quiet = sorted(probe.latencies_within([idle]))
    finally:
        for name in timed_names + [probed_name]:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    if not busy or not quiet:
        raise WrongResult("GET /api/system never answered while the listings ran or before")
    first_ours = [rounds.ours[0] for rounds in first]
    first_theirs = [rounds.theirs[0] for rounds in first]
    label = "list-directory, %dk files, " % (LISTING_FILES // 1000)
    return [
        Figure(label + "first (median of %d directories, vs scandir + lstat), s"
               % LISTING_DIRECTORIES, statistics.median(first_ours),
               statistics.median(first_theirs), unit="s",
               target="ratio <= 3 vs scandir + lstat"),
        Figure(label + "first, slowest of %d, s" % LISTING_DIRECTORIES, max(first_ours),
               statistics.median(first_theirs), unit="s", target="(spread)"),
        Figure(label + "again (median of %d), s" % LISTING_AGAIN, statistics.median(again.ours),
               statistics.median(again.theirs), unit="s",
               target="ratio <= 3 vs scandir + lstat"),
        # Not a target: how much of the first listing the MIME sniff's reads cost at least.
        Figure(label + "first vs scandir + lstat + read 3 KiB, s",
               statistics.median(first_ours),
               statistics.median(rounds.sniffed[0] for rounds in first), unit="s",
               target="(context)"),
        Figure(label + "first, while the probe runs, s", probed.ours[0], probed.theirs[0],
               unit="s", target="(context)"),
    ] + probe_figures(busy, quiet)


class ListingRounds:
    """Times of listings of one directory through the API, each followed by the baselines
    on the same directory, and the windows (monotonic) the listings ran in."""

    def __init__(self):
        self.ours, self.theirs, self.sniffed, self.windows = [], [], [], []


def timed_listings(daemon, uuid, root, name, rounds):
    measured = ListingRounds()
    directory = os.path.join(root, name)
    for _ in range(rounds):
        started = time.monotonic()
        body, elapsed = timed(list_directory, daemon, uuid, "/" + name)
        measured.windows.append((started, started + elapsed))
        measured.ours.append(elapsed)
        check_listing(body)
        measured.theirs.append(timed(scandir_lstat, directory)[1])
        measured.sniffed.append(timed(scandir_lstat_read, directory)[1])
    return measured


def probe_figures(busy, quiet):
    """``GET /api/system`` latencies during the listings; the baseline is the same loop
    against the idle daemon just before."""
    label = "GET /api/system during listing (vs idle), "
    return [
        Figure(label + "p50, ms", ms(percentile(busy, 50)), ms(percentile(quiet, 50)),
               unit="ms"),
        Figure(label + "p99, ms", ms(percentile(busy, 99)), ms(percentile(quiet, 99)),
               unit="ms", target="p99 <= 50 ms"),
        Figure(label + "max, ms", ms(busy[-1]), ms(quiet[-1]), unit="ms"),
        Figure(label + "samples", len(busy), len(quiet)),
    ]


def ms(seconds):
    return seconds * 1000


def build_listing(directory):
    """``LISTING_FILES`` small text files, as logs and configs of a game server are."""
    os.makedirs(directory)
    for i in range(LISTING_FILES):
        write_file(os.path.join(directory, "entry-%06d.txt" % i),
                   b"entry %d of the listing benchmark\n" % i)


def list_directory(daemon, uuid, directory):
    response = daemon.get("/api/servers/%s/files/list-directory" % uuid,
                          query={"directory": directory}, timeout=LISTING_TIMEOUT)
    if response.status_code != 200:
        raise WrongResult("list-directory answered %d: %s"
                          % (response.status_code, response.text[:200]))
    return response.content


def check_listing(body):
    """Parsed after the clock stopped: the Panel parses too, but that is not the daemon."""
    entries = json.loads(body)
    if len(entries) != LISTING_FILES:
        raise WrongResult("list-directory returned %d entries, not %d"
                          % (len(entries), LISTING_FILES))


def scandir_lstat(directory):
    count = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            entry.stat(follow_symlinks=False)
            count += 1
    return count


def scandir_lstat_read(directory):
    """:func:`scandir_lstat` plus what sniffing a MIME type needs: the first 3 KiB read."""
    count = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            entry.stat(follow_symlinks=False)
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.read(fd, SNIFF_BYTES)
            finally:
                os.close(fd)
            count += 1
    return count


class ApiProbe:
    """A ``GET /api/system`` loop in its own process, so the benchmark's own work (reading a
    20 MB listing) does not delay the probe's requests, only the daemon can."""

    def __init__(self, url, token):
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=probe_loop, args=(url, token, self._stop, sender),
                                        daemon=True)
        self.samples = []

    def __enter__(self):
        self._process.start()
        if not self._results.poll(30):
            self._process.kill()
            raise WrongResult("the /api/system probe did not start")
        self._results.recv()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._results.poll(60):
            self.samples = self._results.recv()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()

    def latencies_within(self, windows):
        """Latencies of the requests sent while one of ``windows`` (monotonic) was open."""
        return [latency for sent, latency in self.samples
                if any(start <= sent <= end for start, end in windows)]


def probe_loop(url, token, stop, results):
    """Child process: time a ``GET /api/system`` every ``PROBE_INTERVAL`` (or as soon as the
    last one is answered, if it took longer) until ``stop``; send the ``(sent, seconds)``
    pairs (CLOCK_MONOTONIC is shared by every process of the host). Paced, not back to
    back: a probe that is itself a flood of requests measures how the API shares the
    machine's two cores with it, not how long another user waits."""
    session = requests.Session()
    headers = {"Authorization": "Bearer %s" % token, "Accept": "application/json"}
    samples = []
    results.send("ready")
    while not stop.is_set():
        sent = time.monotonic()
        response = session.get(url + "/api/system", headers=headers, timeout=PROBE_TIMEOUT)
        samples.append((sent, time.monotonic() - sent))
        if response.status_code != 200:
            break
        stop.wait(max(0.0, sent + PROBE_INTERVAL - time.monotonic()))
    results.send(samples)


def percentile(ordered, p):
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[rank - 1]


# -- signed download and upload -----------------------------------------------------------

def transfer_figures(node, uuid, root):
    """Rounds interleave the three transfers: this disk's speed drifts a lot over a run,
    and each median's figures then come from the same stretch of time.

    The copy and the upload each write a new 2 GiB file, and each starts the same way:
    right after the other's file was removed. This VM hands memory freed for a few seconds
    back to its host (virtio-balloon free page reporting), and writing into pages the host
    must fault in again can halve the speed of either transfer (``shutil.copyfile`` here:
    2.2-2.4 GiB/s right after removing its last copy, 1.0-1.4 GiB/s six seconds after).
    A fixed order that let one of them always follow a removal and the other never would
    measure the memory, not the transfer."""
    daemon = node.daemon
    source = os.path.join(root, "big.bin")
    copy = os.path.join(daemon.base_dir, "baseline-copy.bin")
    upload_dir = os.path.join(root, "up")
    uploaded = os.path.join(upload_dir, "big.bin")
    api = psutil.Process(api_pid(daemon))
    downs, ups, copies = [], [], []
    try:
        build_big_file(source)
        shutil.copyfile(source, copy)  # the first measured copy also follows a removal
        for _ in range(ROUNDS):
            downs.append(measured_transfer(api, download, daemon, node.panel.token, uuid))
            remove_quietly(uploaded)
            copies.append(throughput(shutil.copyfile, source, copy))
            remove_quietly(copy)
            ups.append(measured_transfer(api, upload, daemon, node.panel.token, uuid, source))
            if os.path.getsize(uploaded) != TRANSFER_BYTES:
                raise WrongResult("the upload wrote %d bytes" % os.path.getsize(uploaded))
    finally:
        remove_quietly(source)
        remove_quietly(copy)
        shutil.rmtree(upload_dir, ignore_errors=True)
    baseline = statistics.median(copies)
    return [
        Figure("signed download, 2 GiB (median of %d), GiB/s" % ROUNDS,
               statistics.median(speed for speed, _ in downs), baseline, unit=" GiB/s",
               target="ratio >= 0.5 vs copyfile (median of %d)" % ROUNDS),
        Figure("signed upload, 2 GiB (median of %d), GiB/s" % ROUNDS,
               statistics.median(speed for speed, _ in ups), baseline, unit=" GiB/s",
               target="ratio >= 0.5 vs copyfile (median of %d)" % ROUNDS),
        Figure("API RSS growth during download (max), MiB", max(rss for _, rss in downs),
               unit=" MiB", target="<= 32 MiB"),
        Figure("API RSS growth during upload (max), MiB", max(rss for _, rss in ups),
               unit=" MiB", target="<= 32 MiB"),
    ]


def api_pid(daemon):
    for title, pid in daemon.processes().items():
        if title == "wingspan: api" or " -m api " in " %s " % title:
            return pid
    raise WrongResult("no API process among %s" % sorted(daemon.processes()))


def build_big_file(path):
    block = os.urandom(CHUNK)
    with open(path, "wb") as out:
        for _ in range(TRANSFER_BYTES // CHUNK):
            out.write(block)


def measured_transfer(api, transfer, *args):
    """GiB/s of ``transfer(*args)`` and the API process's RSS growth meanwhile, in MiB."""
    with RssSampler(api) as rss:
        speed = throughput(transfer, *args)
    return speed, rss.growth / MIB


def throughput(transfer, *args):
    """GiB/s of ``transfer(*args)``, dirty pages of earlier writes flushed first."""
    os.sync()
    return TRANSFER_BYTES / GIB / timed(transfer, *args)[1]


def signed_token(panel_token, daemon, uuid, claims):
    """A signed-URL JWT as the Panel mints it for user ``USER`` (panel-contract.md §3)."""
    return panel_jwt(panel_token, daemon.url, "%d%s" % (USER["id"], uuid), ttl=SIGNED_TTL,
                     claims=claims, user=USER)


def download(daemon, panel_token, uuid):
    """``GET /download/file`` streamed and discarded (wings-api.md §7.4)."""
    token = signed_token(panel_token, daemon, uuid,
                         [("file_path", "/big.bin"), ("server_uuid", uuid)])
    received = 0
    with requests.get(daemon.url + "/download/file", params={"token": token}, stream=True,
                      timeout=TRANSFER_TIMEOUT) as response:
        if response.status_code != 200:
            raise WrongResult("download answered %d: %s"
                              % (response.status_code, response.text[:200]))
        for chunk in response.iter_content(CHUNK):
            received += len(chunk)
    if received != TRANSFER_BYTES:
        raise WrongResult("the download delivered %d bytes" % received)


def upload(daemon, panel_token, uuid, source):
    """``POST /upload/file`` of ``source`` as the one ``files`` part (wings-api.md §7.6).

    The file's bytes go out with ``sendfile``: in production the uploader is another
    machine, and a client copying 2 GiB through its own buffers here would take half of
    this machine's memory bandwidth from the daemon it is measuring."""
    token = signed_token(panel_token, daemon, uuid, [("server_uuid", uuid)])
    boundary = "wingspan-bench-%s" % secrets.token_hex(12)
    head = ("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    url = urllib.parse.urlsplit(daemon.url)
    connection = http.client.HTTPConnection(url.hostname, url.port,
                                            timeout=TRANSFER_TIMEOUT[1])
    try:
        connection.putrequest("POST", "/upload/file?" + urllib.parse.urlencode(
            {"token": token, "directory": "/up"}))
        connection.putheader("Content-Type", "multipart/form-data; boundary=%s" % boundary)
        connection.putheader("Content-Length", str(len(head) + os.path.getsize(source)
                                                   + len(tail)))
        connection.endheaders(head)
        with open(source, "rb") as f:
            connection.sock.sendfile(f)
        connection.send(tail)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise WrongResult("upload answered %d: %s" % (response.status, body[:200]))


class RssSampler:
    """The peak RSS of a process above its RSS at the start, sampled every 50 ms."""

    def __init__(self, process):
        self.process = process
        self.start = self.peak = process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def growth(self):
        return self.peak - self.start

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.process.memory_info().rss)

    def _sample(self):
        while not self._done.wait(RSS_INTERVAL):
            self.peak = max(self.peak, self.process.memory_info().rss)


# -- helpers ------------------------------------------------------------------------------

def timed(func, *args):
    """``func(*args)`` and the seconds it took."""
    started = time.perf_counter()
    result = func(*args)
    return result, time.perf_counter() - started


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        return
