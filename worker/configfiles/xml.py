"""The ``xml`` parser (wings-behaviour.md §8.4).

lxml is used rather than xml.etree: it keeps namespace prefixes as written (ElementTree
renames them ``ns0:``), comments, processing instructions and the doctype, and its find
paths are the same ElementPath subset as Wings' etree library (``*``, ``[@attr='v']``,
``[tag='text']``, ``[n]``).

* The match's dots become path steps; the first step is the root element, the others are
  looked up below it (``config.server.port`` → root ``config``, then ``server/port``).
  Names match whatever namespace the element is in, as in Wings.
* Without a ``*`` in the match, missing elements below the root are created first; a step
  such as ``Server[@name='a']`` creates ``<Server name="a">`` (Wings creates an element
  literally named after the step). Nothing is created when the root does not match
  (Wings still creates the children there).
* Every element found gets the value as text, or, when the value reads ``[name='value']``,
  the attribute ``name="value"``. ``if_value`` is honoured against the element text or the
  attribute (Wings ignores it).
* A file without a root element gets ``<?xml version="1.0" encoding="utf-8"?>`` and a root
  named after the first replacement's first step.
* Output is re-indented with two spaces, as Wings does. The XML declaration is kept as
  written; an internal DTD subset is not kept.

Entity declarations are refused outright: they are how billion-laughs and external-entity
attacks are built, and no game configuration needs one. The parser never touches the
network and never loads a DTD.
"""

import dataclasses
import io
import logging
import re

from lxml import etree

from wingspan import errors

log = logging.getLogger(__name__)

NEW_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
_DECLARATION = re.compile(rb"\s*(<\?xml\s.*?\?>)", re.DOTALL)
_UTF8_BOM = b"\xef\xbb\xbf"
_ATTRIBUTE_VALUE = re.compile(r"\[(\w+)='(.*)'\]", re.ASCII)
# a step: ``*`` or a name, optionally prefixed, then optional predicates
_STEP = re.compile(r"(\*|(?:[A-Za-z_][\w-]*:)?[A-Za-z_][\w-]*)((?:\[.*\])?)")
_CREATABLE_STEP = re.compile(r"((?:[A-Za-z_][\w-]*:)?[A-Za-z_][\w-]*)((?:\[@[\w-]+='[^']*'\])*)")
_ATTRIBUTE_TEST = re.compile(r"\[@([\w-]+)='([^']*)'\]")


def apply(content, replacements):
    """The edited bytes of ``content`` (None: the file does not exist yet)."""
    raw = content or b""
    bom = _UTF8_BOM if raw.startswith(_UTF8_BOM) else b""
    tree = _parse(raw[len(bom):]) if raw[len(bom):].strip() else None
    declaration = _declaration_of(raw[len(bom):])
    if tree is None and replacements:
        tree = _new_document(replacements[0].match)
        declaration = NEW_DECLARATION
    if tree is None:
        return raw
    try:
        for rep in replacements:
            _apply_one(tree.getroot(), rep)
    except ValueError as e:  # lxml refuses names and text that XML cannot hold
        raise errors.ConfigFileUnparsable(detail="xml: %s" % e) from e
    etree.indent(tree, space="  ")
    return bom + _serialised(tree, declaration)


def _parse(raw):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    try:
        tree = etree.parse(io.BytesIO(raw), parser)
    except etree.XMLSyntaxError as e:
        raise errors.ConfigFileUnparsable(detail="invalid XML: %s" % e) from e
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise errors.ConfigFileUnparsable(detail="XML entity declarations are refused")
    return tree


def _new_document(match):
    try:
        return etree.ElementTree(etree.Element(match.split(".", 1)[0]))
    except ValueError as e:
        raise errors.ConfigFileUnparsable(detail="xml: no root element can be named "
                                                 "after %r: %s" % (match, e)) from e


def _declaration_of(raw):
    found = _DECLARATION.match(raw)
    return found.group(1) if found else None


def _apply_one(root, rep):
    first, _, rest = rep.match.partition(".")
    steps = rest.split(".") if rest else []
    if not _is_root(root, first):
        log.info("xml: %r does not start at the root element <%s>", rep.match, root.tag)
        return
    try:
        if "*" not in rep.match:
            _create_missing(root, steps)
        found = root.findall("/".join(_any_namespace(s) for s in steps),
                             _prefixes(root)) if steps else [root]
    except (SyntaxError, KeyError) as e:
        log.warning("xml: %r is not a path this parser understands (%s); skipped", rep.match, e)
        return
    for element in found:
        _set_value(element, rep)


def _is_root(root, step):
    parsed = _STEP.fullmatch(step)
    if not parsed:
        return False
    name, predicate = parsed.groups()
    if name != "*" and name not in (etree.QName(root).localname, _prefixed_name(root)):
        return False
    try:
        return not predicate or bool(root.xpath("self::*" + predicate))
    except etree.XPathError:
        return False


def _create_missing(root, steps):
    element = root
    for step in steps:
        found = element.find(_any_namespace(step), _prefixes(root))
        if found is None:
            found = _created(element, step)
            if found is None:
                return
        element = found


def _created(parent, step):
    creatable = _CREATABLE_STEP.fullmatch(step)
    if not creatable:
        return None
    name, tests = creatable.groups()
    tag = _qualified(parent, name)
    if tag is None:
        return None
    return etree.SubElement(parent, tag, dict(_ATTRIBUTE_TEST.findall(tests)))


def _qualified(parent, name):
    """The Clark name for a new child: its own prefix's namespace, else the parent's
    default namespace; None for an unknown prefix."""
    prefix, _, local = name.rpartition(":")
    if prefix:
        uri = parent.nsmap.get(prefix)
        return None if uri is None else "{%s}%s" % (uri, local)
    default = parent.nsmap.get(None)
    return "{%s}%s" % (default, name) if default else name


def _set_value(element, rep):
    attribute = _ATTRIBUTE_VALUE.fullmatch(rep.text)
    if attribute:
        name, value = attribute.groups()
        new = dataclasses.replace(rep, value=value).new_text(element.get(name))
        if new is not None:
            element.set(name, new)
        return
    new = rep.new_text(element.text or "")
    if new is not None:
        element.text = new


def _any_namespace(step):
    """A step whose plain name matches in any namespace (``{*}name``)."""
    parsed = _STEP.fullmatch(step)
    plain = parsed and parsed.group(1) != "*" and ":" not in parsed.group(1)
    return "{*}" + step if plain else step


def _prefixes(root):
    return {prefix: uri for prefix, uri in root.nsmap.items() if prefix}


def _prefixed_name(element):
    return "%s:%s" % (element.prefix, etree.QName(element).localname) if element.prefix else None


def _serialised(tree, declaration):
    encoding = tree.docinfo.encoding or "utf-8"
    if "<".encode(encoding, "replace") != b"<":
        # a UTF-16 or UTF-32 file is written back as UTF-8, saying so
        encoding, declaration = "utf-8", NEW_DECLARATION
    root = tree.getroot()
    parts = [declaration] if declaration else []
    if tree.docinfo.doctype:
        parts.append(tree.docinfo.doctype.encode(encoding))
    parts.extend(etree.tostring(node, encoding=encoding, with_tail=False)
                 for node in reversed(list(root.itersiblings(preceding=True))))
    parts.append(etree.tostring(root, encoding=encoding, xml_declaration=False))
    parts.extend(etree.tostring(node, encoding=encoding, with_tail=False)
                 for node in root.itersiblings())
    return b"\n".join(parts) + b"\n"
