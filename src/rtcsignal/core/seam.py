"""The edge / room-host seam: the values that pass between the two halves of the core.

Theory of operation
-------------------
The :class:`~rtcsignal.core.Server` is two machines. The **edge** holds connections and
sessions (hello and resume, per-session ``seq``, replay buffers, handshake, ping and
grace timers, the per-connection limits). The **room host** holds rooms, their
negotiations and calls, and their timers. They never call each other: the server hands
the host one :data:`HostInput` at a time and applies the :class:`RoomOutput` it returns to
the edge. So everything that crosses is a value defined here: a frozen, keyword-only
:class:`msgspec.Struct` with a stable MessagePack encoding (:func:`encode_input`,
:func:`decode_input`, :func:`encode_output`, :func:`decode_output`). That is what lets a
room live on another instance: the same values then travel through a backplane.

Inputs name their sender by session and user, never by connection; outputs address
sessions (and users, for calls that ring every device of a user), never connections.
A :class:`RoomOutput` is an ordered list of operations: the edge applies them in order,
which keeps the order of every frame and observer event exactly what it would be if the
two halves were one object.

On one instance nothing is encoded: the server passes the values as they are. The test
suite runs a second time with ``seam="loopback"`` (see :class:`~rtcsignal.core.Server`),
which encodes and decodes every value on its way across, to prove that nothing else
crosses.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from rtcsignal import protocol as p
from rtcsignal.protocol import Role

from . import events as ev
from ._roompolicy import RoomPolicy

__all__ = [
    "AnyEvent",
    "CloseSession",
    "Deliver",
    "Depart",
    "Emit",
    "EndCall",
    "Evict",
    "Expire",
    "HostInput",
    "Invite",
    "Joined",
    "Left",
    "Op",
    "OpenRoom",
    "Presence",
    "Refusal",
    "RoomCall",
    "RoomOutput",
    "Say",
    "Sender",
    "SetPolicy",
    "ShutRoom",
    "Snapshot",
    "TickCalls",
    "ToUser",
    "UserSeen",
    "decode_input",
    "decode_output",
    "encode_input",
    "encode_output",
]


# ===================================================================== who sends
class Sender(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated sender of a room request: what the room host may know of a
    session (its identity, never its connection).

    Attributes:
        session: the sender's session id.
        user: the authenticated user id.
        name: the identity's default display name.
        grants: roles granted per room id (``"*"``: every room).
        hidden: the identity's ``hidden`` grant (see :class:`~rtcsignal.core.Identity`).
        can_update_metadata: the identity's ``can_update_metadata`` grant, ``None``
            for the role's default.
    """

    session: str
    user: str
    name: str | None = None
    grants: dict[str, Role] = {}
    hidden: bool = False
    can_update_metadata: bool | None = None

    def grant_for(self, room: str) -> Role | None:
        """The role granted in ``room`` (a room-specific grant wins over ``"*"``)."""
        grants = self.grants
        return grants.get(room) or grants.get("*") if grants else None


# ===================================================================== edge -> host
class RoomCall(msgspec.Struct, frozen=True, tag="call", tag_field="in"):
    """A client request for the room host: a room request, a negotiation message, or a
    call request.

    Attributes:
        room: the room it addresses (a call's room for call requests; ``None`` for
            ``call_invite``, whose room the host creates).
        sender: who sent it.
        joined: how many rooms (and lobbies) the sender's session is in, per the edge.
        request: the decoded request.
        at: the ``now`` of its arrival.
    """

    room: str | None
    sender: Sender
    joined: int
    request: p.ClientMessage
    at: float


class Presence(msgspec.Struct, frozen=True, kw_only=True, tag="presence", tag_field="in"):
    """A session's connection dropped (``reconnecting``) or came back (``connected``)."""

    room: str
    session: str
    state: p.PresenceState
    at: float


class Depart(msgspec.Struct, frozen=True, kw_only=True, tag="depart", tag_field="in"):
    """A session ended for good: its participant (or lobby entry) leaves ``room``."""

    room: str
    session: str
    reason: p.LeaveReason
    at: float


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, tag="snapshot", tag_field="in"):
    """A session resumed with a gap: send it a fresh snapshot of ``room``."""

    room: str
    session: str
    at: float


class UserSeen(msgspec.Struct, frozen=True, kw_only=True, tag="user_seen", tag_field="in"):
    """A new session of ``user`` started: ring it for the user's ringing calls."""

    user: str
    session: str
    at: float


class OpenRoom(msgspec.Struct, frozen=True, kw_only=True, tag="open_room", tag_field="in"):
    """The application creates ``room`` with ``policy``."""

    room: str
    policy: RoomPolicy
    at: float


class ShutRoom(msgspec.Struct, frozen=True, kw_only=True, tag="shut_room", tag_field="in"):
    """The application closes ``room``: everyone in it is removed (``room_closed``)."""

    room: str
    at: float


class Expire(msgspec.Struct, frozen=True, kw_only=True, tag="expire", tag_field="in"):
    """The room host's own timer for ``room`` came due."""

    room: str
    at: float


class TickCalls(msgspec.Struct, frozen=True, kw_only=True, tag="tick_calls", tag_field="in"):
    """Fire the call timers due at ``at``."""

    at: float


class Evict(msgspec.Struct, frozen=True, kw_only=True, tag="evict", tag_field="in"):
    """The application removes ``participant`` (a member or a lobby entry) from ``room``;
    ``message`` tells it why (in its ``removed``)."""

    room: str
    participant: str
    message: str | None = None
    at: float


