"""Wire messages of protocol v1: msgspec Structs in a tagged union on ``"type"``.

Client requests all carry an optional ``id``; a request with an ``id`` gets exactly one
reply (``ok`` or ``error``) echoing it. Messages both sides exchange are nouns
(:class:`Offer`, :class:`Candidate`, :class:`Chat`): the client sends them with ``to``
(or to the room) and the server relays them with ``from`` and ``seq`` *stamped by the
server* (whatever the client put there is overwritten). What only the server reports is
past tense (:class:`ParticipantLeft`, :class:`CallUpdated`).

``seq`` numbers the events the server delivers to one session: 1, 2, 3, ... with no gaps.
A client in one room therefore sees that room's events strictly increasing and gapless; a
gap means it missed something, and a resume (or a fresh snapshot) heals it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from ._limits import (
    MAX_APP_TYPE_CHARS,
    MAX_BAN_SECONDS,
    MAX_CANDIDATE_CHARS,
    MAX_ICE_SERVERS,
    MAX_INVITEES,
    MAX_SDP_BYTES,
    MAX_STATS_KEYS,
)
from ._types import (
    AssignableRole,
    BanEntry,
    CallInfo,
    ChatText,
    Emoji,
    IceServer,
    JoinPolicyName,
    Layout,
    LeaveReason,
    LobbyEntry,
    Name,
    ParticipantInfo,
    PeerId,
    Reason,
    RecordingAction,
    RecordingState,
    RequestId,
    Role,
    RoomId,
    Seq,
    Token,
    UserId,
)

_SDP = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SDP_BYTES)]
_CANDIDATE = Annotated[
    str, msgspec.Meta(max_length=MAX_CANDIDATE_CHARS, pattern=r"^[^\x00-\x1f\x7f]*$")
]
_MID = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
_NEGOTIATION = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_UFRAG = Annotated[str, msgspec.Meta(max_length=256, pattern=r"^[^\x00-\x1f\x7f]*$")]
# RFC 8866 §5.14: m-line index; 1024 m-sections is far beyond any real description.
_MLINE = Annotated[int, msgspec.Meta(ge=0, le=1023)]
# Namespaced application types: at least one dot, lower-case segments (reverse-DNS style).
_APP_TYPE = Annotated[
    str, msgspec.Meta(max_length=MAX_APP_TYPE_CHARS, pattern=r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$")
]
_STAT_KEY = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
_STAT_VALUE = bool | int | float | Annotated[str, msgspec.Meta(max_length=64)] | None
_INVITEES = Annotated[tuple[UserId, ...], msgspec.Meta(min_length=1, max_length=MAX_INVITEES)]


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """Base of every wire message."""


class Request(Message, frozen=True, kw_only=True, omit_defaults=True):
    """Base of client messages. ``id``, when present, is echoed by the one reply."""

    id: RequestId | None = None


class RoomRequest(Request, frozen=True, kw_only=True, omit_defaults=True):
    """A request scoped to one room the sender has joined."""

    room: RoomId


class Relayed(RoomRequest, frozen=True, kw_only=True, omit_defaults=True):
    """A message the server relays to other members, stamping ``from`` and ``seq``."""

    from_: PeerId | None = msgspec.field(default=None, name="from")
    seq: Seq | None = None


class Directed(Relayed, frozen=True, kw_only=True, omit_defaults=True):
    """A relayed message addressed to exactly one participant of the room."""

    to: PeerId


# --------------------------------------------------------------------- handshake
class Hello(Request, frozen=True, kw_only=True, omit_defaults=True, tag="hello"):
    """First message on a connection. ``resume`` + ``last_seq`` resume a session."""

    version: int
    resume: Token | None = None
    last_seq: Seq | None = None


class Ping(Request, frozen=True, kw_only=True, omit_defaults=True, tag="ping"):
    """Keep-alive; the server answers :class:`Pong`. Any frame also counts as alive."""


# --------------------------------------------------------------------- membership
class Join(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="join"):
    """Join a room (or its lobby). The reply's result is a :class:`RoomSnapshot` or
    :class:`LobbyWait`."""

    name: Name | None = None
    invite: Token | None = None


class Leave(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="leave"):
    """Leave a room (or its lobby)."""


class MediaState(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="media_state"):
    """Update the sender's own media flags; omitted flags are unchanged."""

    audio: bool | None = None
    video: bool | None = None
    screen: bool | None = None
    hand: bool | None = None


