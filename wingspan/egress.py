"""Which remote addresses the daemon may download from on a user's behalf.

A remote download (``POST /files/pull``, wings-api.md §5.12) is an SSRF vector: a user who
can name a URL could otherwise make the node fetch from its own loopback, the Docker
bridge, the cloud metadata service or the hosting company's private network. Only
globally routable unicast addresses are allowed. The hostname is resolved once, every
address it resolves to must be allowed, and the connection is then made to that checked
address (the caller pins it), so DNS rebinding between check and connect cannot work.
"""

import ipaddress
import socket

from wingspan import errors

DEFAULT_PORTS = {"http": 80, "https": 443}

# Named in Wings' own check (§5.12); is_global below covers them and more (CGNAT,
# documentation, benchmarking, reserved), they are listed so the policy reads as the spec.
INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "::1/128", "fe80::/10", "fc00::/7"))

REFUSED = "The URL provided resolves to an internal network location and cannot be used."


def is_allowed(address):
    """Whether ``address`` (str or ipaddress object) is a public unicast address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and (ip.ipv4_mapped or ip.sixtofour):
        ip = ip.ipv4_mapped or ip.sixtofour
    if any(ip in network for network in INTERNAL_NETWORKS if network.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def resolve_allowed(host, port, resolver=socket.getaddrinfo):
    """The first address of ``host`` to connect to, after checking all of them.

    Raises:
        DestinationRefused: ``host`` resolves (also) to a non-public address.
        BadRequest: ``host`` does not resolve.
    """
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise errors.BadRequest("The remote host %s could not be resolved." % host,
                                detail=str(e)) from e
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise errors.BadRequest("The remote host %s could not be resolved." % host)
    refused = [a for a in addresses if not is_allowed(a.split("%", 1)[0])]
    if refused:
        raise errors.DestinationRefused(REFUSED, detail="%s resolves to %s" % (host, refused))
    return addresses[0]
