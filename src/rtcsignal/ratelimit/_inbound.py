"""The inbound check: every message passes the whole policy before anything else happens.

Theory of operation
-------------------
A message of kind ``k`` from connection ``c`` (user ``u``, address ``a``, about room ``r``)
passes five GCRA scopes (see ``_limiter.py`` for the algorithm):

====================  ========================================  ========================
scope                 key                                       cost
====================  ========================================  ========================
``connection``        ``c``                                     ``kinds[k].cost``
``user``              ``u`` (skipped when ``None``)             ``kinds[k].cost``
``address``           ``a`` (skipped when ``None``)             ``kinds[k].cost``
``room``              ``r`` (skipped when ``None``)             ``kinds[k].cost``
``kind``              ``(k, c | u | a | r)`` per ``kinds[k].per``  1 message
====================  ========================================  ========================

Rules:

1. **All scopes first.** Every scope is *peeked*; only if all allow are all charged. A
   denied message costs none of its other limits, so a flood of denied chat does not
   eat the connection's budget for candidates.
2. **The slowest scope answers.** A denial reports the scope with the longest wait and
   that wait (rounded up to the millisecond): waiting that long satisfies every scope,
   unless other traffic charges a shared one meanwhile.
3. **What a denial does.** A ``kind`` denial takes the kind's ``on_deny``; the shared
   ceilings deny as ``REJECT``.
4. **Strikes punish only ignored waits.** A denial tells the connection a ``retry_after``
   for that kind. A later message of the kind that
   arrives *before* that wait has elapsed ignored it: its denial is a strike. A denial of a
   message sent after the wait (other traffic charged a shared scope meanwhile) or of a
   kind not yet told anything is no strike. Waits are per kind name, not per bucket: a
   client told to wait for ``lock`` was told nothing about ``mute``, though both share
   ``default_kind``. ``strikes`` strikes within ``strike_window``
   make the action ``CLOSE`` (1008, RFC 6455 §7.4.1). So a client that always waits as
   told is never closed, and one that retries at once is closed after ``strikes + 1``
   denials. The waits told are kept per kind on the denial path only: an allowed
   message does no strike bookkeeping.
5. **Bounded memory.** A connection's state (its ceiling, its per-connection kinds, its
   strikes and the waits it was told) is one dict entry, so
   :meth:`InboundLimiter.forget_connection` is one ``pop``; the table is swept of
   recovered entries and capped at ``max_keys`` (least recently used evicted). Every
   other scope is a :class:`Limiter` with the same cap.
6. **No clock.** ``now`` is clamped to the largest value seen: a clock step backwards
   grants nothing.
"""

from __future__ import annotations

import math
from itertools import islice
from typing import Final

import attrs

from ._limiter import (
    EVICT_FRACTION,
    ROUNDING_SLACK,
    SWEEP_MIN_INSERTS,
    Limiter,
    retry_after,
)
from ._policy import KindLimit, OnDeny, RatePolicy

__all__ = [
    "CLOSE_CODE_MESSAGE_TOO_BIG",
    "CLOSE_CODE_POLICY_VIOLATION",
    "InboundLimiter",
    "Verdict",
]

CLOSE_CODE_POLICY_VIOLATION: Final = 1008
"""RFC 6455 §7.4.1: the close code for a connection closed for sustained abuse."""
CLOSE_CODE_MESSAGE_TOO_BIG: Final = 1009
"""RFC 6455 §7.4.1: the close code for a frame over ``max_frame_bytes``."""

MAX_CACHED_VERDICTS: Final = 256
"""Preallocated allowed verdicts for kinds outside the policy table: the wire has ~30
kinds; past 256 distinct strings the caller is passing junk and gets fresh objects."""

MAX_TOLD_KINDS: Final = 64
"""Kinds whose last ``retry_after`` one connection remembers: the wire has ~30 kinds (the
core checks only decoded messages), so past 64 the caller is passing junk; a kind beyond
the cap is not remembered and its denials strike nothing until waits elapse."""

_DEFAULT_KEY: Final = "\x00default"  # per-connection state key of kinds without their own limit


@attrs.frozen(kw_only=True)
class Verdict:
    """The answer of :meth:`InboundLimiter.check` and of :class:`ConnectionTracker`.

    Attributes:
        allowed: whether the message (or connection, or join) may proceed.
        action: ``None`` when allowed; else what to do: :attr:`OnDeny.DROP` (nothing,
            unless the request carries an id), :attr:`OnDeny.REJECT` (a ``rate_limited``
            error with ``retry_after``) or :attr:`OnDeny.CLOSE` (reply, then close 1008).
        retry_after: seconds until the same message would pass (``0.0`` when allowed;
            rounded up to the millisecond; ``0.0`` also for count limits, which free up
            on a release rather than with time).
        scope: which limit denied: ``"connection"``, ``"user"``, ``"address"``,
            ``"room"`` or ``"kind"`` (and ``"server"`` for the tracker's total cap).
        kind: the message kind checked (``"connect"`` / ``"join"`` for the tracker).
    """

    allowed: bool
    action: OnDeny | None
    retry_after: float
    scope: str | None
    kind: str


