"""One daemon per run directory (issue 20 part 2): an flock held for the supervisor's life."""

import os
import subprocess
import sys

import pytest

from supervisor import runlock


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    run_dir = str(tmp_path / "run")
    fd = runlock.acquire(run_dir)
    assert os.stat(run_dir).st_mode & 0o777 == 0o700
    child = subprocess.run(
        [sys.executable, "-c", "from supervisor import runlock; runlock.acquire(%r)" % run_dir],
        capture_output=True, text=True)
    assert child.returncode != 0
    assert "another wingspan (pid %d) is running with the run directory %s" % (
        os.getpid(), run_dir) in child.stderr
    with open(os.path.join(run_dir, runlock.LOCK_NAME)) as f:
        assert f.read() == "%d\n" % os.getpid()  # the refused one wrote nothing
    os.close(fd)


def test_a_lock_left_by_a_dead_process_does_not_block(tmp_path):
    run_dir = str(tmp_path / "run")
    subprocess.run([sys.executable, "-c", "import os; from supervisor import runlock; "
                    "runlock.acquire(%r); os._exit(9)" % run_dir], check=False)
    with open(os.path.join(run_dir, runlock.LOCK_NAME)) as f:
        assert f.read().strip().isdigit()  # the dead one's pid is still written there
    fd = runlock.acquire(run_dir)
    with open(os.path.join(run_dir, runlock.LOCK_NAME)) as f:
        assert f.read() == "%d\n" % os.getpid()
    os.close(fd)


def test_the_lock_is_not_inherited(tmp_path):
    fd = runlock.acquire(str(tmp_path / "run"))
    assert not os.get_inheritable(fd)
    os.close(fd)


def test_an_unusable_run_directory_is_an_os_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        runlock.acquire(str(blocker / "run"))
