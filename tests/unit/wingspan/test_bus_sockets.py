"""Sockets made by ``wingspan.bus.make_socket`` (issue 22: an idle worker's wakes)."""

import zmq
import zmq.asyncio
import zmq.green

from wingspan import bus


def test_a_green_socket_waits_without_waking_every_few_seconds():
    """pyzmq's green sockets wake every 11.6 s while they wait, by default; each wake costs
    an idle worker more than its stats tick, so ours wait a minute between safety checks."""
    context = zmq.green.Context()
    try:
        sock = bus.make_socket(context, zmq.DEALER)
        assert sock._gevent_bug_timeout == bus.GREEN_WAIT_SAFETY_NET == 60.0
        sock.close()
    finally:
        context.term()


def test_asyncio_and_plain_sockets_are_made_as_they_are():
    """The SFTP process's asyncio sockets take no attributes of their own: making one must
    not fail (it once stopped the SFTP process at start)."""
    for context, plain in ((zmq.asyncio.Context(), False), (zmq.Context(), True)):
        try:
            sock = bus.make_socket(context, zmq.DEALER, plain=plain, MAXMSGSIZE=1024)
            assert sock.getsockopt(zmq.MAXMSGSIZE) == 1024
            sock.close()
        finally:
            context.destroy(linger=0)
