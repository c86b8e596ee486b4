"""Constrained field types shared by the wire messages, and the value structs they carry."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import msgspec

from ._limits import (
    MAX_CHAT_CHARS,
    MAX_ICE_CREDENTIAL_CHARS,
    MAX_ICE_URL_CHARS,
    MAX_ICE_URLS,
    MAX_LAYOUT_CHARS,
    MAX_NAME_CHARS,
    MAX_REACTION_CHARS,
    MAX_REASON_CHARS,
    MAX_REQUEST_ID_CHARS,
    MAX_REQUEST_ID_INT,
    MAX_TOKEN_CHARS,
    MAX_USER_ID_CHARS,
    PARTICIPANT_ID_PATTERN,
    ROOM_ID_PATTERN,
)

# Text is carried verbatim and is *text*, never HTML: receivers must render it with
# textContent or equivalent. C0 and C1 control characters (and DEL) are refused in every
# text field: they break logs and terminals and have no place in a name. Chat alone also
# admits TAB and LF. Character classes only, so matching is linear (no backtracking).
_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CHAT_TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
_LAYOUT = r"^[a-z][a-z0-9_-]*$"

RequestId = (
    Annotated[int, msgspec.Meta(ge=0, le=MAX_REQUEST_ID_INT)]
    | Annotated[str, msgspec.Meta(max_length=MAX_REQUEST_ID_CHARS, pattern=_NO_CONTROL)]
)
"""A client-chosen request id: a non-negative integer or a string of at most 64
characters, the empty string included (as the docs always said: ``""`` is an id like
any other and is echoed; only an absent ``id`` means none)."""


class IdOnly(msgspec.Struct):
    """Recovers a request id from a frame that failed full validation (the codec's;
    defined here, with the messages, because the compiled build compiles the codec and
    msgspec reads a Struct's annotations from a Python module)."""

    id: RequestId | None = None


RoomId = Annotated[str, msgspec.Meta(pattern=ROOM_ID_PATTERN)]
"""A room id: 3-64 characters of ``[A-Za-z0-9_-]``."""
PeerId = Annotated[str, msgspec.Meta(pattern=PARTICIPANT_ID_PATTERN)]
"""A server-generated participant, session or call id."""
UserId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_USER_ID_CHARS, pattern=_NO_CONTROL)
]
"""An authenticated user id (from the identity, never from the client's words)."""
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=_NO_CONTROL)]
"""A display name."""
ChatText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHAT_CHARS, pattern=_CHAT_TEXT)]
"""Chat text: plain text, TAB and LF allowed."""
Emoji = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_REACTION_CHARS, pattern=_NO_CONTROL)
]
"""A reaction: an emoji sequence or short token."""
Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON_CHARS, pattern=_NO_CONTROL)]
"""A free-text reason."""
Layout = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LAYOUT_CHARS, pattern=_LAYOUT)]
"""A layout name such as ``grid`` or ``speaker``."""
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_CHARS, pattern=_NO_CONTROL)]
"""An opaque resume or invite token."""
Seq = Annotated[int, msgspec.Meta(ge=0)]
"""A sequence number of the session's event stream."""


class Role(enum.StrEnum):
    """A participant's role in a room, from most to least privileged."""

    HOST = "host"
    MODERATOR = "moderator"
    PARTICIPANT = "participant"
    GUEST = "guest"


AssignableRole = Literal["moderator", "participant", "guest"]
"""Roles ``set_role`` may assign; ``host`` moves only through ``transfer_host``."""
RecordingState = Literal["idle", "recording", "paused"]
"""A room's recording state, which the host service acts on."""
RecordingAction = Literal["start", "stop", "pause", "resume"]
"""A ``recording`` request's action."""
PresenceState = Literal["connected", "reconnecting"]
"""Whether a participant's connection is up or inside its reconnect grace period."""
JoinPolicyName = Literal["open", "invite", "lobby"]
"""How a room admits joiners (locking is separate and applies on top)."""
LeaveReason = Literal[
    "left", "kicked", "banned", "disconnected", "replaced", "denied", "room_closed"
]
"""Why a participant left a room, or a lobby entry was removed."""
CallStateName = Literal["ringing", "active", "ended"]
"""A call's coarse state; ``reason`` refines ``ended``."""
CallEndReason = Literal[
    "hangup", "declined", "cancelled", "missed", "max_duration", "failed", "answered_elsewhere"
]
"""Why a call ended (``answered_elsewhere`` is reported per device, never as a call's end)."""


class ParticipantInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A participant as other members see it."""

    id: PeerId
    user: UserId
    name: Name | None = None
    role: Role
    order: int
    """The room-local join order: for each pair, the later joiner is the *polite* peer."""
    state: PresenceState
    audio: bool
    video: bool
    screen: bool
    hand: bool
    metadata: dict[str, Any] | None = None
    """The participant's application metadata (``update_me``), if it set any."""
    hidden: bool | None = None
    """``true`` for a hidden participant (a recorder, a bot), which only hosts,
    moderators and the participant itself ever see; absent otherwise."""


class BanEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A user kept out of a room (``kick`` with ``ban``), as hosts and moderators see it."""

    user: UserId
    name: Name | None = None
    """The display name the user had when banned."""
    by: PeerId | None = None
    """The participant who banned the user."""
    expires_in: float | None = None
    """Seconds until a timed ban lifts; absent for a ban until the room ends."""


class LobbyEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Someone waiting in a room's lobby for a host or moderator to admit them."""

    id: PeerId
    user: UserId
    name: Name | None = None


class CallInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="call"):
    """A call as its caller and invitees see it."""

    id: PeerId
    room: RoomId
    caller: UserId
    invitees: tuple[UserId, ...]
    state: CallStateName
    media: Literal["audio", "video"]
    reason: CallEndReason | None = None
    answered_by: tuple[UserId, ...] = ()
    duration: float | None = None
    """Seconds from answer to end, once ended after being answered."""


IceUrl = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_ICE_URL_CHARS, pattern=r"^[!-~]*$")
]
"""A ``stun:``, ``stuns:``, ``turn:`` or ``turns:`` URI (RFC 7064, RFC 7065): printable
ASCII without spaces. The server validates its own at startup (``rtcsignal.sdp``)."""
IceCredential = Annotated[
    str, msgspec.Meta(max_length=MAX_ICE_CREDENTIAL_CHARS, pattern=_NO_CONTROL)
]
"""A TURN username or credential."""


class IceServer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One STUN or TURN server, in the shape ``RTCPeerConnection`` takes (W3C WebRTC
    §4.2.1 ``RTCIceServer``): pass ``welcome.ice_servers`` as ``iceServers`` unchanged.
    TURN entries carry ``username`` and ``credential`` (often minted per user, valid for
    a limited time: see ``docs/turn.md``)."""

    urls: Annotated[tuple[IceUrl, ...], msgspec.Meta(min_length=1, max_length=MAX_ICE_URLS)]
    username: IceCredential | None = None
    credential: IceCredential | None = None
