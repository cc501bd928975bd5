"""The Stat object of the files API (wings-api.md §5.1) and the time and mode spellings it uses."""

import datetime
import functools
import stat
import time
from json.encoder import encode_basestring_ascii as encode_json_string

from wingspan import gojson

# Go's FileMode.String() type letters, in its order, with the lstat bits that set them.
_TYPE_LETTERS = (
    ("d", stat.S_ISDIR),
    ("L", stat.S_ISLNK),
    ("D", lambda m: stat.S_ISBLK(m) or stat.S_ISCHR(m)),
    ("p", stat.S_ISFIFO),
    ("S", stat.S_ISSOCK),
    ("u", lambda m: m & stat.S_ISUID),
    ("g", lambda m: m & stat.S_ISGID),
    ("c", stat.S_ISCHR),
    ("t", lambda m: m & stat.S_ISVTX),
)


@functools.lru_cache(maxsize=1024)
def mode_string(mode):
    """Go's ``FileMode.String()`` of an lstat mode: ``-rw-r--r--``, ``drwxr-xr-x``,
    ``Lrwxrwxrwx``, ``Dcrw-rw-rw-``, ``urwxr-xr-x`` ..."""
    letters = "".join(letter for letter, applies in _TYPE_LETTERS if applies(mode)) or "-"
    return letters + _PERMISSIONS[mode & 0o777]


_PERMISSIONS = ["".join(char if bits & (1 << (8 - index)) else "-"
                        for index, char in enumerate("rwxrwxrwx")) for bits in range(0o1000)]


def mode_bits(mode):
    """Permission bits in octal without a leading zero: ``"644"``, ``"755"``, ``"0"``."""
    return format(mode & 0o777, "o")


def rfc3339(moment):
    """Go's ``time.RFC3339`` of an aware datetime: seconds precision, ``Z`` for UTC."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if moment.utcoffset() == datetime.timedelta(0) else text


def timestamp_rfc3339(timestamp):
    """A POSIX timestamp in the daemon's local time zone, as :func:`rfc3339` spells it
    (``time.localtime`` rather than datetime: a listing formats two per entry)."""
    return _seconds_rfc3339(int(timestamp), time.tzname)


@functools.lru_cache(maxsize=4096)
def _seconds_rfc3339(seconds, zone):
    """Files written together share their second: a listing formats each one once (per
    time zone, which ``time.tzset`` can change)."""
    moment = time.localtime(seconds)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", moment)
    offset = moment.tm_gmtoff
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    offset = abs(offset)
    return "%s%s%02d:%02d" % (text, sign, offset // 3600, offset % 3600 // 60)


def stat_object(name, info, mime):
    """The §5.1 Stat object of an lstat result.

    ``created`` is the inode change time, as in Wings; ``symlink`` is the truth ([REC]),
    not Wings' always-false; ``file`` is "not a directory", so a symlink is a file.
    """
    mode = info.st_mode
    directory = stat.S_ISDIR(mode)
    return {
        "name": gojson.text(name),
        "created": timestamp_rfc3339(info.st_ctime),
        "modified": timestamp_rfc3339(info.st_mtime),
        "mode": mode_string(mode),
        "mode_bits": mode_bits(mode),
        "size": info.st_size,
        "directory": directory,
        "file": not directory,
        "symlink": stat.S_ISLNK(mode),
        "mime": mime,
    }


# The Stat object as JSON text in one formatting step: a listing of 100 000 entries is
# dominated by per-entry costs, and building then encoding a dict per entry doubles them.
# Every value but the name is ASCII without quotes or backslashes (times, modes, numbers,
# booleans, MIME types), so only the name needs escaping; and the values that follow from
# the times and the mode are formatted once for all the files that share them (files
# written together share their second and mode).
_STAT_JSON = '{"name":%s,%s,"size":%d,%s,"mime":"%s"}'
_JSON_BOOL = {True: "true", False: "false"}


def stat_json(name, info, mime):
    """:func:`stat_object` encoded as JSON (what ``json.dumps`` would give, keys in order)."""
    mode = info.st_mode
    return _STAT_JSON % (encode_json_string(gojson.text(name)),
                         _times_and_mode_json(int(info.st_ctime), int(info.st_mtime), mode,
                                              time.tzname),
                         info.st_size, _kind_json(mode), mime)


@functools.lru_cache(maxsize=4096)
def _times_and_mode_json(ctime, mtime, mode, zone):
    return '"created":"%s","modified":"%s","mode":"%s","mode_bits":"%s"' % (
        _seconds_rfc3339(ctime, zone), _seconds_rfc3339(mtime, zone), mode_string(mode),
        mode_bits(mode))


@functools.lru_cache(maxsize=1024)
def _kind_json(mode):
    directory = stat.S_ISDIR(mode)
    return '"directory":%s,"file":%s,"symlink":%s' % (
        _JSON_BOOL[directory], _JSON_BOOL[not directory], _JSON_BOOL[stat.S_ISLNK(mode)])
