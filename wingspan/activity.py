"""Activity events, the Panel's audit trail (wings-behaviour.md §13): the model, and the one
way every process sends one.

A process that sees a user act (the API process for websocket commands, power actions and
uploads; the SFTP process for file operations; a worker) builds the event with the user and
IP that the JWT or the login carries and hands it to its :class:`Sender`. The sender passes
events over the request bus to the supervisor (``activity.record``) in batches and keeps
each one until the supervisor answered that it is on disk: the supervisor is the single
writer of the activity store, and it sends stored events on to the Panel.

An event is checked twice by the same rules: where it is made (so a sender learns of its
own bug) and where it is stored (the supervisor trusts no process). What passes is exactly
what the Panel's ``ActivityEventRequest`` accepts (panel-contract.md §2.2), so one bad event
can never make the Panel refuse a whole batch.
"""

import asyncio
import collections
import datetime
import ipaddress
import json
import logging
import re
import time
import uuid as uuidlib

import gevent
import gevent.event

from wingspan import commands, errors

log = logging.getLogger(__name__)

CONSOLE_COMMAND = "server:console.command"
POWER_PREFIX = "server:power."
FILE_UPLOADED = "server:file.uploaded"
SFTP_PREFIX = "server:sftp."
SFTP_WRITE = "server:sftp.write"
SFTP_CREATE = "server:sftp.create"
SFTP_CREATE_DIRECTORY = "server:sftp.create-directory"
SFTP_RENAME = "server:sftp.rename"
SFTP_DELETE = "server:sftp.delete"

