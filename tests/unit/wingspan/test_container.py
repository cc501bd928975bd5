"""Container definitions as Docker Engine API JSON: wings-behaviour.md §3 (identity, env,
mounts, resources, ports, security), §7.2 (the install container), Appendix A (formulas) and
wings-api.md §11."""

import copy

import pytest

from wingspan import container
from wingspan.config import Config
from wingspan.server_config import ServerDefinition

UUID = "d3aac109-e5a0-4331-b03e-3454f7e136dc"

SETTINGS = {
    "uuid": UUID,
    "meta": {"name": "Survival", "description": ""},
    "environment": {"SERVER_JARFILE": "server.jar", "P_SERVER_ALLOCATION_LIMIT": 0},
    "invocation": "java -jar {{SERVER_JARFILE}}",
    "build": {"memory_limit": 1024, "swap": 0, "io_weight": 500, "cpu_limit": 0,
              "threads": None, "disk_space": 5120, "oom_disabled": False},
    "container": {"image": "ghcr.io/pterodactyl/yolks:java_17"},
    "allocations": {"force_outgoing_ip": False, "default": {"ip": "0.0.0.0", "port": 25565},
                    "mappings": {"0.0.0.0": [25565]}},
    "mounts": [],
    "egg": {"id": "egg", "file_denylist": []},
}


def definition(**settings):
    doc = copy.deepcopy(SETTINGS)
    doc.update(settings)
    return ServerDefinition.from_panel({"settings": doc}, True)


def build(**values):
    return dict(SETTINGS["build"], **values)


def allocations(default_ip="0.0.0.0", port=25565, mappings=None, force=False):
    return {"force_outgoing_ip": force, "default": {"ip": default_ip, "port": port},
            "mappings": mappings if mappings is not None else {default_ip: [port]}}


@pytest.fixture
def cfg():
    cfg = Config()
    cfg.system.timezone = "Europe/Berlin"
    cfg.system.data = "/var/lib/pterodactyl/volumes"
    cfg.system.user.uid = cfg.system.user.gid = 988
    cfg.allowed_mounts = ["/data/mounts"]
    return cfg


def host(definition_, cfg):
    return container.server_container_config(definition_, cfg)["HostConfig"]


# -- resources (§3.4, Appendix A) -------------------------------------------------------

@pytest.mark.parametrize("memory_limit, memory", [
    (512, 588800000), (1024, 1177600000), (2048, 2355200000), (3000, 3300000000),
    (4096, 4505600000), (8192, 8601600000)])
def test_memory_with_overhead_matches_every_example(cfg, memory_limit, memory):
    """wings-behaviour.md §3.4 / Appendix A examples, exactly."""
    h = host(definition(build=build(memory_limit=memory_limit)), cfg)
    assert h["Memory"] == memory
    assert h["MemoryReservation"] == memory_limit * 1_000_000
    assert container.memory_bytes(memory_limit, cfg.docker.overhead) == memory


@pytest.mark.parametrize("value, rounded", [(2.5, 3), (3.5, 4), (-2.5, -3), (0.5, 1),
                                            (1.4999, 1), (0.0, 0)])
def test_rounding_is_half_away_from_zero(value, rounded):
    """Appendix A: Go's math.Round, not Python's banker's rounding."""
    assert container.round_half_away(value) == rounded


def test_overridden_multipliers_use_the_first_threshold_at_or_above(cfg):
    """§3.4: with override, sorted thresholds, first >= memory_limit, else the default."""
    overhead = cfg.docker.overhead
    overhead.override = True
    overhead.multipliers = {4096: 1.2, 1024: 1.5}
    overhead.default_multiplier = 1.01
    assert container.overhead_multiplier(512, overhead) == 1.5
    assert container.overhead_multiplier(1024, overhead) == 1.5
    assert container.overhead_multiplier(1025, overhead) == 1.2
    assert container.overhead_multiplier(8192, overhead) == 1.01
    assert container.memory_bytes(1000, overhead) == 1500000000


