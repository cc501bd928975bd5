"""Console fan-out: 200 websocket viewers of one flooding server (issue 4).

Default throttle (at most 2,000 lines per 100 ms reach viewers). Of the 200 viewers, 180
read as fast as one client thread can; 20 are stalled: they authenticate, then never read
(with a small receive buffer, so they stall at once). The game floods for a fixed time,
then the server is killed. Reported:

* the API process's peak RSS (psutil, sampled every 50 ms), against its RSS with the same
  200 viewers connected before the flood, and its growth over the flood's second half
  (bounded memory: none);
* viewers the daemon closed (seen as close frames, once the stalled ones are drained at
  the end) and the daemon's own count of dropped clients (its log);
* how long ``GET /api/system`` takes meanwhile, and how many such probes go unanswered;
* per reading viewer, lines per second and the lag of what it receives: its arrival time
  minus the arrival of the same line on Docker's attach stream read in this process.
"""

import selectors
import statistics
import threading
import time

import psutil
import requests

from bench.cpu import flood_roles, role_figures, role_shares
from bench.figures import Figure
from bench.node import BenchNode
from bench.streams import CHUNK, AttachReader, ConsoleSocket, FrameSplitter, \
    attach_socket, flood_index, read_console

VIEWERS = 200
STALLED = 20
STALLED_RECEIVE_BUFFER = 4096
# A reading viewer's receive buffer is fixed, like a browser's TCP window over a real
# network: left to autotune on loopback it grows to megabytes, and the lag measured would
# be this process's own kernel buffer, not the daemon's queueing.
READING_RECEIVE_BUFFER = 256 * 1024
FLOOD = "flood 1000000000"
FLOOD_SECONDS = 45.0  # past the daemon's 30 s limit on a write nobody accepts
SETTLE = 1.0
DRAIN_SECONDS = 5.0
SELECT_TIMEOUT = 0.2
RSS_INTERVAL = 0.05
PROBE_INTERVAL = 0.5
PROBE_TIMEOUT = (2, 5)
PROBE_JOIN = sum(PROBE_TIMEOUT) + 1
ABNORMAL_CLOSE = 1006
# what the daemon logs when it gives up on a viewer (api/routes/websocket.py)
DROP_LOGS = ("dropping a websocket client", "closing a websocket of")
MIB = 1024 * 1024


class Viewer:
    """One websocket viewer and what it received."""

    def __init__(self, console, stalled):
        self.console = console
        self.stalled = stalled
        self.splitter = FrameSplitter()
        self.lines = 0
        self.first = self.last = None
        self.max_lag = 0.0
        self.closed = None

    def take(self, now, data, reference):
        """Account for one read; True once the daemon closed the socket."""
        lines, self.closed = read_console(self.splitter, data, self.closed)
        self.lines += len(lines)
        index = flood_index(lines[-1]) if lines else None
        if index is not None:
            self.first = self.first if self.first is not None else (now, index)
            self.last = (now, index)
            seen = reference.first_seen(index)
            if seen is not None:
                self.max_lag = max(self.max_lag, now - seen)
        return self.closed is not None

    def rate(self):
        """Flood lines received per second between its first and last flood line."""
        if self.first is None or self.last[0] <= self.first[0]:
            return None
        return self.lines / (self.last[0] - self.first[0])


