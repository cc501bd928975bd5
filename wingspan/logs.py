"""Logging setup, once per process: role and server in every line, stderr for journald."""

import logging
import os
import sys
from logging.handlers import WatchedFileHandler

FORMAT = "%(asctime)s %(levelname)s %(role)s[%(process)d]%(server)s %(name)s: %(message)s"


class _RoleFilter(logging.Filter):
    def __init__(self, role, server):
        super().__init__()
        self.role = role
        self.set_server(server)

    def set_server(self, server):
        self.server = " " + server[:8] if server else ""

    def filter(self, record):
        record.role = self.role
        record.server = self.server
        return True


class _Record(logging.LogRecord):
    """A log record that takes a lone argument for a mapping of named arguments only when
    it is a dict.

    ``logging.LogRecord`` asks ``isinstance(arg, collections.abc.Mapping)`` of a lone
    argument. The first time it meets a type, that ABC check walks every registered mapping
    class and writes to each one's cache. In a forked worker, those writes copy shared pages
    (0.4-0.6 MiB on its first such log line). Named arguments are only ever passed as
    dicts, so the cheap check is enough."""

    def __init__(self, name, level, pathname, lineno, msg, args, *rest, **kwargs):
        super().__init__(name, level, pathname, lineno, msg, (), *rest, **kwargs)
        if len(args) == 1 and isinstance(args[0], dict) and args[0]:
            args = args[0]
        self.args = args


class LogFile(WatchedFileHandler):
    """``wings.log``, reopened when logrotate moves it, and re-created with its directory
    when someone removes them. A line that still cannot be written goes to
    :meth:`handleError` (a note on stderr): a log file must never stop the daemon."""

    def _open(self):
        os.makedirs(os.path.dirname(self.baseFilename), exist_ok=True)
        return super()._open()

    def emit(self, record):
        # WatchedFileHandler reopens outside the error handling of FileHandler.emit.
        try:
            self.reopenIfNeeded()
        except OSError:
            self.handleError(record)
            return
        logging.FileHandler.emit(self, record)


# What configure() put in place: role, log directory, its handlers and their filter.
_configured = None


def configure(role, debug=False, server=None, log_directory=None):
    """Send this process's logs to stderr (and to ``wings.log`` when a directory is given).

    A process forked from one configured alike (a worker from the zygote) only takes its
    server's name and level: setting up again would write to every logger object in the
    process (a level change clears each one's cache), copying the memory pages it shares
    with the zygote (0.7 MiB a worker)."""
    global _configured
    root = logging.getLogger()
    if _configured is not None and _configured[:2] == (role, log_directory) \
            and all(handler in root.handlers for handler in _configured[2]):
        _configured[3].set_server(server)
        set_debug(debug)
        return
    logging.setLogRecordFactory(_Record)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_directory:
        handlers.append(LogFile(os.path.join(log_directory, "wings.log")))
    role_filter = _RoleFilter(role, server)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(role_filter)
        root.addHandler(handler)
    set_debug(debug)
    for noisy in ("urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = (role, log_directory, handlers, role_filter)


def set_debug(debug):
    """Change the level of a configured process (a reload of config.yml's ``debug``)."""
    level = logging.DEBUG if debug else logging.INFO
    root = logging.getLogger()
    if root.level != level:
        root.setLevel(level)
