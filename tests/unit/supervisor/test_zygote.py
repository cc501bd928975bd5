"""The zygote (supervisor/zygote.py): the preparation of its memory for forking, and its
fork protocol (issue 22): requests sent without waiting are answered in order with each
worker's pid; a batch whose intermediate dies is answered with errors.

The zygote's serving loop runs in a forked child of the test; its workers only report
``(uuid, pid)`` on a pipe and exit, in place of running a worker.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import gevent
from gevent import socket as green_socket
import pytest

from supervisor import zygote
from supervisor.fork_requests import ForkRequests
from worker import runtime


def test_free_blocks_are_read_per_size_class():
    free = zygote._free_blocks()
    assert sorted(free) == list(range(16, 513, 16))
    assert all(count >= 0 for count in free.values())


def test_filling_takes_the_free_blocks_of_the_pools_in_use():
    # a fresh interpreter, so that this test process's own allocations do not interfere
    script = textwrap.dedent("""
        from supervisor import zygote
        before = sum(size * n for size, n in zygote._free_blocks().items())
        zygote._fill_free_blocks()
        after = sum(size * n for size, n in zygote._free_blocks().items())
        print(before, after)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    before, after = map(int, out.split())
    assert before > 100000
    assert after < before / 2


def test_filling_takes_the_free_chunks_of_the_c_heap():
    # a fresh interpreter again; the holes are made between chunks kept in use, so that
    # they neither merge nor all fit in glibc's per-thread cache (7 of a size)
    script = textwrap.dedent("""
        import ctypes
        from supervisor import zygote
        free = zygote._libc.free
        free.argtypes = [ctypes.c_void_p]
        chunks = [zygote._libc.malloc(2000) for _ in range(200)]
        for chunk in chunks[::2]:
            free(chunk)
        def holes():
            return sum(n for size, n in zygote._free_chunks() if size == 2016)
        before = holes()
        zygote._fill_free_chunks()
        print(before, holes(), all(size % 16 == 0 for size, _ in zygote._free_chunks()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    before, after, aligned = out.split()
    assert int(before) >= 90
    assert int(after) == 0
    assert aligned == "True"


def test_without_glibc_the_c_heap_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr(zygote, "_malloc_info", None)
    monkeypatch.setattr(zygote, "_CHUNK_FILLERS", [])
    zygote._fill_free_chunks()
    assert zygote._CHUNK_FILLERS == []


class FakeZygote:
    """``zygote._serve`` in a child process; its workers report on ``reports``."""

    def __init__(self, monkeypatch, become_worker):
        monkeypatch.setattr(zygote, "_become_worker", become_worker)
        self.sock, theirs = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self.sock.close()
                zygote._serve(theirs.fileno(), "unused", -1)
            finally:
                os._exit(1)
        theirs.close()

    def close(self):
        self.sock.close()
        _, status = os.waitpid(self.pid, 0)
        return status


@pytest.fixture
def reports():
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


def reporting_worker(write_end):
    def become_worker(inherited, request, config_path, supervisor):
        os.write(write_end, json.dumps([request["uuid"], os.getpid()]).encode() + b"\n")
        os._exit(0)
    return become_worker


def read_reports(read_end, count):
    lines = b""
    while lines.count(b"\n") < count:
        lines += os.read(read_end, 65536)
    return dict(json.loads(line) for line in lines.splitlines())


def test_overlapping_requests_get_each_their_own_workers_pid(monkeypatch, reports):
    fake = FakeZygote(monkeypatch, reporting_worker(reports[1]))
    requests = ForkRequests(fake.sock)
    uuids = ["server-%02d" % i for i in range(40)]
    # 4 KB each: more than one read of the zygote's, so more than one intermediate
    asks = [gevent.spawn(requests.fork, uuid, {"padding": "x" * 4096}) for uuid in uuids]
    gevent.joinall(asks, raise_error=True)
    answered = dict(zip(uuids, (ask.value for ask in asks)))
    assert read_reports(reports[0], len(uuids)) == answered
    assert len(set(answered.values())) == len(uuids)
    requests.close()
    assert os.waitstatus_to_exitcode(fake.close()) == 0


def test_requests_after_a_dead_intermediate_are_answered_with_errors(monkeypatch, reports):
    answer = zygote._answer

    def answer_slowly(fd, uuid, **result):
        if uuid == "kills-its-parent" and "pid" in result:
            time.sleep(30)  # in the intermediate: still this worker's parent when it kills
        answer(fd, uuid, **result)

    def become_worker(inherited, request, config_path, supervisor):
        if request["uuid"] == "kills-its-parent":
            os.kill(os.getppid(), signal.SIGKILL)
        reporting_worker(reports[1])(inherited, request, config_path, supervisor)

    monkeypatch.setattr(zygote, "_answer", answer_slowly)
    fake = FakeZygote(monkeypatch, become_worker)
    uuids = ["first", "kills-its-parent", "third", "fourth"]
    lines = [json.dumps({"uuid": uuid, "payload": {}}) + "\n" for uuid in uuids]
    fake.sock.sendall("".join(lines).encode())  # one read: one intermediate for all four
    reader = fake.sock.makefile("rb")
    answers = [json.loads(reader.readline()) for _ in uuids]
    reader.close()
    assert [a["uuid"] for a in answers] == uuids
    assert read_reports(reports[0], 2)["first"] == answers[0]["pid"]
    for answer in answers[1:]:
        assert answer == {"uuid": answer["uuid"],
                          "error": "the intermediate process died before forking it"}
    assert os.waitstatus_to_exitcode(fake.close()) == 0


def answering(sock, answers):
    """A stand-in zygote that reads one request per answer and sends that answer."""
    reader = sock.makefile("rb")
    for answer in answers:
        reader.readline()
        sock.sendall(json.dumps(answer).encode() + b"\n")


def test_an_error_or_another_servers_answer_fails_that_request_only():
    ours, theirs = socket.socketpair()
    requests = ForkRequests(ours)
    peer = gevent.spawn(answering, green_socket.socket(fileno=theirs.detach()),
                        [{"uuid": "a", "error": "cannot fork: out of memory"},
                         {"uuid": "c", "pid": 12},
                         {"uuid": "c", "pid": 13}])
    with pytest.raises(OSError, match="cannot fork: out of memory"):
        requests.fork("a", {})
    with pytest.raises(OSError, match="the zygote answered c for a request for b"):
        requests.fork("b", {})
    assert requests.fork("c", {}) == 13
    peer.join()
    requests.close()


def test_waiting_requests_fail_when_the_zygote_goes():
    ours, theirs = socket.socketpair()
    requests = ForkRequests(ours)
    asks = [gevent.spawn(requests.fork, uuid, {}) for uuid in ("a", "b")]
    gevent.sleep(0.05)
    theirs.close()
    gevent.joinall(asks)
    assert [str(ask.exception) for ask in asks] == ["the zygote closed its socket"] * 2
    with pytest.raises(OSError, match="the zygote closed its socket"):
        requests.fork("c", {})
    requests.close()


def write_config(path, text):
    with open(path, "w") as f:
        f.write(text)
    stamp = os.stat(path).st_mtime_ns
    os.utime(path, ns=(stamp, stamp + 1_000_000))  # a new mtime even on a coarse clock


@pytest.fixture
def preloaded_config(monkeypatch, tmp_path):
    """A config.yml the zygote has read; returns its path."""
    monkeypatch.setattr(zygote, "_preloaded", {})
    monkeypatch.setattr(zygote.gc, "freeze", lambda: None)  # not this test process's memory
    path = str(tmp_path / "config.yml")
    write_config(path, "debug: false\n")
    zygote._load_config(path)
    return path


def test_a_config_rewritten_after_the_preload_is_parsed_once_for_all_the_workers(
        preloaded_config):
    """The supervisor rewrites config.yml at boot when it differs from its own dump, after
    the zygote read it; each worker then parsed the file again, copying shared pages."""
    write_config(preloaded_config, "debug: true\n")
    zygote._keep_config_current(preloaded_config)
    shared = zygote._preloaded["config"][1]
    assert shared.debug is True
    assert runtime.current_config(preloaded_config, zygote._preloaded) is shared
    zygote._keep_config_current(preloaded_config)
    assert zygote._preloaded["config"][1] is shared


def test_a_config_that_no_longer_loads_is_left_to_the_workers(preloaded_config):
    write_config(preloaded_config, "debug: [\n")
    zygote._keep_config_current(preloaded_config)
    assert "config" not in zygote._preloaded
