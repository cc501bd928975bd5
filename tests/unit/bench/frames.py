"""Server-to-client websocket frames for the bench reader tests (RFC 6455 §5.2)."""

from api.hub import frame


def encoded(payload, opcode=1):
    """A server frame: FIN + opcode, no mask, 7/16/64-bit length (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
    return head + payload


def console(line):
    return frame("console output", [line]).encode()
