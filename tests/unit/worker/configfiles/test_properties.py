"""The ``properties`` parser: wings-behaviour.md §8.4 (Minecraft's server.properties)."""

from .support import sample

PAPER = [  # panel-contract.md §2.3, egg-paper.json as the Panel sends it
    {"match": "server-ip", "replace_with": "0.0.0.0"},
    {"match": "server-port", "replace_with": "{{server.build.default.port}}"},
    {"match": "query.port", "replace_with": "{{server.build.default.port}}"},
]


def changed_lines(before, after):
    old, new = before.splitlines(), after.splitlines()
    assert len(new) >= len(old)
    return {(a, b) for a, b in zip(old, new) if a != b}


def test_paper_egg_changes_only_its_lines(edit):
    """§8.4, hardened: every untouched line, comments included, stays as it was (Wings
    keeps only the leading comment block)."""
    before = sample("server.properties").decode()
    after = edit("properties", before, PAPER + [
        {"match": "server-port", "replace_with": 25566}])
    assert changed_lines(before, after) == {("server-ip=", "server-ip=0.0.0.0"),
                                            ("server-port=25565", "server-port=25566")}
    assert "# added by hand: keep the spawn small\n" in after
    assert after.startswith("#Minecraft server properties\n#Sat Mar 16")


def test_if_value(edit):
    """§8.4: with ``if_value``, replace only if the key exists and equals it."""
    before = sample("server.properties").decode()
    after = edit("properties", before, [
        {"match": "enable-query", "if_value": "true", "replace_with": "false"},
        {"match": "pvp", "if_value": "false", "replace_with": "true"},
        {"match": "not-there", "if_value": "x", "replace_with": "y"},
    ])
    assert changed_lines(before, after) == {("enable-query=true", "enable-query=false")}
    assert "not-there" not in after


def test_if_value_compares_the_decoded_value(edit):
    """The file holds ``\\u00A7a``; the egg compares with the character itself."""
    after = edit("properties", sample("server.properties"), [
        {"match": "motd", "if_value": "\u00a7aA Minecraft Server", "replace_with": "Hi"}])
    assert "\nmotd=Hi\n" in after
    after = edit("properties", sample("server.properties"), [
        {"match": "resource-pack", "if_value": "https://example.com/pack.zip",
         "replace_with": ""}])
    assert "\nresource-pack=\n" in after


def test_missing_key_is_appended(edit):
    """§8.4: a missing key is added at the end."""
    after = edit("properties", "a=1\nb=2", [{"match": "c", "replace_with": "3"}])
    assert after == "a=1\nb=2\nc=3\n"


def test_values_are_written_ascii_escaped(edit):
    """§8.4: non-ASCII → ``\\uXXXX``, ``\\`` → ``\\\\``, ``"`` → ``\\"``,
    newline → ``\\n``, tab → ``\\t`` (panel issues #2308/#3009); above U+FFFF, a
    surrogate pair, which Java reads."""
    after = edit("properties", "", [
        {"match": "motd", "replace_with": '\u00a76Caf\u00e9 "Stars" \\ \U0001f600\tend\n'}])
    assert after == 'motd=\\u00a76Caf\\u00e9 \\"Stars\\" \\\\ \\ud83d\\ude00\\tend\\n\n'


def test_leading_space_survives_a_java_reader(edit):
    after = edit("properties", "", [{"match": "motd", "replace_with": "  two"}])
    assert after == "motd=\\  two\n"


def test_key_text_and_separator_are_kept(edit):
    after = edit("properties", "  spaced : old\nbare\ncolon:x\n", [
        {"match": "spaced", "replace_with": "new"},
        {"match": "bare", "replace_with": "1"},
        {"match": "colon", "replace_with": "2"}])
    assert after == "  spaced : new\nbare=1\ncolon:2\n"


def test_continued_value_is_replaced_whole(edit):
    after = edit("properties", "a=one\\\n   two\nb=3\n", [{"match": "a", "replace_with": "x"}])
    assert after == "a=x\nb=3\n"


def test_every_line_of_a_repeated_key_is_set(edit):
    after = edit("properties", "k=1\nother=2\nk=3\n", [
        {"match": "k", "if_value": "3", "replace_with": "4"}])
    assert after == "k=4\nother=2\nk=4\n"


def test_references_are_not_expanded(edit, monkeypatch):
    """§8.4 QUIRK not kept: Wings' library expands ``${name}``, even from the daemon's own
    environment."""
    monkeypatch.setenv("WINGS_SECRET", "leaked")
    after = edit("properties", "a=${WINGS_SECRET}\nb=${a}\n", [{"match": "c", "replace_with": "1"}])
    assert after == "a=${WINGS_SECRET}\nb=${a}\nc=1\n"


def test_missing_file_is_created(edit):
    """§8.2: a missing file is created; content None stands for it."""
    assert edit("properties", None, PAPER) == ("server-ip=0.0.0.0\nserver-port=25565\n"
                                               "query.port=25565\n")


def test_crlf_and_bom_are_kept(edit):
    after = edit("properties", "\ufeffa=1\r\nb=2\r\n", [
        {"match": "a", "replace_with": "9"}, {"match": "c", "replace_with": "3"}])
    assert after == "\ufeffa=9\r\nb=2\r\nc=3\r\n"


def test_rewriting_twice_changes_nothing_more(edit):
    """Files are rewritten before every start (§8.2)."""
    once = edit("properties", sample("server.properties"), PAPER)
    assert edit("properties", once, PAPER) == once
