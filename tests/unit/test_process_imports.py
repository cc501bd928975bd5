"""What each long-lived process loads at its start (issue 22).

The zygote preloads every module a worker imports, and the API imports its routes before
it is let in at boot. A library only a rare job uses is imported by that job: requests
by an outgoing transfer's upload (and a transfer that succeeds ends the worker), docker-py
by nobody in a worker. What many workers use, urllib3 for S3 backups and remote
downloads, stays preloaded: imported in a worker it would cost that worker 6 MiB of its
own, shared from the zygote only what it touches. The API makes no outgoing HTTP at all.
"""

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module, not_loaded", [
    ("worker.runtime", ("requests", "docker")),  # what the zygote preloads
    ("api.server", ("requests", "urllib3", "tenacity", "docker")),
])
def test_a_process_start_does_not_import_what_it_does_not_need(module, not_loaded):
    code = ("from wingspan import green; green.patch_all(); import json, sys, %s; "
            "print(json.dumps(sorted(m for m in %r if m in sys.modules)))" % (module, not_loaded))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out) == []
