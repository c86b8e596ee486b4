"""The client's own connection events, next to the server's in :meth:`Client.events`."""

from __future__ import annotations

import attrs

from rtcsignal import protocol as p

__all__ = ["ClientEvent", "Connected", "Disconnected", "SessionReset", "Stopped"]


@attrs.frozen
class Connected:
    """The client has a live connection and a welcome.

    Attributes:
        session: the session id (the same across resumes).
        resumed: ``True`` when an earlier session was resumed (missed events follow,
            in order); ``False`` for a new session.
        gap: the server could not replay everything missed: a fresh
            ``room_snapshot`` follows for every room.
        welcome: the server's welcome.
    """

    session: str
    resumed: bool
    gap: bool
    welcome: p.Welcome


@attrs.frozen
class Disconnected:
    """The connection dropped; the client tries again in ``retry_in`` seconds
    (attempt ``attempt``, from 0). Sends are queued meanwhile."""

    code: int
    reason: str
    attempt: int
    retry_in: float


@attrs.frozen
class SessionReset:
    """The old session could not be resumed (grace period over, or the server
    restarted): a new one started. Rooms the client was in are joined again when
    ``rejoin`` is on; each join's snapshot follows as a ``room_snapshot`` event."""

    reason: str
    rooms: tuple[str, ...]


@attrs.frozen
class Stopped:
    """The last event: the client is closed. ``code`` 1000 when closed by the
    application; otherwise the close code that ended it."""

    code: int
    reason: str


ClientEvent = p.ServerMessage | Connected | Disconnected | SessionReset | Stopped
"""What :meth:`Client.events` yields: the server's events, in ``seq`` order without gaps
or duplicates, and the client's own connection events."""
