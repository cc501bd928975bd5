"""The search's bounds and name matching (wingspan/filesystem/search.py): Pelican's name rules,
and the time, match and byte limits Pelican does not have (issue 20 §5)."""

import os

import pytest

from wingspan.filesystem.denylist import Denylist
from wingspan.filesystem.mime import SniffCache
from wingspan.filesystem.search import Limits, NamePattern, Search


@pytest.mark.parametrize("pattern,name,expected", [
    ("ESS", "Essentials", True),             # substring, any case
    (".jar", "plugin.JAR", True),            # extension with a dot
    ("jar", "plugin.jar", True),
    ("*.y?l", "config.yml", True),           # glob
    ("*.y?l", "config.yaml", False),
    ("conf*", "my-config", False),           # a glob matches the whole name
    ("server.properties", "server.properties", True),
    ("other.properties", "server.properties", False),
])
def test_name_pattern(pattern, name, expected):
    assert NamePattern(pattern).matches(name) is expected


def fill(server, count, data=b"needle here\n"):
    for i in range(count):
        server.put("f%03d.txt" % i, data)


def test_matches_bound(server, jail):
    fill(server, 20)
    found = jail.search("/", pattern=".txt", limits=Limits(matches=5))
    assert [e["name"] for e in found.entries] == ["f%03d.txt" % i for i in range(5)]
    assert found.truncated == "matches"


def test_bytes_bound(server, jail):
    fill(server, 20, b"x" * 1000 + b"needle")
    found = jail.search("/", content="needle", limits=Limits(content_bytes=3 * 1006 + 10))
    assert [e["name"] for e in found.entries] == ["f000.txt", "f001.txt", "f002.txt"]
    assert found.truncated == "bytes"


def test_files_over_the_file_bound_are_not_read(server, jail):
    server.put("big.txt", b"x" * 5000 + b"needle")
    server.put("small.txt", b"needle")
    found = jail.search("/", content="needle", limits=Limits(file_bytes=4096))
    assert [e["name"] for e in found.entries] == ["small.txt"] and not found.truncated


def test_content_across_chunk_boundary(server, jail, monkeypatch):
    from wingspan.filesystem import search
    monkeypatch.setattr(search, "READ_CHUNK", 8)
    server.put("split.txt", b"0123nee" + b"DLE4567")
    found = jail.search("/", content="needle")
    assert [e["name"] for e in found.entries] == ["split.txt"]


def test_time_bound(server):
    """The clock is read once per entry: with one tick per read, a 3.5 s bound stops the
    walk after three entries."""
    fill(server, 20)
    ticks = iter(range(1000))
    search = Search(Denylist(), SniffCache(0), pattern=".txt", limits=Limits(seconds=3.5),
                    clock=lambda: next(ticks))
    fd = os.open(server.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        found = search.run(fd, [], "")
    finally:
        os.close(fd)
    assert found.truncated == "time"
    assert [e["name"] for e in found.entries] == ["f000.txt", "f001.txt", "f002.txt"]
