"""The kernel's same-page merging (KSM), switched on for one measurement and put back.

wingspan offers its workers' memory to KSM (``wingspan.worker.merge_pages``); whether KSM
runs is the operator's choice (``/sys/kernel/mm/ksm/run``). The memory benchmark measures
both: the node as this machine has it, then with KSM running.
"""

import os
import time

import psutil

from bench.cpu import CpuWindow

KSM = "/sys/kernel/mm/ksm"
# While converging, KSM scans this many pages per wake (the kernel's default is 100) so the
# benchmark does not wait minutes; its steady cost is measured at the operator's rate.
CONVERGE_PAGES_TO_SCAN = 1000


def available():
    return os.access(os.path.join(KSM, "run"), os.W_OK)


def _read(name):
    with open(os.path.join(KSM, name)) as value:
        return value.read().strip()


def _write(name, value):
    with open(os.path.join(KSM, name), "w") as setting:
        setting.write(str(value))


def ksmd_pid():
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "ksmd":
            return process.pid
    return None


class Running:
    """``with Running():`` KSM runs inside, and is put back as it was after (pages it merged
    are split again if it was off)."""

    def __enter__(self):
        self._run, self._pages = _read("run"), _read("pages_to_scan")
        _write("run", 1)
        return self

    def converge(self, median_uss, timeout=240, interval=10, settled=0.02):
        """Scan fast until ``median_uss()`` stops falling by more than ``settled`` per
        interval; returns the seconds it took. KSM merges a page only once it has seen it
        unchanged in two full scans, so nothing is judged before those."""
        _write("pages_to_scan", CONVERGE_PAGES_TO_SCAN)
        started = time.monotonic()
        first_scans = int(_read("full_scans")) + 2
        try:
            last = median_uss()
            while time.monotonic() - started < timeout:
                time.sleep(interval)
                now = median_uss()
                if int(_read("full_scans")) >= first_scans and now > last * (1 - settled):
                    break
                last = now
        finally:
            _write("pages_to_scan", self._pages)
        return time.monotonic() - started

    def scanner_share(self, seconds=20):
        """ksmd's CPU over ``seconds`` at the operator's scan rate, as a share of a core."""
        pid = ksmd_pid()
        if pid is None:
            return None
        window = CpuWindow([pid])
        time.sleep(seconds)
        return window.shares()[pid]

    def __exit__(self, *exc):
        _write("pages_to_scan", self._pages)
        if self._run == "0":
            _write("run", 2)  # split what was merged, then stop
        _write("run", self._run)