def test_unlimited_memory_sends_no_limit(cfg):
    h = host(definition(build=build(memory_limit=0, swap=512)), cfg)
    assert (h["Memory"], h["MemoryReservation"]) == (0, 0)
    assert h["MemorySwap"] == 0  # Docker refuses a swap limit without a memory limit


@pytest.mark.parametrize("swap, memory_swap", [(-1, -1), (0, 1177600000),
                                               (512, 512000000 + 1177600000)])
def test_swap(cfg, swap, memory_swap):
    """Appendix A: -1 if swap < 0 else swap * 1_000_000 + memory (0: no swap)."""
    assert host(definition(build=build(swap=swap)), cfg)["MemorySwap"] == memory_swap


def test_cpu_quota_only_when_limited(cfg):
    """§3.4: CPUQuota/CPUPeriod/CPUShares only when cpu_limit > 0 (150 % -> 150 000)."""
    limited = host(definition(build=build(cpu_limit=150)), cfg)
    assert (limited["CpuQuota"], limited["CpuPeriod"], limited["CpuShares"]) == (
        150000, 100000, 1024)
    unlimited = host(definition(build=build(cpu_limit=0)), cfg)
    assert not {"CpuQuota", "CpuPeriod", "CpuShares"} & set(unlimited)


def test_cpuset_only_when_threads_are_given(cfg):
    """§3.4: CpusetCpus = threads, only when non-empty."""
    assert host(definition(build=build(threads="0-1,3")), cfg)["CpusetCpus"] == "0-1,3"
    assert "CpusetCpus" not in host(definition(build=build(threads=None)), cfg)
    assert "CpusetCpus" not in host(definition(build=build(threads="")), cfg)


def test_blkio_oom_and_pids(cfg):
    """§3.4: BlkioWeight = io_weight (0 unset), OomKillDisable, PidsLimit 512."""
    h = host(definition(build=build(io_weight=500, oom_disabled=True)), cfg)
    assert (h["BlkioWeight"], h["OomKillDisable"], h["PidsLimit"]) == (500, True, 512)
    assert "BlkioWeight" not in host(definition(build=build(io_weight=0)), cfg)
    assert host(definition(build=build(io_weight=5000)), cfg)["BlkioWeight"] == 1000


def test_resource_update_is_the_resource_block(cfg):
    """§3.7: the update carries the full §3.4 block and nothing else."""
    d = definition(build=build(cpu_limit=200, threads="1", swap=-1))
    assert container.resource_update(d, cfg) == {
        "Memory": 1177600000, "MemoryReservation": 1024000000, "MemorySwap": -1,
        "OomKillDisable": False, "PidsLimit": 512, "BlkioWeight": 500,
        "CpuQuota": 200000, "CpuPeriod": 100000, "CpuShares": 1024, "CpusetCpus": "1"}


# -- environment (§3.2) -----------------------------------------------------------------

def test_environment_order_and_skipping(cfg):
    """§3.2: TZ, STARTUP, SERVER_MEMORY, SERVER_IP, SERVER_PORT, then the Panel's keys
    upper-cased; a key already present is skipped (system ones win, then the first)."""
    d = definition(environment={"STARTUP": "override", "server_port": "1",
                                "version": "latest", "VERSION": "second", "tz": "UTC",
                                "Jar": "server.jar"})
    assert container.environment_list(d, cfg) == [
        "TZ=Europe/Berlin", "STARTUP=java -jar {{SERVER_JARFILE}}", "SERVER_MEMORY=1024",
        "SERVER_IP=0.0.0.0", "SERVER_PORT=25565", "VERSION=latest", "JAR=server.jar"]


