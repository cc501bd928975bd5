"""Every declared schema is a valid Draft 2020-12 schema (``wingspan.schema.Schema`` trusts
them, so that no process checks them at its start) that means the same in draft-07, the
dialect it is compiled in, and a Schema checks and fills in."""

import jsonschema
import pytest

import api.routes  # noqa: F401  (declares every route)
from api import declare
from wingspan import commands
from wingspan.schema import Schema

VALIDATOR = jsonschema.Draft202012Validator
# The keywords that mean the same in Draft 2020-12 and draft-07 (``items`` only as one
# schema for every item: an array of schemas is draft-07's tuple form, 2020-12's
# ``prefixItems``). "description" and "default" are annotations.
SHARED_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "enum",
                   "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
                   "pattern", "anyOf", "oneOf", "allOf", "not", "const", "description",
                   "default"}
SUBSCHEMA_KEYWORDS = ("items", "additionalProperties", "not")
SUBSCHEMA_LIST_KEYWORDS = ("anyOf", "oneOf", "allOf")

COMMAND_SCHEMAS = [pytest.param(schema, id="%s %s" % (command.name, part))
                   for command in commands.ALL.values()
                   for part, schema in (("args", command.args_schema),
                                        ("reply", command.reply_schema))]
ROUTE_BODIES = [pytest.param(endpoint.body, id="%s %s" % (endpoint.method, endpoint.path))
                for endpoint in declare.ALL if isinstance(endpoint.body, dict)]


@pytest.mark.parametrize("schema", COMMAND_SCHEMAS)
def test_every_bus_command_schema_is_valid(schema):
    VALIDATOR.check_schema(schema)


@pytest.mark.parametrize("schema", ROUTE_BODIES)
def test_every_route_body_schema_is_valid(schema):
    VALIDATOR.check_schema(schema)


def keywords_outside_the_shared_set(schema):
    if not isinstance(schema, dict):
        return set()
    found = set(schema) - SHARED_KEYWORDS
    if isinstance(schema.get("items"), list):
        found.add("items (tuple form)")
    subschemas = list(schema.get("properties", {}).values())
    subschemas += [schema[k] for k in SUBSCHEMA_KEYWORDS if k in schema]
    subschemas += [s for k in SUBSCHEMA_LIST_KEYWORDS for s in schema.get(k, [])]
    for subschema in subschemas:
        found |= keywords_outside_the_shared_set(subschema)
    return found


@pytest.mark.parametrize("schema", COMMAND_SCHEMAS + ROUTE_BODIES)
def test_every_schema_means_the_same_in_both_dialects(schema):
    assert keywords_outside_the_shared_set(schema) == set()


def test_a_keyword_of_one_dialect_only_is_what_the_check_catches():
    assert keywords_outside_the_shared_set(commands.obj(
        pair={"type": "array", "prefixItems": [commands.STRING]},
        old={"items": [commands.STRING]})) == {"prefixItems", "items (tuple form)"}


def test_the_declarations_are_all_there():
    """The two checks above see every command and route (not an empty list by mistake)."""
    assert len(COMMAND_SCHEMAS) >= 70 and len(ROUTE_BODIES) >= 15


def test_an_invalid_schema_is_what_the_check_catches():
    with pytest.raises(jsonschema.SchemaError):
        VALIDATOR.check_schema(commands.obj(size={"type": "integer", "minimum": "zero"}))


def test_a_schema_names_the_problem_and_fills_in_defaults():
    schema = Schema(commands.obj(("name",), name=commands.STRING,
                                 lines=dict(commands.COUNT, default=0)))
    assert schema.problem({"name": "x"}) is None
    missing = schema.problem({})
    assert (missing.where, missing.what) == ("", "must contain ['name'] properties")
    wrong = schema.problem({"name": "x", "lines": -1})
    assert (wrong.where, wrong.what) == ("lines", "must be bigger than or equal to 0")
    assert str(wrong) == "lines: must be bigger than or equal to 0"
    assert schema.with_defaults({"name": "x"}) == {"name": "x", "lines": 0}


@pytest.mark.parametrize("value", [{"names": ["a", 1]}, {"names": "a"}, {"other": 1}, [], None,
                                   {"count": True}, {"count": 1.5}])
def test_a_schema_refuses_what_the_reference_validator_refuses(value):
    declared = commands.obj(names=commands.STRINGS, count=commands.COUNT)
    assert not VALIDATOR(declared).is_valid(value)
    assert Schema(declared).problem(value) is not None


@pytest.mark.parametrize("value", [{}, {"names": []}, {"count": 0}, {"count": 2.0}])
def test_a_schema_accepts_what_the_reference_validator_accepts(value):
    declared = commands.obj(names=commands.STRINGS, count=commands.COUNT)
    assert VALIDATOR(declared).is_valid(value)
    assert Schema(declared).problem(value) is None
