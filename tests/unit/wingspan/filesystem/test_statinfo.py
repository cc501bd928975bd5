"""The Stat object's spellings (wings-api.md §5.1), MIME sniffing as the Panel needs it
(panel-contract.md §1.5) and the names the daemon makes up (wings-behaviour.md §9.6,
§9.8, Appendix A)."""

import bz2
import datetime
import gzip
import io
import json
import lzma
import os
import stat
import tarfile
import time
import zipfile

import pytest

from wingspan.filesystem import mime
from wingspan.filesystem.naming import archive_names, copy_names, split_extension
from wingspan.filesystem.statinfo import (
    mode_bits,
    mode_string,
    rfc3339,
    stat_json,
    stat_object,
    timestamp_rfc3339,
)


@pytest.mark.parametrize("mode, text", [
    (stat.S_IFREG | 0o644, "-rw-r--r--"),
    (stat.S_IFDIR | 0o755, "drwxr-xr-x"),
    (stat.S_IFLNK | 0o777, "Lrwxrwxrwx"),
    (stat.S_IFIFO | 0o644, "prw-r--r--"),
    (stat.S_IFCHR | 0o666, "Dcrw-rw-rw-"),
    (stat.S_IFBLK | 0o660, "Drw-rw----"),
    (stat.S_IFSOCK | 0o755, "Srwxr-xr-x"),
    (stat.S_IFREG | stat.S_ISUID | 0o755, "urwxr-xr-x"),
    (stat.S_IFREG | stat.S_ISGID | 0o755, "grwxr-xr-x"),
    (stat.S_IFDIR | stat.S_ISVTX | 0o777, "dtrwxrwxrwx"),
    (stat.S_IFREG, "----------"),
])
def test_mode_string_is_go_filemode_string(mode, text):
    """§5.1 examples: ``-rw-r--r--``, ``drwxr-xr-x``, ``Lrwxrwxrwx``, ``prw-r--r--``,
    ``Dcrw-rw-rw-``, ``urwxr-xr-x``."""
    assert mode_string(mode) == text


def test_mode_bits_are_octal_without_leading_zero():
    assert [mode_bits(m) for m in (0o100644, 0o40755, 0o104755, 0)] == ["644", "755", "755", "0"]


def test_rfc3339_seconds_and_zone():
    utc = datetime.datetime(2024, 3, 17, 20, 58, 30, 999, tzinfo=datetime.UTC)
    west = utc.astimezone(datetime.timezone(datetime.timedelta(hours=-6)))
    assert rfc3339(utc) == "2024-03-17T20:58:30Z"
    assert rfc3339(west) == "2024-03-17T14:58:30-06:00"


@pytest.fixture
def denver_time(monkeypatch):
    """The daemon's local zone set to UTC-6 (a POSIX TZ string: no zone database needed)."""
    monkeypatch.setenv("TZ", "XST6")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timestamps_are_in_the_daemons_zone(denver_time):
    """§5.1: ``created``/``modified`` in the daemon's local time zone, RFC 3339 seconds."""
    assert timestamp_rfc3339(1710709110.9) == "2024-03-17T14:58:30-06:00"


def test_timestamps_on_a_utc_host(monkeypatch):
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    try:
        assert timestamp_rfc3339(1710709110) == "2024-03-17T20:58:30Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_stat_object_created_is_ctime_and_symlink_is_true(tmp_path):
    link = tmp_path / "l"
    link.symlink_to("target")
    info = os.lstat(link)
    obj = stat_object("l", info, mime.OCTET_STREAM)
    assert obj["symlink"] is True and obj["directory"] is False and obj["file"] is True
    created = datetime.datetime.fromisoformat(obj["created"].replace("Z", "+00:00"))
    assert int(created.timestamp()) == int(info.st_ctime)


@pytest.mark.parametrize("path, mode", [
    ("file", 0o644), ("dir", 0o755), ("setuid", 0o4755), ("link", None)])
def test_stat_json_is_the_stat_object_encoded(tmp_path, path, mode):
    """Listings format each entry straight to JSON text: it must be exactly what encoding
    the single-file Stat object gives."""
    target = tmp_path / path
    if path == "dir":
        target.mkdir()
    elif path == "link":
        target.symlink_to("elsewhere")
    else:
        target.write_bytes(b"x")
    if mode is not None:
        os.chmod(target, mode)
    info = os.lstat(target)
    for name in (path, 'quo"te \u00e9 \udcff'):
        assert stat_json(name, info, "text/plain; charset=utf-8") == json.dumps(
            stat_object(name, info, "text/plain; charset=utf-8"), separators=(",", ":"))


def _zip(entries):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        for name, content in entries:
            bundle.writestr(name, content)
    return data.getvalue()


def _tar():
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as bundle:
        member = tarfile.TarInfo("a.txt")
        member.size = 1
        bundle.addfile(member, io.BytesIO(b"a"))
    return data.getvalue()