@pytest.mark.parametrize("value, text", [
    ("25565", "25565"), (25565, "25565"), (25565.0, "25565"), (0, "0"), (0.5, "0.5"),
    (-3, "-3"), (True, "true"), (False, "false"), (None, ""), (["a"], ""), ({"a": 1}, ""),
    ("", "")])
def test_environment_values_are_stringified(cfg, value, text):
    """§3.2: strings as-is, bools true/false, null/other empty. Integral numbers print as
    integers, not Go's %f (25565.000000), which breaks games (recorded decision)."""
    d = definition(environment={"VALUE": value})
    assert container.environment_list(d, cfg)[5:] == ["VALUE=" + text]


def test_unusable_variable_names_are_skipped(cfg):
    d = definition(environment={"A=B": "x", "": "y", "NUL": "a\0b", "OK": "1"})
    assert container.environment_list(d, cfg)[5:] == ["OK=1"]


def test_loopback_server_ip_is_rewritten_for_servers_only(cfg):
    """§3.2: SERVER_IP=127.0.0.1 becomes docker.network.interface at container creation;
    the installer does not get the rewrite."""
    d = definition(allocations=allocations(default_ip="127.0.0.1"))
    server_env = container.server_container_config(d, cfg)["Env"]
    installer_env = container.installer_container_config(d, cfg, "/tmp/s", "img", "bash")["Env"]
    assert server_env[3] == "SERVER_IP=172.18.0.1"
    assert installer_env[3] == "SERVER_IP=127.0.0.1"
    assert server_env[:3] == installer_env[:3] and server_env[4:] == installer_env[4:]


# -- ports (§3.5) -----------------------------------------------------------------------

def test_ports_are_published_on_tcp_and_udp(cfg):
    """§3.5: every port on <port>/tcp and <port>/udp, HostPort a string, same port."""
    d = definition(allocations=allocations(mappings={"0.0.0.0": [25565, 25566],
                                                     "10.0.0.5": [25565]}))
    config = container.server_container_config(d, cfg)
    assert config["HostConfig"]["PortBindings"] == {
        "25565/tcp": [{"HostIp": "0.0.0.0", "HostPort": "25565"},
                      {"HostIp": "10.0.0.5", "HostPort": "25565"}],
        "25565/udp": [{"HostIp": "0.0.0.0", "HostPort": "25565"},
                      {"HostIp": "10.0.0.5", "HostPort": "25565"}],
        "25566/tcp": [{"HostIp": "0.0.0.0", "HostPort": "25566"}],
        "25566/udp": [{"HostIp": "0.0.0.0", "HostPort": "25566"}],
    }
    assert config["ExposedPorts"] == {"25565/tcp": {}, "25565/udp": {}, "25566/tcp": {},
                                      "25566/udp": {}}


def test_ports_outside_the_valid_range_are_skipped(cfg):
    """wings-api.md §13.1: ports outside 1..65535 skipped."""
    d = definition(allocations=allocations(mappings={"0.0.0.0": [0, 1, 65535, 65536, -1]}))
    assert sorted(container.port_bindings(d, cfg)) == [
        "1/tcp", "1/udp", "65535/tcp", "65535/udp"]


def test_a_repeated_port_is_published_once(cfg):
    d = definition(allocations=allocations(mappings={"0.0.0.0": [7777, 7777]}))
    assert container.port_bindings(d, cfg)["7777/udp"] == [
        {"HostIp": "0.0.0.0", "HostPort": "7777"}]


def test_loopback_allocations_move_to_the_docker_interface(cfg):
    """§3.5: HostIp 127.0.0.1 is rewritten to docker.network.interface."""
    d = definition(allocations=allocations(mappings={"127.0.0.1": [25565]}))
    assert container.port_bindings(d, cfg)["25565/tcp"] == [
        {"HostIp": "172.18.0.1", "HostPort": "25565"}]


