"""Signed-URL endpoints: the browser downloads and uploads files with a Panel-minted JWT
instead of the node token (wings-api.md §7).

Every token is verified (HS256 with the node token, expiry), minted for this endpoint's
purpose (§16), issued after this boot and not revoked, then its server must exist here,
then its ``unique_id`` is spent, in that order (§7.3). A bad token is 403 and serves
nothing; one minted for another purpose is 404 and spends nothing.
"""

import logging
import posixpath

import bottle

from api import declare, http
from api.declare import ERROR, MULTIPART, NO_CONTENT, RAW, SIGNED, Endpoint, Param, Response
from api.uploads import Upload
from wingspan import activity, backups, errors, tokens

log = logging.getLogger(__name__)


def go_clean(path):
    """Go's ``filepath.Clean``: how Wings writes the upload directory in its activity."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("/") else cleaned


TAG = "signed URLs"
TOKEN = Param("token", "The JWT the Panel signed for this purpose.", required=True)
FILE = Response("The bytes (ranges supported).", {"type": "string", "format": "binary"}, RAW)
MISSING = Response("The token's server, file or backup is not here.", ERROR)
DOWNLOAD_FILE = Endpoint("GET", "/download/file", "Download a file (wings-api.md §7.4).", TAG,
                         auth=SIGNED, query=[TOKEN], responses={200: FILE, 404: MISSING})
DOWNLOAD_BACKUP = Endpoint("GET", "/download/backup", "Download a backup (§7.5).", TAG,
                           auth=SIGNED, query=[TOKEN], responses={200: FILE, 404: MISSING})
UPLOAD_FILE = Endpoint(
    "POST", "/upload/file", "Upload files into a directory (§7.6).", TAG, auth=SIGNED,
    query=[TOKEN, Param("directory", "Where the files go, from the server root.")],
    body=MULTIPART,
    responses={200: NO_CONTENT, 400: Response("Not multipart, too large, no space.", ERROR),
               404: MISSING})


def install(app, ctx):
    files = ctx.files

    def server_for(token):
        """The token's server, then its one-time id spent (§7.3)."""
        view = ctx.registry.views.get(token.server_uuid)
        if view is None:
            raise errors.TokenResourceNotFound(detail="no server %s here" % token.server_uuid)
        ctx.one_time.claim(token.unique_id)
        return view

    @declare.route(app, DOWNLOAD_FILE)
    def download_file():
        token = tokens.parse_download_token(http.query("token") or "", ctx.cfg.token,
                                            ctx.denylist)
        view = server_for(token)
        with files.jail(view) as jail:
            jail.check_denylist(token.file_path)
            try:
                stream = files.run(jail.open_read, token.file_path)
            except errors.IsADirectory as e:
                raise errors.TokenResourceNotFound(detail=e.detail) from e
        return files.response(stream, "application/octet-stream", stream.name)

    @declare.route(app, DOWNLOAD_BACKUP)
    def download_backup():
        token = tokens.parse_backup_token(http.query("token") or "", ctx.cfg.token,
                                          ctx.denylist)
        view = server_for(token)
        stream = files.run(backups.open_backup, ctx.cfg, view.uuid, token.backup_uuid)
        return files.response(stream, "application/octet-stream",
                              "%s.tar.gz" % token.backup_uuid)

    @declare.route(app, UPLOAD_FILE)
    def upload_file():
        token = tokens.parse_upload_token(http.query("token") or "", ctx.cfg.token,
                                          ctx.denylist)
        view = server_for(token)
        directory = http.query("directory") or "/"
        with files.jail(view, enforce_quota=True) as jail:
            written = Upload(files, jail, directory, ctx.cfg.api.upload_limit).run(
                bottle.request.environ)
        ip = http.client_ip(bottle.request.environ, ctx.cfg.api.trusted_proxies)
        for uploaded in written:
            log.info("server %s: user %s uploaded %s", view.uuid, token.user_uuid,
                     uploaded.path)
            ctx.activity.send(view.uuid, activity.FILE_UPLOADED,
                              {"file": uploaded.filename,
                               "directory": go_clean(http.query("directory") or "")},
                              token.user_uuid, ip)
        return http.empty_response(200)
