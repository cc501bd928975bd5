"""A fan-out viewer's bookkeeping (bench/fanout.py): lines counted per console frame
(wings-api.md §10.2), lag against the attach stream, and the daemon's close frame
(RFC 6455 §5.5.1; 1008 "client too slow", wings-api.md §16)."""

from api.hub import frame
from bench.fanout import Viewer
from bench.streams import StreamReader
from tests.unit.bench.frames import console, encoded


def reference():
    """An attach reader that saw flood line 0..99 at t=1 and 100..199 at t=2."""
    reader = StreamReader(None, 1)
    reader.seen(1.0, 0, 100, 99)
    reader.seen(2.0, 0, 100, 199)
    return reader


def test_take_counts_lines_and_the_lag_of_the_last_one():
    viewer = Viewer(None, stalled=False)
    data = encoded(console("flood line 150")) + encoded(console("flood line 160")) \
        + encoded(frame("stats", ["{}"]).encode())
    assert viewer.take(5.0, data, reference()) is False
    assert viewer.lines == 2
    assert viewer.last == (5.0, 160)
    assert viewer.max_lag == 3.0


def test_rate_is_lines_over_the_time_between_first_and_last():
    viewer = Viewer(None, stalled=False)
    viewer.take(2.0, encoded(console("flood line 1")), reference())
    viewer.take(4.0, encoded(console("flood line 2")) + encoded(console("flood line 3")),
                reference())
    assert viewer.rate() == 1.5


def test_take_reports_the_close_code_after_the_lines_before_it():
    viewer = Viewer(None, stalled=True)
    closing = encoded((1008).to_bytes(2, "big") + b"client too slow", opcode=8)
    assert viewer.take(3.0, encoded(console("flood line 5")) + closing, reference()) is True
    assert viewer.closed == 1008
    assert viewer.lines == 1
