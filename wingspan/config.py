"""The node configuration: Wings' config.yml, every key and default, plus wingspan's own keys.

One model serves every process (wings-api.md §15, wings-behaviour.md §1). Attribute paths
are the YAML key paths, so ``cfg.docker.network.interfaces.v4.subnet`` is the YAML key
``docker.network.interfaces.v4.subnet``. Each key is declared once with its default, a help
text and the kind of value it accepts; everything below is derived from those declarations:

* ``load(path)`` reads and validates a file and reports every problem in one ``ConfigError``
  that names each dotted key. Keys this version does not know are kept and written back,
  so a file shared with Wings or with a newer wingspan survives a round trip.
* ``Config.save(path)`` rewrites the file atomically, mode 0600, as Wings does at boot and
  on ``POST /api/update`` (§15.1). The ``--debug`` switch lives in ``runtime_debug`` and is
  never saved.
* ``Config.apply_update(body)`` is ``POST /api/update`` (§3.2, §15.3): Go's JSON names
  matched case-insensitively, decoded over a copy of the current config. It is hardened
  against CVE-2024-34066 (see ``LOCKED_KEYS``).
* ``Config.placeholder_view()`` is what egg ``{{config.*}}`` placeholders may read: an
  allowlist without a single secret (CVE-2026-52855, see ``PLACEHOLDER_KEYS``).

The ``wingspan:`` section holds our own settings; Wings ignores unknown keys, so one file
works for both daemons.
"""

import copy
import dataclasses
import functools
import ipaddress
import logging
import math
import os
import re
import tempfile
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field

import yaml

from wingspan import errors

log = logging.getLogger(__name__)

# libyaml's safe loader and dumper when PyYAML was built with it (its wheels are): every
# process reads config.yml as it starts, and the pure-Python loader takes 16 ms for it.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

LOCAL_SCHEME = "local://"
LETSENCRYPT_PREFIX = "/etc/letsencrypt/live/"

# Keys a Panel-token holder must not change through POST /api/update (CVE-2024-34066: a
# leaked node token must not become control of the host). The Panel never sends any of
# them except system.data and the Let's Encrypt api.ssl paths, which it sends unchanged.
# A section name covers every key below it.
LOCKED_KEYS = (
    # host paths the daemon reads, writes, creates or serves files from
    "system.root_directory", "system.log_directory", "system.data",
    "system.archive_directory", "system.backup_directory", "system.tmp_directory",
    "api.ssl.cert", "api.ssl.key",
    # the host identity that owns server files and runs containers
    "system.username", "system.user",
    # credentials
    "docker.registries",
    # container isolation: user namespaces, the network containers join, the fork-bomb
    # limit (CVE-2021-32699), log drivers (their options can address host sockets)
    "docker.userns_mode", "docker.network.name", "docker.network.network_mode",
    "docker.container_pid_limit", "docker.log_config",
    # a feature the node's administrator switched off (remote pull reaches the node's LAN)
    "api.disable_remote_download",
)

# Keys a running daemon keeps until it is restarted (SIGHUP reports their change and keeps
# the running value): what binds a socket, names a path, a user or the bus, and what a
# process sizes once when it starts. Every other key takes effect at a reload.
RESTART_KEYS = (
    "api.host", "api.port", "api.ssl", "api.disable_remote_download",
    "system.root_directory", "system.log_directory", "system.data",
    "system.archive_directory", "system.backup_directory", "system.tmp_directory",
    "system.username", "system.user", "system.sftp.bind_address", "system.sftp.bind_port",
    "system.disk_check_interval", "docker.network", "wingspan.run_directory",
    "wingspan.console_buffer_lines", "wingspan.mime_cache_entries",
    "wingspan.panelless_directory", "wingspan.sftp.login_timeout",
    "wingspan.worker.merge_pages",
)

# The only values egg ``{{config.<path>}}`` placeholders resolve against (§13.2, §15.3).
# Upstream serialises the whole config, token and registry passwords included; this list
# keeps the non-secret keys an egg can use whose JSON name upstream is snake_case (and so
# reachable), plus system.sftp.* which wings-behaviour.md §8.3 documents as resolving.
PLACEHOLDER_KEYS = (
    "app_name",
    "api.upload_limit",
    "system.sftp.bind_address",
    "system.sftp.bind_port",
    "docker.network.interface",
    "docker.domainname",
    "docker.tmpfs_size",
    "docker.container_pid_limit",
    "docker.installer_limits.memory",
    "docker.installer_limits.cpu",
)

_SAME_NAME = object()  # json_name default: the YAML key is also the JSON name


# -- problems and the error that reports them -----------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing wrong with one key; ``key`` is dotted, empty for the file as a whole."""

    key: str
    text: str
    wrong_type: bool = False

    def __str__(self):
        return "%s: %s" % (self.key, self.text) if self.key else self.text


class ConfigError(Exception):
    """The configuration cannot be used. The message lists every problem found."""

    def __init__(self, source, problems):
        self.source = source
        self.problems = list(problems)
        super().__init__(self._describe())

    def _describe(self):
        if len(self.problems) == 1:
            return "%s: %s" % (self.source, self.problems[0])
        lines = ["%s: %d problems:" % (self.source, len(self.problems))]
        lines.extend("  - %s" % problem for problem in self.problems)
        return "\n".join(lines)


# -- kinds of values ------------------------------------------------------------------------

class _Invalid(Exception):
    """Raised by a kind for a value it refuses; ``item`` is an offending list/map entry."""

    NO_ITEM = object()

    def __init__(self, wrong_type, item=NO_ITEM):
        super().__init__()
        self.wrong_type = wrong_type
        self.item = item


class Kind:
    """How a leaf value is checked. ``phrase`` completes "must be ..."."""

    phrase = "a value"

    def decode(self, value):
        """Return the value to store, or raise ``_Invalid``."""
        return value


