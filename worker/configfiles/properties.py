"""The ``properties`` parser: Java properties files such as Minecraft's server.properties
(wings-behaviour.md §8.4).

A line-based editor rather than a library: the lines a replacement does not touch are
written back byte for byte, comments and blank lines included, in their place. Wings
(through its properties library) keeps only the leading comment block and rewrites every
other line; jproperties, the Python candidate, also re-serialises every entry. Keys and
values are read with the Java rules: ``=``, ``:`` or whitespace end the key, backslash
escapes and ``\\uXXXX`` are decoded, a line ending in an odd number of backslashes goes on
on the next one, ``#`` and ``!`` start comments.

A replacement sets every line of its key (the last one is what Java reads, and they must
not disagree), or appends ``key=value`` at the end when the key is missing. ``if_value``
compares with the decoded current value. The rewritten line keeps its key text and
separator. Values are written ASCII-escaped on purpose, as Wings does (panel issues
#2308/#3009): non-ASCII becomes ``\\uXXXX`` (surrogate pairs above U+FFFF, which Java
understands where Go's ``\\U`` form is not), ``\\`` → ``\\\\``, ``"`` → ``\\"``, and tab,
newline, CR and form feed their letter escapes. ``${name}`` is kept as written: Wings'
library expands it from other keys or from the daemon's own environment, which is a leak.
"""

import re
from dataclasses import dataclass

from worker.configfiles import text as textio

_WHITESPACE = " \t\f"
_SEPARATORS = "=:"
_LETTER_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_ESCAPED_CHARACTERS = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_HEX4 = re.compile("[0-9a-fA-F]{4}")


@dataclass
class _Line:
    """One logical line: its raw text and, for an entry, its decoded key and value."""

    raw: str
    key: str = None
    value: str = None
    prefix: str = ""  # raw text before the value: indentation, key, separator (never none)
    ending: str = ""

    def set_value(self, value):
        self.raw = self.prefix + escape_value(value) + self.ending
        self.value = value


def apply(content, replacements):
    """The edited bytes of ``content`` (None: the file does not exist yet)."""
    text, had_bom = textio.decode(content)
    newline = textio.newline_of(text)
    lines = parse(text)
    for rep in replacements:
        entries = [line for line in lines if line.key == rep.match]
        new = rep.new_text(entries[-1].value if entries else None)
        if new is None:
            continue
        for entry in entries:
            entry.set_value(new)
        if not entries:
            _append(lines, rep.match, new, newline)
    return textio.encode("".join(line.raw for line in lines), had_bom)


def parse(text):
    """The logical lines of a properties file, in order."""
    return [_parse_logical(group) for group in _logical_groups(textio.split_lines(text))]


def _append(lines, key, value, newline):
    if lines and not lines[-1].raw.endswith("\n"):
        lines[-1].raw += newline
        lines[-1].ending += newline
    raw = escape_key(key) + "=" + escape_value(value) + newline
    lines.append(_Line(raw, key, value, escape_key(key) + "=", newline))


def _logical_groups(natural):
    """Natural lines grouped into logical lines (continuations joined)."""
    group = []
    for line in natural:
        group.append(line)
        body, _ = textio.split_ending(line)
        if len(group) == 1 and _is_comment_or_blank(body):
            yield group
            group = []
        elif not _continues(body):
            yield group
            group = []
    if group:
        yield group


def _parse_logical(group):
    raw = "".join(group)
    first, _ = textio.split_ending(group[0])
    if _is_comment_or_blank(first):
        return _Line(raw)
    joined, ending = _joined(group)
    key_start = len(joined) - len(joined.lstrip(_WHITESPACE))
    key_end = _key_end(joined, key_start)
    value_start = _value_start(joined, key_end)
    # a bare key has no separator to keep; it gets one when a value is written
    prefix = joined[:value_start] if value_start > key_end else joined[:key_end] + "="
    return _Line(raw, unescape(joined[key_start:key_end]), unescape(joined[value_start:]),
                 prefix, ending)


def _joined(group):
    parts = []
    ending = ""
    for index, line in enumerate(group):
        body, ending = textio.split_ending(line)
        if index:
            body = body.lstrip(_WHITESPACE)
        if index < len(group) - 1:
            body = body[:-1]  # the continuation backslash
        parts.append(body)
    return "".join(parts), ending


def _is_comment_or_blank(body):
    stripped = body.lstrip(_WHITESPACE)
    return not stripped or stripped[0] in "#!"


def _continues(body):
    return (len(body) - len(body.rstrip("\\"))) % 2 == 1


def _key_end(line, index):
    while index < len(line):
        if line[index] == "\\":
            index += 2
            continue
        if line[index] in _SEPARATORS or line[index] in _WHITESPACE:
            return index
        index += 1
    return len(line)


def _value_start(line, index):
    while index < len(line) and line[index] in _WHITESPACE:
        index += 1
    if index < len(line) and line[index] in _SEPARATORS:
        index += 1
    while index < len(line) and line[index] in _WHITESPACE:
        index += 1
    return index


def unescape(raw):
    """A key or value as Java reads it."""
    out = []
    index = 0
    while index < len(raw):
        char = raw[index]
        index += 1
        if char != "\\":
            out.append(char)
        elif index < len(raw):
            escaped = raw[index]
            index += 1
            if escaped == "u" and _HEX4.fullmatch(raw, index, index + 4):
                out.append(chr(int(raw[index:index + 4], 16)))
                index += 4
            else:
                out.append(_LETTER_ESCAPES.get(escaped, escaped))
    return _SURROGATE_PAIR.sub(_join_pair, "".join(out))


def _join_pair(pair):
    return pair.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def escape_value(value):
    """A value written as Wings writes it, readable by Java (see the module docstring)."""
    escaped = "".join(_escape_char(char) for char in value)
    # Java drops whitespace between the separator and the value; one escape keeps it.
    return "\\" + escaped if escaped[:1] == " " else escaped


def escape_key(key):
    escaped = "".join("\\" + char if char in _SEPARATORS + _WHITESPACE else _escape_char(char)
                      for char in key)
    return "\\" + escaped if escaped[:1] in ("#", "!") else escaped


def _escape_char(char):
    if char in _ESCAPED_CHARACTERS:
        return _ESCAPED_CHARACTERS[char]
    if char == '"':
        return '\\"'
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    if code > 0xFFFF:
        high, low = divmod(code - 0x10000, 0x400)
        return "\\u%04x\\u%04x" % (0xD800 + high, 0xDC00 + low)
    return "\\u%04x" % code
