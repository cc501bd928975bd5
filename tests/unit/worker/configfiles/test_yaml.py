"""The ``yaml`` parser: wings-behaviour.md §8.4 and §8.5 (BungeeCord's config.yml), and
the alias-bomb refusal (peers.md, CVE-2026-52857's class of problem)."""

import time

import pytest

from wingspan import errors
from worker.configfiles import apply_config_file
from worker.configfiles.json_yaml import guess_indent

from .support import sample

BUNGEECORD = [  # panel-contract.md §2.3, egg-bungeecord.json as the Panel sends it
    {"match": "listeners[0].query_port", "replace_with": "25577"},
    {"match": "listeners[0].host", "replace_with": "0.0.0.0:25577"},
    {"match": "servers.*.address", "if_value": r"regex:^(127\.0\.0\.1|localhost)(:\d{1,5})?$",
     "replace_with": "{{config.docker.network.interface}}$2"},
]


def test_round_trip_without_replacements_is_byte_identical(edit):
    """Comments, order, quoting and indentation survive (Wings loses them all)."""
    assert edit("yaml", sample("config.yml"), []) == sample("config.yml").decode()


def test_bungeecord_egg(edit):
    """The egg's three replacements; every other line, comments included, is unchanged (a
    comment after a value keeps its column)."""
    before = sample("config.yml").decode()
    after = edit("yaml", before, BUNGEECORD + [
        {"match": "listeners[0].host", "replace_with": "0.0.0.0:{{server.build.default.port}}"},
        {"match": "ip_forward", "replace_with": True}])
    expected = before
    for old, new in [("    address: localhost:25565", "    address: 172.18.0.1:25565"),
                     ("    address: 127.0.0.1:25566   # the survival backend",
                      "    address: 172.18.0.1:25566  # the survival backend"),
                     ("  host: 0.0.0.0:25577", "  host: 0.0.0.0:25565"),
                     ("ip_forward: false", "ip_forward: true")]:
        assert old in expected
        expected = expected.replace(old, new)
    assert after == expected
    assert "address: play.example.com:25565" in after


def test_quoting_is_kept_on_replaced_strings(edit):
    after = edit("yaml", sample("config.yml"), [
        {"match": "listeners[0].motd", "replace_with": "&6{{server.build.env.SERVER_JARFILE}}"},
        {"match": "servers.survival.motd", "replace_with": "Hard"}])
    assert "  motd: '&6server.jar'\n" in after
    assert '    motd: "Hard"\n' in after


def test_integers_stay_integers(edit):
    """§8.4 QUIRK not kept: Wings' JSON round trip writes ``1000000`` as ``1e+06``."""
    after = edit("yaml", sample("config.yml"), [
        {"match": "player_limit", "replace_with": "1000000"},
        {"match": "timeout", "replace_with": 45000}])
    assert "\nplayer_limit: 1000000\n" in after
    assert "\ntimeout: 45000\n" in after
    assert "\nconnection_throttle: 4000\n" in after


def test_new_keys_are_typed(edit):
    """§8.3: ``"25565"`` is written as a number, a JSON boolean as a boolean."""
    after = edit("yaml", None, [{"match": "server.port", "replace_with": "25565"},
                                {"match": "server.online", "replace_with": False},
                                {"match": "server.name", "replace_with": "true"}])
    assert after == "server:\n  port: 25565\n  online: false\n  name: 'true'\n"


def test_four_space_indentation_is_kept(edit):
    text = "a:\n    b: 1\n    c:\n    - x\n"
    assert guess_indent(text) == (4, 0)
    assert edit("yaml", text, [{"match": "a.b", "replace_with": "2"}]) == \
        "a:\n    b: 2\n    c:\n    - x\n"


def test_indented_dashes_are_kept(edit):
    text = "a:\n  list:\n    - x\n  b: 1\n"
    assert guess_indent(text) == (2, 2)
    assert edit("yaml", text, [{"match": "a.b", "replace_with": "2"}]) == \
        "a:\n  list:\n    - x\n  b: 2\n"


@pytest.mark.parametrize("parser", ["yaml", "yml"])
def test_missing_file_is_created(edit, parser):
    """§8.2, §8.4: an empty or missing file is an empty map; ``yml`` is an alias."""
    assert edit(parser, None, [{"match": "a.b", "replace_with": "x"}]) == "a:\n  b: x\n"
    assert edit(parser, b"", [{"match": "a", "replace_with": "x"}]) == "a: x\n"


def test_anchors_are_kept_and_modest_aliases_accepted(edit):
    text = "base: &base\n  port: 1\nserver:\n  <<: *base\n  name: a\nother: *base\n"
    after = edit("yaml", text, [{"match": "server.name", "replace_with": "b"}])
    assert after == text.replace("name: a", "name: b")


def test_alias_bomb_is_refused_before_it_is_built(context):
    """A "billion laughs" in YAML: nine aliases per level, nine levels."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        aliases = ",".join(["*a%d" % (level - 1)] * 9)
        lines.append("a%d: &a%d [%s]" % (level, level, aliases))
    bomb = ("\n".join(lines) + "\n").encode()
    started = time.monotonic()
    with pytest.raises(errors.ConfigFileUnparsable) as caught:
        apply_config_file("yaml", bomb, [{"match": "x", "replace_with": "1"}], context)
    assert "aliases expand" in caught.value.detail
    assert time.monotonic() - started < 2


def test_recursive_alias_is_refused(context):
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("yaml", b"a: &a\n  b: *a\n", [], context)


@pytest.mark.parametrize("content", [b"- a\n- b\n", b"just text\n", b"a: [1\n", b"a: 1\na: 2\n",
                                     b"a: 1\n---\nb: 2\n"])
def test_invalid_or_non_mapping_yaml_is_refused(context, content):
    """§8.4: the document must parse into a map; nothing is written otherwise."""
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("yaml", content, [{"match": "x", "replace_with": "1"}], context)


def test_deep_nesting_is_refused_quickly(context):
    """ruamel.yaml's scanner is quadratic in flow nesting: 100 000 brackets (100 kB) would
    hold the worker for hours, so they are refused before parsing."""
    started = time.monotonic()
    with pytest.raises(errors.ConfigFileUnparsable) as caught:
        apply_config_file("yaml", b"a: " + b"[" * 100_000, [], context)
    assert "nested 100000 levels deep" in caught.value.detail
    assert time.monotonic() - started < 2


def test_path_errors_abort_the_file(context):
    """§8.5, shared with JSON."""
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("yaml", sample("config.yml"),
                          [{"match": "timeout.inner", "replace_with": "1"}], context)


def test_rewriting_twice_changes_nothing_more(edit):
    once = edit("yaml", sample("config.yml"), BUNGEECORD)
    assert edit("yaml", once, BUNGEECORD) == once
