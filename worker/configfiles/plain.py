"""The ``file`` parser: whole lines replaced by prefix (wings-behaviour.md §8.4).

For each line, every replacement whose ``match`` starts the line contributes its text; when
at least one does, the line becomes the concatenation of those texts, otherwise it stays.
``if_value`` means nothing here. Every line written ends with a line break, and an empty
file stays empty: lines are never added.

Unlike Wings, a line keeps its own ending (Wings turns CRLF into LF) and a byte-order mark
does not hide the first line from its match.
"""

from worker.configfiles import text as textio


def apply(content, replacements):
    """The edited bytes of ``content`` (None: the file does not exist yet)."""
    text, had_bom = textio.decode(content)
    lines = textio.split_lines(text)
    return textio.encode("".join(_edited(line, replacements) for line in lines), had_bom)


def _edited(line, replacements):
    body, ending = textio.split_ending(line)
    texts = [rep.text for rep in replacements if body.startswith(rep.match)]
    if not ending.endswith("\n"):
        ending += "\n"
    return ("".join(texts) if texts else body) + ending
