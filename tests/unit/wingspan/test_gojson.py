"""JSON decoded and names written as Go does (wingspan/gojson.py)."""

import pytest

from wingspan import gojson


def test_a_lone_surrogate_escape_decodes_to_the_replacement_character():
    value = gojson.loads(b'{"name": "\\ud800x", "files": ["a\\udfff", "\\ud83d\\ude00"],'
                         b' "\\udc00key": {"deep": ["\\ud801"]}}')
    assert value == {"name": "\ufffdx", "files": ["a\ufffd", "\U0001f600"],
                     "\ufffdkey": {"deep": ["\ufffd"]}}


def test_text_without_surrogates_comes_back_as_it_was():
    document = '{"a": "caf\u00e9", "b": [1, 2.5, true, null], "c": "\\u2028"}'
    assert gojson.loads(document) == {"a": "caf\u00e9", "b": [1, 2.5, True, None],
                                      "c": "\u2028"}


@pytest.mark.parametrize("document", ["NaN", '{"exp": Infinity}', "[-Infinity]"])
def test_nan_and_infinity_are_not_json(document):
    with pytest.raises(ValueError):
        gojson.loads(document)


def test_nesting_too_deep_is_a_value_error():
    with pytest.raises(ValueError):
        gojson.loads(b"[" * 100_000 + b"]" * 100_000)


def test_bytes_that_are_not_utf8_are_a_value_error():
    with pytest.raises(ValueError):
        gojson.loads(b'{"a": "\xff"}')


def test_an_undecodable_file_name_is_written_with_one_replacement_per_byte():
    assert gojson.text("caf\udcc3-\udcff\udcfe.txt") == "caf\ufffd-\ufffd\ufffd.txt"
    assert gojson.text("plain.txt") == "plain.txt"
    assert gojson.text("\u00e9t\u00e9") == "\u00e9t\u00e9"
