"""What instances of one cluster send each other, and what a server asks its backplane.

Theory of operation
-------------------
A server built with ``node=`` is one instance of a cluster. Each room (and the call book,
with every call's room: the shard :data:`CALLS`) has exactly one **owner** instance,
which runs the room's machine. Every instance is an **edge** for the sockets it holds:
it decodes and checks what its clients send (frame size, decoding, per-connection rate
limits) and hands the rest to the room's owner. The server stays sans-I/O: it never
learns who owns a room by itself. It asks its backplane driver with effects, and the
driver tells it back with :meth:`~rtcsignal.core.Server.own` and
:meth:`~rtcsignal.core.Server.envelope`:

* :class:`Route`: "deliver this :class:`Ask` to the owner of ``key``". The driver looks
  the owner up (or takes ownership, atomically, when ``create`` says the input may create
  the room), and posts the ask to that instance, or, when this instance is the owner,
  calls ``own`` and hands it back.
* :class:`Post`: "send this envelope to instance ``node``" (every other instance when
  ``node`` is ``None``: a call rings every device of a user).
* :class:`Persist`: "write this room state, fenced by ``epoch``": after a change of
  membership, roles, lobby, locks, calls or settings, never for a relayed message.
* :class:`Release`: "this instance no longer owns ``key``" (the room is gone).
* :class:`OwnerSeen`: "a tell came from a newer owner of ``key``": route there now.
* :class:`AdminPending` / :class:`AdminAnswer`: an application call on an instance that
  does not own its room is routed like a client's request; its outcome (done, refused,
  or ``backplane_unavailable``) comes back under a ticket, for the runtime to raise to
  its caller as one instance would.

Envelopes (MessagePack, :func:`encode_envelope`):

* :class:`Ask`: one :data:`~rtcsignal.core.seam.HostInput` for the owner of ``key``,
  with the connection and request id to answer (the edge keeps no state per request
  but a deadline: :attr:`~rtcsignal.core.ServerConfig` ``request_timeout``).
* :class:`Tell`: the owner's ops for the sessions an instance holds, and, when it
  answers an ask of that instance, the answer first. It carries the owner's epoch: an
  instance drops a tell older than an epoch it has seen for that key (fencing).
* :class:`Bounce`: "I do not own ``key``": the edge forgets its owner entry and routes
  the ask again (at most :data:`MAX_HOPS` times).
* :class:`Want` / :class:`Hand`: a session resumes on another instance: the new edge
  asks the instance named in the resume token for the session, which hands over its
  state (``seq``, replay buffer, seats) and forwards what still reaches it for that
  session to its new edge.
* :class:`Gone`: "I hold none of these sessions you sent frames for": the owner lets
  them leave (a restarted instance under the same id no longer has them).
  :class:`Held` asks an instance that joins which of the sessions the owner places there
  it still holds.
* :class:`Spread` / :class:`Supersede`: per-user limits across instances. Each instance tells
  every other how many sessions of a user it holds whenever that changes (and all of
  them to an instance that joins), so that ``max_sessions_per_user`` counts the whole
  cluster and a user connected to ``k`` instances gets ``1/k`` of each per-user rate
  budget on each; an instance that starts a session past the limit asks the one holding
  the user's reconnecting session to end it.
"""

from __future__ import annotations

from typing import Final

import msgspec

from rtcsignal import protocol as p

from ._bans import Ban
from ._callvalues import CallRecord
from ._roompolicy import Participant, RoomPolicy, Waiting
from .seam import HostInput, Op, Refusal, Sender

__all__ = [
    "ADMIN_CONN",
    "CALLS",
    "MAX_HOPS",
    "AdminAnswer",
    "AdminPending",
    "Ask",
    "Bounce",
    "Envelope",
    "Gone",
    "Hand",
    "Held",
    "OwnerSeen",
    "Persist",
    "Post",
    "Release",
    "RoomState",
    "Route",
    "SessionState",
    "Spread",
    "Supersede",
    "Tell",
    "Want",
    "decode_envelope",
    "decode_state",
    "encode_envelope",
    "shard_of",
    "token_node",
]

CALLS: Final = "~calls"
"""The shard of the call book: every call and every call's room. One owner coordinates
calls, so ringing every device, "answered elsewhere" and call glare are decided in one
place, as on one instance."""
ADMIN_CONN: Final = "~admin"
"""The connection an application call (``Server.close_room`` ...) routed to another
instance is answered to (no client connection has this id)."""
MAX_HOPS: Final = 3
"""How many times an ask is routed again after a :class:`Bounce` before the sender gets
``backplane_unavailable``."""
_CALL_PREFIX: Final = "call-"


