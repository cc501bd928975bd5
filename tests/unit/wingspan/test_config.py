"""The node config model: keys and defaults (wings-api.md §15.2, wings-behaviour.md §1), loading
and writing (§15.1), POST /api/update semantics (§3.2, §15.3, CVE-2024-34066 in peers.md),
placeholders (§13.2, CVE-2026-52855) and the Panel's generated file (panel-contract.md §5)."""

import os
import stat

import pytest
import yaml

from wingspan import config, errors
from wingspan.config import Config, ConfigError

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "packaging",
                       "config.example.yml")

# panel-contract.md §5, verbatim: the YAML an administrator copies from the Panel.
PANEL_YAML = """\
debug: false
uuid: 8d4f6b2c-1e0a-4f5e-9a77-3c1b2d4e5f60
token_id: Xq3T9bV1kP0aL7mZ
token: 4rV0c1ZQk8nT2xW5bL7mP9sD3fG6hJ1kL2zX4cV6bN8mQ0wE2rT4yU6iO8pA0sD2f
api:
  host: 0.0.0.0
  port: 8080
  ssl:
    enabled: true
    cert: /etc/letsencrypt/live/node1.example.com/fullchain.pem
    key: /etc/letsencrypt/live/node1.example.com/privkey.pem
  upload_limit: 100
system:
  data: /var/lib/pterodactyl/volumes
  sftp:
    bind_port: 2022
allowed_mounts: []
remote: 'https://panel.example.com'
"""

# wings-api.md §15.2 and wings-behaviour.md §1: every key and its default.
WINGS_DEFAULTS = {
    "debug": False,
    "app_name": "Pterodactyl",
    "uuid": "",
    "token_id": "",
    "token": "",
    "api.host": "0.0.0.0",
    "api.port": 8080,
    "api.ssl.enabled": False,
    "api.ssl.cert": "",
    "api.ssl.key": "",
    "api.disable_remote_download": False,
    "api.upload_limit": 100,
    "api.trusted_proxies": [],
    "system.root_directory": "/var/lib/pterodactyl",
    "system.log_directory": "/var/log/pterodactyl",
    "system.data": "/var/lib/pterodactyl/volumes",
    "system.archive_directory": "/var/lib/pterodactyl/archives",
    "system.backup_directory": "/var/lib/pterodactyl/backups",
    "system.tmp_directory": "/tmp/pterodactyl",
    "system.username": "pterodactyl",
    "system.timezone": "",
    "system.user.rootless.enabled": False,
    "system.user.rootless.container_uid": 0,
    "system.user.rootless.container_gid": 0,
    "system.user.uid": 0,  # "detected": overwritten at boot from the system user
    "system.user.gid": 0,
    "system.disk_check_interval": 150,
    "system.activity_send_interval": 60,
    "system.activity_send_count": 100,
    "system.check_permissions_on_boot": True,
    "system.enable_log_rotate": True,
    "system.websocket_log_count": 150,
    "system.sftp.bind_address": "0.0.0.0",
    "system.sftp.bind_port": 2022,
    "system.sftp.read_only": False,
    "system.sftp.key_only": False,
    "system.crash_detection.enabled": True,
    "system.crash_detection.detect_clean_exit_as_crash": True,
    "system.crash_detection.timeout": 60,
    "system.backups.write_limit": 0,
    "system.backups.compression_level": "best_speed",
    "system.transfers.download_limit": 0,
    "system.openat_mode": "auto",
    "docker.network.interface": "172.18.0.1",
    "docker.network.dns": ["1.1.1.1", "1.0.0.1"],
    "docker.network.name": "pterodactyl_nw",
    "docker.network.ispn": False,
    "docker.network.driver": "bridge",
    "docker.network.network_mode": "pterodactyl_nw",
    "docker.network.is_internal": False,
    "docker.network.enable_icc": True,
    "docker.network.network_mtu": 1500,
    "docker.network.interfaces.v4.subnet": "172.18.0.0/16",
    "docker.network.interfaces.v4.gateway": "172.18.0.1",
    "docker.network.interfaces.v6.subnet": "fdba:17c8:6c94::/64",
    "docker.network.interfaces.v6.gateway": "fdba:17c8:6c94::1011",
    "docker.domainname": "",
    "docker.registries": {},
    "docker.tmpfs_size": 100,
    "docker.container_pid_limit": 512,
    "docker.installer_limits.memory": 1024,
    "docker.installer_limits.cpu": 100,
    "docker.overhead.override": False,
    "docker.overhead.default_multiplier": 1.05,
    "docker.overhead.multipliers": {},
    "docker.use_performant_inspect": True,
    "docker.userns_mode": "",
    "docker.log_config.type": "local",
    "docker.log_config.config": {"max-size": "5m", "max-file": "1", "compress": "false",
                                 "mode": "non-blocking"},
    "docker.system_ips": [],  # Pelican's: extra addresses for GET /api/system/ips
    "throttles.enabled": True,
    "throttles.lines": 2000,
    "throttles.line_reset_interval": 100,
    "remote": "",
    "remote_query.timeout": 30,
    "remote_query.boot_servers_per_page": 50,
    "allowed_mounts": [],
    "allowed_origins": [],
    "allow_cors_private_network": False,
    "ignore_panel_config_updates": False,
}

