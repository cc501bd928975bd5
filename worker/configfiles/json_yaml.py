"""The ``json`` and ``yaml`` parsers and the key-path semantics they share
(wings-behaviour.md §8.4, §8.5).

Paths (Wings uses the gabs library; the same rules here):

* ``a.b.c`` sets nested keys, creating missing objects; ``~1`` in a segment is a literal
  dot and ``~0`` a tilde. A numeric segment indexes an existing array. An index out of range,
  a non-numeric segment on an array, or a scalar in the way aborts the whole file.
* ``list[3]`` and ``list[3].field``: index into an existing array (out of range aborts the
  file); when the path is missing or not an array, index 0 makes a new array (``[{}]``
  when a field follows, else ``[null]``) and any other index is skipped.
* ``a.*.b``: for every child of ``a`` (array elements or object values), set ``b`` in it;
  only the first ``.*`` counts. Nothing happens when ``a`` is missing; a scalar child aborts
  the file. ``a.*`` alone replaces every child (as Pelican does; Wings does nothing).
* ``if_value`` compares with the key's own current value (Wings compares the whole
  container, so its conditions practically never hold; §8.5 gives the intended rule).

Types (§8.3): a boolean, number or null ``replace_with`` keeps its type. Text that came from
a string becomes an integer when it is a base-10 integer, as in Wings, except that the type
already in the file wins, as in Pelican: over an existing string it stays a string, over an
existing boolean ``true``/``false`` stays boolean, over an existing number a decimal number
stays a number.

Output. JSON keeps the key order of the file (Wings sorts keys) and is written with a
4-space indent. YAML is edited with ruamel.yaml's round-trip mode, which keeps comments,
key order, quoting and anchors (Wings loses all of them, sorts keys and turns integers into
floats); the file's own indentation is kept. An empty or missing file is an empty object
for both (Wings refuses an empty JSON file). YAML aliases are counted before the document is
built: a file whose aliases would expand it out of proportion (a "billion laughs") is
refused, as are recursive aliases.
"""

import io
import json
import logging
import re
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent
from ruamel.yaml.scalarbool import ScalarBoolean

from wingspan import errors, gojson
from worker.configfiles import text as textio
from worker.configfiles.placeholders import json_text

log = logging.getLogger(__name__)

WILDCARD = ".*"
_ARRAY_INDEX = re.compile(r"^([^\[\]]+)\[(\d+)](\..+)?$", re.ASCII)
_BASE10 = re.compile(r"[+-]?\d+", re.ASCII)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_INT64 = range(-2 ** 63, 2 ** 63)

# ruamel.yaml's scanner slows down with the square of flow nesting ("[[[[..."): 8 000
# levels take a minute; 512 take a few hundredths of a second.
_MAX_FLOW_DEPTH = 512

# YAML nodes an alias may add on top of those written: a fixed allowance plus a multiple.
_ALIAS_ALLOWANCE = 100_000
_ALIAS_FACTOR = 10

_MISSING = object()


@dataclass(frozen=True)
class _Containers:
    """The container types new objects and arrays are made of."""

    new_map: type
    new_list: type


_JSON = _Containers(dict, list)
_YAML = _Containers(CommentedMap, CommentedSeq)


def apply_json(content, replacements):
    """The edited bytes of a JSON file (None: the file does not exist yet)."""
    text, had_bom = textio.decode(content)
    try:
        root = gojson.loads(text) if text.strip() else {}
        apply_replacements(root, replacements, _JSON)
        written = json.dumps(root, indent=4, ensure_ascii=False)
    except (ValueError, RecursionError) as e:
        raise _unparsable("invalid JSON: %s" % e) from e
    return textio.encode(written + "\n", had_bom)


