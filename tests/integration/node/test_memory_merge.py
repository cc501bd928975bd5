"""Workers offer their memory to the kernel's same-page merging (issue 22:
``wingspan.worker.merge_pages``): while KSM runs, the pages the workers hold alike are kept
once. The kernel shows the offer in ``/proc/PID/ksm_stat``."""

import os
import time
import uuid as uuidlib

import pytest

KSM_STAT = "/proc/self/ksm_stat"
pytestmark = pytest.mark.skipif(not os.path.exists(KSM_STAT),
                                reason="this kernel has no per-process KSM status")


def merge_any(pid):
    with open("/proc/%d/ksm_stat" % pid) as status:
        for line in status:
            if line.startswith("ksm_merge_any:"):
                return line.split(":", 1)[1].strip()
    pytest.skip("this kernel does not report ksm_merge_any")


def running_worker(panel, daemon_factory, **config):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon = daemon_factory(**config)
    daemon.start()
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    assert daemon.power(uuid, "start").status_code == 202
    daemon.wait_state(uuid, "running", timeout=30)
    return daemon.worker_pid(uuid)


def test_workers_offer_their_memory_for_merging_by_default(panel, daemon_factory):
    assert merge_any(running_worker(panel, daemon_factory)) == "yes"


def test_merge_pages_false_keeps_the_workers_memory_out_of_merging(panel, daemon_factory):
    worker = running_worker(panel, daemon_factory,
                            wingspan={"worker": {"merge_pages": False}})
    assert merge_any(worker) == "no"
