"""The replacement list and its conditions: wings-behaviour.md §8.1, §8.3, §8.5 and
wings-api.md §13.2."""

import logging

import pytest

from worker.configfiles.replacements import Replacement, parse_replacements


def test_replace_with_and_legacy_value(context):
    """§8.1: a legacy key ``value`` is accepted instead of ``replace_with``."""
    parsed = parse_replacements([
        {"match": "server-port", "replace_with": "{{server.build.default.port}}"},
        {"match": "server-ip", "value": "{{server.build.default.ip}}"},
    ], context)
    assert parsed == [Replacement("server-port", "", "25565"),
                      Replacement("server-ip", "", "0.0.0.0")]


def test_replace_with_wins_over_value(context):
    parsed = parse_replacements([{"match": "a", "replace_with": "new", "value": "old"}], context)
    assert parsed[0].value == "new"


@pytest.mark.parametrize("value, text", [
    ("text", "text"), (25565, "25565"), (1.5, "1.5"), (True, "true"), (False, "false"),
    (None, ""),
])
def test_text_form_keeps_the_json_literal(context, value, text):
    """§8.3: numbers as their literal text, booleans true/false; null is written as the
    empty string (Wings writes ``<nil>``)."""
    parsed = parse_replacements([{"match": "k", "replace_with": value}], context)
    assert parsed[0].value == value
    assert parsed[0].text == text


def test_malformed_entries_are_dropped_one_by_one(context, caplog):
    """§8.1: Wings drops the whole list on a malformed entry; here only that entry goes."""
    raw = [
        {"match": "kept", "replace_with": "1"},
        {"replace_with": "no match"},
        {"match": "", "replace_with": "empty match"},
        {"match": "no value"},
        {"match": "object", "replace_with": {"a": 1}},
        "not an object",
        {"match": "also kept", "value": 2},
    ]
    with caplog.at_level(logging.WARNING):
        parsed = parse_replacements(raw, context)
    assert [rep.match for rep in parsed] == ["kept", "also kept"]
    assert caplog.text.count("malformed replacement") == 5


@pytest.mark.parametrize("raw", [None, "text", {"match": "a"}])
def test_a_replace_that_is_not_a_list_is_empty(context, raw):
    """§8.1: a malformed ``replace`` list → an empty list."""
    assert parse_replacements(raw, context) == []


def test_if_value_is_text(context):
    parsed = parse_replacements([{"match": "a", "if_value": 5, "replace_with": "6"},
                                 {"match": "b", "if_value": None, "replace_with": "7"}], context)
    assert parsed[0].if_value == "5"
    assert parsed[1].if_value == ""


# -- conditions (§8.5 intended behaviour) ------------------------------------------------------

def test_no_condition_always_applies():
    assert Replacement("k", "", "new").new_text("old") == "new"
    assert Replacement("k", "", "new").new_text(None) == "new"


def test_if_value_needs_an_existing_equal_value():
    rep = Replacement("enable-query", "true", "false")
    assert rep.new_text("true") == "false"
    assert rep.new_text("false") is None
    assert rep.new_text(None) is None


def test_regex_if_value_rewrites_the_current_value():
    """panel-contract.md §2.3, the BungeeCord egg: ``$2`` is a capture-group reference."""
    rep = Replacement("servers.*.address", r"regex:^(127\.0\.0\.1|localhost)(:\d{1,5})?$",
                      "172.18.0.1$2")
    assert rep.new_text("localhost:25565") == "172.18.0.1:25565"
    assert rep.new_text("127.0.0.1") == "172.18.0.1"
    assert rep.new_text("play.example.com:25565") is None
    assert rep.new_text(None) is None


@pytest.mark.parametrize("template, expected", [
    ("${1}-$2", "ab-cd"),
    ("$$1", "$1"),
    ("$3", ""),          # a group the pattern does not have
    ("$1x", ""),         # Go reads the name "1x", not group 1 then "x"
    ("${1}x", "abx"),
    ("${name}", "cd"),
    ("cost: $", "cost: $"),
])
def test_go_template_references(template, expected):
    """Go's ``Regexp.ReplaceAllString`` template syntax, which egg authors write."""
    rep = Replacement("k", "regex:(ab)(?P<name>cd)", template)
    assert rep.new_text("abcd") == expected


def test_an_invalid_regex_skips_the_replacement(caplog):
    with caplog.at_level(logging.WARNING):
        assert Replacement("k", "regex:([", "x").new_text("anything") is None
    assert "not a valid regular expression" in caplog.text