def test_loopback_allocations_are_dropped_with_ispn(cfg):
    """§3.5: with ispn the 127.0.0.1 bindings are removed."""
    cfg.docker.network.ispn = True
    d = definition(allocations=allocations(mappings={"127.0.0.1": [1], "0.0.0.0": [2]}))
    assert sorted(container.port_bindings(d, cfg)) == ["2/tcp", "2/udp"]


def test_loopback_stays_local_without_an_interface(cfg):
    cfg.docker.network.interface = ""
    d = definition(allocations=allocations(mappings={"127.0.0.1": [1]}))
    assert container.port_bindings(d, cfg)["1/tcp"] == [{"HostIp": "127.0.0.1",
                                                        "HostPort": "1"}]


def test_network_mode_and_forced_outgoing_ip(cfg):
    """§3.5: NetworkMode = docker.network.network_mode, or the ip-<ip> bridge network
    with force_outgoing_ip, created with Wings' options."""
    assert host(definition(), cfg)["NetworkMode"] == "pterodactyl_nw"
    forced = definition(allocations=allocations(default_ip="10.0.0.5", force=True))
    assert host(forced, cfg)["NetworkMode"] == "ip-10-0-0-5"
    assert container.outgoing_ip_network(definition()) is None
    v6 = definition(allocations=allocations(default_ip="2001:db8::1", force=True))
    assert container.outgoing_ip_network(v6) == "ip-2001-db8--1"
    assert container.outgoing_network_create_body(forced) == {
        "Driver": "bridge", "EnableIPv6": False, "Internal": False,
        "Options": {"encryption": "false",
                    "com.docker.network.bridge.default_bridge": "false",
                    "com.docker.network.host_ipv4": "10.0.0.5"}}


# -- mounts (§3.3) ----------------------------------------------------------------------

def mounted(cfg, *mounts):
    d = definition(mounts=[dict(zip(("source", "target", "read_only"), m, strict=True))
                           for m in mounts])
    return host(d, cfg)["Mounts"]


def test_the_server_root_is_mounted_at_home_container(cfg):
    """§3.3: <system.data>/<uuid> at /home/container, read-write, always first."""
    assert mounted(cfg) == [{"Type": "bind", "Source": "/var/lib/pterodactyl/volumes/" + UUID,
                             "Target": "/home/container", "ReadOnly": False}]


def test_allowed_custom_mounts_are_added_cleaned(cfg):
    """§3.3: source and target cleaned; read-only as given."""
    assert mounted(cfg, ("/data/mounts/maps/", "/maps/", True),
                   ("/data/mounts", "/all", False))[1:] == [
        {"Type": "bind", "Source": "/data/mounts/maps", "Target": "/maps", "ReadOnly": True},
        {"Type": "bind", "Source": "/data/mounts", "Target": "/all", "ReadOnly": False}]


@pytest.mark.parametrize("source", [
    "/data/mounts2", "/data/mounts2/x", "/data/mount", "/data", "/etc/passwd",
    "/data/mounts/../secret", "/data/mounts/a/../../secret", "/data/mounts/..",
    "data/mounts/x", "", "/data/./mounts/../mounts2"])
def test_mounts_outside_the_allowance_are_skipped(cfg, source):
    """§3.3 HARDENED: compared by path component (Wings' string prefix lets
    /data/mounts2 through /data/mounts) and any '..' is refused."""
    assert len(mounted(cfg, (source, "/x", False))) == 1


def test_an_allowance_with_a_trailing_slash_works(cfg):
    cfg.allowed_mounts = ["/data/mounts/"]
    assert len(mounted(cfg, ("/data/mounts/a", "/a", False))) == 2
    assert len(mounted(cfg, ("/data/mounts2", "/a", False))) == 1


def test_no_custom_mounts_without_allowances(cfg):
    cfg.allowed_mounts = []
    assert len(mounted(cfg, ("/data/mounts/a", "/a", False))) == 1


@pytest.mark.parametrize("target", ["/", "/home/container", "/home/container/", "/tmp",
                                    "relative", ""])
