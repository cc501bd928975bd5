"""The servers as the SFTP process knows them, their disk quotas and the live logins.

Like the API process (``api/registry.py``) it starts from the supervisor's server list and
follows the workers' ``definition``, ``flags`` and ``deleted`` events, subscribed per
server so that no console or stats flood reaches it. A login whose authority ends (server
deleted or suspended, ``daemon.deauthorize`` for its user) is closed here.
"""

import asyncio
import logging
import time

from wingspan import commands, envelope, errors
from wingspan.filesystem import Quota
from wingspan.server_config import ServerDefinition
from wingspan.server_status import ServerStatus

log = logging.getLogger(__name__)

FOLLOWED_EVENTS = ("definition", "flags", "deleted")
DEAUTHORIZE_TOPIC = envelope.topic(None, "deauthorize")
USAGE_TIMEOUT = 5.0
# How stale the worker's usage figure may be when a write is checked against it; the bytes
# this process wrote since are counted on top, so only other writers' bytes can lag.
USAGE_REFRESH = 1.0


class LiveQuota(Quota):
    """A server's quota in this process: the worker's usage figure (it owns it) plus what
    this process changed and has not reported to the worker yet."""

    def __init__(self, limit_bytes=0):
        super().__init__(limit_bytes)
        self.worker_usage = 0
        self.pending = 0
        self.fetched_at = None

    @property
    def usage(self):
        return self.worker_usage + self.pending

    @usage.setter
    def usage(self, value):
        # Quota.__init__ assigns it; the figure is the worker's
        self.worker_usage = value

    def add(self, size):
        self.pending += size

    def set_usage(self, usage):
        self.worker_usage = max(0, usage)


class ServerEntry(ServerStatus):
    def __init__(self, definition):
        super().__init__(definition)
        self.quota = LiveQuota(definition.disk_limit_bytes())
        self.handles = 0

    def redefine(self, definition):
        self.definition = definition
        self.quota.limit = definition.disk_limit_bytes()


class Registry:
    """Every server of the node by uuid, and the logins bound to them."""

    def __init__(self, cfg, client, feed):
        self.cfg = cfg
        self.client = client
        self.feed = feed
        self.servers = {}
        self.logins = set()
        self._refreshing = {}

    async def load(self):
        """The server list from the supervisor, waiting until it answers."""
        while True:
            try:
                listing = await self.client.call(commands.LIST_SERVERS, timeout=5.0)
                break
            except errors.WingspanError as e:
                log.warning("waiting for the supervisor: %s", e)
                await asyncio.sleep(0.5)
        for summary in listing["servers"]:
            self.add(summary["definition"])

    def add(self, doc):
        definition = ServerDefinition.from_panel(doc, self.cfg.system.crash_detection.enabled)
        entry = self.servers.get(definition.uuid)
        if entry is None:
            entry = self.servers[definition.uuid] = ServerEntry(definition)
        else:
            entry.redefine(definition)
        return entry

    async def find(self, uuid):
        """The server ``uuid``; one this process has not heard of yet (created since it
        started) is looked up in the supervisor's list. None when the node has no such
        server."""
        entry = self.servers.get(uuid)
        if entry is not None:
            return entry
        try:
            listing = await self.client.call(commands.LIST_SERVERS, timeout=5.0)
        except errors.WingspanError as e:
            log.warning("could not ask the supervisor for server %s: %s", uuid, e)
            return None
        for summary in listing["servers"]:
            if summary["uuid"] == uuid:
                return self.add(summary["definition"])
        return None

    # -- events -------------------------------------------------------------------------

    async def follow(self):
        for name in FOLLOWED_EVENTS:
            self.feed.subscribe(envelope.every_server(name))
        self.feed.subscribe(DEAUTHORIZE_TOPIC)
        async for uuid, name, data in self.feed:
            try:
                self.apply_event(uuid, name, data)
            except errors.WingspanError as e:
                log.warning("ignoring a %s event of %s: %s", name, uuid, e.detail)

    def apply_event(self, uuid, name, data):
        if name == "deauthorize" and uuid is None:
            self.deauthorize(data)
            return
        entry = self.servers.get(uuid)
        if entry is None:
            return
        if name == "definition":
            entry.redefine(ServerDefinition.from_panel(
                data, self.cfg.system.crash_detection.enabled))
        elif name == "flags" and isinstance(data, dict):
            entry.restoring = bool(data.get("restoring", entry.restoring))
        elif name == "deleted":
            del self.servers[uuid]
            self._close(lambda login: login.server is entry, "the server was deleted")
            return
        if entry.suspended:
            self._close(lambda login: login.server is entry, "the server is suspended")

    def deauthorize(self, data):
        """``{"user", "servers": [...]}`` (wings-api.md §16): that user's logins to those
        servers (to every server when the list is empty) end."""
        if not isinstance(data, dict) or not isinstance(data.get("user"), str):
            log.warning("ignoring a malformed deauthorize event: %r", data)
            return
        servers = data.get("servers") or []
        servers = set(servers) if isinstance(servers, list) else set()
        self._close(lambda login: login.user == data["user"]
                    and (not servers or login.server.uuid in servers),
                    "the user was deauthorized")

    def _close(self, matches, reason):
        for login in [login for login in self.logins if matches(login)]:
            log.info("closing the SFTP connection of %s to %s: %s", login.user,
                     login.server.uuid, reason)
            login.close()

    # -- logins -------------------------------------------------------------------------

    def logins_of(self, user):
        return sum(1 for login in self.logins if login.user == user)

    # -- disk usage ---------------------------------------------------------------------

    async def fresh_quota(self, entry):
        """The server's quota with the worker's usage at most ``USAGE_REFRESH`` old (no
        worker to ask: the last figure stands)."""
        quota = entry.quota
        if quota.limit == 0:
            return quota
        now = time.monotonic()
        if quota.fetched_at is not None and now - quota.fetched_at < USAGE_REFRESH:
            return quota
        task = self._refreshing.get(entry.uuid)
        if task is None:
            task = self._refreshing[entry.uuid] = asyncio.ensure_future(self._fetch(entry))
            task.add_done_callback(lambda _: self._refreshing.pop(entry.uuid, None))
        await asyncio.shield(task)
        return quota

    async def _fetch(self, entry):
        try:
            answer = await self.client.call(commands.DISK_USAGE, entry.uuid,
                                            timeout=USAGE_TIMEOUT)
        except errors.WingspanError as e:
            log.warning("no disk usage from the worker of %s: %s", entry.uuid, e)
            return
        entry.quota.set_usage(int(answer.get("usage") or 0))
        entry.quota.fetched_at = time.monotonic()

    async def report_forever(self):
        """A long upload's bytes reach the worker while it runs, not only at its close: the
        API process checks its own writes against the worker's figure."""
        while True:
            await asyncio.sleep(USAGE_REFRESH)
            for entry in list(self.servers.values()):
                if entry.quota.pending:
                    await self.report_usage(entry)

    async def report_usage(self, entry):
        """Hand the bytes changed here over to the worker, which owns the figure."""
        quota = entry.quota
        delta = quota.pending
        if not delta:
            return
        quota.pending -= delta
        quota.worker_usage += delta
        try:
            await self.client.call(commands.DISK_ADJUST, entry.uuid, {"delta": delta},
                                   timeout=USAGE_TIMEOUT)
        except errors.WingspanError as e:
            # the worker's next walk corrects its figure
            log.warning("disk usage change of %s not reported: %s", entry.uuid, e)
