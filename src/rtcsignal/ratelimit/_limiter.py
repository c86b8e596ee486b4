"""The keyed GCRA limiter: one rate and burst, many keys, bounded memory, no clock.

Theory of operation
-------------------
GCRA (the Generic Cell Rate Algorithm of ATM networks, ITU-T I.371) is a token bucket
kept as one float per key: the *theoretical arrival time* (TAT), the instant at which
the key's bucket will be full again.

* emission interval ``T = 1 / rate``: the time one unit of cost takes to refill;
* burst tolerance ``tau = burst * T``: how far ahead of ``now`` the TAT may run (plus
  ``ROUNDING_SLACK`` units, so float round-off never denies the last of a burst);
* a request of ``cost`` at ``now`` is admitted iff ``max(TAT, now) + cost * T - now <= tau``,
  and then ``TAT = max(TAT, now) + cost * T``. A denied request changes nothing.

Invariants, and why they hold:

1. In any window of length ``W`` at most ``burst + rate * W`` units are admitted: each
   admission pushes TAT by ``cost * T`` and TAT may lead ``now`` by at most ``tau``.
2. Requests spaced at least ``T`` apart (cost 1) are never denied: TAT never leads ``now``
   by more than ``T <= tau``.
3. A key whose ``TAT <= now`` has fully recovered: it behaves exactly like an absent key,
   so dropping it loses nothing. Memory holds only keys that are still recovering,
   plus a hard cap (``max_keys``) that evicts the least recently used key.
4. Time never runs backwards inside the limiter: ``now`` is clamped to the largest value
   seen, so a clock step backwards grants nothing (it counts as no time passing).
5. ``retry_after`` is rounded *up* to the millisecond and then checked: a client that
   waits exactly ``retry_after`` seconds is admitted (if nothing else charged its key).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from itertools import islice
from typing import Final

import attrs

__all__ = [
    "ALLOWED",
    "DEFAULT_MAX_KEYS",
    "RETRY_AFTER_RESOLUTION",
    "Decision",
    "Limiter",
]

DEFAULT_MAX_KEYS: Final = 100_000
"""Keys one limiter holds at most. At under 100 bytes per key this bounds a limiter to
about 10 MB; more distinct keys still recovering at once than this is itself a flood,
and evicting the least recently used of them is the lesser harm."""

RETRY_AFTER_RESOLUTION: Final = 0.001
"""``retry_after`` is rounded up to the millisecond: what an error reply shows
(three decimals) and far finer than any client's timer."""

SWEEP_MIN_INSERTS: Final = 1_024
"""A sweep of recovered keys runs after at least this many new keys (and at least as
many as the limiter holds), so its cost stays O(1) amortized per new key."""

EVICT_FRACTION: Final = 16
"""When the cap is reached and sweeping frees too little, the oldest ``1/16`` of the
keys are evicted at once, so the O(n) pass runs at most once per ``n/16`` new keys."""

ROUNDING_SLACK: Final = 1e-4
"""Units of cost added to every burst tolerance: TATs are sums of float intervals, and
20 additions of 0.2 s exceed 4.0 s by round-off, which would deny the 20th of a burst of
20. A ten-thousandth of a unit absorbs that and never admits a whole extra request
beyond ``burst + rate * W`` unless that bound is itself within 1e-4 of an integer."""

_RETRY_FIXUPS: Final = 8  # float round-off can need one more millisecond; 8 is ample


@attrs.frozen(kw_only=True)
class Decision:
    """The answer of :meth:`Limiter.check`.

    Attributes:
        allowed: whether the request is admitted (and, for ``check``, charged).
        retry_after: seconds until the same request would be admitted; ``0.0`` when
            allowed, else rounded up to the millisecond (never down). ``math.inf`` when
            ``cost`` exceeds the limiter's burst and can never be admitted.
    """

    allowed: bool
    retry_after: float


ALLOWED: Final = Decision(allowed=True, retry_after=0.0)
"""The one allowed decision: returned on every admission, so the hot path allocates nothing."""


_PER_SECOND: Final = round(1 / RETRY_AFTER_RESOLUTION)  # resolution steps per second
_ceil: Final = math.ceil
# One retry_after step, less a margin for float round-off: a cached denial is reused only
# while ceil() would still give the same step (and the key is still denied).
_FLOOD_STEP: Final = RETRY_AFTER_RESOLUTION - 1e-9
_NO_KEY: Final[Hashable] = object()  # equal to no key: nothing was touched yet


def _round_up(seconds: float) -> float:
    return math.ceil(seconds * _PER_SECOND) / _PER_SECOND


