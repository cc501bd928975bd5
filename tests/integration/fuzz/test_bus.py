"""Bus fuzzing (issue 19, "Fuzzing"): random and malformed messages on the daemon's own
ZeroMQ sockets.

Spec: architecture.md "ZeroMQ" (the envelope, every request answered, a worker that is down
answered at once); wingspan/envelope.py (request and reply shapes, a request past its
deadline is dropped, a peer's bad message is dropped and never fatal).

Aimed at the broker's sockets in the run directory: the control ROUTER (where the API and
the SFTP process ask), the workers ROUTER (where workers answer and send notices) and the
event proxy's input. A worker binds nothing: requests naming its server reach it verbatim
through the broker, so every request below with the server's uuid is a message sent
straight to the worker.

Every well-formed request (an object with ``v`` 1, a string ``id``, a string or null
``server``, a string ``cmd``, a numeric ``deadline`` in the future) gets exactly one reply
with its id: a result that fits the reply its command declares (wingspan/commands.py), or
an error with a code other than the generic ``internal`` (which means a handler failed on
input it should have refused). Nothing else is ever answered
with anything but a reply envelope; no process dies; the daemon logs no traceback.
"""

import json
import random
import time
import uuid as uuidlib

import zmq

from tests.integration.fuzz.conftest import SEED, assert_unharmed
from wingspan import commands
from wingspan.bus import Endpoints
from wingspan.envelope import MAX_MESSAGE_BYTES

REQUESTS = 4000
WORKER_SIDE = 400
EVENTS = 400
OVERSIZED = 4
REPLY_WAIT = 30.0
SEND_TIMEOUT_MS = 10000
KNOWN = sorted(commands.ALL)
# Commands that would reinstall, remove or transfer the server if their arguments were
# valid (which empty ones may be): always sent with an argument they refuse.
DISRUPTIVE = {c.name for c in (commands.INSTALL, commands.REINSTALL, commands.DELETE_SERVER,
                               commands.TRANSFER_OUT, commands.CANCEL_TRANSFER_OUT,
                               commands.TRANSFER_IN_COMPLETE, commands.TRANSFER_FINISHED)}
UNKNOWN = ("", "server.", "server.rm", "servers", "worker.ready", "SERVER.SNAPSHOT",
           "server.snapshot ", "__class__", "server.__init__", "daemon.", "x" * 300)
# Every declared argument name, and two nobody declares.
KEYS = sorted({name for command in commands.ALL.values()
               for name in command.args_schema.get("properties", {})}) + ["", "__proto__"]


class Fuzzer:
    """Draws messages from one seeded RNG."""

    def __init__(self, seed, server):
        self.rng = random.Random(seed)
        self.server = server

    # -- JSON values ----------------------------------------------------------------------

    def value(self, depth=0):
        rng = self.rng
        kinds = ["null", "bool", "int", "bigint", "float", "string", "string", "path"]
        if depth < 3:
            kinds += ["list", "object"]
        kind = rng.choice(kinds)
        if kind == "null":
            return None
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "int":
            return rng.choice([0, 1, -1, 5, 300, 301, 2 ** 31, -(2 ** 31), rng.randint(-999, 999)])
        if kind == "bigint":
            return rng.choice([1, -1]) * rng.randint(2 ** 63, 2 ** 200)
        if kind == "float":
            return rng.choice([0.5, -0.0, 1e308, -1e308, 1e-320, 3.0, rng.uniform(-1e6, 1e6)])
        if kind == "string":
            return self.string()
        if kind == "path":
            return rng.choice(["/", ".", "..", "../../etc/passwd", "/etc/shadow", "a/../../b",
                               "dir/", "\x00", "a\x00b", "~", "//", "*", "..\\..\\x"])
        if kind == "list":
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {self.string(12): self.value(depth + 1) for _ in range(rng.randint(0, 4))}

    def string(self, longest=40):
        rng = self.rng
        pick = rng.random()
        if pick < 0.05:
            return "x" * rng.choice([1000, 70000])
        if pick < 0.15:
            return rng.choice(["start", "stop", "restart", "kill", str(uuidlib.uuid4()),
                               self.server, "http://127.0.0.1:1/x", "file:///etc/passwd"])
        alphabet = "ab/._- \n\t\"\\%\u00e9\u4e2d\U0001f600\ud800\udfff\x00\x7f"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))

    def args(self):
        """Arguments of mostly the wrong shape: declared names with random values, random
        names, or no object at all."""
        rng = self.rng
        pick = rng.random()
        if pick < 0.15:
            return self.value()
        keys = KEYS if pick < 0.85 else [self.string(12) for _ in range(3)]
        return {rng.choice(keys): self.value() for _ in range(rng.randint(1, 4))}

    # -- requests -------------------------------------------------------------------------

    def request(self):
        """A request by the envelope's rules; one in twenty has expired."""
        rng = self.rng
        cmd = rng.choice(KNOWN) if rng.random() < 0.8 else rng.choice(UNKNOWN)
        if cmd.startswith("server."):
            server = self.server if rng.random() < 0.85 else str(uuidlib.uuid4())
        else:
            server = None if rng.random() < 0.85 else rng.choice([self.server, ""])
        args = self.args()
        if cmd in DISRUPTIVE:
            args = dict(args if isinstance(args, dict) else {}, unexpected=True)
        req = {"v": 1, "id": uuidlib.uuid4().hex, "server": server, "cmd": cmd, "args": args,
               "deadline": time.time() + REPLY_WAIT}
        if rng.random() < 0.05:
            req["extra"] = self.value()
        if rng.random() < 0.05 and cmd not in DISRUPTIVE:
            del req["args"]
        if rng.random() < 0.05:
            req["deadline"] = time.time() - rng.choice([1, 3600])
        return req

    def near_limit(self):
        """A request to the worker just under the bus's size limit."""
        return {"v": 1, "id": uuidlib.uuid4().hex, "server": self.server,
                "cmd": commands.LOGS.name,
                "args": {"size": 1, "pad": "p" * (MAX_MESSAGE_BYTES - 4096)},
                "deadline": time.time() + REPLY_WAIT}

    def mutated(self):
        """A request with one field removed or replaced, or bytes that are no request:
        ``(body, request)``, ``request`` being the decoded object (None if undecodable)."""
        rng = self.rng
        pick = rng.random()
        if pick < 0.3:
            return rng.choice([b"", b"{", b"null", b"[]", b"1", b'"s"', b"\xff\xfe\x00",
                               b'{"v":1', b"{}", b'{"v":2}', b'{"v":"1"}', b'{"v":1.0}',
                               b'{"v":true}', b"NaN", b'{"v":1,"v":2}',
                               bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))]), None
        req = self.request()
        key = rng.choice(["v", "id", "server", "cmd", "deadline"]
                         + ([] if req["cmd"] in DISRUPTIVE else ["args"]))
        if pick < 0.5:
            req.pop(key, None)
        else:
            req[key] = self.value()
        return dump(req), req

    def garbage(self):
        return self.mutated()[0]


