"""A room's values: its policy, the permission table, its members and its outbox.

:class:`RoomPolicy` is the application's configuration of a room; :data:`PERMISSIONS` is
the one table of who may take which moderator action; :class:`Participant` is a member;
:class:`Outbox` collects what one change of a room produces, in order. The machine that
uses them is :class:`~rtcsignal.core._room.Room`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Final

import attrs

from rtcsignal.protocol import Message, ParticipantInfo, PresenceState, RecordingState, Role

from . import events as ev

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_CHAT_HISTORY",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_SEATS_PER_USER",
    "MAX_HIDDEN",
    "MAX_LOBBY",
    "MODERATORS",
    "PERMISSIONS",
    "RANK",
    "RECORDING_TRANSITIONS",
    "Action",
    "DuplicatePolicy",
    "JoinPolicy",
    "Outbox",
    "Participant",
    "RoomPolicy",
    "Waiting",
]

DEFAULT_CAPACITY: Final = 50
"""Mesh calls stop being usable well before 50; SFU-backed rooms and audio rooms of 50 are
common. Raise it per room for webinars."""
DEFAULT_CHAT_HISTORY: Final = 100
"""The last 100 chat messages ride in the join snapshot: enough to catch up, small enough
that a snapshot stays under ~200 KiB even at the chat size limit."""
DEFAULT_IDLE_TIMEOUT: Final = 2 * 3600.0
"""Empty rooms live 2 hours, so a meeting link still works after everyone stepped out."""
DEFAULT_MAX_SEATS_PER_USER: Final = 4
"""Seats (participants and lobby entries, connected or reconnecting) one user may hold
in one room under the ``allow`` duplicate policy: a phone, a laptop, a tablet and a
spare tab. A reconnecting seat is given up for a new one past it, so one user cannot
fill a room with the ghosts of dropped connections."""
MAX_LOBBY: Final = 100
"""Waiting-room entries per room: a lobby is for people a moderator admits by hand."""
MAX_HIDDEN: Final = 16
"""Hidden members per room (recorders, transcribers, bots): they do not count toward
the capacity, so this bounds them on their own; a room needs a few, not dozens."""


class JoinPolicy(enum.Enum):
    """How a room admits joiners. Locking applies on top of any of them."""

    OPEN = "open"
    """Anyone authenticated may join."""
    INVITE = "invite"
    """Only allowed users, holders of an invite token, or users granted a role."""
    LOBBY = "lobby"
    """Joiners wait in the lobby until a host or moderator admits them."""


class DuplicatePolicy(enum.Enum):
    """What happens when a user already in the room joins from another session."""

    REJECT = "reject"
    """The new join gets ``already_joined``."""
    REPLACE = "replace"
    """The older participant is removed (reason ``replaced``) and its session closed."""
    ALLOW = "allow"
    """Several devices of one user may be members at once."""


class Action(enum.Enum):
    """Moderator actions, for the permission table."""

    MUTE = "mute"
    KICK = "kick"
    UNBAN = "unban"
    TRANSFER_HOST = "transfer_host"
    SET_ROLE = "set_role"
    LOCK = "lock"
    ADMIT = "admit"
    SET_LAYOUT = "set_layout"
    RECORDING = "recording"
    APP = "app"
    UPDATE_METADATA = "update_metadata"
    """``update_me``: one's own name and metadata (the ``can_update_metadata`` grant)."""


MODERATORS: Final = frozenset({Role.HOST, Role.MODERATOR})
PERMISSIONS: Final[dict[Action, frozenset[Role]]] = {
    Action.MUTE: MODERATORS,
    Action.KICK: MODERATORS,
    Action.UNBAN: MODERATORS,
    Action.TRANSFER_HOST: frozenset({Role.HOST}),
    Action.SET_ROLE: frozenset({Role.HOST}),
    Action.LOCK: MODERATORS,
    Action.ADMIT: MODERATORS,
    Action.SET_LAYOUT: MODERATORS,
    Action.RECORDING: MODERATORS,
    # Guests may talk and chat but not drive application features.
    Action.APP: frozenset({Role.HOST, Role.MODERATOR, Role.PARTICIPANT}),
    # ``can_update_metadata``: on for participants, off for guests, unless the
    # identity's grant says otherwise (``Identity.can_update_metadata``).
    Action.UPDATE_METADATA: frozenset({Role.HOST, Role.MODERATOR, Role.PARTICIPANT}),
}
"""Which roles may take each action. Moderators never act on the host or other moderators.
An identity's ``can_update_metadata`` grant, when set, overrides the row of
:attr:`Action.UPDATE_METADATA` for its holder."""

