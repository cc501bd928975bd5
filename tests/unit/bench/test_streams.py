"""The benchmark readers' parsing (bench/streams.py): websocket frames as gevent-websocket
writes them (RFC 6455 §5.2, unmasked server frames), console frames of the shape
``api.hub.frame`` gives them (wings-api.md §10.2: a JSON object and a newline), TTY lines
of the test game, and the readers' bookkeeping."""

import json

from api.hub import frame
from bench.streams import ConsoleReader, FrameSplitter, StreamReader, console_line, \
    flood_index, last_flood_index, percentile, stamp_delay
from tests.unit.bench.frames import console, encoded


class FakeConsole:
    sock = None


def test_frames_of_every_length_encoding_are_cut_apart():
    small, medium, large = b"a" * 5, b"b" * 300, b"c" * 70000
    stream = encoded(small) + encoded(medium) + encoded(large, opcode=2)
    assert FrameSplitter().feed(stream) == [(1, small), (1, medium), (2, large)]


def test_a_frame_split_across_reads_comes_out_whole_once():
    stream = encoded(b"x" * 300) + encoded(b"y")
    splitter = FrameSplitter()
    out = []
    for cut in (1, 3, 200, len(stream)):
        out += splitter.feed(stream[:cut])
        stream = stream[cut:]
    assert out == [(1, b"x" * 300), (1, b"y")]


def test_console_line_is_the_line_a_console_frame_carries():
    assert console_line(console("flood line 12")) == b"flood line 12"
    assert console_line(console("")) == b""
    assert console_line(frame("status", ["running"]).encode()) is None


def test_console_line_agrees_with_json_for_plain_ascii():
    payload = console("stamp 7 1795429272.094880")
    assert console_line(payload).decode() == json.loads(payload)["args"][0]


def test_flood_index():
    assert flood_index(b"flood line 1234") == 1234
    assert flood_index(b"flood line 12\r") == 12
    assert flood_index(b"flood line ") is None
    assert flood_index(b"tick 3") is None


def test_last_flood_index_ignores_a_line_cut_by_the_read():
    assert last_flood_index(b"flood line 8\r\nflood line 9\r\nflood li") == 9
    assert last_flood_index(b"flood line 8\r\nflood line 9\r\nflood line 10") == 9
    assert last_flood_index(b"Server started\r\n") is None


def test_stamp_delay_measures_from_the_written_time():
    assert abs(stamp_delay(b"stamp 3 1000.250000", 1000.5) - 0.25) < 1e-9


def test_stamp_delay_ignores_the_echoed_command():
    # the TTY echoes "stamp 3000 1000" back: its third field is no timestamp
    assert stamp_delay(b"stamp 3000 1000", 1e9) is None
    assert stamp_delay(b"flood line 3", 1.0) is None


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([5.0], 0.99) == 5.0
    assert percentile([], 0.5) is None


def test_rate_counts_chunks_inside_the_window_only():
    reader = StreamReader(None, 1)
    reader.seen(9.9, 1000, 10, None)
    reader.seen(10.0, 200, 2, 5)
    reader.seen(11.5, 300, 3, 8)
    reader.seen(12.0, 4000, 40, 9)
    assert reader.rate(10.0, 12.0) == (250.0, 2.5)


def test_first_seen_finds_the_first_chunk_at_or_past_an_index():
    reader = StreamReader(None, 1)
    reader.seen(1.0, 1, 1, 10)
    reader.seen(2.0, 1, 1, 20)
    reader.seen(3.0, 1, 1, 15)  # an older index arriving late keeps the first time
    assert reader.first_seen(10) == 1.0
    assert reader.first_seen(11) == 2.0
    assert reader.first_seen(21) is None


def test_console_reader_counts_console_bytes_as_the_tty_does():
    reader = ConsoleReader(FakeConsole(), 1)
    data = b"".join(encoded(p) for p in (console("flood line 1"), console("flood line 2"),
                                         frame("stats", ["{}"]).encode()))
    assert reader.consume(5.0, 100.0, data) is False
    # "flood line N" + CR LF, twice; the stats frame is not console output
    assert reader.chunks == [(5.0, 2 * (12 + 2), 2, 2)]


def test_console_reader_stops_at_a_close_frame_with_its_code():
    reader = ConsoleReader(FakeConsole(), 1)
    closing = encoded((1008).to_bytes(2, "big") + b"client too slow", opcode=8)
    assert reader.consume(1.0, 1.0, encoded(console("flood line 1")) + closing) is True
    assert reader.closed == 1008
    assert reader.chunks == [(1.0, 12 + 2, 1, 1)]
