"""The ``json`` parser and the path semantics it shares with ``yaml``: wings-behaviour.md
§8.3, §8.4 and §8.5 (Vintage Story's serverconfig.json)."""

import json

import pytest

from wingspan import errors
from worker.configfiles import apply_config_file

from .support import sample

VINTAGE_STORY = [
    {"match": "Port", "replace_with": "{{server.build.default.port}}"},
    {"match": "Ip", "replace_with": "{{server.build.default.ip}}"},
    {"match": "MaxClients", "replace_with": "{{server.build.env.P_SERVER_ALLOCATION_LIMIT}}"},
    {"match": "WorldConfig.WorldName", "replace_with": "{{env.MINECRAFT_VERSION}}"},
]


def edited(edit, document, replacements):
    return json.loads(edit("json", json.dumps(document), replacements))


def test_vintage_story_egg(edit):
    """§8.4: values set, key order kept (Wings sorts keys), 4-space indent."""
    after = edit("json", sample("serverconfig.json"), VINTAGE_STORY)
    document = json.loads(after)
    assert document["Port"] == 25565
    assert document["Ip"] == "0.0.0.0"
    assert document["MaxClients"] == 0
    assert document["WorldConfig"]["WorldName"] == "latest"
    assert list(document) == list(json.loads(sample("serverconfig.json")))
    assert after.startswith('{\n    "FileEditWarning": "PLEASE NOTE')
    assert '\n        "WorldName": "latest",\n' in after
    assert after.endswith("}\n")


def test_unchanged_values_keep_their_type(edit):
    document = json.loads(edit("json", sample("serverconfig.json"), VINTAGE_STORY))
    assert document["TickTime"] == 33.333332
    assert document["Password"] is None
    assert document["Upnp"] is False


# -- typing (§8.3) --------------------------------------------------------------------------

@pytest.mark.parametrize("replace_with, expected", [
    ("25565", 25565), ("-3", -3), ("+7", 7), ("0.0.0.0", "0.0.0.0"), ("1.5", "1.5"),
    ("true", "true"), ("99999999999999999999", "99999999999999999999"),
    (True, True), (False, False), (42, 42), (1.5, 1.5), (None, None),
])
def test_new_keys_are_typed_as_wings_types_them(edit, replace_with, expected):
    """§8.3: a JSON boolean stays boolean; text that is a base-10 integer becomes a number
    (``"25565"`` is written as a number); anything else is a string. Numbers and null sent
    as such keep their type."""
    assert edited(edit, {}, [{"match": "k", "replace_with": replace_with}]) == {"k": expected}


@pytest.mark.parametrize("current, replace_with, expected", [
    ("old", "123", "123"),          # a string stays a string
    (True, "false", False),         # a boolean stays a boolean
    (False, "yes", "yes"),
    (1.5, "2.25", 2.25),            # a number stays a number
    (7, "8", 8),
    (None, "8", 8),
])
def test_the_type_in_the_file_wins(edit, current, replace_with, expected):
    """Hardened as in Pelican: a value the Panel sent as text keeps the file's type."""
    assert edited(edit, {"k": current}, [{"match": "k", "replace_with": replace_with}]) == \
        {"k": expected}


# -- paths (§8.5) ---------------------------------------------------------------------------

def test_dot_path_creates_missing_objects(edit):
    assert edited(edit, {"a": {"x": 1}}, [{"match": "a.b.c", "replace_with": "v"}]) == \
        {"a": {"x": 1, "b": {"c": "v"}}}


def test_escaped_dot_and_tilde(edit):
    """§8.5: ``~1`` is a literal dot, ``~0`` a tilde."""
    assert edited(edit, {}, [{"match": "motd~1text.a~0b", "replace_with": "v"}]) == \
        {"motd.text": {"a~b": "v"}}


def test_numeric_segment_indexes_an_array(edit):
    document = edited(edit, json.loads(sample("serverconfig.json")),
                      [{"match": "Roles.1.PrivilegeLevel", "replace_with": "5"}])
    assert document["Roles"][1]["PrivilegeLevel"] == 5
    assert document["Roles"][0]["PrivilegeLevel"] == -1


@pytest.mark.parametrize("document, match", [
    ({"list": [1]}, "list.3.host"),       # index out of range
    ({"list": [1]}, "list[3]"),
    ({"list": []}, "list[0]"),            # index 0 of an empty array
    ({"list": [1]}, "list.x"),            # not an index
    ({"a": "scalar"}, "a.b"),             # a value in the way
    ({"a": {"b": 1}}, "a.b.c"),
    ({"list": [1]}, "list.0.host"),
])
def test_errors_abort_the_whole_file(document, match, context):
    """§8.5: out-of-range indexes and path collisions abort the file (nothing written)."""
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("json", json.dumps(document).encode(), [
            {"match": "fine", "replace_with": "1"}, {"match": match, "replace_with": "v"}],
            context)


