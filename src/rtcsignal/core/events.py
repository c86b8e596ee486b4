"""Observer events (public re-exports): what happened, for metrics, logs and call records."""

from __future__ import annotations

from ._events import CallChangedEvent as CallChangedEvent
from ._events import ConnectionClosed as ConnectionClosed
from ._events import DuplicateJoin as DuplicateJoin
from ._events import HostChanged as HostChanged
from ._events import InternalError as InternalError
from ._events import ObserverEvent as ObserverEvent
from ._events import ParticipantJoined as ParticipantJoined
from ._events import ParticipantLeft as ParticipantLeft
from ._events import RateLimitDenied as RateLimitDenied
from ._events import RecordingChanged as RecordingChanged
from ._events import RequestRejected as RequestRejected
from ._events import RoleChanged as RoleChanged
from ._events import RoomClosed as RoomClosed
from ._events import RoomCreated as RoomCreated
from ._events import SessionEnded as SessionEnded
from ._events import SessionResumed as SessionResumed
from ._events import SessionStarted as SessionStarted
from ._events import StatsReported as StatsReported

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
