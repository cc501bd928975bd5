"""Facts about the host a node runs on, as Pelican's node endpoints report them:
``GET /api/system/utilization`` (CPU, memory, swap, load, disks) and ``GET /api/system/ips``.
"""

import ipaddress
import os
import socket

import psutil

# Filesystems that hold no server data: memory-backed, read-only images, or (outside a
# container) the overlay of a container's own root.
PSEUDO_FILESYSTEMS = ("tmpfs", "devtmpfs", "squashfs")
CPU_SAMPLE_SECONDS = 0.2
OS_RELEASE = "/etc/os-release"


def utilization(cfg, in_container=None):
    """Pelican's ``system.Utilization`` object.

    ``disk_details`` has one entry per device holding a real filesystem, tagged with the
    daemon directories on it (Root, Logs, Data, Archive, Backup, Temp); ``disk_total`` and
    ``disk_used`` add them up, each device once.
    """
    memory, swap = psutil.virtual_memory(), psutil.swap_memory()
    load1, load5, load15 = os.getloadavg()
    disks = disk_details(cfg, in_container)
    return {
        "memory_total": memory.total,
        "memory_used": memory.used,
        "swap_total": swap.total,
        "swap_used": swap.used,
        "load_average1": load1,
        "load_average5": load5,
        "load_average15": load15,
        # Over a short sample rather than since the previous call: the first request of a
        # process would otherwise always read 0.
        "cpu_percent": psutil.cpu_percent(interval=CPU_SAMPLE_SECONDS),
        "disk_total": sum(d["total_space"] for d in disks),
        "disk_used": sum(d["used_space"] for d in disks),
        "disk_details": disks,
    }


def daemon_directories(cfg):
    system = cfg.system
    return {"Root": system.root_directory, "Logs": system.log_directory, "Data": system.data,
            "Archive": system.archive_directory, "Backup": system.backup_directory,
            "Temp": system.tmp_directory}


def disk_details(cfg, in_container=None):
    if in_container is None:
        in_container = running_in_container()
    disks, devices = {}, set()
    for part in psutil.disk_partitions(all=False):
        fstype = part.fstype or ""
        if (not fstype or fstype.startswith(PSEUDO_FILESYSTEMS)
                or (fstype.startswith("overlay") and not in_container)
                or part.device in devices):
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
            device_id = os.stat(part.mountpoint).st_dev
        except OSError:
            continue
        devices.add(part.device)
        disks[device_id] = {"device": part.device, "mountpoint": part.mountpoint,
                            "total_space": usage.total, "used_space": usage.used, "tags": []}
    for tag, path in daemon_directories(cfg).items():
        try:
            device_id = os.stat(path).st_dev
        except OSError:
            continue
        if device_id in disks:
            disks[device_id]["tags"].append(tag)
    return list(disks.values())


def os_release(path=OS_RELEASE):
    """The ``KEY=value`` pairs of os-release, quotes taken off; empty when it cannot be read."""
    values = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, equals, value = line.partition("=")
                if equals and not key.lstrip().startswith("#"):
                    values[key.strip()] = value.strip().strip("\"'")
    except OSError:
        pass
    return values


def os_pretty_name(path=OS_RELEASE):
    """``PRETTY_NAME``, else ``NAME``, else None."""
    values = os_release(path)
    return values.get("PRETTY_NAME") or values.get("NAME") or None


def running_in_container(path=OS_RELEASE):
    """Pelican counts overlay filesystems only inside its distroless image."""
    return os_release(path).get("ID") == "distroless"


def ip_addresses(extra=()):
    """The host's addresses, loopback and link-local ones left out, then ``extra`` (the
    configured ``docker.system_ips``) not already listed."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            text = address.address.split("%", 1)[0]  # an IPv6 zone is not part of it
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if ip.is_loopback or ip.is_link_local or text in found:
                continue
            found.append(text)
    found.extend(ip for ip in extra if ip not in found)
    return found