# --------------------------------------------------------------------- moderation
class Mute(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="mute"):
    """Moderator: turn another participant's audio and/or video off."""

    target: PeerId
    audio: bool = True
    video: bool = False


class Kick(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="kick"):
    """Moderator: remove a participant from the room. With ``ban`` the participant's
    *user* is also kept out (every device: its other seats go too), for ``duration``
    seconds or, without it, until the room ends."""

    target: PeerId
    reason: Reason | None = None
    ban: bool = False
    duration: Annotated[float, msgspec.Meta(gt=0, le=MAX_BAN_SECONDS)] | None = None
    """Seconds the ban lasts (only with ``ban``); absent: until the room ends."""


class Unban(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="unban"):
    """Moderator: lift the ban of ``user`` in the room."""

    user: UserId


class UpdateMe(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="update_me"):
    """Change the sender's own display name and/or application ``metadata`` in the room
    (omitted fields unchanged; ``metadata`` replaces the whole object). The others get
    ``participant_updated``. Needs the ``can_update_metadata`` grant."""

    name: Name | None = None
    metadata: dict[str, Any] | None = None


class TransferHost(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="transfer_host"):
    """Host: hand the host role to another participant (the host becomes moderator)."""

    target: PeerId


class SetRole(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="set_role"):
    """Host: promote or demote a participant."""

    target: PeerId
    role: AssignableRole


class Lock(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="lock"):
    """Moderator: lock (no new joins) or unlock the room."""

    locked: bool


class Admit(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="admit"):
    """Moderator: admit (or, with ``allow=false``, deny) someone waiting in the lobby."""

    target: PeerId
    allow: bool = True


class SetLayout(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="set_layout"):
    """Moderator: set the room's layout hint for every client."""

    layout: Layout


class Recording(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="recording"):
    """Start, stop, pause or resume recording: room state the host service acts on."""

    action: RecordingAction


# --------------------------------------------------------------------- negotiation
class Offer(Directed, frozen=True, kw_only=True, omit_defaults=True, tag="offer"):
    """An SDP offer (RFC 8829 §5.2) for one participant. ``negotiation`` names this
    offer: the sender may choose it (1-64 of ``[A-Za-z0-9_-]``); otherwise the server
    assigns one, and the relayed offer always carries it."""

    sdp: _SDP
    negotiation: _NEGOTIATION | None = None


class Answer(Directed, frozen=True, kw_only=True, omit_defaults=True, tag="answer"):
    """An SDP answer (RFC 8829 §5.3) to the addressee's pending offer. ``negotiation``
    echoes the ``negotiation`` of the offer it answers: an answer to an offer that was
    since replaced is refused (``stale_answer``). Without it the answer goes to whatever
    offer is pending (older clients); the relayed answer always carries it."""

    sdp: _SDP
    negotiation: _NEGOTIATION | None = None


class Candidate(Directed, frozen=True, kw_only=True, omit_defaults=True, tag="candidate"):
    """A trickled ICE candidate (RFC 8838 §4): the ``candidate:`` attribute value."""

    candidate: _CANDIDATE
    sdp_mid: _MID | None = None
    sdp_mline_index: _MLINE | None = None
    username_fragment: _UFRAG | None = None


class EndOfCandidates(
    Directed, frozen=True, kw_only=True, omit_defaults=True, tag="end_of_candidates"
):
    """Gathering finished for one generation (RFC 8838 §8.2)."""

    username_fragment: _UFRAG | None = None


