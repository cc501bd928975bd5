"""Disk work off the hub: results and expected errors come back to the caller, and no
threadpool prints a traceback for an error the caller handles."""

import pytest
from gevent.threadpool import ThreadPool

from wingspan import errors
from wingspan.filesystem import in_thread


def missing():
    raise errors.FileNotFound(detail="gone since the scan")


@pytest.mark.parametrize("pool", [None, "own"])
def test_errors_are_raised_in_the_caller_without_a_traceback(capfd, pool):
    pool = ThreadPool(1) if pool == "own" else None
    assert in_thread(lambda a, b: a + b, 2, 3, pool=pool) == 5
    with pytest.raises(errors.FileNotFound):
        in_thread(missing, pool=pool)
    assert "Traceback" not in capfd.readouterr().err