def retry_after(new_tat: float, now: float, tolerance: float) -> float:
    """Seconds (rounded up to the millisecond) until ``new_tat - (now + wait) <= tolerance``.

    ``new_tat`` is ``max(TAT, now) + cost * T`` for a denied request, so ``TAT > now``
    and waiting ``wait`` makes the same request's new TAT ``new_tat`` again. The
    rounded value is re-checked with the same float operations the admission uses.

    Args:
        new_tat: the TAT the denied request would have produced.
        now: the (clamped) time of the denied request.
        tolerance: the burst tolerance ``burst / rate``.

    Returns:
        the wait in seconds, ``> 0``.
    """
    wait = math.ceil((new_tat - now - tolerance) * _PER_SECOND) / _PER_SECOND
    if wait > 0.0 and new_tat - (now + wait) <= tolerance:
        return wait  # the common case, inline
    for _ in range(_RETRY_FIXUPS):
        wait = _round_up(max(wait, 0.0) + RETRY_AFTER_RESOLUTION)
        if new_tat - (now + wait) <= tolerance:
            return wait
    return wait


def validate_rate(rate: float, burst: float) -> None:
    """Raise ``ValueError`` unless ``rate > 0`` and ``burst >= 1``, both finite numbers."""
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise TypeError(f"rate must be a number, not {rate!r}")
    if isinstance(burst, bool) or not isinstance(burst, int | float):
        raise TypeError(f"burst must be a number, not {burst!r}")
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a finite number > 0, not {rate!r}")
    if not (math.isfinite(burst) and burst >= 1):
        raise ValueError(f"burst must be a finite number >= 1, not {burst!r}")


