"""Names the daemon makes up for new files: copies (wings-behaviour.md §9.6) and archives
(§9.8), as in Appendix A."""

import datetime

from wingspan.filesystem.statinfo import rfc3339

MAX_COPY_NUMBER = 50


def now_local():
    return datetime.datetime.now().astimezone()


def split_extension(name):
    """``(base, ext)`` with Go's ``filepath.Ext`` (last dot, dotfiles included: ``.bashrc`` is
    all extension) and a ``.tar`` glued in front of a compression extension."""
    dot = name.rfind(".")
    if dot < 0:
        return name, ""
    base, ext = name[:dot], name[dot:]
    if base.endswith(".tar"):
        return base[:-4], ".tar" + ext
    return base, ext


def copy_names(name, now=None):
    """Candidate names for a copy of ``name``, first free one wins: ``name copy.ext``,
    ``name copy 1.ext`` ... ``name copy 50.ext``, then ``namecopy.<RFC 3339>.ext``
    (no space: Wings' spelling)."""
    base, ext = split_extension(name)
    yield "%s copy%s" % (base, ext)
    for number in range(1, MAX_COPY_NUMBER + 1):
        yield "%s copy %d%s" % (base, number, ext)
    yield "%scopy.%s%s" % (base, rfc3339(now or now_local()), ext)


def archive_names(now=None):
    """Candidate names for an archive, first free one wins:
    ``archive-2024-03-17T145830-0600.tar.gz`` (local time, every ``:`` removed, ``Z`` on
    UTC), then ``archive-2024-03-17T145830-0600-1.tar.gz`` ... for more archives made in
    the same second (Wings would write them all over one another)."""
    stamp = rfc3339(now or now_local()).replace(":", "")
    yield "archive-%s.tar.gz" % stamp
    for number in range(1, MAX_COPY_NUMBER + 1):
        yield "archive-%s-%d.tar.gz" % (stamp, number)
