"""A room's ban list: which users are kept out, until when, and who banned them.

Theory of operation
-------------------
A ban is by *user id*, never by session or participant: a banned user's every device is
kept out of the room (its join, its knock on the lobby and its answer to a call into
the room are refused with ``banned``). A ban lasts ``duration`` seconds or, without one,
until the room ends (the list lives and dies with its :class:`~rtcsignal.core._room.Room`,
so a room that expires forgets its bans).

Rules, and why:

* **Time is a parameter.** A timed ban stores its end as a ``now``-based deadline; it
  is lifted lazily, by the first look at it after its end (:meth:`BanList.check`,
  :meth:`BanList.entries`), so the list needs no timer of its own.
* **Bounded.** :data:`MAX_BANS` entries per room; banning past it (after dropping the
  lifted ones) is its own error, ``too_many_bans``.
* **Check, then mutate**, like every machine of the core: :meth:`BanList.add` raises
  before it records anything.
"""

from __future__ import annotations

from typing import Final

import attrs

from rtcsignal.protocol import BanEntry, ErrorCode

from ._errors import CoreError

__all__ = ["MAX_BANS", "Ban", "BanList"]

MAX_BANS: Final = 1_000
"""Ban entries per room: a public room's moderators ban trolls by hand, a few dozen at
worst; 1,000 bounds the list (and the host's snapshot) against a scripted flood."""


@attrs.frozen(kw_only=True)
class Ban:
    """One user's ban: ``until`` is a ``now``-based deadline, ``None`` for the room's life."""

    user: str
    name: str | None
    by: str | None
    until: float | None


class BanList:
    """The bans of one room, in the order they were made."""

    __slots__ = ("_bans",)

    def __init__(self) -> None:
        self._bans: dict[str, Ban] = {}

    def __len__(self) -> int:
        return len(self._bans)

    def _prune(self, now: float) -> None:
        for user in [u for u, b in self._bans.items() if b.until is not None and b.until <= now]:
            del self._bans[user]

    def check(self, user: str, now: float) -> None:
        """Refuse a banned ``user``.

        Raises:
            CoreError: ``banned``, with ``retry_after`` for a timed ban.
        """
        ban = self._bans.get(user)
        if ban is None:
            return
        if ban.until is None:
            raise CoreError(ErrorCode.BANNED, "you are banned from this room")
        if ban.until <= now:
            del self._bans[user]
            return
        wait = ban.until - now
        raise CoreError(
            ErrorCode.BANNED, f"you are banned from this room for {wait:.0f} s", retry_after=wait
        )

    def is_banned(self, user: str, now: float) -> bool:
        """Whether ``user`` is banned at ``now``."""
        ban = self._bans.get(user)
        return ban is not None and (ban.until is None or ban.until > now)

    def ensure_room(self, user: str, now: float) -> None:
        """Make sure a ban of ``user`` fits (dropping lifted bans on the way).

        Raises:
            CoreError: ``too_many_bans``.
        """
        if user in self._bans or len(self._bans) < MAX_BANS:
            return
        self._prune(now)
        if len(self._bans) >= MAX_BANS:
            raise CoreError(
                ErrorCode.TOO_MANY_BANS,
                f"the room holds {MAX_BANS} bans, the most it may",
                details={"limit": MAX_BANS},
            )

    def add(self, ban: Ban) -> None:
        """Record ``ban`` (replacing an earlier ban of the same user); call
        :meth:`ensure_room` first."""
        self._bans.pop(ban.user, None)
        self._bans[ban.user] = ban

    def lift(self, user: str, now: float) -> bool:
        """Lift ``user``'s ban. Returns whether there was one in force."""
        ban = self._bans.pop(user, None)
        return ban is not None and (ban.until is None or ban.until > now)

    def bans(self, now: float) -> tuple[Ban, ...]:
        """The bans in force at ``now``, in the order they were made."""
        self._prune(now)
        return tuple(self._bans.values())

    def entries(self, now: float) -> tuple[BanEntry, ...]:
        """The bans in force at ``now``, as hosts and moderators see them."""
        self._prune(now)
        return tuple(
            BanEntry(
                user=b.user,
                name=b.name,
                by=b.by,
                expires_in=None if b.until is None else b.until - now,
            )
            for b in self._bans.values()
        )
