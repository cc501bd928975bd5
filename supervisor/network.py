"""The node's Docker network: created at boot when missing (wings-behaviour.md §3.5)."""

import hashlib
import logging

log = logging.getLogger(__name__)

OVERLAY_DRIVERS = ("overlay", "weavemesh")


def bridge_name(network_name):
    """Wings' ``pterodactyl0`` for the default network; a distinct one for any other,
    so that two networks on one host never fight over the same Linux bridge."""
    if network_name == "pterodactyl_nw":
        return "pterodactyl0"
    return "wg-" + hashlib.sha1(network_name.encode()).hexdigest()[:12]


def create_body(network):
    """The Engine API's ``NetworkCreateRequest`` (without ``Name``) from
    ``cfg.docker.network``."""
    prefix = "com.docker.network."
    v4, v6 = network.interfaces.v4, network.interfaces.v6
    return {
        "Driver": network.driver or "bridge",
        "Internal": network.is_internal,
        "EnableIPv6": True,
        "Options": {
            "encryption": "false",
            prefix + "bridge.default_bridge": "false",
            prefix + "bridge.enable_icc": str(network.enable_icc).lower(),
            prefix + "bridge.enable_ip_masquerade": "true",
            prefix + "bridge.host_binding_ipv4": "0.0.0.0",
            prefix + "bridge.name": bridge_name(network.name),
            prefix + "driver.mtu": str(network.network_mtu),
        },
        "IPAM": {
            "Driver": "default",
            "Config": [
                {"Subnet": v4.subnet, "Gateway": v4.gateway},
                {"Subnet": v6.subnet, "Gateway": v6.gateway},
            ],
        },
    }


def ensure_network(engine, cfg):
    """Create the network if needed and record what it really is in the config.

    Unlike Wings, the driver is taken from the inspected network even right after creating
    it, so the rewritten config never says ``driver: ""``.
    """
    network = cfg.docker.network
    info = engine.ensure_network(network.name, create_body(network))
    driver = info.get("Driver") or network.driver
    network.driver = driver
    if driver == "host":
        network.interface, network.ispn = "127.0.0.1", False
    elif driver in OVERLAY_DRIVERS:
        network.interface, network.ispn = "", True
    else:
        network.interface = network.interfaces.v4.gateway
    log.info("docker network %s ready (driver %s)", network.name, driver)
