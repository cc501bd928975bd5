"""Console building blocks: line splitting, throttling, done-line matching, buffers.

Pure and clock-injected, so the worker's console pipeline (``worker.output``) stays a thin
wiring layer and every rule here is unit-tested in isolation. Sources of the rules:
wings-behaviour.md §2.6 (done lines), §5.1 (splitting), §5.3 (throttle), §5.5 (daemon
lines) and Appendix A (ANSI regex).
"""

import logging
import re
import time
from collections import deque
from itertools import islice

log = logging.getLogger(__name__)

MAX_LINE = 65536
READ_SIZE = 256
CR = 0x0D

STRIP_ANSI = re.compile(r'[\x1b\x9b][\[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x07)'
                        r'|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))', re.ASCII)

REGEX_PREFIX = "regex:"


class LineSplitter:
    """Cuts a byte stream into console lines exactly as Wings' ``ScanReader`` does (§5.1).

    Wings reads through a 256-byte ``bufio.Reader`` with ``ReadLine``, so a line longer
    than 256 bytes arrives in 256-byte reads, and two rules apply per read, not per line:

    * ``" \\r"`` becomes ``"\\r\\n"`` only inside one read; a pair split across two
      reads is kept as it is.
    * When a line outgrows ``max_line``, the read that overflowed is cut to fill the line
      exactly, the line is emitted, and the rest of that read is dropped. Reads continue
      where they were, so the remainder of a very long line comes out as further lines.
      With the 64 KiB cap (a multiple of 256) one whole 256-byte read is lost; with
      short lines (the upstream test, cap 10) the rest of the line is lost.

    Read boundaries depend only on the bytes, never on how the stream was chunked:
    ``bufio`` slides a partial line to the front of its buffer before reading more, so
    every read of a line starts where the previous one ended and is 256 bytes long
    unless a ``\\n`` ends it earlier. A full read that ends in ``\\r`` gives that byte
    back to the next read, so a ``\\r\\n`` is never split. This class replays those
    boundaries on whatever chunks ``feed`` gets, which makes its output identical to
    Wings' for any input.
    """

    def __init__(self, max_line=MAX_LINE):
        self._max = max_line
        self._short = min(READ_SIZE - 1, max_line)  # the longest line read whole, uncut
        self._raw = b""
        self._parts = []
        self._size = 0

    def feed(self, data):
        """Complete lines found so far, terminators removed; partial input is kept."""
        raw = self._raw + data if self._raw else bytes(data)
        lines = self._short_lines(raw)
        if lines is not None:
            return lines
        lines = []
        pos, end = 0, len(raw)
        while pos < end:
            newline = raw.find(b"\n", pos, pos + READ_SIZE)
            if newline >= 0:
                stop = newline - 1 if newline > pos and raw[newline - 1] == CR else newline
                self._take(raw[pos:stop], True, lines)
                pos = newline + 1
            elif end - pos >= READ_SIZE:
                stop = pos + READ_SIZE
                if raw[stop - 1] == CR:
                    stop -= 1
                self._take(raw[pos:stop], False, lines)
                pos = stop
            else:
                break
        self._raw = raw[pos:]
        return lines

    def _short_lines(self, raw):
        """The lines of ``raw`` at once when no rule can apply to it, else None: no line
        is under way, every line and the partial rest fit in one read, no line reaches the
        cap, and no ``" \\r"`` is there to rewrite. A flooding game's output is that, tens
        of thousands of lines a second that the read-by-read replay would walk one by one."""
        if self._parts or b" \r" in raw:
            return None
        lines = raw.split(b"\n")
        rest = lines.pop()
        if len(rest) >= READ_SIZE or (lines and len(max(lines, key=len)) > self._short):
            return None
        self._raw = rest
        # a read of a line drops the \r before its \n, and an empty line is no line
        return [line[:-1] if line[-1:] == b"\r" else line
                for line in lines if line and line != b"\r"]

    def flush(self):
        """The stream ended: the held partial line as a last line (a trailing ``\\r`` stays)."""
        lines = []
        raw, self._raw = self._raw, b""
        self._take(raw, True, lines)
        return lines

    def _take(self, piece, ends_line, lines):
        if b" \r" in piece:
            piece = piece.replace(b" \r", b"\r\n")
        room = self._max - self._size
        if len(piece) > room:
            self._parts.append(piece[:room])
            lines.append(self._drain())
            return
        if piece:
            self._parts.append(piece)
            self._size += len(piece)
        if ends_line and self._size:
            lines.append(self._drain())

    def _drain(self):
        parts = self._parts
        line = parts[0] if len(parts) == 1 else b"".join(parts)
        self._parts = []
        self._size = 0
        return line


