"""Reloads held until a process handles them (wingspan/startup.py)."""

import os
import signal
import subprocess
import sys
import textwrap

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
