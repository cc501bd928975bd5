"""A server's definition as the Panel sends it (wings-api.md §13, panel-contract.md §2.3).

``ServerDefinition.from_panel`` decodes the ``settings`` and ``process_configuration``
documents with the rules of Wings' Go decoder: a value of the wrong type makes the whole
document invalid, ``null`` leaves the zero value, unknown keys are ignored.
``api_configuration`` writes the definition back the way ``GET /api/servers/:server``
shows it (wings-api.md §4.1), and ``to_panel_doc`` carries it between processes.

A definition keeps the values of the document it was decoded from instead of copying them:
each document is decoded from JSON for it alone (the Panel's answer, a bus message), and
nothing changes one afterwards. Copying every server's whole document at each hop between
the supervisor, the workers and the API only lengthened the boot.
"""

import copy
import re
from dataclasses import dataclass, field

from wingspan import errors

INT64 = (-2 ** 63, 2 ** 63 - 1)
UINT16 = (0, 65535)

# Panel uuids, and the ids of panel-less servers; the uuid names the server's directory
# under system.data, so nothing that could climb out of it is accepted.
SERVER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _invalid(path, expected):
    return errors.ValidationFailed(
        detail="server configuration: %s must be %s" % (path, expected))


def _string(value, path):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(path, "a string")
    return value


def _boolean(value, path, default=False):
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(path, "a boolean")
    return value


def _integer(value, path, bounds=INT64):
    """An integer within ``bounds``. Integral floats (``1024.0``) are read as integers,
    which Go refuses; PHP and YAML stand-ins emit them for whole numbers."""
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(path, "an integer" if bounds == INT64
                       else "an integer from %d to %d" % bounds)
    return value


def _any(value, path):
    return value


def _string_or_null(value, path):
    return None if value is None else _string(value, path)


def _port_list(value, path):
    return [_integer(port, "%s[%d]" % (path, index))
            for index, port in enumerate(_array(value, path))]


def _object(value, path):
    # PHP's json_encode writes an empty array as [], objects included (Go refuses it)
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise _invalid(path, "an object")
    return value


def _array(value, path):
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(path, "an array")
    return value


class _Fields:
    """The members of one JSON object, each read with a type and named by its path."""

    def __init__(self, value, path):
        self.data = _object(value, path)
        self.path = path

    def at(self, key):
        return "%s.%s" % (self.path, key)

    def sent(self, key):
        return self.data.get(key) is not None

    def string(self, key):
        return _string(self.data.get(key), self.at(key))

    def boolean(self, key, default=False):
        return _boolean(self.data.get(key), self.at(key), default)

    def integer(self, key, bounds=INT64):
        return _integer(self.data.get(key), self.at(key), bounds)

    def child(self, key):
        return _Fields(self.data.get(key), self.at(key))

    def array(self, key, element):
        path = self.at(key)
        return [element(item, "%s[%d]" % (path, index))
                for index, item in enumerate(_array(self.data.get(key), path))]

    def mapping(self, key, element):
        path = self.at(key)
        return {name: element(item, "%s.%s" % (path, name))
                for name, item in _object(self.data.get(key), path).items()}


@dataclass
class Build:
    memory_limit: int = 0
    swap: int = 0
    io_weight: int = 0
    cpu_limit: int = 0
    threads: str = ""
    disk_space: int = 0
    oom_disabled: bool = False


@dataclass
class Allocations:
    force_outgoing_ip: bool = False
    default_ip: str = ""
    default_port: int = 0
    mappings: dict = field(default_factory=dict)


@dataclass
class Mount:
    source: str = ""
    target: str = ""
    read_only: bool = False


@dataclass
class Startup:
    done: list = field(default_factory=list)
    user_interaction: list = field(default_factory=list)
    strip_ansi: bool = False


@dataclass
class Stop:
    type: str = ""
    value: str = ""


@dataclass
class ProcessConfiguration:
    startup: Startup = field(default_factory=Startup)
    stop: Stop = field(default_factory=Stop)
    configs: list = field(default_factory=list)


@dataclass
class Container:
    image: str = ""


