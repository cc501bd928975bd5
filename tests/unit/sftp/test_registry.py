"""The SFTP process's view of the servers: its quota arithmetic and which logins end on
which events (wings-api.md §16 deauthorize-user; peers.md advisories #9, #12, #18)."""

import asyncio
import uuid as uuidlib

from sftp.registry import LiveQuota, Registry
from wingspan.config import Config
from wingspan.server_config import ServerDefinition

MIB = 1024 * 1024


class Feed:
    def __init__(self):
        self.topics = []

    def subscribe(self, topic):
        self.topics.append(topic)

    def __aiter__(self):
        return self

    async def __anext__(self):  # no event comes
        raise StopAsyncIteration


class FakeLogin:
    def __init__(self, user, server):
        self.user = user
        self.server = server
        self.closed = False

    def close(self):
        self.closed = True


def server_doc(uuid, suspended=False, disk=10):
    return {"uuid": uuid, "settings": {"uuid": uuid, "suspended": suspended,
                                       "build": {"disk_space": disk}},
            "process_configuration": {}}


def registry_with(*uuids):
    registry = Registry(Config(), client=None, feed=Feed())
    for uuid in uuids:
        registry.add(server_doc(uuid))
    return registry


def test_live_quota_counts_the_workers_figure_and_what_is_not_reported_yet():
    quota = LiveQuota(MIB)
    quota.set_usage(MIB // 2)
    assert quota.can_fit(MIB // 2)
    quota.add(MIB // 4)
    assert quota.usage == 3 * MIB // 4
    assert not quota.can_fit(MIB // 2)
    quota.add(-MIB)
    assert quota.can_fit(MIB)
    assert not LiveQuota(-1).can_fit(1)
    assert LiveQuota(0).can_fit(10 ** 15)


def test_servers_add_no_subscription_of_their_own():
    """Three events of every server, however many servers: each subscription is held by
    every worker's publisher (wingspan.envelope.topic)."""
    registry = registry_with(*(str(uuidlib.uuid4()) for _ in range(5)))
    assert registry.feed.topics == []
    asyncio.run(registry.follow())
    assert sorted(registry.feed.topics) == sorted(
        [b"server.definition.", b"server.flags.", b"server.deleted.", b"daemon.deauthorize"])


def test_deauthorize_closes_that_users_logins_on_the_named_servers():
    a, b = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    registry = registry_with(a, b)
    user, other = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    logins = [FakeLogin(user, registry.servers[a]), FakeLogin(user, registry.servers[b]),
              FakeLogin(other, registry.servers[a])]
    registry.logins.update(logins)
    registry.apply_event(None, "deauthorize", {"user": user, "servers": [a]})
    assert [login.closed for login in logins] == [True, False, False]
    registry.apply_event(None, "deauthorize", {"user": user, "servers": []})
    assert [login.closed for login in logins] == [True, True, False]


def test_malformed_deauthorize_events_close_nothing():
    a = str(uuidlib.uuid4())
    registry = registry_with(a)
    login = FakeLogin(str(uuidlib.uuid4()), registry.servers[a])
    registry.logins.add(login)
    for data in (None, [], {"servers": [a]}, {"user": 7}, "x"):
        registry.apply_event(None, "deauthorize", data)
    assert not login.closed


def test_suspension_and_deletion_close_the_servers_logins():
    a, b = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    registry = registry_with(a, b)
    on_a = FakeLogin("u", registry.servers[a])
    on_b = FakeLogin("u", registry.servers[b])
    registry.logins.update([on_a, on_b])
    registry.apply_event(a, "definition", ServerDefinition.from_panel(
        server_doc(a, suspended=True)).to_panel_doc())
    assert on_a.closed and not on_b.closed
    registry.apply_event(b, "deleted", None)
    assert on_b.closed
    assert b not in registry.servers


def test_a_restore_counts_as_suspension():
    a = str(uuidlib.uuid4())
    registry = registry_with(a)
    login = FakeLogin("u", registry.servers[a])
    registry.logins.add(login)
    registry.apply_event(a, "flags", {"restoring": True})
    assert login.closed