def shard_of(room: str | None) -> str:
    """The ownership key of ``room``: the room id, or :data:`CALLS` for a call's room
    (and for ``call_invite``, whose room does not exist yet: ``None``)."""
    if room is None or room.startswith(_CALL_PREFIX):
        return CALLS
    return room


def token_node(token: str) -> str | None:
    """The instance named in a cluster resume token (``<node>.<random>``), if any."""
    node, dot, _ = token.partition(".")
    return node if dot and node else None


# ===================================================================== effects
class Route(msgspec.Struct, frozen=True, kw_only=True):
    """Deliver ``data`` (an encoded :class:`Ask`) to the owner of ``key``; take
    ownership first when there is none and ``create`` is set."""

    key: str
    data: bytes
    create: bool = False
    bounced: str | None = None
    """The instance that said it does not own ``key`` (forget it as the owner)."""


class Post(msgspec.Struct, frozen=True, kw_only=True):
    """Send ``data`` (an encoded envelope) to instance ``node`` (``None``: to every other
    live instance), in order with everything else posted to it."""

    node: str | None
    data: bytes


class Persist(msgspec.Struct, frozen=True, kw_only=True):
    """Write ``data`` (an encoded :class:`RoomState`) as the state of ``key``, only if
    this instance still owns it at ``epoch`` (a fenced write)."""

    key: str
    epoch: int
    data: bytes


class Release(msgspec.Struct, frozen=True, kw_only=True):
    """This instance gave ``key`` up (its room is gone): release the ownership taken at
    ``epoch`` (compare-and-delete)."""

    key: str
    epoch: int


class OwnerSeen(msgspec.Struct, frozen=True, kw_only=True):
    """A tell showed a newer owner of ``key``: instance ``node`` at ``epoch`` (after a
    takeover), so that routes go there from now on instead of to the old owner."""

    key: str
    node: str
    epoch: int


class AdminPending(msgspec.Struct, frozen=True, kw_only=True):
    """An application call (``create_room``, ``close_room``, ``remove_participant``,
    ``end_call``, ``update_room``, ``invite``, ``say``) went to the instance that owns its
    room: its outcome comes later, as an :class:`AdminAnswer` with the same ``ticket``
    (within ``request_timeout``)."""

    ticket: int


class AdminAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of application call ``ticket``: done (``refused`` is ``None``),
    refused by the owner (what one instance raises as ``UsageError``), or
    ``backplane_unavailable`` once ``request_timeout`` passed without an answer."""

    ticket: int
    refused: Refusal | None = None


# ===================================================================== envelopes
class Ask(msgspec.Struct, frozen=True, kw_only=True, tag="ask", tag_field="e"):
    """One host input for the owner of ``key``.

    Attributes:
        key: the ownership key (:func:`shard_of`).
        epoch: the owner epoch the sender routed by (``0``: none known).
        src: the sending instance.
        input: the host input.
        conn / rid / fmt: the connection, request id and codec to answer (``conn`` is
            ``None`` when nothing is answered: presence, departures, snapshots).
        create: the input may create the room (``join``, ``knock``, ``call_invite``).
        hops: how many times it was routed again after a :class:`Bounce`.
    """

    key: str
    epoch: int
    src: str
    input: HostInput
    conn: str | None = None
    rid: int | str | None = None
    fmt: int = 0
    create: bool = False
    hops: int = 0


class Tell(msgspec.Struct, frozen=True, kw_only=True, tag="tell", tag_field="e"):
    """The owner's ops for the sessions an instance holds (and an answer).

    Attributes:
        key / epoch / src: the ownership key, the owner's epoch and the owner.
        ops: what the receiving edge applies, in order.
        conn / rid / fmt: the asker's connection and request to answer (``answer``).
        answer: whether this carries the answer (``reply``, ``refused``, or a plain
            ``ok`` when both are ``None`` and ``rid`` is set).
    """

    key: str
    epoch: int
    src: str
    ops: list[Op] = []
    conn: str | None = None
    rid: int | str | None = None
    fmt: int = 0
    answer: bool = False
    reply: p.Ok | None = None
    refused: Refusal | None = None


class Bounce(msgspec.Struct, frozen=True, kw_only=True, tag="bounce", tag_field="e"):
    """The receiving instance does not own ``ask.key``: route ``ask`` again."""

    src: str
    ask: Ask


class SessionState(msgspec.Struct, frozen=True, kw_only=True):
    """A session as it moves between instances (resume on another instance).

    Attributes:
        sender: its id and identity, as rooms know it.
        fmt: its codec (``0`` JSON, ``1`` MessagePack).
        seq: the last ``seq`` it was sent.
        replay: the frames kept for replay, ``(seq, frame)`` in order.
        rooms: its seats, room id -> participant (or lobby entry) id.
        answered: its remembered answers (request, reply, cost in bytes, connection), so
            that a request re-sent after the move is still answered once.
    """

    sender: Sender
    fmt: int = 0
    seq: int = 0
    replay: list[tuple[int, bytes]] = []
    rooms: dict[str, str] = {}
    answered: list[tuple[p.ClientMessage, p.Ok | p.Error, int, str]] = []


class Want(msgspec.Struct, frozen=True, kw_only=True, tag="want", tag_field="e"):
    """Instance ``src`` asks for the session of resume ``token`` (for ``user``), to resume
    it on connection ``conn`` of ``src``."""

    src: str
    token: str
    user: str
    conn: str


class Hand(msgspec.Struct, frozen=True, kw_only=True, tag="hand", tag_field="e"):
    """The answer to a :class:`Want`: the session (``None``: unknown token, or another
    user's)."""

    src: str
    token: str
    conn: str
    state: SessionState | None = None


class Spread(msgspec.Struct, frozen=True, kw_only=True, tag="spread", tag_field="e"):
    """How many sessions of each user instance ``src`` holds.

    Attributes:
        src: the instance.
        users: user -> ``(sessions, connected)`` on ``src`` (``(0, 0)``: none any more).
        full: the list is complete: a user not in it has no session on ``src`` (sent to
            an instance that joins the cluster).
    """

    src: str
    users: dict[str, tuple[int, int]] = {}
    full: bool = False


class Supersede(msgspec.Struct, frozen=True, kw_only=True, tag="supersede", tag_field="e"):
    """Instance ``src`` started a session of ``user`` past ``max_sessions_per_user``: end
    the user's oldest reconnecting session here (reason ``evicted``), as one instance
    would have before starting it."""

    src: str
    user: str


class Gone(msgspec.Struct, frozen=True, kw_only=True, tag="gone", tag_field="e"):
    """Instance ``src`` holds none of ``sessions``, which the owner of ``key`` sent
    frames for (they ended there, or ``src`` restarted under the same id): the owner
    lets them leave (``disconnected``)."""

    src: str
    key: str
    sessions: list[str]


class Held(msgspec.Struct, frozen=True, kw_only=True, tag="held", tag_field="e"):
    """The owner of ``key`` (instance ``src``) believes the receiver holds ``sessions``
    (sent when the receiver joins the cluster, which may be a restart under the same
    id): the receiver answers :class:`Gone` for those it does not hold."""

    src: str
    key: str
    sessions: list[str]


Envelope = Ask | Tell | Bounce | Want | Hand | Spread | Supersede | Gone | Held
"""Everything one instance sends another."""


# ===================================================================== room state
class RoomState(msgspec.Struct, frozen=True, kw_only=True):
    """What a new owner needs to continue a room (written by :class:`Persist`).

    Attributes:
        key / epoch / owner: the ownership key, the epoch and the instance that wrote it.
        policy: the room's policy (``None`` for the call book).
        host / locked / layout / recording: the room's settings.
        participants: the members as every member sees them.
        seats: session id -> participant (or lobby entry) id.
        lobby: who waits in the lobby.
        nodes: session id -> the instance that holds it.
        calls: the call book's calls (the :data:`CALLS` shard only).
        members / waiting: every member and lobby entry in full (session, the role it
            joined as, grants), for a new owner to continue the room.
        bans: the room's bans, each ``until`` as seconds left when written.
        order: the room's join counter.
        closed: the room is gone (written just before its ownership is released), so
            that the next owner starts it afresh.
    """

    key: str
    epoch: int
    owner: str
    policy: RoomPolicy | None = None
    host: str | None = None
    locked: bool = False
    layout: str | None = None
    recording: p.RecordingState = "idle"
    participants: tuple[p.ParticipantInfo, ...] = ()
    seats: dict[str, str] = {}
    lobby: tuple[p.LobbyEntry, ...] = ()
    nodes: dict[str, str] = {}
    calls: tuple[CallRecord, ...] = ()
    members: tuple[Participant, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    bans: tuple[Ban, ...] = ()
    order: int = 0
    closed: bool = False


_ENCODER: Final = msgspec.msgpack.Encoder()
_ENVELOPE: Final = msgspec.msgpack.Decoder(Envelope)
_STATE: Final = msgspec.msgpack.Decoder(RoomState)


def encode_envelope(value: Envelope | RoomState) -> bytes:
    """Returns: the MessagePack encoding of an envelope (or a room state)."""
    return _ENCODER.encode(value)


def decode_envelope(data: bytes) -> Envelope:
    """Returns: the envelope encoded in ``data``.

    Raises:
        msgspec.ValidationError / msgspec.DecodeError: ``data`` is not an envelope.
    """
    return _ENVELOPE.decode(data)


def decode_state(data: bytes) -> RoomState:
    """Returns: the room state encoded in ``data``."""
    return _STATE.decode(data)
