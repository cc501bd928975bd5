"""The streamed S3 upload and the restore download without a network (wings-api.md §8.2,
§8.4; wings-behaviour.md §10.1 step 6): parts cut from the archive, at most two on disk,
retries with backoff on network errors and 5xx, a 4xx fatal, ETags verbatim."""

import os
import threading

import gevent
import pytest
import urllib3

from wingspan import errors
from worker import s3
from worker.handoff import CLOSED, Handoff, HandoffReader


class Response:
    def __init__(self, status, etag=None, content_type="application/x-gzip", body=b""):
        self.status = status
        self.headers = {"ETag": etag} if etag else {}
        if content_type:
            self.headers["Content-Type"] = content_type
        self.body = body
        self.released = False

    def read(self, size):
        data, self.body = self.body[:size], self.body[size:]
        return data

    def release_conn(self):
        self.released = True


class Pool:
    """Answers part PUTs from ``script`` (statuses or exceptions, then 200s); records each
    accepted body, and the files on disk at every attempt."""

    def __init__(self, directory, script=()):
        self.directory = directory
        self.script = list(script)
        self.puts = []
        self.on_disk = []

    def urlopen(self, method, url, body=None, headers=None, **options):
        data = body.read()
        assert int(headers["Content-Length"]) == len(data)
        assert headers["Content-Type"] == "application/x-gzip"
        self.on_disk.append(sorted(os.listdir(self.directory)))
        outcome = self.script.pop(0) if self.script else 200
        if isinstance(outcome, Exception):
            raise outcome
        if outcome != 200:
            return Response(outcome)
        self.puts.append((url, data))
        return Response(outcome, etag='"etag-%d"' % len(self.puts))


def produce(upload, directory, data, part_size, chunk=1000):
    """What the job thread does: write the archive into the part files, then close."""
    sink = upload.sink(directory, ".b", part_size)
    errors_seen = []

    def run():
        try:
            for start in range(0, len(data), chunk):
                sink.write(data[start:start + chunk])
            sink.finish()
        except Exception as e:
            errors_seen.append(e)
            sink.discard()
        finally:
            sink.handoff.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors_seen


def upload_all(tmp_path, data, part_size, urls=4, script=(), sleep=None):
    pool = Pool(str(tmp_path), script)
    waits = []
    upload = s3.StreamedUpload(["http://s3/part%d" % n for n in range(1, urls + 1)], pool,
                               lambda: False, sleep=sleep or waits.append)
    thread, failures = produce(upload, str(tmp_path), data, part_size)
    try:
        result = gevent.spawn(upload.run).get(timeout=30)
    finally:
        thread.join(30)
    return pool, result, failures, waits


def test_parts_in_order_with_their_etags_and_the_last_one_shorter(tmp_path):
    data = os.urandom(25000)
    pool, parts, failures, _ = upload_all(tmp_path, data, 10000)
    assert failures == []
    assert parts == [{"etag": '"etag-1"', "part_number": 1}, {"etag": '"etag-2"', "part_number": 2},
                     {"etag": '"etag-3"', "part_number": 3}]
    assert [url for url, _ in pool.puts] == ["http://s3/part1", "http://s3/part2",
                                             "http://s3/part3"]
    assert b"".join(body for _, body in pool.puts) == data
    assert [len(body) for _, body in pool.puts] == [10000, 10000, 5000]
    assert os.listdir(tmp_path) == []


def test_never_more_than_two_parts_on_disk(tmp_path):
    pool = upload_all(tmp_path, os.urandom(100000), 10000, urls=10)[0]
    assert max(len(names) for names in pool.on_disk) <= 2


def test_an_archive_ending_on_a_part_boundary_has_no_empty_part(tmp_path):
    pool, parts, _, _ = upload_all(tmp_path, os.urandom(20000), 10000)
    assert [p["part_number"] for p in parts] == [1, 2]


def test_5xx_and_network_errors_are_retried_with_a_doubling_wait(tmp_path):
    script = [503, urllib3.exceptions.ProtocolError("reset"), 500]
    data = os.urandom(15000)
    pool, parts, failures, waits = upload_all(tmp_path, data, 10000, script=script)
    assert failures == [] and len(parts) == 2
    assert waits == [0.5, 1.0, 2.0]
    assert b"".join(body for _, body in pool.puts) == data


