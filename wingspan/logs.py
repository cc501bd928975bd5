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
        self.server = " " + server[:8] if server else ""

    def filter(self, record):
        record.role = self.role
        record.server = self.server
        return True


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


def configure(role, debug=False, server=None, log_directory=None):
    """Send this process's logs to stderr (and to ``wings.log`` when a directory is given)."""
    root = logging.getLogger()
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


def set_debug(debug):
    """Change the level of a configured process (a reload of config.yml's ``debug``)."""
    logging.getLogger().setLevel(logging.DEBUG if debug else logging.INFO)
