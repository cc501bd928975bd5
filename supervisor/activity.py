"""The supervisor's side of the activity log (wings-behaviour.md §13): it takes the events
every process sends (``activity.record``), keeps them in the store and sends them on to the
Panel (§13.3, panel-contract.md §2.2).

Every ``system.activity_send_interval`` seconds two jobs run, one after the other so that
neither overlaps itself: the general job sends up to ``system.activity_send_count`` of the
oldest events that are not SFTP events; the SFTP job merges SFTP events of the same user,
server, IP, event and minute into one event whose ``files`` are all of theirs and whose
timestamp is the earliest, and sends up to ``activity_send_count`` merged events. Rows are
deleted only once the Panel accepted them.

A Panel that cannot be reached or answers 5xx keeps the rows where they are; the next try
comes after a growing pause (the interval, doubled per failure, at most ``MAX_BACKOFF``). A
4xx answer means this batch will never be accepted: it is logged and dropped, so that one
bad batch cannot block the queue forever. 401, 403, 408 and 429 are the exceptions: a
token being rotated or a Panel that throttles heals by itself.
"""

import logging
import os
import sqlite3

import gevent
import gevent.event

from supervisor.activity_store import ActivityStore
from wingspan import errors
from wingspan.activity import Event, InvalidEvent

log = logging.getLogger(__name__)

MAX_BACKOFF = 600.0
# SFTP rows merged in one run at most: a deletion of a million files is merged over runs.
SFTP_ROWS_PER_RUN = 10000
RETRYABLE_4XX = (401, 403, 408, 429)
DATABASE = "activity.db"


class ActivityLog:
    """The store, its uploads and the ``activity.record`` command, for the supervisor.

    Args:
        current: ``f() -> (cfg, panel client)``, the supervisor's live config and Panel.
    """

    def __init__(self, current):
        cfg = current()[0]
        self.store = ActivityStore(os.path.join(cfg.system.root_directory, DATABASE),
                                   cfg.wingspan.activity.max_stored)
        self.uploader = ActivityUploader(self.store, current)
        self._uploads = None

    def open(self):
        self.store.open()

    def start_uploads(self):
        self._uploads = gevent.spawn(self.uploader.run)

    def reconfigure(self, cfg):
        self.store.max_rows = cfg.wingspan.activity.max_stored
        self.uploader.restart_pause()

    def close(self):
        if self._uploads is not None:
            self._uploads.kill()
        self.store.close()

    def record(self, args):
        """``{"events": [event, ...]}`` -> ``{"stored": n}`` once they are on disk.

        Events that are not valid are dropped here with a warning (the sender would only
        send them again): what reaches the store is what the Panel accepts.
        """
        docs = args.get("events")
        if not isinstance(docs, list):
            raise errors.ValidationFailed(detail="activity.record needs a list of events")
        events = []
        for doc in docs:
            try:
                events.append(Event.checked(doc))
            except InvalidEvent as e:
                log.warning("dropping an invalid activity event: %s", e)
        if events:
            try:
                self.store.add(events)
            except sqlite3.Error as e:
                raise errors.StoreUnavailable(detail="activity store %s: %s"
                                              % (self.store.path, e)) from e
        return {"stored": len(events)}


def merge_sftp(rows, limit):
    """``(panel items, row ids)``: the rows grouped per (user, server, ip, event, minute),
    at most ``limit`` groups, in the order their first rows were stored. Rows of a group
    beyond the limit are left for the next run."""
    groups = {}
    ids = []
    for row in rows:
        event = row.event
        key = (event.user, event.server, event.ip, event.event, event.timestamp[:16])
        group = groups.get(key)
        if group is None:
            if len(groups) >= limit:
                continue
            group = groups[key] = Event(event.id, event.server, event.event, {"files": []},
                                        event.user, event.ip, event.timestamp)
        ids.append(row.id)
        group.timestamp = min(group.timestamp, event.timestamp)
        files = event.metadata.get("files")
        if isinstance(files, list):
            group.metadata["files"].extend(files)
    return [group.to_panel() for group in groups.values()], ids


class ActivityUploader:
    """Runs both jobs forever.

    Args:
        store: the ``ActivityStore``.
        current: ``f() -> (cfg, panel client)``, read at every run so a reloaded config
            applies at the next one.
    """

    def __init__(self, store, current):
        self.store = store
        self._current = current
        self.failures = 0
        self._reconfigured = gevent.event.Event()

    def restart_pause(self):
        """The interval may have changed: the pause under way starts again with it."""
        self._reconfigured.set()

    def run(self):
        while True:
            if self._reconfigured.wait(self._pause()):
                self._reconfigured.clear()
                continue
            try:
                delivered = self.run_once()
            except Exception:  # a bug here must not end the uploads for good
                log.exception("sending activity to the Panel failed")
                delivered = False
            self.failures = 0 if delivered else self.failures + 1

    def _pause(self):
        interval = self._current()[0].system.activity_send_interval
        if not self.failures:
            return interval
        return min(max(interval, MAX_BACKOFF), interval * 2 ** self.failures)

    def run_once(self):
        """Both jobs once; False when the Panel could not take what was sent."""
        cfg, panel = self._current()
        count = cfg.system.activity_send_count
        rows = self.store.oldest(count, sftp=False)
        if rows and not self._send(panel, [row.event.to_panel() for row in rows],
                                   [row.id for row in rows]):
            return False
        rows = self.store.oldest(SFTP_ROWS_PER_RUN, sftp=True)
        items, ids = merge_sftp(rows, count)
        return not items or self._send(panel, items, ids)

    def _send(self, panel, items, ids):
        try:
            panel.send_activity(items)
        except errors.PanelError as e:
            status = e.http_status
            if status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
                log.error("the Panel refused %d activity events (%s); they are dropped, as "
                          "sending them again would be refused again", len(items), e)
                self.store.delete(ids)
                return True
            log.warning("could not send %d activity events to the Panel (%s); they are kept "
                        "and sent again later", len(items), e)
            return False
        self.store.delete(ids)
        return True
