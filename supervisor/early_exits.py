"""Exits reaped before the supervisor knew whose they were.

A worker's pid reaches the supervisor over the zygote's socket, but the worker is
re-parented to the supervisor as soon as its intermediate exits: one that dies at once
can be reaped before that answer is read, when no child has its pid yet. Its exit is kept
here until a child with that pid appears, and only briefly: pids are reused.
"""

KEEP = 10.0


class EarlyExits:
    def __init__(self, keep=KEEP):
        self.keep = keep
        self._exits = {}  # pid -> (reaped at, waitpid status)

    def add(self, pid, status, now):
        self._exits[pid] = (now, status)

    def claim(self, procs, now):
        """``[(proc, status)]`` for each of ``procs`` whose pid exited early; exits kept
        longer than ``keep`` seconds are forgotten (orphans of other processes, which the
        supervisor reaps as a subreaper, end up here too)."""
        if not self._exits:
            return []
        claimed = []
        for proc in procs:
            kept = self._exits.pop(proc.pid, None) if proc.pid is not None else None
            if kept is not None:
                claimed.append((proc, kept[1]))
        for pid, (reaped_at, _) in list(self._exits.items()):
            if now - reaped_at > self.keep:
                del self._exits[pid]
        return claimed
