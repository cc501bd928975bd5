"""Processes started ahead of the boot and released by the supervisor (issue 22)."""

import os

import pytest

from supervisor.prestart import Prestarted
from wingspan.startup import wait_for_release


def test_a_waiting_process_goes_on_when_released_and_ends_when_never_released():
    read_end, write_end = os.pipe()
    os.write(write_end, b"go")
    wait_for_release(read_end)
    read_end, write_end = os.pipe()
    os.close(write_end)
    with pytest.raises(SystemExit) as ended:
        wait_for_release(read_end)
    assert ended.value.code == 0


def test_releasing_a_process_that_died_waiting_is_harmless():
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        # json.tool refuses the supervisor's arguments and exits at once
        early = Prestarted("json.tool", "config.yml", fd)
        assert early.process.wait(timeout=30) == 2
        early.release()
        assert early.released
    finally:
        os.close(fd)
