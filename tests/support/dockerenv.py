"""Docker for integration tests: a reachable engine or a clear reason why not, the local
test images, a per-session network whose subnets clash with nothing, and removal of every
container and network a session caused.

Nothing here pulls: the images are built locally by ``tests/images/build.sh``.
"""

import ipaddress
import os
import random
import subprocess

import docker
import requests

IMAGES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "images")
V4_CANDIDATES = "172.31.%d.0/24"
V6_CANDIDATES = "fdba:17c8:6c99:%x::/64"


class DockerUnavailable(Exception):
    """The engine cannot be used; the message says what to do."""


def engine():
    """A client of a Docker engine that answers, or DockerUnavailable."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise DockerUnavailable(
            "integration tests need a running Docker engine (%s). Run `bash .ci/run` as "
            "root, or install docker.io and start dockerd." % e) from None
    return client


def build_images():
    """Build (or keep, when up to date) the local test images; output on failure."""
    result = subprocess.run(["bash", os.path.join(IMAGES_DIR, "build.sh")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            check=False)
    if result.returncode != 0:
        raise DockerUnavailable("building the test images failed:\n%s" % result.stdout)


def network_plan(client, name, rng=random):
    """Name, subnets and gateways for a new bridge network, clear of every existing Docker
    network and host route (so creating it cannot fail or shadow a route)."""
    taken = used_subnets(client) + host_routes()
    v4 = pick_free([ipaddress.ip_network(V4_CANDIDATES % i) for i in range(256)], taken, rng)
    v6 = pick_free([ipaddress.ip_network(V6_CANDIDATES % i) for i in range(256)], taken, rng)
    return {"name": name, "subnet": str(v4), "gateway": str(v4[1]),
            "subnet6": str(v6), "gateway6": str(v6[0x1011])}


def pick_free(candidates, taken, rng):
    free = [net for net in candidates
            if not any(net.version == other.version and net.overlaps(other) for other in taken)]
    if not free:
        raise DockerUnavailable("no free subnet among %s for the test network" % candidates[0])
    return rng.choice(free)


def used_subnets(client):
    subnets = []
    for network in client.api.networks():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                subnets.append(ipaddress.ip_network(config["Subnet"], strict=False))
    return subnets


def host_routes(route_table="/proc/net/route"):
    """IPv4 destinations routed on this host, default route excluded."""
    routes = []
    try:
        with open(route_table) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        destination, mask = (int.from_bytes(bytes.fromhex(fields[i]), "little") for i in (1, 7))
        if mask:
            routes.append(ipaddress.ip_network((destination, bin(mask).count("1")),
                                               strict=False))
    return routes


def remove_containers(client, label=None, names=()):
    """Force-remove the containers carrying ``label`` (``key=value``) and those named
    exactly as one of ``names`` or ``<name>_installer``; return the names removed."""
    wanted = set(names) | {"%s_installer" % n for n in names}
    doomed = {}
    if label:
        for c in client.api.containers(all=True, filters={"label": label}):
            doomed[c["Id"]] = c["Names"][0].lstrip("/")
    if wanted:
        for c in client.api.containers(all=True):
            name = c["Names"][0].lstrip("/")
            if name in wanted:
                doomed[c["Id"]] = name
    for container_id in doomed:
        try:
            client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            continue
    return sorted(doomed.values())


def remove_network(client, name):
    for network in client.networks.list(names=[name]):
        if network.name == name:
            network.remove()
