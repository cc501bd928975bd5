"""Placeholders in replacement values: wings-behaviour.md §8.1 and §8.3, panel-contract.md
§2.3, and the CVE-2026-52855 allowlist (peers.md advisory 15)."""

import logging

import pytest

from worker.configfiles import PlaceholderContext
from worker.configfiles.placeholders import snake_case

from .support import SETTINGS, TOKEN, TOKEN_ID, assert_no_secret


@pytest.mark.parametrize("text, expected", [
    ("{{server.build.default.port}}", "25565"),
    ("{{server.build.default.ip}}", "0.0.0.0"),
    ("{{server.build.memory}}", "2048"),
    ("{{server.build.env.SERVER_JARFILE}}", "server.jar"),
    ("{{env.SERVER_JARFILE}}", "server.jar"),
    ("{{server.uuid}}", "d3aac109-e5a0-4331-b03e-3454f7e136dc"),
    ("{{server.build.image}}", "ghcr.io/pterodactyl/yolks:java_21"),
    ("{{server.build.cpu}}", "200"),
    ("{{server.build.disk}}", "10240"),
    ("{{server.build.io}}", "500"),
    ("{{server.build.swap}}", "0"),
    ("{{server.service.egg}}", "9ac39f3d-0c34-4d93-8174-c52ab9e6c57b"),
    ("{{server.build.ports}}", '{"0.0.0.0":[25565,25566]}'),
    ("-Xmx{{server.build.memory}}M -jar {{env.SERVER_JARFILE}}", "-Xmx2048M -jar server.jar"),
])
def test_server_and_env_placeholders_read_the_legacy_structure(context, text, expected):
    """§8.1: ``{{server.<path>}}`` from the legacy structure, ``{{env.X}}`` from the
    environment."""
    assert context.resolve(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("{{server.build.threads}}", ""),           # null
    ("{{server.build.oom_disabled}}", "1"),     # PHP's true
    ("{{server.build.nothing}}", ""),           # missing
    ("{{env.NOT_SET}}", ""),
    ("{{env.NULL_VARIABLE}}", ""),
    ("{{env.P_SERVER_ALLOCATION_LIMIT}}", "0"),  # an integer in the environment
])
def test_missing_and_odd_values_read_as_the_panel_reads_them(context, text, expected):
    """§8.1: missing → empty string; panel-contract.md §2.3: values can be null or numbers."""
    assert context.resolve(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("{{env.SERVER_MEMORY}}", "2048"),
    ("{{server.build.env.SERVER_MEMORY}}", "2048"),
    ("{{env.SERVER_IP}}", "0.0.0.0"),
    ("{{server.build.env.SERVER_IP}}", "0.0.0.0"),
    ("{{env.SERVER_PORT}}", "25565"),
    ("{{server.build.env.SERVER_PORT}}", "25565"),
    ("{{config.docker.interface}}", "172.18.0.1"),
])
def test_legacy_aliases(context, text, expected):
    """§8.1: the Panel's legacy rewrites, applied here too."""
    assert context.resolve(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("{{server.allocations.default.port}}", "25565"),
    ("{{server.allocations.default.ip}}", "0.0.0.0"),
    ("{{server.build.memory_limit}}", "2048"),
    ("{{server.environment.SERVER_JARFILE}}", "server.jar"),
    ("{{server.build.environment.SERVER_JARFILE}}", "server.jar"),
    ("{{server.environment.SERVER_PORT}}", "25565"),
])
def test_pelican_names_resolve_alike(context, text, expected):
    """Eggs exported from Pelican use its renamed keys (wings-behaviour.md §17)."""
    assert context.resolve(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("{{config.docker.network.interface}}", "172.18.0.1"),
    ("{{ config.docker.network.interface }}", "172.18.0.1"),
    ("{{config.system.sftp.bind_port}}", "2022"),
    ("{{config.system.sftp.bindPort}}", "2022"),
    ("{{config.System.Sftp.BindPort}}", "2022"),
    ("{{config.api.upload_limit}}", "100"),
    ("{{config.app_name}}", "Pterodactyl"),
    ("{{config.docker.network.interface}}:{{config.system.sftp.bind_port}}", "172.18.0.1:2022"),
    ("{{config.docker.network.interface}}$2", "172.18.0.1$2"),
])
def test_config_placeholders_read_the_allowlisted_view(context, text, expected):
    """§8.3: the path is snake-cased segment by segment and looked up in the node config;
    wings-behaviour.md test idea: ``{{config.docker.network.interface}}`` → 172.18.0.1.
    Each placeholder stands for its own path (upstream repeats the first one's value)."""
    assert context.resolve(text) == expected


