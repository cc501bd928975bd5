"""The files API of one server (wings-api.md §5).

Paths are resolved only by the server's jail (``wingspan.filesystem``). Listing, reading,
writing and the small edits run here off the hub; archives and remote downloads run in the
server's worker (``worker/downloads.py``, ``worker/commands.py``) and the request waits.
"""

import logging

import bottle

from api import http
from wingspan import commands, errors
from wingspan.filesystem import parse_mode
from wingspan.filesystem.search import MIN_TERM_BYTES

log = logging.getLogger(__name__)

ARCHIVE_TIMEOUT = 15 * 60.0
PULL_TIMEOUT = 12 * 3600.0
PULL_START_TIMEOUT = 60.0

NO_FILES_TO_RENAME = "No files to move or rename were provided."
NO_FILES_TO_DELETE = "No files were specified for deletion."
NO_FILES_TO_COMPRESS = "No files were passed through to be compressed."
NO_FILES_TO_CHMOD = "No files to chmod were provided."
MISSING_LENGTH = "Missing Content-Length"
SHORT_PATTERN = "Pattern must be at least 3 characters long"
SHORT_CONTENT = "Content must be at least 3 characters long"
# Set on a search cut short by one of its bounds: time, matches or bytes.
SEARCH_TRUNCATED_HEADER = "X-Search-Truncated"


def server_path(name):
    """A ``file``/``directory`` query value; leading slashes do not matter (§5.3, §5.4)."""
    return "/" + (http.query(name) or "").lstrip("/")


def search_terms():
    """``pattern`` (a name; Pelican's) and ``content`` (text inside the file; wingspan's),
    each at least 3 bytes when given; without ``content`` the pattern is required."""
    pattern, content = http.query("pattern") or None, http.query("content") or None
    if content is None and (pattern is None or len(pattern.encode()) < MIN_TERM_BYTES):
        raise errors.BadRequest(SHORT_PATTERN)
    if pattern is not None and len(pattern.encode()) < MIN_TERM_BYTES:
        raise errors.BadRequest(SHORT_PATTERN)
    if content is not None and len(content.encode()) < MIN_TERM_BYTES:
        raise errors.BadRequest(SHORT_CONTENT)
    return pattern, content


def string_list(body, name, empty_message):
    """A required, non-empty JSON array of strings (422 when empty, 400 on wrong types)."""
    values = http.field(body, name, list, [])
    if not values:
        raise errors.ValidationFailed(empty_message)
    if not all(isinstance(v, str) for v in values):
        raise errors.UnparsableBody(detail="%s must hold strings" % name)
    return values


def object_list(body, name, keys, empty_message):
    """A required, non-empty JSON array of objects whose ``keys`` are strings."""
    values = http.field(body, name, list, [])
    if not values:
        raise errors.ValidationFailed(empty_message)
    for value in values:
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in keys):
            raise errors.UnparsableBody(detail="each of %s needs string %s" % (name, keys))
    return values