@dataclass
class ServerDefinition:
    """One server as the Panel defines it.

    ``raw`` is the Panel's document (with ``uuid`` and the effective
    ``crash_detection_enabled`` written into ``settings``) for the readers that need keys
    this model leaves out, such as the ``{{server.*}}`` placeholders of config files.
    ``unset`` names the collections the Panel left out or sent as ``null``: Go shows
    those as ``null`` and the ones sent empty as ``[]``/``{}``.
    """

    uuid: str
    name: str = ""
    description: str = ""
    suspended: bool = False
    invocation: str = ""
    skip_egg_scripts: bool = False
    environment: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    allocations: Allocations = field(default_factory=Allocations)
    build: Build = field(default_factory=Build)
    crash_detection_enabled: bool = True
    mounts: list = field(default_factory=list)
    egg_id: str = ""
    file_denylist: list = field(default_factory=list)
    container: Container = field(default_factory=Container)
    process: ProcessConfiguration = field(default_factory=ProcessConfiguration)
    unset: frozenset = frozenset()
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_panel(cls, doc, crash_detection_default=True):
        """Decode ``{"uuid"?, "settings": {...}, "process_configuration": {...}}``.

        Args:
            doc: the Panel's document; ``uuid``, when given, is the server it was
                requested for and must agree with ``settings.uuid``. The definition
                keeps its values, and leaves the document itself unchanged.
            crash_detection_default: ``system.crash_detection.enabled``, used when the
                Panel does not send ``crash_detection_enabled`` (it never does).

        Raises:
            ValidationFailed: a value has the wrong type; the detail names its path.
        """
        if not isinstance(doc, dict):
            raise _invalid("the document", "an object")
        settings = _Fields(doc.get("settings"), "settings")
        uuid = _server_uuid(settings, doc.get("uuid"))
        meta, egg = settings.child("meta"), settings.child("egg")
        allocations = settings.child("allocations")
        process_doc = _object(doc.get("process_configuration"), "process_configuration")
        definition = cls(
            uuid=uuid,
            name=meta.string("name"),
            description=meta.string("description"),
            suspended=settings.boolean("suspended"),
            invocation=settings.string("invocation"),
            skip_egg_scripts=settings.boolean("skip_egg_scripts"),
            environment=settings.mapping("environment", _any),
            labels=settings.mapping("labels", _string),
            allocations=_allocations(allocations),
            build=_build(settings.child("build")),
            crash_detection_enabled=settings.boolean("crash_detection_enabled",
                                                     crash_detection_default),
            mounts=settings.array("mounts", _mount),
            egg_id=egg.string("id"),
            file_denylist=egg.array("file_denylist", _string),
            container=Container(image=settings.child("container").string("image")),
            process=_process(_Fields(process_doc, "process_configuration")),
            unset=_unset_collections(settings, allocations, egg),
        )
        raw_settings = dict(settings.data, uuid=uuid,
                            crash_detection_enabled=definition.crash_detection_enabled)
        definition.raw = {"settings": raw_settings, "process_configuration": process_doc}
        return definition

    def to_panel_doc(self):
        """The document to rebuild this definition from in another process; decoding it
        gives an equal definition whatever that process's crash-detection default. It
        shares the definition's values: it is for encoding, not for changing."""
        return {"uuid": self.uuid, **self.raw}

    def disk_limit_bytes(self):
        """The disk quota in bytes; 0 is unlimited (wings-behaviour.md Appendix A)."""
        return max(self.build.disk_space, 0) * 1024 * 1024

    def api_configuration(self):
        """``configuration`` of ``GET /api/servers/:server``: the keys in Wings' order,
        map keys sorted and unset collections ``null`` as Go's encoder writes them (§4.1)."""
        a, b = self.allocations, self.build
        return {
            "uuid": self.uuid,
            "meta": {"name": self.name, "description": self.description},
            "suspended": self.suspended,
            "invocation": self.invocation,
            "skip_egg_scripts": self.skip_egg_scripts,
            "environment": self._go_map("environment", self.environment),
            "labels": self._go_map("labels", self.labels),
            "allocations": {
                "force_outgoing_ip": a.force_outgoing_ip,
                "default": {"ip": a.default_ip, "port": a.default_port},
                "mappings": self._go_map("mappings", a.mappings),
            },
            "build": {"memory_limit": b.memory_limit, "swap": b.swap,
                      "io_weight": b.io_weight, "cpu_limit": b.cpu_limit,
                      "disk_space": b.disk_space, "threads": b.threads,
                      "oom_disabled": b.oom_disabled},
            "crash_detection_enabled": self.crash_detection_enabled,
            "mounts": None if "mounts" in self.unset else [
                {"target": m.target, "source": m.source, "read_only": m.read_only}
                for m in self.mounts],
            "egg": {"id": self.egg_id,
                    "file_denylist": (None if "file_denylist" in self.unset
                                      else list(self.file_denylist))},
            "container": {"image": self.container.image} if self.container.image else {},
        }

    def _go_map(self, name, values):
        if name in self.unset:
            return None
        return copy.deepcopy(dict(sorted(values.items())))


def _server_uuid(settings, requested):
    uuid = settings.string("uuid")
    if requested is not None:
        requested = _string(requested, "uuid")
        if uuid and requested and uuid != requested:
            raise _invalid("settings.uuid", "the requested server's uuid %r" % requested)
        uuid = uuid or requested
    if not SERVER_ID.match(uuid):
        raise _invalid("settings.uuid", "a server uuid")
    return uuid


def _unset_collections(settings, allocations, egg):
    collections = {"environment": settings, "labels": settings, "mounts": settings,
                   "mappings": allocations, "file_denylist": egg}
    return frozenset(name for name, fields in collections.items() if not fields.sent(name))


def _allocations(fields):
    default = fields.child("default")
    return Allocations(force_outgoing_ip=fields.boolean("force_outgoing_ip"),
                       default_ip=default.string("ip"),
                       default_port=default.integer("port"),
                       mappings=fields.mapping("mappings", _port_list))


def _build(fields):
    return Build(memory_limit=fields.integer("memory_limit"), swap=fields.integer("swap"),
                 io_weight=fields.integer("io_weight", UINT16),
                 cpu_limit=fields.integer("cpu_limit"), threads=fields.string("threads"),
                 disk_space=fields.integer("disk_space"),
                 oom_disabled=fields.boolean("oom_disabled"))


def _mount(value, path):
    fields = _Fields(value, path)
    return Mount(source=fields.string("source"), target=fields.string("target"),
                 read_only=fields.boolean("read_only"))


def _done_matchers(fields):
    done = fields.data.get("done")
    if isinstance(done, str):
        # the Panel wraps an egg's single string; older Panels sent it bare
        return [done]
    # a null entry is a nil matcher to Go, which never matches: dropped
    return [matcher for matcher in fields.array("done", _string_or_null)
            if matcher is not None]


def _process(fields):
    startup, stop = fields.child("startup"), fields.child("stop")
    return ProcessConfiguration(
        startup=Startup(done=_done_matchers(startup),
                        user_interaction=startup.array("user_interaction", _string),
                        strip_ansi=startup.boolean("strip_ansi")),
        stop=Stop(type=stop.string("type"), value=stop.string("value")),
        # entries stay as sent: worker.configfiles.plan_files checks each one and
        # drops a bad entry alone rather than the whole configuration
        configs=fields.array("configs", _any))
