"""``GET /api/servers/:server/files/search`` (Pelican, peers.md "File ops"; issue 20 §5): name
search as Pelican matches names, content search, inside the jail: symlinks never followed,
the egg denylist respected, dependency directories and depths below 8 skipped.

One daemon serves the module; its server "main" denies ``secret.cfg`` and ``/private``.
"""

import os

import pytest

from tests.integration.files.helpers import NOT_FOUND, STAT_KEYS

SERVERS = {"main": {"file_denylist": ["secret.cfg", "/private"]}}
SHORT_PATTERN = "Pattern must be at least 3 characters long"
SHORT_CONTENT = "Content must be at least 3 characters long"


def search(node, **query):
    return node.daemon.get("/api/servers/%s/files/search" % node.uuid(), query=query)


def names(response):
    assert response.status_code == 200, response.text
    return [entry["name"] for entry in response.json()]


@pytest.fixture
def tree(node):
    node.put("server.cfg", b"motd=hello\n")
    node.put("plugins/Essentials/config.yml", b"spawn: world\n")
    node.put("plugins/essentials.jar", b"PK\x03\x04")
    node.put("plugins/readme.txt", b"Nothing to see, NEEDLE inside\n")
    node.put("logs/latest.log", b"a needle in the log\n")
    node.put("secret.cfg", b"needle rcon_password=hunter2\n")
    node.put("private/keys.cfg", b"needle\n")
    node.put("node_modules/pkg/index.cfg", b"needle\n")
    node.put(".git/config.cfg", b"needle\n")
    return node


def test_name_substring_case_insensitive(tree):
    """Results are Stat objects named with their path below the searched directory,
    directories first at each level, a directory after what was found inside it."""
    response = search(tree, pattern="ESSENTIALS", directory="/")
    assert names(response) == ["plugins/Essentials", "plugins/essentials.jar"]
    directory, jar = response.json()
    assert list(jar) == STAT_KEYS
    assert directory["directory"] is True and directory["mime"] == "inode/directory"
    assert jar["file"] is True and jar["size"] == 4


def test_name_by_extension_and_glob(tree):
    assert names(search(tree, pattern=".cfg")) == ["server.cfg"]
    assert names(search(tree, pattern="*.y?l")) == ["plugins/Essentials/config.yml"]
    assert names(search(tree, pattern="latest.log")) == ["logs/latest.log"]


def test_names_keep_the_searched_directory(tree):
    """As Pelican spells them: the ``directory`` given (one trailing slash dropped) joined
    with the path beneath it."""
    assert names(search(tree, pattern="config", directory="/plugins/")) == [
        "/plugins/Essentials/config.yml"]
    assert names(search(tree, pattern="config", directory="plugins")) == [
        "plugins/Essentials/config.yml"]


def test_content_search(tree):
    """``content`` (wingspan's addition): files holding the text, any case; with a
    pattern, both must match. Denylisted files are never read."""
    assert names(search(tree, content="needle")) == ["logs/latest.log", "plugins/readme.txt"]
    assert names(search(tree, content="needle", pattern=".txt")) == ["plugins/readme.txt"]
    assert names(search(tree, content="no such text")) == []


def test_denylist_and_skipped_directories(tree):
    assert names(search(tree, pattern="cfg")) == ["server.cfg"]
    assert names(search(tree, pattern="keys")) == []
    assert names(search(tree, pattern="node_modules")) == []


def test_symlinks_are_listed_never_followed(node):
    """A link to a directory outside the root (the sentinel beside the data directory) is
    found by its name, but nothing beyond it is ever listed or read."""
    node.put("inside.txt", b"the SECRET word\n")
    node.link("escape", node.sentinel)
    node.link("escape_file.txt", os.path.join(node.sentinel, "secret.txt"))
    assert names(search(node, pattern="secret")) == []
    assert names(search(node, pattern="escape")) == ["escape", "escape_file.txt"]
    assert [e["symlink"] for e in search(node, pattern="escape").json()] == [True, True]
    assert names(search(node, content="secret")) == ["inside.txt"]


def test_depth_is_bounded(node):
    deep = "/".join("d%d" % i for i in range(10))
    node.put(deep + "/found.txt")
    node.put("d0/d1/d2/d3/d4/d5/d6/d7/shallow_found.txt")
    assert names(search(node, pattern="found.txt")) == [
        "d0/d1/d2/d3/d4/d5/d6/d7/shallow_found.txt"]


def test_short_terms_are_400(node):
    for query, message in (({}, SHORT_PATTERN), ({"pattern": "ab"}, SHORT_PATTERN),
                           ({"content": "ab"}, SHORT_CONTENT),
                           ({"content": "abc", "pattern": "x"}, SHORT_PATTERN)):
        response = search(node, **query)
        assert response.status_code == 400
        assert response.json() == {"error": message}


def test_missing_or_escaping_directory_is_404(node):
    node.link("outside", node.sentinel)
    for directory in ("/nope", "/outside", "/../"):
        response = search(node, pattern="secret", directory=directory)
        assert response.status_code == 404
        assert response.json()["error"] == NOT_FOUND
