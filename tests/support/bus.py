"""A supervisor's broker on a temporary run directory, for tests of what travels the bus."""

import contextlib

import gevent
import zmq.green as zmq

from supervisor.broker import Broker
from wingspan import bus


@contextlib.contextmanager
def running_broker(run_dir, commands, worker_state=lambda uuid: None,
                   on_notice=lambda uuid, message: None):
    """Yields ``(context, endpoints, broker)`` with the broker serving ``commands``; all is
    closed after."""
    context = zmq.Context()
    endpoints = bus.Endpoints(str(run_dir))
    endpoints.prepare()
    broker = Broker(context, endpoints, commands, worker_state, on_notice)
    loop = gevent.spawn(broker.run)
    try:
        yield context, endpoints, broker
    finally:
        loop.kill()
        context.destroy(linger=0)
