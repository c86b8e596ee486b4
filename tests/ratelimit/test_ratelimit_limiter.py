"""The keyed GCRA limiter: exact behaviour by hand, and the issue's properties by hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_ratelimit import arrivals, bursts, costs, int_bursts, rates, shuffled_clock

from rtcsignal.ratelimit import ALLOWED, RETRY_AFTER_RESOLUTION, Decision, Limiter
from rtcsignal.ratelimit._limiter import EVICT_FRACTION, ROUNDING_SLACK, SWEEP_MIN_INSERTS

# Allowed float error on the window bound: the documented slack plus round-off.
BOUND_SLACK = ROUNDING_SLACK + 1e-6


# ------------------------------------------------------------------ by hand


def test_burst_then_one_per_interval() -> None:
    lim = Limiter(rate=2, burst=3)
    assert [lim.check("k", 10.0).allowed for _ in range(4)] == [True, True, True, False]
    denied = lim.check("k", 10.0)
    assert denied == Decision(allowed=False, retry_after=0.5)
    assert not lim.check("k", 10.499).allowed
    assert lim.check("k", 10.5) is ALLOWED
    assert not lim.check("k", 10.5).allowed


def test_allowed_decision_is_the_shared_singleton() -> None:
    lim = Limiter(rate=1, burst=1)
    assert lim.check("a", 0.0) is ALLOWED
    assert lim.peek("b", 0.0) is ALLOWED
    assert ALLOWED.retry_after == 0.0


def test_keys_are_independent() -> None:
    lim = Limiter(rate=1, burst=1)
    assert lim.check("a", 0.0).allowed
    assert not lim.check("a", 0.0).allowed
    assert lim.check("b", 0.0).allowed
    assert len(lim) == 2


def test_cost_spends_several_units() -> None:
    lim = Limiter(rate=1, burst=5)
    assert lim.check("k", 0.0, cost=3).allowed
    assert not lim.check("k", 0.0, cost=3).allowed
    assert lim.check("k", 0.0, cost=2).allowed
    assert lim.check("k", 3.0, cost=3).allowed


def test_a_denied_request_charges_nothing() -> None:
    lim = Limiter(rate=1, burst=2)
    lim.check("k", 0.0)
    lim.check("k", 0.0)
    for _ in range(100):
        assert not lim.check("k", 0.0).allowed
    assert lim.check("k", 1.0).allowed


def test_cost_above_burst_can_never_pass() -> None:
    lim = Limiter(rate=1, burst=2)
    assert lim.check("k", 0.0, cost=3) == Decision(allowed=False, retry_after=math.inf)
    assert lim.peek("k", 0.0, cost=3).retry_after == math.inf
    assert len(lim) == 0
    lim.check("k", 0.0)
    assert lim.check("k", 50.0, cost=3).retry_after == math.inf


@pytest.mark.parametrize("cost", [0, -1, math.nan])
def test_non_positive_cost_is_refused(cost: float) -> None:
    lim = Limiter(rate=1, burst=1)
    for call in (lim.check, lim.peek, lim.charge):
        with pytest.raises(ValueError, match="cost"):
            call("k", 0.0, cost)


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys", "error"),
    [
        (0, 1, 10, ValueError),
        (-1, 1, 10, ValueError),
        (math.inf, 1, 10, ValueError),
        (math.nan, 1, 10, ValueError),
        (1, 0.5, 10, ValueError),
        (1, math.inf, 10, ValueError),
        (1, 1, 0, ValueError),
        (1, 1, 2.5, ValueError),
        (1, 1, True, ValueError),
        ("1", 1, 10, TypeError),
        (1, None, 10, TypeError),
        (True, 1, 10, TypeError),
    ],
)
def test_construction_is_validated(
    rate: object, burst: object, max_keys: object, error: type
) -> None:
    with pytest.raises(error):
        Limiter(rate, burst, max_keys)  # type: ignore[arg-type]


def test_peek_does_not_charge_and_charge_does() -> None:
    lim = Limiter(rate=1, burst=2)
    for _ in range(5):
        assert lim.peek("k", 0.0).allowed
    assert len(lim) == 0
    lim.charge("k", 0.0)
    lim.charge("k", 0.0)
    assert lim.peek("k", 0.0) == Decision(allowed=False, retry_after=1.0)
    lim.charge("k", 0.0)  # charging past the burst delays recovery
    assert lim.peek("k", 1.0).retry_after == 1.0
    assert lim.check("k", 2.0).allowed


def test_forget_restores_the_full_burst() -> None:
    lim = Limiter(rate=1, burst=1)
    lim.check("k", 0.0)
    lim.forget("k")
    lim.forget("k")
    assert lim.check("k", 0.0).allowed


def test_retry_after_is_rounded_up_to_the_millisecond() -> None:
    lim = Limiter(rate=3, burst=1)
    lim.check("k", 0.0)
    wait = lim.check("k", 0.0).retry_after
    assert wait == pytest.approx(0.334)
    assert lim.check("k", wait).allowed


def test_the_last_of_a_burst_is_not_lost_to_float_round_off() -> None:
    # 20 additions of 0.2 s exceed 4.0 s in binary floating point
    lim = Limiter(rate=5, burst=20)
    assert all(lim.check("k", 1_000.0).allowed for _ in range(20))
    assert not lim.check("k", 1_000.0).allowed


def test_backwards_clock_counts_as_no_time_passing() -> None:
    lim = Limiter(rate=1, burst=1)
    assert lim.check("k", 100.0).allowed
    assert not lim.check("k", 0.0).allowed  # not "100 s of credit", not "100 s of debt"
    assert lim.check("k", 0.0).retry_after == 1.0
    assert lim.check("k", 101.0).allowed


def test_recovered_keys_are_swept() -> None:
    lim = Limiter(rate=1, burst=2)
    for i in range(10):
        lim.check(i, 0.0)
    lim.check("slow", 0.0, cost=2)
    assert lim.sweep(1.5) == 10
    assert len(lim) == 1
    assert lim.sweep(2.0) == 1
    assert len(lim) == 0


def test_sweeps_run_by_themselves() -> None:
    lim = Limiter(rate=10, burst=1, max_keys=10 * SWEEP_MIN_INSERTS)
    for i in range(3 * SWEEP_MIN_INSERTS):
        lim.check(i, float(i))  # each key recovers 0.1 s after its use
    assert len(lim) < 2 * SWEEP_MIN_INSERTS


def test_the_cap_evicts_the_least_recently_used() -> None:
    lim = Limiter(rate=1, burst=1, max_keys=32)
    for i in range(32):
        assert lim.check(i, 0.0).allowed
    assert not lim.check(0, 0.0).allowed  # touching key 0 makes it the most recent
    lim.check("new", 0.0)
    assert len(lim) == 32 - 32 // EVICT_FRACTION + 1
    assert not lim.check(0, 0.0).allowed, "the recently used key was kept"
    assert lim.check(1, 0.0).allowed, "the least recently used key was evicted"


@given(
    st.lists(
        st.tuples(st.sampled_from(["check", "charge", "peek", "forget"]), st.integers(0, 5)),
        max_size=60,
    )
)
def test_recency_order_is_exact_lru(ops: list[tuple[str, int]]) -> None:
    """Every check (allowed or denied) and charge makes its key the most recent; peek
    does not; forget removes it. The limiter's order is what eviction relies on."""
    lim = Limiter(rate=1, burst=3, max_keys=1000)
    model: list[int] = []
    for op, key in ops:
        getattr(lim, op)(key, 0.0) if op != "forget" else lim.forget(key)
        if op in ("check", "charge"):
            if key in model:
                model.remove(key)
            if op == "charge" or key in lim._tat:
                model.append(key)
        elif op == "forget" and key in model:
            model.remove(key)
    assert list(lim._tat) == model


