"""Logging setup, once per process: role and server in every line, stderr for journald."""

import logging
import os
import sys

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


def configure(role, debug=False, server=None, log_directory=None):
    """Send this process's logs to stderr (and to ``wings.log`` when a directory is given)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_directory:
        from logging.handlers import WatchedFileHandler
        os.makedirs(log_directory, exist_ok=True)
        handlers.append(WatchedFileHandler(os.path.join(log_directory, "wings.log")))
    role_filter = _RoleFilter(role, server)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(role_filter)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
