"""What the source shows and sends (wings-api.md §9.1, wings-behaviour.md §11.1): Wings'
byte units and 25-tick progress bar, the coloured log line, and the multipart framing."""

import hashlib
import io
import os
from types import SimpleNamespace

import gevent
import multipart
import pytest
import requests

from tests.support.ports import free_port
from worker import transfer


@pytest.mark.parametrize("count, text", [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (2 * 1024 ** 2, "2.0 MiB"), (5 * 1024 ** 3 + 1024 ** 3 // 2, "5.5 GiB"),
    (1024 ** 4, "1.0 TiB"),
])
def test_format_bytes_uses_binary_units_with_one_decimal(count, text):
    assert transfer.format_bytes(count) == text


def test_the_bar_has_a_tick_per_four_percent():
    assert transfer.progress_bar(0, 1000) == "[%s] 0 B / 1000 B" % (" " * 25)
    assert transfer.progress_bar(100, 1000) == "[==%s] 100 B / 1000 B" % (" " * 23)
    assert transfer.progress_bar(1000, 1000) == "[%s] 1000 B / 1000 B" % ("=" * 25)


def test_the_bar_is_clamped_when_the_stale_total_is_below_what_was_sent():
    assert transfer.progress_bar(3 * 1024, 1024) == "[%s] 3.0 KiB / 1.0 KiB" % ("=" * 25)
    assert transfer.progress_bar(5, 0) == "[%s] 5 B / 0 B" % ("=" * 25)


def test_log_lines_are_coloured_as_wings_colours_them():
    line = transfer.log_line("Canceled.", now=0)
    assert line.startswith("\x1b[33m\x1b[1mThu, 01 Jan 1970 ")
    assert line.endswith(" [Transfer System] [Source Node]:\x1b[39m Canceled.\x1b[0m")


def test_the_body_parses_as_an_archive_then_its_checksum_then_each_backup_and_its_own():
    form = transfer.Multipart()
    data = b"\x1f\x8b" + bytes(range(256)) * 10
    digest = hashlib.sha256(data).hexdigest()
    backup = b"backup bytes"
    name = "0f3b8d2e-6c1a-4e5b-9a7d-2c4e6f8a0b1c.tar.gz"
    body = (form.archive_head() + data + form.field("checksum", digest)
            + form.file_head("backup_" + name, name) + backup
            + form.field("checksum_backup_" + name, "ab12") + form.end())
    parts = list(multipart.MultipartParser(io.BytesIO(body), form.boundary))
    assert [(p.name, p.filename) for p in parts] == [
        ("archive", "archive.tar.gz"), ("checksum", None), ("backup_" + name, name),
        ("checksum_backup_" + name, None)]
    assert parts[0].raw == data
    assert parts[1].value == digest
    assert parts[2].raw == backup
    assert parts[3].value == "ab12"
    assert form.content_type == "multipart/form-data; boundary=" + form.boundary


@pytest.mark.parametrize("token, error", [
    ("t", requests.ConnectionError),
    ("\u018c", UnicodeEncodeError),  # no latin-1 form: it cannot be a header
])
def test_an_upload_that_cannot_be_sent_ends_with_its_error_not_a_traceback(token, error):
    """Found by the schemathesis run (issue 19): the upload greenlet raised what stopped
    it (the destination unreachable, a token that cannot be a header), and gevent printed
    its traceback into the daemon's log."""
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    outgoing = transfer.Outgoing(SimpleNamespace(server=SimpleNamespace(uuid="u")),
                                 "http://127.0.0.1:%d/api/transfers" % free_port(), token)
    outgoing._read_fd = read_fd
    outgoing.upload = gevent.spawn(outgoing._upload)
    outgoing.upload.join()
    assert outgoing.upload.successful()
    assert isinstance(outgoing._upload_outcome(), error)


def test_a_cancel_before_the_upload_ever_ran_still_stops_the_archive():
    """The archive thread writes into the pipe the upload reads: if the upload is killed
    before it starts, the pipe's read end must close all the same, or the thread would
    block on a full pipe for ever."""
    outgoing = transfer.Outgoing(SimpleNamespace(server=SimpleNamespace(uuid="u")),
                                 "http://127.0.0.1:%d/api/transfers" % free_port(), "t")
    outgoing._read_fd, write_fd = os.pipe()
    try:
        outgoing._start_upload()
        outgoing.upload.kill()
        gevent.sleep(0)
        with pytest.raises(BrokenPipeError):
            os.write(write_fd, b"archive bytes")
    finally:
        os.close(write_fd)
