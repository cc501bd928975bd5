"""Cost of resource stats with 100 idle running servers (issue 4).

wingspan: the CPU time of every worker process (psutil ``cpu_times``, user + system) over a
fixed window while the servers run idle, as a share of one core (target, issue 22: all
workers together <= 3 %). Everything an idle worker does is counted, its stats loop
included, so the figure is an upper bound on the stats loops' cost. What a worker does per
second over the same window is reported too: its threads' wake-ups (context switches of
all its threads) and its read and write system calls (``/proc/PID/io``). Right after that
window, the bus messages the workers send are counted for ``MESSAGE_WINDOW`` on the
supervisor's event socket, per worker-second, by a subscriber of every server's events, as
the API is (kept out of the CPU window since it adds to the supervisor's forwarding work).
No websocket watches the servers, so they sample only when asked (worker/resources.py).

Then every server's stats are followed for ``FOLLOWED_WINDOW``, as if a websocket watched
each one (the API subscribes to a server's stats while one does): the workers' one-second
loops run, and their CPU, the core processes' (the supervisor forwards every event) and
the events delivered per second are reported beside the idle figures.

Baselines, from the same run: the CPU Docker itself spends (dockerd, containerd and the
runc shims of these containers; a container's stats come from its shim through
containerd) to serve the same figures, minus what it spends over the idle window:

* ``stats(stream=False)``: one ``client.api.stats(id, stream=False)`` call per container
  per second, spread evenly over each second (a call takes one or two of Docker's
  one-second collection ticks, so a pool of threads keeps them in flight);
* streaming: one streaming stats request per container, as Wings keeps (one sample per
  container per second).

Other work on the machine shows up in dockerd and containerd too; the shims' share,
which only these containers use, is reported apart.
"""

import contextlib
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import requests
import zmq

from wingspan import bus, envelope

from bench.cpu import engine_pids, role_shares, shim_pids
from bench.figures import Figure
from bench.node import BenchNode

SERVERS = 100
SETTLE = 10.0
WINDOW = 30.0
DOCKER_WINDOW = 15.0
MESSAGE_WINDOW = 10.0
FOLLOWED_WINDOW = 15.0
SUBSCRIBED = 1.0  # for a subscription to reach the workers through the proxy
CALLS_IN_FLIGHT = 3  # per container: a call lasts up to two seconds
DOCKER_TIMEOUT = 10
PERCENT = 100.0


def run():
    node = BenchNode(SERVERS)
    try:
        node.daemon.start()
        node.start_all(timeout=600)
        time.sleep(SETTLE)
        ids = [node.client.api.inspect_container(uuid)["Id"] for uuid in node.uuids]
        roles = daemon_roles(node.daemon, ids)
        shares = role_shares(roles)
        counted = wake_counts(roles["workers"])
        time.sleep(WINDOW)
        idle = shares()
        wakes, syscalls = per_worker_second(counted, wake_counts(roles["workers"]))
        messages = bus_messages(node.run_dir, node.uuids)
        followed, delivered = follow_all_stats(node.run_dir, roles)
        polled, calls = poll_stats(ids, roles)
        streamed, samples = stream_stats(ids, roles)
    finally:
        node.close()
    return figures(idle, polled, calls, streamed, samples) + followed_figures(
        followed, delivered) + [
        Figure("per idle worker: thread wake-ups, per s", wakes, None),
        Figure("per idle worker: read+write syscalls, per s", syscalls, None),
        Figure("per idle worker nobody watches: bus messages sent, per s", messages, None),
    ]


def bus_messages(run_dir, uuids):
    """Events published per worker-second by the servers ``uuids``, over ``MESSAGE_WINDOW``."""
    with event_socket(run_dir, envelope.SERVER_EVENTS) as sock:
        topics = [frames[0] for frames in received(sock, MESSAGE_WINDOW)]
    return events_of(topics, uuids) / MESSAGE_WINDOW / len(uuids)


def follow_all_stats(run_dir, roles):
    """CPU shares over ``FOLLOWED_WINDOW`` while every server's stats are followed, as the
    API follows a server's while a websocket watches it, and the stats events received
    per second."""
    with event_socket(run_dir, envelope.STATS_EVENTS) as sock:
        shares = role_shares(roles)
        opened = time.time()
        stamps = [envelope.load(frames[-1])["ts"] for frames in received(sock, FOLLOWED_WINDOW)]
        used = shares()
    # those published before the window, still on their way when it opened, are not counted
    published = sum(1 for ts in stamps if opened <= ts < opened + FOLLOWED_WINDOW)
    return used, published / FOLLOWED_WINDOW


@contextlib.contextmanager
def event_socket(run_dir, prefix):
    """A subscriber of the daemon's events on ``prefix``, once its subscription has reached
    the workers, with what came before that dropped."""
    context = zmq.Context()
    sock = bus.subscriber(context, bus.Endpoints(run_dir).events_out, (prefix,))
    try:
        time.sleep(SUBSCRIBED)
        while sock.poll(0):
            sock.recv_multipart()
        yield sock
    finally:
        sock.close()
        context.term()


def received(sock, window):
    """The messages ``sock`` receives over ``window`` seconds, as lists of frames."""
    messages = []
    deadline = time.monotonic() + window
    while (left := deadline - time.monotonic()) > 0:
        if sock.poll(int(left * 1000) + 1):
            messages.append(sock.recv_multipart())
    return messages


def followed_figures(followed, delivered):
    return [
        Figure("%d workers whose stats are followed (every server watched), %% of a core"
               % SERVERS, PERCENT * followed["workers"], None),
        Figure("supervisor + api + zygote while followed, % of a core",
               PERCENT * followed["core"], None),
        Figure("stats events delivered while followed, per s", delivered, float(SERVERS)),
    ]


