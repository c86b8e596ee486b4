"""Observer events: what happened, in order, for metrics, logs, webhooks and call records.

They come out of :class:`~rtcsignal.core.Server` calls mixed with the I/O effects, in the
order things happened. They carry ids and timestamps (the ``now`` passed in), never
connection objects, so a service can persist or export them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from rtcsignal.protocol import LeaveReason, Role

from ._call import CallRecord

__all__ = [
    "CallChangedEvent",
    "ConnectionClosed",
    "DuplicateJoin",
    "HostChanged",
    "InternalError",
    "ObserverEvent",
    "ParticipantJoined",
    "ParticipantLeft",
    "RateLimitDenied",
    "RecordingChanged",
    "RequestRejected",
    "RoleChanged",
    "RoomClosed",
    "RoomCreated",
    "SessionEnded",
    "SessionResumed",
    "SessionStarted",
    "StatsReported",
]


@attrs.frozen(kw_only=True)
class ObserverEvent:
    """Base class of every observer event. ``at`` is the ``now`` of the call that
    produced it."""

    at: float


@attrs.frozen(kw_only=True)
class RoomCreated(ObserverEvent):
    """A room came into existence (by ``create_room`` or a first join)."""

    room: str


@attrs.frozen(kw_only=True)
class RoomClosed(ObserverEvent):
    """A room was removed: ``"expired"`` (idle), ``"call_ended"`` or ``"closed"``."""

    room: str
    reason: str


@attrs.frozen(kw_only=True)
class ParticipantJoined(ObserverEvent):
    """A participant joined a room."""

    room: str
    participant: str
    user: str
    session: str
    role: Role


@attrs.frozen(kw_only=True)
class ParticipantLeft(ObserverEvent):
    """A participant left a room, with the reason."""

    room: str
    participant: str
    user: str
    reason: LeaveReason


@attrs.frozen(kw_only=True)
class RoleChanged(ObserverEvent):
    """A participant's role changed (``by`` is the actor, if any)."""

    room: str
    participant: str
    role: Role
    by: str | None


@attrs.frozen(kw_only=True)
class HostChanged(ObserverEvent):
    """The host role moved."""

    room: str
    host: str
    previous: str | None


@attrs.frozen(kw_only=True)
class RecordingChanged(ObserverEvent):
    """A room's recording state changed: the host service starts or stops its recorder."""

    room: str
    state: str
    by: str


@attrs.frozen(kw_only=True)
class DuplicateJoin(ObserverEvent):
    """A user joined a room it was already in; ``outcome`` is the policy applied."""

    room: str
    user: str
    outcome: str


@attrs.frozen(kw_only=True)
class CallChangedEvent(ObserverEvent):
    """A call changed state; ``call`` holds created/answered/ended times and duration."""

    call: CallRecord


@attrs.frozen(kw_only=True)
class RequestRejected(ObserverEvent):
    """A request got an error reply (invalid SDP, unauthorized action, ...)."""

    connection: str
    session: str | None
    message_type: str | None
    code: str


@attrs.frozen(kw_only=True)
class RateLimitDenied(ObserverEvent):
    """A message was denied by the rate limits (``action`` drop / reject / close)."""

    connection: str
    message_type: str
    scope: str | None
    action: str


@attrs.frozen(kw_only=True)
class SessionStarted(ObserverEvent):
    """A new session completed its handshake."""

    session: str
    user: str
    connection: str


@attrs.frozen(kw_only=True)
class SessionResumed(ObserverEvent):
    """A session resumed on a new connection; ``gap`` when events were lost."""

    session: str
    connection: str
    replayed: int
    gap: bool


@attrs.frozen(kw_only=True)
class SessionEnded(ObserverEvent):
    """A session ended: ``"expired"`` (grace over), ``"replaced"`` or ``"closed"``."""

    session: str
    user: str
    reason: str


@attrs.frozen(kw_only=True)
class ConnectionClosed(ObserverEvent):
    """The core asked for (or saw) the end of a connection."""

    connection: str
    code: int | None
    reason: str


@attrs.frozen(kw_only=True)
class StatsReported(ObserverEvent):
    """A client's connection-quality report."""

    room: str
    participant: str
    report: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class InternalError(ObserverEvent):
    """An unexpected exception inside the core; the request got ``internal_error``."""

    connection: str
    message_type: str | None
    error: str
