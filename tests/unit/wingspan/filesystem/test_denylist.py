"""The egg file denylist (wings-api.md §6.3, wings-behaviour.md §9.2, §17 REQ 7)."""

import json
import os

import pytest

from wingspan import errors
from wingspan.filesystem.denylist import Denylist

from .conftest import body, listed

PATTERNS = ["# comment", "", "config.yml", "/locked", "logs/", "!logs/keep.log", "*.jar",
            "  spaced.txt  ", "a/**/deep.txt"]


@pytest.mark.parametrize("path, denied", [
    ("config.yml", True),
    ("sub/config.yml", True),            # unanchored: any depth
    ("locked", True),
    ("locked/x", True),                  # a denied directory covers what is beneath it
    ("sub/locked/x", False),             # anchored at the root
    ("notlocked/x", False),
    ("logs/latest.log", True),
    ("logs", False),                     # "logs/" matches inside, not a file named logs
    ("logs/keep.log", False),            # the last matching pattern wins
    ("plugins/x.jar", True),
    ("spaced.txt", True),                # lines are trimmed
    ("a/deep.txt", True),
    ("a/b/c/deep.txt", True),
    ("comment", False),
])
def test_gitignore_semantics(path, denied):
    assert Denylist(PATTERNS).matches(path.split("/")) is denied


def test_empty_denylist_and_root():
    assert not Denylist([])
    assert not Denylist(["# only a comment"])
    assert Denylist(["*"]).matches([]) is False


def test_write_copy_rename_are_refused(make_jail, server):
    """§18 tests 27-28: write ``/config.yml``, ``sub/config.yml``, ``/locked/x`` → 403;
    ``/notlocked/x`` → fine; rename onto or from a denied name → 403; copy → 403."""
    jail = make_jail(denylist=PATTERNS)
    for path in ("/config.yml", "sub/config.yml", "/locked/x", "/./config.yml",
                 "sub/../config.yml", "plugins//x.jar"):
        with pytest.raises(errors.Denylisted) as caught:
            jail.write(path, body(b"x"), 1)
        assert caught.value.status == 403
        assert caught.value.public_message == \
            "This file cannot be modified: present in egg denylist."
    assert not os.path.exists(server.path("config.yml"))
    jail.write("/notlocked/x", body(b"x"), 1)
    server.put("hello.txt", b"hello")
    server.put("config.yml", b"secret: 1")
    with pytest.raises(errors.Denylisted):
        jail.rename("/", "hello.txt", "config.yml")
    with pytest.raises(errors.Denylisted):
        jail.rename("/", "config.yml", "public.yml")
    with pytest.raises(errors.Denylisted):
        jail.rename("/sub", "../hello.txt", "../locked/hello.txt")
    with pytest.raises(errors.Denylisted):
        jail.copy("config.yml")
    assert server.read("config.yml") == b"secret: 1"
    assert sorted(os.listdir(server.root)) == ["config.yml", "hello.txt", "notlocked"]


def test_is_denied_and_check(make_jail):
    jail = make_jail(denylist=["config.yml"])
    assert jail.is_denied("/a/config.yml") and not jail.is_denied("/a/other.yml")
    with pytest.raises(errors.Denylisted):
        jail.check_denylist("config.yml")


def test_reading_listing_deleting_are_not_denied(make_jail, server):
    """§6.3: contents, list, delete, chmod and create-directory do not check the list."""
    jail = make_jail(denylist=["config.yml", "locked/"])
    server.put("config.yml", b"a: 1")
    assert jail.read_bytes("config.yml", 10) == b"a: 1"
    assert [json.loads(e)["name"] for e in listed(jail, "/")] == ["config.yml"]
    jail.chmod("/", [{"file": "config.yml", "mode": "600"}])
    jail.mkdir("locked", "/")
    jail.delete("/", ["config.yml"])
    assert os.listdir(server.root) == ["locked"]
