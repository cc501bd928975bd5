"""The Stat object of the files API (wings-api.md §5.1) and the time and mode spellings it uses."""

import datetime
import stat

# Go's FileMode.String() type letters, in its order, with the lstat bits that set them.
_TYPE_LETTERS = (
    ("d", lambda m: stat.S_ISDIR(m)),
    ("L", lambda m: stat.S_ISLNK(m)),
    ("D", lambda m: stat.S_ISBLK(m) or stat.S_ISCHR(m)),
    ("p", lambda m: stat.S_ISFIFO(m)),
    ("S", lambda m: stat.S_ISSOCK(m)),
    ("u", lambda m: bool(m & stat.S_ISUID)),
    ("g", lambda m: bool(m & stat.S_ISGID)),
    ("c", lambda m: stat.S_ISCHR(m)),
    ("t", lambda m: bool(m & stat.S_ISVTX)),
)


def mode_string(mode):
    """Go's ``FileMode.String()`` of an lstat mode: ``-rw-r--r--``, ``drwxr-xr-x``,
    ``Lrwxrwxrwx``, ``Dcrw-rw-rw-``, ``urwxr-xr-x`` ..."""
    letters = "".join(letter for letter, applies in _TYPE_LETTERS if applies(mode)) or "-"
    perms = "".join(char if mode & (1 << (8 - index)) else "-"
                    for index, char in enumerate("rwxrwxrwx"))
    return letters + perms


def mode_bits(mode):
    """Permission bits in octal without a leading zero: ``"644"``, ``"755"``, ``"0"``."""
    return format(mode & 0o777, "o")


def rfc3339(moment):
    """Go's ``time.RFC3339`` of an aware datetime: seconds precision, ``Z`` for UTC."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if moment.utcoffset() == datetime.timedelta(0) else text


def local_time(timestamp):
    """A POSIX timestamp as an aware datetime in the daemon's local time zone."""
    return datetime.datetime.fromtimestamp(int(timestamp)).astimezone()


def stat_object(name, info, mime):
    """The §5.1 Stat object of an lstat result.

    ``created`` is the inode change time, as in Wings; ``symlink`` is the truth ([REC]),
    not Wings' always-false; ``file`` is "not a directory", so a symlink is a file.
    """
    mode = info.st_mode
    directory = stat.S_ISDIR(mode)
    return {
        "name": name,
        "created": rfc3339(local_time(info.st_ctime)),
        "modified": rfc3339(local_time(info.st_mtime)),
        "mode": mode_string(mode),
        "mode_bits": mode_bits(mode),
        "size": info.st_size,
        "directory": directory,
        "file": not directory,
        "symlink": stat.S_ISLNK(mode),
        "mime": mime,
    }