def apply_yaml(content, replacements):
    """The edited bytes of a YAML file (None: the file does not exist yet)."""
    text, had_bom = textio.decode(content)
    yaml = _round_trip_yaml(text)
    try:
        check_flow_depth(text)
        check_aliases(yaml, text)
        root = yaml.load(text) if text.strip() else None
        root = CommentedMap() if root is None else root
        if not isinstance(root, dict):
            raise _unparsable("the YAML document is not a mapping")
        apply_replacements(root, replacements, _YAML)
        out = io.StringIO()
        yaml.dump(root, out)
    except (YAMLError, RecursionError) as e:
        raise _unparsable("invalid YAML: %s" % e) from e
    return textio.encode(out.getvalue(), had_bom)


def apply_replacements(root, replacements, containers):
    """Apply every replacement to the decoded document ``root``, in order."""
    for rep in replacements:
        if WILDCARD in rep.match:
            _set_each_child(root, rep, containers)
        else:
            _set_path(root, rep.match, rep, containers)


def _set_each_child(root, rep, containers):
    base, rest = rep.match.split(WILDCARD, 1)
    base, rest = base.strip("."), rest.strip(".")
    parent = _get(root, segments(base)) if base else root
    if not isinstance(parent, (dict, list)):
        return
    for key in (list(parent) if isinstance(parent, dict) else range(len(parent))):
        if not rest:
            _assign(parent, key, rep)
        elif isinstance(parent[key], (dict, list)):
            _set_path(parent[key], rest, rep, containers)
        else:
            raise _unparsable("%r: a child of %r is not an object or array" % (rep.match, base))


def _set_path(node, path, rep, containers):
    indexed = _ARRAY_INDEX.match(path)
    if indexed:
        _set_indexed(node, indexed, rep, containers)
    else:
        _set_segments(node, segments(path), rep, containers)


def _set_indexed(node, indexed, rep, containers):
    base, index, rest = segments(indexed.group(1)), int(indexed.group(2)), indexed.group(3)
    array = _get(node, base)
    if not isinstance(array, list):
        if index or rep.if_value:
            return  # nothing to index, and a condition on a missing key never holds
        array = containers.new_list([containers.new_map() if rest else None])
        holder = _holder_of(node, base, rep, containers)
        holder[_key_in(holder, base[-1], rep)] = array
    if index >= len(array):
        raise _unparsable("%r: index %d is out of range" % (rep.match, index))
    if not rest:
        _assign(array, str(index), rep)
        return
    if array[index] is None:
        array[index] = containers.new_map()
    _set_segments(array[index], segments(rest[1:]), rep, containers)


def _set_segments(node, path, rep, containers):
    holder = _holder_of(node, path, rep, containers)
    if holder is not _MISSING:
        _assign(holder, path[-1], rep)


def _holder_of(node, path, rep, containers):
    """The container that holds the last key of ``path``, missing objects on the way
    created, unless the replacement is conditional: a condition on a missing key never
    holds, and must leave no trace."""
    for name in path[:-1]:
        key = _key_in(node, name, rep)
        child = node.get(key) if isinstance(node, dict) else node[key]
        if child is None:
            if rep.if_value:
                return _MISSING
            child = node[key] = containers.new_map()
        if not isinstance(child, (dict, list)):
            raise _unparsable("%r: %r holds a value, not an object" % (rep.match, name))
        node = child
    return node


def _assign(node, name, rep):
    key = _key_in(node, name, rep)
    exists = key in node if isinstance(node, dict) else True
    current = node[key] if exists else None
    new = rep.new_text(text_of(current) if exists else None)
    if new is not None:
        node[key] = typed_value(rep, new, current, exists)


def _key_in(node, name, rep):
    if isinstance(node, dict):
        return name
    if not isinstance(node, list):
        raise _unparsable("%r: %r is below a value, not an object" % (rep.match, name))
    if not name.isdigit():
        raise _unparsable("%r: %r is not an index into an array" % (rep.match, name))
    if int(name) >= len(node):
        raise _unparsable("%r: index %s is out of range" % (rep.match, name))
    return int(name)


def _get(node, path):
    for name in path:
        if isinstance(node, dict) and name in node:
            node = node[name]
        elif isinstance(node, list) and name.isdigit() and int(name) < len(node):
            node = node[int(name)]
        else:
            return _MISSING
    return node


