"""A JSON Schema (Draft 2020-12, OpenAPI 3.1's dialect) that checks values and fills in
their declared defaults: what the bus commands (``wingspan.commands``) and the HTTP routes
(``api.declare``) both need of their declarations."""

import copy

import jsonschema

VALIDATOR = jsonschema.Draft202012Validator


class Schema:
    """A declaration's schema, trusted to be a valid one: checking every declaration against
    the metaschema took a quarter of a second of each process's start, so the unit tests
    do it instead (tests/unit/wingspan/test_schema.py)."""

    def __init__(self, schema):
        self.schema = schema
        self._validator = VALIDATOR(schema)

    def problem(self, value):
        """The most relevant ``jsonschema`` error of ``value``, or None when it fits."""
        return jsonschema.exceptions.best_match(self._validator.iter_errors(value))

    def problems(self, value):
        return [e.message for e in self._validator.iter_errors(value)]

    def with_defaults(self, value):
        """An object ``value`` with each absent property's ``default`` added (a copy, so
        that no caller shares, and can change, the declaration's own list or object)."""
        defaults = {name: copy.deepcopy(prop["default"])
                    for name, prop in self.schema.get("properties", {}).items()
                    if "default" in prop and name not in value}
        return dict(value, **defaults) if defaults else value