RANK: Final = {Role.HOST: 0, Role.MODERATOR: 1, Role.PARTICIPANT: 2, Role.GUEST: 3}

# (recording state, action) -> next state: RFC-style table of the recording machine.
RECORDING_TRANSITIONS: Final[dict[tuple[str, str], RecordingState]] = {
    ("idle", "start"): "recording",
    ("recording", "pause"): "paused",
    ("recording", "stop"): "idle",
    ("paused", "resume"): "recording",
    ("paused", "stop"): "idle",
}


@attrs.frozen(kw_only=True)
class RoomPolicy:
    """A room's configuration. Every field has a documented default.

    Attributes:
        join: who may join (:class:`JoinPolicy`).
        allowed_users: for ``invite`` rooms, users admitted without a token.
        invite_tokens: for ``invite`` rooms, tokens that admit their holder.
        capacity: the most members at once (lobby excluded).
        duplicate: the duplicate-join policy.
        recording_allowed: whether ``recording`` requests are accepted at all.
        chat_history: how many chat messages the join snapshot carries.
        idle_timeout: seconds an empty room lives before it expires.
        default_role: the role of a joiner with no grant.
        call: the call this room belongs to, if any.
        max_seats_per_user: under the ``allow`` duplicate policy, the most seats
            (members and lobby entries, connected or reconnecting) one user may hold;
            past it the user's oldest reconnecting seat is given up for the new one
            (reason ``replaced``), or, with none, the join is refused
            (``too_many_seats``).
    """

    join: JoinPolicy = JoinPolicy.OPEN
    allowed_users: frozenset[str] = frozenset()
    invite_tokens: frozenset[str] = frozenset()
    capacity: int = attrs.field(default=DEFAULT_CAPACITY, validator=attrs.validators.ge(1))
    duplicate: DuplicatePolicy = DuplicatePolicy.ALLOW
    recording_allowed: bool = True
    chat_history: int = attrs.field(default=DEFAULT_CHAT_HISTORY, validator=attrs.validators.ge(0))
    idle_timeout: float = attrs.field(
        default=DEFAULT_IDLE_TIMEOUT, validator=attrs.validators.gt(0)
    )
    default_role: Role = Role.PARTICIPANT
    call: str | None = None
    max_seats_per_user: int = attrs.field(
        default=DEFAULT_MAX_SEATS_PER_USER, validator=attrs.validators.ge(1)
    )


@attrs.define(kw_only=True, slots=True)
class Participant:
    """A member of a room (mutable, owned by its :class:`Room`)."""

    id: str
    session: str
    user: str
    name: str | None
    role: Role
    order: int
    state: PresenceState = "connected"
    joined_as: Role = Role.PARTICIPANT
    """The role its grant (or the room's default) gave it at join. A member who joined
    as host takes the host role from one who holds it only for having joined first,
    and that one goes back to the role it joined as."""
    audio: bool = False
    video: bool = False
    screen: bool = False
    hand: bool = False
    hidden: bool = False
    """Joined with the ``hidden`` grant: seen by hosts and moderators only, never host,
    not counted toward the capacity."""
    can_update_metadata: bool | None = None
    """The identity's ``can_update_metadata`` grant (``None``: by role)."""
    metadata: dict[str, Any] | None = None

    def info(self) -> ParticipantInfo:
        """The wire view of this participant."""
        return ParticipantInfo(
            id=self.id,
            user=self.user,
            name=self.name,
            role=self.role,
            order=self.order,
            state=self.state,
            audio=self.audio,
            video=self.video,
            screen=self.screen,
            hand=self.hand,
            metadata=self.metadata,
            hidden=True if self.hidden else None,
        )


@attrs.define(kw_only=True, slots=True)
class Waiting:
    id: str
    session: str
    user: str
    name: str | None
    role: Role
    hidden: bool = False
    can_update_metadata: bool | None = None


class Outbox:
    """Collects what one core call produces, in order.

    ``deliveries`` are ``(participant ids, message)``; ``events`` are observer events;
    ``removed`` are ``(participant id, session id, user id)`` of members and lobby
    entries gone; ``close_sessions`` are sessions to close (duplicate ``replace``).
    """

    __slots__ = ("close_sessions", "deliveries", "events", "removed")

    def __init__(self) -> None:
        self.deliveries: list[tuple[Sequence[str], Message]] = []
        self.events: list[ev.ObserverEvent] = []
        self.removed: list[tuple[str, str, str]] = []
        self.close_sessions: list[str] = []