def segments(path):
    """A dotted path split into keys, gabs escapes (``~1``, ``~0``) decoded."""
    return [part.replace("~1", ".").replace("~0", "~") for part in path.split(".")]


def text_of(value):
    """A current value as text, for ``if_value``: strings as they are, the rest as JSON."""
    if isinstance(value, (bool, ScalarBoolean)):
        return "true" if value else "false"
    return json_text(value)


def typed_value(rep, text, current, exists):
    """The value to store for ``text`` (see the module docstring)."""
    if not isinstance(rep.value, str) and text == rep.text:
        return rep.value
    if exists and isinstance(current, (bool, ScalarBoolean)) and text in ("true", "false"):
        return text == "true"
    if exists and isinstance(current, str):
        # a quoted or block scalar keeps its YAML style
        return type(current)(text)
    if _BASE10.fullmatch(text) and int(text) in _INT64:
        return int(text)
    if exists and isinstance(current, (int, float)) and _JSON_NUMBER.fullmatch(text):
        return float(text)
    return text


def check_flow_depth(text):
    """Refuse YAML nested deeper than ``_MAX_FLOW_DEPTH`` brackets. Brackets inside quoted
    strings count too: a real configuration is nowhere near the limit either way."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    if deepest > _MAX_FLOW_DEPTH:
        raise _unparsable("YAML nested %d levels deep" % deepest)


def check_aliases(yaml, text):
    """Refuse YAML whose aliases expand it far beyond its written size, or that refers to an
    anchor still open (a recursive document), before any node is built."""
    expansion = _Expansion()
    for event in yaml.parse(text):
        expansion.feed(event)


class _Expansion:
    """Counts, from parser events, the nodes a YAML document stands for once every alias
    is replaced by what its anchor holds."""

    def __init__(self):
        self.sizes = {}  # anchor -> nodes below and including it
        self.open = []  # [nodes so far, anchor] for each collection not yet closed
        self.written = 0
        self.expanded = 0

    def feed(self, event):
        if isinstance(event, CollectionStartEvent):
            self.open.append([1, event.anchor])
            self._count(1)
        elif isinstance(event, CollectionEndEvent):
            size, anchor = self.open.pop()
            self._record(anchor, size)
            self._grow_parent(size)
        elif isinstance(event, AliasEvent):
            if event.anchor not in self.sizes:
                raise _unparsable("alias *%s is recursive or undefined" % event.anchor)
            self._count(self.sizes[event.anchor])
            self._grow_parent(self.sizes[event.anchor])
        elif isinstance(event, ScalarEvent):
            self._record(event.anchor, 1)
            self._count(1)
            self._grow_parent(1)

    def _count(self, nodes):
        self.written += 1
        self.expanded += nodes
        if self.expanded > _ALIAS_ALLOWANCE + _ALIAS_FACTOR * self.written:
            raise _unparsable("aliases expand the document beyond %d nodes" % self.expanded)

    def _record(self, anchor, size):
        if anchor:
            self.sizes[anchor] = size

    def _grow_parent(self, size):
        if self.open:
            self.open[-1][0] += size


def _round_trip_yaml(text):
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 30  # never fold long values such as a MOTD
    mapping, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def guess_indent(text):
    """``(mapping indent, dash offset)`` used by the file, defaulting to ``(2, 0)``: nested
    keys two spaces in, list dashes under their parent key, as Bukkit and BungeeCord
    write them."""
    mapping = offset = None
    parent = None  # indentation of the previous line when it is a key opening a block
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        is_item = stripped.startswith("- ")
        if parent is not None and is_item and offset is None and indent >= parent:
            offset = indent - parent
        elif parent is not None and not is_item and mapping is None and indent > parent:
            mapping = indent - parent
        parent = indent if stripped.endswith(":") and not is_item else None
    return mapping or 2, offset or 0


def _unparsable(detail):
    return errors.ConfigFileUnparsable(detail=detail)
