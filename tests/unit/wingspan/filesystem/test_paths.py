"""Lexical path handling (wings-api.md §6.1)."""

import pytest

from wingspan import errors
from wingspan.filesystem.paths import join_path, server_path, split_path


@pytest.mark.parametrize("path, parts", [
    ("", []),
    ("/", []),
    (".", []),
    ("server.properties", ["server.properties"]),
    ("/server.properties", ["server.properties"]),
    ("//a///b/./c/", ["a", "b", "c"]),
    ("/a/../b", ["b"]),                       # §6.1: "/a/../b is just b"
    ("a/b/..", ["a"]),
    ("%2e%2e/x", ["%2e%2e", "x"]),            # not decoded twice: a literal name
    ("a\\..\\..\\x", ["a\\..\\..\\x"]),       # a backslash is an ordinary character on Linux
])
def test_split_cleans_lexically(path, parts):
    assert split_path(path) == parts


@pytest.mark.parametrize("path", [
    "..", "../x", "../../etc/passwd", "/../../etc/passwd", "a/../../x",
    "..%2F..".replace("%2F", "/"),            # "%2F" decoded by the HTTP layer
    "/..//../etc", "a/b/../../../x",
])
def test_split_refuses_climbing_out(path):
    """§6.1: ``../../etc/passwd``, ``/../../etc/passwd``, ``a/../../x`` are rejected."""
    with pytest.raises(errors.PathOutsideRoot) as caught:
        split_path(path)
    assert caught.value.status == 404
    assert caught.value.public_message == "The requested resources was not found on the system."


@pytest.mark.parametrize("path", ["a\x00b", "\x00", "x/\x00/../y"])
def test_split_refuses_nul_bytes(path):
    with pytest.raises(errors.PathOutsideRoot):
        split_path(path)


def test_split_strips_an_absolute_host_root():
    """§6.1 step 1: an absolute host path inside the root is accepted."""
    assert split_path("/srv/uuid/a/b", "/srv/uuid") == ["a", "b"]
    assert split_path("/srv/uuid", "/srv/uuid") == []
    assert split_path("/srv/uuidx/a", "/srv/uuid") == ["srv", "uuidx", "a"]


@pytest.mark.parametrize("base, name, joined", [
    ("/", "a.txt", "/a.txt"),
    ("/", "../x", "/x"),            # §5.5: a rooted join cannot climb above "/"
    ("/sub", "../../x", "/x"),
    ("/sub", "/abs", "/sub/abs"),   # Go joins, it does not replace
    ("/", "/", "/"),
    ("/", "..", "/"),
    ("", "../x", "../x"),           # unrooted: split_path refuses it afterwards
    ("sub", "../../x", "../x"),
    ("", "", "."),
    ("a", "..", "."),
])
def test_join_is_go_path_join(base, name, joined):
    assert join_path(base, name) == joined


def test_server_path_spelling():
    assert server_path([]) == "/"
    assert server_path(["a", "b"]) == "/a/b"
