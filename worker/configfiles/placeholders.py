"""Resolving ``{{server.*}}``, ``{{env.*}}`` and ``{{config.*}}`` placeholders in egg
replacement values (wings-behaviour.md §8.1, §8.3; panel-contract.md §2.3).

The Panel normally fills ``{{server.*}}`` and ``{{env.*}}`` itself before it sends the
configuration, and leaves ``{{config.*}}`` for the daemon. A value the Panel filled can still
hold placeholders (a user's variable text is pasted in as it is), so all three kinds are
resolved here, in a single pass: text that a placeholder produces is never scanned again.

``{{config.<path>}}`` reads only the dict handed in as ``config``, which the caller builds
with ``Config.placeholder_view()``: an allowlist without a single secret (CVE-2026-52855).
Lookups go through dict keys only, never attributes, so even a Config object handed in by
mistake resolves nothing. A path that is not in that dict, or that names a whole section
rather than a value, resolves to the empty string and is logged; the node token, its id and
registry passwords are simply not there to be found. Upstream differs in two ways that are
not kept: it substitutes the value of the *first* config placeholder for every config
placeholder of the string, and blanks the whole value when that path is missing; here each
placeholder stands for its own path and only it is blanked.

``{{server.<path>}}`` reads the Panel's legacy server structure (``build.default.ip``,
``build.memory``, ``build.env.X``...) and ``{{env.X}}`` the server's environment; a missing
path gives the empty string, as in the Panel. Their values are turned into text the way the
Panel's PHP does (``null`` → empty, ``true`` → ``1``, ``false`` → empty), except that arrays
become JSON instead of the word ``Array``. The Panel's legacy aliases are applied
(``env.SERVER_PORT`` → ``server.build.default.port``...), and so are the key names of the
Pelican Panel (``server.allocations.default.port``, ``server.build.memory_limit``,
``server.environment.X``...), so eggs exported from either panel resolve alike.
"""

import json
import logging
import re
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{\{\s*((?:server|env|config)\.[\w.-]+)\s*\}\}", re.ASCII)

# Pelican's names for legacy keys: the first prefix is rewritten to the second.
_RENAMED_PREFIXES = (
    ("server.allocations.default", "server.build.default"),
    ("server.build.memory_limit", "server.build.memory"),
    ("server.build.environment", "server.build.env"),
    ("server.environment", "server.build.env"),
)

# The Panel's legacy rewrites (EggConfigurationService::replaceLegacyModifiers).
_LEGACY_KEYS = {
    "config.docker.interface": "config.docker.network.interface",
    "server.build.env.SERVER_MEMORY": "server.build.memory",
    "env.SERVER_MEMORY": "server.build.memory",
    "server.build.env.SERVER_IP": "server.build.default.ip",
    "env.SERVER_IP": "server.build.default.ip",
    "server.build.env.SERVER_PORT": "server.build.default.port",
    "env.SERVER_PORT": "server.build.default.port",
}

_ACRONYM_BOUNDARY = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CASE_BOUNDARY = re.compile(r"([a-z\d])([A-Z])")

_MISSING = object()


@dataclass
class PlaceholderContext:
    """What placeholders may read.

    Args:
        server: the Panel's legacy server structure (see :meth:`from_settings`).
        config: the allowlisted node configuration, ``cfg.placeholder_view()``.
        env: the server's environment; defaults to ``server["build"]["env"]``.
    """

    server: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    env: dict = None

    @classmethod
    def from_settings(cls, settings, config_view):
        """Build the context from the Panel's ``settings`` document (panel-contract.md §2.3)
        and ``cfg.placeholder_view()``."""
        return cls(server=legacy_structure(settings), config=config_view,
                   env=settings.get("environment") or {})

    def resolve(self, text):
        """``text`` with every placeholder replaced by its value."""
        return PLACEHOLDER.sub(lambda found: self._value_of(found.group(1)), text)

    def _value_of(self, key):
        kind, _, path = canonical_key(key).partition(".")
        if kind == "config":
            return self._config_text(path)
        if kind == "env":
            return panel_text(self._environment().get(path))
        value = _walk(self.server, path.split("."))
        return "" if value is _MISSING else panel_text(value)

    def _environment(self):
        if self.env is not None:
            return self.env
        return (self.server.get("build") or {}).get("env") or {}

    def _config_text(self, path):
        value = _walk(self.config, [snake_case(part) for part in path.split(".")])
        if value is _MISSING or isinstance(value, (dict, list)):
            log.warning("placeholder {{config.%s}} is not a value servers may read; "
                        "it is replaced with an empty string", path)
            return ""
        return json_text(value)


def legacy_structure(settings):
    """The Panel's legacy server structure (``returnLegacyFormat``) rebuilt from the
    current ``settings`` document, for ``{{server.*}}`` lookups."""
    build = settings.get("build") or {}
    allocations = settings.get("allocations") or {}
    default = allocations.get("default") or {}
    return {
        "uuid": settings.get("uuid"),
        "build": {
            "default": {"ip": default.get("ip"), "port": default.get("port")},
            "ports": allocations.get("mappings") or {},
            "env": settings.get("environment") or {},
            "oom_disabled": build.get("oom_disabled"),
            "memory": build.get("memory_limit"),
            "swap": build.get("swap"),
            "io": build.get("io_weight"),
            "cpu": build.get("cpu_limit"),
            "threads": build.get("threads"),
            "disk": build.get("disk_space"),
            "image": (settings.get("container") or {}).get("image"),
        },
        "service": {
            "egg": (settings.get("egg") or {}).get("id"),
            "skip_scripts": settings.get("skip_egg_scripts"),
        },
        "rebuild": False,
        "suspended": 1 if settings.get("suspended") else 0,
    }


def canonical_key(key):
    """The placeholder key after Pelican's renames and the Panel's legacy aliases."""
    for old, new in _RENAMED_PREFIXES:
        if key == old or key.startswith(old + "."):
            key = new + key[len(old):]
            break
    return _LEGACY_KEYS.get(key, key)


def snake_case(name):
    """``bindPort``, ``BindPort`` and ``bind-port`` all become ``bind_port``, as Wings'
    lookup converts each segment (§8.3)."""
    name = _ACRONYM_BOUNDARY.sub(r"\1_\2", name)
    name = _CASE_BOUNDARY.sub(r"\1_\2", name)
    return name.replace("-", "_").lower()


def json_text(value):
    """A value as raw JSON text, strings without their quotes (§8.3)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def panel_text(value):
    """A value as the Panel's PHP turns it into text, arrays aside (written as JSON)."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json_text(value)


def _walk(tree, path):
    node = tree
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return _MISSING
        node = node[name]
    return node