class Boolean(Kind):
    phrase = "true or false"

    def decode(self, value):
        if not isinstance(value, bool):
            raise _Invalid(True)
        return value


class Integer(Kind):
    def __init__(self, minimum=None, maximum=None):
        self.minimum = minimum
        self.maximum = maximum
        self.phrase = _integer_phrase(minimum, maximum)

    def decode(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(True)
        if self.minimum is not None and value < self.minimum:
            raise _Invalid(False)
        if self.maximum is not None and value > self.maximum:
            raise _Invalid(False)
        return value


def _integer_phrase(minimum, maximum):
    if minimum is not None and maximum is not None:
        return "an integer between %d and %d" % (minimum, maximum)
    if minimum is None:
        return "an integer"
    return {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, "an integer of at least %d" % minimum)


class Number(Kind):
    """An int or a float, kept as given (``30`` stays ``30`` in the file)."""

    def __init__(self, allow_zero=False):
        self.allow_zero = allow_zero
        self.phrase = "a non-negative number" if allow_zero else "a positive number"

    def decode(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(True)
        if not math.isfinite(value) or value < 0 or (value == 0 and not self.allow_zero):
            raise _Invalid(False)
        return value


class Text(Kind):
    """A string; YAML's null (``key:`` with no value) reads as "" like Wings reads it."""

    def __init__(self, phrase="a string", valid=None, choices=None):
        self.choices = choices
        self.valid = valid
        self.phrase = "one of " + ", ".join(choices) if choices else phrase

    def decode(self, value):
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _Invalid(True)
        if self.choices and value not in self.choices:
            raise _Invalid(False)
        if self.valid and not self.valid(value):
            raise _Invalid(False)
        return value


class TextList(Kind):
    def __init__(self, phrase="a list of strings", valid=None):
        self.phrase = phrase
        self.valid = valid

    def decode(self, value):
        if value is None:
            return []
        if not isinstance(value, list):
            raise _Invalid(True)
        for item in value:
            if not isinstance(item, str):
                raise _Invalid(True, item)
            if self.valid and not self.valid(item):
                raise _Invalid(False, item)
        return list(value)


class TextMap(Kind):
    phrase = "a mapping of option names to strings (quote numbers and booleans)"

    def decode(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _Invalid(True)
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise _Invalid(True, item)
        return dict(value)


class Multipliers(Kind):
    """``docker.overhead.multipliers``: MB threshold -> multiplier. JSON keys are strings,
    which Go's decoder converts to the map's int keys; so does this."""

    phrase = "a mapping of memory limits in MB to positive multipliers"

    def decode(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _Invalid(True)
        return {self._threshold(key): self._multiplier(item) for key, item in value.items()}

    @staticmethod
    def _threshold(key):
        if isinstance(key, str) and key.isdigit():
            return int(key)
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise _Invalid(False, key)
        return key

    @staticmethod
    def _multiplier(item):
        try:
            return Number().decode(item)
        except _Invalid:
            raise _Invalid(False, item) from None


class SectionMap(Kind):
    """A mapping of names to sections (``docker.registries``)."""

    phrase = "a mapping of names to sections"

    def __init__(self, section_class):
        self.section_class = section_class


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_ip_or_network(text):
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_ip_of(version):
    return lambda text: _is_ip(text) and ipaddress.ip_address(text).version == version


def _is_network_of(version):
    return lambda text: (_is_ip_or_network(text) and "/" in text
                         and ipaddress.ip_network(text, strict=False).version == version)


def is_valid_timezone(name):
    """Whether ``name`` is a zone the tz database knows (``Europe/Berlin``, ``UTC``)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _is_user_name(text):
    # useradd gets the name as an argument: one starting with "-" would be read as an option
    return re.fullmatch(r"[^\x00-\x20\x7f:/,\-][^\x00-\x20\x7f:/,]*", text) is not None


def _is_remote(text):
    if text == "":
        return True
    if text.startswith(LOCAL_SCHEME):
        return os.path.isabs(text[len(LOCAL_SCHEME):])
    parts = urllib.parse.urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# -- declarations -----------------------------------------------------------------------------

def setting(default, doc, kind=None, json_name=_SAME_NAME, secret=False):
    """Declare a key: its default, a help text and the values it accepts.

    Args:
        default: the value when the file does not set the key.
        doc: one line of help for the key.
        kind: a ``Kind``; by default inferred from the default's type.
        json_name: Go's JSON name for ``POST /api/update`` (matched case-insensitively);
            None when the endpoint must ignore the key.
        secret: never shown in messages, reprs or placeholders.
    """
    metadata = {"doc": doc, "kind": kind or _kind_of(default), "json": json_name,
                "secret": secret}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata, repr=not secret)


def section(section_class, doc, json_name=_SAME_NAME):
    """Declare a nested section whose keys are declared on ``section_class``."""
    return field(default_factory=section_class,
                 metadata={"doc": doc, "section": True, "json": json_name})


def _kind_of(default):
    kinds = {bool: Boolean, int: Integer, float: Number, str: Text, list: TextList}
    return kinds[type(default)]()


@dataclass
class Ssl:
    enabled: bool = setting(False, "Serve the API over TLS.")
    cert: str = setting("", "TLS certificate file (full chain).")
    key: str = setting("", "TLS private key file.")


@dataclass
class Api:
    host: str = setting("0.0.0.0", "Address the HTTP API binds to.")
    port: int = setting(8080, "Port the HTTP API listens on.", Integer(1, 65535))
    ssl: Ssl = section(Ssl, "TLS for the API.")
    disable_remote_download: bool = setting(
        False, "Disable /files/pull (downloading a URL into a server); read at startup.")
    upload_limit: int = setting(100, "Largest file accepted by an upload, in MiB.", Integer(1))
    trusted_proxies: list = setting(
        [], "Proxies (IPs or CIDRs) allowed to set X-Forwarded-For/X-Real-IP; empty: none.",
        TextList("a list of IP addresses or CIDR ranges", _is_ip_or_network))


@dataclass
class Rootless:
    enabled: bool = setting(False, "Rootless Docker/Podman: run as the current user.")
    container_uid: int = setting(0, "User id inside containers in rootless mode.", Integer(0),
                                 json_name="ContainerUID")
    container_gid: int = setting(0, "Group id inside containers in rootless mode.", Integer(0),
                                 json_name="ContainerGID")


@dataclass
class User:
    rootless: Rootless = section(Rootless, "Rootless container daemon settings.")
    uid: int = setting(0, "Owner of server files and container user; 0: set at boot from "
                          "system.username, any other value is kept.", Integer(0))
    gid: int = setting(0, "Group of server files and containers; set at boot with uid.",
                       Integer(0))


@dataclass
class Sftp:
    bind_address: str = setting("0.0.0.0", "Address the SFTP server binds to.")
    bind_port: int = setting(2022, "Port the SFTP server listens on.", Integer(1, 65535))
    read_only: bool = setting(False, "Refuse every SFTP write.", json_name="ReadOnly")
    key_only: bool = setting(False, "Refuse SFTP password logins: public keys only.",
                             json_name=None)


@dataclass
class CrashDetection:
    enabled: bool = setting(True, "Default for each server's crash detection.",
                            json_name="CrashDetectionEnabled")
    detect_clean_exit_as_crash: bool = setting(True, "An exit code of 0 counts as a crash.",
                                               json_name="DetectCleanExitAsCrash")
    timeout: int = setting(60, "Seconds: no automatic restart if the previous crash is more "
                               "recent; 0 restarts every time.", Integer(0))


@dataclass
class Backups:
    write_limit: int = setting(0, "MiB/s for creating and restoring backups; 0: unlimited.",
                               Integer(0), json_name="WriteLimit")
    compression_level: str = setting(
        "best_speed", "gzip level of local backups.",
        Text(choices=("none", "best_speed", "best_compression")), json_name="CompressionLevel")


@dataclass
class Transfers:
    download_limit: int = setting(0, "MiB/s for receiving transfers; 0: unlimited.", Integer(0),
                                  json_name="DownloadLimit")


@dataclass
class System:
    root_directory: str = setting("/var/lib/pterodactyl", "Holds states.json and the activity "
                                  "database.", json_name="RootDirectory")
    log_directory: str = setting("/var/log/pterodactyl", "Daemon log and install/<uuid>.log.",
                                 json_name="LogDirectory")
    data: str = setting("/var/lib/pterodactyl/volumes", "Server roots, <data>/<uuid>.")
    archive_directory: str = setting("/var/lib/pterodactyl/archives", "Transfer archives.",
                                     json_name="ArchiveDirectory")
    backup_directory: str = setting("/var/lib/pterodactyl/backups", "Local backups.",
                                    json_name="BackupDirectory")
    tmp_directory: str = setting("/tmp/pterodactyl", "Installer scripts, <tmp>/<uuid>/.",
                                 json_name="TmpDirectory")
    username: str = setting("pterodactyl", "System user owning server files (created if "
                            "missing).", Text("a user name: no leading -, no spaces, colons, "
                                              "commas or slashes", _is_user_name))
    timezone: str = setting("", "Time zone given to containers; empty: detected at load.",
                            Text("a time zone name such as Europe/Berlin, or empty",
                                 lambda name: name == "" or is_valid_timezone(name)))
    user: User = section(User, "The system user's ids.")
    disk_check_interval: int = setting(150, "Seconds between disk-usage walks; 0 disables "
                                       "disk accounting.", Integer(0),
                                       json_name="DiskCheckInterval")
    activity_send_interval: int = setting(60, "Seconds between activity uploads to the Panel.",
                                          Integer(1), json_name="ActivitySendInterval")
    activity_send_count: int = setting(100, "Activity entries per upload.", Integer(1),
                                       json_name="ActivitySendCount")
    check_permissions_on_boot: bool = setting(True, "chown the server root before each start.",
                                              json_name="CheckPermissionsOnBoot")
    enable_log_rotate: bool = setting(True, "Write a logrotate file for the daemon's logs.",
                                      json_name="EnableLogRotate")
    websocket_log_count: int = setting(150, "Console lines replayed by the websocket "
                                       "`send logs` event.", Integer(0),
                                       json_name="WebsocketLogCount")
    sftp: Sftp = section(Sftp, "The SFTP server.")
    crash_detection: CrashDetection = section(CrashDetection, "Crash detection and restart.",
                                              json_name="CrashDetection")
    backups: Backups = section(Backups, "Local backups.")
    transfers: Transfers = section(Transfers, "Server transfers between nodes.")
    openat_mode: str = setting("auto", "Path-resolution syscall; auto probes openat2 once.",
                               Text(choices=("auto", "openat2", "openat")),
                               json_name="OpenatMode")


@dataclass
class V4Pool:
    subnet: str = setting("172.18.0.0/16", "IPv4 subnet of the network.",
                          Text("an IPv4 subnet in CIDR form", _is_network_of(4)))
    gateway: str = setting("172.18.0.1", "IPv4 gateway of the network.",
                           Text("an IPv4 address", _is_ip_of(4)))


@dataclass
class V6Pool:
    subnet: str = setting("fdba:17c8:6c94::/64", "IPv6 subnet of the network.",
                          Text("an IPv6 subnet in CIDR form", _is_network_of(6)))
    gateway: str = setting("fdba:17c8:6c94::1011", "IPv6 gateway of the network.",
                           Text("an IPv6 address", _is_ip_of(6)))


@dataclass
class Interfaces:
    v4: V4Pool = section(V4Pool, "IPv4 address pool.")
    v6: V6Pool = section(V6Pool, "IPv6 address pool.")


@dataclass
class Network:
    interface: str = setting("172.18.0.1", "Host IP that replaces 127.0.0.1 in allocations; "
                             "empty for overlay networks.",
                             Text("an IP address or empty", lambda t: t == "" or _is_ip(t)))
    dns: list = setting(["1.1.1.1", "1.0.0.1"], "DNS servers of containers.",
                        TextList("a list of IP addresses", _is_ip))
    name: str = setting("pterodactyl_nw", "Docker network, created at boot if missing.")
    ispn: bool = setting(False, "Drop 127.0.0.1 bindings instead of remapping them.")
    driver: str = setting("bridge", "Network driver; replaced at boot by the inspected one.")
    network_mode: str = setting("pterodactyl_nw", "Network mode of containers.",
                                json_name="Mode")
    is_internal: bool = setting(False, "Create the network as internal.",
                                json_name="IsInternal")
    enable_icc: bool = setting(True, "Allow traffic between containers.", json_name="EnableICC")
    network_mtu: int = setting(1500, "MTU of the network.", Integer(1), json_name="NetworkMTU")
    interfaces: Interfaces = section(Interfaces, "IPAM address pools.")


@dataclass
class Registry:
    username: str = setting("", "Registry user name.")
    password: str = setting("", "Registry password or token.", secret=True)


@dataclass
class InstallerLimits:
    memory: int = setting(1024, "Minimum memory (MB) of install containers.", Integer(0))
    cpu: int = setting(100, "Minimum CPU (%) of install containers.", Integer(0))


@dataclass
class Overhead:
    override: bool = setting(False, "Use the multipliers below instead of Wings' defaults.")
    default_multiplier: float = setting(1.05, "Multiplier when no threshold matches.")
    multipliers: dict = setting({}, "MB threshold -> multiplier; the smallest threshold at or "
                                "above the limit wins.", Multipliers())


@dataclass
class LogConfig:
    type: str = setting("local", "Container log driver; empty: Docker's default.")
    config: dict = setting({"max-size": "5m", "max-file": "1", "compress": "false",
                            "mode": "non-blocking"}, "Log driver options.", TextMap())


@dataclass
class Docker:
    network: Network = section(Network, "The Docker network of servers.")
    domainname: str = setting("", "Domain name of containers.")
    registries: dict = setting({}, "Registry prefix -> credentials for image pulls.",
                               SectionMap(Registry))
    tmpfs_size: int = setting(100, "Size of /tmp in containers, MiB.", Integer(0))
    container_pid_limit: int = setting(512, "Process limit per container (0 or -1: none).",
                                       Integer(-1))
    installer_limits: InstallerLimits = section(InstallerLimits, "Install container minimums.")
    overhead: Overhead = section(Overhead, "Memory overhead added to container limits.")
    use_performant_inspect: bool = setting(True, "Internal to Wings; kept for compatibility.")
    userns_mode: str = setting("", "User namespace mode of containers (host: no remapping).")
    log_config: LogConfig = section(LogConfig, "Container logging.")
    system_ips: list = setting([], "Addresses GET /api/system/ips adds to the host's own "
                               "(Pelican).", TextList("a list of IP addresses", _is_ip))


@dataclass
class Throttles:
    enabled: bool = setting(True, "Kept for compatibility: the throttle is always on.")
    lines: int = setting(2000, "Console lines allowed per period.", Integer(1))
    line_reset_interval: int = setting(100, "Length of the console period, ms.", Integer(1))


@dataclass
class RemoteQuery:
    timeout: int = setting(30, "Timeout of Panel requests, seconds.", Integer(1))
    boot_servers_per_page: int = setting(50, "Servers per page when listing them at boot.",
                                         Integer(1), json_name="BootServersPerPage")


@dataclass
class WebsocketLimits:
    max_connections_per_server: int = setting(30, "Open websockets allowed per server.",
                                              Integer(1))
    auth_timeout: float = setting(30, "Seconds a websocket has to authenticate.", Number())
    max_message_bytes: int = setting(32768, "Largest inbound websocket message.", Integer(1))


@dataclass
class SftpLimits:
    login_timeout: float = setting(30, "Seconds an SSH connection has to log in.", Number())
    window: float = setting(60, "Seconds over which failed SFTP logins are counted.", Number())
    failures_per_user: int = setting(3, "Failed password logins per username in a window "
                                     "before that username cools down.", Integer(1))
    failures_per_ip: int = setting(20, "Failed logins per client IP in a window before that "
                                   "IP cools down.", Integer(1))
    connections_per_user: int = setting(20, "SFTP connections one Panel user may hold open.",
                                        Integer(1))
    channels_per_connection: int = setting(4, "SFTP sessions on one SSH connection.",
                                           Integer(1))
    handles_per_session: int = setting(256, "Open files and directories per SFTP session.",
                                       Integer(1))
    handles_per_server: int = setting(1024, "Open files and directories per game server, "
                                      "over all its SFTP sessions.", Integer(1))
    recheck_interval: float = setting(300, "Seconds between re-checks of an open SFTP "
                                      "login with the Panel (revoked: closed); 0: never.",
                                      Number(allow_zero=True))


@dataclass
class WorkerLimits:
    boot_timeout: float = setting(30, "Seconds a server worker has to report ready.", Number())
    stop_timeout: float = setting(10, "Seconds a server worker has to exit when asked.",
                                  Number())
    max_failures: int = setting(5, "Quick worker deaths in a row before giving up.", Integer(1))
    stable_after: float = setting(60, "Seconds of uptime that reset the failure count.",
                                  Number(allow_zero=True))
    backoff_initial: float = setting(0.5, "First restart delay of a dead worker, seconds.",
                                     Number())
    backoff_max: float = setting(60, "Longest restart delay, seconds.", Number())
    merge_pages: bool = setting(True, "Offer the workers' memory to the kernel's same-page "
                                "merging (KSM): pages the workers hold alike are kept once "
                                "while /sys/kernel/mm/ksm/run is 1.")


@dataclass
class ActivityLimits:
    max_stored: int = setting(500000, "Activity events kept while the Panel does not accept "
                              "them (about 300 bytes each); past it the oldest are dropped.",
                              Integer(1))


@dataclass
class Wingspan:
    run_directory: str = setting("/run/wingspan", "Sockets between wingspan's processes.",
                                 Text("an absolute path", os.path.isabs))
    metrics_public: bool = setting(False, "Serve /metrics without the node token.")
    disable_openapi_docs: bool = setting(
        False, "Do not serve the API's OpenAPI document at /openapi.json (node token).")
    console_buffer_lines: int = setting(1000, "Console lines kept per server.", Integer(1))
    max_request_body: int = setting(1048576, "Largest JSON request body, bytes.", Integer(1))
    config_file_max_bytes: int = setting(16777216, "Egg config files larger than this are "
                                         "not parsed (CVE-2026-52857).", Integer(1))
    mime_cache_entries: int = setting(200000, "Files whose sniffed MIME type the API, and "
                                      "each server's worker, keeps for re-listing (about "
                                      "70 bytes each; 0: none).",
                                      Integer(0))
    transfer_idle_timeout: float = setting(60, "Seconds an incoming server transfer may send "
                                           "nothing before it is abandoned.", Number())
    websocket: WebsocketLimits = section(WebsocketLimits, "Websocket limits.")
    worker: WorkerLimits = section(WorkerLimits, "Server worker supervision.")
    remove_backups_on_server_delete: bool = setting(
        True, "Delete a server's local backups with the server (Pelican's "
        "system.backups.remove_backups_on_server_delete).")
    sftp: SftpLimits = section(SftpLimits, "SFTP login throttling and limits.")
    activity: ActivityLimits = section(ActivityLimits, "The activity log's local store.")
    panelless_directory: str = setting(
        "", "On-disk server definitions, used when remote is empty.",
        Text("an absolute path or empty", lambda path: path == "" or os.path.isabs(path)))


@dataclass
class Config:
    """The whole config.yml. ``Config()`` is every default (what Wings assumes)."""

    debug: bool = setting(False, "Debug logging (--debug also enables it, without saving it).")
    app_name: str = setting("Pterodactyl", "Name in daemon console lines: [<app_name> Daemon]:.")
    uuid: str = setting("", "This node's UUID in the Panel.")
    token_id: str = setting("", "Id half of the credential sent to the Panel.", secret=True)
    token: str = setting("", "Node token: the Panel's bearer token and the JWT key.",
                         secret=True)
    api: Api = section(Api, "The HTTP API.")
    system: System = section(System, "Host paths, user and behaviour.")
    docker: Docker = section(Docker, "Containers and their network.")
    throttles: Throttles = section(Throttles, "Console output throttle.")
    remote: str = setting("", "Panel base URL; empty or local://<dir>: no Panel.",
                          Text("an http(s) URL, local://<absolute directory> or empty",
                               _is_remote))
    remote_query: RemoteQuery = section(RemoteQuery, "Requests to the Panel.")
    allowed_mounts: list = setting([], "Host path prefixes servers may mount.", json_name=None)
    allowed_origins: list = setting([], "Extra CORS/websocket origins; * allows any.")
    allow_cors_private_network: bool = setting(False, "Send the CORS private-network header.")
    ignore_panel_config_updates: bool = setting(False, "Make POST /api/update a no-op.")
    wingspan: Wingspan = section(Wingspan, "wingspan's own settings (Wings ignores them).",
                                 json_name=None)

    runtime_debug: bool = field(default=False, compare=False)
    source: str = field(default="configuration", compare=False, repr=False)
    unknown_keys: dict = field(default_factory=dict, repr=False)

    @property
    def debug_enabled(self):
        """Debug logging from the file or from the command line (``runtime_debug``)."""
        return self.debug or self.runtime_debug

    @classmethod
    def from_dict(cls, data, source="configuration"):
        """Build and validate a config from a YAML-shaped mapping.

        Args:
            data: nested mapping of YAML keys (missing keys take their defaults).
            source: where it came from, for messages (a file path).

        Raises:
            ConfigError: listing every invalid key.
        """
        report = _Report()
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(source, [Problem("", "must contain a mapping of keys, got %s"
                                               % _shown(data))])
        cfg = _build(cls, data, (), report)
        _check_relations(cfg, report)
        if report.problems:
            raise ConfigError(source, report.problems)
        cfg.unknown_keys = report.unknown
        cfg.source = source
        return cfg

    def to_dict(self):
        """The YAML-shaped nested dict that ``save`` writes, unknown keys included."""
        return _section_dict(self, (), self.unknown_keys)

    def save(self, path):
        """Write the config to ``path``: YAML, atomically (temp file + rename), mode 0600.
        A file that already says the same is left untouched (its mtime tells the worker
        processes whether the config they share is still current).

        Raises:
            ConfigError: the config would not load back (an invalid value was assigned).
            OSError: the file cannot be written.
        """
        data = self.to_dict()
        Config.from_dict(data, source=path)
        text = yaml.dump(data, Dumper=YAML_DUMPER, default_flow_style=False, sort_keys=False,
                         allow_unicode=True).encode("utf-8")
        try:
            with open(path, "rb") as current:
                if current.read() == text:
                    return
        except OSError:
            pass
        _write_private_file(path, text)

    def validate_for_serving(self):
        """Refuse to serve with a config that leaves the API open or cannot start it.

        An empty node token would let Wings accept ``Authorization: Bearer `` (wings-api.md
        §1.5 [REC]).

        Raises:
            ConfigError: naming each key.
        """
        problems = []
        if not self.token:
            problems.append(Problem("token", "must not be empty to serve the API (copy this "
                                    "node's configuration from the Panel)"))
        if _is_panel_url(self.remote) and not self.token_id:
            problems.append(Problem("token_id", "must not be empty when remote is a Panel URL"))
        if not self.remote and not self.wingspan.panelless_directory:
            problems.append(Problem("remote", "must be the Panel URL, or local://<directory> "
                                    "(or set wingspan.panelless_directory) to run without a Panel"))
        if self.api.ssl.enabled:
            for key in ("cert", "key"):
                if not getattr(self.api.ssl, key):
                    problems.append(Problem("api.ssl." + key,
                                            "must be set when api.ssl.enabled is true"))
        if problems:
            raise ConfigError(self.source, problems)

    def local_definitions_directory(self):
        """Where on-disk server definitions live when no Panel is used, else None."""
        if self.remote.startswith(LOCAL_SCHEME):
            return self.remote[len(LOCAL_SCHEME):]
        if not self.remote:
            return self.wingspan.panelless_directory or None
        return None

    def apply_update(self, body):
        """The config ``POST /api/update`` asks for (wings-api.md §3.2, §15.3).

        The body is decoded over a copy of this config: absent keys keep their value,
        lists and maps present replace theirs, unknown keys and ``allowed_mounts`` are
        ignored. Names are Go's JSON names, matched case-insensitively (``system.Data``,
        ``system.sftp.bind_port``, ``remote_query.Timeout``). A Let's Encrypt ``api.ssl.key``
        keeps the certificate paths in use, as Wings does. The caller checks
        ``ignore_panel_config_updates`` first, then saves and swaps in the result.

        Args:
            body: the decoded JSON body.

        Returns:
            A new ``Config``; this one is unchanged.

        Raises:
            errors.UnparsableBody: a key has the wrong JSON type.
            errors.ValidationFailed: a value is invalid, the token is empty, or a key in
                ``LOCKED_KEYS`` (or a switch to or from ``local://``) would change.
        """
        updated = self._merged_with(body)
        updated.runtime_debug = self.runtime_debug
        updated.source = self.source
        _keep_letsencrypt_paths(self, updated)
        _refuse_locked_changes(self, updated)
        return updated

    @classmethod
    def from_panel(cls, body, source="the Panel"):
        """A new node's config from the document the Panel serves for it (``wingspan
        configure``; panel-contract.md §5): decoded as ``POST /api/update`` decodes its
        body, over every default, since the Panel leaves most keys out.

        Raises:
            errors.UnparsableBody: a key has the wrong JSON type.
            errors.ValidationFailed: a value is invalid, or the node's credentials are missing.
        """
        cfg = cls()._merged_with(body)
        missing = [name for name in ("uuid", "token_id", "token") if not getattr(cfg, name)]
        if missing:
            text = "the node configuration from %s has no %s" % (source, ", ".join(missing))
            raise errors.ValidationFailed(text, detail=text)
        cfg.source = source
        return cfg

    def _merged_with(self, body):
        if body is None:  # Go binds a literal null to "change nothing"
            body = {}
        if not isinstance(body, dict):
            raise errors.UnparsableBody(detail="/api/update: the body is not a JSON object")
        merged = self.to_dict()
        report = _Report()
        _merge_json(type(self), merged, body, (), report)
        if not report.problems:
            try:
                return Config.from_dict(merged, source="/api/update")
            except ConfigError as e:
                report.problems.extend(e.problems)
        text = "; ".join(str(problem) for problem in report.problems)
        if any(problem.wrong_type for problem in report.problems):
            raise errors.UnparsableBody(text, detail="/api/update: " + text)
        raise errors.ValidationFailed(text, detail="/api/update: " + text)

    def placeholder_view(self):
        """The values egg ``{{config.*}}`` placeholders may resolve: ``PLACEHOLDER_KEYS`` as
        a nested dict shaped like Wings' JSON (``{"docker": {"network": {"interface": …}}}``).
        Nothing secret is ever in it (CVE-2026-52855)."""
        view = {}
        for dotted in PLACEHOLDER_KEYS:
            *parents, leaf = dotted.split(".")
            node = view
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = copy.deepcopy(get_key(self, dotted))
        return view


# -- building, writing and merging ----------------------------------------------------------

class _Report:
    """Problems and unknown keys gathered while building a config."""

    def __init__(self):
        self.problems = []
        self.unknown = {}

    def invalid(self, path, kind, value, failure, secret):
        if failure.item is _Invalid.NO_ITEM:
            text = "must be %s, got %s" % (kind.phrase, _shown(value, secret))
        else:
            text = "must be %s, got %s among its entries" % (kind.phrase,
                                                            _shown(failure.item, secret))
        if failure.wrong_type and isinstance(kind, Text) and _is_scalar(value):
            text += " (put it in quotes)"
        self.problems.append(Problem(_dotted(path), text, failure.wrong_type))

    def wrong_shape(self, path, value, expected):
        self.problems.append(Problem(_dotted(path), "must be %s, got %s"
                                     % (expected, _shown(value)), True))


def _settings(section_class):
    """The declared keys of a section, in file order."""
    return [f for f in dataclasses.fields(section_class) if "doc" in f.metadata]


def _default_of(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


def _build(section_class, data, path, report):
    """One section from its YAML mapping; missing keys keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        report.wrong_shape(path, data, "a mapping of keys")
        return section_class()
    known = {f.name: f for f in _settings(section_class)}
    values = {}
    for key, raw in data.items():
        f = known.get(key)
        if f is None:
            report.unknown.setdefault(path, {})[key] = raw
        else:
            values[key] = _build_value(f, raw, path + (key,), report)
    return section_class(**values)


def _build_value(f, raw, path, report):
    if f.metadata.get("section"):
        return _build(f.type, raw, path, report)
    kind = f.metadata["kind"]
    if isinstance(kind, SectionMap):
        return _build_map(kind.section_class, raw, path, report)
    try:
        return kind.decode(raw)
    except _Invalid as failure:
        report.invalid(path, kind, raw, failure, f.metadata["secret"])
        return _default_of(f)


def _build_map(section_class, data, path, report):
    if data is None:
        return {}
    if not isinstance(data, dict):
        report.wrong_shape(path, data, "a mapping of names to sections")
        return {}
    entries = {}
    for name, entry in data.items():
        if isinstance(name, str):
            entries[name] = _build(section_class, entry, path + (name,), report)
        else:
            report.wrong_shape(path, name, "a mapping whose names are strings")
    return entries


def _check_relations(cfg, report):
    worker = cfg.wingspan.worker
    if worker.backoff_max < worker.backoff_initial:
        report.problems.append(Problem(
            "wingspan.worker.backoff_max", "must be at least wingspan.worker.backoff_initial "
            "(%s), got %s" % (worker.backoff_initial, worker.backoff_max)))


def _section_dict(obj, path, unknown):
    out = {}
    for f in _settings(type(obj)):
        value = getattr(obj, f.name)
        here = path + (f.name,)
        if f.metadata.get("section"):
            out[f.name] = _section_dict(value, here, unknown)
        elif isinstance(f.metadata["kind"], SectionMap):
            out[f.name] = {name: _section_dict(entry, here + (name,), unknown)
                           for name, entry in value.items()}
        else:
            out[f.name] = copy.deepcopy(value)
    for key, value in unknown.get(path, {}).items():
        out.setdefault(key, copy.deepcopy(value))
    return out


def _write_private_file(path, data):
    """Replace ``path`` with ``data`` atomically; a crash leaves the old file or the new one."""
    # A symlinked config.yml stays a symlink: Wings' os.WriteFile writes through it too.
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    # mkstemp creates the file with mode 0600, the mode Wings gives config.yml.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


@functools.lru_cache(maxsize=None)
def _json_names(section_class):
    """Case-folded Go JSON name -> field, for the keys /api/update accepts."""
    names = {}
    for f in _settings(section_class):
        name = f.metadata["json"]
        if name is not None:
            names[(f.name if name is _SAME_NAME else name).casefold()] = f
    return names


def _merge_json(section_class, target, body, path, report):
    """Decode one JSON object of /api/update onto ``target``, a YAML-shaped section dict."""
    names = _json_names(section_class)
    for key, value in body.items():
        f = names.get(key.casefold())
        if f is None:
            continue
        here = path + (f.name,)
        if f.metadata.get("section"):
            if isinstance(value, dict):
                _merge_json(f.type, target[f.name], value, here, report)
            elif value is not None:
                report.wrong_shape(here, value, "a JSON object")
        elif isinstance(f.metadata["kind"], SectionMap):
            target[f.name] = _json_map(f.metadata["kind"].section_class, value, here, report)
        elif value is not None or isinstance(_default_of(f), (list, dict)):
            # Go leaves a scalar alone on null but empties a slice or a map.
            target[f.name] = value


def _json_map(section_class, value, path, report):
    if value is None:
        return {}
    if not isinstance(value, dict):
        report.wrong_shape(path, value, "a JSON object")
        return {}
    entries = {}
    for name, entry in value.items():
        entries[name] = {}
        if isinstance(entry, dict):
            _merge_json(section_class, entries[name], entry, path + (name,), report)
        elif entry is not None:
            report.wrong_shape(path + (name,), entry, "a JSON object")
    return entries


def _keep_letsencrypt_paths(current, updated):
    # The Panel always sends /etc/letsencrypt/live/<fqdn>/ paths; Wings keeps the
    # certificate files in use instead (§3.2).
    ssl = updated.api.ssl
    if ssl.key.startswith(LETSENCRYPT_PREFIX):
        ssl.key, ssl.cert = current.api.ssl.key, current.api.ssl.cert


def _refuse_locked_changes(current, updated):
    locked = []
    for dotted in _locked_leaves():
        before, after = get_key(current, dotted), get_key(updated, dotted)
        if before == after:
            continue
        if _same_place(before, after):
            set_key(updated, dotted, before)
        else:
            locked.append(dotted)
    if current.remote.rstrip("/") != updated.remote.rstrip("/"):
        # Whoever holds the node token could otherwise point the daemon's Panel calls at
        # their own host and collect token_id and every SFTP login's password.
        locked.append("remote")
    problems = []
    if locked:
        problems.append(Problem(", ".join(locked), "cannot be changed through the API; edit "
                                "config.yml on the node"))
    if not updated.token:
        problems.append(Problem("token", "must not be empty"))
    if problems:
        text = "; ".join(str(problem) for problem in problems)
        raise errors.ValidationFailed(text, detail="/api/update refused: " + text)


def _same_place(before, after):
    """Two spellings of one path (the Panel's ``/var/lib/pterodactyl/volumes`` when the
    node's file holds where that symlink leads)."""
    return (isinstance(before, str) and isinstance(after, str) and os.path.isabs(before)
            and os.path.isabs(after) and os.path.realpath(before) == os.path.realpath(after))


def reload(current, path):
    """What a running daemon adopts when ``path`` is read again (SIGHUP): ``(cfg, pending)``.

    ``cfg`` is the file's configuration with every ``RESTART_KEYS`` value kept as it runs;
    ``pending`` names those whose value in the file differs (they apply after a restart).

    Raises:
        ConfigError: the file cannot be used; it names each key.
    """
    updated = load(path)
    updated.validate_for_serving()
    updated.runtime_debug = current.runtime_debug
    pending = []
    for dotted in _restart_leaves():
        running = get_key(current, dotted)
        if get_key(updated, dotted) != running:
            pending.append(dotted)
            set_key(updated, dotted, copy.deepcopy(running))
    return updated, pending


def hold_back(cfg, held):
    """Set the keys a reload left for a restart (``{dotted: running value}``) to the values
    the daemon runs with: a child process started after that reload reads the new file,
    and must still run with what the other processes run. Returns ``cfg``."""
    for dotted, value in held.items():
        set_key(cfg, dotted, copy.deepcopy(value))
    return cfg


def changed_keys(before, after):
    """The dotted keys whose values differ between two configs."""
    return [dotted for dotted in _all_leaves() if get_key(before, dotted) != get_key(after, dotted)]


@functools.lru_cache(maxsize=None)
def _restart_leaves():
    return tuple(leaf for dotted in RESTART_KEYS for leaf in _leaves(dotted))


@functools.lru_cache(maxsize=None)
def _all_leaves():
    return tuple(leaf for f in _settings(Config) for leaf in _leaves(f.name))


@functools.lru_cache(maxsize=None)
def _locked_leaves():
    """``LOCKED_KEYS`` with each section expanded to the keys below it."""
    return tuple(leaf for dotted in LOCKED_KEYS for leaf in _leaves(dotted))


def _leaves(dotted):
    f = _field_at(dotted)
    if not f.metadata.get("section"):
        return [dotted]
    return [leaf for child in _settings(f.type) for leaf in _leaves(dotted + "." + child.name)]


def _field_at(dotted):
    section_class = Config
    for name in dotted.split("."):
        f = {each.name: each for each in _settings(section_class)}[name]
        section_class = f.type
    return f


def secret_paths(section_obj, path=()):
    """The YAML key paths (tuples) of every value declared secret in a config, those in map
    sections included (``("docker", "registries", "<name>", "password")``)."""
    for f in _settings(type(section_obj)):
        value = getattr(section_obj, f.name)
        here = path + (f.name,)
        if f.metadata.get("section"):
            yield from secret_paths(value, here)
        elif isinstance(f.metadata["kind"], SectionMap):
            for name, entry in value.items():
                yield from secret_paths(entry, here + (name,))
        elif f.metadata.get("secret"):
            yield here


def get_key(cfg, dotted):
    """The value at a dotted YAML key: ``get_key(cfg, "api.port")``."""
    value = cfg
    for name in dotted.split("."):
        value = getattr(value, name)
    return value


def set_key(cfg, dotted, value):
    """Set the value at a dotted YAML key."""
    *parents, leaf = dotted.split(".")
    setattr(get_key(cfg, ".".join(parents)) if parents else cfg, leaf, value)


# -- reading ---------------------------------------------------------------------------------

def load(path):
    """Read and validate the config file at ``path``; an empty timezone is detected.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or has invalid values.
    """
    cfg = Config.from_dict(_read_yaml(path), source=path)
    if not cfg.system.timezone:
        cfg.system.timezone = detect_timezone()
    return cfg


def _read_yaml(path):
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(path, [Problem("", "configuration file not found (copy it from the "
                                         "node's Configuration tab in the Panel)")]) from None
    except OSError as e:
        raise ConfigError(path, [Problem("", "cannot read the file: %s" % e.strerror)]) from None
    try:
        return yaml.load(text, Loader=YAML_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(path, [Problem("", "YAML syntax error at line %d, column %d: %s"
                                         % (mark.line + 1, mark.column + 1,
                                            e.problem or e.context))]) from None
    except yaml.YAMLError as e:
        raise ConfigError(path, [Problem("", "not valid YAML: %s" % e)]) from None


def detect_timezone(environ=None, timezone_file="/etc/timezone", localtime="/etc/localtime"):
    """The host's time zone: ``TZ``, then /etc/timezone, then the /etc/localtime link, else UTC.

    Like Wings, unexpected characters (a newline, POSIX's leading ``:``) are stripped.
    Unlike Wings, digits, ``-`` and ``+`` are kept, so ``America/Port-au-Prince`` and
    ``Etc/GMT+3`` survive (wings-behaviour.md §1 QUIRK), and an unknown zone falls through
    to the next source instead of stopping the daemon.
    """
    environ = os.environ if environ is None else environ
    for origin, raw in _timezone_candidates(environ, timezone_file, localtime):
        name = re.sub(r"[^A-Za-z0-9_/+\-]", "", raw)
        if is_valid_timezone(name):
            return name
        if name:
            log.warning("ignoring time zone %r from %s: not a known zone", raw, origin)
    return "UTC"


def _timezone_candidates(environ, timezone_file, localtime):
    return (("TZ", environ.get("TZ", "")),
            (timezone_file, _read_text(timezone_file)),
            (localtime, _linked_zone(localtime)))


def _read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _linked_zone(localtime):
    """``Europe/Berlin`` from a /etc/localtime -> /usr/share/zoneinfo/Europe/Berlin link."""
    try:
        link = os.readlink(localtime)
    except OSError:
        return ""
    return link.partition("zoneinfo/")[2]


# -- small helpers ---------------------------------------------------------------------------

def _dotted(path):
    return ".".join(str(name) for name in path)


def _is_scalar(value):
    return isinstance(value, (bool, int, float))


def _is_panel_url(remote):
    return remote.startswith(("http://", "https://"))


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping"}


def _shown(value, secret=False):
    """A value as an error message shows it: never a secret, never a whole structure."""
    if value is None:
        return "null"
    if isinstance(value, bool) and not secret:
        return "true" if value else "false"
    if secret or isinstance(value, (list, dict)) or type(value) not in _TYPE_NAMES:
        return _TYPE_NAMES.get(type(value), "a " + type(value).__name__)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
