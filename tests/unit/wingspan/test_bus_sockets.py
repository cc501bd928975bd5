"""Sockets made by ``wingspan.bus.make_socket``."""

import zmq
import zmq.asyncio

from wingspan import bus


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