def dump(obj):
    """JSON as a careless peer writes it: lone surrogates escaped, NaN allowed."""
    return json.dumps(obj).encode()


def well_formed(req, now):
    """Whether ``req`` must be answered: a request by the envelope's rules, not expired."""
    return (isinstance(req, dict) and req.get("v") == 1 and isinstance(req.get("id"), str)
            and (req.get("server") is None or isinstance(req.get("server"), str))
            and isinstance(req.get("cmd"), str)
            and type(req.get("deadline")) in (int, float) and req["deadline"] > now + 5)


def connect(context, kind, endpoint, **options):
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)  # a broker that stopped reading fails the test
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    sock.connect(endpoint)
    return sock


def check_reply(frames, expected):
    """One reply's frames: a reply envelope; returns its id. (The broker may answer an
    expired request too, and forged replies reach us: only replies to ``expected``
    requests are judged further.)"""
    reply = json.loads(frames[0])
    assert reply.get("v") == 1 and isinstance(reply.get("id"), str) \
        and isinstance(reply.get("ok"), bool), reply
    if reply["id"] in expected and not reply["ok"]:
        error = reply["error"]
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
        assert error["code"] != "internal", \
            "a handler failed on %r: %r" % (expected[reply["id"]], reply)
    elif reply["id"] in expected:
        command = commands.ALL.get(expected[reply["id"]].get("cmd"))
        if command is not None:
            problem = command.reply_problem(reply.get("result"))
            assert problem is None, "%s replied outside its declaration (%s): %r" % (
                command.name, problem, reply)
    return reply["id"]


def collect(sock, expected, answered, wait=0.0):
    """Read the replies that are in into ``answered``, then go on waiting for the rest of
    ``expected`` for up to ``wait`` seconds. (Reading as we go matters: past its high-water
    mark the broker's ROUTER drops what a slow reader has not taken.)"""
    until = time.monotonic() + wait
    while len(answered) < len(expected):  # answered holds expected ids only
        left = until - time.monotonic()
        if not sock.poll(max(0, min(100, int(left * 1000)))):
            if left <= 0:
                return
            continue
        req_id = check_reply(sock.recv_multipart(), expected)
        if req_id in expected:
            assert req_id not in answered, "two replies to %r" % expected[req_id]
            answered[req_id] = True