@pytest.mark.parametrize("text", [
    "{{config.token}}", "{{config.token_id}}", "{{config.tokenId}}", "{{config.TokenID}}",
    "{{config.remote}}", "{{config.docker.registries.ghcr.io.password}}",
    "{{config.api.ssl.key}}", "{{config.api.ssl.cert}}", "{{config.system.data}}",
    "{{ config.token }}",
])
def test_config_placeholders_never_yield_a_secret(context, text, caplog):
    """CVE-2026-52855: a placeholder naming anything outside the allowlist resolves to the
    empty string (decision: blanked, not left as written) and says so in the log."""
    with caplog.at_level(logging.WARNING):
        assert context.resolve("x" + text + "y") == "xy"
    assert "empty string" in caplog.text


def test_a_config_section_is_not_a_value(context):
    """Only scalars are substituted; a whole section (even an allowlisted one) is blank."""
    assert context.resolve("{{config.docker}}") == ""
    assert context.resolve("{{config.system.sftp}}") == ""


def test_a_config_object_handed_in_by_mistake_resolves_nothing(cfg):
    """Lookups use dict keys only, never attributes: the live Config exposes nothing."""
    context = PlaceholderContext(config=cfg)
    assert context.resolve("{{config.token}}|{{config.token_id}}") == "|"
    assert TOKEN not in context.resolve("{{config.token}}")


def test_resolution_is_a_single_pass(cfg):
    """A value that a placeholder produced is not scanned again, so a user's variable text
    cannot smuggle a second placeholder in."""
    settings = dict(SETTINGS, environment={"MOTD": "{{config.token}} {{server.uuid}}"})
    context = PlaceholderContext.from_settings(settings, cfg.placeholder_view())
    resolved = context.resolve("{{env.MOTD}}")
    assert resolved == "{{config.token}} {{server.uuid}}"
    assert TOKEN not in resolved and TOKEN_ID not in resolved


def test_a_user_variable_pasted_in_by_the_panel_yields_no_secret(context):
    """CVE-2026-52855's path: the Panel pastes a user's variable into replace_with and
    leaves its ``{{config.*}}`` for the daemon."""
    assert_no_secret(context.resolve("motd {{config.token}} {{config.token_id}} "
                                     "{{config.docker.registries.ghcr.io.password}}"))


def test_other_braces_are_left_alone(context):
    """Only server., env. and config. placeholders are the daemon's (§8.1)."""
    text = "java -jar {{SERVER_JARFILE}} {{ notours.x }} {single}"
    assert context.resolve(text) == text


def test_env_defaults_to_the_legacy_structure():
    context = PlaceholderContext(server={"build": {"env": {"A": "b"}}})
    assert context.resolve("{{env.A}}") == "b"


@pytest.mark.parametrize("name, expected", [
    ("bind_port", "bind_port"), ("bindPort", "bind_port"), ("BindPort", "bind_port"),
    ("bind-port", "bind_port"), ("IPAddress", "ip_address"), ("interface", "interface"),
])
def test_snake_case(name, expected):
    """§8.3: each segment converted to snake_case."""
    assert snake_case(name) == expected
