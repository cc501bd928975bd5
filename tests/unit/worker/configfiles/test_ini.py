"""The ``ini`` parser: wings-behaviour.md §8.4 (ARK's GameUserSettings.ini)."""

import pytest

from worker.configfiles.ini import split_match

from .support import sample

ARK = [  # the ARK egg's shape: section.key, a bracketed section holding dots
    {"match": "[/script/engine.gamesession].MaxPlayers", "replace_with": "20"},
    {"match": "SessionSettings.SessionName", "replace_with": "{{env.SERVER_NAME}}"},
    {"match": "SessionSettings.Port", "replace_with": "{{server.build.default.port}}"},
    {"match": "SessionSettings.QueryPort", "replace_with": "27016"},
    {"match": "ServerSettings.RCONPort", "replace_with": 27021},
    {"match": "ServerSettings.ServerAdminPassword", "replace_with": "s3cret;#x"},
]


@pytest.mark.parametrize("match, expected", [
    ("foo", ("", "foo")),
    ("server.port", ("server", "port")),
    ("[a.b].c", ("a.b", "c")),
    ("a.b.c", ("a", "b.c")),
    ("[/Script/Engine.GameSession].MaxPlayers", ("/Script/Engine.GameSession", "MaxPlayers")),
])
def test_match_is_split_as_wings_splits_it(match, expected):
    """§8.4: brackets removed while tracking nesting; the first dot outside them splits."""
    assert split_match(match) == expected


def test_ark_egg(edit):
    """§8.4: existing keys updated in place; nothing else moves (comments, blank lines, the
    byte-order mark, values holding ``;`` or ``#``); sections match without regard to case."""
    after = edit("ini", sample("GameUserSettings.ini"), ARK)
    expected = sample("GameUserSettings.ini").decode()
    for old, new in [("MaxPlayers=70", "MaxPlayers=20"),
                     ("QueryPort=27015", "QueryPort=27016"),
                     ("Port=7777", "Port=25565"),
                     ("RCONPort=27020", "RCONPort=27021"),
                     ("ServerAdminPassword=changeme", "ServerAdminPassword=s3cret;#x")]:
        expected = expected.replace("\n" + old + "\n", "\n" + new + "\n")
    assert after == expected
    assert after.startswith("\ufeff[/Script/ShooterGame.ShooterGameUserSettings]\n")
    assert after.count("[/Script/Engine.GameSession]") == 1
    assert "SessionName=ARK #1 ; powered by Pterodactyl\n" in after


def test_missing_key_goes_after_the_sections_last_key(edit):
    """§8.4: missing keys are created in their section."""
    after = edit("ini", "[ServerSettings]\nRCONPort=1\n; trailing comment\n\n[Other]\nx=1\n",
                 [{"match": "ServerSettings.MaxPlayers", "replace_with": "70"}])
    assert after == "[ServerSettings]\nRCONPort=1\nMaxPlayers=70\n; trailing comment\n\n" \
                    "[Other]\nx=1\n"


def test_missing_key_takes_its_neighbours_separator(edit):
    after = edit("ini", "[s]\na = 1\n", [{"match": "s.b", "replace_with": "2"}])
    assert after == "[s]\na = 1\nb = 2\n"


def test_missing_section_is_appended(edit):
    """§8.4: missing sections are created."""
    after = edit("ini", "[a]\nx=1", [{"match": "[b.c].port", "replace_with": "2"}])
    assert after == "[a]\nx=1\n\n[b.c]\nport=2\n"


def test_default_section_is_the_top_of_the_file(edit):
    """§8.4: ``foo`` is a key of the default section, before any header."""
    after = edit("ini", "top=1\n[s]\nfoo=old\n", [
        {"match": "top", "replace_with": "2"}, {"match": "foo", "replace_with": "3"}])
    assert after == "top=2\nfoo=3\n[s]\nfoo=old\n"


def test_key_names_match_without_regard_to_case(edit):
    after = edit("ini", "[ServerSettings]\nRCONPort=1\n", [
        {"match": "serversettings.rconport", "replace_with": "2"}])
    assert after == "[ServerSettings]\nRCONPort=2\n"


def test_last_repeated_key_is_the_one_compared(edit):
    after = edit("ini", "[s]\nk=1\nk=2\n", [{"match": "s.k", "if_value": "2", "replace_with": "3"}])
    assert after == "[s]\nk=3\nk=3\n"


def test_if_value_is_honoured(edit):
    """wings-api.md §13.2 (Wings' ini parser ignores it)."""
    text = "[s]\nmode=pve\n"
    assert edit("ini", text, [{"match": "s.mode", "if_value": "pvp", "replace_with": "x"}]) == text
    assert edit("ini", text, [{"match": "s.mode", "if_value": "pve", "replace_with": "x"}]) == \
        "[s]\nmode=x\n"


def test_a_value_cannot_add_lines(edit):
    after = edit("ini", "[s]\nname=a\n", [{"match": "s.name", "replace_with": "x\n[evil]\ny=1"}])
    assert after == "[s]\nname=x [evil] y=1\n"


def test_missing_file_is_created(edit):
    """§8.2."""
    assert edit("ini", None, [{"match": "a", "replace_with": "1"},
                              {"match": "s.b", "replace_with": "2"}]) == "a=1\n\n[s]\nb=2\n"


def test_crlf_is_kept(edit):
    assert edit("ini", "[s]\r\na=1\r\n", [{"match": "s.b", "replace_with": "2"}]) == \
        "[s]\r\na=1\r\nb=2\r\n"


def test_rewriting_twice_changes_nothing_more(edit):
    once = edit("ini", sample("GameUserSettings.ini"), ARK)
    assert edit("ini", once, ARK) == once