class Crowd(threading.Thread):
    """Reads many viewers from one thread until ``stop()``, ``limit`` seconds, or every
    one of them closed."""

    def __init__(self, viewers, reference, limit):
        super().__init__(daemon=True)
        self.viewers = viewers
        self.reference = reference
        self.deadline = time.monotonic() + limit
        self._stopping = threading.Event()

    def run(self):
        selector = selectors.DefaultSelector()
        for viewer in self.viewers:
            if viewer.closed is None:
                viewer.console.sock.setblocking(False)
                selector.register(viewer.console.sock, selectors.EVENT_READ, viewer)
        while selector.get_map() and not self._stopping.is_set() \
                and time.monotonic() < self.deadline:
            for key, _ in selector.select(SELECT_TIMEOUT):
                if self._read(key.data):
                    selector.unregister(key.fileobj)
        selector.close()

    def _read(self, viewer):
        try:
            data = viewer.console.sock.recv(CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            viewer.closed = ABNORMAL_CLOSE
            return True
        if not data:
            viewer.closed = viewer.closed or ABNORMAL_CLOSE
            return True
        return viewer.take(time.perf_counter(), data, self.reference)

    def stop(self, timeout=5.0):
        self._stopping.set()
        self.join(timeout)


class RssSampler(threading.Thread):
    """Samples a process's RSS until stopped: ``samples`` is ``[(perf_counter, bytes)]``."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples = []
        self._stopping = threading.Event()

    def run(self):
        while not self._stopping.wait(RSS_INTERVAL):
            try:
                self.samples.append((time.perf_counter(), self.process.memory_info().rss))
            except psutil.Error:
                return

    def stop(self, timeout=5.0):
        self._stopping.set()
        self.join(timeout)

    def peak(self, start=None, end=None):
        values = [rss for t, rss in self.samples
                  if (start is None or t >= start) and (end is None or t < end)]
        return max(values) if values else None


class Probe(threading.Thread):
    """``GET /api/system`` every ``PROBE_INTERVAL`` until stopped: how long the API takes to
    answer while it fans the flood out. ``latencies`` in seconds; ``failures`` counts
    requests that timed out or failed."""

    def __init__(self, daemon, limit):
        super().__init__(daemon=True)
        self.daemon = daemon
        self.deadline = time.monotonic() + limit
        self.latencies = []
        self.failures = 0
        self._stopping = threading.Event()

    def run(self):
        while not self._stopping.is_set() and time.monotonic() < self.deadline:
            started = time.perf_counter()
            try:
                self.daemon.get("/api/system", timeout=PROBE_TIMEOUT).raise_for_status()
                self.latencies.append(time.perf_counter() - started)
            except requests.RequestException:
                self.failures += 1
            self._stopping.wait(PROBE_INTERVAL)

    def stop(self):
        self._stopping.set()
        if self.is_alive():
            self.join(PROBE_JOIN)


def run():
    node = BenchNode(1, config={"wingspan": {"websocket": {
        "max_connections_per_server": VIEWERS + 10}}})
    uuid = node.uuids[0]
    viewers = []
    try:
        node.daemon.start()
        node.start_all()
        api = node.daemon.processes()["wingspan: api"]
        idle_rss = psutil.Process(api).memory_info().rss
        for number in range(VIEWERS):
            stalled = number % (VIEWERS // STALLED) == 0
            viewers.append(Viewer(ConsoleSocket(
                node.daemon, uuid,
                receive_buffer=STALLED_RECEIVE_BUFFER if stalled else READING_RECEIVE_BUFFER),
                stalled))
        time.sleep(SETTLE)
        connected_rss = psutil.Process(api).memory_info().rss
        measured = flood(node, uuid, api, viewers)
        log = node.daemon.log_tail(1000000)
        dropped = sum(log.count(phrase) for phrase in DROP_LOGS)
    finally:
        for viewer in viewers:
            viewer.console.close()
        node.close()
    return rss_figures(measured, idle_rss, connected_rss) + viewer_figures(
        viewers, measured, dropped)


def flood(node, uuid, api, viewers):
    """Flood for ``FLOOD_SECONDS`` with every reading viewer read and the API probed, then
    kill the container through Docker (the API may be too busy to take the request) and
    drain every viewer."""
    direct = AttachReader(attach_socket(uuid), FLOOD_SECONDS + DRAIN_SECONDS + 10)
    readers = Crowd([v for v in viewers if not v.stalled], direct, FLOOD_SECONDS + 10)
    rss = RssSampler(api)
    probe = Probe(node.daemon, FLOOD_SECONDS + 10)
    for thread in (direct, readers, rss):
        thread.start()
    try:
        next(v for v in viewers if not v.stalled).console.command(FLOOD)
        started = time.perf_counter()
        shares = role_shares(flood_roles(node.daemon, node.client, uuid))
        probe.start()
        time.sleep(FLOOD_SECONDS)
        cpu = shares()
        ended = time.perf_counter()
        node.client.api.kill(uuid)
        probe.stop()
        readers.stop()
        drain = Crowd(viewers, direct, DRAIN_SECONDS)
        drain.start()
        drain.join(DRAIN_SECONDS + 5)
    finally:
        probe.stop()
        rss.stop()
        direct.stop()
        direct.sock.close()
    _, direct_lines = direct.rate(started, ended)
    return {"rss": rss, "started": started, "ended": ended, "cpu": cpu,
            "attach lines": direct_lines, "probe": probe}


def rss_figures(measured, idle_rss, connected_rss):
    rss, started, ended = measured["rss"], measured["started"], measured["ended"]
    middle = (started + ended) / 2
    first_half, second_half = rss.peak(started, middle), rss.peak(middle, ended)
    growth = (second_half - first_half) / MIB if None not in (first_half, second_half) else None
    return [
        Figure("API RSS peak, %d viewers + flood (vs connected), MiB" % VIEWERS,
               rss.peak() / MIB, connected_rss / MIB, target="bounded"),
        Figure("API RSS with %d idle viewers (vs none), MiB" % VIEWERS, connected_rss / MIB,
               idle_rss / MIB),
        Figure("API RSS growth, 2nd half of flood vs 1st, MiB", growth, None, target="~0"),
    ]


def viewer_figures(viewers, measured, dropped):
    reading = [v for v in viewers if not v.stalled]
    stalled = [v for v in viewers if v.stalled]
    rates = [r for r in (v.rate() for v in reading) if r is not None]
    lags = [v.max_lag for v in reading if v.first is not None]
    return [
        Figure("stalled viewers closed by the daemon (of %d)" % len(stalled),
               sum(1 for v in stalled if v.closed is not None), None, target="all"),
        Figure("reading viewers closed by the daemon (of %d)" % len(reading),
               sum(1 for v in reading if v.closed is not None), None),
        Figure("clients dropped, daemon log count", dropped, None),
        Figure("lines/s per reading viewer, median (vs attach), k/s",
               statistics.median(rates) / 1e3 if rates else None,
               measured["attach lines"] / 1e3),
        Figure("reading viewers getting lines (of %d)" % len(reading), len(rates), None),
        Figure("max lag behind attach, reading viewers, s", max(lags, default=None), None,
               target="bounded"),
        Figure("median of per-viewer max lag, s",
               statistics.median(lags) if lags else None, None),
    ] + probe_figures(measured["probe"]) + role_figures(measured["cpu"], "during the flood")


def probe_figures(probe):
    answered = sorted(probe.latencies)
    return [
        Figure("GET /api/system during the flood, median, ms",
               statistics.median(answered) * 1e3 if answered else None, None),
        Figure("GET /api/system during the flood, max, ms",
               answered[-1] * 1e3 if answered else None, None),
        Figure("GET /api/system unanswered in %gs (of %d)"
               % (PROBE_TIMEOUT[1], len(answered) + probe.failures), probe.failures, None,
               target="0"),
    ]
