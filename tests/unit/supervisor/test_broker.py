"""The request broker (architecture.md §ZeroMQ; issue 3: immediate worker-unavailable errors,
requests held for a worker that is starting)."""

import os
import stat
import time

import gevent
import pytest
import zmq.green as zmq

from supervisor import child
from wingspan import bus, commands, envelope, errors
from tests.support.bus import running_broker
from wingspan.commands import STRING, Command, obj

ECHO = Command("daemon.echo", obj(("text",), text=STRING), obj(("echo",), echo=STRING))
NOTHING = Command("daemon.nothing")
PING = Command("server.ping")
BOOM = Command("boom")
BULK = Command("server.bulk", obj(("n",), n={"type": "integer"}))


class Rig:
    def __init__(self, context, endpoints, client, states, notices, broker):
        self.context, self.endpoints, self.client = context, endpoints, client
        self.states, self.notices, self.broker = states, notices, broker


@pytest.fixture
def rig(tmp_path):
    commands = bus.CommandRegistry()
    commands.register(ECHO)(lambda args: {"echo": args["text"]})
    states, notices = {}, []
    with running_broker(tmp_path / "run", commands, states.get,
                        lambda uuid, msg: notices.append((uuid, msg["cmd"]))) \
            as (context, endpoints, broker):
        client = bus.BusClient(context, endpoints.control)
        yield Rig(context, endpoints, client, states, notices, broker)
        client.close()


def fake_worker(context, endpoints, uuid):
    sock = bus.make_socket(context, zmq.DEALER, IDENTITY=uuid.encode())
    sock.connect(endpoints.workers)
    registry = bus.CommandRegistry()
    registry.register(PING)(lambda args: {"pong": uuid})

    def serve():
        while True:
            client, body = sock.recv_multipart()
            sock.send_multipart([client] + registry.handle(envelope.load(body)))

    return sock, gevent.spawn(serve)


def test_run_dir_is_private(rig):
    assert stat.S_IMODE(os.stat(rig.endpoints.run_dir).st_mode) == 0o700


def test_supervisor_command_without_server(rig):
    assert rig.client.call(ECHO, args={"text": "hi"}) == {"echo": "hi"}


def test_request_reaches_the_named_worker_and_back(rig):
    sock, loop = fake_worker(rig.context, rig.endpoints, "s1")
    rig.states["s1"] = child.RUNNING
    gevent.sleep(0.1)
    assert rig.client.call(PING, "s1") == {"pong": "s1"}
    loop.kill()
    sock.close()


def test_asked_requests_are_in_flight_together_and_can_be_discarded(rig):
    """``ask`` sends at once: both requests reach the worker before either result is read,
    each result comes back to its own caller (``ready`` once it is in), and a discarded
    one is forgotten."""
    sock = bus.make_socket(rig.context, zmq.DEALER, IDENTITY=b"s2")
    sock.connect(rig.endpoints.workers)
    rig.states["s2"] = child.RUNNING
    gevent.sleep(0.1)
    first = rig.client.ask(BULK, "s2", {"n": 1})
    second = rig.client.ask(BULK, "s2", {"n": 2})
    third = rig.client.ask(BULK, "s2", {"n": 3})
    received = [sock.recv_multipart() for _ in range(3)]
    assert not first.ready()
    for client, body in reversed(received):  # answered last first
        req = envelope.load(body)
        sock.send_multipart([client, envelope.dump(envelope.reply_ok(req, req["args"]))])
    third.discard()
    gevent.sleep(0.05)
    assert first.ready() and second.ready()
    assert second.result() == {"n": 2}
    assert first.result() == {"n": 1}
    gevent.sleep(0.05)
    assert rig.client._pending == {}
    sock.close()


@pytest.mark.parametrize("state", [None, child.BACKOFF, child.FAILED, child.STOPPED])
def test_worker_that_is_not_coming_is_refused_at_once(rig, state):
    if state is not None:
        rig.states["w"] = state
    started = time.monotonic()
    with pytest.raises(errors.WorkerUnavailable):
        rig.client.call(PING, "w", timeout=5.0)
    assert time.monotonic() - started < 1.0


def test_disconnected_worker_is_refused_at_once(rig):
    rig.states["gone"] = child.RUNNING  # believed ready, never connected: ROUTER_MANDATORY
    started = time.monotonic()
    with pytest.raises(errors.WorkerUnavailable):
        rig.client.call(PING, "gone", timeout=5.0)
    assert time.monotonic() - started < 1.0


def test_request_for_a_starting_worker_is_served_once_it_is_ready(rig):
    rig.states["late"] = child.STARTING
    call = gevent.spawn(rig.client.call, PING, "late", timeout=5.0)
    gevent.sleep(0.3)
    assert not call.ready()  # held, not refused
    sock, loop = fake_worker(rig.context, rig.endpoints, "late")
    gevent.sleep(0.1)
    rig.states["late"] = child.RUNNING
    rig.broker.worker_ready("late")
    assert call.get(timeout=2.0) == {"pong": "late"}
    loop.kill()
    sock.close()


def test_held_request_is_refused_just_before_its_deadline(rig):
    rig.states["slow"] = child.STARTING
    started = time.monotonic()
    with pytest.raises(errors.WorkerUnavailable):
        rig.client.call(PING, "slow", timeout=1.0)
    assert 0.5 < time.monotonic() - started < 1.0


def test_held_request_is_refused_when_the_starting_worker_dies(rig):
    rig.states["doomed"] = child.STARTING
    call = gevent.spawn(rig.client.call, PING, "doomed", timeout=5.0)
    gevent.sleep(0.2)
    rig.broker.worker_gone("doomed")
    with pytest.raises(errors.WorkerUnavailable):
        call.get(timeout=1.0)


