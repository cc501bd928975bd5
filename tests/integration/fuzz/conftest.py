"""What every fuzzer of issue 19 shares: a daemon with a server to aim at, and the checks
that it came through unharmed (no process died or was replaced, no traceback logged, the
API still answers).

Every fuzzer draws from ``random.Random(SEED)``: a failure names the seed, and the same
seed replays the same inputs (``WINGSPAN_FUZZ_SEED`` picks another).
"""

import os
import time
import uuid as uuidlib

import pytest

SEED = int(os.environ.get("WINGSPAN_FUZZ_SEED", "19"))


@pytest.fixture
def target(panel, daemon):
    """``(daemon, uuid)``: a started daemon whose one server's worker answers."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    assert daemon.get("/api/servers/%s" % uuid).status_code == 200
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    return daemon, uuid


def assert_unharmed(daemon, processes_before):
    """The same processes (same titles, same pids), no traceback in the daemon's output,
    and the API still answering."""
    assert daemon.processes() == processes_before, "a daemon process died or was replaced"
    with open(daemon.log_path, errors="replace") as f:
        log = f.read()
    assert "Traceback" not in log, "the daemon logged a traceback:\n%s" % daemon.log_tail(200)
    assert daemon.get("/api/system").status_code == 200