# --------------------------------------------------------------------- room chatter
class Chat(Relayed, frozen=True, kw_only=True, omit_defaults=True, tag="chat"):
    """A chat message to the whole room. Plain text, never HTML."""

    text: ChatText


class Reaction(Relayed, frozen=True, kw_only=True, omit_defaults=True, tag="reaction"):
    """An ephemeral reaction (emoji) to the whole room."""

    emoji: Emoji


class Typing(Relayed, frozen=True, kw_only=True, omit_defaults=True, tag="typing"):
    """A typing indicator to the whole room."""

    typing: bool


class App(Relayed, frozen=True, kw_only=True, omit_defaults=True, tag="app"):
    """An application message with a namespaced ``app_type``: to one participant
    (``to``) or to the whole room. The payload is any JSON value, size-limited."""

    app_type: _APP_TYPE
    to: PeerId | None = None
    payload: Any = None


class Stats(RoomRequest, frozen=True, kw_only=True, omit_defaults=True, tag="stats"):
    """A flat connection-quality report; reaches observers (metrics), not other peers."""

    report: Annotated[dict[_STAT_KEY, _STAT_VALUE], msgspec.Meta(max_length=MAX_STATS_KEYS)]


# --------------------------------------------------------------------- calls
class CallInvite(Request, frozen=True, kw_only=True, omit_defaults=True, tag="call_invite"):
    """Ring one or more users. The reply's result is the new :class:`CallInfo`."""

    to: _INVITEES
    media: Literal["audio", "video"] = "video"


class CallAccept(Request, frozen=True, kw_only=True, omit_defaults=True, tag="call_accept"):
    """Answer a ringing call; the reply's result is the call room's snapshot."""

    call: PeerId


class CallDecline(Request, frozen=True, kw_only=True, omit_defaults=True, tag="call_decline"):
    """Decline a call (idempotent)."""

    call: PeerId


class CallCancel(Request, frozen=True, kw_only=True, omit_defaults=True, tag="call_cancel"):
    """Caller: stop ringing (idempotent)."""

    call: PeerId


class CallHangup(Request, frozen=True, kw_only=True, omit_defaults=True, tag="call_hangup"):
    """Leave an answered call (idempotent)."""

    call: PeerId


ClientMessage = (
    Hello
    | Ping
    | Join
    | Leave
    | MediaState
    | Mute
    | Kick
    | Unban
    | UpdateMe
    | TransferHost
    | SetRole
    | Lock
    | Admit
    | SetLayout
    | Recording
    | Offer
    | Answer
    | Candidate
    | EndOfCandidates
    | Chat
    | Reaction
    | Typing
    | App
    | Stats
    | CallInvite
    | CallAccept
    | CallDecline
    | CallCancel
    | CallHangup
)
"""Every message a client may send."""


# ===================================================================== server only
class ServerLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits in force, announced in :class:`Welcome`."""

    max_frame_bytes: int
    ping_interval: float
    """Send something (``ping`` will do) at least this often, in seconds."""
    ping_timeout: float
    """A connection silent this long is treated as dropped."""
    reconnect_grace: float
    """How long a dropped session may resume."""
    max_rooms: int
    max_chat_chars: int


class Welcome(Message, frozen=True, kw_only=True, omit_defaults=True, tag="welcome"):
    """The handshake's answer: the session, a fresh resume token, the limits and the
    ICE servers to use."""

    id: RequestId | None = None
    version: int
    session: PeerId
    user: UserId
    resume_token: Token
    limits: ServerLimits
    resumed: bool
    seq: Seq
    """The last ``seq`` delivered to this session before this welcome."""
    gap: bool
    """On resume: events were lost beyond the replay buffer; fresh snapshots follow."""
    ice_servers: Annotated[tuple[IceServer, ...], msgspec.Meta(max_length=MAX_ICE_SERVERS)] = ()
    """STUN/TURN servers for ``RTCPeerConnection``'s ``iceServers``, with TURN credentials
    minted for this user at this connection (empty: none configured)."""


class RoomSnapshot(Message, frozen=True, kw_only=True, omit_defaults=True, tag="room_snapshot"):
    """A room's whole visible state: the result of ``join``, and an event after a lobby
    admission or a resume with a gap."""

    room: RoomId
    seq: Seq | None = None
    you: PeerId
    host: PeerId | None = None
    participants: tuple[ParticipantInfo, ...]
    locked: bool
    join_policy: JoinPolicyName
    layout: Layout | None = None
    recording: RecordingState
    capacity: int
    chat: tuple[Chat, ...] = ()
    lobby: tuple[LobbyEntry, ...] = ()
    """Visible to hosts and moderators only."""
    bans: tuple[BanEntry, ...] = ()
    """The room's ban list: visible to hosts and moderators only."""
    call: PeerId | None = None
    """Set when the room belongs to a call."""


