"""Activity log throughput: 10,000 events from 50 senders through a real daemon to the fake
Panel, none lost or duplicated, and what the supervisor's CPU paid for them.

The senders are ``wingspan.activity.Sender`` objects, each on its own bus connection, as
the API process, the SFTP process and workers send. The supervisor's CPU (its idle rate
over the same time taken out) is compared with two baselines measured in this run on the
same disk: a plain sqlite3 loop that inserts the same rows with a commit each (what a
naive single writer does), and the same loop in one transaction (the floor). Both use the
store's settings: WAL, ``synchronous = FULL``.

``python -m bench activity``; ``BENCH_ACTIVITY_EVENTS`` makes a smaller smoke run.
"""

import os
import sqlite3
import tempfile
import time

import gevent
import psutil
import zmq.green as zmq

from bench.figures import Figure
from bench.node import BenchNode
from tests.support.polling import wait_until
from wingspan import activity, bus

EVENTS = int(os.environ.get("BENCH_ACTIVITY_EVENTS", "10000"))
SENDERS = 50
USER = "5ce3a7c2-8b53-4c1e-9a2e-2f0d9a4e6b11"
IDLE_SECONDS = 3.0
NODE_CONFIG = {"system": {"activity_send_interval": 1, "activity_send_count": 1000}}


def send_all(run_dir, server):
    """Every sender sends its share, interleaved; returns once all are stored."""
    context = zmq.Context()
    endpoints = bus.Endpoints(run_dir)
    clients = [bus.BusClient(context, endpoints.control) for _ in range(SENDERS)]
    senders = [activity.Sender(client) for client in clients]
    try:
        for n in range(EVENTS):
            senders[n % SENDERS].send(server, activity.CONSOLE_COMMAND,
                                      {"command": "say %d" % n}, USER, "203.0.113.7")
            if n % SENDERS == SENDERS - 1:
                gevent.sleep(0)  # let the senders' batches go while the rest is queued
        for sender in senders:
            if not sender.flush(120):
                raise RuntimeError("the supervisor did not store every event in time")
    finally:
        for sender, client in zip(senders, clients):
            sender.close()
            client.close()
        context.destroy(linger=0)


def commands_at(panel):
    with panel.lock:
        return [entry["metadata"]["command"] for entry in panel.activity]


def cpu_seconds(proc):
    times = proc.cpu_times()
    return times.user + times.system


def measure_daemon():
    """``(supervisor CPU seconds net of idle, wall seconds)`` for EVENTS events."""
    node = BenchNode(1, NODE_CONFIG)
    server = node.uuids[0]
    try:
        node.daemon.start()
        supervisor = psutil.Process(node.daemon.process.pid)
        idle_start = cpu_seconds(supervisor)
        time.sleep(IDLE_SECONDS)
        idle_rate = (cpu_seconds(supervisor) - idle_start) / IDLE_SECONDS
        started, cpu_start = time.perf_counter(), cpu_seconds(supervisor)
        send_all(node.run_dir, server)
        wait_until(lambda: len(commands_at(node.panel)) >= EVENTS, timeout=600, interval=0.2,
                   what="%d events at the Panel" % EVENTS)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(supervisor) - cpu_start - idle_rate * wall
        time.sleep(2.5)  # two more send intervals: anything sent twice would show now
        seen = commands_at(node.panel)
        expected = ["say %d" % n for n in range(EVENTS)]
        if len(seen) != EVENTS or sorted(seen) != sorted(expected):
            raise AssertionError("the Panel got %d events, %d distinct, of %d sent"
                                 % (len(seen), len(set(seen)), EVENTS))
    finally:
        node.close()
    return max(cpu, 0.0), wall


def rows():
    stamp = activity.timestamp()
    return [("%032x" % n, USER, "d3aac109-e5a0-4331-b03e-3454f7e136dc",
             activity.CONSOLE_COMMAND, '{"command":"say %d"}' % n, "203.0.113.7", stamp)
            for n in range(EVENTS)]


def sqlite_loop(one_transaction):
    """CPU seconds of a plain loop inserting EVENTS rows into the same table."""
    from supervisor.activity_store import SCHEMA
    data = rows()
    with tempfile.TemporaryDirectory(prefix="wingspan-bench-") as tmp:
        db = sqlite3.connect(os.path.join(tmp, "plain.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.executescript(SCHEMA)
        started = time.process_time()
        if one_transaction:
            db.execute("BEGIN")
        for row in data:
            db.execute("INSERT INTO activities (key, user, server, event, metadata, ip, "
                       "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        if one_transaction:
            db.execute("COMMIT")
        cpu = time.process_time() - started
        db.close()
    return cpu


def run():
    cpu, wall = measure_daemon()
    per_row = sqlite_loop(one_transaction=False)
    batched = sqlite_loop(one_transaction=True)
    name = "%d events from %d senders" % (EVENTS, SENDERS)
    return [
        Figure("%s: supervisor CPU vs sqlite3 loop, commit per row, s" % name, cpu, per_row,
               unit="s", target="ratio <= 1"),
        Figure("%s: supervisor CPU vs sqlite3 loop, one transaction, s" % name, cpu,
               batched, unit="s"),
        Figure("%s: sent to Panel received (wall, interval 1 s), s" % name, wall, unit="s"),
    ]
