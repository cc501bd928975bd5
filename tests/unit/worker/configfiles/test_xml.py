"""The ``xml`` parser: wings-behaviour.md §8.4 (Space Engineers' dedicated config, 7 Days
to Die's serverconfig.xml), and the entity-bomb refusal."""

import time

import pytest
from lxml import etree

from wingspan import errors
from worker.configfiles import apply_config_file

from .support import sample

SPACE_ENGINEERS = [
    {"match": "MyConfigDedicated.ServerPort", "replace_with": "{{server.build.default.port}}"},
    {"match": "MyConfigDedicated.IP", "replace_with": "{{server.build.default.ip}}"},
    {"match": "MyConfigDedicated.SessionSettings.MaxPlayers", "replace_with": 16},
    {"match": "MyConfigDedicated.RemoteApiPort", "replace_with": "8080"},
]

SEVEN_DAYS = [  # attribute selector in the path, ``[value='…']`` as the value
    {"match": "ServerSettings.property[@name='ServerPort']",
     "replace_with": "[value='{{server.build.default.port}}']"},
    {"match": "ServerSettings.property[@name='ServerName']",
     "replace_with": "[value='{{env.SERVER_NAME}}']"},
    {"match": "ServerSettings.property[@name='ControlPanelPort']",
     "replace_with": "[value='8080']"},
]


def root_of(text):
    return etree.fromstring(text.encode())


def test_space_engineers(edit):
    """§8.4: ``a.b.c`` is the path from the root element; missing elements are created;
    declaration, namespace prefixes and comments are kept; 2-space indent."""
    after = edit("xml", sample("SpaceEngineers-Dedicated.cfg"), SPACE_ENGINEERS)
    root = root_of(after)
    assert root.findtext("ServerPort") == "25565"
    assert root.findtext("IP") == "0.0.0.0"
    assert root.findtext("SessionSettings/MaxPlayers") == "16"
    assert root.findtext("RemoteApiPort") == "8080"
    assert after.startswith('<?xml version="1.0"?>\n<MyConfigDedicated '
                            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
                            '  <SessionSettings>\n    <GameMode>Survival</GameMode>\n')
    assert "\n  <!-- the world to load, empty for a new one -->\n  <LoadWorld/>\n" in after
    assert after.endswith("  <RemoteApiPort>8080</RemoteApiPort>\n</MyConfigDedicated>\n")


def test_seven_days_to_die_attributes(edit):
    """§8.4: a value ``[name='value']`` sets an attribute; an attribute test in the path
    selects the element, and creates it with that attribute when it is missing."""
    after = edit("xml", sample("serverconfig.xml"), SEVEN_DAYS)
    root = root_of(after)
    values = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert values["ServerPort"] == "25565"
    assert values["ServerName"] == "ARK #1 ; powered by Pterodactyl"
    assert values["ControlPanelPort"] == "8080"
    assert values["TelnetPort"] == "8081"
    assert len(values) == 8
    assert '  <property name="ServerPort" value="25565"/>\n' in after
    assert "<!-- GENERAL SERVER SETTINGS -->" in after


def test_wildcard_updates_only_what_exists(edit):
    """§8.4: with a ``*`` in the match nothing is created."""
    after = edit("xml", sample("SpaceEngineers-Dedicated.cfg"), [
        {"match": "MyConfigDedicated.*.MaxPlayers", "replace_with": "32"},
        {"match": "MyConfigDedicated.*.Nothing", "replace_with": "1"}])
    root = root_of(after)
    assert root.findtext("SessionSettings/MaxPlayers") == "32"
    assert root.find(".//Nothing") is None


def test_a_match_from_another_root_changes_nothing(edit):
    """Wings still creates the children under the real root; nothing is created here."""
    before = '<?xml version="1.0"?>\n<a>\n  <b>1</b>\n</a>\n'
    assert edit("xml", before, [{"match": "other.b", "replace_with": "2"},
                                {"match": "other.c", "replace_with": "3"}]) == before


def test_the_root_itself_can_be_set(edit):
    assert edit("xml", "<a x='1'/>", [{"match": "a", "replace_with": "[x='2']"}]) == '<a x="2"/>\n'


def test_if_value_is_honoured(edit):
    """wings-api.md §13.2 (Wings' xml parser ignores it)."""
    text = '<c><mode>pve</mode><p name="x" value="1"/></c>'
    after = edit("xml", text, [
        {"match": "c.mode", "if_value": "pvp", "replace_with": "a"},
        {"match": "c.p", "if_value": "2", "replace_with": "[value='3']"}])
    assert after == '<c>\n  <mode>pve</mode>\n  <p name="x" value="1"/>\n</c>\n'
    after = edit("xml", text, [
        {"match": "c.mode", "if_value": "pve", "replace_with": "pvp"},
        {"match": "c.p", "if_value": "regex:^(\\d)$", "replace_with": "[value='$1$1']"}])
    assert after == '<c>\n  <mode>pvp</mode>\n  <p name="x" value="11"/>\n</c>\n'


