"""Sockets made by ``wingspan.bus.make_socket``."""

import gc
import time

import gevent
import pytest
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


@pytest.mark.parametrize("recheck, seconds", [(None, 11.6), (bus.IDLE_RECHECK, 60.0)])
def test_a_waiting_green_socket_rechecks_at_its_pace(recheck, seconds):
    """A worker's sockets wait for messages most of their life: pyzmq's green sockets
    re-check every 11.6 s while they wait, which woke every idle worker for nothing."""
    context = zmq.green.Context()
    sock = bus.make_socket(context, zmq.DEALER, recheck=recheck)
    try:
        sock.bind("inproc://waiting")
        waiting = gevent.spawn(sock.recv_multipart)
        gevent.sleep(0.01)
        assert not waiting.dead
        pending = [t.seconds for t in gc.get_objects()
                   if isinstance(t, gevent.Timeout) and t.pending]
        assert seconds in pending
        assert (11.6 in pending) == (seconds == 11.6)
        waiting.kill()
    finally:
        sock.close()
        context.destroy(linger=0)


@pytest.fixture
def xpub():
    """A learning publisher connected to an XSUB that plays the supervisor's proxy."""
    context = zmq.Context()
    upstream = context.socket(zmq.XSUB)
    publisher = None
    try:
        upstream.bind("inproc://events-in")
        publisher = bus.Publisher(context, "inproc://events-in", learns_followers=True)
        changes = []
        publisher.on_followers_change(lambda: changes.append(set(publisher._subscriptions)))
        gevent.sleep(0.05)
        yield publisher, upstream, changes
    finally:
        if publisher is not None:
            publisher.close()
        upstream.close()
        context.destroy(linger=0)


def comes_to(publisher, topic, expected):
    deadline = time.monotonic() + 5
    while publisher.followed(topic) != expected and time.monotonic() < deadline:
        gevent.sleep(0.01)
    return publisher.followed(topic) == expected


def test_a_publisher_learns_which_topics_are_followed(xpub):
    """A worker's publisher is told the subscriptions that reach it, so that it need not
    build events nobody takes, nor sample a server's stats every second while no websocket
    watches it."""
    publisher, upstream, changes = xpub
    assert not publisher.followed(b"stats.a")
    upstream.send(bus.SUBSCRIBE + b"stats.a")
    assert comes_to(publisher, b"stats.a", True)
    assert changes == [{b"stats.a"}]
    assert not publisher.followed(b"stats.b")
    upstream.send(bus.SUBSCRIBE + b"stats.")
    assert comes_to(publisher, b"stats.b", True)
    upstream.send(bus.UNSUBSCRIBE + b"stats.")
    upstream.send(bus.UNSUBSCRIBE + b"stats.a")
    assert comes_to(publisher, b"stats.a", False)
    assert not publisher.followed(b"stats.b")
    assert changes[-1] == set()


def test_a_subscription_a_send_took_in_is_not_missed(xpub):
    """ZeroMQ signals its descriptor once per batch of work: when a publish processes an
    arriving subscription, the descriptor is quiet afterwards, and the publisher must look
    for the subscription itself."""
    publisher, upstream, changes = xpub
    upstream.send(bus.SUBSCRIBE + b"stats.a")
    time.sleep(0.05)  # without the hub: the subscription waits in the socket's mailbox
    for _ in range(3):
        publisher.publish("a", "console", ["x"])
    assert comes_to(publisher, b"stats.a", True)
    assert changes == [{b"stats.a"}]


def test_a_publisher_closed_after_a_send_scheduled_a_look_is_left_alone(xpub):
    """The look a send schedules may run after the worker closed its publisher; it must not
    touch the closed socket (an error in a hub callback)."""
    publisher, upstream, changes = xpub
    upstream.send(bus.SUBSCRIBE + b"stats.a")
    time.sleep(0.05)
    publisher.publish("a", "console", ["x"])
    assert publisher._taking_scheduled
    publisher.close()
    errors = []
    hub = gevent.get_hub()
    original, hub.handle_error = hub.handle_error, lambda *args: errors.append(args)
    try:
        gevent.sleep(0.05)
    finally:
        hub.handle_error = original
    assert errors == [] and changes == []