def test_unknown_command_is_an_error_not_a_hang(rig):
    with pytest.raises(errors.UnknownCommand):
        rig.client.call(NOTHING, timeout=2.0)


def test_silent_worker_times_out_with_bus_timeout(rig):
    sock = bus.make_socket(rig.context, zmq.DEALER, IDENTITY=b"mute")
    sock.connect(rig.endpoints.workers)
    rig.states["mute"] = child.RUNNING
    gevent.sleep(0.1)
    with pytest.raises(errors.BusTimeout):
        rig.client.call(PING, "mute", timeout=0.3)
    sock.close()


def test_worker_notice_reaches_the_supervisor(rig):
    sock = bus.make_socket(rig.context, zmq.DEALER, IDENTITY=b"w9")
    sock.connect(rig.endpoints.workers)
    sock.send(envelope.dump(envelope.request(commands.WORKER_READY, "w9")))
    for _ in range(50):
        if rig.notices:
            break
        gevent.sleep(0.02)
    assert rig.notices == [("w9", "worker.ready")]
    sock.close()


def test_handler_crash_answers_internal_error():
    registry = bus.CommandRegistry()
    registry.register(BOOM)(lambda args: 1 / 0)
    frames = registry.handle(envelope.request(BOOM))
    assert len(frames) == 1
    reply = envelope.load(frames[0])
    assert reply["ok"] is False and reply["error"]["code"] == "internal"


def test_bytes_attached_to_a_reply_travel_in_their_own_frame(rig):
    """A worker's attached bytes reach the caller untouched, through the broker."""
    sock = bus.make_socket(rig.context, zmq.DEALER, IDENTITY=b"s3")
    sock.connect(rig.endpoints.workers)
    registry = bus.CommandRegistry()
    registry.register(BULK)(
        lambda args: envelope.Attached({"n": args["n"]}, b'{"quoted":"\\"}\x00' * args["n"]))
    rig.states["s3"] = child.RUNNING
    gevent.sleep(0.1)
    pending = rig.client.ask(BULK, "s3", {"n": 3})
    client, body = sock.recv_multipart()
    frames = registry.handle(envelope.load(body))
    assert len(frames) == 2
    sock.send_multipart([client] + frames)
    answer = pending.result()
    assert isinstance(answer, envelope.Attached)
    assert answer.result == {"n": 3}
    assert answer.data == b'{"quoted":"\\"}\x00' * 3
    assert rig.client.call(ECHO, args={"text": "plain"}) == {"echo": "plain"}
    sock.close()


def raw_socket(rig, endpoint):
    sock = bus.make_socket(rig.context, zmq.DEALER)
    sock.connect(endpoint)
    return sock


def echo_request(req_id):
    return envelope.dump({"v": 1, "id": req_id, "server": None, "cmd": "daemon.echo",
                          "args": {"text": req_id}, "deadline": time.time() + 5})


def next_reply(sock, timeout=2.0):
    with gevent.Timeout(timeout):
        return envelope.load(sock.recv_multipart()[0])


@pytest.mark.parametrize("body", [
    b'{"v":1,"id":["x"],"server":"s1","cmd":"server.ping","args":{},"deadline":9e9}',
    b'{"v":1,"id":"x","server":"s1","cmd":"server.ping","args":{}}',
    b'{"v":1,"id":"x","server":["s1"],"cmd":"server.ping","args":{},"deadline":9e9}',
    b'{"v":1,"id":"x","server":"s2","cmd":"server.ping","args":{},"deadline":"later"}',
    b'{"v":1,"id":"x","server":null,"cmd":7,"args":{},"deadline":9e9}',
])
def test_a_request_of_the_wrong_shape_is_dropped_and_the_broker_goes_on(rig, body):
    """Found by the bus fuzzer (issue 19): an unhashable id or server, or a missing or
    textual deadline, ended the broker's loop, and no request was routed again."""
    rig.states.update(s1=child.RUNNING, s2=child.STARTING)
    sock = raw_socket(rig, rig.endpoints.control)
    sock.send(body)
    gevent.sleep(0.2)  # a held request would be swept meanwhile
    sock.send(echo_request("after"))
    assert next_reply(sock)["result"] == {"echo": "after"}
    sock.close()


def test_a_request_id_with_a_lone_surrogate_is_answered(rig):
    """Found by the bus fuzzer: ``"\\ud800"`` decodes to a string with no UTF-8 form, and
    the answer to it ended the broker's loop."""
    sock = raw_socket(rig, rig.endpoints.control)
    sock.send(b'{"v":1,"id":"\\ud800","server":"gone","cmd":"x","args":{},"deadline":9e9}')
    reply = next_reply(sock)
    assert reply["id"] == "\ud800" and reply["error"]["code"] == "worker_unavailable"
    sock.send(echo_request("after"))
    assert next_reply(sock)["result"] == {"echo": "after"}
    sock.close()


def test_a_worker_reply_of_the_wrong_shape_is_dropped(rig):
    """Found by the bus fuzzer: a reply whose id was a list ended the broker's loop."""
    worker = raw_socket(rig, rig.endpoints.workers)
    worker.send_multipart([b"nobody", b'{"v":1,"id":["x"],"ok":true,"result":{}}'])
    gevent.sleep(0.1)
    sock = raw_socket(rig, rig.endpoints.control)
    sock.send(echo_request("after"))
    assert next_reply(sock)["result"] == {"echo": "after"}
    sock.close()
    worker.close()
