"""Sockets made by ``wingspan.bus.make_socket``."""

import gevent
import zmq
import zmq.asyncio
import zmq.green

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


def test_a_green_socket_waits_without_a_timer():
    """A worker's sockets wait for messages most of their life: a timer per wait would wake
    every idle worker for nothing (pyzmq's green sockets re-check every 11.6 s)."""
    context = zmq.green.Context()
    sock = bus.make_socket(context, zmq.DEALER)
    try:
        sock.bind("inproc://waiting")
        loop = gevent.get_hub().loop
        gevent.sleep(0)
        watchers = loop.activecnt
        waiting = gevent.spawn(sock.recv_multipart)
        gevent.sleep(0.01)
        assert not waiting.dead
        assert loop.activecnt == watchers
        waiting.kill()
    finally:
        sock.close()
        context.destroy(linger=0)