def events_of(topics, uuids):
    """How many of the event ``topics`` are events of the servers ``uuids``."""
    servers = {uuid.encode() for uuid in uuids}
    return sum(1 for topic in topics
               if topic.startswith(envelope.SERVER_EVENTS) and topic.rpartition(b".")[2] in servers)


def wake_counts(pids):
    """``{pid: (voluntary context switches of all its threads, read+write syscalls)}``."""
    counts = {}
    for pid in pids:
        try:
            switches = 0
            for task in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):  # slept, then woke
                            switches += int(line.split()[1])
            with open("/proc/%d/io" % pid) as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
            counts[pid] = (switches, int(io["syscr"]) + int(io["syscw"]))
        except (OSError, KeyError, ValueError):
            continue
    return counts


def per_worker_second(before, after):
    """Median per-second wake-ups and syscalls of the workers counted both times."""
    pids = [pid for pid in before if pid in after]
    wakes = [(after[p][0] - before[p][0]) / WINDOW for p in pids]
    calls = [(after[p][1] - before[p][1]) / WINDOW for p in pids]
    return statistics.median(wakes), statistics.median(calls)


def daemon_roles(daemon, container_ids):
    titles = daemon.processes()
    workers = [pid for title, pid in titles.items() if title.startswith("wingspan: worker ")]
    core = [pid for title, pid in titles.items()
            if title in ("wingspan: supervisor", "wingspan: api", "wingspan: zygote")]
    return {"workers": workers, "core": core, "engine": engine_pids(),
            "shims": shim_pids(container_ids)}


def docker_roles(roles):
    return {"engine": roles["engine"], "shims": roles["shims"]}


def poll_stats(container_ids, roles):
    """Docker's CPU shares while answering one ``stats(stream=False)`` per container per
    second for ``DOCKER_WINDOW``, and how many calls completed per second."""
    api = docker.APIClient(version="auto", timeout=DOCKER_TIMEOUT,
                           max_pool_size=len(container_ids) * CALLS_IN_FLIGHT)
    completed = []
    lock = threading.Lock()

    def one_call(container_id):
        try:
            api.stats(container_id, stream=False)
        except (docker.errors.APIError, requests.RequestException):
            return
        with lock:
            completed.append(time.perf_counter())

    pool = ThreadPoolExecutor(max_workers=len(container_ids) * CALLS_IN_FLIGHT)
    try:
        shares = role_shares(docker_roles(roles))
        started = time.perf_counter()
        for second in range(int(DOCKER_WINDOW)):
            for position, container_id in enumerate(container_ids):
                at = started + second + position / len(container_ids)
                time.sleep(max(0.0, at - time.perf_counter()))
                pool.submit(one_call, container_id)
        ended = started + DOCKER_WINDOW
        time.sleep(max(0.0, ended - time.perf_counter()))
        used = shares()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        api.close()
    rate = sum(1 for t in completed if started <= t < ended) / DOCKER_WINDOW
    return used, rate


def stream_stats(container_ids, roles):
    """Docker's CPU shares while streaming stats of every container for ``DOCKER_WINDOW``,
    and the samples received per second."""
    api = docker.APIClient(version="auto", timeout=DOCKER_TIMEOUT,
                           max_pool_size=len(container_ids) + 1)
    received = []
    lock = threading.Lock()
    deadline = time.perf_counter() + DOCKER_WINDOW + SETTLE

    def follow(container_id):
        try:
            samples = api.stats(container_id, decode=True, stream=True)
            for _ in samples:
                now = time.perf_counter()
                with lock:
                    received.append(now)
                if now >= deadline:
                    break
            samples.close()
        except (docker.errors.APIError, requests.RequestException):
            return

    threads = [threading.Thread(target=follow, args=(c,), daemon=True) for c in container_ids]
    for thread in threads:
        thread.start()
    try:
        time.sleep(SETTLE)  # every stream open and past its first sample
        shares = role_shares(docker_roles(roles))
        started = time.perf_counter()
        time.sleep(DOCKER_WINDOW)
        used = shares()
        ended = time.perf_counter()
    finally:
        for thread in threads:
            thread.join(max(0.0, deadline - time.perf_counter()) + DOCKER_TIMEOUT)
        api.close()
    rate = sum(1 for t in received if started <= t < ended) / (ended - started)
    return used, rate


def figures(idle, polled, calls, streamed, samples):
    workers = PERCENT * idle["workers"]
    idle_docker = idle["engine"] + idle["shims"]
    polled_cost = PERCENT * (polled["engine"] + polled["shims"] - idle_docker)
    streamed_cost = PERCENT * (streamed["engine"] + streamed["shims"] - idle_docker)
    return [
        Figure("%d idle workers (vs Docker serving stats(stream=False) 1/s/container), "
               "%% of a core" % SERVERS, workers, polled_cost, target="workers <= 3 %"),
        Figure("%d idle workers (vs Docker streaming stats to %d), %% of a core"
               % (SERVERS, SERVERS), workers, streamed_cost, target="workers <= 3 %"),
        Figure("stats(stream=False) calls completed, per s", calls, float(SERVERS)),
        Figure("streamed stats samples received, per s", samples, float(SERVERS)),
        Figure("runc shims alone: polled (vs idle), % of a core", PERCENT * polled["shims"],
               PERCENT * idle["shims"]),
        Figure("runc shims alone: streamed (vs idle), % of a core",
               PERCENT * streamed["shims"], PERCENT * idle["shims"]),
        Figure("supervisor + api + zygote while idle, % of a core", PERCENT * idle["core"],
               None),
        Figure("dockerd + containerd while wingspan idles, % of a core",
               PERCENT * idle["engine"], None),
    ]
