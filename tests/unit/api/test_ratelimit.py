"""Inbound websocket rate limits (wings-api.md §16, WebSocket bullet "Rate limits"): a global
bucket (burst 10, one per 200 ms), per-event buckets, one ``throttled`` notice per period."""

from api.ratelimit import Limiter


def run(limiter, event, count, now):
    return [limiter.allow(event, now) for _ in range(count)]


def allowed(results):
    return sum(1 for ok, _ in results if ok)


def test_global_burst_of_ten_then_one_notice():
    """§16: excess frames dropped, a single ["global"] notice per throttling period."""
    limiter = Limiter()
    results = run(limiter, None, 15, now=0.0)
    assert results[:10] == [(True, None)] * 10
    assert results[10:] == [(False, "global")] + [(False, None)] * 4


def test_global_bucket_refills_one_frame_per_200_ms():
    limiter = Limiter()
    run(limiter, None, 10, now=0.0)
    assert limiter.allow(None, 0.1) == (False, "global")
    assert limiter.allow(None, 0.2) == (True, None)
    assert limiter.allow(None, 0.2) == (False, "global")  # a new period, a new notice
    assert allowed(run(limiter, None, 20, now=10.0)) == 10  # refill stops at the burst


def test_send_stats_flood_yields_one_notice_and_fewer_replies():
    """§18 test 82: 50 `send stats` in 100 ms → one throttled notice, < 50 handled."""
    limiter = Limiter()
    results = [limiter.allow("send stats", i * 0.002) for i in range(50)]
    assert allowed(results) == 4  # the shared bucket's burst; the global one holds 10
    notices = [notice for _, notice in results if notice]
    assert notices == ["send stats", "global"]


def test_auth_burst_two_refill_one_per_five_seconds():
    limiter = Limiter()
    assert run(limiter, "auth", 3, now=0.0) == [(True, None), (True, None), (False, "auth")]
    assert limiter.allow("auth", 4.9) == (False, None)
    assert limiter.allow("auth", 5.0) == (True, None)
    assert limiter.allow("auth", 5.0) == (False, "auth")


def test_send_logs_has_its_own_bucket_of_two():
    limiter = Limiter()
    assert allowed(run(limiter, "send logs", 2, now=0.0)) == 2
    assert limiter.allow("send logs", 0.0) == (False, "send logs")
    assert limiter.allow("auth", 0.0) == (True, None)


def test_send_command_burst_ten_refill_one_per_second():
    limiter = Limiter()
    results = [limiter.allow("send command", i * 0.05) for i in range(11)]
    assert allowed(results) == 10
    assert results[10] == (False, "send command")
    assert limiter.allow("send command", 1.0) == (True, None)
    assert limiter.allow("send command", 1.0) == (False, "send command")


def test_other_events_share_one_bucket_of_four():
    limiter = Limiter()
    assert allowed([limiter.allow(e, 0.0) for e in ("send stats", "set state") * 2]) == 4
    assert limiter.allow("set state", 0.0) == (False, "set state")
    assert limiter.allow("send stats", 0.0) == (False, None)  # same bucket, same period
    assert limiter.allow("send command", 0.0) == (True, None)
    assert limiter.allow("set state", 1.0) == (True, None)


def test_unknown_event_names_share_the_default_bucket():
    limiter = Limiter()
    assert allowed([limiter.allow("x%d" % i, 0.0) for i in range(8)]) == 4


def test_a_frame_refused_globally_takes_nothing_from_its_event_bucket():
    limiter = Limiter()
    run(limiter, None, 10, now=0.0)
    assert limiter.allow("auth", 0.0) == (False, "global")
    assert run(limiter, "auth", 2, now=0.4) == [(True, None), (True, None)]


def test_the_period_ends_at_the_next_accepted_frame():
    limiter = Limiter()
    run(limiter, "auth", 2, now=0.0)
    assert [limiter.allow("auth", t)[1] for t in (1.0, 2.0, 3.0)] == ["auth", None, None]
    assert limiter.allow("auth", 5.0) == (True, None)
    assert limiter.allow("auth", 5.1) == (False, "auth")


def test_clock_is_injectable_and_a_step_back_refills_nothing():
    now = [100.0]
    limiter = Limiter(clock=lambda: now[0])
    assert allowed([limiter.allow("auth") for _ in range(3)]) == 2
    now[0] = 50.0
    assert limiter.allow("auth") == (False, None)
    now[0] = 105.0
    assert limiter.allow("auth") == (True, None)