# The Panel drops events that do not start with this (panel-contract.md §2.2).
EVENT_PREFIX = "server:"
MAX_EVENT_NAME = 191  # the Panel's activity_logs.event column
# One event's metadata, encoded: far above a console command (a websocket message is at most
# 32 KiB) or a file path, far below what a request on the bus may carry.
MAX_METADATA_BYTES = 256 * 1024
_EVENT_NAME = re.compile(r"^server:[a-z0-9_.:-]+$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class InvalidEvent(ValueError):
    """An event the Panel would refuse or misfile; the message says which field."""


def clean_ip(text):
    """The address in ``text`` as the Panel accepts it, or None when there is none.

    Wings strips a ``:port`` before storing (§13.2); an IPv6 zone (``fe80::1%eth0``) and the
    brackets of ``[::1]:80`` go as well, because the Panel refuses the whole batch for them.
    """
    text = (text or "").strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    text = text.partition("%")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def timestamp(epoch=None):
    """``2024-03-17T20:58:30.123456Z``: RFC 3339, UTC, microseconds (the Panel's format)."""
    moment = datetime.datetime.fromtimestamp(time.time() if epoch is None else epoch,
                                             datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical_uuid(value, field):
    try:
        return str(uuidlib.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidEvent("%s must be a UUID, got %r" % (field, value)) from None


class Event:
    """One activity event.

    ``id`` is chosen by the sender, so a batch sent twice (its answer was lost) is stored
    once. ``metadata`` is a JSON object; ``user`` a user UUID or None (the system);
    ``ip`` an address without port; ``timestamp`` as :func:`timestamp` writes it.
    """

    __slots__ = ("id", "server", "event", "metadata", "user", "ip", "timestamp",
                 "metadata_json")

    def __init__(self, id, server, event, metadata, user, ip, timestamp, metadata_json=None):
        self.id = id
        self.server = server
        self.event = event
        self.metadata = metadata
        self.user = user
        self.ip = ip
        self.timestamp = timestamp
        # encoded once: checked against the size limit, then stored as it is
        self.metadata_json = metadata_json or json.dumps(metadata, separators=(",", ":"))

    @classmethod
    def new(cls, server, event, metadata=None, user=None, ip=None):
        """An event that happens now. Raises InvalidEvent."""
        return cls.checked({"id": uuidlib.uuid4().hex, "server": server, "event": event,
                            "metadata": metadata, "user": user, "ip": ip,
                            "timestamp": timestamp()})

    @classmethod
    def checked(cls, doc):
        """The event a wire dict describes, normalised. Raises InvalidEvent."""
        if not isinstance(doc, dict):
            raise InvalidEvent("an event must be an object")
        event_id = doc.get("id")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 64:
            raise InvalidEvent("id must be a string of 1 to 64 characters")
        name = doc.get("event")
        if not isinstance(name, str) or len(name) > MAX_EVENT_NAME \
                or not _EVENT_NAME.match(name):
            raise InvalidEvent("event must be a name starting with %r, got %r"
                               % (EVENT_PREFIX, name))
        metadata = doc.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise InvalidEvent("metadata of %s must be an object" % name)
        encoded = json.dumps(metadata, separators=(",", ":"))
        if len(encoded) > MAX_METADATA_BYTES:
            raise InvalidEvent("metadata of %s is larger than %d bytes"
                               % (name, MAX_METADATA_BYTES))
        user = doc.get("user") or None
        if user is not None:
            user = _canonical_uuid(user, "user")
        ip = clean_ip(doc.get("ip"))
        if ip is None:
            raise InvalidEvent("ip must be an IP address, got %r" % doc.get("ip"))
        stamp = doc.get("timestamp")
        if not isinstance(stamp, str) or not _TIMESTAMP.match(stamp):
            raise InvalidEvent("timestamp must look like 2024-03-17T20:58:30.123456Z, got %r"
                               % (stamp,))
        return cls(event_id, _canonical_uuid(doc.get("server"), "server"), name, metadata,
                   user, ip, stamp, encoded)

    def to_wire(self):
        return {"id": self.id, "server": self.server, "event": self.event,
                "metadata": self.metadata, "user": self.user, "ip": self.ip,
                "timestamp": self.timestamp}

    def to_panel(self):
        """The element of ``POST /api/remote/activity``'s ``data`` (the id is not sent; the
        ``user`` key is always there, the Panel's controller fails without it)."""
        return {"user": self.user, "server": self.server, "event": self.event,
                "metadata": self.metadata, "ip": self.ip, "timestamp": self.timestamp}

    def __eq__(self, other):
        return isinstance(other, Event) and self.to_wire() == other.to_wire()

    def __repr__(self):
        return "Event(%s %s user=%s ip=%s)" % (self.event, self.server, self.user, self.ip)


class _EventQueue:
    """The events a process made and the supervisor has not confirmed yet: what both
    senders share (the gevent one and the asyncio one), bounded to ``max_queued``."""

    BATCH_EVENTS = 500
    BATCH_BYTES = 1024 * 1024
    TIMEOUT = 10.0
    RETRY_INITIAL = 0.5
    RETRY_MAX = 10.0

    def __init__(self, max_queued):
        self.max_queued = max_queued
        self._queue = collections.deque()
        self._overflowing = False
        self._failures = 0

    def send(self, server, event, metadata=None, user=None, ip=None):
        """Record that ``user`` (a UUID, or None for the system) from ``ip`` caused ``event``
        on ``server`` now. An invalid event is logged and dropped."""
        try:
            item = Event.new(server, event, metadata, user, ip)
        except InvalidEvent as e:
            log.warning("activity %s on %s not recorded: %s", event, server, e)
            return
        self._queue.append(item)
        if len(self._queue) > self.max_queued:
            self._queue.popleft()
            if not self._overflowing:
                self._overflowing = True
                log.warning("more than %d activity events wait for the supervisor; dropping "
                            "the oldest", self.max_queued)
        self._woken()

    def _woken(self):
        raise NotImplementedError

    def _take_batch(self):
        batch, size = [], 0
        while self._queue and len(batch) < self.BATCH_EVENTS and size < self.BATCH_BYTES:
            item = self._queue.popleft()
            size += 200 + len(item.metadata_json)
            batch.append(item)
        return batch

    @staticmethod
    def _request(batch):
        return {"events": [e.to_wire() for e in batch]}

    def _not_stored(self, batch, error):
        """Put a batch the supervisor did not confirm back; the pause before the retry."""
        self._queue.extendleft(reversed(batch))
        self._failures += 1
        delay = min(self.RETRY_MAX, self.RETRY_INITIAL * 2 ** (self._failures - 1))
        log.warning("%d activity events not stored yet (%s); retrying in %.1fs",
                    len(self._queue), error.detail or error.public_message, delay)
        return delay

    def _answered(self, batch, error=None):
        if error is not None:
            # a refusal, not a busy supervisor: the same batch would be refused again
            log.error("the supervisor refused %d activity events: %s", len(batch),
                      error.detail or error.public_message)
        self._failures = 0
        if len(self._queue) < self.max_queued // 2:
            self._overflowing = False


# the supervisor is busy or restarting: the batch is offered again
_RETRIED = (errors.BusTimeout, errors.StoreUnavailable)


class Sender(_EventQueue):
    """Hands this process's events to the supervisor, in order, each until it is stored.

    ``send`` never blocks and never fails the action it records: events queue here and one
    greenlet passes them on in batches. A batch the supervisor did not confirm (it was busy,
    or is being restarted) is offered again after a pause; the event ids make a repeat
    harmless. What the supervisor refuses as invalid is logged (there) and never retried. Past
    ``max_queued`` waiting events the oldest are dropped, with one warning per episode.

    Args:
        client: a ``wingspan.bus.BusClient`` connected to the supervisor's control endpoint.
    """

    def __init__(self, client, max_queued=100000):
        super().__init__(max_queued)
        self._client = client
        self._wake = gevent.event.Event()
        self._idle = gevent.event.Event()
        self._idle.set()
        self._flusher = gevent.spawn(self._flush_forever)

    def _woken(self):
        self._idle.clear()
        self._wake.set()

    def flush(self, timeout=None):
        """Wait until every event sent so far is stored; False if ``timeout`` passed first."""
        return self._idle.wait(timeout)

    def close(self):
        self._flusher.kill()

    def _flush_forever(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._take_batch()
                try:
                    self._client.call(commands.RECORD_ACTIVITY, None, self._request(batch),
                                      timeout=self.TIMEOUT)
                except _RETRIED as e:
                    gevent.sleep(self._not_stored(batch, e))
                    continue
                except errors.WingspanError as e:
                    self._answered(batch, e)
                    continue
                self._answered(batch)
            self._idle.set()


class AsyncSender(_EventQueue):
    """:class:`Sender` for a process that runs an asyncio loop (the SFTP process).

    Args:
        client: a ``wingspan.aiobus.AsyncBusClient``.
    """

    def __init__(self, client, max_queued=100000):
        super().__init__(max_queued)
        self._client = client
        self._wake = asyncio.Event()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    def _woken(self):
        self._wake.set()

    def close(self):
        self._flusher.cancel()

    async def _flush_forever(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._take_batch()
                try:
                    await self._client.call(commands.RECORD_ACTIVITY, None, self._request(batch),
                                            timeout=self.TIMEOUT)
                except _RETRIED as e:
                    await asyncio.sleep(self._not_stored(batch, e))
                    continue
                except errors.WingspanError as e:
                    self._answered(batch, e)
                    continue
                self._answered(batch)
