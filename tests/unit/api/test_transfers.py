"""The destination's reading of a transfer body (wings-api.md §9.3): part order, the
checksum of every byte the archive part carried, malformed bodies, and the pipe between
the body and the extraction thread (bounded, failures passed back)."""

import gzip
import hashlib
import io
import os
import tarfile

import gevent
import pytest

from api import transfers
from api.transfers import ExtractionPipe, IncomingBody
from wingspan import errors
from wingspan.filesystem import Jail, Quota

BOUNDARY = "unitBoundary"


def body(*parts):
    out = []
    for name, filename, data in parts:
        disposition = 'form-data; name="%s"' % name
        if filename:
            disposition += '; filename="%s"' % filename
        out.append(b"--%s\r\nContent-Disposition: %s\r\n\r\n%s\r\n"
                   % (BOUNDARY.encode(), disposition.encode(), data))
    return b"".join(out) + b"--%s--\r\n" % BOUNDARY.encode()


def environ(raw, content_type="multipart/form-data; boundary=" + BOUNDARY):
    return {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(raw)),
            "wsgi.input": io.BytesIO(raw)}


def hashing_pipe():
    """An ExtractionPipe whose extraction only hashes what it reads."""
    def extract(reader):
        digest = hashlib.sha256()
        while chunk := reader.read(65536):
            digest.update(chunk)
        return digest.hexdigest()
    return ExtractionPipe(extract)


def receive(raw, **kwargs):
    return IncomingBody(environ(raw, **kwargs), hashing_pipe, idle_timeout=5).run()


def test_the_checksum_must_match_every_byte_of_the_archive_part():
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(data).hexdigest()
    assert receive(body(("archive", "archive.tar.gz", data),
                        ("checksum", None, digest.upper().encode() + b"\n"),
                        ("extra", None, b"ignored"))) == digest


@pytest.mark.parametrize("parts, message", [
    ([("checksum", None, b"00")], transfers.CHECKSUM_FIRST),
    ([("archive", "a", b"x")], transfers.MISSING),
    ([], transfers.MISSING),
    ([("archive", "a", b"x"), ("checksum", None, b"00" * 32)], transfers.MISMATCH),
    ([("archive", "a", b"x"), ("checksum", None, b"\xff" * 64)], transfers.MISMATCH),
    ([("archive", "a", b"x"), ("archive", "a", b"x")], transfers.ARCHIVE_TWICE),
    ([("archive", "a", b"x"), ("checksum", None, b"a" * 2000)], transfers.MISMATCH),
])
def test_refused_bodies(parts, message):
    with pytest.raises(errors.TransferRejected) as caught:
        receive(body(*parts))
    assert caught.value.public_message == message
    assert caught.value.status == 400


def test_a_body_that_is_not_multipart_is_refused_before_reading():
    with pytest.raises(errors.TransferRejected) as caught:
        receive(b"{}", content_type="application/json")
    assert caught.value.public_message == \
        'invalid content type "application/json", expected "multipart/form-data"'


def test_a_truncated_body_is_refused():
    raw = body(("archive", "a", b"x" * 1000))
    with pytest.raises(errors.TransferRejected) as caught:
        receive(raw[:500])
    assert caught.value.public_message == transfers.UNREADABLE


def test_a_silent_body_times_out():
    class Silent:
        def read(self, size):
            gevent.sleep(10)

    env = environ(b"")
    env["wsgi.input"] = Silent()
    with pytest.raises(errors.BodyTimeout):
        IncomingBody(env, hashing_pipe, idle_timeout=0.1).run()


def test_a_failing_extraction_stops_the_body_with_its_own_error():
    def extract(reader):
        reader.read(10)
        raise errors.NotEnoughDisk(detail="full")

    with pytest.raises(errors.NotEnoughDisk):
        IncomingBody(environ(body(("archive", "a", os.urandom(8 * 1024 * 1024)),
                                  ("checksum", None, b"00"))),
                     lambda: ExtractionPipe(extract), idle_timeout=5).run()


def tar_gz(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return raw.getvalue()


def test_extract_transfer_writes_through_the_jail_and_hashes_trailing_bytes(tmp_path):
    data = tar_gz({"a/b.txt": b"hello"}) + gzip.compress(b"")  # a second, empty member
    jail = Jail(str(tmp_path), os.getuid(), os.getgid(), quota=Quota(0))
    digest = transfers.extract_transfer(jail, 0, io.BytesIO(data))
    assert digest == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"hello"


def test_extract_transfer_stops_at_the_quota(tmp_path):
    data = tar_gz({"big.bin": os.urandom(200_000)})
    jail = Jail(str(tmp_path), os.getuid(), os.getgid(), quota=Quota(100_000))
    with pytest.raises(errors.NotEnoughDisk):
        transfers.extract_transfer(jail, 0, io.BytesIO(data))
    assert os.listdir(tmp_path) == []


# -- backups travelling with the server (peers.md: Pelican) -------------------------------------

BACKUP = "0f3b8d2e-6c1a-4e5b-9a7d-2c4e6f8a0b1c.tar.gz"


def with_backups(tmp_path, *backup_parts, archive=b"archive bytes"):
    received = transfers.ReceivedBackups(str(tmp_path / "backups"), lambda f, *a: f(*a))
    raw = body(("archive", "a", archive),
               ("checksum", None, hashlib.sha256(archive).hexdigest().encode()), *backup_parts)
    return received, IncomingBody(environ(raw), hashing_pipe, 5, received)


def test_a_backup_with_its_checksum_is_placed_once_the_body_is_complete(tmp_path):
    data = os.urandom(100_000)
    received, incoming = with_backups(
        tmp_path, ("backup_" + BACKUP, BACKUP, data),
        ("checksum_backup_" + BACKUP, None, hashlib.sha256(data).hexdigest().encode()))
    incoming.run()
    assert os.listdir(tmp_path / "backups") == [BACKUP]
    assert (tmp_path / "backups" / BACKUP).read_bytes() == data
    assert oct((tmp_path / "backups" / BACKUP).stat().st_mode & 0o777) == "0o600"
    received.abort()
    assert os.listdir(tmp_path / "backups") == []


@pytest.mark.parametrize("parts", [
    [("backup_" + BACKUP, BACKUP, b"x")],
    [("backup_" + BACKUP, BACKUP, b"x"), ("checksum_backup_" + BACKUP, None, b"00" * 32)],
    [("backup_../../etc/passwd", "passwd", b"x")],
    [("backup_" + BACKUP, BACKUP, b"x"), ("backup_" + BACKUP, BACKUP, b"x")],
])
def test_a_backup_without_a_matching_checksum_or_with_a_bad_name_is_refused(tmp_path, parts):
    received, incoming = with_backups(tmp_path, *parts)
    with pytest.raises(errors.TransferRejected):
        incoming.run()
    received.abort()
    assert os.listdir(tmp_path / "backups") == [] if (tmp_path / "backups").exists() else True
    assert not os.path.exists(tmp_path / "etc")