def test_mount_targets_that_clash_are_skipped(cfg, target):
    """peers.md: a mount cannot cover /home/container (nor / or the /tmp tmpfs)."""
    assert len(mounted(cfg, ("/data/mounts/a", target, False))) == 1


def test_a_second_mount_on_the_same_target_is_skipped(cfg):
    result = mounted(cfg, ("/data/mounts/a", "/x", False), ("/data/mounts/b", "/x/", False))
    assert [m["Source"] for m in result[1:]] == ["/data/mounts/a"]


# -- identity and security (§3.1, §3.6) -------------------------------------------------

def test_server_container_identity(cfg):
    """§3.1: hostname uuid, domainname, user uid:gid, attach/tty, image without '~'."""
    cfg.docker.domainname = "example.com"
    config = container.server_container_config(
        definition(container={"image": "~local/image:1"}), cfg)
    assert config["Image"] == "local/image:1"
    assert config["Hostname"] == UUID
    assert config["Domainname"] == "example.com"
    assert config["User"] == "988:988"
    assert [config[k] for k in ("AttachStdin", "AttachStdout", "AttachStderr", "OpenStdin",
                                "Tty")] == [True] * 5
    for absent in ("Entrypoint", "Cmd", "WorkingDir"):
        assert absent not in config


def test_only_one_leading_tilde_is_removed(cfg):
    config = container.server_container_config(definition(container={"image": "~~x"}), cfg)
    assert config["Image"] == "~x"


def test_rootless_user(cfg):
    """§3.1: rootless mode runs as container_uid:container_gid."""
    rootless = cfg.system.user.rootless
    rootless.enabled, rootless.container_uid, rootless.container_gid = True, 1000, 1001
    assert container.server_container_config(definition(), cfg)["User"] == "1000:1001"


def test_labels_system_ones_win(cfg):
    """§3.1: custom labels + Service=Pterodactyl + ContainerType=server_process, system
    labels winning; the daemon's own labels merged in."""
    d = definition(labels={"com.example": "x", "Service": "spoof", "ContainerType": "x"})
    labels = container.server_container_config(
        d, cfg, extra_labels={"wingspan.managed": "true", "ContainerType": "y"})["Labels"]
    assert labels == {"com.example": "x", "Service": "Pterodactyl",
                      "ContainerType": "server_process", "wingspan.managed": "true"}


def test_security_and_host_settings(cfg):
    """§3.6 (with sys_ptrace dropped as Pelican does), §3.3 tmpfs, §3.5 DNS."""
    cfg.docker.userns_mode = "host"
    h = host(definition(), cfg)
    assert h["SecurityOpt"] == ["no-new-privileges"]
    assert h["ReadonlyRootfs"] is True
    assert h["CapDrop"] == ["setpcap", "mknod", "audit_write", "net_raw", "dac_override",
                            "fowner", "fsetid", "net_bind_service", "sys_chroot", "setfcap",
                            "sys_ptrace"]
    assert h["Tmpfs"] == {"/tmp": "rw,exec,nosuid,size=100M"}
    assert h["Dns"] == ["1.1.1.1", "1.0.0.1"]
    assert h["LogConfig"] == {"Type": "local", "Config": {
        "max-size": "5m", "max-file": "1", "compress": "false", "mode": "non-blocking"}}
    assert h["UsernsMode"] == "host"
    assert "RestartPolicy" not in h and "Privileged" not in h
    assert "Binds" not in h


def test_tmpfs_size_and_an_empty_log_driver(cfg):
    cfg.docker.tmpfs_size = 256
    cfg.docker.log_config.type = ""
    h = host(definition(), cfg)
    assert h["Tmpfs"] == {"/tmp": "rw,exec,nosuid,size=256M"}
    assert h["LogConfig"] == {}


# -- the install container (§7.2) -------------------------------------------------------

