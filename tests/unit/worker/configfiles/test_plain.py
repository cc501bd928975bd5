"""The ``file`` parser: wings-behaviour.md §8.4 (line prefix, whole line replaced)."""

import pytest

from worker.configfiles import apply_config_file

RULES = [
    {"match": "port=", "replace_with": "port={{server.build.default.port}}"},
    {"match": "host", "replace_with": "host=0.0.0.0"},
]


def test_lines_starting_with_a_match_are_replaced_whole(edit):
    after = edit("file", "# settings\nport=1\nhostname=x\nmaxport=3\n", RULES)
    assert after == "# settings\nport=25565\nhost=0.0.0.0\nmaxport=3\n"


def test_several_matches_concatenate(edit):
    """§8.4: every matching replacement contributes its text to the line."""
    after = edit("file", "port=1\n", [{"match": "po", "replace_with": "A"},
                                      {"match": "port", "replace_with": "B"}])
    assert after == "AB\n"


def test_if_value_means_nothing_here(edit):
    after = edit("file", "mode=pve\n", [{"match": "mode", "if_value": "pvp",
                                         "replace_with": "mode=hard"}])
    assert after == "mode=hard\n"


def test_every_line_ends_with_a_line_break(edit):
    """§8.4: the last line gains one; nothing is appended for a missing match."""
    assert edit("file", "a\nport=1", RULES) == "a\nport=25565\n"
    assert edit("file", "a", [{"match": "zzz", "replace_with": "x"}]) == "a\n"


@pytest.mark.parametrize("content", [None, b""])
def test_an_empty_or_missing_file_stays_empty(edit, content):
    """§8.4: new lines are never appended; §8.2: a missing file is still created (empty)."""
    assert edit("file", content, RULES) == ""


def test_crlf_and_bom_are_kept(edit):
    """Wings turns CRLF into LF; each line keeps its own ending here, and a byte-order mark
    does not hide the first line."""
    assert edit("file", "\ufeffport=1\r\nx\r\n", RULES) == "\ufeffport=25565\r\nx\r\n"


def test_non_string_values_are_their_literal(edit):
    assert edit("file", "a\nb\nc\n", [{"match": "a", "replace_with": 5},
                                      {"match": "b", "replace_with": True},
                                      {"match": "c", "replace_with": None}]) == "5\ntrue\n\n"


def test_config_placeholders_are_resolved_too(edit):
    """Wings writes ``{{config.*}}`` literally in this parser; here every parser resolves
    it, through the same allowlist (CVE-2026-52855)."""
    after = edit("file", "bind=x\ntoken=x\n", [
        {"match": "bind", "replace_with": "bind={{config.docker.network.interface}}"},
        {"match": "token", "replace_with": "token={{config.token}}"}])
    assert after == "bind=172.18.0.1\ntoken=\n"


def test_bytes_that_are_not_utf8_survive(context):
    after = apply_config_file("file", b"name=caf\xe9\nport=1\n", RULES, context)
    assert after == b"name=caf\xe9\nport=25565\n"
