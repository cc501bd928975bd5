"""Console throughput and latency through wingspan, against Docker's attach stream read in
the same run (issue 4).

Throughput: throttling off (``throttles.enabled: false``), the game floods its console.
Over a fixed window a websocket client and a direct attach reader count console bytes;
the figure is the client's bytes/s over the attach reader's (target >= 0.7). The flood
is far longer than the window and is ended by killing the server, so nothing waits for
an end marker the daemon may have skipped. Flood lines the daemon skipped for the client
and how far the client trails the attach stream at the window's end are reported too.

Latency: the game prints ``stamp I T`` lines on a 1 ms schedule, T being the wall clock
in the container at the write (a container shares the host's clock). Latency is the
arrival time at the websocket client minus T; the baseline is the same for the attach
reader, i.e. what Docker alone costs.
"""

import time

from bench.cpu import flood_roles, role_figures, role_shares
from bench.figures import Figure
from bench.node import BenchNode
from bench.streams import AttachReader, ConsoleReader, ConsoleSocket, attach_socket, \
    percentile, until

SETTLE = 0.5
WARMUP = 1.0
WINDOW = 10.0
FLOOD = "flood 1000000000"
STAMPS = 3000
STAMP_PERIOD_US = 1000
STAMP_LIMIT = 30.0
STRAGGLER_WAIT = 2.0
READER_SLACK = 10.0
MS = 1000.0


def run():
    node = BenchNode(1, config={"throttles": {"enabled": False}})
    uuid = node.uuids[0]
    try:
        node.daemon.start()
        node.start_all()
        latency = measure_latency(node.daemon, uuid)
        throughput = measure_throughput(node, uuid)
    finally:
        node.close()
    return throughput + latency


def open_readers(daemon, uuid, limit):
    console = ConsoleSocket(daemon, uuid)
    client = ConsoleReader(console, limit)
    direct = AttachReader(attach_socket(uuid), limit)
    client.start()
    direct.start()
    time.sleep(SETTLE)
    return console, client, direct


def close_readers(console, client, direct):
    client.stop()
    direct.stop()
    console.close()
    direct.sock.close()


def measure_throughput(node, uuid):
    daemon = node.daemon
    console, client, direct = open_readers(daemon, uuid, WARMUP + WINDOW + READER_SLACK)
    roles = flood_roles(daemon, node.client, uuid)
    try:
        console.command(FLOOD)
        start = time.perf_counter() + WARMUP
        time.sleep(WARMUP)
        shares = role_shares(roles)
        end = start + WINDOW
        time.sleep(max(0.0, end - time.perf_counter()))
        cpu = shares()
        # through Docker: a flooded API may be too slow to take the request in time
        node.client.api.kill(uuid)
    finally:
        close_readers(console, client, direct)
    client_bytes, client_lines = client.rate(start, end)
    direct_bytes, direct_lines = direct.rate(start, end)
    skipped, delivered = skipped_lines(client, end)
    last = last_index_before(client, end)
    seen = direct.first_seen(last) if last is not None else None
    trailing = end - seen if seen is not None else None
    return [
        Figure("console bytes/s, throttle off (vs attach), MB/s", client_bytes / 1e6,
               direct_bytes / 1e6, target="ratio >= 0.7"),
        Figure("console lines/s, throttle off (vs attach), k/s", client_lines / 1e3,
               direct_lines / 1e3),
        Figure("flood lines skipped for the client, %",
               100.0 * skipped / (skipped + delivered) if delivered else None, None),
        Figure("client behind attach at window end, s", trailing, None),
    ] + role_figures(cpu, "during the flood")


def skipped_lines(reader, end):
    """``(skipped, delivered)`` flood lines up to the last the reader saw before ``end``."""
    chunks = [c for c in reader.chunks if c[0] < end]
    indices = [c[3] for c in chunks if c[3] is not None]
    if not indices:
        return 0, 0
    delivered = sum(c[2] for c in chunks)
    return max(0, max(indices) + 1 - delivered), delivered


def last_index_before(reader, end):
    indices = [c[3] for c in reader.chunks if c[0] < end and c[3] is not None]
    return max(indices) if indices else None


def measure_latency(daemon, uuid):
    console, client, direct = open_readers(daemon, uuid, STAMP_LIMIT + READER_SLACK)
    try:
        started = time.perf_counter()
        console.command("stamp %d %d" % (STAMPS, STAMP_PERIOD_US))
        until(lambda: len(direct.delays) >= STAMPS, STAMP_LIMIT)
        elapsed = time.perf_counter() - started
        until(lambda: len(client.delays) >= len(direct.delays), STRAGGLER_WAIT)
    finally:
        close_readers(console, client, direct)
    rate = len(direct.delays) / elapsed
    ours = [d * MS for d in client.delays]
    docker = [d * MS for d in direct.delays]
    return [
        Figure("latency p50 at %.0f lines/s (vs attach), ms" % rate, percentile(ours, 0.5),
               percentile(docker, 0.5)),
        Figure("latency p99 at %.0f lines/s (vs attach), ms" % rate, percentile(ours, 0.99),
               percentile(docker, 0.99), target="p99 <= 20 ms"),
        Figure("latency max at %.0f lines/s (vs attach), ms" % rate, max(ours, default=None),
               max(docker, default=None)),
        Figure("stamp lines the client missed (of %d)" % STAMPS, STAMPS - len(ours), None),
    ]
