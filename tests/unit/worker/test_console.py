"""Console building blocks (wings-behaviour.md §2.6, §5.1, §5.3, §5.5, Appendix A)."""

import logging
import random

import pytest

from worker.console import (ConsoleBuffer, LineSplitter, StartupMatcher,
                            Throttle, daemon_line)


class FakeClock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def split_all(data, max_line=65536, chunk=None):
    """Feed ``data`` whole or in ``chunk``-byte pieces, then flush."""
    splitter = LineSplitter(max_line)
    lines = []
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        lines += splitter.feed(data[i:i + step])
    return lines + splitter.flush()


# §5.1 line splitting

def test_upstream_truncation_case_with_cap_10():
    """§5.1: the upstream unit test with the cap patched to 10."""
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"hello world this is a long line\nnot here") == [b"hello worl"]
    assert splitter.flush() == [b"not here"]


def test_upstream_long_lines_case_with_cap_10():
    """§5.1: upstream's four-line case, every over-long line cut to its first 10 bytes."""
    data = (b"hello world this is a long line\nof text that should be truncated\n"
            b"not here\nbut definitely on this line")
    assert split_all(data, 10) == [b"hello worl", b"of text th", b"not here", b"but defini"]


def test_upstream_carriage_return_case_with_cap_10():
    """§5.1: lone CRs stay, CRLF terminates, the cap still applies."""
    data = b"test\rstring\r\nanother\rline\nhodor\r\r\rheld the door\nmaterial gourl\n"
    assert split_all(data, 10) == [b"test\rstrin", b"another\rli", b"hodor\r\r\rhe",
                                   b"material g"]


def test_partial_line_is_held_until_completed():
    splitter = LineSplitter()
    assert splitter.feed(b"Done (3") == []
    assert splitter.feed(b".21s)!\r\nnext") == [b"Done (3.21s)!"]
    assert splitter.feed(b" line\n") == [b"next line"]
    assert splitter.flush() == []


def test_terminators_removed_and_empty_lines_dropped():
    """§5.1: \\n and \\r\\n end a line; empty lines are not emitted."""
    assert split_all(b"a\n\n\r\nb\r\n\n") == [b"a", b"b"]


def test_space_cr_becomes_crlf_inside_the_line():
    """§5.1: " \\r" -> "\\r\\n" (kept inside the emitted line); a lone \\r is kept."""
    assert split_all(b"[12:00] wrapped \rtext\rmore\n") == [b"[12:00] wrapped\r\ntext\rmore"]


def test_flush_keeps_a_trailing_carriage_return():
    """At EOF Wings' ReadLine returns the last partial line unmodified."""
    splitter = LineSplitter()
    assert splitter.feed(b"prompt> \r") == []
    assert splitter.flush() == [b"prompt>\r\n"]
    splitter.feed(b"x\r")
    assert splitter.flush() == [b"x\r"]


def test_line_at_the_64k_cap_loses_one_256_byte_read():
    """§5.1: 65 536 bytes emitted, the overflowing 256-byte read dropped, the rest follows."""
    data = b"a" * 70000 + b"\nnext\n"
    assert split_all(data) == [b"a" * 65536, b"a" * (70000 - 65536 - 256), b"next"]


def test_line_of_exactly_the_cap_is_emitted_whole():
    assert split_all(b"b" * 65536 + b"\nc\n") == [b"b" * 65536, b"c"]


def test_output_does_not_depend_on_how_the_stream_is_chunked():
    """Read boundaries follow the bytes only, so every chunking gives Wings' result."""
    data = (b"x" * 300 + b" \r" + b"y" * 700 + b"\r\n" + b"z" * 255 + b"\r\n"
            + b"w" * 511 + b"\r" + b"\n" + b"tail")
    whole = split_all(data, max_line=600)
    assert whole == [b"x" * 300 + b"\r\n" + b"y" * 298, b"y" * 234, b"z" * 255, b"w" * 511,
                     b"tail"]
    for chunk in (1, 7, 255, 256, 257, 1000):
        assert split_all(data, max_line=600, chunk=chunk) == whole


def test_space_cr_split_by_a_256_byte_read_is_not_replaced():
    """The replacement works per 256-byte read; a full read never ends in \\r."""
    data = b"q" * 255 + b" \rrest\n"
    assert split_all(data) == [b"q" * 255 + b" \rrest"]
    assert split_all(b"q" * 10 + b" \rrest\n") == [b"q" * 10 + b"\r\nrest"]


def test_the_fast_path_for_short_lines_splits_exactly_as_the_read_by_read_replay(
        monkeypatch):
    """Short lines are split in one go; the result must be the replay's for any input
    and any chunking: random streams of short, long, empty, CR and " \\r" pieces."""
    pieces = [b"a", b"word", b" ", b"\r", b"\n", b"\r\n", b" \r", b"x" * 120, b"y" * 255,
              b"z" * 256, b"\xc3\xa9"]
    rng = random.Random(22)
    streams = [b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 60)))
               for _ in range(150)]
    fast = [[split_all(data, cap, chunk) for chunk in (1, 5, 64, 300, None)]
            for data in streams for cap in (10, 255, 65536)]
    monkeypatch.setattr(LineSplitter, "_short_lines", lambda self, raw: None)
    replayed = [[split_all(data, cap, chunk) for chunk in (1, 5, 64, 300, None)]
                for data in streams for cap in (10, 255, 65536)]
    assert fast == replayed


# §5.3 throttle

