"""One supervised child process (a worker, the API process or the zygote) and its states.

States::

    STOPPED -> STARTING -> RUNNING -> (dies) -> BACKOFF -> STARTING ...
                                           \\-> FAILED   (dying in a loop; restart on request only)
    STARTING -> (not ready within boot_timeout: killed) -> BACKOFF ...
    any -> STOPPING -> STOPPED             (asked to stop: never restarted)
"""

import logging
import os
import signal
import sys
import time

from supervisor.policy import RestartPolicy

log = logging.getLogger(__name__)

STOPPED = "stopped"
STARTING = "starting"
RUNNING = "running"
BACKOFF = "backoff"
FAILED = "failed"
STOPPING = "stopping"


def module_command(module, *args):
    """The command line that runs the installed ``module`` in a fresh interpreter.

    ``-I`` keeps the working directory (and PYTHON* variables) off ``sys.path``: the
    daemon runs as root, and a file named ``api.py`` or ``wingspan/`` in the directory it
    was started from must never be imported in place of the installed code.
    """
    return [sys.executable, "-I", "-m", module, *args]


def describe_status(status):
    """``exit code 3`` / ``signal SIGKILL`` for a waitpid status."""
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return "signal %s%s" % (name, hint)
    return "exit code %d" % os.WEXITSTATUS(status)


class Child:
    """A process the supervisor keeps alive.

    Args:
        name: shown in logs, e.g. ``worker 3f1c…``.
        spawn: callable returning the new pid; called on every (re)start.
        policy: the restart policy (backoff and flapping limit).
        permanent_exit_codes: exit codes that mean "do not restart" (bad config).
        signals_ready: the child reports readiness (``ready()``); until then it is STARTING.
        boot_timeout: seconds a child that signals readiness has to do so once its process
            exists; past it the child is killed and restarted like one that died (None:
            no limit).
        clock: the monotonic clock the boot deadline is measured with.
    """

    def __init__(self, name, spawn, policy=None, permanent_exit_codes=(), signals_ready=False,
                 boot_timeout=None, clock=time.monotonic):
        self.name = name
        self.signals_ready = signals_ready
        self.boot_timeout = boot_timeout
        self._clock = clock
        self._boot_deadline = None
        self._killed_booting = False
        self._spawn = spawn
        self.policy = policy or RestartPolicy()
        self.permanent_exit_codes = set(permanent_exit_codes)
        self.state = STOPPED
        self.pid = None
        self.next_start = None
        self.server = None  # the game server a worker serves
        self._stop_signal = signal.SIGTERM  # for a stop that comes while a spawn waits
        self._spawning = False
        self._held_signals = []  # sent while a spawn waited: delivered once the pid is known

    def start(self, now):
        # STOPPED|BACKOFF|FAILED -> STARTING (straight to RUNNING without a ready signal)
        self.state = STARTING if self.signals_ready else RUNNING
        self.next_start = None
        self._spawning = True
        try:
            self.pid = self._spawn()
        except OSError as e:
            log.error("%s could not be started: %s", self.name, e)
            self.pid = None
            if self.state != STOPPED:
                self._schedule_restart(now)
            return
        finally:
            self._spawning = False
            held, self._held_signals = self._held_signals, []
        if self.state == STOPPED:
            # stop() came while the spawn waited (on the zygote): the new process goes too
            self.stop(self._stop_signal)
            return
        for sig in held:
            self.signal(sig)
        self.policy.started(now)
        if self.state == STARTING and self.boot_timeout:
            # from when the process exists: a spawn may have waited for the zygote
            self._boot_deadline = self._clock() + self.boot_timeout
        log.info("%s started (pid %d)", self.name, self.pid)

    def adopt(self, pid, now):
        """Take charge of a process that was started before supervision began."""
        # STOPPED -> RUNNING
        self.pid = pid
        self.state = RUNNING
        self.policy.started(now)

    def ready(self):
        # STARTING -> RUNNING
        if self.state == STARTING:
            self.state = RUNNING
            self._boot_deadline = None

    def exited(self, now, status):
        """Handle the child's death as reported by waitpid."""
        self.pid = None
        self._boot_deadline = None
        killed_booting, self._killed_booting = self._killed_booting, False
        if self.state == STOPPING:
            # STOPPING -> STOPPED
            self.state = STOPPED
            return
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) in self.permanent_exit_codes:
            # * -> FAILED: a configuration problem will not fix itself
            log.error("%s exited with %s and will not be restarted", self.name,
                      describe_status(status))
            self.state = FAILED
            return
        if not killed_booting:
            log.warning("%s died (%s)", self.name, describe_status(status))
        self._schedule_restart(now)

    def _schedule_restart(self, now):
        delay = self.policy.died(now)
        if delay is None:
            # * -> FAILED: dying in a loop
            log.error("%s failed %d times in a row; not restarting it until asked",
                      self.name, self.policy.failures)
            self.state = FAILED
            return
        # * -> BACKOFF
        self.state = BACKOFF
        self.next_start = now + delay
        log.info("%s restarts in %.1fs", self.name, delay)

    def tick(self, now):
        if self.state == BACKOFF and now >= self.next_start:
            self.start(now)
        elif self.state == STARTING and self._boot_deadline is not None \
                and self._clock() >= self._boot_deadline and not self._killed_booting:
            # STARTING -> (killed) -> BACKOFF, through exited()
            log.warning("%s did not report ready within %gs; killing it", self.name,
                        self.boot_timeout)
            self._killed_booting = True
            self.signal(signal.SIGKILL)

    def stop(self, sig=signal.SIGTERM):
        """Ask the child to stop; it will not be restarted."""
        # * -> STOPPING (or STOPPED when nothing runs)
        if self.pid is None:
            self._stop_signal = sig
            self.state = STOPPED
            return
        self.state = STOPPING
        self.signal(sig)

    def signal(self, sig):
        """Send ``sig`` to the process. One sent while its spawn waits (the zygote has
        forked it, its pid is on the way) is sent once the pid is known: a reload would
        otherwise miss the process that already read the old file."""
        if self.pid is None and self._spawning:
            if sig not in self._held_signals:
                self._held_signals.append(sig)
            return
        if self.pid is not None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    @property
    def alive(self):
        return self.pid is not None
