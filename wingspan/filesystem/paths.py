"""Lexical handling of server paths: the strings the Panel sends, before anything touches a disk.

A server path is relative to the server root; a leading ``/`` means the root itself
(wings-api.md §6.1). Cleaning is purely lexical, as in Wings: ``a/../b`` is ``b`` even when
``a`` is a symlink. Symlinks are the resolver's business (``resolve.py``), not this module's.
"""

from wingspan import errors


def split_path(path, host_root=None):
    """The components of a server path, relative to the root.

    Args:
        path: the path as the client sent it (already URL-decoded).
        host_root: the root's absolute host path; a path starting with it is taken as an
            absolute host path to a file inside the root and the prefix is dropped (§6.1 step 1).

    Returns:
        A list of names, none of them empty, ``.`` or ``..``; ``[]`` is the root.

    Raises:
        PathOutsideRoot: a NUL byte, or ``..`` climbing above the root.
    """
    if "\x00" in path:
        raise errors.PathOutsideRoot(detail="NUL byte in path %r" % path)
    if host_root and (path == host_root or path.startswith(host_root.rstrip("/") + "/")):
        path = path[len(host_root):]
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise errors.PathOutsideRoot(detail="%r climbs out of the server root" % path)
            parts.pop()
            continue
        parts.append(part)
    return parts


def join_path(base, name):
    """Go's ``path.Join(base, name)``: join, then clean lexically.

    The routes that take a ``root`` plus names (rename, delete, chmod, compress, decompress)
    join this way, so with a rooted base (the Panel sends ``/``) ``..`` cannot climb above
    ``/``: ``join_path("/", "../x")`` is ``/x``. An unrooted base keeps the ``..`` and
    :func:`split_path` then refuses it.
    """
    joined = "/".join(part for part in (base, name) if part)
    rooted = joined.startswith("/")
    parts = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part == ".." and rooted:
            continue
        else:
            parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def server_path(parts):
    """The canonical spelling of resolved components: ``/a/b``, or ``/`` for the root."""
    return "/" + "/".join(parts)
