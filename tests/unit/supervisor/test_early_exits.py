"""Exits reaped before the supervisor knew the pid (issue 22: pipelined forks)."""

from supervisor.early_exits import EarlyExits


class Proc:
    def __init__(self, pid):
        self.pid = pid


def test_an_exit_is_claimed_by_the_child_that_gets_its_pid():
    exits = EarlyExits()
    exits.add(4242, 256, now=1.0)
    waiting, known = Proc(None), Proc(4243)
    assert exits.claim([waiting, known], now=1.1) == []
    waiting.pid = 4242
    assert exits.claim([waiting, known], now=1.2) == [(waiting, 256)]
    assert exits.claim([waiting, known], now=1.3) == []


def test_an_unclaimed_exit_is_forgotten_after_keep_seconds():
    exits = EarlyExits(keep=10.0)
    exits.add(4242, 9, now=0.0)
    exits.add(4343, 9, now=5.0)
    assert exits.claim([], now=10.5) == []
    reused = [Proc(4242), Proc(4343)]
    assert exits.claim(reused, now=10.6) == [(reused[1], 9)]
