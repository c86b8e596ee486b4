"""Observer events: what happened, in order, for metrics, logs, webhooks and call records.

They come out of :class:`~rtcsignal.core.Server` calls mixed with the I/O effects, in the
order things happened. They carry ids and timestamps (the ``now`` passed in), never
connection objects, so a service can persist or export them as they are.

Every event is a frozen, keyword-only :class:`msgspec.Struct` tagged with its class name
(``{"event": "MemberJoined", ...}`` once encoded): events cross the edge / room-host seam
as values (:mod:`rtcsignal.core.seam`), so they have a stable encoding. Names are past
tense and never the name of a wire message: :class:`MemberJoined` is what observers see
when a ``participant_joined`` goes to the room.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rtcsignal.protocol import LeaveReason, Role

from ._callvalues import CallRecord

__all__ = [
    "CallStateChanged",
    "ConnectionClosed",
    "DuplicateJoin",
    "HostTransferred",
    "InternalError",
    "MemberBanned",
    "MemberJoined",
    "MemberLeft",
    "MemberRoleChanged",
    "MemberUnbanned",
    "ObserverEvent",
    "RateLimitDenied",
    "RecordingChanged",
    "RequestRejected",
    "RoomClosed",
    "RoomCreated",
    "RoomPolicyChanged",
    "RoomTakenOver",
    "SessionEnded",
    "SessionResumed",
    "SessionStarted",
    "StatsReported",
]


class ObserverEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """Base class of every observer event. ``at`` is the ``now`` of the call that
    produced it."""

    at: float


class RoomCreated(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A room came into existence (by ``create_room`` or a first join)."""

    room: str


class RoomClosed(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A room was removed: ``"expired"`` (idle), ``"call_ended"`` or ``"closed"``."""

    room: str
    reason: str


class RoomTakenOver(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """In a cluster, this instance took ``room`` over at ``epoch`` from ``previous``
    (whose lease lapsed, or which stopped with members left), from its written state."""

    room: str
    epoch: int
    previous: str


class MemberJoined(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A participant joined a room."""

    room: str
    participant: str
    user: str
    session: str
    role: Role
    hidden: bool = False
    """Joined with the ``hidden`` grant: ordinary members were not told."""


class MemberLeft(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A participant left a room, with the reason."""

    room: str
    participant: str
    user: str
    reason: LeaveReason


class MemberBanned(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A host or moderator banned ``user`` from a room (``kick`` with ``ban``), for
    ``duration`` seconds or (``None``) until the room ends. The user's seats then leave
    with reason ``banned`` (one :class:`MemberLeft` each)."""

    room: str
    user: str
    by: str
    duration: float | None


class MemberUnbanned(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A host or moderator lifted ``user``'s ban (``unban``)."""

    room: str
    user: str
    by: str


class MemberRoleChanged(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A participant's role changed (``by`` is the actor, if any)."""

    room: str
    participant: str
    role: Role
    by: str | None


class HostTransferred(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """The host role moved."""

    room: str
    host: str
    previous: str | None


class RecordingChanged(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A room's recording state changed: the host service starts or stops its recorder."""

    room: str
    state: str
    by: str


class RoomPolicyChanged(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """The application changed a room's policy (capacity, join policy, invite list)."""

    room: str


class DuplicateJoin(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A user joined a room it was already in; ``outcome`` is the policy applied."""

    room: str
    user: str
    outcome: str


class CallStateChanged(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A call changed state; ``call`` holds created/answered/ended times and duration."""

    call: CallRecord


class RequestRejected(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A request got an error reply (invalid SDP, unauthorized action, ...)."""

    connection: str
    session: str | None
    message_type: str | None
    code: str


class RateLimitDenied(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A message was denied by the rate limits (``action`` drop / reject / close)."""

    connection: str
    message_type: str
    scope: str | None
    action: str


class SessionStarted(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A new session completed its handshake."""

    session: str
    user: str
    connection: str


class SessionResumed(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A session resumed on a new connection; ``gap`` when events were lost."""

    session: str
    connection: str
    replayed: int
    gap: bool


class SessionEnded(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A session ended: ``"expired"`` (grace over), ``"replaced"``, ``"evicted"`` (the
    user's oldest reconnecting session, for a new one past ``max_sessions_per_user``)
    or ``"closed"``."""

    session: str
    user: str
    reason: str


class ConnectionClosed(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """The core asked for (or saw) the end of a connection."""

    connection: str
    code: int | None
    reason: str


class StatsReported(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """A client's connection-quality report."""

    room: str
    participant: str
    report: dict[str, Any]


class InternalError(ObserverEvent, frozen=True, kw_only=True, tag=True):
    """An unexpected exception inside the core; the request got ``internal_error``."""

    connection: str
    message_type: str | None
    error: str
