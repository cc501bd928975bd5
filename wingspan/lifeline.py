"""No child process outlives the supervisor.

The supervisor opens a pidfd of itself and hands it to every process it starts: the API
process and the zygote, whose forked workers inherit it. A pidfd turns readable when its
process has exited, whatever killed it, and it cannot come to name another process that
takes the pid. A parent-death signal is not enough for the workers: it follows whichever
process is the parent at the moment, and a worker forked while the supervisor dies is
re-parented away from it before it could ask for one.
"""

import logging
import os

import gevent

log = logging.getLogger(__name__)

READABLE = 1  # libev's EV_READ


def open_own_pidfd():
    """A pidfd of this process, to pass to the children (close-on-exec unless passed)."""
    return os.pidfd_open(os.getpid())


def exit_with(pidfd):
    """Exit this process as soon as the process behind ``pidfd`` has exited.

    The watch is level-triggered: a process already gone ends this one at the hub's next
    turn. The exit is immediate rather than through a graceful stop, whose way out may wait
    on a bus with no supervisor left to answer; game containers keep running either way.
    The hub keeps an active watcher alive; the caller need not hold it. The descriptor,
    inherited across exec to get here, is kept from the programs this process runs."""
    os.set_inheritable(pidfd, False)
    gevent.get_hub().loop.io(pidfd, READABLE).start(_exit_orphaned)


def exit_with_loop(pidfd, loop):
    """:func:`exit_with` for a process that runs an asyncio loop instead of gevent's hub."""
    os.set_inheritable(pidfd, False)
    loop.add_reader(pidfd, _exit_orphaned)


def _exit_orphaned():
    log.warning("the supervisor is gone; exiting (game containers keep running)")
    os._exit(0)
