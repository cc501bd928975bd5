"""The address policy of remote downloads (wings-api.md §5.12; SSRF advisories in peers.md).

Internal ranges are checked here, by the policy alone: no traffic is ever sent to them.
"""

import socket

import pytest

from wingspan import egress, errors


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1",
    "255.255.255.255", "192.0.2.10", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff01::1",
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "2002:7f00:1::1", "2001:db8::1",
])
def test_internal_and_special_addresses_are_refused(address):
    assert egress.is_allowed(address) is False


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "93.184.216.34",
                                     "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_unicast_addresses_are_allowed(address):
    assert egress.is_allowed(address) is True


def fake_resolver(*addresses):
    def resolve(host, port, type=0):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in addresses]
    return resolve


def test_resolve_allowed_returns_the_checked_address():
    assert egress.resolve_allowed("example.com", 443, fake_resolver("93.184.216.34")) == \
        "93.184.216.34"


def test_a_host_with_any_internal_address_is_refused():
    """A name answering both a public and a private address could be raced: refuse it."""
    with pytest.raises(errors.DestinationRefused) as caught:
        egress.resolve_allowed("mixed.example", 80, fake_resolver("93.184.216.34", "10.0.0.5"))
    assert caught.value.status == 400
    assert caught.value.public_message == egress.REFUSED


def test_localhost_is_refused_by_real_resolution():
    with pytest.raises(errors.DestinationRefused):
        egress.resolve_allowed("localhost", 80)


def test_unresolvable_host_is_a_clear_400():
    def fail(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")
    with pytest.raises(errors.BadRequest) as caught:
        egress.resolve_allowed("nowhere.invalid", 80, fail)
    assert caught.value.status == 400
    assert "could not be resolved" in caught.value.public_message
