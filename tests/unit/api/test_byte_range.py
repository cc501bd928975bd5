"""``Range`` on downloads (RFC 9110 §14): one ``bytes=`` range is served as a 206 slice, a
start past the end is a 416, anything else gets the whole body (wings-api.md §7.4, §7.5)."""

import pytest

from api.http import UNSATISFIABLE, byte_range


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-99", (0, 99)),
    ("bytes=100-", (100, 999)),
    ("bytes=-10", (990, 999)),
    ("bytes=-5000", (0, 999)),
    ("bytes=900-5000", (900, 999)),
    ("BYTES=1-1", (1, 1)),
])
def test_one_range(header, expected):
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", [None, "", "bytes=0-1,5-6", "items=0-1", "bytes=a-b",
                                    "bytes=-", "bytes=5-1", "bytes=1-2-3"])
def test_anything_else_is_the_whole_body(header):
    assert byte_range(header, 1000) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_past_the_end_is_unsatisfiable(header):
    assert byte_range(header, 1000) is UNSATISFIABLE
