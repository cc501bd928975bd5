"""Backup routes: create, restore, delete one, delete all (wings-api.md §8; peers.md,
Pelican's ``deleteAllBackups``). Creating and restoring run in the server's worker as
long file jobs; deleting is a file removal done here, off the hub."""

import logging

from api import http
from wingspan import backups, commands, errors

log = logging.getLogger(__name__)

NO_DOWNLOAD_URL = "The download_url field is required when the backup adapter is set to S3."
# A restore answers once the backup is found: a local file, or an S3 download's headers.
RESTORE_TIMEOUT = 120.0


def install(app, ctx):
    limit = lambda: ctx.cfg.wingspan.max_request_body  # noqa: E731 (read live: config can change)

    @app.post("/api/servers/<server>/backup")
    def create_backup(server):
        body = http.json_body(limit())
        adapter = http.field(body, "adapter", str, "")
        backup_uuid = http.field(body, "uuid", str, "")
        ignore = http.field(body, "ignore", str, "")
        backups.check_adapter(adapter)
        backups.check_uuid(backup_uuid)
        ctx.client.call(commands.BACKUP, server.uuid,
                        {"adapter": adapter, "uuid": backup_uuid, "ignore": ignore})
        return http.empty_response(202)

    @app.post("/api/servers/<server>/backup/<backup>/restore")
    def restore_backup(server, backup):
        body = http.json_body(limit())
        adapter = http.field(body, "adapter", str, "")
        truncate = http.field(body, "truncate_directory", bool, False)
        download_url = http.field(body, "download_url", str, "")
        if adapter not in backups.ADAPTERS:
            raise errors.BadRequest(detail="restore adapter %r" % adapter)
        if adapter == "s3" and not download_url:
            raise errors.BadRequest(NO_DOWNLOAD_URL)
        backups.check_uuid(backup)
        ctx.client.call(commands.RESTORE, server.uuid, {
            "uuid": backup, "adapter": adapter, "truncate_directory": truncate,
            "download_url": download_url}, timeout=RESTORE_TIMEOUT)
        return http.empty_response(202)

    @app.delete("/api/servers/<server>/backup/<backup>")
    def delete_backup(server, backup):
        ctx.files.run(backups.delete_backup, ctx.cfg, server.uuid, backup)
        return http.empty_response(204)

    @app.delete("/api/servers/<server>/deleteAllBackups")
    def delete_all_backups(server):
        ctx.files.run(backups.delete_all, ctx.cfg, server.uuid)
        return http.empty_response(204)

