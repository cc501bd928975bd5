"""The API and SFTP processes started ahead of the boot.

Most of their start is their interpreter and imports. Started by the command line next to
the zygote, those run while the zygote preloads and the supervisor fetches the servers,
instead of after, beside every booting worker (on two cores the API was then the last to
be ready, issue 22). Each waits on a pipe before it reads config.yml, which the boot
rewrites, and goes on when the supervisor releases it where it used to start it; it ends
if the supervisor goes first (the pipe closes unwritten).
"""

import json
import os
import subprocess

from supervisor.child import module_command
from wingspan.startup import ENV_HELD_BACK


def command(module, config_path, supervisor_pidfd):
    """The command line of ``module`` run by the supervisor (the installed one)."""
    return module_command(module, "--config", config_path,
                          "--supervisor-pidfd", str(supervisor_pidfd))


def environment(held_back):
    """Its environment: ours, and what a reload left for a restart (config.hold_back)."""
    return dict(os.environ, **{ENV_HELD_BACK: json.dumps(held_back)})


class Prestarted:
    """``module`` started now, waiting to be released.

    The Popen object is kept for as long as the supervisor runs: a dropped one may be
    polled by the next Popen's clean-up, which would reap the process behind the
    supervisor's back.
    """

    def __init__(self, module, config_path, supervisor_pidfd):
        start, self._release = os.pipe()
        self.process = subprocess.Popen(
            command(module, config_path, supervisor_pidfd) + ["--wait-fd", str(start)],
            pass_fds=[supervisor_pidfd, start], env=environment({}))
        os.close(start)
        self.released = False

    @property
    def pid(self):
        return self.process.pid

    def release(self):
        try:
            os.write(self._release, b"go")
        except BrokenPipeError:
            pass  # it died waiting: reaped as the supervisor's child, it is started again
        os.close(self._release)
        self.released = True
