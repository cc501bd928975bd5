"""The ``ini`` parser: sectioned ``key=value`` files such as ARK's GameUserSettings.ini
(wings-behaviour.md §8.4).

A line-based editor rather than a library. configparser and configupdater refuse keys
before the first section header, which Wings (go-ini) reads as the default section and
eggs address with a bare ``key``; configparser also drops comments. Wings itself re-renders
the whole file in go-ini's style (``key = value``, values holding ``#`` or ``;`` cut short or
quoted). Here every line a replacement does not touch is written back as it was.

Reading follows go-ini: ``;`` and ``#`` start comment lines, ``[name]`` opens a section
(a repeated header continues the same section), the first ``=`` or ``:`` splits key from
value, and the last line of a repeated key is the one in force. Unlike go-ini, section and
key names match without regard to case, as the games reading these files (Unreal, Windows'
profile API) compare them: an egg saying ``[/script/engine.gamesession]`` updates the
file's ``[/Script/Engine.GameSession]`` instead of adding a second section.

The match is split as Wings splits it: ``[`` and ``]`` are dropped while tracking depth,
and the first ``.`` outside brackets separates section from key (``server.port``,
``[a.b].c`` → section ``a.b``; ``a.b.c`` → section ``a``, key ``b.c``; ``foo`` → default
section). A replacement rewrites the value of every line of its key and keeps the key text
and separator; a missing key is added after the section's last key (with the separator
style of its neighbours), and a missing section is appended at the end. ``if_value`` is
honoured (Wings ignores it). Line breaks in a new value become spaces, so that a value can
never add lines of its own.
"""

from dataclasses import dataclass

from worker.configfiles import text as textio

_COMMENT_STARTS = (";", "#")
_DELIMITERS = "=:"
_DEFAULT_SECTION = ""


@dataclass
class _Line:
    raw: str
    section: str
    header: str = None  # the section name when this line is a header
    key: str = None
    value: str = None
    prefix: str = ""  # raw text before the value: indentation, key, delimiter
    ending: str = ""

    def set_value(self, value):
        self.raw = self.prefix + value + self.ending
        self.value = value

    @property
    def delimiter(self):
        """The delimiter with its surrounding spaces, e.g. ``" = "``."""
        return self.prefix[self.prefix.index(self.key) + len(self.key):]


def apply(content, replacements):
    """The edited bytes of ``content`` (None: the file does not exist yet)."""
    text, had_bom = textio.decode(content)
    newline = textio.newline_of(text)
    lines = parse(text)
    for rep in replacements:
        section, key = split_match(rep.match)
        entries = [line for line in lines if _same(line.section, section) and _same(line.key, key)]
        new = rep.new_text(entries[-1].value if entries else None)
        if new is None:
            continue
        new = " ".join(new.splitlines())
        for entry in entries:
            entry.set_value(new)
        if not entries:
            _add(lines, section, key, new, newline)
    return textio.encode("".join(line.raw for line in lines), had_bom)


def split_match(match):
    """``(section, key)`` for a match, split the way Wings splits it."""
    parts = [[]]
    depth = 0
    for char in match:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "." and depth <= 0 and len(parts) == 1:
            parts.append([])
        else:
            parts[-1].append(char)
    names = ["".join(part) for part in parts]
    return (_DEFAULT_SECTION, names[0]) if len(names) == 1 else tuple(names)


def parse(text):
    """Every line of an ini file, each knowing its section."""
    lines = []
    section = _DEFAULT_SECTION
    for raw in textio.split_lines(text):
        line = _parse_line(raw, section)
        section = line.section
        lines.append(line)
    return lines


def _parse_line(raw, section):
    body, ending = textio.split_ending(raw)
    stripped = body.strip()
    if stripped.startswith("[") and "]" in stripped:
        name = stripped[1:stripped.rindex("]")].strip()
        return _Line(raw, name, header=name)
    if not stripped or stripped.startswith(_COMMENT_STARTS):
        return _Line(raw, section)
    cut = min((body.find(d) for d in _DELIMITERS if d in body), default=-1)
    if cut < 0:
        return _Line(raw, section)
    value = body[cut + 1:]
    value_start = cut + 1 + len(value) - len(value.lstrip())
    return _Line(raw, section, key=body[:cut].strip(), value=body[value_start:].rstrip(),
                 prefix=body[:value_start], ending=ending)


def _add(lines, section, key, value, newline):
    if section != _DEFAULT_SECTION and not any(_same(line.header, section) for line in lines):
        _append_section(lines, section, newline)
    at = _insertion_point(lines, section)
    neighbours = [line for line in lines[:at] if _same(line.section, section) and line.key]
    delimiter = neighbours[-1].delimiter if neighbours else "="
    if at and not lines[at - 1].raw.endswith("\n"):
        lines[at - 1].raw += newline
    lines.insert(at, _Line(key + delimiter + value + newline, section, key=key, value=value,
                           prefix=key + delimiter, ending=newline))


def _same(name, other):
    return name is not None and name.casefold() == other.casefold()


def _append_section(lines, section, newline):
    if lines:
        if not lines[-1].raw.endswith("\n"):
            lines[-1].raw += newline
        if lines[-1].raw.strip():
            lines.append(_Line(newline, lines[-1].section))
    lines.append(_Line("[%s]%s" % (section, newline), section, header=section))


def _insertion_point(lines, section):
    """After the last key of the section's last block, or after its header; the default
    section's block is the top of the file."""
    start = 0
    if section != _DEFAULT_SECTION:
        start = max(i for i, line in enumerate(lines) if _same(line.header, section)) + 1
    at = start
    for index in range(start, len(lines)):
        if lines[index].header is not None:
            break
        if lines[index].key is not None:
            at = index + 1
    return at
