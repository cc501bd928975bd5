"""packaging/wingspan.service (wings-behaviour.md §14.3; issue 20 part 2: reload)."""

import configparser
import os

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "packaging",
                    "wingspan.service")


def test_systemctl_reload_sends_sighup_to_the_supervisor():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT)
    assert unit["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # only the supervisor gets it: it validates the file, then signals its children
    assert unit["Service"]["KillMode"] == "process"
