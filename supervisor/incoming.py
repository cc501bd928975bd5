"""Incoming transfers that a crash may cut short (wings-api.md §9.3).

A server being received has a marker file, ``<root_directory>/incoming/<uuid>``, from its
creation until the transfer ends either way. A daemon that dies meanwhile finds the marker
at its next boot: unless the Panel now lists the server on this node (the transfer did
complete), the files it was receiving are removed, so a transfer cut short leaves nothing
behind on the destination.
"""

import logging
import os
import re
import shutil

log = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class IncomingMarks:
    """Args:
        directory: where the markers live.
        data_directory: ``system.data`` (server roots are ``<data>/<uuid>``).
    """

    def __init__(self, directory, data_directory):
        self.directory = directory
        self.data_directory = data_directory

    def begin(self, uuid):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        with open(os.path.join(self.directory, uuid), "w"):
            pass

    def end(self, uuid):
        try:
            os.unlink(os.path.join(self.directory, uuid))
        except FileNotFoundError:
            pass

    def is_pending(self, uuid):
        return os.path.exists(os.path.join(self.directory, uuid))

    def pending(self):
        """The uuids of the servers being received."""
        try:
            return [name for name in os.listdir(self.directory) if _UUID.match(name)]
        except FileNotFoundError:
            return []

    def sweep(self, kept):
        """Remove the files of every marked server not in ``kept``; drop all markers.
        Returns the uuids whose files were removed."""
        removed = []
        for uuid in self.pending():
            if uuid not in kept:
                log.warning("server %s: its transfer to this node was cut short; removing "
                            "its files", uuid)
                shutil.rmtree(os.path.join(self.data_directory, uuid), ignore_errors=True)
                removed.append(uuid)
            self.end(uuid)
        return removed