class LobbyWait(Message, frozen=True, kw_only=True, omit_defaults=True, tag="lobby_wait"):
    """The result of ``join`` on a lobby room: wait for admission."""

    room: RoomId
    you: PeerId


class Ok(Message, frozen=True, kw_only=True, omit_defaults=True, tag="ok"):
    """Success reply to the request with this ``id``."""

    id: RequestId | None = None
    result: RoomSnapshot | LobbyWait | CallInfo | None = None


class Error(Message, frozen=True, kw_only=True, omit_defaults=True, tag="error"):
    """Failure reply (or, with no ``id``, a report about a message without one)."""

    id: RequestId | None = None
    code: str
    message: str
    details: dict[str, Any] | None = None
    retry_after: float | None = None


class Pong(Message, frozen=True, kw_only=True, omit_defaults=True, tag="pong"):
    """Answer to :class:`Ping`."""

    id: RequestId | None = None


class Event(Message, frozen=True, kw_only=True, omit_defaults=True):
    """Base of server events: numbered by the session's ``seq``."""

    seq: Seq | None = None


class ParticipantJoined(
    Event, frozen=True, kw_only=True, omit_defaults=True, tag="participant_joined"
):
    """Someone joined a room you are in."""

    room: RoomId
    participant: ParticipantInfo


class ParticipantLeft(Event, frozen=True, kw_only=True, omit_defaults=True, tag="participant_left"):
    """Someone left a room you are in."""

    room: RoomId
    participant: PeerId
    reason: LeaveReason


class ParticipantUpdated(
    Event, frozen=True, kw_only=True, omit_defaults=True, tag="participant_updated"
):
    """A participant's media flags, presence, name or metadata changed."""

    room: RoomId
    participant: ParticipantInfo


class RoleChanged(Event, frozen=True, kw_only=True, omit_defaults=True, tag="role_changed"):
    """A participant's role changed."""

    room: RoomId
    participant: PeerId
    role: Role
    by: PeerId | None = None


class HostChanged(Event, frozen=True, kw_only=True, omit_defaults=True, tag="host_changed"):
    """The host role moved (transfer, or the host left)."""

    room: RoomId
    host: PeerId
    previous: PeerId | None = None


class RoomUpdated(Event, frozen=True, kw_only=True, omit_defaults=True, tag="room_updated"):
    """Room-wide state changed: lock, layout or recording."""

    room: RoomId
    locked: bool
    layout: Layout | None = None
    recording: RecordingState
    by: PeerId | None = None


class LobbyUpdated(Event, frozen=True, kw_only=True, omit_defaults=True, tag="lobby_updated"):
    """The lobby's waiting list changed (sent to hosts and moderators)."""

    room: RoomId
    lobby: tuple[LobbyEntry, ...]


