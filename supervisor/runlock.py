"""One daemon per run directory.

Two supervisors on one ``wingspan.run_directory`` (a manual run beside the systemd unit)
would bind the same bus endpoints and steal each other's requests. The supervisor takes an
exclusive ``flock`` on ``<run directory>/wingspan.lock`` before it touches anything else
there, and holds it for its whole life. The kernel lets go of the lock when the process
ends, however it ends, so a daemon killed with SIGKILL leaves nothing that blocks the next
one. The file holds the holder's pid, for the message a second daemon prints.
"""

import errno
import fcntl
import os

LOCK_NAME = "wingspan.lock"


class AlreadyRunning(Exception):
    """Another daemon holds the run directory."""

    def __init__(self, run_dir, pid):
        self.run_dir = run_dir
        self.pid = pid
        holder = "pid %s" % pid if pid else "a process whose pid is not recorded"
        super().__init__("another wingspan (%s) is running with the run directory %s; not "
                         "starting a second one" % (holder, run_dir))


def acquire(run_dir):
    """Lock ``run_dir`` for this process (created 0700 if missing) and return the lock's
    descriptor, which must stay open (it is not inherited by children).

    Raises:
        AlreadyRunning: another live process holds the lock.
        OSError: the directory or the file cannot be made.
    """
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(run_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = _recorded_pid(fd)
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise AlreadyRunning(run_dir, holder) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


def _recorded_pid(fd):
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