@given(
    rate=rates,
    burst=bursts,
    ops=st.lists(
        st.tuples(
            st.sampled_from(["check", "check", "check", "peek", "charge", "forget"]),
            st.integers(0, 2),
            st.one_of(st.sampled_from([0.0, 1e-7, 3e-4, 1e-3]), st.floats(0, 0.05)),
            st.sampled_from([1, 1, 1, 2, 0.5]),
        ),
        max_size=200,
    ),
)
def test_flood_shortcut_decides_exactly_as_the_full_path(
    rate: float, burst: float, ops: list[tuple[str, int, float, float]]
) -> None:
    """A repeated denial is answered from the last one while nothing changed; it must be
    the very decision (and retry_after) the full computation gives, and the state after
    every step must be the same."""
    fast, full = Limiter(rate, burst), Limiter(rate, burst)
    now = 1_000.0
    for op, key, dt, cost in ops:
        now += dt
        full._flood_until = -math.inf  # never take the shortcut
        if op == "forget":
            fast.forget(key), full.forget(key)
        elif op == "charge":
            fast.charge(key, now, cost), full.charge(key, now, cost)
        else:
            a, b = getattr(fast, op)(key, now, cost), getattr(full, op)(key, now, cost)
            assert (a.allowed, a.retry_after) == (b.allowed, b.retry_after)
        assert list(fast._tat.items()) == list(full._tat.items())


def test_a_flood_is_answered_by_the_shortcut_until_the_key_recovers() -> None:
    fast, full = Limiter(rate=10, burst=2), Limiter(rate=10, burst=2)
    now, hits = 5.0, 0
    for _ in range(30_000):  # 0.3 s of a flood at 100k/s: crosses 300 ms steps
        shortcut = now < fast._flood_until
        full._flood_until = -math.inf
        a, b = fast.check("hot", now), full.check("hot", now)
        assert (a.allowed, a.retry_after) == (b.allowed, b.retry_after)
        hits += shortcut
        now += 1e-5
    assert hits > 25_000  # most of a flood takes the shortcut
    assert fast.check("hot", now + 1).allowed  # and it ends when the key recovers