class BansUpdated(Event, frozen=True, kw_only=True, omit_defaults=True, tag="bans_updated"):
    """The room's ban list changed (a ban or an unban; sent to hosts and moderators, and
    to a member who becomes one). A timed ban lifts by itself, without one."""

    room: RoomId
    bans: tuple[BanEntry, ...]


class Removed(Event, frozen=True, kw_only=True, omit_defaults=True, tag="removed"):
    """You are no longer in the room (or its lobby): kicked, replaced, denied, closed."""

    room: RoomId
    reason: LeaveReason
    by: PeerId | None = None
    message: Reason | None = None


class Muted(Event, frozen=True, kw_only=True, omit_defaults=True, tag="muted"):
    """A moderator turned your audio and/or video off."""

    room: RoomId
    by: PeerId
    audio: bool
    video: bool


class IncomingCall(Event, frozen=True, kw_only=True, omit_defaults=True, tag="incoming_call"):
    """Someone is calling you (sent to every connection of each invitee)."""

    call: CallInfo


class CallUpdated(Event, frozen=True, kw_only=True, omit_defaults=True, tag="call_updated"):
    """A call you are part of changed state. ``reason="answered_elsewhere"`` on a
    ringing call means another of your devices answered it."""

    call: CallInfo


class CallEnding(Event, frozen=True, kw_only=True, omit_defaults=True, tag="call_ending"):
    """The call reaches its maximum duration in ``remaining`` seconds."""

    call: PeerId
    remaining: float


class NegotiationReset(
    Event, frozen=True, kw_only=True, omit_defaults=True, tag="negotiation_reset"
):
    """In a cluster, the instance running ``room`` changed without a handover (its owner
    crashed): offers, answers and candidates in flight toward you from ``peers`` may be
    lost. Comes right after a fresh ``room_snapshot``. Re-offer with an ICE restart
    toward a peer whose connection is not ``stable`` and connected; established media is
    not touched."""

    room: RoomId
    peers: tuple[PeerId, ...]
    reason: Literal["owner_changed"]


class GoingAway(Message, frozen=True, kw_only=True, omit_defaults=True, tag="going_away"):
    """The server is shutting down: reconnect (to any instance) and resume."""

    reason: Reason
    reconnect: bool


ServerMessage = (
    Welcome
    | Ok
    | Error
    | Pong
    | RoomSnapshot
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantUpdated
    | RoleChanged
    | HostChanged
    | RoomUpdated
    | LobbyUpdated
    | BansUpdated
    | Removed
    | Muted
    | IncomingCall
    | CallUpdated
    | CallEnding
    | Offer
    | Answer
    | Candidate
    | EndOfCandidates
    | Chat
    | Reaction
    | Typing
    | App
    | NegotiationReset
    | GoingAway
)
"""Every message a server may send."""

__all__ = [
    "Admit",
    "Answer",
    "App",
    "BansUpdated",
    "CallAccept",
    "CallCancel",
    "CallDecline",
    "CallEnding",
    "CallHangup",
    "CallInvite",
    "CallUpdated",
    "Candidate",
    "Chat",
    "ClientMessage",
    "Directed",
    "EndOfCandidates",
    "Error",
    "Event",
    "GoingAway",
    "Hello",
    "HostChanged",
    "IncomingCall",
    "Join",
    "JoinPolicyName",
    "Kick",
    "Leave",
    "LobbyUpdated",
    "LobbyWait",
    "Lock",
    "MediaState",
    "Message",
    "Muted",
    "NegotiationReset",
    "Offer",
    "Ok",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantUpdated",
    "Ping",
    "Pong",
    "Reaction",
    "Recording",
    "Relayed",
    "Removed",
    "Request",
    "RoleChanged",
    "RoomRequest",
    "RoomSnapshot",
    "RoomUpdated",
    "ServerLimits",
    "ServerMessage",
    "SetLayout",
    "SetRole",
    "Stats",
    "TransferHost",
    "Typing",
    "Unban",
    "UpdateMe",
    "Welcome",
]