def test_bus_fuzz(target):
    daemon, uuid = target
    endpoints = Endpoints(daemon.config["wingspan"]["run_directory"])
    before = daemon.processes()
    fuzz = Fuzzer(SEED, uuid)
    context = zmq.Context()
    control = connect(context, zmq.DEALER, endpoints.control, IDENTITY=b"fuzz-control")
    workers = connect(context, zmq.DEALER, endpoints.workers, IDENTITY=b"fuzz-worker")
    events = connect(context, zmq.PUB, endpoints.events_in)
    expected, answered, used_ids, sent = {}, {}, set(), 0
    try:
        for _ in range(REQUESTS):
            pick = fuzz.rng.random()
            if pick < 0.6:
                req = fuzz.request()
                body = dump(req)
            else:
                body, req = fuzz.mutated()
            if isinstance(req, dict) and isinstance(req.get("id"), str):
                if req["id"] in used_ids:  # one reply per id: a reused one is renewed
                    req["id"] = uuidlib.uuid4().hex
                    body = dump(req)
                used_ids.add(req["id"])
                req = json.loads(body)  # as the daemon reads it: "\ud800\udfff" is one character
            frames = [body]
            if pick > 0.9:  # frames before the body: the broker reads only the last one
                frames[:0] = [fuzz.string(8).encode("utf-8", "replace")
                              for _ in range(fuzz.rng.randint(1, 3))]
            if well_formed(req, time.time()):
                expected[req["id"]] = req
            control.send_multipart(frames)
            sent += 1
            collect(control, expected, answered)
        for _ in range(WORKER_SIDE):
            workers.send_multipart(worker_side_garbage(fuzz))
            sent += 1
        for _ in range(EVENTS):
            events.send_multipart(event_garbage(fuzz, uuid))
            sent += 1
        sent += send_oversized(context, endpoints)
        near_limit = fuzz.near_limit()
        expected[near_limit["id"]] = near_limit
        control.send(dump(near_limit))
        sent += 1
        collect(control, expected, answered, REPLY_WAIT + 5)
    finally:
        context.destroy()
    missing = [expected[i] for i in set(expected) - set(answered)]
    assert not missing, "%d of %d well-formed requests unanswered, e.g. %r" % (
        len(missing), len(expected), missing[:3])
    print("bus fuzz (seed %d): %d messages, %d well-formed requests answered"
          % (SEED, sent, len(answered)))
    assert_unharmed(daemon, before)


def worker_side_garbage(fuzz):
    """What a confused worker could send: notices, replies to nobody (or to our own
    control socket, which must then be a reply envelope we can ignore), odd frame counts."""
    rng = fuzz.rng
    pick = rng.random()
    if pick < 0.3:  # a notice
        body = rng.choice([fuzz.garbage(), dump({"v": 1, "id": "x", "server": fuzz.server,
                                                   "cmd": rng.choice(["worker.ready", "x"]),
                                                   "args": {}, "deadline": time.time()})])
        return [body]
    if pick < 0.7:  # a reply, to a client that does not exist
        reply = {"v": 1, "id": uuidlib.uuid4().hex, "ok": rng.random() < 0.5,
                 "result": fuzz.value()}
        frames = [rng.choice([b"nobody", b"", uuidlib.uuid4().bytes, b"fuzz-control"]),
                  rng.choice([dump(reply), fuzz.garbage()])]
        return frames + [b"attached"] * rng.randint(0, 1)
    return [fuzz.string(8).encode("utf-8", "replace") for _ in range(rng.randint(1, 6))]


def event_garbage(fuzz, uuid):
    """Events the subscribers must shrug off: undecodable, missing their keys, or about a
    server nobody knows."""
    rng = fuzz.rng
    topic = rng.choice([b"server.%s.status" % uuid.encode(), b"server.%s.x" % uuid.encode(),
                        b"daemon.x", b"server.", b"", b"server.x.y"])
    pick = rng.random()
    if pick < 0.4:
        body = fuzz.garbage()
    elif pick < 0.7:
        event = {"v": 1, "server": fuzz.value(), "event": fuzz.value(), "data": fuzz.value(),
                 "seq": fuzz.value(), "boot": fuzz.value(), "ts": fuzz.value()}
        for key in rng.sample(sorted(event), rng.randint(0, 3)):
            del event[key]
        body = dump(event)
    else:
        body = dump({"v": 1, "server": str(uuidlib.uuid4()), "event": fuzz.string(20),
                     "data": fuzz.value(), "seq": 1, "boot": "fuzz", "ts": time.time()})
    return [topic, body] if rng.random() < 0.9 else [topic]


def send_oversized(context, endpoints):
    """Frames past the bus's 4 MiB limit, on sockets of their own (the broker cuts the
    sender off)."""
    big = connect(context, zmq.DEALER, endpoints.control)
    back = connect(context, zmq.DEALER, endpoints.workers)
    for extra in range(1, OVERSIZED + 1):
        big.send(b"{" + b" " * (MAX_MESSAGE_BYTES + extra) + b"}")
        back.send_multipart([b"x", b"y" * (MAX_MESSAGE_BYTES + extra)])
    return 2 * OVERSIZED