def test_the_cap_prefers_recovered_keys() -> None:
    lim = Limiter(rate=1, burst=1, max_keys=4)
    lim.check("old", 0.0)
    lim.check("a", 5.0)
    lim.check("b", 5.0)
    lim.check("c", 5.0)
    lim.check("d", 5.0)  # at the cap: "old" recovered at 1.0 and is swept first
    assert len(lim) == 4
    for key in "abcd":
        assert not lim.check(key, 5.0).allowed


def test_repr_names_the_parameters() -> None:
    assert repr(Limiter(rate=2, burst=3, max_keys=7)) == "Limiter(rate=2.0, burst=3.0, max_keys=7)"


# ------------------------------------------------------------------ properties


@given(rate=rates, burst=bursts, data=st.data())
def test_at_most_burst_plus_rate_times_window_are_admitted(
    rate: float, burst: float, data: st.DataObject
) -> None:
    lim = Limiter(rate=rate, burst=burst)
    times = data.draw(arrivals(rate))
    sizes = data.draw(st.lists(costs, min_size=len(times), max_size=len(times)))
    admitted = [
        (t, c)
        for t, c in zip(times, sizes, strict=True)
        if c <= burst and lim.check("k", t, c).allowed
    ]
    for i, (start, _) in enumerate(admitted):
        spent = 0.0
        for end, cost in admitted[i:]:
            spent += cost
            assert spent <= burst + rate * (end - start) + BOUND_SLACK, (start, end, spent)


@given(rate=rates, burst=bursts, data=st.data())
def test_requests_spaced_one_interval_apart_are_never_denied(
    rate: float, burst: float, data: st.DataObject
) -> None:
    lim = Limiter(rate=rate, burst=burst)
    now = data.draw(st.sampled_from([0.0, 7.0, 86_400.0]))
    extra = st.floats(min_value=0, max_value=2 / rate, allow_nan=False)
    for _ in range(data.draw(st.integers(min_value=1, max_value=100))):
        assert lim.check("k", now).allowed, now
        now += 1 / rate + data.draw(extra)


@given(
    max_keys=st.integers(min_value=1, max_value=64),
    stream=st.lists(
        st.tuples(st.integers(min_value=0, max_value=500), st.floats(0, 0.2)), max_size=400
    ),
)
def test_memory_stays_under_the_key_cap(max_keys: int, stream: list[tuple[int, float]]) -> None:
    lim = Limiter(rate=1, burst=2, max_keys=max_keys)
    now = 0.0
    for i, (key, step) in enumerate(stream):
        now += step
        if i % 3 == 2:
            lim.charge(key, now)
        else:
            lim.check(key, now)
        assert len(lim) <= max_keys


@given(rate=rates, burst=int_bursts, data=st.data())
def test_a_backwards_clock_never_grants_extra(
    rate: float, burst: float, data: st.DataObject
) -> None:
    times = data.draw(shuffled_clock(rate))
    stepped = Limiter(rate=rate, burst=burst)
    monotonic = Limiter(rate=rate, burst=burst)
    high = -math.inf
    allowed = 0
    for t in times:
        high = max(high, t)
        got = stepped.check("k", t)
        assert got == monotonic.check("k", high), "a step back is no time passing"
        allowed += got.allowed
    assert allowed <= burst + rate * (max(times) - min(times)) + BOUND_SLACK


@given(rate=rates, burst=bursts, data=st.data())
def test_waiting_exactly_retry_after_is_admitted(
    rate: float, burst: float, data: st.DataObject
) -> None:
    lim = Limiter(rate=rate, burst=burst)
    times = data.draw(arrivals(rate, max_size=60))
    cost = data.draw(costs.filter(lambda c: c <= burst))
    for t in times:
        decision = lim.check("k", t, cost)
        if decision.allowed:
            assert decision.retry_after == 0.0
            continue
        wait = decision.retry_after
        assert wait > 0
        ms = wait / RETRY_AFTER_RESOLUTION
        assert abs(ms - round(ms)) < 1e-6, "a whole number of milliseconds"
        assert not lim.peek("k", t + wait - 1.1 * RETRY_AFTER_RESOLUTION, cost).allowed
        assert lim.peek("k", t + wait, cost).allowed
        assert lim.check("k", t + wait, cost).allowed
        return


@given(rate=rates, burst=bursts, data=st.data())
def test_peek_predicts_check(rate: float, burst: float, data: st.DataObject) -> None:
    lim = Limiter(rate=rate, burst=burst)
    for t in data.draw(arrivals(rate, max_size=60)):
        key = data.draw(st.sampled_from("ab"))
        predicted = lim.peek(key, t)
        assert lim.check(key, t) == predicted
