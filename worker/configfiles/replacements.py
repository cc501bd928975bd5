"""One egg replacement: what the Panel sends, and when and to what it rewrites a value
(wings-behaviour.md §8.1, §8.3, §8.5; wings-api.md §13.2).

A replacement is ``{"match", "if_value"?, "replace_with"}``; eggs written before Wings
existed say ``value`` instead of ``replace_with``. ``replace_with`` keeps its JSON type; its
text form is what text formats write: strings with their placeholders resolved, numbers as
their literal, ``true``/``false``, and ``null`` as the empty string (Wings writes ``<nil>``).

``if_value`` is honoured as upstream intends rather than as its code behaves (§8.5):

* ``if_value`` set: replace only if the key exists and its current text equals it;
* ``regex:<re>``: replace only if the key exists and its current text matches; the new value
  is the current text with every match replaced by ``replace_with``, where ``$1``, ``${1}``
  and ``${name}`` refer to groups as in Go's ``Regexp.ReplaceAllString``.

Malformed entries are dropped one by one with a warning (Wings drops the whole list).
"""

import logging
import re
from dataclasses import dataclass

from worker.configfiles.placeholders import json_text

log = logging.getLogger(__name__)

REGEX_PREFIX = "regex:"

# Go's template syntax: $$, ${name} or $name where name is letters, digits, underscores.
_GO_TEMPLATE = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))", re.ASCII)


@dataclass(frozen=True)
class Replacement:
    """Args:
        match: the key path, line prefix or element path.
        if_value: the condition ("" when there is none).
        value: ``replace_with`` as decoded JSON, placeholders resolved in strings.
    """

    match: str
    if_value: str
    value: object

    @property
    def text(self):
        """``replace_with`` as text."""
        return "" if self.value is None else json_text(self.value)

    def new_text(self, current):
        """The text to write over ``current`` (None when the key is missing), or None when
        the condition says this replacement does not apply."""
        if not self.if_value:
            return self.text
        if current is None:
            return None
        if self.if_value.startswith(REGEX_PREFIX):
            return self._regex_replaced(current)
        return self.text if current == self.if_value else None

    def _regex_replaced(self, current):
        pattern = self.if_value[len(REGEX_PREFIX):]
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            log.warning("if_value %r is not a valid regular expression (%s); "
                        "replacement for %r skipped", pattern, e, self.match)
            return None
        if not compiled.search(current):
            return None
        return compiled.sub(lambda found: expand_go_template(found, self.text), current)


def parse_replacements(raw, context):
    """The Panel's ``replace`` list as :class:`Replacement` objects, placeholders in string
    values resolved against ``context`` (a ``PlaceholderContext``)."""
    if not isinstance(raw, list):
        if raw is not None:
            log.warning("replace is not a list (%s); no replacement applied", type(raw).__name__)
        return []
    parsed = []
    for entry in raw:
        replacement = _parse_one(entry, context)
        if replacement is None:
            log.warning("malformed replacement %r dropped", entry)
        else:
            parsed.append(replacement)
    return parsed


def _parse_one(entry, context):
    if not isinstance(entry, dict) or not isinstance(entry.get("match"), str) or not entry["match"]:
        return None
    if "replace_with" in entry:
        value = entry["replace_with"]
    elif "value" in entry:
        value = entry["value"]
    else:
        return None
    if isinstance(value, (dict, list)):
        return None
    if isinstance(value, str):
        value = context.resolve(value)
    if_value = entry.get("if_value")
    return Replacement(entry["match"], "" if if_value is None else json_text(if_value), value)


def expand_go_template(found, template):
    """``template`` with Go-style group references filled from the match ``found``."""
    def group_text(reference):
        if reference.group(1):
            return "$"
        name = reference.group(2) or reference.group(3)
        try:
            return found.group(int(name) if name.isdigit() else name) or ""
        except IndexError:  # a group the pattern does not have is empty, as in Go
            return ""
    return _GO_TEMPLATE.sub(group_text, template)
