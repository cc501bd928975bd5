"""Parallel gzip, the write-rate limit and the metered streams (wings-behaviour.md §10.1:
parallel gzip, ``write_limit``, SHA-1 checksum; §11.1: SHA-256 of a transfer)."""

import gzip
import hashlib
import io
import os
import subprocess
import zlib

import pytest

from wingspan.filesystem.pgzip import (
    MeteredReader,
    MeteredSink,
    ParallelGzipWriter,
    RateLimit,
)

MIXED = b"".join(b"line %d of a log file\n" % n for n in range(50000)) + os.urandom(300000)


def compressed(data, level=1, block_bytes=64 * 1024, chunk=7777, threads=2):
    out = io.BytesIO()
    with ParallelGzipWriter(out, level, threads=threads, block_bytes=block_bytes) as gz:
        for start in range(0, len(data), chunk):
            gz.write(data[start:start + chunk])
    return out.getvalue()


@pytest.mark.parametrize("level", [0, 1, 9])
def test_one_gzip_member_any_reader_accepts(level):
    packed = compressed(MIXED, level)
    assert gzip.decompress(packed) == MIXED
    # one member: a single raw decompressor reads it to the end with nothing left over
    inflater = zlib.decompressobj(wbits=31)
    assert inflater.decompress(packed) == MIXED
    assert inflater.eof and inflater.unused_data == b""
    assert subprocess.run(["gzip", "-t"], input=packed).returncode == 0


def test_level_one_compresses_text_and_stores_random_data():
    text = MIXED[:-300000]
    assert len(compressed(text, 1)) < len(text) // 4
    assert len(compressed(text, 0)) > len(text)


def test_empty_input_is_a_valid_empty_gzip():
    assert gzip.decompress(compressed(b"")) == b""


def test_blocks_in_flight_are_bounded():
    sink = io.BytesIO()
    gz = ParallelGzipWriter(sink, 1, threads=2, block_bytes=1024)
    gz.write(os.urandom(1024 * 50))
    assert len(gz._pending) <= 4
    gz.close()
    assert len(gzip.decompress(sink.getvalue())) == 1024 * 50


def test_tell_counts_uncompressed_bytes():
    gz = ParallelGzipWriter(io.BytesIO(), block_bytes=1000)
    gz.write(b"x" * 2500)
    assert gz.tell() == 2500
    gz.close()


def test_abort_writes_nothing_more():
    sink = io.BytesIO()
    gz = ParallelGzipWriter(sink, block_bytes=1000)
    gz.write(b"x" * 500)
    gz.abort()
    assert sink.getvalue() == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    with pytest.raises(ValueError):
        gz.write(b"y")


def test_metered_sink_hash_is_pluggable():
    packed = compressed(MIXED)
    for algorithm in ("sha1", "sha256"):
        sink = MeteredSink(io.BytesIO(), hashlib.new(algorithm))
        sink.write(packed[:1000])
        sink.write(packed[1000:])
        assert sink.written == len(packed)
        assert sink.hexdigest() == hashlib.new(algorithm, packed).hexdigest()


def test_metered_reader_counts_and_hashes():
    reader = MeteredReader(io.BytesIO(b"abcdef"), hashlib.sha256())
    assert reader.read(4) + reader.read() == b"abcdef"
    assert reader.read_bytes == 6
    assert reader.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limit_allows_one_second_of_burst_then_sleeps_off_the_debt():
    clock = FakeClock()
    limit = RateLimit(1000, clock=clock, sleep=clock.sleep)
    limit.take(1000)
    assert clock.slept == []
    limit.take(500)
    assert clock.slept == [0.5]
    clock.now += 10  # idle time refills at most one second's worth
    limit.take(1000)
    limit.take(1000)
    assert clock.slept[-1] == 1.0


def test_rate_limit_zero_is_unlimited():
    clock = FakeClock()
    limit = RateLimit(0, clock=clock, sleep=clock.sleep)
    limit.take(10 ** 12)
    assert clock.slept == []
