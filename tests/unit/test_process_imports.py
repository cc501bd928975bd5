"""What each long-lived process loads at its start (issue 22).

The zygote preloads every module a worker imports, and the API imports its routes before
it is let in at boot: an HTTP client library that only a rare job uses (an outgoing
transfer, an S3 backup, a remote download, the supervisor's Panel calls) would cost every
boot its import and the zygote its memory. Those jobs import it when they run.
"""

import json
import subprocess
import sys

import pytest

ON_DEMAND = ("requests", "urllib3", "tenacity", "docker")



# the worker modules the zygote preloads; the API process
@pytest.mark.parametrize("module", ["worker.runtime", "api.server"])
def test_a_process_start_does_not_import_the_on_demand_libraries(module):
    code = ("from wingspan import green; green.patch_all(); import json, sys, %s; "
            "print(json.dumps(sorted(m for m in %r if m in sys.modules)))" % (module, ON_DEMAND))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out) == []
