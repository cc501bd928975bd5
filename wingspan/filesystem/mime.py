"""Content-sniffed MIME types, worded as Wings' detector (gabriel-vasile/mimetype) words them.

The Panel decides from this string alone whether a file can be unarchived or edited
(panel-contract.md §1.5), so the archive types must come out exactly as Wings sends them
(``application/zip``, ``application/gzip``, ``application/x-tar``, ...), text as
``text/plain; charset=utf-8`` (an empty file included) and unknown binary data as
``application/octet-stream``.

Binary signatures come from the ``filetype`` package (pure Python, no libmagic): its MIME
strings coincide with mimetype's for every archive type the Panel lists; the few it names
differently are mapped below. Text detection is mimetype's rule: the first bytes are text
unless they contain a WHATWG "binary data byte" (a BOM makes them text regardless).
"""

import json
import stat

import filetype

SNIFF_BYTES = 3072  # what mimetype reads from the start of a file
OCTET_STREAM = "application/octet-stream"
DIRECTORY = "inode/directory"

_BINARY_BYTES = bytes(range(0x09)) + b"\x0b" + bytes(range(0x0e, 0x1b)) \
    + bytes(range(0x1c, 0x20))
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xfe\xff", "utf-16be"), (b"\xff\xfe", "utf-16le"))
_TEXT_PREFIXES = tuple(bom for bom, _ in _BOMS)
_MIMETYPE_NAMES = {
    "audio/x-flac": "audio/flac",
    "audio/x-wav": "audio/wav",
    "audio/x-aiff": "audio/aiff",
    "application/x-msdownload": "application/vnd.microsoft.portable-executable",
    "application/x-deb": "application/vnd.debian.binary-package",
    "application/x-unix-archive": "application/x-archive",
    "application/x-google-chrome-extension": "application/x-chrome-extension",
    "application/x-executable": "application/x-elf",
}
_FONTS = {"woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf"}
_HTML_TAGS = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div",
              b"<font", b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br",
              b"<p", b"<!--")


def without_content(mode):
    """The type of an entry whose content is never sniffed (a directory, or anything but a
    regular file: symlink, FIFO, socket, device); None for a regular file."""
    if stat.S_ISDIR(mode):
        return DIRECTORY
    return None if stat.S_ISREG(mode) else OCTET_STREAM


def sniff(head, truncated=False):
    """The MIME type of a regular file from its first bytes.

    Args:
        head: up to :data:`SNIFF_BYTES` bytes from the start of the file.
        truncated: the file is longer than ``head`` (a JSON document cut in the middle still
            counts as JSON).
    """
    charset = _text_charset(head, truncated)
    if charset is not None:
        return _text_subtype(head, charset, truncated)
    # Text is tested first (mimetype tests it last): it is the common case in a server
    # directory, it is cheap, and no signature the Panel cares about is pure text.
    kind = filetype.guess(head)
    return OCTET_STREAM if kind is None else _binary_name(kind, head)


def _binary_name(kind, head):
    if kind.mime == "application/zip" and b"META-INF/" in head:
        return "application/jar"
    if kind.extension in _FONTS:
        return _FONTS[kind.extension]
    return _MIMETYPE_NAMES.get(kind.mime, kind.mime)


def _text_charset(head, truncated):
    """The charset of text, or None for binary data."""
    if head.startswith(_TEXT_PREFIXES):
        return next(charset for bom, charset in _BOMS if head.startswith(bom))
    if len(head.translate(None, _BINARY_BYTES)) != len(head):
        return None
    # ASCII, the common case, is UTF-8 without trying to decode it
    return "utf-8" if head.isascii() or _is_utf8(head, truncated) else "iso-8859-1"


def _is_utf8(head, truncated):
    # A multi-byte character may be cut at the end of the sniffed window.
    for cut in range(4 if truncated else 1):
        try:
            head[:len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def _text_subtype(head, charset, truncated):
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] not in _MARKUP_OR_JSON_STARTS:
        return _PLAIN_TEXT[charset]
    lowered = text[:64].lower()
    if lowered.startswith(b"<?xml"):
        return "image/svg+xml" if b"<svg" in text.lower() else "text/xml; charset=%s" % charset
    if lowered.startswith(b"<svg"):
        return "image/svg+xml"
    if lowered.startswith(b"<?php"):
        return "text/x-php; charset=%s" % charset
    if lowered[:1] == b"<" and any(_starts_with_tag(lowered, tag) for tag in _HTML_TAGS):
        return "text/html; charset=%s" % charset
    if text[:1] in (b"{", b"[") and charset == "utf-8" and _is_json(text, truncated):
        return "application/json"
    return _PLAIN_TEXT[charset]


_MARKUP_OR_JSON_STARTS = (b"<", b"{", b"[")
_PLAIN_TEXT = {charset: "text/plain; charset=%s" % charset
               for charset in ("utf-8", "iso-8859-1", "utf-16be", "utf-16le")}


def _starts_with_tag(text, tag):
    return text.startswith(tag) and text[len(tag):len(tag) + 1] in (b" ", b">")


def _is_json(text, truncated):
    """A whole JSON document, or (for a cut file) one whose only fault is its missing end."""
    try:
        json.loads(text.decode("utf-8", "ignore"))
        return True
    except json.JSONDecodeError as e:
        return truncated and (e.pos >= len(e.doc) - 1 or e.msg.startswith("Unterminated string"))


class SniffCache:
    """MIME types of files already sniffed, by file identity, at most ``capacity`` of them.

    A file's identity is its device, inode, size, modification and change times: writing
    to a file changes them, and the change time cannot be set back by its owner, so an
    entry is never reused for different content. Re-listing a huge directory then costs
    no opening and reading of every file. Oldest entries are dropped first; keys are
    hashes (64 bits: a collision would only mislabel one file) so an entry costs about
    seventy bytes.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self._types = {}

    def sniffed(self, info, sniff, *args):
        """The type of the file ``info`` (its lstat) describes: from the cache, or else
        ``sniff(*args)``, which is then kept."""
        key = _identity(info)
        types = self._types
        known = types.get(key)
        if known is None:
            known = sniff(*args)
            if self.capacity > 0:
                types[key] = known
                if len(types) > self.capacity:
                    del types[next(iter(types))]
        return known

    def __len__(self):
        return len(self._types)


def _identity(info):
    return hash((info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