# The task's table for wingspan's own section.
WINGSPAN_DEFAULTS = {
    "wingspan.run_directory": "/run/wingspan",
    "wingspan.metrics_public": False,
    "wingspan.disable_openapi_docs": False,
    "wingspan.console_buffer_lines": 1000,
    "wingspan.max_request_body": 1024 * 1024,
    "wingspan.config_file_max_bytes": 16 * 1024 * 1024,
    "wingspan.mime_cache_entries": 200000,
    "wingspan.transfer_idle_timeout": 60,
    "wingspan.websocket.max_connections_per_server": 30,
    "wingspan.websocket.auth_timeout": 30,
    "wingspan.websocket.max_message_bytes": 32768,
    "wingspan.worker.boot_timeout": 30,
    "wingspan.worker.stop_timeout": 10,
    "wingspan.worker.max_failures": 5,
    "wingspan.worker.stable_after": 60,
    "wingspan.worker.backoff_initial": 0.5,
    "wingspan.worker.backoff_max": 60,
    "wingspan.worker.merge_pages": True,
    "wingspan.sftp.login_timeout": 30,
    "wingspan.sftp.window": 60,
    "wingspan.sftp.failures_per_user": 3,
    "wingspan.sftp.failures_per_ip": 20,
    "wingspan.sftp.connections_per_user": 20,
    "wingspan.sftp.channels_per_connection": 4,
    "wingspan.sftp.handles_per_session": 256,
    "wingspan.sftp.handles_per_server": 1024,
    "wingspan.sftp.recheck_interval": 300,
    "wingspan.activity.max_stored": 500000,
    "wingspan.panelless_directory": "",
    "wingspan.remove_backups_on_server_delete": True,
}

ALL_DEFAULTS = {**WINGS_DEFAULTS, **WINGSPAN_DEFAULTS}


def leaf_keys(tree, prefix=""):
    """Dotted keys of a YAML-shaped dict; a map-valued key (registries) is one leaf."""
    keys = set()
    for key, value in tree.items():
        dotted = prefix + str(key)
        if isinstance(value, dict) and any(k.startswith(dotted + ".") for k in ALL_DEFAULTS):
            keys |= leaf_keys(value, dotted + ".")
        else:
            keys.add(dotted)
    return keys


