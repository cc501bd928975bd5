"""The request broker (architecture.md §ZeroMQ; issue 3: immediate worker-unavailable errors)."""

import time

import gevent
import pytest
import zmq.green as zmq

from supervisor.broker import Broker
from wingspan import bus, envelope, errors


@pytest.fixture
def rig(tmp_path):
    context = zmq.Context()
    endpoints = bus.Endpoints(str(tmp_path / "run"))
    endpoints.prepare()
    commands = bus.CommandRegistry()
    commands.register("daemon.echo")(lambda args: {"echo": args["text"]})
    ready, notices = set(), []
    broker = Broker(context, endpoints, commands, ready.__contains__,
                    lambda uuid, msg: notices.append((uuid, msg["cmd"])))
    loop = gevent.spawn(broker.run)
    client = bus.BusClient(context, endpoints.control)
    yield context, endpoints, client, ready, notices
    client.close()
    loop.kill()
    context.destroy(linger=0)


def fake_worker(context, endpoints, uuid):
    sock = bus.make_socket(context, zmq.DEALER, IDENTITY=uuid.encode())
    sock.connect(endpoints.workers)
    registry = bus.CommandRegistry()
    registry.register("server.ping")(lambda args: {"pong": uuid})

    def serve():
        while True:
            client, body = sock.recv_multipart()
            sock.send_multipart([client, envelope.dump(registry.handle(envelope.load(body)))])

    return sock, gevent.spawn(serve)


def test_run_dir_is_private(rig):
    _, endpoints, *_ = rig
    import os
    import stat
    assert stat.S_IMODE(os.stat(endpoints.run_dir).st_mode) == 0o700


def test_supervisor_command_without_server(rig):
    _, _, client, _, _ = rig
    assert client.call("daemon.echo", args={"text": "hi"}) == {"echo": "hi"}


def test_request_reaches_the_named_worker_and_back(rig):
    context, endpoints, client, ready, _ = rig
    sock, loop = fake_worker(context, endpoints, "s1")
    ready.add("s1")
    gevent.sleep(0.1)
    assert client.call("server.ping", "s1") == {"pong": "s1"}
    loop.kill()
    sock.close()


def test_unready_worker_is_refused_at_once(rig):
    _, _, client, _, _ = rig
    started = time.monotonic()
    with pytest.raises(errors.WorkerUnavailable):
        client.call("server.ping", "nobody", timeout=5.0)
    assert time.monotonic() - started < 1.0


def test_disconnected_worker_is_refused_at_once(rig):
    _, _, client, ready, _ = rig
    ready.add("gone")  # believed ready, but never connected: ROUTER_MANDATORY tells us
    started = time.monotonic()
    with pytest.raises(errors.WorkerUnavailable):
        client.call("server.ping", "gone", timeout=5.0)
    assert time.monotonic() - started < 1.0


def test_unknown_command_is_an_error_not_a_hang(rig):
    _, _, client, _, _ = rig
    with pytest.raises(errors.UnknownCommand):
        client.call("daemon.nothing", timeout=2.0)


def test_silent_worker_times_out_with_bus_timeout(rig):
    context, endpoints, client, ready, _ = rig
    sock = bus.make_socket(context, zmq.DEALER, IDENTITY=b"mute")
    sock.connect(endpoints.workers)
    ready.add("mute")
    gevent.sleep(0.1)
    with pytest.raises(errors.BusTimeout):
        client.call("server.ping", "mute", timeout=0.3)
    sock.close()


def test_worker_notice_reaches_the_supervisor(rig):
    context, endpoints, _, _, notices = rig
    sock = bus.make_socket(context, zmq.DEALER, IDENTITY=b"w9")
    sock.connect(endpoints.workers)
    sock.send(envelope.dump(envelope.request("worker.ready", "w9")))
    for _ in range(50):
        if notices:
            break
        gevent.sleep(0.02)
    assert notices == [("w9", "worker.ready")]
    sock.close()


def test_handler_crash_answers_internal_error():
    registry = bus.CommandRegistry()
    registry.register("boom")(lambda args: 1 / 0)
    reply = registry.handle(envelope.request("boom"))
    assert reply["ok"] is False and reply["error"]["code"] == "internal"
