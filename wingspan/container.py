"""Container definitions as Docker Engine API JSON (wings-behaviour.md §3, Appendix A).

Pure functions: a ``ServerDefinition`` and the node config in, the body of
``POST /containers/create`` (or ``/update``) out. ``wingspan.engine`` posts them.
"""

import math
import os
import posixpath

SERVER_ROOT = "/home/container"
CAP_DROP = ["setpcap", "mknod", "audit_write", "net_raw", "dac_override", "fowner", "fsetid",
            "net_bind_service", "sys_chroot", "setfcap", "sys_ptrace"]
SYSTEM_LABELS = {"Service": "Pterodactyl", "ContainerType": "server_process"}
RESERVED_ENV = ("TZ", "STARTUP", "SERVER_MEMORY", "SERVER_IP", "SERVER_PORT")


def overhead_multiplier(memory_limit, overhead):
    """Memory overhead factor: Wings' steps, or the configured thresholds (§3.4)."""
    if not overhead.override:
        if memory_limit <= 2048:
            return 1.15
        if memory_limit <= 4096:
            return 1.10
        return 1.05
    for threshold in sorted(overhead.multipliers, key=float):
        if float(threshold) >= memory_limit:
            return float(overhead.multipliers[threshold])
    return overhead.default_multiplier


def round_half_away(value):
    """Go's math.Round (Python's round is banker's rounding)."""
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def memory_bytes(memory_limit, overhead):
    if memory_limit <= 0:
        return 0
    return round_half_away(memory_limit * overhead_multiplier(memory_limit, overhead) * 1_000_000)


def resources(build, cfg):
    """The resource block shared by create and update (§3.4)."""
    memory = memory_bytes(build.memory_limit, cfg.docker.overhead)
    block = {
        "Memory": memory,
        "MemoryReservation": max(build.memory_limit, 0) * 1_000_000,
        "MemorySwap": -1 if build.swap < 0 else build.swap * 1_000_000 + memory,
        "OomKillDisable": build.oom_disabled,
        "PidsLimit": cfg.docker.container_pid_limit,
    }
    if build.memory_limit <= 0:
        block["MemorySwap"] = -1 if build.swap < 0 else 0
    if build.io_weight:
        block["BlkioWeight"] = build.io_weight
    if build.cpu_limit > 0:
        block.update(CpuQuota=build.cpu_limit * 1000, CpuPeriod=100_000, CpuShares=1024)
    if build.threads:
        block["CpusetCpus"] = build.threads
    return block


def env_value(value):
    """Panel values as strings. Integral numbers print as integers: Wings' ``%f`` quirk
    (``25565.000000``) breaks games that read their port from the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    return ""


def environment_list(definition, cfg, rewrite_loopback=True):
    """Container env in Wings' order; Panel keys never override the five system ones (§3.2)."""
    ip = definition.allocations.default_ip
    if rewrite_loopback and ip == "127.0.0.1" and cfg.docker.network.interface:
        ip = cfg.docker.network.interface
    env = [("TZ", cfg.system.timezone), ("STARTUP", definition.invocation),
           ("SERVER_MEMORY", str(definition.build.memory_limit)), ("SERVER_IP", ip),
           ("SERVER_PORT", str(definition.allocations.default_port))]
    seen = set(RESERVED_ENV)
    for key, value in definition.environment.items():
        name = str(key).upper()
        if name in seen:
            continue
        seen.add(name)
        env.append((name, env_value(value)))
    return ["%s=%s" % pair for pair in env]


def port_bindings(definition, cfg):
    """``{"<port>/tcp": [...], "<port>/udp": [...]}`` for every allocation (§3.5)."""
    network = cfg.docker.network
    bindings = {}
    for ip, ports in definition.allocations.mappings.items():
        if ip == "127.0.0.1":
            if network.ispn:
                continue
            ip = network.interface or ip
        for port in ports:
            if not 1 <= port <= 65535:
                continue
            for proto in ("tcp", "udp"):
                bindings.setdefault("%d/%s" % (port, proto), []).append(
                    {"HostIp": ip, "HostPort": str(port)})
    return bindings


def mount_allowed(source, allowed_mounts):
    """True when ``source`` lies inside an allowed directory, compared by path component
    (Wings' string prefix test lets ``/data/mounts2`` through an allowance of ``/data/mounts``)."""
    if not source.startswith("/") or ".." in source.split("/"):
        return False
    clean = posixpath.normpath(source)
    for allowed in allowed_mounts:
        base = posixpath.normpath(allowed)
        if clean == base or clean.startswith(base.rstrip("/") + "/"):
            return True
    return False


