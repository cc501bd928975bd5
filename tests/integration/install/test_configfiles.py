"""Egg configuration files rewritten before a start, on real sample files (wings-behaviour.md
§8, §2.3 step 5; wings-api.md §13.2; peers.md advisories #15 and #17).

One daemon and one server start for the whole module: every parser, the placeholders, the
size limit and the escape attempts are entries of the same ``process_configuration.configs``,
applied by the same pre-boot. Each test then reads what that start left on the host.
"""

import json
import os

import pytest

from tests.integration.install import helpers
from tests.support.daemon import CONTAINER_GID, CONTAINER_UID

pytestmark = pytest.mark.timeout(120)

MAX_BYTES = 4096
SERVER_NAME = "Wing & Span"
MAX_PLAYERS = "42"

PROPERTIES = (
    "#Minecraft server properties\n"
    "#Mon Jan 01 00:00:00 UTC 2024\n"
    "enable-jmx-monitoring=false\n"
    "server-ip=\n"
    "server-port=1\n"
    "motd=A Minecraft Server\n"
    "# players\n"
    "max-players=20\n"
    "online-mode=true\n"
)
INI = (
    "; game settings\n"
    "motd=old\n"
    "\n"
    "[server]\n"
    "port = 1\n"
    "name = Test\n"
    "\n"
    "[/Script/Engine.GameSession]\n"
    "MaxPlayers=10\n"
)
YAML = (
    "# proxy configuration\n"
    "listeners:\n"
    "  - host: 0.0.0.0:25577\n"
    "    motd: old\n"
    "servers:\n"
    "  lobby:\n"
    "    address: localhost:1\n"
    "    restricted: false\n"
    "  survival:\n"
    "    address: localhost:2\n"
    "    restricted: false\n"
    "settings:\n"
    "  memory: 0\n"
)
JSON = ('{"server": {"port": 1, "name": "old"}, '
        '"players": [{"name": "a", "op": false}, {"name": "b", "op": false}], '
        '"web": {"bind": "127.0.0.1"}}')
XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<config>\n"
    "  <server>\n"
    "    <port>1</port>\n"
    "  </server>\n"
    '  <players max="10"/>\n'
    "</config>\n"
)
BIG_JSON = '{"a": "%s"}' % ("x" * (MAX_BYTES + 100))
SENTINEL = b"sentinel bytes outside the server root\n"
ROOT_OWNED = "plugins/from-root/readme.txt"


def entry(path, parser, *replacements):
    """A ``configs`` entry; each replacement is ``(match, replace_with[, if_value])``."""
    return {"file": path, "parser": parser,
            "replace": [dict(zip(("match", "replace_with", "if_value"), r)) for r in replacements]}


CONFIGS = [
    entry("server.properties", "properties",
          ("server-ip", "0.0.0.0"),
          ("server-port", "{{server.build.default.port}}"),
          ("motd", "\u00a7a{{env.SERVER_NAME}}"),
          ("max-players", "{{env.MAX_PLAYERS}}", "20"),
          ("online-mode", "false", "false"),
          ("memory", "{{server.build.memory}}"),
          ("node-token", "{{config.token}}"),
          ("node-token-id", "{{config.token_id}}"),
          ("interface", "{{config.docker.network.interface}}")),
    entry("config/game.ini", "ini",
          ("server.port", "{{server.build.default.port}}"),
          ("motd", "Welcome to {{env.SERVER_NAME}}"),
          ("[/Script/Engine.GameSession].MaxPlayers", "{{env.MAX_PLAYERS}}"),
          ("rcon.password", "{{config.token}}")),
    entry("proxy/config.yml", "yaml",
          ("listeners[0].host", "0.0.0.0:{{server.build.default.port}}"),
          ("servers.*.address", "{{config.docker.network.interface}}:25565"),
          ("settings.memory", "{{server.build.memory}}"),
          ("settings.secret", "{{config.token}}")),
    entry("web/config.json", "json",
          ("server.port", "{{server.build.default.port}}"),
          ("server.name", "{{env.SERVER_NAME}}"),
          ("players.*.op", True),
          ("web.bind", "{{config.docker.network.interface}}"),
          ("web.token_id", "{{config.token_id}}"),
          ("web.token", "{{ config.token }}")),
    entry("config.xml", "xml",
          ("config.server.port", "{{server.build.default.port}}"),
          ("config.players", "[max='{{env.MAX_PLAYERS}}']"),
          ("config.server.secret", "{{config.token}}")),
    entry("eula.txt", "file", ("eula=", "eula=true")),
    entry("created/new.properties", "properties", ("port", "{{server.build.default.port}}")),
    entry("big.json", "json", ("a", "changed")),
    entry("../escaped.properties", "properties", ("a", "b")),
    entry("/../../escaped-root.properties", "properties", ("a", "b")),
    entry("linked.properties", "properties", ("a", "b")),
    entry("linkdir/inner.properties", "properties", ("a", "b")),
]

