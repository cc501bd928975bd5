"""The files API of one server (wings-api.md §5).

Paths are resolved only by the server's jail (``wingspan.filesystem``). Listing, reading,
writing and the small edits run here off the hub; archives and remote downloads run in the
server's worker (``worker/downloads.py``, ``worker/commands.py``) and the request waits.
"""

import logging

import bottle

from api import declare, http
from api.declare import BOOL, ERROR, NO_CONTENT, RAW, STAT, STRING, Endpoint, Param, \
    Response, array, obj
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


def required(values, empty_message):
    """A list the route cannot do without: empty is a 422 with the route's message."""
    if not values:
        raise errors.ValidationFailed(empty_message)
    return values


TAG = "files"
ROOT = dict(STRING, default="/")
FILE_PATH = Param("file", "Path of the file, from the server root.")
NOT_FOUND = Response("No such file or directory (or outside the server's root).", ERROR)
REFUSED = Response("Denylisted (403), or a directory, no disk space, a bad name (400).", ERROR)
DISABLED = Response("Remote downloads are disabled on this node.", ERROR)
FILE_PAIRS = array(obj(("from", "to"), **{"from": STRING, "to": STRING}), default=[])
MODES = array(obj(("file", "mode"), file=STRING, mode=STRING), default=[])
NAMES = array(STRING, default=[])
DOWNLOAD = obj(("Identifier", "Progress"), Identifier=STRING, Progress={"type": "number"})


def files_endpoint(method, action, summary, **kwargs):
    responses = {403: REFUSED, 404: NOT_FOUND}
    responses.update(kwargs.pop("responses", {}))
    return Endpoint(method, "/api/servers/<server>/files/" + action, summary, TAG,
                    responses=responses, **kwargs)


LIST_DIRECTORY = files_endpoint(
    "GET", "list-directory", "The entries of a directory (wings-api.md §5.2).",
    query=[Param("directory", "Directory, from the server root (default /).")],
    responses={200: Response("Directories first, then files, by name.", array(STAT))})
CONTENTS = files_endpoint(
    "GET", "contents", "A file's bytes (§5.3).",
    query=[FILE_PATH, Param("download", "Any value: sent as an attachment.")],
    responses={200: Response("The file.", {"type": "string", "format": "binary"}, RAW),
               400: Response("A directory, or not a regular file.", ERROR)})
WRITE = files_endpoint(
    "POST", "write", "Write a file from the raw body (§5.4).", query=[FILE_PATH], body=RAW,
    responses={204: NO_CONTENT,
               400: Response("No Content-Length, a directory in the way, no disk space.",
                             ERROR)})
RENAME = files_endpoint(
    "PUT", "rename", "Rename or move files (§5.5).",
    body=obj(root=ROOT, files=FILE_PAIRS),
    responses={204: NO_CONTENT, 422: Response(NO_FILES_TO_RENAME, ERROR)})
COPY = files_endpoint("POST", "copy", "Copy a file beside itself (§5.6).",
                      body=obj(location=dict(STRING, default="")),
                      responses={204: NO_CONTENT})
CREATE_DIRECTORY = files_endpoint(
    "POST", "create-directory", "Create a directory (§5.7).",
    body=obj(name=dict(STRING, default=""), path=ROOT), responses={204: NO_CONTENT})
DELETE = files_endpoint(
    "POST", "delete", "Delete files and directories (§5.8).",
    body=obj(root=ROOT, files=NAMES),
    responses={204: NO_CONTENT, 422: Response(NO_FILES_TO_DELETE, ERROR)})
CHMOD = files_endpoint(
    "POST", "chmod", "Change modes (§5.11).", body=obj(root=ROOT, files=MODES),
    responses={204: NO_CONTENT, 422: Response(NO_FILES_TO_CHMOD, ERROR)})
COMPRESS = files_endpoint(
    "POST", "compress", "Archive files into a tar.gz beside them (§5.9).",
    body=obj(root=ROOT, files=NAMES),
    responses={200: Response("The new archive.", STAT),
               422: Response(NO_FILES_TO_COMPRESS, ERROR)})
DECOMPRESS = files_endpoint(
    "POST", "decompress", "Extract an archive where it lies (§5.10).",
    body=obj(root=ROOT, file=dict(STRING, default="")), responses={204: NO_CONTENT})
PULLS = files_endpoint(
    "GET", "pull", "Remote downloads in progress (§5.12).",
    responses={200: Response("The downloads (null when none).",
                             obj(("downloads",), downloads={"type": ["array", "null"],
                                                            "items": DOWNLOAD})),
               400: DISABLED})
PULL = files_endpoint(
    "POST", "pull", "Download a URL into the server (§5.12).",
    body=obj(url=dict(STRING, default=""), root=dict(STRING, default=""),
             directory=dict(STRING, default=""), file_name=dict(STRING, default=""),
             use_header=dict(BOOL, default=False), foreground=dict(BOOL, default=False)),
    responses={200: Response("Downloaded (foreground).", STAT),
               202: Response("Started.", obj(("identifier",), identifier=STRING)),
               400: Response("Disabled, refused address or failed download.", ERROR)})