class Throttle:
    """Fixed-window line limiter for console viewers (§5.3).

    A window opens at the first check more than ``interval_ms`` after the current window
    opened; at most ``lines`` checks pass per window. ``check`` answers ``(allowed,
    warn)``: ``warn`` is true for the first rejected line of an episode only, and the next
    allowed line ends the episode. ``clock`` returns seconds (``time.monotonic``).
    """

    def __init__(self, lines, interval_ms, clock=time.monotonic):
        self._clock = clock
        self.set_limits(lines, interval_ms)
        self._opened = clock()
        self._count = 0
        self._striking = False

    def set_limits(self, lines, interval_ms):
        """New limits, from the current window on."""
        self._limit = lines
        self._window = interval_ms / 1000.0

    def check(self):
        now = self._clock()
        if now - self._opened > self._window:
            self._opened = now
            self._count = 0
        if self._count >= self._limit:
            warn = not self._striking
            self._striking = True
            return False, warn
        self._count += 1
        self._striking = False
        return True, False

    def reset(self):
        """Start a fresh window (the server entered ``starting``).

        Wings keeps the strike flag over a reset; clearing it changes nothing visible
        unless the limit is 0, where every start then warns once instead of never again.
        """
        self._opened = self._clock()
        self._count = 0
        self._striking = False


def daemon_line(app_name, text):
    """A ``[<app> Daemon]:`` console line (§5.5).

    Wings runs the whole string through a colour-tag parser, so a message containing a
    tag such as ``[red]`` gets coloured too; that is a bug and is not reproduced here.
    """
    return "\x1b[33m\x1b[1m[%s Daemon]:\x1b[39m %s\x1b[0m" % (app_name, text)


class StartupMatcher:
    """Decides whether a console line marks a starting server as running (§2.6).

    Each ``done`` entry is a substring to find, or ``regex:<pattern>`` (the prefix plus at
    least one character) searched anywhere in the line. An entry whose pattern does not
    compile is logged and then tested as a plain substring, ``regex:`` included, as Wings
    does. An empty list never matches.

    Patterns are written for Go's RE2 and compiled with Python's ``re`` with ``re.ASCII``,
    which makes ``\\d``, ``\\w``, ``\\b`` ASCII-only as in RE2. Where the two differ:

    * RE2-only syntax fails to compile here and so degrades to a substring test:
      ``\\z``, ``\\Q...\\E``, ``\\pL``/``\\p{Greek}``, ``(?<name>...)`` (Python wants
      ``(?P<name>...)``), ``(?U)``. POSIX classes like ``[[:digit:]]`` compile but mean
      a plain character set.
    * Python-only syntax (lookaround, backreferences) works here, where Wings would fail
      to compile it and fall back to a substring that never matches.
    * ``\\s`` also matches ``\\v`` here; ``$`` also matches before a final ``\\n``.
    * RE2 runs in linear time; Python backtracks, so a pathological egg pattern costs
      more here. Lines are at most 64 KiB and matching stops once the server runs.
    """

    def __init__(self, done, strip_ansi):
        self._tests = [_done_test(entry) for entry in done or ()]
        self._strip_ansi = strip_ansi

    def matches(self, line):
        if not self._tests:
            return False
        if self._strip_ansi:
            line = STRIP_ANSI.sub("", line)
        return any(test(line) for test in self._tests)


def _done_test(entry):
    if entry.startswith(REGEX_PREFIX) and len(entry) > len(REGEX_PREFIX):
        try:
            return re.compile(entry[len(REGEX_PREFIX):], re.ASCII).search
        except re.error as e:
            log.warning("startup done pattern %r does not compile (%s); matching it as text",
                        entry, e)
    return lambda line: entry in line


class ConsoleBuffer:
    """The most recent console lines of a server, oldest first."""

    def __init__(self, max_lines):
        self._lines = deque(maxlen=max_lines)

    def extend(self, lines):
        self._lines.extend(lines)

    def tail(self, n):
        """The last ``n`` lines, oldest first."""
        if n <= 0:
            return []
        newest_first = list(islice(reversed(self._lines), n))
        newest_first.reverse()
        return newest_first

    def clear(self):
        self._lines.clear()
