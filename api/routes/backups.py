"""Backup routes: create, restore, delete one, delete all (wings-api.md §8; peers.md,
Pelican's ``deleteAllBackups``). Creating and restoring run in the server's worker as
long file jobs; deleting is a file removal done here, off the hub."""

import logging

from api import declare, http
from api.declare import BOOL, ERROR, NO_CONTENT, STRING, Endpoint, Response, obj
from wingspan import backups, commands, errors

log = logging.getLogger(__name__)

NO_DOWNLOAD_URL = "The download_url field is required when the backup adapter is set to S3."
# A restore answers once the backup is found: a local file, or an S3 download's headers
# (the worker gives up on those after worker.s3.DOWNLOAD_TIMEOUT, well within this).
RESTORE_TIMEOUT = 150.0


TAG = "backups"
ACCEPTED = Response("Accepted; the job runs in the server's worker.")
BUSY = Response("Another long job (backup, restore, transfer) is running.", ERROR)
MISSING = Response("No such server or backup.", ERROR)
CREATE = Endpoint(
    "POST", "/api/servers/<server>/backup", "Back the server up (wings-api.md §8.1).", TAG,
    body=obj(adapter=dict(STRING, default="", description="wings or s3"),
             uuid=dict(STRING, default=""), ignore=dict(STRING, default="")),
    responses={202: ACCEPTED, 400: Response("Unknown adapter or a uuid that is not one.",
                                            ERROR), 409: BUSY})
RESTORE = Endpoint(
    "POST", "/api/servers/<server>/backup/<backup>/restore", "Restore a backup (§8.2).", TAG,
    body=obj(adapter=dict(STRING, default=""), truncate_directory=dict(BOOL, default=False),
             download_url=dict(STRING, default="")),
    responses={202: ACCEPTED, 400: Response("Unknown adapter, no download_url for S3.", ERROR),
               404: MISSING, 409: BUSY})
DELETE = Endpoint("DELETE", "/api/servers/<server>/backup/<backup>", "Delete a local backup "
                  "(§8.3).", TAG, responses={204: NO_CONTENT, 404: MISSING})
DELETE_ALL = Endpoint("DELETE", "/api/servers/<server>/deleteAllBackups", "Delete every local "
                      "backup of the server (Pelican).", TAG, responses={204: NO_CONTENT})


def install(app, ctx):
    @declare.route(app, CREATE)
    def create_backup(server, body):
        backups.check_adapter(body["adapter"])
        backups.check_uuid(body["uuid"])
        ctx.client.call(commands.BACKUP, server.uuid, {
            "adapter": body["adapter"], "uuid": body["uuid"], "ignore": body["ignore"]})
        return http.empty_response(202)

    @declare.route(app, RESTORE)
    def restore_backup(server, backup, body):
        adapter = body["adapter"]
        if adapter not in backups.ADAPTERS:
            raise errors.BadRequest(detail="restore adapter %r" % adapter)
        if adapter == "s3" and not body["download_url"]:
            raise errors.BadRequest(NO_DOWNLOAD_URL)
        backups.check_uuid(backup)
        ctx.client.call(commands.RESTORE, server.uuid, {
            "uuid": backup, "adapter": adapter, "truncate_directory": body["truncate_directory"],
            "download_url": body["download_url"]}, timeout=RESTORE_TIMEOUT)
        return http.empty_response(202)

    @declare.route(app, DELETE)
    def delete_backup(server, backup):
        ctx.files.run(backups.delete_backup, ctx.cfg, server.uuid, backup)
        return http.empty_response(204)

    @declare.route(app, DELETE_ALL)
    def delete_all_backups(server):
        ctx.files.run(backups.delete_all, ctx.cfg, server.uuid)
        return http.empty_response(204)
