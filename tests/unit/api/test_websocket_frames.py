"""Close frames carry their status code (RFC 6455 §5.5.1; wings-api.md §10.10 close codes
such as 4409 for a suspended server), which gevent-websocket 0.10 alone gets wrong."""

import io
import struct

import pytest
from geventwebsocket.exceptions import WebSocketError

from api.routes.websocket import BoundedWebSocket


class Stream(io.BytesIO):
    def read(self, size=-1):
        return super().read(size)


def close_frame(payload):
    return bytes([0x88, len(payload)]) + payload


def test_close_sends_the_code_and_reason():
    stream = Stream()
    ws = BoundedWebSocket({}, stream, handler=None)
    ws.close(4409, "server is suspended")
    assert stream.getvalue() == close_frame(struct.pack("!H", 4409) + b"server is suspended")
    assert ws.closed


def test_a_long_reason_is_cut_to_fit_a_control_frame():
    stream = Stream()
    BoundedWebSocket({}, stream, handler=None).close(1008, "x" * 300)
    frame = stream.getvalue()
    assert frame[1] == 125
    assert frame[2:4] == struct.pack("!H", 1008)


def test_a_closed_socket_neither_writes_nor_reads_again():
    stream = Stream()
    ws = BoundedWebSocket({}, stream, handler=None)
    ws.close(1001, b"server deleted")
    ws.close(1000)
    assert stream.getvalue() == close_frame(struct.pack("!H", 1001) + b"server deleted")
    with pytest.raises(WebSocketError):
        ws.read_frame()


def test_a_socket_closed_while_a_frame_header_arrives_reads_no_payload():
    """The daemon closes a websocket (suspension, deletion) from another greenlet while the
    receive loop waits for a frame: the frame's payload is not read from the forgotten
    connection, the loop is told the socket is closed."""
    masked_text = bytes([0x81, 0x85]) + b"\x01\x02\x03\x04" + b"hello"

    class ClosingStream(Stream):
        sent = b""

        def read(self, size=-1):
            data = super().read(size)
            if not ws.closed:
                ws.close(4409, "server is suspended")
            return data

        def write(self, data):
            self.sent += data

    ws = BoundedWebSocket({}, ClosingStream(masked_text), handler=None)
    with pytest.raises(WebSocketError):
        ws.read_frame()


class Pipe(Stream):
    """Reads what the client sent, keeps what the daemon writes apart."""

    sent = b""

    def write(self, data):
        self.sent += data


class Handler:
    message_bytes = 0


def masked(first_byte, payload):
    key = b"\x01\x02\x03\x04"
    return bytes([first_byte, 0x80 | len(payload)]) + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("frame", [
    bytes([0x81, 0x05]) + b"hello",  # not masked
    masked(0xC1, b"hello"),  # RSV1 with no extension negotiated
    masked(0xB1, b"hello"),  # RSV2 and RSV3
    masked(0x88, struct.pack("!H", 5000)),  # a close code RFC 6455 §7.4.2 does not define
])
def test_a_frame_breaking_rfc_6455_closes_with_1002(frame):
    """Found by the websocket fuzzer (issue 19): unmasked frames and frames with reserved
    bits were read as messages, and a close frame's undefined code (5000) was echoed back,
    which a client must treat as a protocol error of the daemon's."""
    stream = Pipe(frame)
    ws = BoundedWebSocket({}, stream, handler=Handler())
    assert ws.receive() is None
    assert stream.sent == close_frame(struct.pack("!H", 1002))


def test_a_valid_close_code_is_echoed():
    stream = Pipe(masked(0x88, struct.pack("!H", 4000)))
    ws = BoundedWebSocket({}, stream, handler=Handler())
    assert ws.receive() is None
    assert stream.sent == close_frame(struct.pack("!H", 4000))
