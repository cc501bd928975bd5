"""Container definitions as Docker Engine API JSON (wings-behaviour.md §3, §7, Appendix A).

Pure functions: a ``ServerDefinition`` and the node config in, the body of
``POST /containers/create`` (or ``POST /containers/<id>/update``) out, for
``wingspan.engine`` to post with docker-py's ``create_container_from_config``.
"""

import dataclasses
import logging
import math
import posixpath

from wingspan.roots import server_root

log = logging.getLogger(__name__)

SERVER_ROOT = "/home/container"
INSTALL_SERVER_ROOT = "/mnt/server"
INSTALL_SCRIPT_DIR = "/mnt/install"
INSTALL_SCRIPT = INSTALL_SCRIPT_DIR + "/install.sh"
LOOPBACK = "127.0.0.1"
CPU_PERIOD = 100_000
# Wings' list plus sys_ptrace, which Pelican also drops (wings-behaviour.md §3.6)
SERVER_CAP_DROP = ["setpcap", "mknod", "audit_write", "net_raw", "dac_override", "fowner",
                   "fsetid", "net_bind_service", "sys_chroot", "setfcap", "sys_ptrace"]
# Install scripts run as root against files the daemon's user owns, and chown and chmod
# them: they keep dac_override, fowner, fsetid and chown, and lose what no script needs.
INSTALLER_CAP_DROP = ["setpcap", "mknod", "audit_write", "net_raw", "net_bind_service",
                      "sys_chroot", "setfcap", "sys_ptrace"]
SERVER_LABELS = {"Service": "Pterodactyl", "ContainerType": "server_process"}
INSTALLER_LABELS = {"Service": "Pterodactyl", "ContainerType": "server_installer"}
# A custom mount on one of these would hide the server or clash with a mount of ours.
RESERVED_TARGETS = ("/", SERVER_ROOT, "/tmp")


# -- resources (§3.4) -------------------------------------------------------------------

def round_half_away(value):
    """Go's ``math.Round``: halves away from zero (Python's ``round`` goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def overhead_multiplier(memory_limit, overhead):
    """Factor applied to the memory limit: Wings' steps, or with ``docker.overhead.override``
    the value of the smallest threshold at or above the limit, else the default."""
    if not overhead.override:
        if memory_limit <= 2048:
            return 1.15
        if memory_limit <= 4096:
            return 1.10
        return 1.05
    for threshold in sorted(overhead.multipliers):
        if threshold >= memory_limit:
            return overhead.multipliers[threshold]
    return overhead.default_multiplier


def memory_bytes(memory_limit, overhead):
    """``Memory`` in bytes for a limit in MB; 0 (unlimited) for a limit of 0 or less."""
    if memory_limit <= 0:
        return 0
    return round_half_away(memory_limit * overhead_multiplier(memory_limit, overhead)
                           * 1_000_000)


def swap_bytes(swap, memory):
    """``MemorySwap``: -1 for unlimited swap, else swap plus memory (swap 0: none)."""
    if swap < 0:
        return -1
    if memory == 0:
        # Docker refuses a swap limit without a memory limit; unlimited memory has none
        return 0
    return swap * 1_000_000 + memory


def resources(build, cfg):
    """The resource block of a server container, shared by create and update."""
    memory = memory_bytes(build.memory_limit, cfg.docker.overhead)
    block = {
        "Memory": memory,
        "MemoryReservation": max(build.memory_limit, 0) * 1_000_000,
        "MemorySwap": swap_bytes(build.swap, memory),
        "OomKillDisable": build.oom_disabled,
        "PidsLimit": cfg.docker.container_pid_limit,
    }
    if build.io_weight:
        # Docker refuses weights outside 10..1000, which the Panel's form also enforces
        block["BlkioWeight"] = min(max(build.io_weight, 10), 1000)
    if build.cpu_limit > 0:
        # all three or none: some JVMs count processors wrongly from shares alone
        block.update(CpuQuota=build.cpu_limit * 1000, CpuPeriod=CPU_PERIOD, CpuShares=1024)
    if build.threads:
        block["CpusetCpus"] = build.threads
    return block


def resource_update(definition, cfg):
    """The body of ``POST /containers/<id>/update`` after a Panel sync (§3.7)."""
    return resources(definition.build, cfg)


def installer_build(build, limits):
    """The server's build raised to ``docker.installer_limits`` (§7.2): memory to at least
    the installer's (an unlimited server too); CPU unlimited when the installer's is, else
    a limited server's raised to it, an unlimited one left unlimited."""
    cpu = build.cpu_limit
    if limits.cpu == 0:
        cpu = 0
    elif cpu != 0 and cpu < limits.cpu:
        cpu = limits.cpu
    return dataclasses.replace(build, memory_limit=max(build.memory_limit, limits.memory),
                               cpu_limit=cpu)


