"""The zygote's preparation of its memory for forking (supervisor/zygote.py)."""

import subprocess
import sys
import textwrap

from supervisor import zygote


def test_free_blocks_are_read_per_size_class():
    free = zygote._free_blocks()
    assert sorted(free) == list(range(16, 513, 16))
    assert all(count >= 0 for count in free.values())


def test_filling_takes_the_free_blocks_of_the_pools_in_use():
    # a fresh interpreter, so that this test process's own allocations do not interfere
    script = textwrap.dedent("""
        from supervisor import zygote
        before = sum(size * n for size, n in zygote._free_blocks().items())
        zygote._fill_free_blocks()
        after = sum(size * n for size, n in zygote._free_blocks().items())
        print(before, after)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    before, after = map(int, out.split())
    assert before > 100000
    assert after < before / 2
