"""Where a user's sessions are across a cluster: the per-user limits of every instance.

Theory of operation
-------------------
On one instance, ``max_sessions_per_user`` counts a user's sessions and the rate limiter
charges a user's messages to one budget. In a cluster the same user may hold sessions on
several instances, so each instance keeps a :class:`UserSpread`: for every user with a
session on another instance, how many sessions (and how many of them connected) each
instance holds. It learns them from :class:`~rtcsignal.core.cluster.Spread` envelopes:
an instance sends one to every other whenever the counts of one of its users change
(a session starts, drops, resumes, moves or ends) and a full list to an instance that
joins; an instance that leaves the cluster is forgotten. Counts are absolute, so a late
or repeated envelope is harmless: the latest from each instance wins (each instance's
inbox is in order).

What the server does with them:

* ``max_sessions_per_user`` counts the sessions of every instance. Past it, a reconnecting
  session is ended first: this instance's own, else one of another instance (asked with
  :class:`~rtcsignal.core.cluster.Supersede`); with none anywhere, ``hello`` is refused with
  ``too_many_sessions``.
* a user with connected sessions on ``k`` instances is charged ``k`` times the cost of
  each message against its per-user budgets (the ``user`` ceiling and the kinds counted
  per user): each instance grants ``1/k`` of the budget, so all of them together grant
  the budget once, whichever instance the traffic goes to.

Approximations (documented in ``docs/scaling.md``): the counts lag by one backplane hop,
so two sessions started at the same instant on two instances may both pass the limit,
and a new instance's share applies from its first ``Spread``; a user whose traffic all
goes to one of its ``k`` instances gets ``1/k`` of its budget there, never more than the
whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["UserSpread"]


class UserSpread:
    """The sessions other instances hold, per user. See the module docstring."""

    __slots__ = ("_active", "_remote")

    def __init__(self) -> None:
        self._remote: dict[str, dict[str, tuple[int, int]]] = {}
        """user -> instance -> (sessions, connected) there (only non-zero counts)."""
        self._active: dict[str, int] = {}
        """user -> the other instances where it has a connected session (only > 0)."""

    def __len__(self) -> int:
        """The users with a session on another instance."""
        return len(self._remote)

    def weight(self, user: str) -> int:
        """How many instances share ``user``'s rate budget: this one and every other
        where it has a connected session."""
        return 1 + self._active.get(user, 0)

    def elsewhere(self, user: str) -> tuple[int, int]:
        """``(sessions, connected)`` of ``user`` on the other instances."""
        counts = self._remote.get(user)
        if not counts:
            return 0, 0
        return sum(s for s, _ in counts.values()), sum(c for _, c in counts.values())

    def reconnecting_on(self, user: str) -> str | None:
        """An instance holding a reconnecting session of ``user`` (the first by id)."""
        counts = self._remote.get(user, {})
        return next((n for n in sorted(counts) if counts[n][0] > counts[n][1]), None)

    def update(self, src: str, users: Mapping[str, tuple[int, int]], *, full: bool) -> None:
        """Take ``src``'s counts (with ``full``, every user of ``src`` not listed has none)."""
        if full:
            for user in [u for u, counts in self._remote.items() if src in counts]:
                if user not in users:
                    self._set(src, user, 0, 0)
        for user, (sessions, connected) in users.items():
            self._set(src, user, max(0, sessions), max(0, min(connected, sessions)))

    def forget(self, nodes: Iterable[str]) -> None:
        """Instances ``nodes`` left the cluster: their sessions are gone."""
        gone = set(nodes)
        for user in [u for u, counts in self._remote.items() if gone & counts.keys()]:
            for node in gone:
                self._set(node, user, 0, 0)

    def _set(self, src: str, user: str, sessions: int, connected: int) -> None:
        counts = self._remote.get(user)
        old = (0, 0) if counts is None else counts.get(src, (0, 0))
        if sessions:
            if counts is None:
                counts = self._remote[user] = {}
            counts[src] = (sessions, connected)
        elif counts is not None:
            counts.pop(src, None)
            if not counts:
                del self._remote[user]
        change = (connected > 0) - (old[1] > 0)
        if change:
            active = self._active.get(user, 0) + change
            if active > 0:
                self._active[user] = active
            else:
                self._active.pop(user, None)
