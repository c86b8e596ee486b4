"""Deadlines: the one timer component of the core (edge, room host and call book use it).

Theory of operation
-------------------
A :class:`Deadlines` holds at most one armed deadline per key, in a binary heap with
*lazy invalidation*: arming a key again or disarming it leaves the old heap entry in place,
and an entry counts only while it still matches the key's armed deadline. That makes arm
and disarm O(log n) and O(1), with no search. Stale entries are dropped when they reach
the top of the heap, and the heap is rebuilt when they outnumber the live ones by more
than :data:`COMPACT_SLACK` (so a key re-armed a million times does not hold a million
entries).

Some deadlines move by themselves: a connection's ping deadline is "last frame + timeout",
and recording every frame's arrival by re-arming would cost a heap push per frame. Such
owners pass ``real``: a function giving a key's *current* deadline (or ``None`` once it no
longer applies). Then an entry that comes due is checked against ``real`` first: a later
deadline re-arms it, ``None`` drops it, and only a deadline that is really due fires. A
deadline may only move later by itself (never nearer); anything that brings one nearer
must call :meth:`arm`. So :meth:`next` stays exact, and :attr:`arms` (a count that grows on
every :meth:`arm`) tells a driver whether it must ask :meth:`next` again.

Ties are broken by arming order. Several components may share one ordering (``serial``),
so that timers due at the same instant in different components fire in the order they
were armed, as if they were in one heap.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterator
from typing import Final, Generic, TypeVar

__all__ = ["COMPACT_SLACK", "Deadlines"]

K = TypeVar("K", bound=Hashable)

COMPACT_SLACK: Final = 64
"""Stale heap entries tolerated beyond the live ones before the heap is rebuilt."""


class Deadlines(Generic[K]):
    """At most one deadline per key; see the module docstring.

    Args:
        real: a key's current deadline (``None``: it no longer applies), for deadlines
            that move later by themselves; ``None`` when armed deadlines are exact.
        serial: the arming order shared with other components (an iterator of
            increasing ints); a private one when ``None``.
    """

    __slots__ = ("_actual", "_armed", "_heap", "_serial", "arms")

    def __init__(
        self,
        real: Callable[[K], float | None] | None = None,
        *,
        serial: Iterator[int] | None = None,
    ) -> None:
        self._armed: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._actual = real  # (not "_real": mypyc names it "__real", a C keyword)
        self._serial = serial if serial is not None else itertools.count(1)
        self.arms = 0
        """A count of :meth:`arm` calls: while it is unchanged, :meth:`next` cannot have
        come nearer."""

    def __len__(self) -> int:
        """Returns: the number of armed keys."""
        return len(self._armed)

    def __contains__(self, key: object) -> bool:
        return key in self._armed

    def get(self, key: K) -> float | None:
        """Returns: the deadline armed for ``key``, or ``None``."""
        return self._armed.get(key)

    def arm(self, key: K, at: float) -> None:
        """Arm ``key`` at ``at``, replacing any deadline it had."""
        self._armed[key] = at
        self.arms += 1
        heap = self._heap
        heapq.heappush(heap, (at, next(self._serial), key))
        if len(heap) > 2 * len(self._armed) + COMPACT_SLACK:
            self._compact()

    def disarm(self, key: K) -> None:
        """Forget ``key``'s deadline (no error if none is armed)."""
        self._armed.pop(key, None)

    def clear(self) -> None:
        """Forget every deadline."""
        self._armed.clear()
        self._heap.clear()

    def peek(self) -> tuple[float, int] | None:
        """Returns: ``(deadline, arming serial)`` of the earliest live deadline, or
        ``None``. Moved deadlines (``real``) are settled first, so the answer is exact."""
        heap = self._heap
        armed = self._armed
        real = self._actual
        while heap:
            at, serial, key = heap[0]
            if armed.get(key) != at:
                heapq.heappop(heap)
                continue
            if real is None:
                return at, serial
            now_at = real(key)
            if now_at == at:
                return at, serial
            heapq.heappop(heap)
            if now_at is None:
                del armed[key]
            else:
                self.arm(key, now_at)
        return None

    def next(self) -> float | None:
        """Returns: the earliest live deadline, or ``None`` when nothing is armed."""
        top = self.peek()
        return None if top is None else top[0]

    def pop_due(self, now: float) -> K | None:
        """Disarm and return the key whose deadline is earliest, if it is due at ``now``
        (settling moved deadlines on the way); ``None`` when nothing is due. Call it in
        a loop, firing each key before asking again: firing may arm or disarm others."""
        top = self.peek()
        if top is None or top[0] > now:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._armed[key]
        return key

    def _compact(self) -> None:
        armed = self._armed
        heap = self._heap
        heap[:] = [e for e in heap if armed.get(e[2]) == e[0]]
        heapq.heapify(heap)
