"""Multipart uploads into a jail (wings-api.md §7.6): base names, the per-file limit checked
before anything is visible, denylist and quota per file, malformed bodies as 400s."""

import io
import os

import pytest

from api import uploads
from api.uploads import Upload
from wingspan import errors
from wingspan.filesystem import Jail, Quota

BOUNDARY = "----wingspanTestBoundary"
MIB = 1024 * 1024


class DirectFiles:
    """The API's ServerFiles minus the threadpool."""

    @staticmethod
    def run(func, *args):
        return func(*args)


def body(*parts):
    out = io.BytesIO()
    for name, filename, data in parts:
        out.write(b"--%s\r\n" % BOUNDARY.encode())
        disposition = 'form-data; name="%s"' % name
        if filename is not None:
            disposition += '; filename="%s"' % filename
        out.write(b"Content-Disposition: %s\r\n" % disposition.encode())
        out.write(b"Content-Type: application/octet-stream\r\n\r\n")
        out.write(data + b"\r\n")
    out.write(b"--%s--\r\n" % BOUNDARY.encode())
    return out.getvalue()


def environ(raw, content_type="multipart/form-data; boundary=" + BOUNDARY):
    return {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(raw)),
            "wsgi.input": io.BytesIO(raw)}


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "root"
    path.mkdir()
    return path


def upload(root, raw, directory="/", limit_mib=1, quota=0, **kwargs):
    jail = Jail(str(root), os.getuid(), os.getgid(), denylist=["*.jar"], quota=Quota(quota))
    return Upload(DirectFiles(), jail, directory, limit_mib).run(environ(raw, **kwargs))


def test_files_are_written_under_their_base_name(root):
    written = upload(root, body(("files", "../../etc/a.txt", b"A"), ("files", "b.txt", b"BB")),
                     directory="/sub/dir")
    assert [u.path for u in written] == ["/sub/dir/a.txt", "/sub/dir/b.txt"]
    assert (root / "sub" / "dir" / "a.txt").read_bytes() == b"A"
    assert (root / "sub" / "dir" / "b.txt").read_bytes() == b"BB"
    assert oct((root / "sub" / "dir" / "a.txt").stat().st_mode & 0o777) == "0o644"
    assert not (root.parent / "etc").exists()


def test_other_fields_are_ignored(root):
    upload(root, body(("directory", None, b"/elsewhere"), ("files", "a.txt", b"A")))
    assert sorted(os.listdir(root)) == ["a.txt"]


def test_a_file_over_the_limit_writes_nothing(root):
    raw = body(("files", "small.txt", b"s"), ("files", "big.bin", b"x" * (MIB + 1)))
    with pytest.raises(errors.BadRequest) as caught:
        upload(root, raw, limit_mib=1)
    assert caught.value.public_message == \
        "File big.bin is larger than the maximum file upload size of 1 MB."
    assert os.listdir(root) == []


def test_a_file_of_exactly_the_limit_is_allowed(root):
    upload(root, body(("files", "exact.bin", b"x" * MIB)), limit_mib=1)
    assert (root / "exact.bin").stat().st_size == MIB


def test_denylisted_file_stops_the_upload_and_keeps_earlier_files(root):
    raw = body(("files", "first.txt", b"1"), ("files", "mod.jar", b"j"),
               ("files", "third.txt", b"3"))
    with pytest.raises(errors.Denylisted) as caught:
        upload(root, raw)
    assert caught.value.status == 403
    assert sorted(os.listdir(root)) == ["first.txt"]


def test_quota_is_enforced(root):
    with pytest.raises(errors.NotEnoughDisk):
        upload(root, body(("files", "a.bin", b"x" * 5000)), quota=1000)
    assert os.listdir(root) == []


def test_existing_file_is_replaced(root):
    (root / "a.txt").write_bytes(b"old")
    upload(root, body(("files", "a.txt", b"new")))
    assert (root / "a.txt").read_bytes() == b"new"


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", ""])
def test_not_multipart_is_400(root, content_type):
    with pytest.raises(errors.BadRequest) as caught:
        upload(root, b"{}", content_type=content_type)
    assert caught.value.public_message == uploads.NOT_MULTIPART


def test_truncated_body_is_400_and_writes_nothing(root):
    raw = body(("files", "a.txt", b"A" * 100))[:-40]
    with pytest.raises(errors.BadRequest) as caught:
        upload(root, raw)
    assert caught.value.public_message == uploads.NOT_MULTIPART
    assert os.listdir(root) == []


def test_no_files_part_is_400(root):
    with pytest.raises(errors.BadRequest) as caught:
        upload(root, body(("other", "a.txt", b"A")))
    assert caught.value.public_message == uploads.NO_FILES


@pytest.mark.parametrize("name", ["..", "."])
def test_dot_names_are_refused(root, name):
    with pytest.raises(errors.BadRequest):
        upload(root, body(("files", name, b"A")))
    assert os.listdir(root) == []
