"""A power request sent the moment a start shows its result ends in the action or in the
spec's error, never in nothing (issue 21 part 4).

Spec: wings-behaviour.md §2.2 (the power lock: released when the action returns; a busy
lock is the websocket's "another power action..." error), §2.4 and §2.6 (a start returns
after attaching and starting; `running` comes from the done line, possibly before);
wings-api.md §10 (websocket `set state`, `status`, `daemon error`).

The window is held open with the ``power.start_tail`` hold point (wingspan.testhooks): the
start waits after the container is up, still holding the lock, until the next power request
has been decided; the test sends that request once the daemon log shows the start held.
"""

import time
import uuid as uuidlib

from tests.support.browser import BrowserSocket, console_token
from tests.support.polling import wait_until

LOCKED = ("another power action is currently being processed for this server, please try "
          "again later")
START_TAIL = "power.start_tail"
CYCLES = 50


def connect(daemon, uuid):
    sock = BrowserSocket(daemon, uuid)
    sock.authenticate(console_token(daemon, uuid))
    return sock


def boot(panel, daemon, holds=(), **server):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, **server)
    daemon.start(holds=holds)
    time.sleep(1.1)  # tokens issued in the daemon's boot second are refused, as in Wings
    return uuid


def next_status_or_error(sock):
    return sock.recv_event(("status", "daemon error"), timeout=20)


def wait_for_held_start(daemon):
    wait_until(lambda: "holding at %s" % START_TAIL in daemon.log_tail(), timeout=20,
               what="the start to be held after starting the container")


def test_a_stop_sent_when_running_shows_runs_although_the_start_holds_the_lock(
        panel, daemon):
    """§2.6: `running` can be published before the start returns and frees the lock; a stop
    sent on seeing it waits for the start's last step and runs (it was refused upstream,
    and lost here)."""
    uuid = boot(panel, daemon, holds=(START_TAIL,), start_delay="0")
    sock = connect(daemon, uuid)
    assert sock.recv_event("status")["args"] == ["offline"]
    sock.send("set state", "start")
    assert sock.expect_sequence([("status", ["starting"]), ("status", ["running"])])
    wait_for_held_start(daemon)
    sock.send("set state", "stop")  # the start still holds the lock
    assert next_status_or_error(sock) == {"event": "status", "args": ["stopping"]}
    assert next_status_or_error(sock) == {"event": "status", "args": ["offline"]}
    assert daemon.state(uuid) == "offline"


def test_a_stop_while_still_starting_is_refused_with_the_locked_error(panel, daemon):
    """§2.2: before `running` a stop meets a start in progress and the socket is told so
    (kill, which bypasses the lock, still works)."""
    uuid = boot(panel, daemon, holds=(START_TAIL,), done=())  # never leaves `starting`
    sock = connect(daemon, uuid)
    sock.recv_event("status")
    sock.send("set state", "start")
    assert sock.recv_event("status")["args"] == ["starting"]
    wait_for_held_start(daemon)
    sock.send("set state", "stop")
    error = next_status_or_error(sock)
    assert error["event"] == "daemon error"
    assert error["args"][0].startswith("Error Event [")
    assert error["args"][0].endswith("]: " + LOCKED)
    sock.send("set state", "kill")
    assert next_status_or_error(sock) == {"event": "status", "args": ["stopping"]}
    assert next_status_or_error(sock) == {"event": "status", "args": ["offline"]}


def test_fifty_start_stop_cycles_lose_no_stop(panel, daemon):
    """The reported sequence, fifty times: start, wait for `running`, stop at once. Each
    cycle uses a fresh socket: one socket's `set state` bucket (wings-api.md §16, burst 4,
    one a second) would pace the loop at a cycle every two seconds."""
    uuid = boot(panel, daemon, start_delay="0")
    for cycle in range(CYCLES):
        sock = connect(daemon, uuid)
        assert sock.recv_event("status")["args"] == ["offline"], cycle
        sock.send("set state", "start")
        sock.expect_sequence([("status", ["starting"]), ("status", ["running"])])
        sock.send("set state", "stop")
        assert next_status_or_error(sock) == {"event": "status", "args": ["stopping"]}, cycle
        assert next_status_or_error(sock) == {"event": "status", "args": ["offline"]}, cycle
        assert sock.events("daemon error") == [], cycle
        sock.close()
