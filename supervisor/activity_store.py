"""The activity store: one SQLite file the supervisor alone writes (wings-behaviour.md §13.2).

Events wait here until the Panel has accepted them. Unlike Wings (``synchronous = OFF``, an
in-memory journal) the file is a durable WAL database: an event the supervisor confirmed to
its sender survives a kill -9 of any process and a restart of the host.

SQLite calls block, and a commit waits for the disk, so every call runs in one thread of its
own, never on the supervisor's event loop; concurrent ``add`` calls are committed together
(group commit), which is what keeps many senders cheap. Deletes go in chunks far below
SQLite's limit on bound variables (CVE-2026-21696: one ``DELETE … IN`` of more than 32,766
ids failed, nothing was deleted and the same rows were sent again forever).
"""

import json
import logging
import os
import sqlite3

import gevent
import gevent.event
from gevent.threadpool import ThreadPool

from wingspan.activity import SFTP_PREFIX, Event

log = logging.getLogger(__name__)

DELETE_CHUNK = 500
SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    key       TEXT NOT NULL UNIQUE,
    user      TEXT,
    server    TEXT NOT NULL,
    event     TEXT NOT NULL,
    metadata  TEXT NOT NULL,
    ip        TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_event ON activities (event);
"""
_COLUMNS = "id, key, user, server, event, metadata, ip, timestamp"
_SFTP_LIKE = SFTP_PREFIX.replace("_", "\\_") + "%"


class Row:
    """A stored event and its row id."""

    __slots__ = ("id", "event")

    def __init__(self, row_id, event):
        self.id = row_id
        self.event = event


def _row(values):
    row_id, key, user, server, event, metadata, ip, stamp = values
    return Row(row_id, Event(key, server, event, json.loads(metadata), user, ip, stamp,
                             metadata))


class ActivityStore:
    """The queue of events on their way to the Panel.

    Args:
        path: the database file (created with its directory).
        max_rows: events kept at most; past it the oldest go, with one warning until the
            store has room again.
    """

    def __init__(self, path, max_rows):
        self.path = path
        self.max_rows = max_rows
        self.rows = 0
        self._db = None
        self._thread = ThreadPool(1)
        self._incoming = []
        self._wake = gevent.event.Event()
        self._writer = None
        self._overflowing = False

    # -- lifecycle ----------------------------------------------------------------------

    def open(self):
        """Open (or create) the database; rows left by an earlier run are kept."""
        self._thread.apply(self._open)
        self._writer = gevent.spawn(self._write_forever)
        if self.rows:
            log.info("%d activity events from an earlier run wait for the Panel", self.rows)

    def _open(self):
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        os.chmod(self.path, 0o600)
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk when it returns (NORMAL could lose the last commits in
        # a power cut, and Wings' OFF could lose anything)
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA busy_timeout = 5000")
        db.executescript(SCHEMA)
        self._db = db
        self.rows = db.execute("SELECT COUNT(*) FROM activities").fetchone()[0]

    def close(self):
        if self._writer is not None:
            self._writer.kill()
        if self._db is not None:
            self._thread.apply(self._db.close)
            self._db = None
        self._thread.kill()

    # -- writing ------------------------------------------------------------------------

    def add(self, events):
        """Store ``events`` (already checked); returns once they are on disk. An event whose
        id is stored already is not stored again. Raises sqlite3.Error."""
        done = gevent.event.AsyncResult()
        self._incoming.append((events, done))
        self._wake.set()
        return done.get()

    def _write_forever(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            waiting, self._incoming = self._incoming, []
            events = [event for batch, _ in waiting for event in batch]
            try:
                added, dropped = self._thread.apply(self._insert, (events,))
            except sqlite3.Error as e:
                log.error("could not store %d activity events: %s", len(events), e)
                for _, done in waiting:
                    done.set_exception(e)
                continue
            self._note_overflow(dropped)
            for _, done in waiting:
                done.set(added)

    def _insert(self, events):
        db = self._db
        before = db.total_changes
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO activities (key, user, server, event, metadata, ip, "
                "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(e.id, e.user, e.server, e.event, e.metadata_json, e.ip, e.timestamp)
                 for e in events])
            added = db.total_changes - before
            dropped = max(0, self.rows + added - self.max_rows)
            if dropped:
                db.execute("DELETE FROM activities WHERE id IN "
                           "(SELECT id FROM activities ORDER BY id LIMIT ?)", (dropped,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.rows += added - dropped
        return added, dropped

    def _note_overflow(self, dropped):
        if dropped and not self._overflowing:
            self._overflowing = True
            log.warning("the activity store holds its maximum of %d events "
                        "(wingspan.activity.max_stored): dropping the oldest until the Panel "
                        "accepts events again", self.max_rows)
        elif not dropped and self._overflowing and self.rows < self.max_rows * 0.9:
            self._overflowing = False

    # -- reading and deleting -----------------------------------------------------------

    def oldest(self, limit, sftp):
        """Up to ``limit`` rows, oldest first: the SFTP events or all the others."""
        condition = "" if sftp else "NOT "
        return self._thread.apply(self._select, (
            "SELECT %s FROM activities WHERE event %sLIKE ? ESCAPE '\\' ORDER BY id LIMIT ?"
            % (_COLUMNS, condition), (_SFTP_LIKE, limit)))

    def _select(self, query, params):
        return [_row(values) for values in self._db.execute(query, params)]

    def delete(self, ids):
        """Delete rows by id, in chunks SQLite always accepts, in one transaction."""
        if ids:
            self._thread.apply(self._delete, (list(ids),))

    def _delete(self, ids):
        db = self._db
        before = db.total_changes
        db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(ids), DELETE_CHUNK):
                chunk = ids[start:start + DELETE_CHUNK]
                db.execute("DELETE FROM activities WHERE id IN (%s)"
                           % ",".join("?" * len(chunk)), chunk)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.rows -= db.total_changes - before
