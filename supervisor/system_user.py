"""The system user: who owns server files and whom game containers run as.

Resolved once at boot (wings-behaviour.md §14.1 step 5, wings-api.md §15.2), before the
config is rewritten, so every child process reads the ids from config.yml. The first rule
that applies decides:

1. The official Docker image (os-release ``ID=distroless``): the environment's
   ``WINGS_USERNAME``, ``WINGS_UID`` and ``WINGS_GID`` (default ``pterodactyl``, 988, 988).
2. Rootless mode: the daemon's own user, the only owner it can give files to.
3. Ids written in config.yml (a non-zero ``system.user.uid``): kept as they are. Wings
   overwrites them; wingspan lets the node's administrator pin them, and 0, the default,
   stays "not set" because a game server never runs as root.
4. ``system.username`` looked up, and created when missing as Wings creates it
   (``useradd --system --no-create-home --shell /usr/sbin/nologin <name>``; on Alpine
   ``addgroup -S`` then ``adduser -S -D -H -G <name> -s /sbin/nologin``).

A rule that yields uid 0 outside rootless mode stops the boot: every game container and
every file the daemon writes would be root's (issue 21).
"""

import logging
import os
import pwd
import subprocess
from dataclasses import dataclass

from wingspan.host import os_release
from wingspan.config import ConfigError, Problem

log = logging.getLogger(__name__)

DISTROLESS_DEFAULTS = {"WINGS_USERNAME": "pterodactyl", "WINGS_UID": "988", "WINGS_GID": "988"}
CREATE_TIMEOUT = 60.0


@dataclass(frozen=True)
class SystemUser:
    name: str
    uid: int
    gid: int
    origin: str  # how it was found, for the boot log


class Host:
    """The facts about the host and the one change resolution may make to it (tests give
    a fake)."""

    def __init__(self, os_release="/etc/os-release", environ=None):
        self.os_release = os_release
        self.environ = os.environ if environ is None else environ

    def os_id(self):
        """os-release's ``ID`` (``debian``, ``alpine``, ``distroless``), "" when unknown."""
        return os_release(self.os_release).get("ID", "")

    def lookup(self, name):
        """``(uid, gid)`` of the user ``name``, None when there is none."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid

    def current(self):
        """``(name or None, uid, gid)`` of the user this process runs as."""
        uid = os.getuid()
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            return None, uid, os.getgid()
        return entry.pw_name, entry.pw_uid, entry.pw_gid

    def create(self, name, os_id):
        """Add ``name`` as a system user without a home or a login shell.

        Raises:
            OSError: a command is missing or cannot run.
            subprocess.CalledProcessError: a command failed (its stderr is kept).
        """
        for command in creation_commands(name, os_id):
            subprocess.run(command, check=True, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=CREATE_TIMEOUT)


def creation_commands(name, os_id):
    """The commands Wings runs to create the system user on this distribution."""
    if os_id.startswith("alpine"):
        return [["addgroup", "-S", name],
                ["adduser", "-S", "-D", "-H", "-G", name, "-s", "/sbin/nologin", name]]
    return [["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]]


def resolve(cfg, host):
    """The system user for ``cfg`` on ``host`` (the rules in the module docstring).

    Raises:
        ConfigError: no usable user: uid 0, a bad ``WINGS_*`` value, or one that cannot
            be created.
    """
    system = cfg.system
    os_id = host.os_id()
    if os_id == "distroless":
        return _unprivileged(cfg, "", _from_environment(cfg, host.environ))
    if system.user.rootless.enabled:
        return _current(cfg, host)
    if system.user.uid != 0:
        return _pinned(cfg, host)
    return _unprivileged(cfg, "system.username", _looked_up_or_created(cfg, host, os_id))


def apply(cfg, host=None):
    """Resolve the system user and write it into ``cfg`` (the caller saves the file)."""
    user = resolve(cfg, host or Host())
    cfg.system.username = user.name
    cfg.system.user.uid, cfg.system.user.gid = user.uid, user.gid
    log.info("system user %s, %d:%d (%s)", user.name, user.uid, user.gid, user.origin)
    return user


def _unprivileged(cfg, key, user):
    if user.uid == 0:
        raise _problem(cfg, key, "%s is uid 0 (%s): game servers must not run as root; name "
                                 "an unprivileged user" % (user.name, user.origin))
    return user


def _from_environment(cfg, environ):
    values = {key: environ.get(key) or default for key, default in DISTROLESS_DEFAULTS.items()}
    return SystemUser(values["WINGS_USERNAME"], _environment_id(cfg, values, "WINGS_UID"),
                      _environment_id(cfg, values, "WINGS_GID"), "WINGS_USERNAME/UID/GID")


def _environment_id(cfg, values, key):
    text = values[key]
    if not (text.isascii() and text.isdigit()):
        raise _problem(cfg, "", "environment variable %s must be a non-negative integer, "
                                "got %r" % (key, text))
    return int(text)


def _current(cfg, host):
    name, uid, gid = host.current()
    return SystemUser(name or cfg.system.username, uid, gid, "rootless mode: the daemon's user")


def _pinned(cfg, host):
    system = cfg.system
    pinned = (system.user.uid, system.user.gid)
    found = host.lookup(system.username)
    if found is not None and found != pinned:
        log.warning("system.user ids %d:%d in %s are kept, though system.username %s is "
                    "%d:%d; set them to 0 to use %s", pinned[0], pinned[1], cfg.source,
                    system.username, found[0], found[1], system.username)
    return SystemUser(system.username, pinned[0], pinned[1], "system.user in the config")


def _looked_up_or_created(cfg, host, os_id):
    name = cfg.system.username
    found = host.lookup(name)
    if found is not None:
        return SystemUser(name, found[0], found[1], "looked up")
    log.info("creating the system user %s", name)
    try:
        host.create(name, os_id)
    except (OSError, subprocess.SubprocessError) as e:
        # Another process may have created it meanwhile: then it is there to use.
        found = host.lookup(name)
        if found is None:
            raise _problem(cfg, "system.username", "cannot create the user %s: %s"
                           % (name, _failure(e))) from None
        return SystemUser(name, found[0], found[1], "looked up")
    found = host.lookup(name)
    if found is None:
        raise _problem(cfg, "system.username", "the user %s was created but cannot be looked "
                                              "up" % name)
    return SystemUser(name, found[0], found[1], "created")


def _failure(error):
    if isinstance(error, subprocess.CalledProcessError):
        output = (error.stderr or error.stdout or "").strip()
        return "%s exited with status %d%s" % (error.cmd[0], error.returncode,
                                                ": " + output if output else "")
    if isinstance(error, FileNotFoundError):
        return "%s is not installed" % error.filename
    return str(error)


def _problem(cfg, key, text):
    return ConfigError(cfg.source, [Problem(key, text)])