def write(tmp_path, text, name="config.yml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load_text(tmp_path, text):
    return config.load(write(tmp_path, text))


def problems_of(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    return caught.value


def panel_config(tmp_path):
    return load_text(tmp_path, PANEL_YAML)


# -- keys and defaults -----------------------------------------------------------------------

@pytest.mark.parametrize("dotted, expected", sorted(ALL_DEFAULTS.items()))
def test_default_matches_the_spec_table(dotted, expected):
    """wings-api.md §15.2 / wings-behaviour.md §1 defaults, reachable at the YAML path."""
    value = config.get_key(Config(), dotted)
    assert value == expected
    assert type(value) is type(expected)


def test_the_model_has_exactly_the_spec_keys():
    """No key missing from, or invented beyond, §15.2 + the wingspan section."""
    assert leaf_keys(Config().to_dict()) == set(ALL_DEFAULTS)


def test_mutable_defaults_are_not_shared():
    a, b = Config(), Config()
    a.docker.network.dns.append("9.9.9.9")
    a.docker.log_config.config["max-size"] = "1m"
    assert b.docker.network.dns == ["1.1.1.1", "1.0.0.1"]
    assert b.docker.log_config.config["max-size"] == "5m"


def test_every_key_has_help_text():
    """Each declaration carries a short help string (house rule 9)."""
    def walk(section_class):
        for f in config._settings(section_class):
            assert f.metadata["doc"].strip(), f.name
            if f.metadata.get("section"):
                walk(f.type)
    walk(Config)


def test_registries_are_name_to_credentials():
    cfg = Config.from_dict({"docker": {"registries": {
        "ghcr.io": {"username": "me", "password": "pw"}}}})
    registry = cfg.docker.registries["ghcr.io"]
    assert (registry.username, registry.password) == ("me", "pw")
    assert "pw" not in repr(cfg)


# -- loading ---------------------------------------------------------------------------------

def test_panel_generated_yaml_loads_unchanged(tmp_path):
    """panel-contract.md §5: the copied YAML is a complete config; the rest defaults."""
    cfg = panel_config(tmp_path)
    assert cfg.uuid == "8d4f6b2c-1e0a-4f5e-9a77-3c1b2d4e5f60"
    assert cfg.token_id == "Xq3T9bV1kP0aL7mZ"
    assert cfg.token == "4rV0c1ZQk8nT2xW5bL7mP9sD3fG6hJ1kL2zX4cV6bN8mQ0wE2rT4yU6iO8pA0sD2f"
    assert cfg.api.ssl.enabled is True
    assert cfg.api.ssl.cert == "/etc/letsencrypt/live/node1.example.com/fullchain.pem"
    assert cfg.remote == "https://panel.example.com"
    assert cfg.system.sftp.bind_port == 2022
    assert cfg.system.root_directory == "/var/lib/pterodactyl"
    assert cfg.docker.network.interface == "172.18.0.1"
    assert cfg.remote_query.boot_servers_per_page == 50
    assert cfg.unknown_keys == {}
    cfg.validate_for_serving()


def test_missing_file_names_the_path(tmp_path):
    """§15.1: a missing file stops the daemon with a notice."""
    path = str(tmp_path / "nope.yml")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert path in str(caught.value)
    assert "not found" in str(caught.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    error = problems_of(tmp_path, "debug: false\napi:\n  port: [8080\n  host: x\n")
    text = str(error)
    assert str(tmp_path / "config.yml") in text
    assert "YAML syntax error at line 4" in text


def test_empty_file_is_all_defaults(tmp_path):
    assert load_text(tmp_path, "").api.port == 8080


def test_top_level_must_be_a_mapping(tmp_path):
    assert "must contain a mapping" in str(problems_of(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize("text, message", [
    ("api: {port: abc}", "api.port: must be an integer between 1 and 65535, got 'abc'"),
    ("api: {port: 70000}", "api.port: must be an integer between 1 and 65535, got 70000"),
    ("api: {port: true}", "api.port: must be an integer between 1 and 65535, got true"),
    ("api: {port: 8080.5}", "api.port: must be an integer between 1 and 65535, got 8080.5"),
    ("debug: 'yes'", "debug: must be true or false, got 'yes'"),
    ("debug: 1", "debug: must be true or false, got 1"),
    ("system: {sftp: {bind_port: 0}}",
     "system.sftp.bind_port: must be an integer between 1 and 65535, got 0"),
    ("system: {disk_check_interval: -1}",
     "system.disk_check_interval: must be a non-negative integer, got -1"),
    ("system: {crash_detection: {timeout: -5}}",
     "system.crash_detection.timeout: must be a non-negative integer, got -5"),
    ("throttles: {lines: 0}", "throttles.lines: must be a positive integer, got 0"),
    ("throttles: {line_reset_interval: 0}",
     "throttles.line_reset_interval: must be a positive integer, got 0"),
    ("remote_query: {timeout: 0}", "remote_query.timeout: must be a positive integer, got 0"),
    ("system: {timezone: Mars/Olympus}",
     "system.timezone: must be a time zone name such as Europe/Berlin, or empty, "
     "got 'Mars/Olympus'"),
    ("remote: ftp://panel", "remote: must be an http(s) URL"),
    ("remote: panel.example.com", "remote: must be an http(s) URL"),
    ("remote: local://relative/dir", "remote: must be an http(s) URL"),
    ("system: {backups: {compression_level: fast}}",
     "system.backups.compression_level: must be one of none, best_speed, best_compression"),
    ("system: {openat_mode: fast}", "system.openat_mode: must be one of auto, openat2, openat"),
    ("app_name: 123", "app_name: must be a string, got 123 (put it in quotes)"),
    ("docker: {network: {dns: [1.1.1.1, dns.google]}}",
     "docker.network.dns: must be a list of IP addresses, got 'dns.google' among its entries"),
    ("docker: {network: {dns: 1.1.1.1}}", "docker.network.dns: must be a list of IP addresses"),
    ("docker: {network: {interfaces: {v4: {subnet: 'fdba::/64'}}}}",
     "docker.network.interfaces.v4.subnet: must be an IPv4 subnet in CIDR form"),
    ("docker: {network: {interfaces: {v6: {gateway: 172.18.0.1}}}}",
     "docker.network.interfaces.v6.gateway: must be an IPv6 address"),
    ("docker: {network: {interface: eth0}}", "docker.network.interface: must be an IP address"),
    ("api: {trusted_proxies: [10.0.0.0/8, nope]}",
     "api.trusted_proxies: must be a list of IP addresses or CIDR ranges"),
    ("api: {upload_limit: 0}", "api.upload_limit: must be a positive integer, got 0"),
    ("docker: {log_config: {config: {max-file: 1}}}",
     "docker.log_config.config: must be a mapping of option names to strings"),
    ("docker: {overhead: {multipliers: {2048: -1}}}",
     "docker.overhead.multipliers: must be a mapping of memory limits in MB"),
    ("docker: {overhead: {default_multiplier: 0}}",
     "docker.overhead.default_multiplier: must be a positive number, got 0"),
    ("docker: {registries: {ghcr.io: [a]}}", "docker.registries.ghcr.io: must be a mapping"),
    ("api: 5", "api: must be a mapping of keys, got 5"),
    ("wingspan: {worker: {max_failures: 0}}",
     "wingspan.worker.max_failures: must be a positive integer, got 0"),
    ("wingspan: {worker: {backoff_initial: 10, backoff_max: 5}}",
     "wingspan.worker.backoff_max: must be at least wingspan.worker.backoff_initial (10), got 5"),
    ("wingspan: {websocket: {auth_timeout: 0}}",
     "wingspan.websocket.auth_timeout: must be a positive number, got 0"),
    ("wingspan: {run_directory: run}", "wingspan.run_directory: must be an absolute path"),
])
def test_bad_value_names_its_key(tmp_path, text, message):
    error = problems_of(tmp_path, text)
    assert message in str(error)
    assert str(tmp_path / "config.yml") in str(error)


def test_every_problem_is_reported_at_once(tmp_path):
    error = problems_of(tmp_path, "api: {port: abc}\nthrottles: {lines: 0}\ndebug: 2\n")
    assert [problem.key for problem in error.problems] == ["api.port", "throttles.lines", "debug"]
    assert "3 problems" in str(error)
    for key in ("api.port", "throttles.lines", "debug"):
        assert key + ":" in str(error)


def test_secret_values_never_appear_in_messages(tmp_path):
    error = problems_of(tmp_path, "token: 9876543210123\ndocker: {registries: "
                                  "{r: {password: 5555555555}}}\n")
    assert "9876543210123" not in str(error)
    assert "5555555555" not in str(error)
    assert "token: must be a string, got an integer" in str(error)


def test_null_values_read_like_wings(tmp_path):
    cfg = load_text(tmp_path, "token:\napi:\nallowed_origins:\ndocker: {registries: }\n")
    assert cfg.token == ""
    assert cfg.api.port == 8080
    assert cfg.allowed_origins == []
    assert cfg.docker.registries == {}


def test_valid_timezone_is_kept(tmp_path):
    """Zones with digits and signs are valid as configured (wings-behaviour.md §1 QUIRK)."""
    assert load_text(tmp_path, "system: {timezone: Etc/GMT+3}").system.timezone == "Etc/GMT+3"


def test_empty_timezone_is_detected_at_load(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert load_text(tmp_path, "system: {timezone: ''}").system.timezone == "Europe/Berlin"


def test_timezone_detection_order(tmp_path):
    """TZ env -> /etc/timezone -> /etc/localtime link -> UTC; junk characters stripped."""
    zone_file = tmp_path / "timezone"
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    detect = config.detect_timezone
    assert detect({"TZ": ":America/New_York"}, str(zone_file), str(link)) == "America/New_York"
    zone_file.write_text("America/Port-au-Prince\n")
    assert detect({}, str(zone_file), str(link)) == "America/Port-au-Prince"
    zone_file.write_text("Nowhere/Special\n")
    assert detect({"TZ": "Bogus"}, str(zone_file), str(link)) == "Asia/Tokyo"
    assert detect({}, str(tmp_path / "missing"), str(tmp_path / "missing")) == "UTC"


def test_remote_accepts_urls_empty_and_local(tmp_path):
    for remote in ("https://panel.example.com", "http://10.0.0.2:8000/", "", "local:///srv/defs"):
        assert Config.from_dict({"remote": remote}).remote == remote


def test_local_definitions_directory():
    assert Config.from_dict({"remote": "local:///srv/defs"}).local_definitions_directory() \
        == "/srv/defs"
    assert Config.from_dict({"wingspan": {"panelless_directory": "/srv/x"}}) \
        .local_definitions_directory() == "/srv/x"
    assert Config.from_dict({"remote": "https://p.example"}).local_definitions_directory() is None


# -- serving ---------------------------------------------------------------------------------

def test_empty_token_loads_but_cannot_serve(tmp_path):
    """wings-api.md §1.5 [REC]: refuse to serve with an empty node token."""
    cfg = load_text(tmp_path, "remote: 'local:///srv/panel'\n")
    with pytest.raises(ConfigError) as caught:
        cfg.validate_for_serving()
    assert [problem.key for problem in caught.value.problems] == ["token"]
    assert "token: must not be empty" in str(caught.value)


def test_serving_needs_a_panel_or_a_local_directory():
    cfg = Config.from_dict({"token": "t", "remote": ""})
    with pytest.raises(ConfigError) as caught:
        cfg.validate_for_serving()
    assert [problem.key for problem in caught.value.problems] == ["remote"]
    Config.from_dict({"token": "t", "remote": "",
                      "wingspan": {"panelless_directory": "/srv/p"}}).validate_for_serving()


def test_serving_needs_ssl_files_and_panel_credentials():
    cfg = Config.from_dict({"token": "t", "remote": "https://p.example",
                            "api": {"ssl": {"enabled": True}}})
    with pytest.raises(ConfigError) as caught:
        cfg.validate_for_serving()
    assert [p.key for p in caught.value.problems] == ["token_id", "api.ssl.cert", "api.ssl.key"]


def test_runtime_debug_enables_debug_but_is_not_saved(tmp_path):
    """§15.1: --debug given on the command line is not persisted."""
    cfg = Config()
    cfg.runtime_debug = True
    assert cfg.debug_enabled is True
    path = str(tmp_path / "out.yml")
    cfg.save(path)
    saved = yaml.safe_load(open(path))
    assert saved["debug"] is False
    assert "runtime_debug" not in saved


# -- writing ---------------------------------------------------------------------------------

def test_save_writes_0600_yaml_that_loads_back(tmp_path):
    cfg = panel_config(tmp_path)
    cfg.docker.registries["ghcr.io"] = config.Registry("me", "pw")
    cfg.docker.overhead.multipliers = {2048: 1.15, 4096: 1.1}
    path = str(tmp_path / "saved.yml")
    cfg.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = config.load(path)
    assert again == cfg
    assert again.docker.overhead.multipliers == {2048: 1.15, 4096: 1.1}


def test_save_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    path = write(tmp_path, "debug: true\n")
    os.chmod(path, 0o644)
    inode = os.stat(path).st_ino
    Config().save(path)
    assert os.stat(path).st_ino != inode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["config.yml"]
    assert yaml.safe_load(open(path))["debug"] is False


def test_save_writes_through_a_symlink(tmp_path):
    real = write(tmp_path, "", name="real.yml")
    link = tmp_path / "config.yml"
    link.symlink_to(real)
    Config(app_name="Wingspan").save(str(link))
    assert os.path.islink(link)
    assert yaml.safe_load(open(real))["app_name"] == "Wingspan"


def test_save_refuses_a_value_that_would_not_load_back(tmp_path):
    cfg = Config()
    cfg.api.port = "8080"
    path = str(tmp_path / "out.yml")
    with pytest.raises(ConfigError, match="api.port"):
        cfg.save(path)
    assert not os.path.exists(path)


def test_unknown_keys_survive_save_and_load(tmp_path):
    """Wings ignores unknown keys; we keep them, at every level, in place."""
    text = PANEL_YAML + (
        "future_top: {a: 1}\n"
        "system:\n  data: /var/lib/pterodactyl/volumes\n  passwd: {enabled: true}\n"
        "  backups: {restore_host_allowlist: [10.0.0.0/8]}\n"
        "docker:\n  registries:\n    ghcr.io: {username: u, password: p, email: e@x}\n"
        "  network: {interfaces: {v6: {enabled: false}}}\n"
        "wingspan: {later: 3}\n")
    cfg = load_text(tmp_path, text)
    path = str(tmp_path / "saved.yml")
    cfg.save(path)
    saved = yaml.safe_load(open(path))
    assert saved["future_top"] == {"a": 1}
    assert saved["system"]["passwd"] == {"enabled": True}
    assert saved["system"]["backups"]["restore_host_allowlist"] == ["10.0.0.0/8"]
    assert saved["docker"]["registries"]["ghcr.io"]["email"] == "e@x"
    assert saved["docker"]["network"]["interfaces"]["v6"]["enabled"] is False
    assert saved["wingspan"]["later"] == 3
    assert config.load(path) == cfg


def test_to_dict_round_trips_through_from_dict():
    cfg = Config.from_dict({"api": {"port": 9090}, "x": [1]}, source="test")
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["x"] == [1]


def test_example_file_documents_every_key_with_its_default():
    """packaging/config.example.yml: complete, no stray keys, defaults except identity."""
    with open(EXAMPLE) as f:
        raw = yaml.safe_load(f)
    assert leaf_keys(raw) == set(ALL_DEFAULTS)
    cfg = config.load(EXAMPLE)
    assert cfg.unknown_keys == {}
    identity = {"uuid", "token_id", "token", "remote", "system.timezone"}
    for dotted, expected in ALL_DEFAULTS.items():
        if dotted not in identity:
            assert config.get_key(cfg, dotted) == expected, dotted
    assert cfg.token.startswith("CHANGE-ME")
    cfg.validate_for_serving()


# -- POST /api/update ------------------------------------------------------------------------

PANEL_UPDATE = {  # wings-api.md §3.2: what the Panel sends
    "debug": False, "uuid": "8d4f6b2c-1e0a-4f5e-9a77-3c1b2d4e5f60",
    "token_id": "Xq3T9bV1kP0aL7mZ",
    "token": "4rV0c1ZQk8nT2xW5bL7mP9sD3fG6hJ1kL2zX4cV6bN8mQ0wE2rT4yU6iO8pA0sD2f",
    "api": {"host": "0.0.0.0", "port": 8080, "ssl": {
        "enabled": True, "cert": "/etc/letsencrypt/live/node1.example.com/fullchain.pem",
        "key": "/etc/letsencrypt/live/node1.example.com/privkey.pem"}, "upload_limit": 100},
    "system": {"data": "/var/lib/pterodactyl/volumes", "sftp": {"bind_port": 2022}},
    "allowed_mounts": [], "remote": "https://panel.example.com",
}


def test_panel_update_of_an_unchanged_node_changes_nothing(tmp_path):
    cfg = panel_config(tmp_path)
    assert cfg.apply_update(PANEL_UPDATE) == cfg


def test_partial_update_keeps_absent_keys_and_leaves_the_original_alone(tmp_path):
    """§3.2: decoded on top of a copy; absent keys keep their value."""
    cfg = panel_config(tmp_path)
    cfg.throttles.lines = 500
    updated = cfg.apply_update({"api": {"upload_limit": 250}, "debug": True})
    assert updated.api.upload_limit == 250
    assert updated.debug is True
    assert updated.api.port == 8080
    assert updated.throttles.lines == 500
    assert cfg.api.upload_limit == 100 and cfg.debug is False
    assert updated is not cfg and updated.api is not cfg.api


@pytest.mark.parametrize("body, dotted, expected", [
    ({"system": {"sftp": {"bind_port": 2222}}}, "system.sftp.bind_port", 2222),
    ({"System": {"SFTP": {"BIND_PORT": 2223}}}, "system.sftp.bind_port", 2223),
    ({"system": {"Sftp": {"ReadOnly": True}}}, "system.sftp.read_only", True),
    ({"remote_query": {"Timeout": 12}}, "remote_query.timeout", 12),
    ({"remote_query": {"bootserversperpage": 10}}, "remote_query.boot_servers_per_page", 10),
    ({"system": {"CrashDetection": {"CrashDetectionEnabled": False}}},
     "system.crash_detection.enabled", False),
    ({"system": {"crashdetection": {"timeout": 5}}}, "system.crash_detection.timeout", 5),
    ({"system": {"DiskCheckInterval": 0}}, "system.disk_check_interval", 0),
    ({"system": {"openatmode": "openat"}}, "system.openat_mode", "openat"),
    ({"system": {"Timezone": "Europe/Paris"}}, "system.timezone", "Europe/Paris"),
    ({"system": {"Backups": {"CompressionLevel": "none"}}},
     "system.backups.compression_level", "none"),
    ({"docker": {"network": {"Dns": ["9.9.9.9"]}}}, "docker.network.dns", ["9.9.9.9"]),
    ({"docker": {"network": {"EnableICC": False}}}, "docker.network.enable_icc", False),
    ({"docker": {"network": {"Interfaces": {"V4": {"Subnet": "10.9.0.0/16"}}}}},
     "docker.network.interfaces.v4.subnet", "10.9.0.0/16"),
    ({"docker": {"overhead": {"multipliers": {"2048": 1.2}}}},
     "docker.overhead.multipliers", {2048: 1.2}),
    ({"throttles": {"lines": 100}}, "throttles.lines", 100),
    ({"APP_NAME": "Wingspan"}, "app_name", "Wingspan"),
    ({"allowed_origins": ["https://a.example"]}, "allowed_origins", ["https://a.example"]),
])
def test_update_accepts_go_json_names_case_insensitively(body, dotted, expected):
    """§15.3: the JSON tag or Go field name, any letter case."""
    assert config.get_key(Config(token="t").apply_update(body), dotted) == expected


@pytest.mark.parametrize("body, dotted", [
    ({"system": {"root_directory": "/etc"}}, "system.root_directory"),
    ({"system": {"disk_check_interval": 0}}, "system.disk_check_interval"),
    ({"remote_query": {"boot_servers_per_page": 1}}, "remote_query.boot_servers_per_page"),
    ({"docker": {"network": {"network_mode": "host"}}}, "docker.network.network_mode"),
    ({"allowed_mounts": ["/"]}, "allowed_mounts"),
    ({"wingspan": {"run_directory": "/tmp"}}, "wingspan.run_directory"),
    ({"not_a_key": 1, "api": {"nope": 2}}, "api.port"),
])
def test_update_ignores_names_wings_does_not_accept(body, dotted):
    """§15.3: snake_case names of untagged Go fields, allowed_mounts (json:"-"), our own
    section and unknown keys are ignored; nothing is added."""
    cfg = Config(token="t")
    updated = cfg.apply_update(body)
    assert config.get_key(updated, dotted) == config.get_key(cfg, dotted)
    assert updated.unknown_keys == {}


def test_update_lists_and_maps_replace_and_null_empties_them():
    cfg = Config(token="t", allowed_origins=["https://a", "https://b"])
    assert cfg.apply_update({"allowed_origins": ["https://c"]}).allowed_origins == ["https://c"]
    assert cfg.apply_update({"allowed_origins": None}).allowed_origins == []
    assert cfg.apply_update({"app_name": None}).app_name == "Pterodactyl"
    assert cfg.apply_update(None) == cfg


def test_update_keeps_unknown_keys_of_the_file(tmp_path):
    cfg = load_text(tmp_path, PANEL_YAML + "future: {a: 1}\n")
    assert cfg.apply_update({"debug": True}).to_dict()["future"] == {"a": 1}


def test_update_keeps_runtime_debug():
    cfg = Config(token="t")
    cfg.runtime_debug = True
    assert cfg.apply_update({}).runtime_debug is True


def test_letsencrypt_paths_keep_the_certificate_in_use():
    """§3.2 special case: a key under /etc/letsencrypt/live/ resets cert and key."""
    cfg = Config(token="t")
    cfg.api.ssl.cert, cfg.api.ssl.key = "/srv/tls/cert.pem", "/srv/tls/key.pem"
    updated = cfg.apply_update({"api": {"ssl": {
        "enabled": True, "cert": "/etc/letsencrypt/live/new.example/fullchain.pem",
        "key": "/etc/letsencrypt/live/new.example/privkey.pem"}}})
    assert updated.api.ssl.enabled is True
    assert (updated.api.ssl.cert, updated.api.ssl.key) == ("/srv/tls/cert.pem", "/srv/tls/key.pem")


def test_token_rotation_is_accepted():
    """panel-contract.md §5: an admin "reset token" sends the new token in the body."""
    updated = Config(token="old", token_id="id1").apply_update(
        {"token": "new-token", "token_id": "id2"})
    assert (updated.token, updated.token_id) == ("new-token", "id2")


def test_empty_token_is_refused():
    """wings-api.md §16: /api/update refuses a configuration whose token is empty."""
    with pytest.raises(errors.ValidationFailed) as caught:
        Config(token="old").apply_update({"token": ""})
    assert caught.value.status == 422
    assert "token: must not be empty" in caught.value.public_message


@pytest.mark.parametrize("body, key", [
    ({"system": {"RootDirectory": "/"}}, "system.root_directory"),
    ({"system": {"LogDirectory": "/etc/cron.d"}}, "system.log_directory"),
    ({"system": {"data": "/root"}}, "system.data"),
    ({"system": {"Data": "/"}}, "system.data"),
    ({"system": {"ArchiveDirectory": "/etc"}}, "system.archive_directory"),
    ({"system": {"BackupDirectory": "/etc"}}, "system.backup_directory"),
    ({"system": {"TmpDirectory": "/etc"}}, "system.tmp_directory"),
    ({"api": {"ssl": {"cert": "/etc/shadow"}}}, "api.ssl.cert"),
    ({"api": {"ssl": {"key": "/etc/ssh/ssh_host_ed25519_key"}}}, "api.ssl.key"),
    ({"system": {"Username": "root"}}, "system.username"),
    ({"system": {"User": {"Uid": 0, "Gid": 0}}}, "system.user.uid"),
    ({"system": {"User": {"Rootless": {"Enabled": True}}}}, "system.user.rootless.enabled"),
    ({"docker": {"registries": {"evil.example": {"Username": "a", "Password": "b"}}}},
     "docker.registries"),
    ({"docker": {"userns_mode": "host"}}, "docker.userns_mode"),
    ({"docker": {"network": {"Mode": "host"}}}, "docker.network.network_mode"),
    ({"docker": {"network": {"Name": "host"}}}, "docker.network.name"),
    ({"docker": {"container_pid_limit": 0}}, "docker.container_pid_limit"),
    ({"docker": {"log_config": {"type": "syslog"}}}, "docker.log_config.type"),
    ({"docker": {"log_config": {"config": {"syslog-address": "unix:///run/x"}}}},
     "docker.log_config.config"),
    ({"api": {"disable_remote_download": False}}, "api.disable_remote_download"),
    ({"remote": "local:///etc"}, "remote"),
    ({"remote": "https://attacker.example"}, "remote"),
])
def test_update_refuses_what_a_token_holder_must_not_change(body, key):
    """CVE-2024-34066: a leaked node token must not reach host paths, identities,
    credentials or container isolation; the error names the key."""
    cfg = Config(token="t", system=config.System(user=config.User(uid=988, gid=988)))
    cfg.api.ssl.cert, cfg.api.ssl.key = "/srv/tls/cert.pem", "/srv/tls/key.pem"
    cfg.api.disable_remote_download = True
    with pytest.raises(errors.ValidationFailed) as caught:
        cfg.apply_update(body)
    assert key in refused_keys(caught.value)
    assert "cannot be changed through the API; edit config.yml on the node" in \
        caught.value.public_message


def refused_keys(error):
    """The keys named before "cannot be changed" in a refusal."""
    return error.public_message.split(": cannot be changed")[0].split(", ")


def test_the_panel_url_spelled_with_a_trailing_slash_is_the_same_panel():
    cfg = Config(token="t", remote="https://panel.example.com")
    assert cfg.apply_update({"remote": "https://panel.example.com/"}).remote.rstrip("/") == \
        "https://panel.example.com"


def test_refusal_lists_every_locked_key():
    with pytest.raises(errors.ValidationFailed) as caught:
        Config(token="t").apply_update({"system": {"data": "/a", "Username": "root"},
                                        "token": ""})
    assert refused_keys(caught.value) == ["system.data", "system.username"]
    assert caught.value.public_message.endswith("; token: must not be empty")


def test_locked_path_written_another_way_to_the_same_place_is_kept(tmp_path):
    """Wings resolves a symlinked data directory at boot; the Panel keeps sending the link."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "volumes"
    link.symlink_to(real)
    cfg = Config(token="t")
    cfg.system.data = str(real)
    assert cfg.apply_update({"system": {"data": str(link)}}).system.data == str(real)


def test_update_type_errors_are_400_and_name_the_key():
    """§1.6: a wrong JSON type is a bind error (400)."""
    with pytest.raises(errors.UnparsableBody) as caught:
        Config(token="t").apply_update({"api": {"port": "abc"}})
    assert caught.value.status == 400
    assert "api.port: must be an integer between 1 and 65535, got 'abc'" in \
        caught.value.public_message
    with pytest.raises(errors.UnparsableBody, match="system"):
        Config(token="t").apply_update({"system": []})
    with pytest.raises(errors.UnparsableBody):
        Config(token="t").apply_update(["not", "an", "object"])


def test_update_bad_values_are_refused_with_the_key():
    with pytest.raises(errors.ValidationFailed) as caught:
        Config(token="t").apply_update({"api": {"port": 70000}, "throttles": {"lines": 0}})
    assert "api.port" in caught.value.public_message
    assert "throttles.lines" in caught.value.public_message


# -- placeholders ----------------------------------------------------------------------------

def secret_values(cfg):
    return [cfg.token, cfg.token_id] + [r.password for r in cfg.docker.registries.values()] + [
        cfg.api.ssl.key, cfg.api.ssl.cert]


def flatten(tree):
    for value in tree.values():
        if isinstance(value, dict):
            yield from flatten(value)
        else:
            yield value


def test_placeholder_view_resolves_the_documented_keys(tmp_path):
    """wings-behaviour.md §8.3 and test idea 33: ``{{config.docker.network.interface}}``
    resolves to 172.18.0.1."""
    view = panel_config(tmp_path).placeholder_view()
    assert view["docker"]["network"]["interface"] == "172.18.0.1"
    assert view["api"]["upload_limit"] == 100
    assert view["system"]["sftp"]["bind_port"] == 2022
    assert view["app_name"] == "Pterodactyl"


def test_placeholder_view_has_no_secret(tmp_path):
    """CVE-2026-52855: no token, token id, registry password or TLS path, under any name."""
    cfg = panel_config(tmp_path)
    cfg.docker.registries["ghcr.io"] = config.Registry("me", "registry-password")
    view = cfg.placeholder_view()
    values = [str(value) for value in flatten(view)]
    for secret in secret_values(cfg):
        assert secret not in values
    text = repr(view)
    for name in ("token", "registries", "password", "ssl", "remote", "uuid"):
        assert name not in text
    assert set(view) == {"app_name", "api", "system", "docker"}


def test_placeholder_view_is_a_copy():
    cfg = Config()
    cfg.placeholder_view()["docker"]["network"]["interface"] = "6.6.6.6"
    assert cfg.docker.network.interface == "172.18.0.1"


# -- reload (SIGHUP; issue 20 part 2) ---------------------------------------------------------

def test_reload_adopts_live_keys_and_keeps_restart_keys(tmp_path):
    path = write(tmp_path, PANEL_YAML)
    running = config.load(path)
    data = running.to_dict()
    data["throttles"]["lines"] = 10
    data["allowed_origins"] = ["https://other.example"]
    data["api"]["port"] = running.api.port + 1
    data["system"]["data"] = "/elsewhere"
    path = write(tmp_path, yaml.safe_dump(data))
    updated, pending = config.reload(running, path)
    assert updated.throttles.lines == 10
    assert updated.allowed_origins == ["https://other.example"]
    assert (updated.api.port, updated.system.data) == (running.api.port, running.system.data)
    assert pending == ["api.port", "system.data"]
    assert config.changed_keys(running, updated) == ["throttles.lines", "allowed_origins"]


def test_reload_refuses_an_invalid_file_naming_the_key(tmp_path):
    running = config.load(write(tmp_path, PANEL_YAML))
    data = running.to_dict()
    data["throttles"]["lines"] = -1
    with pytest.raises(ConfigError, match="throttles.lines"):
        config.reload(running, write(tmp_path, yaml.safe_dump(data)))
    data["throttles"]["lines"] = 5
    data["token"] = ""
    with pytest.raises(ConfigError, match="token"):
        config.reload(running, write(tmp_path, yaml.safe_dump(data)))


def test_from_panel_is_the_panels_document_over_the_defaults():
    """``wingspan configure`` (wings-api.md §15.1): the JSON of panel-contract.md §5 decoded
    as /api/update decodes it, every other key at its default."""
    document = yaml.safe_load(PANEL_YAML)
    cfg = Config.from_panel(document, source="https://panel.example.com")
    assert cfg.token == document["token"] and cfg.api.port == 8080
    assert cfg.api.ssl.enabled is True and cfg.system.sftp.bind_port == 2022
    assert cfg.system.root_directory == "/var/lib/pterodactyl"
    assert cfg.source == "https://panel.example.com"


def test_from_panel_without_credentials_is_refused():
    document = yaml.safe_load(PANEL_YAML)
    del document["token"]
    with pytest.raises(errors.ValidationFailed) as caught:
        Config.from_panel(document)
    assert "has no token" in caught.value.public_message
    with pytest.raises(errors.UnparsableBody):
        Config.from_panel(dict(yaml.safe_load(PANEL_YAML), api={"port": "eighty"}))


def test_hold_back_gives_a_fresh_load_the_running_values(tmp_path):
    """A child started after a reload runs with what the others run (issue 20 part 2)."""
    cfg = config.load(write(tmp_path, PANEL_YAML))
    held = config.hold_back(cfg, {"api.port": 9999, "system.data": "/running"})
    assert held is cfg and (cfg.api.port, cfg.system.data) == (9999, "/running")