SAMPLES = {
    "server.properties": PROPERTIES,
    "config/game.ini": INI,
    "proxy/config.yml": YAML,
    "web/config.json": JSON,
    "config.xml": XML,
    "eula.txt": "#By changing the setting below to TRUE you agree\neula=false\n",
    "big.json": BIG_JSON,
}


class StartedNode:
    """The module's daemon after the one start, and where things are on the host."""

    def __init__(self, panel, daemon, uuid):
        self.panel = panel
        self.daemon = daemon
        self.uuid = uuid
        self.base_dir = daemon.base_dir
        self.sentinel = sentinel_directory(daemon)
        self.root = helpers.server_root(daemon, uuid)
        self.record = panel.servers[uuid]

    @property
    def port(self):
        return self.record["settings"]["allocations"]["default"]["port"]

    def read(self, relative):
        with open(os.path.join(self.root, relative), "rb") as f:
            return f.read().decode()


def sentinel_directory(daemon):
    """Beside the data directory: where a path escaping a server root would land."""
    return os.path.join(daemon.base_dir, "sentinel")


def put(path, text, uid=CONTAINER_UID, gid=CONTAINER_GID):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.chown(path, uid, gid)


def prepare_host(panel, daemon):
    """The sample files in the root, a sentinel beside the data directory and two symlinks
    from the root to it, as a container could leave them."""
    uuid, = panel.servers
    data_dir = daemon.config["system"]["data"]
    root = os.path.join(data_dir, uuid)
    sentinel = sentinel_directory(daemon)
    put(os.path.join(sentinel, "target.properties"), SENTINEL, 0, 0)
    for relative, text in SAMPLES.items():
        put(os.path.join(root, relative), text)
    put(os.path.join(root, ROOT_OWNED), "uploaded by an operator as root\n", 0, 0)
    os.symlink(os.path.join(sentinel, "target.properties"), os.path.join(root, "linked.properties"))
    os.symlink(sentinel, os.path.join(root, "linkdir"))
    for path in (root, data_dir):
        os.chown(path, CONTAINER_UID, CONTAINER_GID)


@pytest.fixture(scope="module")
def started(docker_client, test_network, session_id, tmp_path_factory):
    server = {"configs": CONFIGS,
              "environment": {"SERVER_NAME": SERVER_NAME, "MAX_PLAYERS": MAX_PLAYERS}}
    with helpers.module_node(docker_client, test_network, session_id,
                             str(tmp_path_factory.mktemp("configfiles")), [server],
                             {"wingspan": {"config_file_max_bytes": MAX_BYTES}},
                             prepare_host) as (panel, daemon):
        uuid, = panel.servers
        assert daemon.power(uuid, "start").status_code == 202
        daemon.wait_state(uuid, "running", timeout=30)
        yield StartedNode(panel, daemon, uuid)


@pytest.fixture
def node(request, started):
    request.node.wingspan_daemons = [started.daemon]
    return started


def interface(node):
    """``docker.network.interface`` as the daemon settled it at boot (the session network's
    gateway), the value of ``{{config.docker.network.interface}}`` (§8.3)."""
    return node.daemon.config["docker"]["network"]["interfaces"]["v4"]["gateway"]


def test_properties(node):
    """§8.4 properties, §18 item 32: values set in place, the leading comment block kept,
    non-ASCII written as \\uXXXX, an if_value that holds applied and one that does not
    ignored, missing keys appended; {{server.*}}, {{env.*}} and {{config.*}} resolved.
    (Comments further down are kept too: wingspan edits lines, Wings re-serialises.)"""
    assert node.read("server.properties") == (
        "#Minecraft server properties\n"
        "#Mon Jan 01 00:00:00 UTC 2024\n"
        "enable-jmx-monitoring=false\n"
        "server-ip=0.0.0.0\n"
        "server-port=%d\n"
        "motd=\\u00a7aWing & Span\n"
        "# players\n"
        "max-players=42\n"
        "online-mode=true\n"
        "memory=256\n"
        "node-token=\n"
        "node-token-id=\n"
        "interface=%s\n" % (node.port, interface(node)))


def test_ini(node):
    """§8.4 ini: ``section.key`` and ``[section.with.dots].key`` matches, a bare key in the
    default section, a missing section appended; untouched lines kept as written."""
    assert node.read("config/game.ini") == (
        "; game settings\n"
        "motd=Welcome to Wing & Span\n"
        "\n"
        "[server]\n"
        "port = %d\n"
        "name = Test\n"
        "\n"
        "[/Script/Engine.GameSession]\n"
        "MaxPlayers=42\n"
        "\n"
        "[rcon]\n"
        "password=\n" % node.port)


