"""The daemon's test config (panel-contract.md §5 plus a test node's needs), deep merges of
overrides, and the choice of a Docker test network that clashes with nothing."""

import ipaddress
import random

import yaml

from tests.support import dockerenv
from tests.support.daemon import CONTAINER_UID, Daemon, merged, node_config
from tests.support.fakepanel import FakePanel

NETWORK = {"name": "wingspan_test_x", "subnet": "172.31.7.0/24", "gateway": "172.31.7.1",
           "subnet6": "fdba:17c8:6c99:7::/64", "gateway6": "fdba:17c8:6c99:7::1011"}


def test_node_config_has_the_panel_keys_and_test_paths(tmp_path):
    with FakePanel("s") as panel:
        cfg = node_config(panel, panel.node, str(tmp_path), "/tmp/ws-x", NETWORK, api_port=8123)
    # the keys Node::getConfiguration() emits (§5), with this node's credentials
    assert (cfg["debug"], cfg["uuid"], cfg["token_id"], cfg["token"], cfg["remote"]) == (
        False, panel.node_uuid, panel.token_id, panel.token, panel.url)
    assert cfg["api"]["port"] == 8123 and cfg["api"]["ssl"]["enabled"] is False
    assert cfg["allowed_mounts"] == [] and cfg["allowed_origins"] == []
    # loopback only, non-root containers, everything under the test's directory
    assert cfg["api"]["host"] == "127.0.0.1"
    assert cfg["system"]["sftp"]["bind_address"] == "127.0.0.1"
    assert cfg["system"]["user"] == {"uid": CONTAINER_UID, "gid": CONTAINER_UID}
    assert CONTAINER_UID != 0
    for key in ("data", "root_directory", "log_directory", "archive_directory",
                "backup_directory", "tmp_directory"):
        assert cfg["system"][key].startswith(str(tmp_path) + "/")
    assert cfg["wingspan"]["run_directory"] == "/tmp/ws-x"
    assert cfg["docker"]["network"]["name"] == cfg["docker"]["network"]["network_mode"] == \
        "wingspan_test_x"
    assert cfg["docker"]["network"]["interfaces"]["v4"] == {"subnet": "172.31.7.0/24",
                                                            "gateway": "172.31.7.1"}


def test_overrides_merge_in_depth():
    base = {"remote_query": {"timeout": 5, "boot_servers_per_page": 50}, "debug": False}
    result = merged(base, {"remote_query": {"boot_servers_per_page": 2}, "throttles": {"lines": 5}})
    assert result == {"remote_query": {"timeout": 5, "boot_servers_per_page": 2},
                      "debug": False, "throttles": {"lines": 5}}
    assert base["remote_query"]["boot_servers_per_page"] == 50


def test_daemon_writes_its_config_once_and_drives_its_own_api(tmp_path):
    cfg = {"api": {"port": 8123}, "token": "t" * 64, "remote": "http://127.0.0.1:9"}
    daemon = Daemon(cfg, str(tmp_path))
    daemon.write_config()
    with open(daemon.config_path) as f:
        assert yaml.safe_load(f) == cfg
    assert daemon.url == "http://127.0.0.1:8123" and daemon.token == "t" * 64
    assert daemon.panel_url == "http://127.0.0.1:9"


class FakeDockerApi:
    def __init__(self, subnets):
        self.subnets = subnets

    def networks(self):
        return [{"IPAM": {"Config": [{"Subnet": s} for s in self.subnets]}}, {"IPAM": None}]


class FakeDocker:
    def __init__(self, subnets):
        self.api = FakeDockerApi(subnets)


def test_network_plan_avoids_existing_networks(monkeypatch):
    taken = ["172.31.%d.0/24" % i for i in range(256) if i != 42] + ["fdba:17c8:6c99::/48"]
    monkeypatch.setattr(dockerenv, "host_routes", lambda: [])
    plan = dockerenv.network_plan(FakeDocker(taken[:-1] + ["fdba:17c8:6c99:5::/64"]), "n",
                                  random.Random(1))
    assert plan["subnet"] == "172.31.42.0/24" and plan["gateway"] == "172.31.42.1"
    v6 = ipaddress.ip_network(plan["subnet6"])
    assert v6 != ipaddress.ip_network("fdba:17c8:6c99:5::/64") and v6.prefixlen == 64
    assert plan["gateway6"] == str(v6[0x1011])


def test_network_plan_avoids_host_routes(monkeypatch):
    monkeypatch.setattr(dockerenv, "host_routes",
                        lambda: [ipaddress.ip_network("172.31.0.0/17")])
    for seed in range(20):
        plan = dockerenv.network_plan(FakeDocker([]), "n", random.Random(seed))
        assert ipaddress.ip_network(plan["subnet"]).network_address >= \
            ipaddress.ip_address("172.31.128.0")


def test_host_routes_parses_the_kernel_table(tmp_path):
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")
    assert dockerenv.host_routes(str(table)) == [ipaddress.ip_network("172.17.0.0/16")]
