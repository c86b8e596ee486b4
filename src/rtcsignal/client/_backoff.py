"""Retry timing (pure): reconnects with exponential backoff and full jitter, and the wait
before re-sending a request refused with ``backplane_unavailable``."""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

__all__ = [
    "MAX_UNAVAILABLE_WAIT",
    "UNAVAILABLE_JITTER",
    "UNAVAILABLE_RETRY_AFTER",
    "Backoff",
    "unavailable_delay",
]

UNAVAILABLE_RETRY_AFTER = 1.0
"""The wait before re-sending a request refused with ``backplane_unavailable`` without a
``retry_after``: the server's own value (about one lease renewal cycle)."""
MAX_UNAVAILABLE_WAIT = 10.0
"""The longest such wait, whatever ``retry_after`` says: past it the client gives up
sooner instead (a bounded call beats a huge value from a confused server)."""
UNAVAILABLE_JITTER = 0.2
"""Up to this fraction of the wait is added at random, so that the clients refused
together by one stalled owner do not all come back in the same instant."""


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, not {value!r}")


@attrs.frozen
class Backoff:
    """When to try again after a dropped connection.

    The ``n``-th retry (``n`` from 0) waits a random time in
    ``[0, min(max_delay, initial * factor**n)]`` ("full jitter"), so a crowd of clients
    that lost the same server does not come back in lockstep.

    Attributes:
        initial: the first retry's upper bound, in seconds.
        factor: growth of the bound per retry.
        max_delay: the bound never exceeds this.
        max_attempts: consecutive failed attempts before the client gives up and closes
            (``None``: never give up).
    """

    initial: float = attrs.field(default=0.25, validator=_positive)
    factor: float = attrs.field(default=2.0, validator=_positive)
    max_delay: float = attrs.field(default=10.0, validator=_positive)
    max_attempts: int | None = 20

    def bound(self, attempt: int) -> float:
        """The upper bound of the wait before retry number ``attempt`` (from 0)."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, not {attempt!r}")
        bound = self.initial
        for _ in range(attempt):
            bound *= self.factor
            if bound >= self.max_delay:
                return self.max_delay
        return min(bound, self.max_delay)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``attempt``; ``rand`` returns a float in [0, 1)."""
        return self.bound(attempt) * rand()

    def gives_up(self, attempt: int) -> bool:
        """Whether retry number ``attempt`` is one too many."""
        return self.max_attempts is not None and attempt >= self.max_attempts


def unavailable_delay(
    retry_after: float | None, rand: Callable[[], float] = random.random
) -> float:
    """The wait before re-sending a request refused with ``backplane_unavailable``:
    ``retry_after`` (:data:`UNAVAILABLE_RETRY_AFTER` when absent or not positive), at
    most :data:`MAX_UNAVAILABLE_WAIT`, plus up to :data:`UNAVAILABLE_JITTER` of it at
    random (``rand`` returns a float in [0, 1)): never sooner than the server asked,
    unless it asked for more than the cap."""
    base = UNAVAILABLE_RETRY_AFTER if retry_after is None or not retry_after > 0 else retry_after
    base = min(base, MAX_UNAVAILABLE_WAIT)
    return base * (1.0 + UNAVAILABLE_JITTER * rand())