@pytest.mark.parametrize("head, expected", [
    (b"", "text/plain; charset=utf-8"),                     # a new empty file is editable
    (b"motd=A Minecraft Server\n", "text/plain; charset=utf-8"),
    ("héllo wörld".encode(), "text/plain; charset=utf-8"),
    ("héllo".encode("latin-1"), "text/plain; charset=iso-8859-1"),
    (b"\xff\xfeh\x00i\x00", "text/plain; charset=utf-16le"),
    (b'{"a": [1, 2]}', "application/json"),
    (b"<?xml version=\"1.0\"?><config/>", "text/xml; charset=utf-8"),
    (b"<!DOCTYPE html><html></html>", "text/html; charset=utf-8"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    (b"\x00\x01\x02binary", "application/octet-stream"),
    (b"a log line\x00", "application/octet-stream"),         # ASCII with a binary byte
    (b"\x1b[32mcoloured\x1b[0m\r\n\ttabbed\n", "text/plain; charset=utf-8"),  # ESC is text
    (b" \n\t[1, 2]", "application/json"),
    (b"<?php echo 1;", "text/x-php; charset=utf-8"),
    (b"\xef\xbb\xbf{\"a\": 1}", "application/json"),
    (_zip([("a.txt", "a")]), "application/zip"),
    (_zip([("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")]), "application/jar"),
    (gzip.compress(b"x"), "application/gzip"),
    (bz2.compress(b"x"), "application/x-bzip2"),
    (lzma.compress(b"x"), "application/x-xz"),
    (b"\x28\xb5\x2f\xfd" + bytes(20), "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c" + bytes(30), "application/x-7z-compressed"),
    (b"Rar!\x1a\x07\x01\x00" + bytes(30), "application/x-rar-compressed"),
    (_tar(), "application/x-tar"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), "image/png"),
])
def test_sniffed_types_are_the_strings_the_panel_matches(head, expected):
    """panel-contract.md §1.5: Unarchive needs the exact archive strings; text must not be
    ``application/octet-stream`` (uneditable); jars are ``application/jar``."""
    assert mime.sniff(head) == expected


def test_truncated_json_and_utf8_still_detected():
    """A file longer than the 3 KiB window: a document cut in a string is still JSON and a
    character cut in half is still UTF-8; a complete but broken document is not JSON."""
    document = b'{"key": "' + "é".encode() * 2000
    assert mime.sniff(document[:3072], truncated=True) == "application/json"
    cut_text = ("é".encode() * 2000)[:3071]
    assert mime.sniff(cut_text, truncated=True) == "text/plain; charset=utf-8"
    assert mime.sniff(b'{"a": 1', truncated=False) == "text/plain; charset=utf-8"


@pytest.mark.parametrize("name, base, ext", [
    ("server.properties", "server", ".properties"),
    ("x.tar.gz", "x", ".tar.gz"),
    ("world.tar", "world", ".tar"),
    ("noext", "noext", ""),
    (".bashrc", "", ".bashrc"),
    ("a.b.c", "a.b", ".c"),
])
def test_split_extension_is_go_filepath_ext_plus_tar(name, base, ext):
    assert split_extension(name) == (base, ext)


def test_copy_names_sequence_and_timestamp_fallback():
    """Appendix A: ``base copy.ext``, ``base copy 1.ext`` … ``base copy 50.ext``, then
    ``basecopy.<RFC 3339>.ext``."""
    moment = datetime.datetime(2024, 3, 17, 14, 58, 30,
                               tzinfo=datetime.timezone(datetime.timedelta(hours=-6)))
    names = list(copy_names("hello.txt", moment))
    assert names[:3] == ["hello copy.txt", "hello copy 1.txt", "hello copy 2.txt"]
    assert names[50] == "hello copy 50.txt"
    assert names[51] == "hellocopy.2024-03-17T14:58:30-06:00.txt"
    assert len(names) == 52
    assert next(copy_names(".bashrc", moment)) == " copy.bashrc"
    assert next(copy_names("noext", moment)) == "noext copy"


def test_archive_names():
    """§5.9: ``archive-2024-03-17T145830-0600.tar.gz``; ``Z`` on a UTC host; numbered
    after that for more archives in the same second."""
    west = datetime.datetime(2024, 3, 17, 14, 58, 30,
                             tzinfo=datetime.timezone(datetime.timedelta(hours=-6)))
    utc = datetime.datetime(2024, 3, 17, 14, 58, 30, tzinfo=datetime.UTC)
    assert next(archive_names(west)) == "archive-2024-03-17T145830-0600.tar.gz"
    names = list(archive_names(utc))
    assert names[:3] == ["archive-2024-03-17T145830Z.tar.gz",
                         "archive-2024-03-17T145830Z-1.tar.gz",
                         "archive-2024-03-17T145830Z-2.tar.gz"]
    assert len(set(names)) == len(names) == 51
