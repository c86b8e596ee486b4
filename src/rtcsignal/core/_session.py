"""Sessions and connections: a dropped connection is not a leave.

Theory of operation
-------------------
A *connection* is one WebSocket; a *session* is what survives it. ``hello`` creates a
session (or resumes one with its token) and attaches the connection. When the connection
drops, the session is *reconnecting* for ``reconnect_grace`` seconds: its participants stay
in their rooms (marked ``reconnecting``), events addressed to it keep being numbered and
kept in its bounded replay buffer, and a ``hello`` with the resume token and the last
``seq`` it saw replays what it missed, in order. A newer connection presenting the token
takes the session over and the older one is closed (``4000``). After the grace period the
session ends for real: every participant leaves (host transfer, call end, room expiry).

The replay buffer keeps the last events even while connected, because frames written just
before a drop may never have arrived; it is bounded by count and bytes, and a resume from
before its start is a *gap*: the server says so and sends fresh room snapshots.

Replies are not numbered events, so a reply written just before a drop can be lost as
well. The session therefore also remembers its recent *answered requests*: request
``id`` -> (the request, the reply sent, the connection it came on). The
same request re-sent with the same ``id`` on a later connection of the session (after a
resume) is answered from there and not applied again (exactly once across reconnects); see
:meth:`rtcsignal.core._edge.Edge.recall`. That table is bounded like the
replay buffer (``replay_events`` entries, ``replay_bytes`` of request and reply frames) and
lives as long as the session.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from rtcsignal.protocol import Error, Format, IceServer, Message, Ok

from ._identity import Identity
from .seam import Sender

__all__ = [
    "ANSWER_OVERHEAD_BYTES",
    "DEFAULT_REPLAY_BYTES",
    "DEFAULT_REPLAY_EVENTS",
    "Answered",
    "Connection",
    "Session",
]

DEFAULT_REPLAY_EVENTS: Final = 128
"""Events kept for replay: a 30 s outage in a busy 8-person room (joins, media flags,
chat, renegotiation) stays well under 128."""
DEFAULT_REPLAY_BYTES: Final = 256 * 1024
"""Bytes kept for replay per session: two full-size offers plus chatter; bounds the worst
case (128 x 64 KiB frames) to a quarter MiB."""

ANSWER_OVERHEAD_BYTES: Final = 64
"""What one remembered answer costs besides its request and reply frames (the id, the
table slot), counted against ``replay_bytes``."""

Answered = tuple[Message, Ok | Error, int, str]
"""One remembered answer: the request (decoded), its reply, its cost in bytes, and the
connection the request came on."""


class Connection:
    """One transport connection (mutable, owned by the server)."""

    __slots__ = ("fmt", "ice_servers", "id", "identity", "last_seen", "opened_at", "session")

    def __init__(
        self,
        conn_id: str,
        identity: Identity,
        now: float,
        ice_servers: tuple[IceServer, ...] = (),
    ) -> None:
        self.id = conn_id
        self.ice_servers = ice_servers  # announced in this connection's welcome
        self.identity = identity
        self.opened_at = now
        self.last_seen = now
        self.session: Session | None = None
        self.fmt = Format.JSON


class Session:
    """A user's session: its rooms, its event stream and its replay buffer."""

    __slots__ = (
        "answered",
        "answered_bytes",
        "conn",
        "ended",
        "fmt",
        "grace_deadline",
        "id",
        "identity",
        "replay",
        "replay_bytes",
        "rooms",
        "sender",
        "seq",
        "token",
        "user",
    )

    def __init__(self, session_id: str, identity: Identity, token: str, fmt: Format) -> None:
        self.id = session_id
        self.identity = identity
        self.user = identity.user
        self.sender = Sender(
            session=session_id,
            user=identity.user,
            name=identity.name,
            grants=dict(identity.grants),
            hidden=identity.hidden,
            can_update_metadata=identity.can_update_metadata,
        )
        """What the room host knows of this session (its requests carry it)."""
        self.token = token
        self.fmt = fmt
        self.conn: str | None = None
        self.rooms: dict[str, str] = {}  # room id -> participant (or lobby entry) id
        self.seq = 0
        self.replay: deque[tuple[int, bytes]] = deque()
        self.replay_bytes = 0
        self.answered: dict[int | str, Answered] = {}  # request id -> answer, oldest first
        self.answered_bytes = 0
        self.grace_deadline: float | None = None
        self.ended = False

    def trim(self, max_events: int, max_bytes: int) -> None:
        """Evict the oldest frames kept for replay beyond the bounds. (The edge appends
        each delivered frame to ``replay`` and adds its size to ``replay_bytes`` itself,
        inline on the relay's hot path, and calls this only when over a bound.)"""
        replay = self.replay
        while replay and (len(replay) > max_events or self.replay_bytes > max_bytes):
            self.replay_bytes -= len(replay.popleft()[1])

    def missed_since(self, last_seq: int) -> list[bytes] | None:
        """Frames after ``last_seq`` in order, or ``None`` if some were already evicted."""
        if last_seq >= self.seq:
            return []
        first = self.replay[0][0] if self.replay else self.seq + 1
        if last_seq + 1 < first:
            return None
        return [frame for seq, frame in self.replay if seq > last_seq]
