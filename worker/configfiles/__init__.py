"""Egg configuration-file editing: the rewrites applied to a server's files before every
start (wings-behaviour.md §8, wings-api.md §13.2, panel-contract.md §2.3).

Pure transforms: bytes in, bytes out. Opening, creating and writing the files is the
caller's job, and must go through the server's filesystem jail (``wingspan.filesystem``):
the paths come from the Panel and are relative to the server root, never to be joined by
hand. The caller:

1. turns ``process_configuration.configs`` into a plan with :func:`plan_files`;
2. for each planned file, in order, reads it through the jail (``None`` when it does not
   exist), calls :func:`apply_config_file`, and writes the result back through the jail,
   creating the file (mode 0644, missing parents 0755) when it did not exist, even for a
   parser it does not know (§8.2);
3. applies entries naming the same file one after the other, each on the previous result
   (Wings runs them in parallel and they race);
4. logs :class:`wingspan.errors.ConfigFileUnparsable` and
   :class:`wingspan.errors.FileTooLarge`, leaves that file as it is, and goes on booting.

Paths are literal: neither Wings nor the Panel gives ``config.files`` any wildcard, so a
``*`` in a file name is just a character and there is no pattern to match against a
directory listing.
"""

import logging
from typing import NamedTuple

from wingspan import errors
from worker.configfiles import ini, json_yaml, plain, properties, xml
from worker.configfiles.placeholders import PlaceholderContext
from worker.configfiles.replacements import parse_replacements

log = logging.getLogger(__name__)

__all__ = ["MAX_BYTES", "PARSERS", "PlaceholderContext", "PlannedFile", "apply_config_file",
           "plan_files"]

# Wings' (and Pelican's) cap since CVE-2026-52857: files above it are not parsed at all.
MAX_BYTES = 64 * 1024 * 1024

PARSERS = {
    "file": plain.apply,
    "properties": properties.apply,
    "ini": ini.apply,
    "json": json_yaml.apply_json,
    "yaml": json_yaml.apply_yaml,
    "yml": json_yaml.apply_yaml,
    "xml": xml.apply,
}


class PlannedFile(NamedTuple):
    """One entry of ``process_configuration.configs``, checked.

    ``path`` is relative to the server root and must be opened through the jail;
    ``replacements`` is the Panel's ``replace`` list as sent, for :func:`apply_config_file`.
    """

    path: str
    parser: str
    replacements: list


def plan_files(configs):
    """The files to edit before a start, in the Panel's order, from
    ``process_configuration.configs``. Touches nothing on disk.

    Entries without a usable ``file`` are dropped with a warning (Wings would reject the
    whole configuration). A ``replace`` that is not a list becomes an empty list, as in
    Wings: the file is still created. Parser names are matched without regard to case.
    """
    planned = []
    for entry in configs or []:
        path = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not path.strip():
            log.warning("configuration file entry without a file name dropped: %r", entry)
            continue
        replace = entry.get("replace")
        if not isinstance(replace, list):
            log.warning("replace for %s is not a list; the file gets no replacement", path)
            replace = []
        parser = entry.get("parser")
        planned.append(PlannedFile(path, parser.lower() if isinstance(parser, str) else "",
                                   replace))
    return planned


def apply_config_file(parser, content, replacements, context, max_bytes=MAX_BYTES):
    """The new bytes of one configuration file.

    Args:
        parser: ``file``, ``properties``, ``ini``, ``json``, ``yaml``/``yml`` or ``xml``;
            any other name leaves the content as it is (an absent file comes back empty).
        content: the file's bytes, or None when it does not exist yet.
        replacements: the Panel's ``replace`` list (``match``, ``if_value``,
            ``replace_with`` or legacy ``value``).
        context: a :class:`PlaceholderContext`.
        max_bytes: larger files are refused before they are parsed (CVE-2026-52857).

    Raises:
        wingspan.errors.FileTooLarge: ``content`` is larger than ``max_bytes``.
        wingspan.errors.ConfigFileUnparsable: the file is not valid for its parser, holds
            an XML entity or YAML alias bomb, or a path collides with a value (§8.5).
    """
    if content is not None and len(content) > max_bytes:
        raise errors.FileTooLarge(detail="configuration file of %d bytes is over the limit "
                                         "of %d" % (len(content), max_bytes))
    edit = PARSERS.get(parser)
    if edit is None:
        log.info("unknown configuration parser %r: file left as it is", parser)
        return content or b""
    return edit(content, parse_replacements(replacements, context))