def test_a_4xx_is_fatal_and_stops_the_producer(tmp_path):
    with pytest.raises(errors.S3UploadFailed):
        upload_all(tmp_path, os.urandom(100000), 10000, urls=10, script=[403])
    assert os.listdir(tmp_path) == []


def test_retries_give_up_after_a_minute(tmp_path):
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    pool = Pool(str(tmp_path), [503] * 20)
    upload = s3.StreamedUpload(["u1"], pool, lambda: False, sleep=sleep,
                               clock=lambda: clock[0])
    part = s3.Part(1, str(tmp_path / "p"), 3)
    (tmp_path / "p").write_bytes(b"abc")
    with pytest.raises(errors.S3UploadFailed):
        upload.put_part("u1", part)
    assert clock[0] == 0.5 + 1 + 2 + 4 + 8 + 16  # a wait of 32 s more would pass the minute
    assert len(pool.on_disk) == 7


def test_an_archive_larger_than_the_parts_issued_fails(tmp_path):
    pool, parts, failures, _ = upload_all(tmp_path, os.urandom(30000), 10000, urls=2)
    assert len(failures) == 1 and isinstance(failures[0], errors.S3UploadFailed)
    assert os.listdir(tmp_path) == []


# -- restore download -----------------------------------------------------------------------

class DownloadPool:
    def __init__(self, response):
        self.response = response

    def urlopen(self, method, url, **options):
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


@pytest.mark.parametrize("content_type", ["application/gzip", "application/x-gzip", "gzip"])
def test_gzip_content_types_pass(content_type):
    response = Response(200, content_type=content_type)
    assert s3.open_download(DownloadPool(response), "http://s3/x") is response


@pytest.mark.parametrize("content_type", ["", "application/x-gzip; charset=binary",
                                          "text/html"])
def test_other_content_types_are_400(content_type):
    with pytest.raises(errors.BadRequest) as caught:
        s3.open_download(DownloadPool(Response(200, content_type=content_type)), "u")
    assert caught.value.public_message == s3.BAD_CONTENT_TYPE % content_type


@pytest.mark.parametrize("outcome", [Response(404), Response(403),
                                     urllib3.exceptions.NewConnectionError(None, "refused")])
def test_a_missing_or_unreachable_backup_is_not_found(outcome):
    with pytest.raises(errors.BackupNotFound):
        s3.open_download(DownloadPool(outcome), "u")


def test_pump_feeds_a_reader_on_another_thread():
    data = os.urandom(3 * s3.DOWNLOAD_CHUNK + 5)
    handoff = Handoff(2)
    read = []
    reader = threading.Thread(target=lambda: read.append(HandoffReader(handoff).read()))
    reader.start()
    response = Response(200, body=data)
    s3.pump(response, handoff, lambda: False)
    reader.join(30)
    assert read == [data] and response.released


def test_the_reader_gets_the_error_of_a_broken_download():
    class Broken(Response):
        def read(self, size):
            raise urllib3.exceptions.ProtocolError("connection reset")

    handoff = Handoff(2)
    s3.pump(Broken(200), handoff, lambda: False)
    with pytest.raises(errors.DownloadFailed):
        HandoffReader(handoff).read()


def test_an_aborted_handoff_releases_a_waiting_producer():
    handoff = Handoff(1)
    assert handoff.reserve() is True
    handoff.abort()
    assert handoff.reserve() is False
    handoff.close()
    assert handoff.take_blocking() is CLOSED


def test_a_cancel_between_retries_stops_without_another_attempt(tmp_path):
    cancelled = []
    pool = Pool(str(tmp_path), [503, 503, 503])
    upload = s3.StreamedUpload(["u1"], pool, lambda: bool(cancelled), sleep=cancelled.append)
    part = s3.Part(1, str(tmp_path / "p"), 3)
    (tmp_path / "p").write_bytes(b"abc")
    with pytest.raises(errors.JobCancelled):
        upload.put_part("u1", part)
    assert cancelled == [0.5] and len(pool.on_disk) == 1 and pool.puts == []