class Limiter:
    """A GCRA rate limiter over many keys, with ``now`` injected and bounded memory.

    Each key may spend ``burst`` units at once and recovers ``rate`` units per second.
    Keys that have fully recovered are dropped by periodic sweeps; at ``max_keys`` the
    least recently used keys are evicted. Time is clamped to the largest ``now`` seen.

    Args:
        rate: units recovered per second (``> 0``).
        burst: units that may be spent at once (``>= 1``).
        max_keys: the most keys held at once (``>= 1``).

    Raises:
        ValueError / TypeError: for a rate, burst or cap out of range.
    """

    __slots__ = (
        "_clock",
        "_denied",
        "_flood_cost",
        "_flood_key",
        "_flood_until",
        "_free",
        "_interval",
        "_last",
        "_tat",
        "_tolerance",
        "burst",
        "max_keys",
        "rate",
    )

    def __init__(self, rate: float, burst: float, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        validate_rate(rate, burst)
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be an integer >= 1, not {max_keys!r}")
        self.rate: Final = float(rate)
        self.burst: Final = float(burst)
        self.max_keys: Final = max_keys
        self._interval = 1.0 / self.rate
        self._tolerance = (self.burst + ROUNDING_SLACK) * self._interval
        # key -> TAT; dict order is recency order (touched keys are re-inserted)
        self._tat: dict[Hashable, float] = {}
        self._clock = -math.inf
        # new keys that may be added before the next sweep / cap check
        self._free = min(max_keys, SWEEP_MIN_INSERTS)
        self._denied = Decision(allowed=False, retry_after=math.inf)  # the last denial, reused
        self._last: Hashable = _NO_KEY  # the key most recently moved to the end of _tat
        # the last denial's key and cost, and until when it repeats as is (see check)
        self._flood_key: Hashable = _NO_KEY
        self._flood_cost: float = 0.0
        self._flood_until = -math.inf

    def __len__(self) -> int:
        """The number of keys held (recovering keys not yet swept)."""
        return len(self._tat)

    def __repr__(self) -> str:
        return f"Limiter(rate={self.rate!r}, burst={self.burst!r}, max_keys={self.max_keys!r})"

    def check(self, key: Hashable, now: float, cost: float = 1) -> Decision:
        """Admit and charge ``cost`` for ``key`` at ``now``, or deny and charge nothing.

        Args:
            key: what is limited (a connection id, a user, an address ...).
            now: seconds on a monotonic clock; a value below one already seen counts
                as that larger value.
            cost: units this request spends (``> 0``).

        Returns:
            :data:`ALLOWED`, or a denied :class:`Decision` with ``retry_after``.

        Raises:
            ValueError: ``cost <= 0``.
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        if now < self._flood_until and key == self._flood_key and cost == self._flood_cost:
            # A flood: the same key and cost as the last call, which was denied, and
            # nothing touched since; the decision and its retry_after are unchanged until
            # _flood_until (the key stays denied and the rounded wait in the same step).
            return self._denied
        self._flood_until = -math.inf
        if not cost > 0:
            raise ValueError(f"cost must be > 0, not {cost!r}")
        tats = self._tat
        # Dict order is recency order: a touched key is popped and re-inserted at the end,
        # unless it is the key touched last, which is at the end already (a hot key, or a
        # flood, then costs no re-insertion).
        last = key == self._last
        tat = tats.get(key) if last else tats.pop(key, None)
        if tat is None:
            new = now + cost * self._interval
            if new - now > self._tolerance:
                return self._deny(math.inf)
            if self._free > 0:
                self._free -= 1
                tats[key] = new
            else:
                self._insert(key, new, now)
            self._last = key
            return ALLOWED
        new = (tat if tat > now else now) + cost * self._interval
        if new - now <= self._tolerance:
            tats[key] = new
            self._last = key
            return ALLOWED
        if not last:
            tats[key] = tat  # a denied key was used just now: keep it most recent
            self._last = key
        if tat <= now:
            return self._deny(math.inf)
        # retry_after() inlined for its common case (floods take this path at full rate)
        tolerance = self._tolerance
        wait = _ceil((new - now - tolerance) * _PER_SECOND) / _PER_SECOND
        if wait > 0.0 and new - (now + wait) <= tolerance:
            # ceil() gives this same wait for every later `now` below this bound (minus a
            # margin for float round-off), and the key is denied until new - tolerance.
            self._flood_until = new - tolerance - wait + _FLOOD_STEP
            self._flood_key = key
            self._flood_cost = cost
        else:
            wait = retry_after(new, now, tolerance)
        denied = self._denied
        if denied.retry_after != wait:
            denied = self._denied = Decision(allowed=False, retry_after=wait)
        return denied

    def peek(self, key: Hashable, now: float, cost: float = 1) -> Decision:
        """What :meth:`check` would answer, without charging or touching ``key``.

        Args / Returns / Raises: as :meth:`check`.
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        if not cost > 0:
            raise ValueError(f"cost must be > 0, not {cost!r}")
        tat = self._tat.get(key, now)
        if tat < now:
            tat = now
        new = tat + cost * self._interval
        if new - now <= self._tolerance:
            return ALLOWED
        if tat <= now:
            return self._deny(math.inf)
        return self._deny(retry_after(new, now, self._tolerance))

    def charge(self, key: Hashable, now: float, cost: float = 1) -> None:
        """Charge ``cost`` for ``key`` unconditionally (after :meth:`peek` allowed it).

        Charging past the burst is possible here and simply delays the key's recovery.

        Raises:
            ValueError: ``cost <= 0``.
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        if not cost > 0:
            raise ValueError(f"cost must be > 0, not {cost!r}")
        self._flood_until = -math.inf
        tat = self._tat.pop(key, None)
        if tat is None:
            self._store(key, now + cost * self._interval, now)
        else:
            self._tat[key] = (tat if tat > now else now) + cost * self._interval
        self._last = key

    def forget(self, key: Hashable) -> None:
        """Drop ``key``'s state (it starts again with a full burst). Idempotent."""
        self._flood_until = -math.inf
        self._tat.pop(key, None)

    def sweep(self, now: float) -> int:
        """Drop every key that has fully recovered by ``now``; returns how many.

        Sweeps also run by themselves (amortized O(1) per new key); a runtime may call
        this from its timer to return memory sooner.
        """
        if now < self._clock:
            now = self._clock
        else:
            self._clock = now
        self._flood_until = -math.inf
        tats = self._tat
        dead = [k for k, t in tats.items() if t <= now]
        for k in dead:
            del tats[k]
        self._free = min(self.max_keys - len(tats), max(SWEEP_MIN_INSERTS, len(tats)))
        return len(dead)

    def _store(self, key: Hashable, tat: float, now: float) -> None:
        """Set ``key``'s TAT (already computed against the clamped ``now``), most recent."""
        tats = self._tat
        if tats.pop(key, None) is not None:
            tats[key] = tat
        elif self._free > 0:
            self._free -= 1
            tats[key] = tat
        else:
            self._insert(key, tat, now)
        self._last = key

    def _deny(self, wait: float) -> Decision:
        """A denial with ``wait``: the previous one when equal (floods repeat the same
        millisecond), so a flood allocates almost nothing."""
        if self._denied.retry_after != wait:
            self._denied = Decision(allowed=False, retry_after=wait)
        return self._denied

    def _insert(self, key: Hashable, tat: float, now: float) -> None:
        """Insert a new key when the insert budget is spent: sweep recovered keys, evict
        the least recently used ``1/EVICT_FRACTION`` if still at the cap, renew the budget.

        Between two of these, at most ``max(SWEEP_MIN_INSERTS, len)`` keys are added
        (O(1) amortized per new key) and never past ``max_keys``.
        """
        tats = self._tat
        self.sweep(now)
        if len(tats) >= self.max_keys:
            keep = self.max_keys - max(1, self.max_keys // EVICT_FRACTION)
            for old in list(islice(tats, len(tats) - keep)):
                del tats[old]
            self._free = min(self.max_keys - len(tats), max(SWEEP_MIN_INSERTS, len(tats)))
        self._free -= 1
        tats[key] = tat
