"""Every request one process may send another over the bus, declared once.

A ``Command`` names the request, the JSON Schema of its ``args`` and of its reply. The
caller passes the declaration to ``BusClient.call``/``ask`` (never a bare name), which
checks the arguments before they leave; the handler is registered under the same
declaration (``CommandRegistry.register``), which checks them again on arrival, so a
handler only ever sees the arguments it declared, with their defaults filled in.

``server.*`` commands are answered by a server's worker, the others by the supervisor.
``panel.*`` commands are a worker's calls to the Panel, which the supervisor makes with its
one Panel client (``supervisor/panel_relay.py``).
"""

from wingspan import errors
from wingspan.schema import Schema


def obj(required=(), **properties):
    """An object schema with exactly these properties."""
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


STRING = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
STRINGS = {"type": "array", "items": STRING}
ANY_OBJECT = {"type": "object"}
EMPTY = obj()
STAT = obj(("name", "mode", "size", "directory", "file", "symlink", "mime"),
           name=STRING, created=STRING, modified=STRING, mode=STRING, mode_bits=STRING,
           size=COUNT, directory=BOOL, file=BOOL, symlink=BOOL, mime=STRING)
NETWORK = obj(("rx_bytes", "tx_bytes"), rx_bytes=COUNT, tx_bytes=COUNT)
USAGE = obj(("memory_bytes", "memory_limit_bytes", "cpu_absolute", "network", "uptime", "state",
             "disk_bytes"),
            memory_bytes=COUNT, memory_limit_bytes=COUNT, cpu_absolute={"type": "number"},
            network=NETWORK, uptime=COUNT, state=STRING, disk_bytes=COUNT)
SUMMARY = obj(("uuid", "definition", "worker"), uuid=STRING, definition=ANY_OBJECT,
              worker=STRING)


class Command:
    """One declared request: its name, argument and reply schemas.

    Args:
        name: the envelope's ``cmd``.
        args: JSON Schema of ``args``; property ``default`` values are filled in.
        reply: JSON Schema of the ``ok`` result.
    """

    def __init__(self, name, args=EMPTY, reply=EMPTY):
        self.name = name
        self.args_schema = args
        self.reply_schema = reply
        self._args = Schema(args)
        self._reply = Schema(reply)

    def __repr__(self):
        return "<Command %s>" % self.name

    def validate(self, args):
        """``args`` with defaults filled in; ``BadCommandArguments`` when they break the
        schema."""
        if args is None:
            args = {}
        problem = self._args.problem(args)
        if problem is not None:
            raise errors.BadCommandArguments(detail="%s: %s" % (self.name, problem))
        return self._args.with_defaults(args)

    def compile(self):
        """Compile the check of the arguments now rather than at the first request (the
        zygote, once for every worker it forks)."""
        self._args.compile()

    def reply_problem(self, result):
        """What is wrong with a reply (a ``wingspan.schema.Problem``), or None when it fits
        its schema."""
        return self._reply.problem(result)


ALL = {}
WORKER_PREFIX = "server."


def declare(name, args=EMPTY, reply=EMPTY):
    command = ALL[name] = Command(name, args, reply)
    return command


def served_by_workers():
    return [c for name, c in ALL.items() if name.startswith(WORKER_PREFIX)]


def checked_by_workers():
    """The commands whose arguments a worker checks: those it serves and those it sends
    (``worker.*``, and ``panel.*`` to the supervisor's Panel client)."""
    return [c for name, c in ALL.items()
            if name.startswith((WORKER_PREFIX, "worker.", "panel."))]


# -- answered by a server's worker -----------------------------------------------------

SNAPSHOT = declare(
    "server.snapshot",
    obj(lines=dict(COUNT, default=0)),
    obj(("state", "is_suspended", "utilization", "definition", "logs"),
        state=STRING, is_suspended=BOOL, utilization=USAGE, definition=ANY_OBJECT,
        installing=BOOL, transferring=BOOL, restoring=BOOL, logs=STRINGS))
UTILIZATION = declare("server.utilization", EMPTY, USAGE)
POWER = declare(
    "server.power",
    obj(("action",), action={"enum": ["start", "stop", "restart", "kill"]},
        wait_seconds={"type": "integer", "minimum": 0, "maximum": 300, "default": 0}))
COMMANDS = declare("server.commands", obj(("commands",), commands=STRINGS))
CONSOLE_COMMAND = declare("server.console_command", obj(("command",), command=STRING),
                          obj(("sent",), sent=BOOL))
LOGS = declare("server.logs", obj(size={"type": "integer", "minimum": 1, "default": 100}),
               obj(("lines",), lines=STRINGS))
