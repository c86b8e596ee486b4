"""Hypothesis strategies for the rate limiter: rates, bursts, arrival sequences, messages."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from rtcsignal.ratelimit import KindLimit, LimitSpec, OnDeny, RatePolicy

# Rates from one per minute to a thousand per second: the span of every default.
rates = st.floats(min_value=1 / 60, max_value=1_000, allow_nan=False, allow_infinity=False)
bursts = st.floats(min_value=1, max_value=50, allow_nan=False, allow_infinity=False)
int_bursts = st.integers(min_value=1, max_value=50).map(float)
costs = st.sampled_from([1.0, 1.0, 1.0, 0.5, 2.0, 3.0])
# a monotonic clock's start: a fresh process, hours of uptime, a month of uptime
starts = st.sampled_from([0.0, 1.0, 3_600.0, 2_592_000.0])


@st.composite
def gaps(draw: st.DrawFn, rate: float) -> float:
    """Gaps between arrivals, biased to the scale of the emission interval ``1 / rate``:
    zero (simultaneous), a fraction of it, about it, or several of it."""
    interval = 1 / rate
    scale = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0]))
    if scale == 0.0:
        return 0.0
    return draw(st.floats(min_value=0, max_value=scale * interval, allow_nan=False))


@st.composite
def arrivals(
    draw: st.DrawFn, rate: float, *, min_size: int = 1, max_size: int = 120
) -> list[float]:
    """A nondecreasing sequence of arrival times."""
    now = draw(starts)
    times = []
    for _ in range(draw(st.integers(min_value=min_size, max_value=max_size))):
        now += draw(gaps(rate))
        times.append(now)
    return times


@st.composite
def shuffled_clock(draw: st.DrawFn, rate: float) -> list[float]:
    """Arrival times from a clock that may step backwards (by up to an hour) and forwards."""
    now = draw(starts) + 3_600.0
    times = []
    for _ in range(draw(st.integers(min_value=1, max_value=80))):
        step = draw(
            st.one_of(
                gaps(rate),
                st.floats(min_value=-3_600.0, max_value=0.0, allow_nan=False),
            )
        )
        now += step
        times.append(now)
    return times


keys = st.sampled_from(["a", "b", "c", "d"])

KINDS: Sequence[str] = ("chat", "typing", "offer", "join", "call_invite", "stats", "other")
USERS: Sequence[str | None] = ("u1", "u2", None)
ADDRESSES: Sequence[str | None] = ("10.0.0.1", "10.0.0.2", None)
ROOMS: Sequence[str | None] = ("r1", "r2", None)
CONNECTIONS: Sequence[str] = ("c1", "c2", "c3")


def small_policy(
    *,
    connection: LimitSpec,
    user: LimitSpec,
    address: LimitSpec,
    room: LimitSpec,
    strikes: int = 5,
    strike_window: float = 2.0,
    max_keys: int = 1_000,
) -> RatePolicy:
    """A policy with tight limits on a few kinds, every ``per`` and ``on_deny`` exercised."""
    return RatePolicy(
        connection=connection,
        user=user,
        address=address,
        room=room,
        kinds={
            "chat": KindLimit(limit=LimitSpec(rate=1, burst=3), per="user"),
            "typing": KindLimit(limit=LimitSpec(rate=2, burst=2), on_deny=OnDeny.DROP),
            "offer": KindLimit(limit=LimitSpec(rate=5, burst=4), cost=2),
            "join": KindLimit(limit=LimitSpec(rate=1, burst=2), per="address"),
            "call_invite": KindLimit(limit=LimitSpec(rate=0.5, burst=2), per="room"),
            "stats": KindLimit(limit=None),
        },
        default_kind=KindLimit(limit=LimitSpec(rate=3, burst=5)),
        strikes=strikes,
        strike_window=strike_window,
        max_keys=max_keys,
    )


shared_limits = st.builds(
    LimitSpec,
    rate=st.sampled_from([2.0, 5.0, 20.0]),
    burst=st.sampled_from([4.0, 8.0, 30.0]),
)


@st.composite
def policies(draw: st.DrawFn) -> RatePolicy:
    """Small policies whose shared ceilings are tight enough to deny sometimes."""
    return small_policy(
        connection=draw(shared_limits),
        user=draw(shared_limits),
        address=draw(shared_limits),
        room=draw(shared_limits),
        strikes=draw(st.integers(min_value=1, max_value=6)),
        strike_window=draw(st.sampled_from([0.5, 2.0, 10.0])),
    )


@st.composite
def messages(draw: st.DrawFn) -> dict[str, object]:
    """The keyword arguments of one :meth:`InboundLimiter.check` call (without ``now``)."""
    return {
        "kind": draw(st.sampled_from(KINDS)),
        "connection": draw(st.sampled_from(CONNECTIONS)),
        "user": draw(st.sampled_from(USERS)),
        "address": draw(st.sampled_from(ADDRESSES)),
        "room": draw(st.sampled_from(ROOMS)),
    }


@st.composite
def traffic(draw: st.DrawFn, *, max_size: int = 80) -> list[tuple[float, dict[str, object]]]:
    """Timed messages on a nondecreasing clock, gaps around a tenth of a second."""
    now = draw(starts)
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=max_size))):
        now += draw(st.sampled_from([0.0, 0.0, 0.01, 0.1, 0.3, 1.0, 3.0]))
        out.append((now, draw(messages())))
    return out
