"""JSON text as Go's encoding/json reads and writes it, for Panels that expect Wings.

Go never hands on a lone UTF-16 surrogate: a ``\\ud800`` escape without its partner
decodes to U+FFFD, and a byte that is not UTF-8 is written as U+FFFD. Python keeps the
surrogate (from such an escape, or from a file name's undecodable byte), which UTF-8
cannot encode, the filesystem and the bus then refuse, and strict JSON parsers such as
PHP's reject with the whole document. Go also refuses ``NaN`` and ``Infinity``, which
Python's decoder accepts.
"""

import json
import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def text(value):
    """``value`` with every lone surrogate (one per undecodable byte of a file name)
    replaced by U+FFFD, as Go writes it."""
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def loads(raw):
    """Decode a JSON document (bytes or str) as Go does.

    Raises:
        ValueError: not JSON, not UTF-8, ``NaN``/``Infinity``, or nested too deeply.
    """
    try:
        return _scrub(json.loads(raw, parse_constant=_refuse_constant))
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e


def _refuse_constant(name):
    raise ValueError("%s is not JSON" % name)


def _scrub(value):
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {text(key): _scrub(item) for key, item in value.items()}
    return value
