"""Every declared schema is a valid Draft 2020-12 schema (``wingspan.schema.Schema`` trusts
them, so that no process checks them at its start), and a Schema checks and fills in."""

import jsonschema
import pytest

import api.routes  # noqa: F401  (declares every route)
from api import declare
from wingspan import commands
from wingspan.schema import VALIDATOR, Schema

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
    assert "'name' is a required property" in schema.problem({}).message
    assert schema.with_defaults({"name": "x"}) == {"name": "x", "lines": 0}
