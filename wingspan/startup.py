"""What every wingspan process takes from the daemon's start: its config and the switches.

Command-line switches that are not configuration (``--debug``,
``--ignore-certificate-errors``) reach the child processes through the environment, so
they are never written into config.yml. The supervisor's command line (``supervisor/cli.py``)
sets them; the API, the SFTP process and the workers read them here.
"""

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading

import setproctitle

from wingspan import logs

ENV_DEBUG = "WINGSPAN_DEBUG"
ENV_INSECURE = "WINGSPAN_IGNORE_CERTIFICATE_ERRORS"
# JSON {dotted key: value}: what a reload of config.yml left for a restart, as the daemon
# runs it (wingspan.config.hold_back); set by the supervisor for the processes it starts.
ENV_HELD_BACK = "WINGSPAN_HELD_BACK"


def set_runtime_flags(debug, ignore_certificate_errors):
    """Pass the switches on to every process started from now on."""
    if debug:
        os.environ[ENV_DEBUG] = "1"
    if ignore_certificate_errors:
        os.environ[ENV_INSECURE] = "1"


def runtime_flags():
    """``(debug, verify_tls)`` as set on the command line of the supervisor."""
    return os.environ.get(ENV_DEBUG) == "1", os.environ.get(ENV_INSECURE) != "1"


def load_config_or_exit(path):
    """The config at ``path``, fit to serve with; otherwise its problems on stderr, exit 1."""
    from wingspan.config import ConfigError, hold_back, load
    try:
        cfg = hold_back(load(path), json.loads(os.environ.get(ENV_HELD_BACK) or "{}"))
        cfg.validate_for_serving()
    except ConfigError as e:
        print("wingspan: %s" % e, file=sys.stderr)
        raise SystemExit(1) from None
    return cfg


def hold_reloads():
    """Keep SIGHUP (a reload) pending in this thread, and in the threads and processes it
    starts, until :func:`take_reloads`. Its default action ends a process: one sent before
    a process handles it must wait for the handler, not kill the process."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})


def take_reloads():
    """Let SIGHUP reach the reload handler just installed, the held one first."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


@contextlib.contextmanager
def reloads_held():
    """Start a process inside this: it holds SIGHUP until it has its handler."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# How far a process the boot does not wait for steps back while it starts: to the bottom.
# At +10 it still took a tenth of a core from each booting process (a 100-server boot
# took 0.24 s longer on two cores, issue 22).
BACKGROUND_NICENESS = 19


def start_in_background(name):
    """Title this process ``wingspan: <name>`` at once, so that it is known by its name
    while it still imports, and lower its CPU priority until :func:`end_background_start`;
    returns the niceness it had, to pass to that.

    The SFTP server's start (imports, host key, its server list: about 0.7 s of CPU) is not
    what a node restart waits for; at full priority it took that CPU from the zygote's
    forks and the workers' re-attaches. Niceness only ranks the daemon's own processes
    (game containers are in cgroups of their own), so it starts in the CPU they leave."""
    setproctitle.setproctitle("wingspan: %s" % name)
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    os.nice(BACKGROUND_NICENESS)
    return niceness


def end_background_start(niceness):
    """Give every thread of this process ``niceness`` back: a thread takes the niceness
    of the one that starts it, and those started meanwhile (ZeroMQ's, asyncio's) would
    otherwise stay in the background for good. Raising a priority needs root, as the
    daemon runs; without it the process stays where it is."""
    own = threading.get_native_id()
    threads = [own] + [int(tid) for tid in os.listdir("/proc/self/task") if int(tid) != own]
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except ProcessLookupError:
            continue  # the thread has ended
        except PermissionError:
            logging.getLogger(__name__).warning(
                "cannot raise the priority back after the start; staying at niceness %+d",
                os.getpriority(os.PRIO_PROCESS, own))
            return


def wait_for_release(fd):
    """Block until the supervisor writes to ``fd``; exit if it closes it unwritten (it
    ended before its boot loaded the servers)."""
    released = os.read(fd, 16)
    os.close(fd)
    if not released:
        raise SystemExit(0)


def start_child(name):
    """The start of a process the supervisor runs with ``--config PATH --supervisor-pidfd N``
    (the API, the SFTP server): its title and logging set, its config loaded (once released,
    with ``--wait-fd``). Returns
    ``(args, cfg)``; the switches are :func:`runtime_flags`."""
    parser = argparse.ArgumentParser(prog="wingspan-%s" % name)
    parser.add_argument("--config", required=True)
    parser.add_argument("--supervisor-pidfd", type=int, required=True)
    parser.add_argument("--wait-fd", type=int,
                        help="started ahead of the boot: wait until this pipe is written to "
                             "(supervisor/prestart.py)")
    args = parser.parse_args()
    setproctitle.setproctitle("wingspan: %s" % name)
    if args.wait_fd is not None:
        wait_for_release(args.wait_fd)
    cfg = load_config_or_exit(args.config)
    logs.configure(name, runtime_flags()[0] or cfg.debug)
    return args, cfg
