"""The bus for a process that runs an asyncio loop instead of gevent (the SFTP process).

The same sockets and envelopes as ``wingspan.bus`` (which holds the topology), through
pyzmq's asyncio sockets: a request client with many calls in flight and an event feed.
"""

import asyncio
import logging

import zmq
import zmq.asyncio

from wingspan import bus, envelope, errors

log = logging.getLogger(__name__)


class AsyncBusClient:
    """A DEALER client: one reader task matches replies to waiting callers by id."""

    def __init__(self, context, endpoint):
        self._sock = bus.make_socket(context, zmq.DEALER, MAXMSGSIZE=envelope.MAX_MESSAGE_BYTES)
        self._sock.connect(endpoint)
        self._pending = {}
        self._reader = asyncio.get_running_loop().create_task(self._read_replies())

    async def call(self, command, server=None, args=None, timeout=5.0):
        """Send a request for a declared ``wingspan.commands.Command`` and wait for its
        result.

        Raises:
            WingspanError: the error the other side replied with (same class).
            BusTimeout: no reply before the deadline.
        """
        req = envelope.request(command, server, args, timeout)
        waiter = self._pending[req["id"]] = asyncio.get_running_loop().create_future()
        try:
            await self._sock.send(envelope.dump(req))
            reply, attached = await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError as e:
            raise errors.BusTimeout(detail="%s to %s timed out" % (command.name, server)) from e
        finally:
            self._pending.pop(req["id"], None)
        return envelope.result_of(reply, attached)

    async def _read_replies(self):
        while True:
            frames = await self._sock.recv_multipart()
            reply = envelope.load_or_drop(frames[0], "a reply", envelope.is_reply)
            if reply is None:
                continue
            waiter = self._pending.get(reply.get("id"))
            if waiter is not None and not waiter.done():
                waiter.set_result((reply, frames[1:]))

    def close(self):
        self._reader.cancel()
        self._sock.close()


class AsyncEventFeed:
    """Events matching topic prefixes, as ``(server, event, data)``."""

    def __init__(self, context, endpoint, prefixes=()):
        self._sock = bus.subscriber(context, endpoint, prefixes)

    def subscribe(self, prefix):
        self._sock.setsockopt(zmq.SUBSCRIBE, prefix)

    async def __aiter__(self):
        while True:
            event = envelope.load_or_drop((await self._sock.recv_multipart())[-1], "an event",
                                          envelope.is_event)
            if event is not None:
                yield event["server"], event["event"], event.get("data")

    def close(self):
        self._sock.close()


def context():
    return zmq.asyncio.Context()