SEARCH = files_endpoint(
    "GET", "search", "Find files by name and content, bounded in time, matches and bytes "
    "(Pelican; content search is wingspan's).",
    query=[Param("pattern", "Part of a name, an extension or a glob (3 bytes at least)."),
           Param("content", "Text inside the file (3 bytes at least)."),
           Param("directory", "Where to start, from the server root (default /).")],
    responses={200: Response("Matching entries; X-Search-Truncated says which bound cut the "
                             "search short.", array(STAT)),
               400: Response("A pattern or content shorter than 3 bytes.", ERROR)})
CANCEL_PULL = files_endpoint("DELETE", "pull/<download>", "Cancel a remote download (§5.12).",
                             responses={204: NO_CONTENT, 400: DISABLED})


def install(app, ctx):
    files = ctx.files

    def require_remote_download():
        if ctx.cfg.api.disable_remote_download:
            raise errors.FeatureDisabled()

    @declare.route(app, LIST_DIRECTORY)
    def list_directory(server):
        directory = http.query("directory") or "/"
        response = bottle.HTTPResponse(body=files.listing(server, directory))
        response.content_type = http.JSON_TYPE
        return response

    @declare.route(app, SEARCH)
    def search(server):
        pattern, content = search_terms()
        directory = http.query("directory") or ""
        with files.jail(server) as jail:
            found = files.run(jail.search, directory, pattern, content)
        response = http.json_response(found.entries)
        if found.truncated:
            response.set_header(SEARCH_TRUNCATED_HEADER, found.truncated)
        return response

    @declare.route(app, CONTENTS)
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

    @declare.route(app, WRITE)
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

    @declare.route(app, RENAME)
    def rename(server, body):
        pairs = required(body["files"], NO_FILES_TO_RENAME)
        with files.jail(server) as jail:
            for pair in pairs:
                files.run(jail.rename, body["root"], pair["from"], pair["to"])
        return http.empty_response(204)

    @declare.route(app, COPY)
    def copy(server, body):
        with files.jail(server, enforce_quota=True) as jail:
            files.run(jail.copy, body["location"])
        return http.empty_response(204)

    @declare.route(app, CREATE_DIRECTORY)
    def create_directory(server, body):
        with files.jail(server) as jail:
            files.run(jail.mkdir, body["name"], body["path"])
        return http.empty_response(204)

    @declare.route(app, DELETE)
    def delete(server, body):
        names = required(body["files"], NO_FILES_TO_DELETE)
        with files.jail(server) as jail:
            files.run(jail.delete, body["root"], names)
        return http.empty_response(204)

    @declare.route(app, CHMOD)
    def chmod(server, body):
        changes = required(body["files"], NO_FILES_TO_CHMOD)
        for change in changes:
            parse_mode(change["mode"])
        with files.jail(server) as jail:
            files.run(jail.chmod, body["root"], changes)
        return http.empty_response(204)

    @declare.route(app, COMPRESS)
    def compress(server, body):
        args = {"root": body["root"], "files": required(body["files"], NO_FILES_TO_COMPRESS)}
        info = ctx.client.call(commands.COMPRESS, server.uuid, args, timeout=ARCHIVE_TIMEOUT)
        return http.json_response(info)

    @declare.route(app, DECOMPRESS)
    def decompress(server, body):
        args = {"root": body["root"], "file": body["file"]}
        ctx.client.call(commands.DECOMPRESS, server.uuid, args, timeout=ARCHIVE_TIMEOUT)
        return http.empty_response(204)

    @declare.route(app, PULLS)
    def list_pulls(server):
        require_remote_download()
        result = ctx.client.call(commands.PULLS, server.uuid)
        return http.json_response({"downloads": result["downloads"] or None})

    @declare.route(app, PULL)
    def pull(server, body):
        require_remote_download()
        args = {"url": body["url"], "root": body["root"] or body["directory"],
                "file_name": body["file_name"], "use_header": body["use_header"],
                "foreground": body["foreground"]}
        if not args["url"] or not args["root"]:
            raise errors.UnparsableBody(detail="url and root (or directory) are required")
        timeout = PULL_TIMEOUT if args["foreground"] else PULL_START_TIMEOUT
        result = ctx.client.call(commands.PULL, server.uuid, args, timeout=timeout)
        if args["foreground"]:
            return http.json_response(result)
        return http.json_response(result, status=202)

    @declare.route(app, CANCEL_PULL)
    def cancel_pull(server, download):
        require_remote_download()
        ctx.client.call(commands.CANCEL_PULL, server.uuid, {"identifier": download})
        return http.empty_response(204)
