"""A JSON Schema that checks values and fills in their declared defaults: what the bus
commands (``wingspan.commands``) and the HTTP routes (``api.declare``) both need of their
declarations.

The declarations are published as Draft 2020-12 (OpenAPI 3.1's dialect) and use only
keywords that mean the same in draft-07, which ``fastjsonschema`` compiles into a plain
Python function (tests/unit/wingspan/test_schema.py holds them to both). A worker checks
each request's arguments: walking a schema with ``jsonschema``'s validator touched, and so
copied from the zygote, about 0.6 MiB of each worker's memory; a compiled check touches a
few pages.
"""

import copy
import json

import fastjsonschema

# a schema's canonical JSON -> its compiled check: many declarations share a schema
_compiled = {}


class Problem:
    """Why a value breaks its schema: ``where`` (``/``-separated members, ``""`` for the
    value itself) and ``what`` is wrong there."""

    def __init__(self, where, what):
        self.where = where
        self.what = what

    def __str__(self):
        return "%s: %s" % (self.where or "value", self.what)


class Schema:
    """A declaration's schema, trusted to be a valid one (the unit tests check them all
    against the metaschema, so that no process does it at its start). Its check is compiled
    on first use; a process that forks others compiles theirs once with :meth:`compile`."""

    def __init__(self, schema):
        self.schema = schema
        self._check = None

    def compile(self):
        if self._check is None:
            self._check = _compiled_check(self.schema)
        return self._check

    def problem(self, value):
        """The first :class:`Problem` of ``value``, or None when it fits."""
        try:
            self.compile()(value)
        except fastjsonschema.JsonSchemaValueException as e:
            members = e.path[1:]  # e.path[0] names the value itself
            what = e.message[len(e.name):].strip() if e.message.startswith(e.name) \
                else e.message
            return Problem("/".join(str(m) for m in members), what)
        return None

    def with_defaults(self, value):
        """An object ``value`` with each absent property's ``default`` added (a copy, so
        that no caller shares, and can change, the declaration's own list or object)."""
        defaults = {name: copy.deepcopy(prop["default"])
                    for name, prop in self.schema.get("properties", {}).items()
                    if "default" in prop and name not in value}
        return dict(value, **defaults) if defaults else value


def _compiled_check(schema):
    key = json.dumps(schema, sort_keys=True)
    if key not in _compiled:
        _compiled[key] = fastjsonschema.compile(schema, use_default=False, use_formats=False)
    return _compiled[key]