def test_yaml(node):
    """§8.4 yaml, §8.5, §18 item 33: ``listeners[0].host`` sets the first item,
    ``servers.*.address`` every child (wildcard), an integer-looking placeholder result
    becomes a number; comments and key order survive (ruamel round trip)."""
    assert node.read("proxy/config.yml") == (
        "# proxy configuration\n"
        "listeners:\n"
        "  - host: 0.0.0.0:%d\n"
        "    motd: old\n"
        "servers:\n"
        "  lobby:\n"
        "    address: %s:25565\n"
        "    restricted: false\n"
        "  survival:\n"
        "    address: %s:25565\n"
        "    restricted: false\n"
        "settings:\n"
        "  memory: 256\n"
        "  secret: ''\n" % (node.port, interface(node), interface(node)))


def test_json(node):
    """§8.4 json, §8.5, §18 item 34: a port placeholder written as a number, a wildcard over
    an array, a JSON boolean kept boolean; 4-space indent (key order as in the file)."""
    assert json.loads(node.read("web/config.json")) == {
        "server": {"port": node.port, "name": SERVER_NAME},
        "players": [{"name": "a", "op": True}, {"name": "b", "op": True}],
        "web": {"bind": interface(node), "token_id": "", "token": ""}}
    assert node.read("web/config.json").startswith('{\n    "server": {\n        "port": ')


def test_xml(node):
    """§8.4 xml, §18 item 35: an element's text set, ``[max='..']`` sets an attribute, a
    missing element below the root created; 2-space indentation."""
    assert node.read("config.xml") == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<config>\n"
        "  <server>\n"
        "    <port>%d</port>\n"
        "    <secret></secret>\n"
        "  </server>\n"
        '  <players max="42"/>\n'
        "</config>\n" % node.port)


def test_plain_file(node):
    """§8.4 file: a line starting with the match is replaced whole, the others kept."""
    assert node.read("eula.txt") == ("#By changing the setting below to TRUE you agree\n"
                                     "eula=true\n")


def test_missing_file_is_created(node):
    """§8.2: a missing file (and its directory) is created, 0644 in a 0755 directory, owned
    by the container user."""
    path = os.path.join(node.root, "created/new.properties")
    assert node.read("created/new.properties") == "port=%d\n" % node.port
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o755
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (CONTAINER_UID, CONTAINER_GID)


def test_no_node_secret_reaches_server_files(node):
    """CVE-2026-52855 (peers.md advisory #15): {{config.token}} and {{config.token_id}}
    resolve to nothing; neither the node token nor its id is in any file of the server."""
    secrets = (node.panel.node.token.encode(), node.panel.node.token_id.encode())
    for directory, _, names in os.walk(node.root):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                content = f.read()
            assert not any(secret in content for secret in secrets), path


def test_oversized_file_left_unchanged(node):
    """CVE-2026-52857 (peers.md advisory #17): a file over wingspan.config_file_max_bytes
    is not parsed and left byte for byte as it was; the start goes on (§8.2)."""
    assert node.read("big.json") == BIG_JSON
    assert node.daemon.state(node.uuid) == "running"


def test_the_start_gives_the_tree_to_the_container_user_but_not_what_links_point_at(node):
    """``system.check_permissions_on_boot`` (on by default): before the start, the root is
    chowned to the container user without following symlinks (wings-behaviour.md §2.3)."""
    for path in (ROOT_OWNED, os.path.dirname(ROOT_OWNED)):
        info = os.lstat(os.path.join(node.root, path))
        assert (info.st_uid, info.st_gid) == (CONTAINER_UID, CONTAINER_GID), path
    target = os.stat(os.path.join(node.sentinel, "target.properties"))
    assert (target.st_uid, target.st_gid) == (0, 0)


def test_paths_outside_the_root_are_not_touched(node):
    """§8.2, wings-behaviour.md §9.1: config paths are relative to the server root; ``..``,
    an absolute path climbing out, a symlinked file and a symlinked directory pointing out
    of the root neither create nor change anything outside it."""
    data_dir = node.daemon.config["system"]["data"]
    with open(os.path.join(node.sentinel, "target.properties"), "rb") as f:
        assert f.read() == SENTINEL
    assert sorted(os.listdir(node.sentinel)) == ["target.properties"]
    # beside the server roots only the SFTP host key's directory (wings-behaviour.md §12.1)
    assert sorted(os.listdir(data_dir)) == [".sftp", node.uuid]
    for outside in (os.path.join(node.base_dir, "escaped.properties"),
                    os.path.join(node.base_dir, "escaped-root.properties"),
                    "/escaped-root.properties", "/escaped.properties"):
        assert not os.path.lexists(outside), outside
