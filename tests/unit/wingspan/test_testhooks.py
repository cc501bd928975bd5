"""Hold points (wingspan/testhooks.py): inert unless named in WINGSPAN_TEST_HOLDS; a held
point waits for its release."""

import gevent

from wingspan import testhooks


def test_a_point_not_switched_on_does_not_wait(monkeypatch):
    monkeypatch.setattr(testhooks, "_ACTIVE", frozenset())
    with gevent.Timeout(1):
        testhooks.hold("power.start_tail")


def test_a_held_point_waits_for_its_release(monkeypatch):
    monkeypatch.setattr(testhooks, "_ACTIVE", frozenset({"power.start_tail"}))
    holder = gevent.spawn(testhooks.hold, "power.start_tail")
    gevent.sleep(0.01)
    assert not holder.dead
    testhooks.release("other.point")
    gevent.sleep(0.01)
    assert not holder.dead
    testhooks.release("power.start_tail")
    holder.join(1)
    assert holder.dead and holder.successful()


def test_release_without_a_waiter_is_nothing(monkeypatch):
    monkeypatch.setattr(testhooks, "_ACTIVE", frozenset({"power.start_tail"}))
    testhooks.release("power.start_tail")
    holder = gevent.spawn(testhooks.hold, "power.start_tail")
    gevent.sleep(0.01)
    assert not holder.dead  # an early release is not remembered
    testhooks.release("power.start_tail")
    holder.join(1)


def test_a_planted_fault_is_taken_once(monkeypatch, tmp_path):
    monkeypatch.setattr(testhooks, "_FAULTS", str(tmp_path))
    assert not testhooks.fault_once("hang-boot-x")
    (tmp_path / "hang-boot-x").write_text("")
    assert testhooks.fault_once("hang-boot-x")
    assert not testhooks.fault_once("hang-boot-x")


def test_faults_are_off_without_their_directory(monkeypatch, tmp_path):
    (tmp_path / "hang-boot-x").write_text("")
    monkeypatch.setattr(testhooks, "_FAULTS", "")
    assert not testhooks.fault_once("hang-boot-x")
    assert (tmp_path / "hang-boot-x").exists()
