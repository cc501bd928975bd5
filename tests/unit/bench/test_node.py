"""Game ports of a benchmark node (bench/node.py): distinct, free, and below the kernel's
ephemeral range that ``tests.support.ports.free_port`` draws from."""

import random
import socket

from bench.node import GAME_PORTS, game_ports


def test_ports_are_distinct_and_below_the_ephemeral_range():
    ports = game_ports(200, random.Random(7))
    assert len(set(ports)) == 200
    assert all(GAME_PORTS[0] <= p < GAME_PORTS[1] for p in ports)
    assert GAME_PORTS[1] <= 32768  # Linux's default ip_local_port_range starts there


def test_a_bound_port_is_never_handed_out():
    rng_seed = 11
    first = game_ports(1, random.Random(rng_seed))[0]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        assert first not in game_ports(1, random.Random(rng_seed))