def test_throttle_allows_the_limit_per_window_and_warns_once():
    clock = FakeClock()
    throttle = Throttle(3, 100, clock)
    assert [throttle.check() for _ in range(3)] == [(True, False)] * 3
    assert throttle.check() == (False, True)
    assert throttle.check() == (False, False)
    assert throttle.check() == (False, False)


def test_throttle_window_restarts_only_after_more_than_the_interval():
    """§5.3: a new window starts at the first line more than one interval after the start."""
    clock = FakeClock(100.0)
    throttle = Throttle(2, 100, clock)
    throttle.check()
    throttle.check()
    clock.now = 100.1
    assert throttle.check() == (False, True)
    clock.now = 100.1001
    assert throttle.check() == (True, False)
    assert throttle.check() == (True, False)
    assert throttle.check() == (False, True)


def test_each_throttling_episode_warns_exactly_once():
    clock = FakeClock()
    throttle = Throttle(1, 100, clock)
    warnings = 0
    for step in range(50):
        clock.now += 0.03
        _, warn = throttle.check()
        warnings += warn
        _, warn = throttle.check()
        warnings += warn
    # Every window (every 4th step, ~0.12 s) allows one line; all others in it are rejected.
    assert warnings == 13


def test_throttle_reset_opens_a_fresh_window():
    """§5.3: counter cleared and window restarted when the state becomes starting."""
    clock = FakeClock()
    throttle = Throttle(2, 100, clock)
    for _ in range(5):
        throttle.check()
    clock.now += 0.05
    throttle.reset()
    assert throttle.check() == (True, False)
    assert throttle.check() == (True, False)
    assert throttle.check() == (False, True)


# §5.5 daemon lines

def test_daemon_line_exact_format():
    """§5.5 / Appendix A DAEMON_FMT."""
    assert daemon_line("Pterodactyl", "Updating process configuration files...") == (
        "\x1b[33m\x1b[1m[Pterodactyl Daemon]:\x1b[39m Updating process configuration files..."
        "\x1b[0m")


def test_daemon_line_does_not_interpret_colour_tags():
    """§5.5 QUIRK not reproduced: a [red] inside the message stays literal."""
    assert daemon_line("Wings", "[red]x") == "\x1b[33m\x1b[1m[Wings Daemon]:\x1b[39m [red]x\x1b[0m"


# §2.6 done-line matching

def test_plain_done_entry_is_a_substring_test():
    matcher = StartupMatcher([")! For help, type "], strip_ansi=False)
    assert matcher.matches('[12:00:00 INFO]: Done (3.21s)! For help, type "help"')
    assert not matcher.matches("Loading libraries")


def test_regex_done_entry_is_searched():
    """§18 example: regex:^Done \\(\\d+\\.\\d+s\\)! matches Done (3.21s)!."""
    matcher = StartupMatcher([r"regex:^Done \(\d+\.\d+s\)!"], strip_ansi=False)
    assert matcher.matches("Done (3.21s)! For help")
    assert not matcher.matches("[INFO] Done (3.21s)!")
    assert StartupMatcher([r"regex:started on port \d+"], False).matches("xx started on port 25565")


def test_regex_is_ascii_like_re2():
    """Appendix A: Go's \\d is ASCII-only."""
    assert not StartupMatcher([r"regex:^\d+$"], False).matches("\u0663\u0664")
    assert StartupMatcher([r"regex:^\d+$"], False).matches("34")


def test_bare_regex_prefix_is_a_plain_substring():
    """§2.6: "regex:" needs more than 6 characters to be a regex."""
    matcher = StartupMatcher(["regex:"], strip_ansi=False)
    assert matcher.matches("log regex: here")
    assert not matcher.matches("anything else")


def test_invalid_regex_degrades_to_substring_of_the_whole_entry(caplog):
    """§2.6: a compile failure logs a warning and tests the full string incl. "regex:"."""
    with caplog.at_level(logging.WARNING, logger="worker.console"):
        matcher = StartupMatcher(["regex:Done ("], strip_ansi=False)
    assert "does not compile" in caplog.text
    assert not matcher.matches("Done (3.2s)")
    assert matcher.matches("echo regex:Done (")


@pytest.mark.parametrize("done", [[], None])
def test_empty_done_list_never_matches(done):
    """§2.6: an empty list means the server never leaves starting."""
    assert not StartupMatcher(done, strip_ansi=True).matches("Done")


def test_strip_ansi_applies_before_matching():
    """§2.6: with strip_ansi the colour codes are removed from a copy of the line."""
    line = "\x1b[32mDone\x1b[0m (\x1b[1m3.2s\x1b[22m)!"
    assert StartupMatcher(["Done (3.2s)!"], strip_ansi=True).matches(line)
    assert not StartupMatcher(["Done (3.2s)!"], strip_ansi=False).matches(line)


def test_strip_ansi_handles_osc_and_c1_sequences():
    """Appendix A regex: OSC titles ending in BEL and the 8-bit CSI (\\x9b) are removed."""
    matcher = StartupMatcher(["regex:^Server started$"], strip_ansi=True)
    assert matcher.matches("\x1b]0;title\x07Server started\x9b0m")


def test_any_entry_matching_is_enough():
    matcher = StartupMatcher(["never", "regex:ready$"], strip_ansi=False)
    assert matcher.matches("server ready")


# history buffer and batcher

def test_console_buffer_keeps_the_newest_lines():
    buffer = ConsoleBuffer(3)
    buffer.extend(["a", "b"])
    buffer.extend(["c", "d", "e"])
    assert buffer.tail(2) == ["d", "e"]
    assert buffer.tail(10) == ["c", "d", "e"]
    assert buffer.tail(0) == []
    buffer.clear()
    assert buffer.tail(5) == []
