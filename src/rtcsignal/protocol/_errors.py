"""Stable error codes, WebSocket close codes, and rtcsignal's error families.

Every rejection the server sends is an ``error`` message whose ``code`` is a member of
:class:`ErrorCode`. Codes are public protocol: they are listed in ``docs/protocol.md``,
a test keeps the two in sync, and a code is never renamed or reused.

Errors have a direction, and the class tree shows it. Every exception rtcsignal raises is
a :class:`SignalingError`, in one of three families:

* :class:`PeerError`: the **remote peer's** fault (a bad frame, a request the rules
  refuse). It carries a stable ``code`` and becomes exactly one ``error`` reply; it never
  reaches the application. :class:`ProtocolError` (decoding) and
  ``rtcsignal.core.CoreError`` (the rules, with ``CallError`` for calls) are its members.
* :class:`UsageError`: the **application's** misuse (an invalid setting, an API call
  that breaks its contract). It is raised to the caller at once; it is also a
  :class:`ValueError`.
* :class:`InternalFault`: a broken invariant **inside rtcsignal** (a bug). The core
  catches it like any unexpected exception: the peer gets ``internal_error`` and
  observers an ``InternalError`` event.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CloseCode",
    "ErrorCode",
    "InternalFault",
    "PeerError",
    "ProtocolError",
    "SignalingError",
    "UsageError",
]


class ErrorCode(enum.StrEnum):
    """Every error code the server can send. The value is the wire string."""

    # -- frames and messages (the peer's fault) --
    MALFORMED_FRAME = "malformed_frame"
    """The frame is not valid JSON / MessagePack, or not UTF-8 where text is required."""
    FRAME_TOO_LARGE = "frame_too_large"
    """The frame exceeds ``max_frame_bytes`` (the connection is also closed with 1009)."""
    UNKNOWN_TYPE = "unknown_type"
    """The ``type`` field names no client message of this protocol version."""
    INVALID_MESSAGE = "invalid_message"
    """A field is missing, of the wrong type, too long, or breaks its format."""
    # -- handshake and sessions --
    HELLO_REQUIRED = "hello_required"
    """A message other than ``hello`` arrived before the handshake completed."""
    ALREADY_WELCOMED = "already_welcomed"
    """A second ``hello`` on a connection that already completed its handshake."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """The ``hello`` names a protocol version this server does not speak."""
    RESUME_FAILED = "resume_failed"
    """The resume token is unknown, expired, or belongs to another user."""
    # -- rooms and membership --
    ROOM_NOT_FOUND = "room_not_found"
    """The room does not exist and this server does not create rooms on join."""
    ROOM_FULL = "room_full"
    """The room is at capacity."""
    ROOM_LOCKED = "room_locked"
    """The room is locked by its host or a moderator."""
    NOT_INVITED = "not_invited"
    """The room (or call) is invite-only and this user holds no invitation."""
    ALREADY_JOINED = "already_joined"
    """This user is already in the room and the room's duplicate-join policy is ``reject``."""
    ALREADY_IN_ROOM = "already_in_room"
    """This session already has a participant (or a lobby entry) in the room."""
    NOT_IN_ROOM = "not_in_room"
    """The sender is not a participant of the room named in the message."""
    UNKNOWN_PARTICIPANT = "unknown_participant"
    """The target participant is not in the room (or not in its lobby)."""
    FORBIDDEN = "forbidden"
    """The sender's role (or grant) does not permit this action."""
    BANNED = "banned"
    """The user is banned from the room (``kick`` with ``ban``); a timed ban's error
    carries ``retry_after``, the seconds until it lifts."""
    TOO_MANY_BANS = "too_many_bans"
    """The room's ban list holds its maximum of entries; unban someone first."""
    TOO_MANY_ROOMS = "too_many_rooms"
    """The session is already in ``max_rooms_per_session`` rooms."""
    TOO_MANY_SEATS = "too_many_seats"
    """The user already holds the room's ``max_seats_per_user`` seats, every one of them
    connected (a reconnecting seat would have been given up for the new one)."""
    TOO_MANY_SESSIONS = "too_many_sessions"
    """The user already has ``max_sessions_per_user`` sessions, every one of them
    connected (a reconnecting session would have been ended for the new one)."""
    RECORDING_DISABLED = "recording_disabled"
    """The room's policy disables recording."""
    INVALID_STATE = "invalid_state"
    """The operation is not valid in the current state (of a call, recording, or negotiation)."""
    # -- calls --
    CALL_NOT_FOUND = "call_not_found"
    """No such call, or the sender is neither its caller nor an invitee."""
    CALL_ENDED = "call_ended"
    """The call has already ended."""
    TOO_MANY_CALLS = "too_many_calls"
    """The server holds its maximum number of live calls; try again later."""
    # -- negotiation --
    INVALID_SDP = "invalid_sdp"
    """The session description failed validation; ``details`` names the rule and line."""
    INVALID_CANDIDATE = "invalid_candidate"
    """The ICE candidate failed validation; ``details`` names the rule."""
    STALE_CANDIDATE = "stale_candidate"
    """The candidate belongs to a previous ICE generation; it was dropped, not relayed."""
    NO_DESCRIPTION = "no_description"
    """A candidate or answer arrived with no description exchanged to attach it to."""
    GLARE = "glare"
    """Two offers crossed; this (polite) side must roll back and answer the other offer."""
    STALE_ANSWER = "stale_answer"
    """The answer names an offer (``negotiation``) that its sender has since replaced;
    it is not relayed: answer the pending offer."""
    # -- abuse limits --
    RATE_LIMITED = "rate_limited"
    """Too many messages; ``retry_after`` says how many seconds to wait."""
    # -- the cluster --
    BACKPLANE_UNAVAILABLE = "backplane_unavailable"
    """The instance owning the room did not answer in time (the request may or may not
    have been applied: resend it with the same ``id``); ``retry_after`` says when."""
    # -- the server's fault --
    INTERNAL_ERROR = "internal_error"
    """An unexpected error in the server; state was left unchanged."""


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses (RFC 6455 §7.4.1, 4000-4999 private)."""

    NORMAL = 1000
    """RFC 6455 §7.4.1: normal closure."""
    GOING_AWAY = 1001
    """RFC 6455 §7.4.1: server shutting down; reconnect and resume elsewhere."""
    INVALID_PAYLOAD = 1007
    """RFC 6455 §7.4.1, §8.1: a text frame that is not valid UTF-8. Closed by the
    WebSocket layer (the framework) before the core sees the frame; listed so the codes a
    client may see are in one place."""
    POLICY_VIOLATION = 1008
    """RFC 6455 §7.4.1: sustained abuse of the rate limits."""
    MESSAGE_TOO_BIG = 1009
    """RFC 6455 §7.4.1: a frame over ``max_frame_bytes``."""
    SESSION_REPLACED = 4000
    """The session was taken over by a newer connection (resume), or replaced by a
    duplicate join under the ``replace`` policy."""
    PING_TIMEOUT = 4001
    """Nothing arrived within ``ping_timeout``; the session may still resume."""
    HANDSHAKE_TIMEOUT = 4002
    """No ``hello`` within ``handshake_timeout`` of connecting."""
    UNAUTHORIZED = 4003
    """Authentication failed (sent by adapters before the core sees the connection)."""
    SLOW_CONSUMER = 4008
    """The connection's outbound queue overflowed (it did not read fast enough)."""


