"""A server's definition as the Panel sends it (wings-api.md §13, panel-contract.md §2.3).

``ServerDefinition.from_panel`` checks types as strictly as Wings' Go decoder does (a wrong
type makes the whole document invalid, ``null`` leaves the zero value, unknown keys are
ignored); ``api_configuration`` serialises it back exactly as ``GET /api/servers/:server``
shows it (§4.1), and ``to_panel_doc`` round-trips it between processes.
"""

from dataclasses import dataclass, field

from wingspan import errors


class _Reader:
    """Typed access to one JSON object, naming the dotted path on a type error."""

    def __init__(self, data, path):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise _invalid(path, "an object")
        self.data = data
        self.path = path

    def _get(self, key, kinds, expected, default):
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) and bool not in kinds:
            raise _invalid(self._key(key), expected)
        if not isinstance(value, kinds):
            raise _invalid(self._key(key), expected)
        return value

    def _key(self, key):
        return "%s.%s" % (self.path, key) if self.path else key

    def string(self, key, default=""):
        return self._get(key, (str,), "a string", default)

    def boolean(self, key, default=False):
        return self._get(key, (bool,), "a boolean", default)

    def integer(self, key, default=0, minimum=None, maximum=None):
        value = self._get(key, (int, float), "an integer", default)
        if isinstance(value, float):
            if not value.is_integer():
                raise _invalid(self._key(key), "an integer")
            value = int(value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _invalid(self._key(key), "an integer in range")
        return value

    def obj(self, key):
        return _Reader(self.data.get(key), self._key(key))

    def mapping(self, key):
        value = self._get(key, (dict,), "an object", {})
        return dict(value)

    def array(self, key):
        return list(self._get(key, (list,), "an array", []))


def _invalid(path, expected):
    return errors.ValidationFailed(detail="server configuration: %s must be %s" % (path, expected))


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
    source: str
    target: str
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
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_panel(cls, doc, crash_detection_default=True):
        """Build from ``{"uuid"?, "settings": {...}, "process_configuration": {...}}``.

        Raises:
            ValidationFailed: a field has the wrong type (the detail names it).
        """
        if not isinstance(doc, dict):
            raise _invalid("document", "an object")
        settings = _Reader(doc.get("settings"), "settings")
        uuid = settings.string("uuid") or (doc.get("uuid") if isinstance(doc.get("uuid"), str) else "")
        if not uuid:
            raise _invalid("settings.uuid", "a non-empty string")
        meta, egg = settings.obj("meta"), settings.obj("egg")
        return cls(
            uuid=uuid,
            name=meta.string("name"),
            description=meta.string("description"),
            suspended=settings.boolean("suspended"),
            invocation=settings.string("invocation"),
            skip_egg_scripts=settings.boolean("skip_egg_scripts"),
            environment=settings.mapping("environment"),
            labels=_string_map(settings, "labels"),
            allocations=_allocations(settings.obj("allocations")),
            build=_build(settings.obj("build")),
            crash_detection_enabled=settings.boolean("crash_detection_enabled",
                                                     crash_detection_default),
            mounts=_mounts(settings),
            egg_id=egg.string("id"),
            file_denylist=[p for p in egg.array("file_denylist") if isinstance(p, str)],
            container=Container(image=settings.obj("container").string("image")),
            process=_process(_Reader(doc.get("process_configuration"), "process_configuration")),
            raw={"settings": dict(settings.data),
                 "process_configuration": doc.get("process_configuration") or {}},
        )

    def to_panel_doc(self):
        """The Panel document this definition came from, for another process."""
        return {"uuid": self.uuid, "settings": self.raw["settings"],
                "process_configuration": self.raw["process_configuration"]}

    def disk_limit_bytes(self):
        """The disk quota in bytes; 0 is unlimited (wings-behaviour.md §4.3)."""
        return max(self.build.disk_space, 0) * 1024 * 1024

    def api_configuration(self):
        """``configuration`` of ``GET /api/servers/:server``, keys in Wings' order (§4.1)."""
        a, b = self.allocations, self.build
        return {
            "uuid": self.uuid,
            "meta": {"name": self.name, "description": self.description},
            "suspended": self.suspended,
            "invocation": self.invocation,
            "skip_egg_scripts": self.skip_egg_scripts,
            "environment": self.environment or None,
            "labels": self.labels or None,
            "allocations": {
                "force_outgoing_ip": a.force_outgoing_ip,
                "default": {"ip": a.default_ip, "port": a.default_port},
                "mappings": a.mappings or None,
            },
            "build": {"memory_limit": b.memory_limit, "swap": b.swap, "io_weight": b.io_weight,
                      "cpu_limit": b.cpu_limit, "disk_space": b.disk_space,
                      "threads": b.threads, "oom_disabled": b.oom_disabled},
            "crash_detection_enabled": self.crash_detection_enabled,
            "mounts": [{"target": m.target, "source": m.source, "read_only": m.read_only}
                       for m in self.mounts] or None,
            "egg": {"id": self.egg_id, "file_denylist": self.file_denylist or None},
            "container": {"image": self.container.image} if self.container.image else {},
        }


def _string_map(reader, key):
    values = reader.mapping(key)
    if not all(isinstance(v, str) for v in values.values()):
        raise _invalid(reader._key(key), "an object of strings")
    return values


def _allocations(reader):
    default = reader.obj("default")
    mappings = {}
    for ip, ports in reader.mapping("mappings").items():
        if not isinstance(ports, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in ports):
            raise _invalid("settings.allocations.mappings", "an object of integer arrays")
        mappings[ip] = list(ports)
    return Allocations(force_outgoing_ip=reader.boolean("force_outgoing_ip"),
                       default_ip=default.string("ip"),
                       default_port=default.integer("port", minimum=0, maximum=65535),
                       mappings=mappings)


def _build(reader):
    return Build(memory_limit=reader.integer("memory_limit"), swap=reader.integer("swap"),
                 io_weight=reader.integer("io_weight", minimum=0, maximum=65535),
                 cpu_limit=reader.integer("cpu_limit"), threads=reader.string("threads"),
                 disk_space=reader.integer("disk_space"),
                 oom_disabled=reader.boolean("oom_disabled"))


def _mounts(settings):
    mounts = []
    for index, item in enumerate(settings.array("mounts")):
        mount = _Reader(item, "settings.mounts[%d]" % index)
        mounts.append(Mount(source=mount.string("source"), target=mount.string("target"),
                            read_only=mount.boolean("read_only")))
    return mounts


def _process(reader):
    startup = reader.obj("startup")
    done = startup.data.get("done")
    if isinstance(done, str):
        done = [done]  # legacy Panels send one string
    elif done is None:
        done = []
    elif not isinstance(done, list) or not all(isinstance(d, str) for d in done):
        raise _invalid("process_configuration.startup.done", "an array of strings")
    stop = reader.obj("stop")
    configs = [c for c in reader.array("configs") if isinstance(c, dict)]
    return ProcessConfiguration(
        startup=Startup(done=done, user_interaction=startup.array("user_interaction"),
                        strip_ansi=startup.boolean("strip_ansi")),
        stop=Stop(type=stop.string("type"), value=stop.string("value")),
        configs=configs)
