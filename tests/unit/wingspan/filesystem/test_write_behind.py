"""Request bodies written off the hub with one chunk in flight (uploads, file writes)."""

import threading

import gevent
import pytest

from wingspan import errors
from wingspan.filesystem import WriteBehind


class SlowWriter:
    """A WriteStream stand-in whose writes wait for ``release`` (set by the test)."""

    def __init__(self, fail_on=None):
        self.chunks = []
        self.release = threading.Event()
        self.fail_on = fail_on
        self.committed = self.aborted = False

    def write(self, chunk):
        self.release.wait(5)
        if chunk == self.fail_on:
            raise errors.NotEnoughDisk(detail="full")
        self.chunks.append(chunk)

    def commit(self):
        self.committed = True

    def abort(self):
        self.aborted = not self.committed


def test_a_chunk_is_handed_over_without_waiting_for_the_disk():
    writer = SlowWriter()
    sink = WriteBehind(writer)
    sink.write(b"first")  # returns while the write waits
    assert writer.chunks == [] and sink.queued == 5
    second = gevent.spawn(sink.write, b"second")
    gevent.sleep(0.05)
    assert not second.ready()  # only one chunk in flight
    writer.release.set()
    second.get(timeout=5)
    sink.commit()
    assert writer.chunks == [b"first", b"second"] and writer.committed


def test_a_failed_write_is_raised_and_the_file_is_never_committed():
    writer = SlowWriter(fail_on=b"bad")
    writer.release.set()
    sink = WriteBehind(writer)
    sink.write(b"bad")
    with pytest.raises(errors.NotEnoughDisk):
        sink.write(b"next")
    with pytest.raises(errors.NotEnoughDisk):
        sink.commit()
    sink.abort()
    assert not writer.committed and writer.aborted
    assert writer.chunks == []


def test_abort_waits_for_the_write_in_flight():
    writer = SlowWriter()
    sink = WriteBehind(writer)
    sink.write(b"chunk")
    gevent.spawn_later(0.05, writer.release.set)
    sink.abort()
    assert writer.chunks == [b"chunk"] and writer.aborted