class SignalingError(Exception):
    """The base of every exception rtcsignal raises (see the module docstring)."""


class PeerError(SignalingError):
    """The remote peer's fault: refused with one ``error`` reply, never raised to the
    application.

    Attributes:
        code: the stable :class:`ErrorCode`.
        message: a human sentence naming the thing and the state.
        details: extra machine-readable data (field path, rule id, limits), or ``None``.
    """

    def __init__(
        self, code: ErrorCode, message: str, *, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details) if details else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.message!r})"


class UsageError(SignalingError, ValueError):
    """The application's misuse of rtcsignal: an invalid setting or an API call outside
    its contract. Raised to the caller at once."""


class BackplaneUnavailable(SignalingError, RuntimeError):
    """In a cluster, an application call (``runtime.admin``) handed to the instance that
    owns its room got no answer within ``request_timeout``: it may or may not have been
    applied. (A client's request gets the ``backplane_unavailable`` error instead.)"""


class InternalFault(SignalingError, RuntimeError):
    """A broken invariant inside rtcsignal: a bug, never the peer's or the
    application's doing. The core answers the request with ``internal_error``."""


class ProtocolError(PeerError):
    """A message the server cannot accept, with the reply to send.

    Raised only by :func:`rtcsignal.protocol.decode` (for the peer's bad frames) and
    caught by the core, which turns it into one ``error`` reply; nothing else escapes.

    Attributes:
        code: the stable :class:`ErrorCode`.
        message: a human sentence naming the thing and the state.
        request_id: the ``id`` of the request it answers, when it could be recovered.
        details: extra machine-readable data (field path, rule id, limits).
        close: a WebSocket close code to close the connection with, or ``None``.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        request_id: int | str | None = None,
        details: Mapping[str, Any] | None = None,
        close: CloseCode | None = None,
    ) -> None:
        super().__init__(code, message, details=details)
        self.request_id = request_id
        self.close = close
