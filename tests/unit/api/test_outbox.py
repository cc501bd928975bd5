"""A viewer's pending frames: encoded once, bounded in bytes, console lines skipped when the
viewer falls behind, state frames kept, hopeless viewers reported (issue 4 fan-out)."""

import struct

import gevent

from api.outbox import HARD_LIMIT_FACTOR, Outbox, text_frame


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
    assert box.take() == b"abc"
    box.put(b"d")
    assert box.take() == b"d"


def test_console_lines_beyond_the_limit_are_skipped_but_state_frames_are_kept():
    box = Outbox(limit=10)
    assert box.put(b"12345678", skippable=True)
    assert box.put(b"9abc", skippable=True)  # would pass the limit: skipped
    assert box.put(b"status", skippable=False)  # kept above the limit
    assert box.skipped == 1
    assert box.take() == b"12345678status"


def test_a_viewer_too_far_behind_on_state_frames_is_reported():
    box = Outbox(limit=10)
    assert box.put(b"x" * 10 * HARD_LIMIT_FACTOR)
    assert box.put(b"y") is False


def test_take_waits_for_frames_and_wake_releases_it_empty():
    box = Outbox(limit=100)
    waiter = gevent.spawn(box.take)
    gevent.sleep(0.01)
    assert not waiter.ready()
    box.wake()
    assert waiter.get(timeout=1) == b""
