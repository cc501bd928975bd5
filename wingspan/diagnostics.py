"""The diagnostics report an operator attaches to a bug report: ``wingspan diagnostics`` prints
it and Pelican's ``GET /api/diagnostics`` serves it (wings-behaviour.md §14.2; peers.md).

It holds the versions (wingspan, Python, Docker, runc, kernel, OS), the whole configuration
with every secret redacted, Docker's information, the containers wingspan manages and the
last lines of ``wings.log``. Nothing secret reaches it: the config's secret keys are
redacted by their declaration, unknown keys by their name, and every secret value is
replaced wherever it appears (a log line quoting a token included). The Panel's URL, the
listen addresses and the TLS paths are redacted too unless ``include_endpoints``.
"""

import datetime
import os
import platform
import sys

import yaml

from wingspan import __version__, host
from wingspan.config import secret_paths

DEFAULT_LOG_LINES = 200
MAX_LOG_LINES = 500
REDACTED = "{redacted}"
LOG_FILE = "wings.log"
# Where this node can be reached and which files hold its keys: not secret, but private.
ENDPOINT_KEYS = ("remote", "api.host", "api.ssl.cert", "api.ssl.key",
                 "system.sftp.bind_address")
# Unknown keys whose name says they hold a credential.
SECRET_WORDS = ("token", "password", "secret", "access_key", "private_key", "credential")
MANAGED_LABELS = {"Service": "Pterodactyl"}
# A tail reads back from the end of the file in blocks, so a huge log costs little.
TAIL_BLOCK = 64 * 1024
MAX_TAIL_BYTES = 4 * 1024 * 1024


def connect_engine():
    from wingspan.engine import Engine
    return Engine()


def generate(cfg, engine_factory=connect_engine, log_lines=DEFAULT_LOG_LINES,
             include_endpoints=False, include_logs=True, config_problem=None):
    """The report as text.

    Args:
        cfg: the node's Config, or None when it could not be loaded (``config_problem``
            says why).
        engine_factory: returns an ``Engine``; a Docker that cannot be reached is reported,
            not raised.
        log_lines: lines of ``wings.log`` to include.
    """
    docker_info, docker_version, docker_problem = _docker_facts(engine_factory)
    out = ["wingspan - Diagnostics Report"]
    _section(out, "Versions")
    runc = ((docker_info or {}).get("RuncCommit") or {}).get("ID", "")
    for label, value in (("wingspan", "v" + __version__), ("Python", platform.python_version()),
                         ("Docker", (docker_version or {}).get("Version", "unknown")),
                         ("runc", runc or "unknown"), ("Kernel", platform.release()),
                         ("OS", host.os_pretty_name() or sys.platform), ("Server Time", _now())):
        out.append("%20s: %s" % (label, value))
    _section(out, "Configuration")
    if cfg is None:
        out.append("not loaded: %s" % config_problem)
    else:
        out.append(yaml.safe_dump(redacted_config(cfg, include_endpoints),
                                  default_flow_style=False, sort_keys=False).rstrip())
    _section(out, "Docker: Info")
    out.extend(_docker_info_lines(docker_info) if docker_info else [docker_problem])
    _section(out, "Docker: Containers managed by wingspan")
    out.extend(_container_lines(engine_factory) if docker_info else [docker_problem])
    _section(out, "Latest logs (%s)" % LOG_FILE)
    if not include_logs or log_lines == 0:
        out.append("Logs redacted.")
    elif cfg is None:
        out.append("unknown log directory: the configuration was not loaded")
    else:
        out.append(tail(os.path.join(cfg.system.log_directory, LOG_FILE), log_lines))
    text = "\n".join(out) + "\n"
    return scrub(text, cfg) if cfg is not None else text


def redacted_config(cfg, include_endpoints=False):
    """The config as config.yml spells it, every secret (and, unless ``include_endpoints``,
    every endpoint) replaced by ``{redacted}``."""
    data = cfg.to_dict()
    paths = list(secret_paths(cfg))
    if not include_endpoints:
        paths += [tuple(dotted.split(".")) for dotted in ENDPOINT_KEYS]
    for path in paths:
        parent = _parent_of(data, path)
        if parent is not None and parent.get(path[-1]):
            parent[path[-1]] = REDACTED
    return _redact_by_name(data)


