"""The package's entry points: wings-behaviour.md §8.2, wings-api.md §13.2, and the size
limit of CVE-2026-52857 (peers.md advisory 17)."""

import json

import pytest

from wingspan import errors
from worker.configfiles import (MAX_BYTES, PARSERS, PlannedFile, apply_config_file,
                                plan_files)

from .support import assert_no_secret, sample


def test_the_parsers_of_the_spec():
    """wings-api.md §13.2: file, yaml (alias yml), properties, ini, json, xml."""
    assert set(PARSERS) == {"file", "yaml", "yml", "properties", "ini", "json", "xml"}


def test_the_limit_is_wings_own():
    """peers.md advisory 17: Wings and Pelican cap parsed files at 64 MB."""
    assert MAX_BYTES == 64 * 1024 * 1024


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_oversized_files_are_refused_before_parsing(context, parser):
    """CVE-2026-52857: a file over the limit is refused before any parser sees it (the
    content here is not even valid for the parser)."""
    content = b"{" * 1001
    with pytest.raises(errors.FileTooLarge) as caught:
        apply_config_file(parser, content, [{"match": "a", "replace_with": "1"}], context,
                          max_bytes=1000)
    assert "1001 bytes" in caught.value.detail


def test_a_file_at_the_limit_is_edited(context):
    content = b"a=1\n" + b"#" * 996
    after = apply_config_file("properties", content, [{"match": "a", "replace_with": "2"}],
                              context, max_bytes=1000)
    assert after.startswith(b"a=2\n")


def test_the_default_limit_applies(context):
    with pytest.raises(errors.FileTooLarge):
        apply_config_file("json", b" " * (MAX_BYTES + 1), [], context)


@pytest.mark.parametrize("content, expected", [(None, b""), (b"kept", b"kept")])
def test_an_unknown_parser_leaves_the_file_as_it_is(context, content, expected):
    """§8.2: the file is still created, and nothing is done to it."""
    assert apply_config_file("toml", content, [{"match": "a", "replace_with": "1"}],
                             context) == expected


def test_no_parser_lets_a_secret_through(context):
    """CVE-2026-52855 across every parser, with the placeholder in every position."""
    leak = "{{config.token}}/{{ config.token_id }}/{{config.docker.registries}}"
    cases = {
        "file": (sample("server.properties"), "motd"),
        "properties": (sample("server.properties"), "motd"),
        "ini": (sample("GameUserSettings.ini"), "SessionSettings.SessionName"),
        "json": (sample("serverconfig.json"), "ServerName"),
        "yaml": (sample("config.yml"), "listeners[0].motd"),
        "xml": (sample("SpaceEngineers-Dedicated.cfg"), "MyConfigDedicated.ServerName"),
    }
    for parser, (content, match) in cases.items():
        after = apply_config_file(parser, content, [{"match": match, "replace_with": leak}],
                                  context).decode()
        assert_no_secret(after)
        assert "//" in after, parser


# -- plan_files ------------------------------------------------------------------------------

def test_plan_of_the_paper_egg():
    """panel-contract.md §2.3: one entry per file, in the Panel's order, replace as sent."""
    replace = [{"match": "server-ip", "replace_with": "0.0.0.0"},
               {"match": "server-port", "replace_with": "25565"}]
    configs = [{"parser": "properties", "file": "server.properties", "replace": replace},
               {"parser": "yaml", "file": "plugins/Geyser/config.yml", "replace": []}]
    assert plan_files(configs) == [
        PlannedFile("server.properties", "properties", replace),
        ("plugins/Geyser/config.yml", "yaml", []),
    ]


def test_plan_keeps_entries_wings_would_create_but_not_edit():
    """§8.2: an unknown parser, or a malformed replace list (§8.1), still creates the file."""
    planned = plan_files([{"parser": "TOML", "file": "a.toml", "replace": []},
                          {"parser": "JSON", "file": "b.json", "replace": "oops"},
                          {"file": "c.txt"}])
    assert planned == [("a.toml", "toml", []), ("b.json", "json", []), ("c.txt", "", [])]


def test_plan_drops_entries_without_a_file(caplog):
    planned = plan_files([{"parser": "json", "replace": []}, {"file": "", "parser": "json"},
                          {"file": 5}, "junk", {"file": "ok.json", "parser": "json"}])
    assert planned == [("ok.json", "json", [])]
    assert caplog.text.count("without a file name") == 4


def test_plan_paths_are_literal():
    """Neither Wings nor the Panel gives config.files a wildcard: ``*`` is a character, and
    the path is for the jail to resolve (nothing is normalised here)."""
    assert plan_files([{"file": "/worlds/*/../level.dat", "parser": "file"}]) == [
        ("/worlds/*/../level.dat", "file", [])]


def test_plan_of_nothing():
    assert plan_files(None) == []
    assert plan_files([]) == []


def test_plan_and_apply_together(context):
    """The caller's loop, with the two entries for one file applied one after the other."""
    configs = json.loads(json.dumps([
        {"parser": "properties", "file": "server.properties",
         "replace": [{"match": "server-port", "replace_with": "{{server.build.default.port}}"}]},
        {"parser": "properties", "file": "server.properties",
         "replace": [{"match": "server-port", "if_value": "25565", "replace_with": "1"}]},
    ]))
    files = {"server.properties": b"server-port=7\n"}
    for path, parser, replacements in plan_files(configs):
        files[path] = apply_config_file(parser, files.get(path), replacements, context)
    assert files == {"server.properties": b"server-port=1\n"}