def install(app, ctx):
    limit = lambda: ctx.cfg.wingspan.max_request_body  # noqa: E731 (read live: config can change)
    files = ctx.files

    def require_remote_download():
        if ctx.cfg.api.disable_remote_download:
            raise errors.FeatureDisabled()

    @app.get("/api/servers/<server>/files/list-directory")
    def list_directory(server):
        directory = http.query("directory") or "/"
        response = bottle.HTTPResponse(body=files.listing(server, directory))
        response.content_type = http.JSON_TYPE
        return response

    @app.get("/api/servers/<server>/files/search")
    def search(server):
        pattern, content = search_terms()
        directory = http.query("directory") or ""
        with files.jail(server) as jail:
            found = files.run(jail.search, directory, pattern, content)
        response = http.json_response(found.entries)
        if found.truncated:
            response.set_header(SEARCH_TRUNCATED_HEADER, found.truncated)
        return response

    @app.get("/api/servers/<server>/files/contents")
    def contents(server):
        with files.jail(server) as jail:
            path = server_path("file")
            jail.check_denylist(path)
            stream = files.run(jail.open_read, path)
        mime = files.run(lambda: stream.mime)
        if http.query("download"):
            response = files.response(stream, "application/octet-stream", stream.name)
        else:
            response = files.response(stream, mime)
        response.set_header("X-Mime-Type", mime)
        return response

    @app.post("/api/servers/<server>/files/write")
    def write(server):
        length = bottle.request.environ.get("CONTENT_LENGTH") or ""
        if not length.isdigit():
            raise errors.BadRequest(MISSING_LENGTH)
        length = int(length)
        with files.jail(server, enforce_quota=True) as jail:
            try:
                writer = files.run(jail.open_write, server_path("file"), length)
            except errors.IsADirectory as e:
                raise errors.DirectoryInTheWay(detail=e.detail) from e
            files.receive(writer, bottle.request.environ["wsgi.input"].read, length)
        return http.empty_response(204)

    @app.put("/api/servers/<server>/files/rename")
    def rename(server):
        body = http.json_body(limit())
        root = http.field(body, "root", str, "/")
        pairs = object_list(body, "files", ("from", "to"), NO_FILES_TO_RENAME)
        with files.jail(server) as jail:
            for pair in pairs:
                files.run(jail.rename, root, pair["from"], pair["to"])
        return http.empty_response(204)

    @app.post("/api/servers/<server>/files/copy")
    def copy(server):
        body = http.json_body(limit())
        location = http.field(body, "location", str, "")
        with files.jail(server, enforce_quota=True) as jail:
            files.run(jail.copy, location)
        return http.empty_response(204)

    @app.post("/api/servers/<server>/files/create-directory")
    def create_directory(server):
        body = http.json_body(limit())
        name = http.field(body, "name", str, "")
        path = http.field(body, "path", str, "/")
        with files.jail(server) as jail:
            files.run(jail.mkdir, name, path)
        return http.empty_response(204)

    @app.post("/api/servers/<server>/files/delete")
    def delete(server):
        body = http.json_body(limit())
        root = http.field(body, "root", str, "/")
        names = string_list(body, "files", NO_FILES_TO_DELETE)
        with files.jail(server) as jail:
            files.run(jail.delete, root, names)
        return http.empty_response(204)

    @app.post("/api/servers/<server>/files/chmod")
    def chmod(server):
        body = http.json_body(limit())
        root = http.field(body, "root", str, "/")
        changes = object_list(body, "files", ("file", "mode"), NO_FILES_TO_CHMOD)
        for change in changes:
            parse_mode(change["mode"])
        with files.jail(server) as jail:
            files.run(jail.chmod, root, changes)
        return http.empty_response(204)

    @app.post("/api/servers/<server>/files/compress")
    def compress(server):
        body = http.json_body(limit())
        args = {"root": http.field(body, "root", str, "/"),
                "files": string_list(body, "files", NO_FILES_TO_COMPRESS)}
        info = ctx.client.call(commands.COMPRESS, server.uuid, args, timeout=ARCHIVE_TIMEOUT)
        return http.json_response(info)

    @app.post("/api/servers/<server>/files/decompress")
    def decompress(server):
        body = http.json_body(limit())
        args = {"root": http.field(body, "root", str, "/"),
                "file": http.field(body, "file", str, "")}
        ctx.client.call(commands.DECOMPRESS, server.uuid, args, timeout=ARCHIVE_TIMEOUT)
        return http.empty_response(204)

    @app.get("/api/servers/<server>/files/pull")
    def list_pulls(server):
        require_remote_download()
        result = ctx.client.call(commands.PULLS, server.uuid)
        return http.json_response({"downloads": result["downloads"] or None})

    @app.post("/api/servers/<server>/files/pull")
    def pull(server):
        require_remote_download()
        body = http.json_body(limit())
        args = {
            "url": http.field(body, "url", str, ""),
            "root": http.field(body, "root", str, "") or http.field(body, "directory", str, ""),
            "file_name": http.field(body, "file_name", str, ""),
            "use_header": http.field(body, "use_header", bool, False),
            "foreground": http.field(body, "foreground", bool, False),
        }
        if not args["url"] or not args["root"]:
            raise errors.UnparsableBody(detail="url and root (or directory) are required")
        timeout = PULL_TIMEOUT if args["foreground"] else PULL_START_TIMEOUT
        result = ctx.client.call(commands.PULL, server.uuid, args, timeout=timeout)
        if args["foreground"]:
            return http.json_response(result)
        return http.json_response(result, status=202)

    @app.delete("/api/servers/<server>/files/pull/<download>")
    def cancel_pull(server, download):
        require_remote_download()
        ctx.client.call(commands.CANCEL_PULL, server.uuid, {"identifier": download})
        return http.empty_response(204)