SYNC = declare("server.sync", reply=obj(("definition",), definition=ANY_OBJECT))
INSTALL = declare("server.install")
REINSTALL = declare("server.reinstall")
RELOAD_SERVER_CONFIG = declare("server.reload_config")
DISK_USAGE = declare("server.disk_usage", reply=obj(("usage", "limit"), usage=COUNT, limit=INT))
DISK_ADJUST = declare("server.disk_adjust", obj(("delta",), delta=INT))
LIST_ENTRIES = declare("server.list_entries",
                       obj(("directory", "names"), directory=STRING, names=STRINGS),
                       ANY_OBJECT)
COMPRESS = declare("server.compress",
                   obj(("root", "files"), root=STRING, files=dict(STRINGS, minItems=1)),
                   STAT)
DECOMPRESS = declare("server.decompress", obj(("root", "file"), root=STRING, file=STRING))
PULL = declare(
    "server.pull",
    obj(("url", "root"), url=dict(STRING, minLength=1), root=dict(STRING, minLength=1),
        file_name=dict(STRING, default=""), use_header=dict(BOOL, default=False),
        foreground=dict(BOOL, default=False)),
    {"anyOf": [STAT, obj(("identifier",), identifier=STRING)]})
PULLS = declare("server.pulls", reply=obj(("downloads",), downloads={
    "type": "array", "items": obj(("Identifier", "Progress"), Identifier=STRING,
                                  Progress={"type": "number"})}))
CANCEL_PULL = declare("server.cancel_pull", obj(("identifier",), identifier=STRING))
TRANSFER_OUT = declare("server.transfer_out",
                       obj(("url", "token"), url=dict(STRING, minLength=1), token=STRING,
                           backups=dict(STRINGS, default=[])))
CANCEL_TRANSFER_OUT = declare("server.cancel_transfer_out")
TRANSFER_IN_COMPLETE = declare("server.transfer_in_complete")
BACKUP = declare("server.backup", obj(("adapter", "uuid"), adapter=STRING, uuid=STRING,
                                      ignore=dict(STRING, default="")))
RESTORE = declare("server.restore", obj(
    ("uuid", "adapter"), uuid=STRING, adapter=STRING,
    truncate_directory=dict(BOOL, default=False), download_url=dict(STRING, default="")))

# -- answered by the supervisor ----------------------------------------------------------

WORKER_READY = declare("worker.ready")

LIST_SERVERS = declare("servers.list",
                       reply=obj(("servers",), servers={"type": "array", "items": SUMMARY}))
CREATE_SERVER = declare(
    "servers.create",
    obj(("uuid",), uuid=STRING, start_on_completion=dict(BOOL, default=False),
        transfer=dict(BOOL, default=False)), SUMMARY)
DELETE_SERVER = declare("servers.delete", obj(("uuid",), uuid=STRING))
TRANSFER_FINISHED = declare("servers.transfer_finished",
                            obj(("uuid", "successful"), uuid=STRING, successful=BOOL,
                                created=dict(BOOL, default=False)))
RECORD_ACTIVITY = declare(
    "activity.record",
    obj(("events",), events={"type": "array", "items": {"type": "object"}}),
    obj(("stored",), stored=COUNT))
RELOAD_CONFIG = declare("daemon.reload_config")

# -- a worker's Panel calls, made by the supervisor (wingspan.panel.PanelClient's methods) ---

UUID_ARG = obj(("uuid",), uuid=STRING)
PANEL_SERVER = declare("panel.server", UUID_ARG,
                       obj(("settings", "process_configuration"), settings={},
                           process_configuration={}))
PANEL_INSTALL_SCRIPT = declare("panel.install_script", UUID_ARG,
                               obj(("container_image", "entrypoint", "script"),
                                   container_image=STRING, entrypoint=STRING, script=STRING))
PANEL_INSTALL_STATUS = declare("panel.install_status",
                               obj(("uuid", "successful", "reinstall"), uuid=STRING,
                                   successful=BOOL, reinstall=BOOL))
PANEL_TRANSFER_STATUS = declare("panel.transfer_status",
                                obj(("uuid", "successful"), uuid=STRING, successful=BOOL))
PANEL_BACKUP_PARTS = declare("panel.backup_parts",
                             obj(("backup_uuid", "size"), backup_uuid=STRING, size=COUNT),
                             ANY_OBJECT)
PANEL_BACKUP_STATUS = declare("panel.backup_status",
                              obj(("backup_uuid", "body"), backup_uuid=STRING, body=ANY_OBJECT))
PANEL_RESTORE_STATUS = declare("panel.restore_status",
                               obj(("backup_uuid", "successful"), backup_uuid=STRING,
                                   successful=BOOL))
