"""The worker's bus commands: what the API and supervisor may ask of one server.

Each handler takes the request's ``args`` and returns a JSON-able result or raises a
``WingspanError``. Request and result shapes are in each docstring.
"""

import logging

from wingspan import backups, bus, commands, envelope, errors
from wingspan.filesystem import archives
from worker.backups import BackupJob, RestoreJob
from worker.jobs import in_job_thread
from worker.server import OFFLINE, STARTING, STOPPING

log = logging.getLogger(__name__)

MAX_LOG_LINES = 100


def build_registry(runtime):
    """Bind every declared ``server.*`` command to one worker's objects: the handler of
    ``server.<name>`` is ``Handlers.<name>``."""
    registry = bus.CommandRegistry()
    handlers = Handlers(runtime)
    for command in commands.served_by_workers():
        registry.register(command)(getattr(handlers, command.name.partition(".")[2]))
    return registry


class Handlers:
    def __init__(self, runtime):
        self.rt = runtime

    def snapshot(self, args):
        """``{}`` -> ``{"state", "is_suspended", "utilization", "definition", "installing",
        "transferring", "restoring", "logs": [...]}``; ``logs`` holds ``args["lines"]``
        recent console lines (0 by default)."""
        server = self.rt.server
        lines = int(args.get("lines") or 0)
        return {
            "state": server.state,
            "is_suspended": server.suspended,
            "utilization": self.rt.monitor.current(),
            "definition": server.definition.to_panel_doc(),
            "installing": server.installing,
            "transferring": server.transferring,
            "restoring": server.restoring,
            "logs": self.rt.output.tail(lines) if lines else [],
        }

    def utilization(self, args):
        """``{}`` -> the usage object (wings-behaviour.md §4.2), its disk figure fresh."""
        return self.rt.monitor.current()

    def power(self, args):
        """``{"action", "wait_seconds"}`` -> ``{}`` once accepted (runs in the background)."""
        self.rt.power.request(args.get("action"), int(args.get("wait_seconds") or 0))
        return {}

    def commands(self, args):
        """HTTP ``/commands``: ``{"commands": [..]}`` -> ``{}``; the container must be running."""
        env = self.rt.environment
        if not env.is_running():
            raise errors.ServerNotRunning()
        for command in args.get("commands") or []:
            try:
                self._send(command)
            except errors.WingspanError as e:
                log.warning("command not sent: %s", e)
        return {}

    def console_command(self, args):
        """Websocket ``send command``: ``{"command"}`` -> ``{"sent": bool}``.

        Ignored while offline, or while starting and not yet attached (§2.7).
        """
        server, env = self.rt.server, self.rt.environment
        if server.state == OFFLINE or (server.state == STARTING and not env.attached):
            return {"sent": False}
        self._send(args.get("command") or "")
        return {"sent": True}

    def logs(self, args):
        """``{"size"}`` -> ``{"lines": [...]}``: the last ``size`` console lines (the caller
        caps ``size``: 100 for HTTP, ``websocket_log_count`` for websockets)."""
        size = max(int(args.get("size") or MAX_LOG_LINES), 1)
        return {"lines": self.rt.output.tail(size)}

    def sync(self, args):
        """``{}`` -> ``{"definition"}`` after applying the Panel's current configuration."""
        self.rt.preboot.sync()
        return {"definition": self.rt.server.definition.to_panel_doc()}

    def install(self, args):
        """``{}`` -> ``{}``: (re)run the egg's install script in the background."""
        self.rt.installer.request(reinstall=False)
        return {}

    def reinstall(self, args):
        """``{}`` -> ``{}``: stop, sync and install again; 409 while a power action runs."""
        if self.rt.power.lock.locked():
            raise errors.Conflict(
                "Cannot execute server reinstall event while another power action is running.")
        self.rt.installer.request(reinstall=True)
        return {}

    def reload_config(self, args):
        """``{}`` -> ``{}``: re-read config.yml (the Panel rotated the node's credentials)."""
        self.rt.reload_config()
        return {}

    def disk_usage(self, args):
        """``{}`` -> ``{"usage", "limit"}``: the cached usage in bytes, for the API's own
        quota checks (a walk runs in the background when it is stale)."""
        files = self.rt.files
        files.has_space()
        return {"usage": files.usage_bytes(), "limit": files.quota.limit}

    def disk_adjust(self, args):
        """``{"delta"}`` -> ``{}``: bytes the API process wrote (or freed) in this root."""
        self.rt.files.adjust_usage(int(args.get("delta") or 0))
        return {}

    def list_entries(self, args):
        """``{"directory", "names": [..]}`` -> ``{}`` with the Stat objects of those entries
        of the directory attached, as JSON array members (the API's listing hands over part
        of the batches of a huge directory)."""
        return envelope.Attached({}, self.rt.files.list_entries(args["directory"],
                                                                args["names"]))

    def compress(self, args):
        """``{"root", "files"}`` -> the Stat object of the new archive (§5.9)."""
        level = self.rt.cfg.system.backups.compression_level
        return in_job_thread(archives.compress, self.rt.files.jail(), args["root"],
                             args["files"], level)

    def decompress(self, args):
        """``{"root", "file"}`` -> ``{}`` once extracted (§5.10)."""
        in_job_thread(archives.decompress, self.rt.files.jail(), args["root"], args["file"])
        return {}

    def pull(self, args):
        """``{"url", "root", "file_name", "use_header", "foreground"}`` -> the Stat object
        (foreground) or ``{"identifier"}`` (§5.12)."""
        return self.rt.downloads.start(args["url"], args["root"], args.get("file_name") or "",
                                       bool(args.get("use_header")),
                                       bool(args.get("foreground")))

    def pulls(self, args):
        """``{}`` -> ``{"downloads": [{"Identifier", "Progress"}]}``."""
        return {"downloads": self.rt.downloads.listing()}

    def cancel_pull(self, args):
        """``{"identifier"}`` -> ``{}``; an unknown id is fine."""
        self.rt.downloads.cancel(args.get("identifier"))
        return {}

    def transfer_out(self, args):
        """``{"url", "token", "backups"}`` -> ``{}`` once the server is stopped and the
        transfer to the destination runs in the background (wings-api.md §9.1)."""
        self.rt.transfers.send(args["url"], args["token"], args["backups"])
        return {}

    def cancel_transfer_out(self, args):
        """``{}`` -> ``{}``; 409 when no transfer is going out (§9.2)."""
        self.rt.transfers.cancel_outgoing()
        return {}

    def transfer_in_complete(self, args):
        """``{}`` -> ``{}`` once a received server has its container and the Panel knows
        it arrived (§9.3)."""
        self.rt.transfers.complete_incoming()
        return {}

    def backup(self, args):
        """``{"adapter", "uuid", "ignore"}`` -> ``{}`` once the backup has started (§8.1)."""
        adapter = backups.check_adapter(args.get("adapter"))
        backup_uuid = backups.check_uuid(args.get("uuid"))
        self.rt.jobs.start(BackupJob(self.rt, backup_uuid, adapter, args.get("ignore") or ""))
        return {}

    def restore(self, args):
        """``{"uuid", "adapter", "truncate_directory", "download_url"}`` -> ``{}`` once the
        backup is found; the rest runs in the background (§8.2)."""
        adapter = backups.check_adapter(args.get("adapter"))
        backup_uuid = backups.check_uuid(args.get("uuid"))
        if self.rt.server.transferring:
            raise errors.ServerBusy("server is currently being transferred")
        self.rt.jobs.start(RestoreJob(self.rt, backup_uuid, adapter,
                                      bool(args.get("truncate_directory")),
                                      args.get("download_url") or ""))
        return {}

    def _send(self, command):
        server = self.rt.server
        stop = server.definition.process.stop
        if stop.type == "command" and command == stop.value and server.state != OFFLINE:
            server.set_state(STOPPING)
        self.rt.environment.write_stdin(command)