@pytest.mark.parametrize("content", [None, b"", b"  \n"])
def test_missing_file_gets_a_declaration_and_root(edit, content):
    """§8.4: no root → the declaration and a root named after the first match."""
    after = edit("xml", content, [{"match": "Settings.Server.Port", "replace_with": "7777"},
                                  {"match": "Settings.Name", "replace_with": "x"}])
    assert after == ('<?xml version="1.0" encoding="utf-8"?>\n<Settings>\n  <Server>\n'
                     '    <Port>7777</Port>\n  </Server>\n  <Name>x</Name>\n</Settings>\n')


def test_default_namespace_is_matched_and_kept(edit):
    """Names match in whatever namespace the element is, as in Wings; new elements join
    their parent's default namespace."""
    after = edit("xml", '<cfg xmlns="urn:game"><port>1</port></cfg>', [
        {"match": "cfg.port", "replace_with": "2"}, {"match": "cfg.host", "replace_with": "h"}])
    assert after == '<cfg xmlns="urn:game">\n  <port>2</port>\n  <host>h</host>\n</cfg>\n'


def test_a_path_lxml_cannot_read_is_skipped(edit, caplog):
    after = edit("xml", "<a><b>1</b></a>", [{"match": "a.b[", "replace_with": "2"},
                                            {"match": "a.b", "replace_with": "3"}])
    assert after == "<a>\n  <b>3</b>\n</a>\n"
    assert "'a.b[' is not a path this parser understands" in caplog.text


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz><port>&lol9;</port></lolz>
"""


@pytest.mark.parametrize("document", [
    BILLION_LAUGHS,
    # a single small entity is refused as well: any declaration is
    b'<!DOCTYPE c [<!ENTITY e "x">]><c><port>&e;</port></c>',
    # external entity (XXE)
    b'<!DOCTYPE c [<!ENTITY e SYSTEM "file:///etc/passwd">]><c><port>&e;</port></c>',
])
def test_entity_declarations_are_refused(context, document):
    started = time.monotonic()
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("xml", document, [{"match": "lolz.port", "replace_with": "1"}], context)
    assert time.monotonic() - started < 2


def test_a_doctype_without_entities_is_kept(edit):
    after = edit("xml", '<!DOCTYPE c SYSTEM "c.dtd">\n<c><p>1</p></c>', [
        {"match": "c.p", "replace_with": "2"}])
    assert after == '<!DOCTYPE c SYSTEM "c.dtd">\n<c>\n  <p>2</p>\n</c>\n'


@pytest.mark.parametrize("content", [b"<a><b></a>", b"not xml at all", b"<!-- only -->"])
def test_invalid_xml_is_refused(context, content):
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("xml", content, [{"match": "a.b", "replace_with": "1"}], context)


def test_text_xml_cannot_hold_is_refused(context):
    with pytest.raises(errors.ConfigFileUnparsable):
        apply_config_file("xml", b"<a><b/></a>", [{"match": "a.b", "replace_with": "\x01"}],
                          context)


def test_encoding_and_bom_are_kept(edit, context):
    content = b'\xef\xbb\xbf<?xml version="1.0" encoding="ISO-8859-1"?>\n<a><b>caf\xe9</b></a>'
    after = apply_config_file("xml", content, [{"match": "a.c", "replace_with": "\u00e9t\u00e9"}],
                              context)
    assert after == (b'\xef\xbb\xbf<?xml version="1.0" encoding="ISO-8859-1"?>\n<a>\n'
                     b'  <b>caf\xe9</b>\n  <c>\xe9t\xe9</c>\n</a>\n')


def test_utf16_is_written_back_as_declared_utf8(context):
    content = '<?xml version="1.0" encoding="UTF-16"?>\n<a><b>\u00e9</b></a>'.encode("utf-16")
    after = apply_config_file("xml", content, [{"match": "a.c", "replace_with": "x"}], context)
    assert after == ('<?xml version="1.0" encoding="utf-8"?>\n<a>\n  <b>\u00e9</b>\n'
                     '  <c>x</c>\n</a>\n').encode()


def test_nodes_around_the_root_are_kept(edit):
    before = ('<?xml version="1.0"?>\n<?xml-stylesheet href="s.xsl"?>\n<!-- top -->\n'
              '<a><b>1</b><!-- in --></a>\n<!-- after -->')
    assert edit("xml", before, [{"match": "a.b", "replace_with": "2"}]) == (
        '<?xml version="1.0"?>\n<?xml-stylesheet href="s.xsl"?>\n<!-- top -->\n'
        '<a>\n  <b>2</b>\n  <!-- in -->\n</a>\n<!-- after -->\n')


def test_rewriting_twice_changes_nothing_more(edit):
    once = edit("xml", sample("serverconfig.xml"), SEVEN_DAYS)
    assert edit("xml", once, SEVEN_DAYS) == once
