"""A viewer's pending frames: encoded once, bounded in bytes, console lines skipped when the
viewer falls behind, state frames kept, hopeless viewers reported (issue 4 fan-out)."""

import struct

import gevent
import gevent.socket

from api.outbox import HARD_LIMIT_FACTOR, MAX_BUFFERS, Outbox, send_frames, text_frame


def test_text_frames_use_the_three_length_encodings():
    assert text_frame("hi") == b"\x81\x02hi"
    medium = text_frame("x" * 300)
    assert medium[:4] == b"\x81\x7e" + struct.pack("!H", 300) and len(medium) == 304
    large = text_frame("y" * 70000)
    assert large[:10] == b"\x81\x7f" + struct.pack("!Q", 70000) and len(large) == 70010


def test_text_frame_length_counts_utf8_bytes():
    assert text_frame("é") == b"\x81\x02\xc3\xa9"


def test_frames_are_taken_together_in_order():
    box = Outbox(limit=1000)
    assert box.put(b"a") and box.put(b"bc")
    assert box.take(100) == [b"a", b"bc"]
    box.put(b"d")
    assert box.take(100) == [b"d"]


def test_take_returns_about_max_bytes_and_keeps_the_rest_queued():
    box = Outbox(limit=1000)
    for chunk in (b"aaaa", b"bbbb", b"cccc"):
        box.put(chunk, skippable=True)
    assert box.take(8) == [b"aaaa", b"bbbb"]
    assert box.take(2) == [b"cccc"]  # at least one frame, even a larger one
    waiter = gevent.spawn(box.take, 100)
    gevent.sleep(0.01)
    assert not waiter.ready()  # nothing left: it waits
    box.put(b"d")
    assert waiter.get(timeout=1) == [b"d"]


def test_the_oldest_console_lines_are_shed_and_state_frames_kept():
    box = Outbox(limit=10)
    assert box.put(b"1234", skippable=True)
    assert box.put(b"status", skippable=False)
    assert box.put(b"5678", skippable=True)  # 14 > 10: the oldest line goes
    assert box.skipped == 1
    assert box.take(100) == [b"status", b"5678"]


def test_shedding_stops_at_state_frames():
    box = Outbox(limit=10)
    assert box.put(b"status-1", skippable=False)
    assert box.put(b"status-2", skippable=False)  # above the limit, but never shed
    assert box.put(b"line", skippable=True)  # the only sheddable frame
    assert box.take(100) == [b"status-1", b"status-2"]
    assert box.skipped == 1


def test_viewers_hold_the_same_newest_frames():
    """Two viewers at different points share their backlog: both keep the newest frames."""
    frames = [bytes([65 + i]) * 4 for i in range(10)]
    early, late = Outbox(limit=12), Outbox(limit=12)
    for number, data in enumerate(frames):
        early.put(data, skippable=True)
        late.put(data, skippable=True)
        if number == 4:
            late.take(100)
    kept_early, kept_late = early.take(100), late.take(100)
    assert kept_early == frames[7:]
    assert all(a is b for a, b in zip(kept_early, kept_late, strict=True))


def test_a_viewer_too_far_behind_on_state_frames_is_reported():
    box = Outbox(limit=10)
    assert box.put(b"x" * 10 * HARD_LIMIT_FACTOR)
    assert box.put(b"y", skippable=True)
    assert box.put(b"y") is False


def test_take_waits_for_frames_and_wake_releases_it_empty():
    box = Outbox(limit=100)
    waiter = gevent.spawn(box.take, 100)
    gevent.sleep(0.01)
    assert not waiter.ready()
    box.wake()
    assert waiter.get(timeout=1) == []


class TrickleSocket:
    """Accepts at most ``per_call`` bytes per ``sendmsg``, like a full socket buffer."""

    def __init__(self, per_call):
        self.per_call = per_call
        self.received = bytearray()
        self.calls = []

    def sendmsg(self, buffers):
        self.calls.append(len(buffers))
        data = b"".join(bytes(b) for b in buffers)[:self.per_call]
        self.received += data
        return len(data)


def test_send_frames_resumes_partial_writes_mid_frame():
    frames = [b"abc", b"defgh", b"i", b"jklmnop"]
    sock = TrickleSocket(per_call=4)
    send_frames(sock, frames)
    assert bytes(sock.received) == b"abcdefghijklmnop"
    assert len(sock.calls) == 4


def test_send_frames_passes_at_most_iov_max_buffers_per_call():
    frames = [b"x"] * (MAX_BUFFERS * 2 + 3)
    sock = TrickleSocket(per_call=10 ** 9)
    send_frames(sock, frames)
    assert sock.calls == [MAX_BUFFERS, MAX_BUFFERS, 3]
    assert len(sock.received) == len(frames)


def test_send_frames_over_a_real_socket():
    left, right = gevent.socket.socketpair()
    frames = [text_frame("line %d" % i) for i in range(5000)]
    reader = gevent.spawn(lambda: b"".join(iter(lambda: right.recv(65536), b"")))
    send_frames(left, frames)
    left.close()
    assert reader.get(timeout=5) == b"".join(frames)