def installer(cfg, d=None, entrypoint="bash"):
    return container.installer_container_config(
        d or definition(), cfg, "/tmp/pterodactyl/" + UUID, "ghcr.io/pterodactyl/installers:debian",
        entrypoint)


def test_installer_mounts_exactly_two_host_paths(cfg):
    """§7.2: server root at /mnt/server, the script directory at /mnt/install (read-only
    here), and no other host path: no Docker socket, no custom mounts."""
    d = definition(mounts=[{"source": "/data/mounts/a", "target": "/a", "read_only": False}])
    h = installer(cfg, d)["HostConfig"]
    assert h["Mounts"] == [
        {"Type": "bind", "Source": "/var/lib/pterodactyl/volumes/" + UUID,
         "Target": "/mnt/server", "ReadOnly": False},
        {"Type": "bind", "Source": "/tmp/pterodactyl/" + UUID, "Target": "/mnt/install",
         "ReadOnly": True}]
    assert "Binds" not in h and "PortBindings" not in h
    assert "docker.sock" not in repr(installer(cfg, d))


def test_installer_identity_and_command(cfg):
    """§7.2: Hostname installer, the Panel's image, Cmd [<entrypoint>, install.sh],
    labels ContainerType=server_installer, the image's own user."""
    config = installer(cfg)
    assert config["Image"] == "ghcr.io/pterodactyl/installers:debian"
    assert config["Hostname"] == "installer"
    assert config["Cmd"] == ["bash", "/mnt/install/install.sh"]
    assert "Entrypoint" not in config and "User" not in config
    assert config["Labels"] == {"Service": "Pterodactyl", "ContainerType": "server_installer"}
    assert [config[k] for k in ("AttachStdin", "AttachStdout", "AttachStderr", "OpenStdin",
                                "Tty")] == [True] * 5
    assert installer(cfg, entrypoint="")["Cmd"] == ["sh", "/mnt/install/install.sh"]


def test_installer_is_unprivileged(cfg):
    h = installer(cfg)["HostConfig"]
    assert h["Privileged"] is False
    assert h["SecurityOpt"] == ["no-new-privileges"]
    assert {"mknod", "net_raw", "sys_ptrace", "setpcap"} <= set(h["CapDrop"])
    # a root script writes and chowns files the daemon's user owns
    assert not {"dac_override", "fowner", "chown"} & set(h["CapDrop"])
    assert h["NetworkMode"] == "pterodactyl_nw"
    assert h["Tmpfs"] == {"/tmp": "rw,exec,nosuid,size=100M"}
    assert h["PidsLimit"] == 512


@pytest.mark.parametrize("server_memory, memory", [(0, 1177600000), (512, 1177600000),
                                                   (2048, 2355200000)])
def test_installer_memory_is_at_least_the_installer_limit(cfg, server_memory, memory):
    """§7.2: memory_limit raised to installer_limits.memory (1024), an unlimited server
    included, then the §3.4 conversion."""
    d = definition(build=build(memory_limit=server_memory))
    assert installer(cfg, d)["HostConfig"]["Memory"] == memory


@pytest.mark.parametrize("server_cpu, installer_cpu, quota", [
    (50, 100, 100000), (200, 100, 200000), (0, 100, None), (50, 0, None)])
def test_installer_cpu(cfg, server_cpu, installer_cpu, quota):
    """§7.2: installer cpu 0 -> unlimited; a limited server below it is raised; an
    unlimited server stays unlimited."""
    cfg.docker.installer_limits.cpu = installer_cpu
    h = installer(cfg, definition(build=build(cpu_limit=server_cpu)))["HostConfig"]
    assert h.get("CpuQuota") == quota


def test_installer_does_not_change_the_definition(cfg):
    d = definition(build=build(memory_limit=0, cpu_limit=50))
    installer(cfg, d)
    assert (d.build.memory_limit, d.build.cpu_limit) == (0, 50)
