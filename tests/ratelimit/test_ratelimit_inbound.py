"""The inbound check across every scope: by hand, and against a reference built from
:class:`Limiter` peek/charge calls (the fast path is inlined; the reference is not)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_ratelimit import (
    ADDRESSES,
    KINDS,
    ROOMS,
    USERS,
    gaps,
    messages,
    policies,
    small_policy,
    starts,
    traffic,
)

from rtcsignal.ratelimit import (
    CLOSE_CODE_MESSAGE_TOO_BIG,
    CLOSE_CODE_POLICY_VIOLATION,
    InboundLimiter,
    KindLimit,
    Limiter,
    LimitSpec,
    OnDeny,
    RatePolicy,
    Verdict,
)

WIDE = LimitSpec(rate=1_000, burst=1_000)


def tight(**overrides: Any) -> RatePolicy:
    """Wide shared ceilings unless overridden, the small kind table of the strategies."""
    base: dict[str, Any] = {"connection": WIDE, "user": WIDE, "address": WIDE, "room": WIDE}
    base.update(overrides)
    return small_policy(**base)


class Reference:
    """The inbound rules spelled out with one :class:`Limiter` per scope and per kind."""

    def __init__(self, policy: RatePolicy) -> None:
        self.policy = policy

        def make(spec: LimitSpec) -> Limiter:
            return Limiter(spec.rate, spec.burst, policy.max_keys)

        self.shared = {
            "connection": make(policy.connection),
            "user": make(policy.user),
            "address": make(policy.address),
            "room": make(policy.room),
        }
        self.kinds = {
            name: make(k.limit) for name, k in policy.kinds.items() if k.limit is not None
        }
        if policy.default_kind.limit is not None:
            self.kinds["\x00default"] = make(policy.default_kind.limit)
        self.strikes: dict[str, list[float]] = {}
        self.told: dict[tuple[str, str], float] = {}  # (connection, kind) -> wait until

    def forget(self, connection: str) -> None:
        self.shared["connection"].forget(connection)
        for lim in self.kinds.values():
            lim.forget(("connection", connection))
        self.strikes.pop(connection, None)
        for key in [k for k in self.told if k[0] == connection]:
            del self.told[key]

    def check(
        self, now: float, kind: str, connection: str, user: Any, address: Any, room: Any
    ) -> Verdict:
        spec = self.policy.kinds.get(kind)
        name = kind if spec is not None else "\x00default"
        spec = spec or self.policy.default_kind
        values = {"connection": connection, "user": user, "address": address, "room": room}
        checks: list[tuple[str, Limiter, object, float]] = [
            (scope, lim, values[scope], spec.cost)
            for scope, lim in self.shared.items()
            if values[scope] is not None
        ]
        if spec.limit is not None:
            value = values[spec.per]
            key = (spec.per, value) if value is not None else ("connection", connection)
            checks.append(("kind", self.kinds[name], key, 1.0))
        worst, denied_by = 0.0, None
        for scope, lim, key, cost in checks:
            decision = lim.peek(key, now, cost)
            if not decision.allowed and decision.retry_after > worst:
                worst, denied_by = decision.retry_after, scope
        if denied_by is None:
            for _, lim, key, cost in checks:
                lim.charge(key, now, cost)
            return Verdict(allowed=True, action=None, retry_after=0.0, scope=None, kind=kind)
        action = spec.on_deny if denied_by == "kind" else OnDeny.REJECT
        until = self.told.get((connection, kind))
        self.told[(connection, kind)] = max(now + worst, until or -math.inf)
        if until is not None and now < until:  # sent before the wait it was told: a strike
            strikes = self.strikes.setdefault(connection, [])
            strikes.append(now)
            recent = strikes[-self.policy.strikes :]
            if len(recent) >= self.policy.strikes and now - recent[0] <= self.policy.strike_window:
                action = OnDeny.CLOSE
        return Verdict(allowed=False, action=action, retry_after=worst, scope=denied_by, kind=kind)


# ------------------------------------------------------------------ by hand


def test_close_codes_are_rfc_6455() -> None:
    assert CLOSE_CODE_POLICY_VIOLATION == 1008
    assert CLOSE_CODE_MESSAGE_TOO_BIG == 1009


def test_allowed_verdicts_are_preallocated() -> None:
    lim = InboundLimiter(RatePolicy.default())
    first = lim.check(kind="chat", now=0.0, connection="c", user="u")
    again = lim.check(kind="chat", now=0.0, connection="c", user="u")
    assert first is again
    assert first == Verdict(allowed=True, action=None, retry_after=0.0, scope=None, kind="chat")
    unknown = lim.check(kind="brand_new", now=0.0, connection="c")
    assert unknown.kind == "brand_new"
    assert lim.check(kind="brand_new", now=0.0, connection="c") is unknown


def test_typing_flood_is_dropped_then_closed() -> None:
    lim = InboundLimiter(RatePolicy.default())
    verdicts = [lim.check(kind="typing", now=5.0, connection="c", user="u") for _ in range(40)]
    assert [v.allowed for v in verdicts[:3]] == [True] * 3
    denied = verdicts[3:]
    assert all(v.scope == "kind" and v.retry_after > 0 for v in denied)
    # the first denial tells the wait; each later one ignores it: the 30th strike closes
    assert [v.action for v in denied[:30]] == [OnDeny.DROP] * 30
    assert denied[30].action is OnDeny.CLOSE, "the 30th strike within 10 s closes"


def test_chat_is_rejected_with_retry_after_per_user() -> None:
    lim = InboundLimiter(RatePolicy.default())
    for i in range(10):
        assert lim.check(kind="chat", now=0.0, connection=f"c{i % 2}", user="u").allowed
    denied = lim.check(kind="chat", now=0.0, connection="c9", user="u")
    assert denied == Verdict(
        allowed=False, action=OnDeny.REJECT, retry_after=2.0, scope="kind", kind="chat"
    )
    assert lim.check(kind="chat", now=0.0, connection="c9", user="other").allowed
    assert lim.check(kind="chat", now=2.0, connection="c9", user="u").allowed


def test_call_invites_are_limited_per_user_across_devices() -> None:
    lim = InboundLimiter(RatePolicy.default())
    for device in ("phone", "laptop", "tablet"):
        assert lim.check(kind="call_invite", now=0.0, connection=device, user="u").allowed
    denied = lim.check(kind="call_invite", now=0.0, connection="desktop", user="u")
    assert (denied.allowed, denied.scope, denied.action) == (False, "kind", OnDeny.REJECT)
    assert denied.retry_after == pytest.approx(6.0)


def test_joins_are_limited_per_address() -> None:
    lim = InboundLimiter(RatePolicy.default())
    results = [
        lim.check(kind="join", now=0.0, connection=f"c{i}", address="198.51.100.7", room=f"r{i}")
        for i in range(21)
    ]
    assert all(v.allowed for v in results[:20])
    assert results[20].scope == "kind"
    assert lim.check(kind="join", now=0.0, connection="x", address="203.0.113.1", room="r").allowed


def test_candidate_bursts_pass() -> None:
    lim = InboundLimiter(RatePolicy.default())
    for _ in range(3):  # three peers' worth of offers, answers and 30 candidates each
        assert lim.check(kind="offer", now=1.0, connection="c", user="u", room="r").allowed
        for _ in range(30):
            assert lim.check(kind="candidate", now=1.0, connection="c", user="u", room="r").allowed


def test_a_denied_message_costs_none_of_its_other_limits() -> None:
    lim = InboundLimiter(tight(connection=LimitSpec(rate=1, burst=6), strikes=100))
    for _ in range(3):
        assert lim.check(kind="chat", now=0.0, connection="c", user="u").allowed
    for _ in range(50):  # denied by the chat limit: the connection ceiling is not charged
        assert lim.check(kind="chat", now=0.0, connection="c", user="u").scope == "kind"
    assert [lim.check(kind="ping", now=0.0, connection="c").allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_shared_ceilings_deny_as_reject_and_name_their_scope() -> None:
    for scope in ("connection", "user", "address", "room"):
        lim = InboundLimiter(tight(**{scope: LimitSpec(rate=1, burst=2)}))
        args = {"connection": "c", "user": "u", "address": "a", "room": "r"}
        assert lim.check(kind="typing", now=0.0, **args).allowed
        assert lim.check(kind="typing", now=0.0, **args).allowed
        denied = lim.check(kind="typing", now=0.0, **args)
        assert (denied.scope, denied.action, denied.retry_after) == (scope, OnDeny.REJECT, 1.0)


def test_the_longest_wait_answers() -> None:
    lim = InboundLimiter(tight(connection=LimitSpec(rate=1, burst=2), strikes=100))
    lim.check(kind="typing", now=0.0, connection="c")
    lim.check(kind="typing", now=0.0, connection="c")
    denied = lim.check(kind="typing", now=0.0, connection="c")
    # the connection ceiling needs 1 s, the typing limit (2/s) 0.5 s
    assert (denied.scope, denied.retry_after) == ("connection", 1.0)
    assert lim.check(kind="typing", now=1.0, connection="c").allowed


def test_cost_charges_the_shared_ceilings() -> None:
    lim = InboundLimiter(tight(room=LimitSpec(rate=1, burst=5)))
    assert lim.check(kind="offer", now=0.0, connection="c", room="r").allowed  # cost 2
    assert lim.check(kind="offer", now=0.0, connection="c", room="r").allowed  # 4 of 5
    denied = lim.check(kind="offer", now=0.0, connection="c", room="r")
    assert (denied.scope, denied.retry_after) == ("room", 1.0)
    assert lim.check(kind="ping", now=0.0, connection="c", room="r").allowed  # cost 1


def test_unlisted_kinds_share_the_default_bucket() -> None:
    lim = InboundLimiter(tight())
    kinds = ["ping", "leave", "mute", "media_state", "hello"]
    assert all(lim.check(kind=k, now=0.0, connection="c").allowed for k in kinds)
    denied = lim.check(kind="lock", now=0.0, connection="c")
    assert (denied.allowed, denied.scope, denied.kind) == (False, "kind", "lock")


def test_a_kind_without_limit_is_bounded_by_the_shared_ceilings_only() -> None:
    lim = InboundLimiter(tight(connection=LimitSpec(rate=1, burst=20)))
    assert all(lim.check(kind="stats", now=0.0, connection="c").allowed for _ in range(20))
    assert lim.check(kind="stats", now=0.0, connection="c").scope == "connection"


def test_a_missing_scope_value_falls_back_to_the_connection() -> None:
    lim = InboundLimiter(tight())
    for conn in ("c1", "c2"):  # chat is per user; without a user it counts per connection
        assert all(lim.check(kind="chat", now=0.0, connection=conn).allowed for _ in range(3))
        assert not lim.check(kind="chat", now=0.0, connection=conn).allowed


def test_strikes_outside_the_window_do_not_close() -> None:
    lim = InboundLimiter(tight(strikes=3, strike_window=1.0))
    now = 0.0
    for _ in range(20):  # spam until denied, every 0.6 s: never 3 strikes within 1 s
        for _ in range(3):  # the typing burst is 2: the third at the latest is denied
            verdict = lim.check(kind="typing", now=now, connection="c")
            if not verdict.allowed:
                break
        assert verdict.action is OnDeny.DROP
        now += 0.6
    now += 5.0
    assert lim.check(kind="typing", now=now, connection="c").allowed
    assert lim.check(kind="typing", now=now, connection="c").allowed
    for _ in range(3):  # the wait told, then two strikes
        assert lim.check(kind="typing", now=now, connection="c").action is OnDeny.DROP
    assert lim.check(kind="typing", now=now, connection="c").action is OnDeny.CLOSE


def test_strikes_count_denials_of_every_scope() -> None:
    lim = InboundLimiter(tight(room=LimitSpec(rate=1, burst=2), strikes=3))
    lim.check(kind="chat", now=0.0, connection="c", user="u", room="r")
    lim.check(kind="chat", now=0.0, connection="c", user="u", room="r")
    actions = [
        lim.check(kind="chat", now=0.0, connection="c", user="u", room="r").action for _ in range(4)
    ]
    assert actions == [OnDeny.REJECT, OnDeny.REJECT, OnDeny.REJECT, OnDeny.CLOSE]


def test_a_client_that_waits_retry_after_never_strikes() -> None:
    """Issue 17: one candidate in flight, retried after each retry_after, is never closed
    (before, 30 honoured waits in under a second of candidates closed it)."""
    lim = InboundLimiter(RatePolicy.default())
    now, denials = 0.0, 0
    for _ in range(2_000):
        verdict = lim.check(kind="candidate", now=now, connection="c", user="u", room="r")
        assert verdict.action is not OnDeny.CLOSE
        if not verdict.allowed:
            denials += 1
            now += verdict.retry_after  # exactly as told
    assert denials > lim.policy.strikes * 2


def test_a_retry_inside_the_wait_is_a_strike_and_one_after_it_is_not() -> None:
    lim = InboundLimiter(tight(strikes=2, strike_window=10.0))
    for _ in range(2):
        assert lim.check(kind="typing", now=0.0, connection="c").allowed
    told = lim.check(kind="typing", now=0.0, connection="c")
    assert (told.action, told.retry_after) == (OnDeny.DROP, 0.5)
    assert lim.check(kind="typing", now=0.499, connection="c").action is OnDeny.DROP  # strike 1
    assert lim.check(kind="typing", now=0.5, connection="c").allowed  # waited as told
    # a different kind was told nothing: its first denial is no strike
    lim2 = InboundLimiter(tight(strikes=1, connection=LimitSpec(rate=1, burst=2)))
    lim2.check(kind="typing", now=0.0, connection="c")
    lim2.check(kind="typing", now=0.0, connection="c")
    assert lim2.check(kind="typing", now=0.0, connection="c").action is OnDeny.REJECT
    assert lim2.check(kind="chat", now=0.0, connection="c").action is OnDeny.REJECT
    assert lim2.check(kind="chat", now=0.0, connection="c").action is OnDeny.CLOSE


def test_the_waits_told_are_bounded_per_connection() -> None:
    lim = InboundLimiter(tight(connection=LimitSpec(rate=1, burst=2), strikes=1))
    lim.check(kind="typing", now=0.0, connection="c")
    lim.check(kind="typing", now=0.0, connection="c")
    for i in range(200):  # junk kinds, each denied by the ceiling: remembered up to the cap
        assert lim.check(kind=f"k{i}", now=0.0, connection="c").action is OnDeny.REJECT
    assert len(lim._conns["c"].told or {}) == 64
    assert lim.check(kind="k0", now=0.5, connection="c").action is OnDeny.CLOSE
    assert lim.check(kind="k199", now=1.0, connection="c").allowed  # elapsed: pruned
    lim.check(kind="typing", now=1.0, connection="c")
    assert lim.check(kind="k199", now=1.0, connection="c").action is OnDeny.REJECT


def test_forget_connection_resets_its_state_but_not_shared_scopes() -> None:
    lim = InboundLimiter(tight(user=LimitSpec(rate=1, burst=4), strikes=2))
    for _ in range(2):
        lim.check(kind="typing", now=0.0, connection="c", user="u")
    assert lim.check(kind="typing", now=0.0, connection="c", user="u").action is OnDeny.DROP
    lim.forget_connection("c")
    lim.forget_connection("c")
    lim.forget_connection("never-seen")
    assert lim.check(kind="typing", now=0.0, connection="c", user="u").allowed
    assert lim.check(kind="typing", now=0.0, connection="c", user="u").allowed
    # the user ceiling (burst 4) remembers all four across the reconnect
    denied = lim.check(kind="typing", now=0.0, connection="c2", user="u")
    assert denied.scope == "user"


def test_backwards_clock_grants_nothing() -> None:
    lim = InboundLimiter(tight())
    lim.check(kind="typing", now=100.0, connection="c")
    lim.check(kind="typing", now=100.0, connection="c")
    assert not lim.check(kind="typing", now=0.0, connection="c").allowed
    assert lim.check(kind="typing", now=100.5, connection="c").allowed


def test_sweep_drops_recovered_state() -> None:
    lim = InboundLimiter(tight(strike_window=1.0))
    for i in range(10):
        lim.check(kind="join", now=0.0, connection=f"c{i}", user=f"u{i}", address=f"a{i}", room="r")
    assert lim.held_keys() > 0
    assert lim.sweep(0.0) == 0
    assert lim.sweep(100.0) > 0
    assert lim.held_keys() == 0
    lim.check(kind="typing", now=0.0, connection="c")  # a backwards clock: swept at 100
    assert lim.held_keys() == 1


def test_recent_strikes_keep_a_connection_from_being_swept() -> None:
    lim = InboundLimiter(tight(strikes=3, strike_window=10.0))
    for _ in range(5):  # two allowed, the wait told, two strikes
        lim.check(kind="typing", now=0.0, connection="c")
    assert lim.sweep(5.0) == 0
    assert lim.check(kind="typing", now=5.0, connection="c").allowed
    assert lim.check(kind="typing", now=5.0, connection="c").allowed
    assert lim.check(kind="typing", now=5.0, connection="c").action is OnDeny.DROP  # told
    assert lim.check(kind="typing", now=5.0, connection="c").action is OnDeny.CLOSE


@pytest.mark.parametrize("scope", ["connection", "user", "address", "room"])
def test_a_flood_of_distinct_keys_stays_under_the_cap(scope: str) -> None:
    max_keys = 64
    lim = InboundLimiter(tight(max_keys=max_keys))
    tables = 1 + 3 + 3  # connections; user, address, room; chat, join, call_invite
    for i in range(5_000):
        args = {"connection": "c", "user": None, "address": None, "room": None}
        args[scope] = f"k{i}"
        lim.check(kind="chat", now=i * 1e-4, **args)
        lim.check(kind="join", now=i * 1e-4, **args)
        assert lim.held_keys() <= tables * max_keys


# ------------------------------------------------------------------ properties


@given(policy=policies(), data=st.data())
def test_matches_the_reference_built_from_limiters(policy: RatePolicy, data: st.DataObject) -> None:
    fast = InboundLimiter(policy)
    ref = Reference(policy)
    for now, msg in data.draw(traffic()):
        if data.draw(st.integers(0, 30)) == 0:
            fast.forget_connection(str(msg["connection"]))
            ref.forget(str(msg["connection"]))
        got = fast.check(now=now, **msg)  # type: ignore[arg-type]
        want = ref.check(now, **msg)  # type: ignore[arg-type]
        assert got == want, (now, msg)


@given(policy=policies(), data=st.data())
def test_waiting_retry_after_passes_every_scope(policy: RatePolicy, data: st.DataObject) -> None:
    lim = InboundLimiter(policy)
    for now, msg in data.draw(traffic()):
        verdict = lim.check(now=now, **msg)  # type: ignore[arg-type]
        if not verdict.allowed:
            assert 0 < verdict.retry_after < math.inf
            later = lim.check(now=now + verdict.retry_after, **msg)  # type: ignore[arg-type]
            assert later.allowed, (verdict, later)
            return


@given(policy=policies(), data=st.data())
def test_denials_never_charge(policy: RatePolicy, data: st.DataObject) -> None:
    with_denials = InboundLimiter(policy)
    without = InboundLimiter(policy)
    for now, msg in data.draw(traffic()):
        got = with_denials.check(now=now, **msg)  # type: ignore[arg-type]
        if got.allowed:
            assert without.check(now=now, **msg).allowed  # type: ignore[arg-type]
        else:  # replaying the denied message any number of times changes nothing
            for _ in range(3):
                again = with_denials.check(now=now, **msg)  # type: ignore[arg-type]
                assert (again.allowed, again.scope, again.retry_after) == (
                    False,
                    got.scope,
                    got.retry_after,
                )
    # same allowed history: both limiters now agree on every scope
    probe = {"kind": "offer", "connection": "c1", "user": "u1", "address": "10.0.0.1"}
    assert with_denials.check(now=now, room="r1", **probe).allowed == (  # type: ignore[arg-type]
        without.check(now=now, room="r1", **probe).allowed  # type: ignore[arg-type]
    )


def test_kind_limit_validation_happens_in_the_policy() -> None:
    with pytest.raises(ValueError, match="could never be admitted"):
        RatePolicy(connection=LimitSpec(rate=1, burst=2), kinds={"x": KindLimit(cost=3)})


@given(policy=policies(), data=st.data())
def test_a_client_that_waits_every_retry_after_is_never_closed(
    policy: RatePolicy, data: st.DataObject
) -> None:
    """Arbitrary arrivals of one polite connection among others sharing its user, address
    and room: whenever it was told ``retry_after`` for a kind, it sends that kind again only
    once the wait has elapsed (sometimes exactly then). It is never closed."""
    lim = InboundLimiter(policy)
    told: dict[str, float] = {}
    now = data.draw(starts)
    for _ in range(data.draw(st.integers(min_value=1, max_value=200))):
        now += data.draw(gaps(data.draw(st.sampled_from([2.0, 20.0, 200.0]))))
        if data.draw(st.booleans()):  # someone else's traffic, charging shared scopes
            lim.check(now=now, **data.draw(messages()))  # type: ignore[arg-type]
            continue
        kind = data.draw(st.sampled_from(KINDS))
        until = told.get(kind, -math.inf)
        if until > now:
            if not data.draw(st.booleans()):
                continue  # still waiting
            now = until  # retry exactly when told
        verdict = lim.check(
            kind=kind,
            now=now,
            connection="polite",
            user=data.draw(st.sampled_from(USERS)),
            address=data.draw(st.sampled_from(ADDRESSES)),
            room=data.draw(st.sampled_from(ROOMS)),
        )
        assert verdict.action is not OnDeny.CLOSE, (now, kind, told)
        if not verdict.allowed:
            told[kind] = now + verdict.retry_after


@given(policy=policies(), data=st.data())
def test_a_client_that_ignores_retry_after_is_closed_within_strikes_plus_one_denials(
    policy: RatePolicy, data: st.DataObject
) -> None:
    """One kind sent until denied, then again and again before the wait told elapsed
    (at arbitrary instants within it and within the strike window): the first denial
    tells the wait, each later one is a strike, and the ``strikes``-th strike closes."""
    lim = InboundLimiter(policy)
    kind = data.draw(st.sampled_from(KINDS))
    scopes = {
        "connection": "rude",
        "user": data.draw(st.sampled_from(USERS)),
        "address": data.draw(st.sampled_from(ADDRESSES)),
        "room": data.draw(st.sampled_from(ROOMS)),
    }
    t0 = data.draw(starts)
    verdict = lim.check(kind=kind, now=t0, **scopes)  # type: ignore[arg-type]
    for _ in range(1_000):  # the burst, sent at once
        if not verdict.allowed:
            break
        verdict = lim.check(kind=kind, now=t0, **scopes)  # type: ignore[arg-type]
    assert not verdict.allowed
    assert verdict.action is not OnDeny.CLOSE
    # before the wait told (less its rounding) and well within the strike window
    horizon = max(0.0, min(verdict.retry_after - 0.002, policy.strike_window / 2))
    offsets = sorted(
        data.draw(
            st.lists(
                st.floats(min_value=0.0, max_value=horizon),
                min_size=policy.strikes,
                max_size=policy.strikes,
            )
        )
    )
    actions = [lim.check(kind=kind, now=t0 + u, **scopes).action for u in offsets]  # type: ignore[arg-type]
    assert actions[-1] is OnDeny.CLOSE
    assert OnDeny.CLOSE not in actions[:-1]
