"""The browser driver's framing checks and event matching (panel-contract.md §4.2–4.5,
§7.5), fed with frames instead of a live daemon."""

import json

import jwt
import pytest
import websocket

from tests.support.browser import ADMIN, BrowserSocket, SocketClosed, check_frame, console_token

STATS = json.dumps({"memory_bytes": 0, "memory_limit_bytes": 0, "cpu_absolute": 0,
                    "network": {"rx_bytes": 0, "tx_bytes": 0}, "uptime": 0,
                    "state": "offline", "disk_bytes": 0})


class ScriptedSocket:
    """Stands in for websocket-client's connection: replays frames, records sends."""

    def __init__(self, frames):
        self.frames = list(frames)
        self.sent = []

    def settimeout(self, timeout):
        pass

    def recv_data(self):
        if not self.frames:
            raise websocket.WebSocketTimeoutException("no more frames")
        frame = self.frames.pop(0)
        if isinstance(frame, int):
            return websocket.ABNF.OPCODE_CLOSE, frame.to_bytes(2, "big")
        return websocket.ABNF.OPCODE_TEXT, json.dumps(frame).encode()

    def send(self, text):
        self.sent.append(text)


def browser(*frames):
    sock = BrowserSocket.__new__(BrowserSocket)
    sock.ws = ScriptedSocket(frames)
    sock.frames = []
    sock.close_code = None
    return sock


@pytest.mark.parametrize("frame", [
    '{"event":"console output","args":"hello"}',
    '{"event":"console output","args":["a\\nb"]}',
    '{"event":"status","args":[1]}',
    '{"event":"stats","args":["{\\"memory_bytes\\":0}"]}',
    '{"event":"auth success","data":1}',
    '[{"event":"status","args":["offline"]}]',
    'not json',
])
def test_frames_the_spa_cannot_digest_fail(frame):
    with pytest.raises(AssertionError):
        check_frame(frame)


def test_good_frames_pass():
    assert check_frame('{"event":"auth success"}') == {"event": "auth success"}
    assert check_frame(json.dumps({"event": "stats", "args": [STATS]}))["event"] == "stats"


def test_send_without_payload_is_args_null_like_the_spa():
    sock = browser()
    sock.send("send logs")
    sock.send("set state", "start")
    assert sock.ws.sent == ['{"event": "send logs", "args": [null]}',
                            '{"event": "set state", "args": ["start"]}']


def test_recv_event_skips_and_keeps_other_frames():
    sock = browser({"event": "stats", "args": [STATS]},
                   {"event": "status", "args": ["starting"]},
                   {"event": "status", "args": ["running"]})
    found = sock.recv_event("status", where=lambda m: m["args"] == ["running"])
    assert found == {"event": "status", "args": ["running"]}
    assert [m["event"] for m in sock.frames] == ["stats", "status", "status"]
    assert sock.events("status") == sock.frames[1:]


def test_expect_sequence_ignores_unlisted_events():
    sock = browser({"event": "auth success"}, {"event": "stats", "args": [STATS]},
                   {"event": "status", "args": ["starting"]},
                   {"event": "console output", "args": ["Server started"]},
                   {"event": "status", "args": ["running"]})
    matched = sock.expect_sequence(["auth success", ("status", ["starting"]),
                                    ("status", ["running"])])
    assert [m.get("args") for m in matched] == [None, ["starting"], ["running"]]


def test_expect_sequence_fails_on_a_listed_event_out_of_order():
    sock = browser({"event": "status", "args": ["starting"]},
                   {"event": "status", "args": ["offline"]})
    with pytest.raises(AssertionError, match="expected status"):
        sock.expect_sequence([("status", ["starting"]), ("status", ["running"])])


def test_timeout_reports_the_frames_seen():
    sock = browser({"event": "status", "args": ["offline"]})
    with pytest.raises(AssertionError, match="offline"):
        sock.recv_event("token expiring", timeout=1)


def test_close_code_is_recorded():
    sock = browser({"event": "status", "args": ["offline"]}, 1011)
    assert sock.wait_closed() == 1011
    assert sock.close_code == 1011
    with pytest.raises(SocketClosed):
        browser(1012).recv()


def test_authenticate_fails_on_jwt_error():
    sock = browser({"event": "jwt error", "args": ["jwt: exp claim is invalid"]})
    with pytest.raises(AssertionError, match="exp claim"):
        sock.authenticate("token")
    assert json.loads(sock.ws.sent[0]) == {"event": "auth", "args": ["token"]}


def test_console_token_is_the_panels_websocket_token():
    class Node:
        token = "k" * 64
        url = "http://127.0.0.1:8080"
        panel_url = "http://127.0.0.1:9000"

    uuid = "d3aac109-e5a0-4331-b03e-3454f7e136dc"
    token = console_token(Node, uuid, ADMIN)
    claims = jwt.decode(token, Node.token, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["aud"] == ["http://127.0.0.1:8080"]
    assert claims["iss"] == "http://127.0.0.1:9000"
    assert claims["server_uuid"] == uuid and claims["permissions"] == list(ADMIN)
    assert claims["jti"] == "397e5e6e005611aea66e16636aacc1d0"  # md5("1" + uuid), §1.3 (8)
    assert claims["exp"] - claims["iat"] == 600 and claims["user_id"] == 1