class EndCall(msgspec.Struct, frozen=True, kw_only=True, tag="end_call", tag_field="in"):
    """The application ends ``call`` (``hangup`` or ``failed``)."""

    call: str
    reason: p.CallEndReason = "hangup"
    at: float


class SetPolicy(msgspec.Struct, frozen=True, kw_only=True, tag="set_policy", tag_field="in"):
    """The application changes ``room``'s policy (capacity, join policy, invite list)."""

    room: str
    policy: RoomPolicy
    at: float


class Invite(msgspec.Struct, frozen=True, kw_only=True, tag="invite", tag_field="in"):
    """The application adds ``users`` and invite ``tokens`` to ``room``'s invite list (in
    one step at the room's owner: two invites at once both count)."""

    room: str
    users: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()
    at: float


class Say(msgspec.Struct, frozen=True, kw_only=True, tag="say", tag_field="in"):
    """A server-originated ``app`` message into ``room``, or to one participant."""

    room: str
    app_type: str
    payload: Any = None
    to: str | None = None
    at: float


HostInput = (
    RoomCall
    | Presence
    | Depart
    | Snapshot
    | UserSeen
    | OpenRoom
    | ShutRoom
    | Expire
    | TickCalls
    | Evict
    | EndCall
    | SetPolicy
    | Invite
    | Say
)
"""Everything the edge side hands the room host."""


# ===================================================================== host -> edge
class Deliver(msgspec.Struct, frozen=True, tag="deliver", tag_field="op"):
    """Number ``message`` in each session's stream and send it (stamped ``from_`` and
    without its request id, when ``from_`` is set: a relayed request)."""

    sessions: tuple[str, ...]
    message: p.ServerMessage
    from_: str | None = None


class ToUser(msgspec.Struct, frozen=True, kw_only=True, tag="to_user", tag_field="op"):
    """Deliver ``message`` to every session of ``user`` but ``except_session``."""

    user: str
    message: p.ServerMessage
    except_session: str | None = None


class Joined(msgspec.Struct, frozen=True, kw_only=True, tag="joined", tag_field="op"):
    """``session`` now has participant (or lobby entry) ``pid`` in ``room``."""

    session: str
    room: str
    pid: str


class Left(msgspec.Struct, frozen=True, kw_only=True, tag="left", tag_field="op"):
    """Participant (or lobby entry) ``pid`` of ``session`` is no longer in ``room``."""

    session: str
    room: str
    pid: str


class CloseSession(msgspec.Struct, frozen=True, kw_only=True, tag="close_session", tag_field="op"):
    """End ``session`` (a duplicate join replaced it)."""

    session: str


AnyEvent = (
    ev.RoomCreated
    | ev.RoomClosed
    | ev.RoomTakenOver
    | ev.RoomPolicyChanged
    | ev.MemberJoined
    | ev.MemberLeft
    | ev.MemberBanned
    | ev.MemberUnbanned
    | ev.MemberRoleChanged
    | ev.HostTransferred
    | ev.RecordingChanged
    | ev.DuplicateJoin
    | ev.CallStateChanged
    | ev.RequestRejected
    | ev.RateLimitDenied
    | ev.SessionStarted
    | ev.SessionResumed
    | ev.SessionEnded
    | ev.ConnectionClosed
    | ev.StatsReported
    | ev.InternalError
)
"""Every observer event, as a tagged union (for decoding)."""


class Emit(msgspec.Struct, frozen=True, kw_only=True, tag="emit", tag_field="op"):
    """Pass an observer event on, in order."""

    event: AnyEvent


Op = Deliver | ToUser | Joined | Left | CloseSession | Emit
"""One operation of a :class:`RoomOutput`."""


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """The room host refused the request: the error reply to send.

    Attributes:
        code / message / details / retry_after: those of the ``error`` reply.
    """

    code: p.ErrorCode
    message: str
    details: dict[str, Any] | None = None
    retry_after: float | None = None


class RoomOutput(msgspec.Struct):
    """What one :data:`HostInput` produced.

    Attributes:
        reply: the request's ``ok`` reply (with its result), when it has one.
        refused: the refusal, when the request was refused. ``ops`` may still hold
            what happened before the refusal (a room created on the way).
        ops: what the edge must do, in order.
    """

    reply: p.Ok | None = None
    refused: Refusal | None = None
    ops: list[Op] = []


# ===================================================================== encoding
_ENCODER: Final = msgspec.msgpack.Encoder()
_INPUT: Final = msgspec.msgpack.Decoder(HostInput)
_OUTPUT: Final = msgspec.msgpack.Decoder(RoomOutput)


def encode_input(value: HostInput) -> bytes:
    """Returns: the MessagePack encoding of a host input."""
    return _ENCODER.encode(value)


def decode_input(data: bytes) -> HostInput:
    """Returns: the host input encoded in ``data``.

    Raises:
        msgspec.ValidationError / msgspec.DecodeError: ``data`` is not a host input.
    """
    return _INPUT.decode(data)


def encode_output(value: RoomOutput) -> bytes:
    """Returns: the MessagePack encoding of a room output."""
    return _ENCODER.encode(value)


def decode_output(data: bytes) -> RoomOutput:
    """Returns: the room output encoded in ``data``.

    Raises:
        msgspec.ValidationError / msgspec.DecodeError: ``data`` is not a room output.
    """
    return _OUTPUT.decode(data)