class _Rule:
    """A :class:`KindLimit` compiled for the hot path."""

    __slots__ = ("allowed", "cost", "interval", "key", "limiter", "on_deny", "per", "tolerance")

    def __init__(self, key: str, spec: KindLimit, max_keys: int) -> None:
        self.key = key
        self.cost = float(spec.cost)
        self.on_deny = spec.on_deny
        self.per = spec.per
        self.allowed = Verdict(allowed=True, action=None, retry_after=0.0, scope=None, kind=key)
        self.limiter: Limiter | None = None
        self.interval = 0.0  # 0: no kind limit, shared ceilings only
        self.tolerance = 0.0
        if spec.limit is not None:
            self.interval = 1.0 / spec.limit.rate
            self.tolerance = (spec.limit.burst + ROUNDING_SLACK) * self.interval
            if spec.per != "connection":
                self.limiter = Limiter(spec.limit.rate, spec.limit.burst, max_keys)


class _Conn:
    """One connection's state: its ceiling TAT, per-connection kind TATs, recent strikes,
    and per kind the instant until which its last denial told it to wait."""

    __slots__ = ("kinds", "strikes", "tat", "told")

    def __init__(self, now: float) -> None:
        self.tat = now
        self.kinds: dict[str, float] = {}
        self.strikes: list[float] | None = None
        self.told: dict[str, float] | None = None  # kind -> now + retry_after