def test_array_index_syntax(edit):
    """§8.5: ``list[n]`` and ``list[n].field``; index 0 creates a missing array, a larger
    index on a missing array is skipped."""
    assert edited(edit, {"l": [{"h": 1}, {"h": 2}]}, [{"match": "l[1].h", "replace_with": "3"}]) \
        == {"l": [{"h": 1}, {"h": 3}]}
    assert edited(edit, {"l": ["a", "b"]}, [{"match": "l[0]", "replace_with": "z"}]) == \
        {"l": ["z", "b"]}
    assert edited(edit, {}, [{"match": "a.l[0].host", "replace_with": "h"},
                             {"match": "m[0]", "replace_with": "x"},
                             {"match": "n[2]", "replace_with": "x"}]) == \
        {"a": {"l": [{"host": "h"}]}, "m": ["x"]}
    assert edited(edit, {"s": "scalar"}, [{"match": "s[0]", "replace_with": "x"}]) == {"s": ["x"]}


def test_wildcard_sets_a_key_in_every_child(edit):
    """§8.5: ``a.*.b`` for each child of ``a``, array elements or object values."""
    document = edited(edit, json.loads(sample("serverconfig.json")),
                      [{"match": "Roles.*.DefaultSpawn", "replace_with": "spawn"},
                       {"match": "WorldConfig.*", "replace_with": "x"}])
    assert [role["DefaultSpawn"] for role in document["Roles"]] == ["spawn", "spawn"]
    assert set(document["WorldConfig"].values()) == {"x"}
    assert edited(edit, {"s": {"a": {}, "b": {"port": 1}}}, [
        {"match": "s.*.port", "replace_with": "2"}]) == {"s": {"a": {"port": 2}, "b": {"port": 2}}}


def test_wildcard_over_nothing_does_nothing(edit):
    assert edited(edit, {"a": 1}, [{"match": "missing.*.x", "replace_with": "1"},
                                   {"match": "a.*.x", "replace_with": "1"}]) == {"a": 1}


def test_wildcard_over_a_scalar_child_aborts(context):
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("json", b'{"s": {"a": {}, "b": 1}}',
                          [{"match": "s.*.port", "replace_with": "2"}], context)


def test_only_the_first_wildcard_counts(edit):
    """§8.5: nested wildcards are not supported; the second ``*`` is a plain key."""
    assert edited(edit, {"a": {"x": {"b": {"y": {}}}}}, [
        {"match": "a.*.b.*.c", "replace_with": "1"}]) == \
        {"a": {"x": {"b": {"y": {}, "*": {"c": 1}}}}}


def test_if_value_compares_the_keys_own_value(edit):
    """§8.5 intended behaviour (upstream compares the whole container)."""
    document = {"mode": "pve", "n": 5, "on": True}
    assert edited(edit, document, [
        {"match": "mode", "if_value": "pve", "replace_with": "pvp"},
        {"match": "n", "if_value": "5", "replace_with": "6"},
        {"match": "on", "if_value": "true", "replace_with": "false"},
        {"match": "missing", "if_value": "x", "replace_with": "y"},
        {"match": "deep.missing", "if_value": "x", "replace_with": "y"},
        {"match": "list[0]", "if_value": "x", "replace_with": "y"},
    ]) == {"mode": "pvp", "n": 6, "on": False}


def test_regex_if_value_in_every_child(edit):
    """panel-contract.md §2.3: the BungeeCord egg's form, on JSON."""
    document = {"servers": {"a": {"address": "localhost:25565"}, "b": {"address": "x:1"}}}
    assert edited(edit, document, [{
        "match": "servers.*.address",
        "if_value": r"regex:^(127\.0\.0\.1|localhost)(:\d{1,5})?$",
        "replace_with": "{{config.docker.network.interface}}$2"}]) == \
        {"servers": {"a": {"address": "172.18.0.1:25565"}, "b": {"address": "x:1"}}}


# -- files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [None, b"", b"  \n"])
def test_missing_or_empty_file_starts_as_an_object(edit, content):
    """§8.2: a missing file is created; unlike Wings, an empty one is edited as ``{}``."""
    assert json.loads(edit("json", content, [{"match": "a.b", "replace_with": "1"}])) == \
        {"a": {"b": 1}}


@pytest.mark.parametrize("content", [b"{not json", b'{"a": NaN}', b"[" * 100_000])
def test_invalid_json_is_refused(context, content):
    """§8.4: an invalid file is an error; nothing is written."""
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("json", content, [], context)


def test_non_ascii_is_written_as_is(edit):
    after = edit("json", '{"motd": "Caf\u00e9"}', [{"match": "n", "replace_with": "\u00a7a<b>"}])
    assert after == '{\n    "motd": "Caf\u00e9",\n    "n": "\u00a7a<b>"\n}\n'


def test_rewriting_twice_changes_nothing_more(edit):
    once = edit("json", sample("serverconfig.json"), VINTAGE_STORY)
    assert edit("json", once, VINTAGE_STORY) == once