def mounts(definition, cfg):
    root = os.path.join(cfg.system.data, definition.uuid)
    result = [{"Type": "bind", "Source": root, "Target": SERVER_ROOT, "ReadOnly": False}]
    for mount in definition.mounts:
        target = posixpath.normpath(mount.target or "/")
        if mount_allowed(mount.source, cfg.allowed_mounts) and target != "/":
            result.append({"Type": "bind", "Source": posixpath.normpath(mount.source),
                           "Target": target, "ReadOnly": mount.read_only})
    return result


def container_user(cfg):
    user = cfg.system.user
    if user.rootless.enabled:
        return "%d:%d" % (user.rootless.container_uid, user.rootless.container_gid)
    return "%d:%d" % (user.uid, user.gid)


def log_config(cfg):
    if not cfg.docker.log_config.type:
        return {}
    return {"Type": cfg.docker.log_config.type,
            "Config": {k: str(v) for k, v in cfg.docker.log_config.config.items()}}


def server_container_config(definition, cfg, extra_labels=None):
    """The body of ``POST /containers/create`` for a game server."""
    bindings = port_bindings(definition, cfg)
    labels = dict(definition.labels)
    labels.update(extra_labels or {})
    labels.update(SYSTEM_LABELS)
    host = resources(definition.build, cfg)
    host.update({
        "PortBindings": bindings,
        "Mounts": mounts(definition, cfg),
        "Tmpfs": {"/tmp": "rw,exec,nosuid,size=%dM" % cfg.docker.tmpfs_size},
        "Dns": list(cfg.docker.network.dns),
        "NetworkMode": cfg.docker.network.network_mode,
        "SecurityOpt": ["no-new-privileges"],
        "ReadonlyRootfs": True,
        "CapDrop": CAP_DROP,
        "LogConfig": log_config(cfg),
        "UsernsMode": cfg.docker.userns_mode,
    })
    return {
        "Hostname": definition.uuid,
        "Domainname": cfg.docker.domainname,
        "User": container_user(cfg),
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
        "OpenStdin": True, "Tty": True,
        "ExposedPorts": {port: {} for port in bindings},
        "Image": definition.container.image.lstrip("~"),
        "Env": environment_list(definition, cfg),
        "Labels": labels,
        "HostConfig": host,
    }


def resource_update(definition, cfg):
    """The body of ``POST /containers/<id>/update`` after a sync (§3.7)."""
    return resources(definition.build, cfg)


def installer_container_config(definition, cfg, script_dir, image, entrypoint):
    """The install container: the server's files at /mnt/server, the script read-only at
    /mnt/install, and no other host path (no Docker socket), unprivileged (§7)."""
    build = definition.build
    installer = cfg.docker.installer_limits
    memory = max(build.memory_limit, installer.memory) * 1_000_000
    cpu = max(build.cpu_limit, installer.cpu) if build.cpu_limit else 0
    host = {
        "Memory": memory, "MemoryReservation": memory, "MemorySwap": -1,
        "PidsLimit": cfg.docker.container_pid_limit,
        "Mounts": [
            {"Type": "bind", "Source": os.path.join(cfg.system.data, definition.uuid),
             "Target": "/mnt/server", "ReadOnly": False},
            {"Type": "bind", "Source": script_dir, "Target": "/mnt/install", "ReadOnly": True},
        ],
        "Tmpfs": {"/tmp": "rw,exec,nosuid,size=%dM" % cfg.docker.tmpfs_size},
        "Dns": list(cfg.docker.network.dns),
        "NetworkMode": cfg.docker.network.network_mode,
        "SecurityOpt": ["no-new-privileges"],
        "CapDrop": CAP_DROP,
        "Privileged": False,
        "LogConfig": log_config(cfg),
        "UsernsMode": cfg.docker.userns_mode,
    }
    if cpu:
        host.update(CpuQuota=cpu * 1000, CpuPeriod=100_000)
    labels = dict(definition.labels)
    labels.update({"Service": "Pterodactyl", "ContainerType": "server_installer"})
    return {
        "Hostname": "installer",
        "AttachStdout": True, "AttachStderr": True, "AttachStdin": True,
        "OpenStdin": True, "Tty": True,
        "Image": image,
        "Env": environment_list(definition, cfg, rewrite_loopback=False),
        "Entrypoint": [entrypoint or "sh"],
        "Cmd": ["/mnt/install/install.sh"],
        "Labels": labels,
        "HostConfig": host,
    }
