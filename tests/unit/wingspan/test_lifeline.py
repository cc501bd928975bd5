"""Children exit with the supervisor through its pidfd (wingspan/lifeline.py)."""

import os
import subprocess
import sys

import pytest

from wingspan.lifeline import open_own_pidfd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# A stand-in child: watches the pidfd it was handed, then idles on its hub. It drops the
# watcher and collects garbage first: the watch must not depend on the caller keeping it.
WATCHER = """
import gc, sys, gevent
from wingspan import lifeline
lifeline.exit_with(int(sys.argv[1]))
gc.collect()
print("watching", flush=True)
gevent.sleep(60)
sys.exit(3)
"""


@pytest.fixture
def supervisor():
    """A process standing in for the supervisor, and a pidfd of it."""
    proc = subprocess.Popen(["sleep", "60"])
    pidfd = os.pidfd_open(proc.pid)
    yield proc, pidfd
    os.close(pidfd)
    proc.kill()
    proc.wait()


def start_watcher(pidfd):
    return subprocess.Popen([sys.executable, "-c", WATCHER, str(pidfd)], pass_fds=[pidfd],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_child_exits_when_the_supervisor_exits(supervisor):
    proc, pidfd = supervisor
    child = start_watcher(pidfd)
    try:
        assert child.stdout.readline() == "watching\n"
        assert child.poll() is None
        proc.kill()
        proc.wait()
        assert child.wait(timeout=10) == 0
        assert "the supervisor is gone" in child.stderr.read()
    finally:
        child.kill()
        child.wait()


def test_a_supervisor_already_gone_ends_the_child_at_once(supervisor):
    proc, pidfd = supervisor
    proc.kill()
    proc.wait()
    child = start_watcher(pidfd)
    try:
        assert child.wait(timeout=10) == 0
    finally:
        child.kill()
        child.wait()


def test_the_supervisors_pidfd_names_itself_and_is_not_inherited_unless_passed():
    pidfd = open_own_pidfd()
    try:
        with open("/proc/self/fdinfo/%d" % pidfd) as info:
            assert "Pid:\t%d\n" % os.getpid() in info.read()
        assert not os.get_inheritable(pidfd)
    finally:
        os.close(pidfd)


def test_the_watched_pidfd_is_not_passed_on_to_programs_the_child_runs(supervisor):
    proc, pidfd = supervisor
    script = ("import os, sys, gevent\nfrom wingspan import lifeline\n"
              "lifeline.exit_with(int(sys.argv[1]))\n"
              "print(os.get_inheritable(int(sys.argv[1])))\n")
    out = subprocess.run([sys.executable, "-c", script, str(pidfd)], pass_fds=[pidfd], cwd=REPO,
                         capture_output=True, text=True, timeout=30).stdout
    assert out == "False\n"