# -- environment (§3.2) -----------------------------------------------------------------

def env_value(value):
    """A Panel environment value as text.

    Wings prints JSON numbers with Go's ``%f`` (``25565`` -> ``25565.000000``), which
    breaks games reading a port or a count from their environment. Here integral numbers
    print as integers and others in their shortest form (``0.5``); the Panel sends strings
    for almost everything, so only its numeric extras (``P_SERVER_ALLOCATION_LIMIT``)
    differ from Wings. Booleans are ``true``/``false``; null and anything else is empty.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if value is not None:
        log.warning("environment value %r is not a string, number or boolean; "
                    "passed as an empty string", value)
    return ""


def environment_list(definition, cfg, rewrite_loopback=True):
    """``Env``: the five system variables, then the Panel's, keys upper-cased.

    A Panel key whose upper-cased form is already in the list is skipped (so the system
    variables always win, then the first of the Panel's). ``SERVER_IP=127.0.0.1`` becomes
    the Docker interface for server containers, not for the installer.
    """
    ip = definition.allocations.default_ip
    if rewrite_loopback and ip == LOOPBACK:
        ip = cfg.docker.network.interface or ip
    env = {"TZ": cfg.system.timezone, "STARTUP": definition.invocation,
           "SERVER_MEMORY": str(definition.build.memory_limit), "SERVER_IP": ip,
           "SERVER_PORT": str(definition.allocations.default_port)}
    for key, value in definition.environment.items():
        name = key.upper()
        if name in env:
            continue
        text = env_value(value)
        if not name or "=" in name or "\0" in name + text:
            log.warning("environment variable %r cannot be passed to a container; skipped",
                        key)
            continue
        env[name] = text
    return ["%s=%s" % pair for pair in env.items()]


# -- networking (§3.5) ------------------------------------------------------------------

def port_bindings(definition, cfg):
    """``PortBindings``: every allocated port on TCP and UDP, same port inside and out.

    Ports outside 1..65535 are skipped; ``127.0.0.1`` is published on the Docker
    interface instead, or not at all when ``ispn`` is set (overlay networks).
    """
    network = cfg.docker.network
    bindings = {}
    for ip, ports in definition.allocations.mappings.items():
        if ip == LOOPBACK:
            if network.ispn:
                continue
            # without an interface Wings would publish on every address; stay local
            ip = network.interface or LOOPBACK
        for port in ports:
            if not 1 <= port <= 65535:
                continue
            binding = {"HostIp": ip, "HostPort": str(port)}
            for protocol in ("tcp", "udp"):
                published = bindings.setdefault("%d/%s" % (port, protocol), [])
                if binding not in published:
                    published.append(dict(binding))
    return bindings


def outgoing_ip_network(definition):
    """The bridge network a ``force_outgoing_ip`` server joins (``ip-10-0-0-5``), so that
    its traffic leaves from its own IP; None for the others."""
    allocations = definition.allocations
    if not allocations.force_outgoing_ip or not allocations.default_ip:
        return None
    return "ip-" + allocations.default_ip.replace(".", "-").replace(":", "-")


def outgoing_network_create_body(definition):
    """The Engine API's ``NetworkCreateRequest`` (without ``Name``) that creates the network
    of :func:`outgoing_ip_network` when it is missing (§3.5)."""
    return {
        "Driver": "bridge",
        "EnableIPv6": False,
        "Internal": False,
        "Options": {"encryption": "false",
                    "com.docker.network.bridge.default_bridge": "false",
                    "com.docker.network.host_ipv4": definition.allocations.default_ip},
    }


# -- mounts (§3.3) ----------------------------------------------------------------------

def mount_allowed(source, allowed_mounts):
    """Whether ``source`` is an allowed directory or lies inside one.

    Paths are compared by component: Wings' string-prefix test lets ``/data/mounts2``
    through an allowance of ``/data/mounts``. A relative source, or one that names
    ``..`` anywhere, is refused outright.
    """
    if not source.startswith("/") or ".." in source.split("/"):
        return False
    clean = posixpath.normpath(source)
    for allowed in allowed_mounts:
        if not isinstance(allowed, str) or not allowed.startswith("/"):
            continue
        base = posixpath.normpath(allowed)
        if base == "/" or clean == base or clean.startswith(base + "/"):
            return True
    return False


def bind(source, target, read_only=False):
    return {"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only}


def mounts(definition, cfg):
    """``Mounts``: the server's directory at /home/container, then each Panel mount whose
    source is allowed by ``allowed_mounts`` and whose target clashes with nothing."""
    result = [bind(server_root(cfg, definition.uuid), SERVER_ROOT)]
    targets = set(RESERVED_TARGETS)
    for mount in definition.mounts:
        target = posixpath.normpath(mount.target) if mount.target.startswith("/") else ""
        if not mount_allowed(mount.source, cfg.allowed_mounts):
            log.warning("server %s: mount source %r is not under an allowed mount; skipped",
                        definition.uuid, mount.source)
        elif not target or target in targets:
            log.warning("server %s: mount target %r is not usable; skipped",
                        definition.uuid, mount.target)
        else:
            targets.add(target)
            result.append(bind(posixpath.normpath(mount.source), target, mount.read_only))
    return result


# -- the whole definition (§3.1, §3.6) --------------------------------------------------

def container_user(cfg):
    """``User``: the daemon's system user, or the configured ids in rootless mode."""
    user = cfg.system.user
    if user.rootless.enabled:
        return "%d:%d" % (user.rootless.container_uid, user.rootless.container_gid)
    return "%d:%d" % (user.uid, user.gid)


def log_config(cfg):
    """``LogConfig``; empty when no driver is configured, leaving Docker's default."""
    if not cfg.docker.log_config.type:
        return {}
    return {"Type": cfg.docker.log_config.type, "Config": dict(cfg.docker.log_config.config)}


def tmpfs(cfg):
    return {"/tmp": "rw,exec,nosuid,size=%dM" % cfg.docker.tmpfs_size}


def merged_labels(*layers):
    """Label maps merged in order, later ones winning."""
    labels = {}
    for layer in layers:
        labels.update(layer or {})
    return labels


def server_container_config(definition, cfg, extra_labels=None):
    """The body of ``POST /containers/create`` for a game server. No ``Entrypoint``,
    ``Cmd``, ``WorkingDir`` or restart policy: the image decides the first three, and the
    daemon restarts crashed servers itself."""
    bindings = port_bindings(definition, cfg)
    host = resources(definition.build, cfg)
    host.update({
        "PortBindings": bindings,
        "Mounts": mounts(definition, cfg),
        "Tmpfs": tmpfs(cfg),
        "Dns": list(cfg.docker.network.dns),
        "NetworkMode": outgoing_ip_network(definition) or cfg.docker.network.network_mode,
        "SecurityOpt": ["no-new-privileges"],
        "ReadonlyRootfs": True,
        "CapDrop": list(SERVER_CAP_DROP),
        "LogConfig": log_config(cfg),
        "UsernsMode": cfg.docker.userns_mode,
    })
    return {
        "Image": definition.container.image.removeprefix("~"),
        "Hostname": definition.uuid,
        "Domainname": cfg.docker.domainname,
        "User": container_user(cfg),
        "Env": environment_list(definition, cfg),
        "Labels": merged_labels(definition.labels, extra_labels, SERVER_LABELS),
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
        "OpenStdin": True, "Tty": True,
        "ExposedPorts": {port: {} for port in bindings},
        "HostConfig": host,
    }


def installer_container_config(definition, cfg, script_dir, image, entrypoint,
                               extra_labels=None):
    """The body of ``POST /containers/create`` for ``<uuid>_installer`` (§7.2).

    The server's directory is at /mnt/server and ``script_dir`` (holding install.sh)
    read-only at /mnt/install; no other host path, so no Docker socket. The script runs
    as the image's user (root, to install packages), unprivileged, with
    ``no-new-privileges``, a reduced capability set and the node's process limit (Wings
    drops that limit here; a fork bomb in a script must not take the host down). Memory
    and CPU are the server's raised to ``docker.installer_limits``.
    """
    host = resources(installer_build(definition.build, cfg.docker.installer_limits), cfg)
    host.update({
        "Mounts": [bind(server_root(cfg, definition.uuid), INSTALL_SERVER_ROOT),
                   bind(script_dir, INSTALL_SCRIPT_DIR, read_only=True)],
        "Tmpfs": tmpfs(cfg),
        "Dns": list(cfg.docker.network.dns),
        "NetworkMode": cfg.docker.network.network_mode,
        "Privileged": False,
        "SecurityOpt": ["no-new-privileges"],
        "CapDrop": list(INSTALLER_CAP_DROP),
        "LogConfig": log_config(cfg),
        "UsernsMode": cfg.docker.userns_mode,
    })
    return {
        "Image": image,
        "Hostname": "installer",
        "Env": environment_list(definition, cfg, rewrite_loopback=False),
        "Labels": merged_labels(extra_labels, INSTALLER_LABELS),
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
        "OpenStdin": True, "Tty": True,
        # as Wings: the command, not the entrypoint, so an image's init still runs first
        "Cmd": [entrypoint or "sh", INSTALL_SCRIPT],
        "HostConfig": host,
    }