def scrub(text, cfg):
    """``text`` with every secret value of ``cfg`` replaced by ``{redacted}``."""
    data = cfg.to_dict()
    values = set(_secrets_by_name(data))
    for path in secret_paths(cfg):
        parent = _parent_of(data, path)
        if parent is not None:
            values.add(parent.get(path[-1]))
    for value in sorted((v for v in values if isinstance(v, str) and len(v) >= 4),
                        key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def tail(path, lines):
    """The last ``lines`` lines of a text file (at most ``MAX_TAIL_BYTES`` of them)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = position = f.tell()
            data = b""
            while position > 0 and data.count(b"\n") <= lines and end - position < MAX_TAIL_BYTES:
                step = min(TAIL_BLOCK, position)
                position -= step
                f.seek(position)
                data = f.read(step) + data
    except OSError as e:
        return "No logs found (%s)." % (e.strerror or e)
    kept = data.decode("utf-8", "replace").splitlines()[-lines:]
    return "\n".join(kept) if kept else "The log is empty."


def _parent_of(data, path):
    for name in path[:-1]:
        data = data.get(name) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def _redact_by_name(value):
    """Keys unknown to wingspan are kept in config.yml; those named like a credential are
    redacted too."""
    if isinstance(value, dict):
        return {key: (REDACTED if _secret_name(key) and value[key] not in ("", None)
                      else _redact_by_name(value[key])) for key in value}
    if isinstance(value, list):
        return [_redact_by_name(item) for item in value]
    return value


def _secrets_by_name(value):
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _secret_name(key) and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_secrets_by_name(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_secrets_by_name(item))
    return found


def _secret_name(key):
    lowered = str(key).lower()
    return any(word in lowered for word in SECRET_WORDS)


def _docker_facts(engine_factory):
    try:
        engine = engine_factory()
        return engine.info(), engine.version(), None
    except Exception as e:  # the report says why Docker is missing instead of failing
        return None, None, "Docker is not reachable: %s" % e


def _docker_info_lines(info):
    lines = ["Server Version: %s" % info.get("ServerVersion", ""),
             "Storage Driver: %s" % info.get("Driver", "")]
    lines += ["  %s: %s" % tuple(pair) for pair in info.get("DriverStatus") or []]
    lines += [" %s: %s" % tuple(pair) for pair in info.get("SystemStatus") or []]
    lines += ["Logging Driver: %s" % info.get("LoggingDriver", ""),
              "Cgroup Driver: %s" % info.get("CgroupDriver", ""),
              "Cgroup Version: %s" % info.get("CgroupVersion", ""),
              "Containers: %s (running %s, paused %s, stopped %s)" % (
                  info.get("Containers", 0), info.get("ContainersRunning", 0),
                  info.get("ContainersPaused", 0), info.get("ContainersStopped", 0)),
              "Images: %s" % info.get("Images", 0)]
    lines += list(info.get("Warnings") or [])
    return lines


def _container_lines(engine_factory):
    try:
        containers = engine_factory().containers(MANAGED_LABELS)
    except Exception as e:  # reported, like an unreachable Docker
        return ["Couldn't list containers: %s" % e]
    if not containers:
        return ["none"]
    rows = [("NAME", "IMAGE", "STATE", "STATUS")]
    for c in sorted(containers, key=lambda c: (c.get("Names") or [""])[0]):
        rows.append(((c.get("Names") or [""])[0].lstrip("/"), c.get("Image", ""),
                     c.get("State", ""), c.get("Status", "")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ["%s  %s  %s  %s" % (row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                                row[2].ljust(widths[2]), row[3]) for row in rows]


def _section(out, title):
    out.extend(["", "|", "| " + title, "| ------------------------------"])


def _now():
    return datetime.datetime.now().astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")
