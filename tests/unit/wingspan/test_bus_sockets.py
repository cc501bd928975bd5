"""Sockets made by ``wingspan.bus.make_socket`` (issue 22: an idle worker's wakes)."""

import zmq.green as zmq

from wingspan import bus


def test_a_green_socket_waits_without_waking_every_few_seconds():
    """pyzmq's green sockets wake every 11.6 s while waiting, by default; each wake costs
    an idle worker more than its stats tick, so ours wait a minute between safety checks."""
    context = zmq.Context()
    try:
        sock = bus.make_socket(context, zmq.DEALER)
        assert sock._gevent_bug_timeout == bus.GREEN_WAIT_SAFETY_NET == 60.0
        sock.close()
    finally:
        context.term()