class InboundLimiter:
    """Checks every inbound message against a :class:`RatePolicy` (pure: ``now`` injected).

    Args:
        policy: the limits.
    """

    __slots__ = (
        "_address",
        "_allowed",
        "_clock",
        "_conns",
        "_default",
        "_denied",
        "_free",
        "_interval",
        "_last_conn",
        "_room",
        "_rules",
        "_strike_window",
        "_strikes",
        "_tolerance",
        "_user",
        "policy",
    )

    def __init__(self, policy: RatePolicy) -> None:
        self.policy: Final = policy
        keys = policy.max_keys
        self._interval = 1.0 / policy.connection.rate
        self._tolerance = (policy.connection.burst + ROUNDING_SLACK) * self._interval
        self._user = Limiter(policy.user.rate, policy.user.burst, keys)
        self._address = Limiter(policy.address.rate, policy.address.burst, keys)
        self._room = Limiter(policy.room.rate, policy.room.burst, keys)
        self._rules = {name: _Rule(name, spec, keys) for name, spec in policy.kinds.items()}
        self._default = _Rule(_DEFAULT_KEY, policy.default_kind, keys)
        self._allowed: dict[str, Verdict] = {}
        self._strikes = policy.strikes
        self._strike_window = policy.strike_window
        self._conns: dict[str, _Conn] = {}  # insertion order is recency order
        self._last_conn = ""  # the connection checked last: at the end of _conns already
        self._free = min(policy.max_keys, SWEEP_MIN_INSERTS)  # new connections before upkeep
        self._denied = Verdict(
            allowed=False, action=OnDeny.REJECT, retry_after=0.0, scope=None, kind=""
        )  # the last denial, reused while a flood repeats it
        self._clock = -math.inf

    def keys(self) -> int:
        """Returns: the number of keys held: tracked connections plus the keys of every
        limiter (user, address, room, each message kind), recovering ones not yet swept.
        Bounded by :attr:`RatePolicy.max_keys` per limiter."""
        rules = [*self._rules.values(), self._default]
        limiters = [self._user, self._address, self._room]
        limiters += [rule.limiter for rule in rules if rule.limiter is not None]
        return len(self._conns) + sum(len(limiter) for limiter in limiters)

    def check(
        self,
        *,
        kind: str,
        now: float,
        connection: str,
        user: str | None = None,
        address: str | None = None,
        room: str | None = None,
        weight: int = 1,
    ) -> Verdict:
        """Check one inbound message; charge every scope only if every scope allows it.

        Args:
            kind: the wire ``type`` tag (kinds outside the policy share ``default_kind``).
            now: seconds on a monotonic clock (clamped to the largest seen).
            connection: the connection's id.
            user / address / room: the other scopes' keys; ``None`` skips that scope.
            weight: how many instances of a cluster share ``user``'s budget: the
                ``user`` ceiling and the kinds counted per user are charged ``weight``
                times (so each of ``k`` instances grants ``1/k`` of the budget).

        Returns:
            an allowed :class:`Verdict` (preallocated), or a denial naming the scope, the
            wait, and the action (``CLOSE`` once the connection has struck out).
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        rule = self._rules.get(kind)
        if rule is None:
            rule = self._default
        cost = rule.cost
        conns = self._conns
        st = conns.get(connection) if connection == self._last_conn else None
        if st is None:  # not the one checked last (or gone since): move it to the end
            st = conns.pop(connection, None)
            if st is None:
                st = _Conn(now)
                if self._free > 0:
                    self._free -= 1
                else:
                    self._make_room(now)
            conns[connection] = st  # most recently used last
            self._last_conn = connection
        worst = 0.0
        scope: str | None = None

        # connection ceiling
        tat = st.tat if st.tat > now else now
        c_new = tat + cost * self._interval
        if c_new - now > self._tolerance:
            worst = retry_after(c_new, now, self._tolerance)
            scope = "connection"
        # user, address, room ceilings (peek)
        u_new = a_new = r_new = 0.0
        if user is not None:
            lim = self._user
            tat = lim._tat.get(user, now)
            u_new = (tat if tat > now else now) + cost * weight * lim._interval
            if u_new - now > lim._tolerance:
                wait = retry_after(u_new, now, lim._tolerance)
                if wait > worst:
                    worst, scope = wait, "user"
        if address is not None:
            lim = self._address
            tat = lim._tat.get(address, now)
            a_new = (tat if tat > now else now) + cost * lim._interval
            if a_new - now > lim._tolerance:
                wait = retry_after(a_new, now, lim._tolerance)
                if wait > worst:
                    worst, scope = wait, "address"
        if room is not None:
            lim = self._room
            tat = lim._tat.get(room, now)
            r_new = (tat if tat > now else now) + cost * lim._interval
            if r_new - now > lim._tolerance:
                wait = retry_after(r_new, now, lim._tolerance)
                if wait > worst:
                    worst, scope = wait, "room"
        # the kind's own limit, counted in messages
        k_new = 0.0
        k_lim: Limiter | None = None
        k_key: str | None = None
        if rule.interval:
            if rule.limiter is not None:
                k_key = user if rule.per == "user" else address if rule.per == "address" else room
            step = rule.interval
            if k_key is not None:
                k_lim = rule.limiter
                tat = k_lim._tat.get(k_key, now)  # type: ignore[union-attr]
                if rule.per == "user":
                    step *= weight
            else:
                tat = st.kinds.get(rule.key, now)
            k_new = (tat if tat > now else now) + step
            if k_new - now > rule.tolerance:
                wait = retry_after(k_new, now, rule.tolerance)
                if wait > worst:
                    worst, scope = wait, "kind"

        if scope is None:
            st.tat = c_new
            # Limiter._store, inline for a key already present (the common case)
            if user is not None:
                lim = self._user
                tats = lim._tat
                if user == lim._last and user in tats:  # at the end already: no move
                    tats[user] = u_new
                elif tats.pop(user, None) is None:
                    lim._store(user, u_new, now)
                else:
                    tats[user] = u_new
                    lim._last = user
            if address is not None:
                lim = self._address
                tats = lim._tat
                if address == lim._last and address in tats:  # at the end already: no move
                    tats[address] = a_new
                elif tats.pop(address, None) is None:
                    lim._store(address, a_new, now)
                else:
                    tats[address] = a_new
                    lim._last = address
            if room is not None:
                lim = self._room
                tats = lim._tat
                if room == lim._last and room in tats:  # at the end already: no move
                    tats[room] = r_new
                elif tats.pop(room, None) is None:
                    lim._store(room, r_new, now)
                else:
                    tats[room] = r_new
                    lim._last = room
            if rule.interval:
                if k_lim is not None:
                    k_lim._store(k_key, k_new, now)
                else:
                    st.kinds[rule.key] = k_new
            if rule is self._default:
                return self._allowed_verdict(kind)
            return rule.allowed
        return self._deny(st, kind, rule, scope, worst, now)

    def check_room(self, *, kind: str, room: str, now: float) -> float | None:
        """The room scopes alone (the room ceiling, and the kind's limit when it counts
        per room), for the instance that owns ``room`` enforcing them once for every
        edge of a cluster (the edges then check without ``room``).

        Returns:
            ``None`` when allowed (and charged), else the seconds to wait (nothing
            charged).
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        rule = self._rules.get(kind) or self._default
        lim = self._room
        tat = lim._tat.get(room, now)
        r_new = (tat if tat > now else now) + rule.cost * lim._interval
        worst = 0.0
        if r_new - now > lim._tolerance:
            worst = retry_after(r_new, now, lim._tolerance)
        k_lim = rule.limiter if rule.interval and rule.per == "room" else None
        k_new = 0.0
        if k_lim is not None:
            tat = k_lim._tat.get(room, now)
            k_new = (tat if tat > now else now) + rule.interval
            if k_new - now > rule.tolerance:
                worst = max(worst, retry_after(k_new, now, rule.tolerance))
        if worst > 0.0:
            return worst
        lim._store(room, r_new, now)
        if k_lim is not None:
            k_lim._store(room, k_new, now)
        return None

    def forget_connection(self, connection: str) -> None:
        """Drop everything kept for ``connection`` (on disconnect). O(1), idempotent."""
        self._conns.pop(connection, None)

    def sweep(self, now: float) -> int:
        """Drop every fully recovered entry in every table; returns how many.

        Sweeps also run by themselves (amortized O(1) per new key); a runtime may call
        this from its timer to return memory sooner.
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        dropped = self._sweep_conns(now)
        for lim in self._limiters():
            dropped += lim.sweep(now)
        return dropped

    def held_keys(self) -> int:
        """Entries held across every table (connections and each limiter's keys)."""
        return len(self._conns) + sum(len(lim) for lim in self._limiters())

    def _limiters(self) -> list[Limiter]:
        rules = [*self._rules.values(), self._default]
        kinds = [r.limiter for r in rules if r.limiter is not None]
        return [self._user, self._address, self._room, *kinds]

    def _allowed_verdict(self, kind: str) -> Verdict:
        verdict = self._allowed.get(kind)
        if verdict is None:
            verdict = Verdict(allowed=True, action=None, retry_after=0.0, scope=None, kind=kind)
            if len(self._allowed) < MAX_CACHED_VERDICTS:
                self._allowed[kind] = verdict
        return verdict

    def _deny(
        self, st: _Conn, kind: str, rule: _Rule, scope: str, wait: float, now: float
    ) -> Verdict:
        action = rule.on_deny if scope == "kind" else OnDeny.REJECT
        told = st.told
        if told is None:
            told = st.told = {}
        until = told.get(kind)
        if until is None or until <= now:
            # no strike: the first wait told for this kind, or one honoured
            if until is not None or len(told) < MAX_TOLD_KINDS or self._prune(told, now):
                told[kind] = now + wait
        else:  # sent before the wait it was told had elapsed: a strike
            if now + wait > until:
                told[kind] = now + wait
            strikes = st.strikes
            if strikes is None:
                strikes = st.strikes = []
            strikes.append(now)
            if len(strikes) > self._strikes:
                del strikes[0]
            if len(strikes) >= self._strikes and now - strikes[0] <= self._strike_window:
                action = OnDeny.CLOSE
        last = self._denied
        if (
            last.retry_after != wait
            or last.action is not action
            or last.scope != scope
            or last.kind != kind
        ):
            last = self._denied = Verdict(
                allowed=False, action=action, retry_after=wait, scope=scope, kind=kind
            )
        return last

    @staticmethod
    def _prune(told: dict[str, float], now: float) -> bool:
        """Drop the waits told that have elapsed; whether there is room for one more."""
        for k in [k for k, t in told.items() if t <= now]:
            del told[k]
        return len(told) < MAX_TOLD_KINDS

    def _recovered(self, st: _Conn, now: float) -> bool:
        if st.tat > now or any(t > now for t in st.kinds.values()):
            return False
        if st.told and any(t > now for t in st.told.values()):
            return False
        return not st.strikes or now - st.strikes[-1] > self._strike_window

    def _sweep_conns(self, now: float) -> int:
        conns = self._conns
        dead = [c for c, st in conns.items() if self._recovered(st, now)]
        for c in dead:
            del conns[c]
        self._renew_budget()
        return len(dead)

    def _renew_budget(self) -> None:
        size = len(self._conns)
        self._free = min(self.policy.max_keys - size, max(SWEEP_MIN_INSERTS, size))

    def _make_room(self, now: float) -> None:
        """Upkeep before a new connection when the budget is spent (as ``Limiter``):
        sweep recovered connections, evict the least recently used 1/16 if still full."""
        conns = self._conns
        cap = self.policy.max_keys
        self._sweep_conns(now)
        if len(conns) >= cap:
            for old in list(islice(conns, len(conns) - (cap - max(1, cap // EVICT_FRACTION)))):
                del conns[old]
            self._renew_budget()
        self._free -= 1
