"""Bytes to text and back for the editors, without losing a byte they do not change.

Game files are mostly UTF-8, sometimes with a byte-order mark (Windows tools write one) and
sometimes with stray bytes that are not UTF-8 at all. Decoding with ``surrogateescape``
and putting the mark back on the way out returns every untouched byte as it was.
"""

BOM = "\ufeff"


def decode(content):
    """``(text, had_bom)`` for file bytes; ``None`` (no file yet) reads as empty."""
    text = (content or b"").decode("utf-8", "surrogateescape")
    if text.startswith(BOM):
        return text[1:], True
    return text, False


def encode(text, had_bom=False):
    return ((BOM if had_bom else "") + text).encode("utf-8", "surrogateescape")


def newline_of(text):
    """The line ending the file already uses, for the lines an editor adds."""
    return "\r\n" if "\r\n" in text else "\n"


def split_lines(text):
    """The lines of ``text`` with their endings. Only LF ends a line (``str.splitlines``
    would also break at form feeds and other separators that are data in these files)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def split_ending(line):
    """``(body, ending)`` of one line from :func:`split_lines`."""
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def ensure_final_newline(text, newline):
    """``text`` ending with a line break, so that a line can be appended."""
    if text and not text.endswith("\n"):
        return text + newline
    return text
