"""Reloads held until a process handles them (wingspan/startup.py)."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from wingspan import startup

CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from wingspan import startup
    blocked = signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    os.kill(os.getpid(), signal.SIGHUP)  # before the handler: it must not end this process
    got = []
    signal.signal(signal.SIGHUP, lambda *_: got.append(1))
    startup.take_reloads()
    time.sleep(0.05)
    print(blocked, got)
""")


def blocked():
    return signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_a_process_started_with_reloads_held_gets_the_early_one_once_it_handles_it():
    with startup.reloads_held():
        assert blocked()
        child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                               timeout=30, cwd=os.path.dirname(os.path.dirname(startup.__file__)))
    assert not blocked()
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["True", "[1]"]


def test_reloads_held_restores_a_mask_that_already_held_them():
    startup.hold_reloads()
    try:
        with startup.reloads_held():
            pass
        assert blocked()
    finally:
        startup.take_reloads()
    assert not blocked()


# Prints the niceness during the start, then that of the main thread and of a thread
# started during the start, after it; each relative to the niceness before.
BACKGROUND = textwrap.dedent("""
    import os, sys, threading, setproctitle
    from wingspan import startup
    if len(sys.argv) > 1:
        os.setuid(65534)  # nobody: not allowed to raise a priority again
    base = os.getpriority(os.PRIO_PROCESS, 0)
    niceness = startup.start_in_background("test")
    during = os.getpriority(os.PRIO_PROCESS, 0)
    title = setproctitle.getproctitle()
    started, done = threading.Event(), threading.Event()
    ids = []
    def run():
        ids.append(threading.get_native_id())
        started.set()
        done.wait()
    threading.Thread(target=run).start()
    started.wait()
    startup.end_background_start(niceness)
    after = [os.getpriority(os.PRIO_PROCESS, tid) - base for tid in (0, ids[0])]
    done.set()
    print(niceness - base, during - base, *after, title)
""")


def test_a_background_start_steps_back_and_then_returns_every_thread_to_its_priority():
    out = subprocess.run([sys.executable, "-c", BACKGROUND], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0", str(startup.BACKGROUND_NICENESS), "0", "0", "wingspan:", "test"]


def test_without_the_right_to_return_the_process_stays_back_and_says_so():
    if os.getuid() != 0:
        pytest.skip("needs root to become another user")
    run = subprocess.run([sys.executable, "-c", BACKGROUND, "unprivileged"],
                         capture_output=True, text=True, check=True)
    assert run.stdout.split()[:4] == ["0"] + [str(startup.BACKGROUND_NICENESS)] * 3
    assert "cannot raise the priority back" in run.stderr
