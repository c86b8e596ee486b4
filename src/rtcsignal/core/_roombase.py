"""The base of :class:`~rtcsignal.core._room.Room`: its state, its queries, and joining,
leaving, presence and role changes (whatever moderation builds on).

The rules are in :mod:`rtcsignal.core._room`'s theory of operation; this module only
holds the half that every other change goes through.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rtcsignal.protocol import (
    BansUpdated,
    Chat,
    ErrorCode,
    HostChanged,
    JoinPolicyName,
    LeaveReason,
    LobbyEntry,
    LobbyUpdated,
    LobbyWait,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    PresenceState,
    RecordingState,
    Removed,
    Role,
    RoleChanged,
    RoomSnapshot,
)

from . import events as ev
from ._bans import BanList
from ._errors import CoreError
from ._roompolicy import (
    MAX_HIDDEN,
    MAX_LOBBY,
    MODERATORS,
    RANK,
    DuplicatePolicy,
    JoinPolicy,
    Outbox,
    Participant,
    RoomPolicy,
    Waiting,
)

__all__ = ["RoomBase"]


class RoomBase:
    """A room's state and membership (see :class:`~rtcsignal.core._room.Room`)."""

    __slots__ = (
        "_chat",
        "_lobby",
        "_order",
        "_seats",
        "bans",
        "empty_since",
        "host",
        "id",
        "layout",
        "locked",
        "participants",
        "policy",
        "recording",
        "seat_of",
    )

    def __init__(self, room_id: str, policy: RoomPolicy, now: float) -> None:
        self.id = room_id
        self.policy = policy
        self.participants: dict[str, Participant] = {}  # insertion order = join order
        self._lobby: dict[str, Waiting] = {}
        self._seats: dict[str, str] = {}  # session id -> its participant or lobby entry id
        self.seat_of: Callable[[str], str | None] = self._seats.get
        """The participant (or lobby entry) id of a session in this room, if any."""
        self.host: str | None = None
        self.locked = False
        self.layout: str | None = None
        self.recording: RecordingState = "idle"
        self._chat: deque[Chat] = deque(maxlen=policy.chat_history)
        self._order = 0
        self.empty_since: float | None = now
        self.bans = BanList()
        """The users kept out of this room (``kick`` with ``ban``)."""

    # ------------------------------------------------------------------ queries
    @property
    def join_policy_name(self) -> JoinPolicyName:
        """The join policy as its wire name."""
        return self.policy.join.value

    def is_empty(self) -> bool:
        """True when the room has no members and nobody waits in its lobby."""
        return not self.participants and not self._lobby

    def expires_at(self) -> float | None:
        """When the (empty) room expires, or ``None`` while anyone is in it."""
        if self.empty_since is None:
            return None
        return self.empty_since + self.policy.idle_timeout

    def member(self, pid: str) -> Participant:
        """The member ``pid``, or ``unknown_participant``."""
        participant = self.participants.get(pid)
        if participant is None:
            raise CoreError(
                ErrorCode.UNKNOWN_PARTICIPANT, f"participant {pid} is not in room {self.id}"
            )
        return participant

    def lobby_ids(self) -> list[str]:
        """Ids of the lobby entries, in arrival order."""
        return list(self._lobby)

    def lobby_session(self, pid: str) -> str | None:
        """The session of lobby entry ``pid``, if any."""
        waiting = self._lobby.get(pid)
        return waiting.session if waiting else None

    def has_user(self, user: str) -> bool:
        """Whether ``user`` has a participant in this room (any of its sessions)."""
        return any(p.user == user for p in self.participants.values())

    def seats(self) -> list[tuple[str, str]]:
        """Every ``(session, participant or lobby entry id)`` of this room."""
        return list(self._seats.items())

    def others(self, pid: str) -> list[str]:
        """Every member but ``pid``."""
        return [p for p in self.participants if p != pid]

    def visible_count(self) -> int:
        """Members that count toward the capacity (every member but the hidden ones)."""
        return sum(1 for p in self.participants.values() if not p.hidden)

    def audience(self, about: Participant, but: str | None = None) -> list[str]:
        """Who is told about member ``about``: every member (but ``but``) when it is
        visible; only hosts, moderators and itself when it is hidden."""
        if not about.hidden:
            return [p for p in self.participants if p != but]
        return [
            p.id
            for p in self.participants.values()
            if p.id != but and (p.role in MODERATORS or p.id == about.id)
        ]

    def snapshot(self, pid: str, now: float) -> RoomSnapshot:
        """The room as member ``pid`` sees it at ``now`` (hosts and moderators also see
        the lobby, the ban list and the hidden members)."""
        me = self.participants[pid]
        moderator = me.role in MODERATORS
        lobby = self.lobby_entries() if moderator else ()
        seen = [p for p in self.participants.values() if moderator or not p.hidden or p.id == pid]
        return RoomSnapshot(
            room=self.id,
            you=pid,
            host=self.host,
            participants=tuple(p.info() for p in seen),
            locked=self.locked,
            join_policy=self.join_policy_name,
            layout=self.layout,
            recording=self.recording,
            capacity=self.policy.capacity,
            chat=tuple(self._chat),
            lobby=lobby,
            bans=self.bans.entries(now) if moderator else (),
            call=self.policy.call,
        )

    # ------------------------------------------------------------------ joining
    def join(
        self,
        *,
        pid: str,
        session: str,
        user: str,
        name: str | None,
        grant: Role | None,
        invite: str | None,
        now: float,
        out: Outbox,
        hidden: bool = False,
        can_update_metadata: bool | None = None,
    ) -> RoomSnapshot | LobbyWait:
        """Admit a joiner, put it in the lobby, or refuse.

        Args:
            pid: the new participant id (server-generated, unguessable).
            session: the joining session (refused if it already has a seat here).
            user: the authenticated user id (from the identity, never the client).
            grant: a role the identity grants in this room, if any.
            invite: an invite token the client presented.
            hidden: the identity's ``hidden`` grant (see the module docstring).
            can_update_metadata: the identity's ``can_update_metadata`` grant.

        Returns:
            The joiner's snapshot, or :class:`LobbyWait` when it must wait.

        Raises:
            CoreError: ``already_in_room``, ``banned``, ``room_locked``, ``not_invited``,
                ``already_joined``, ``too_many_seats``, ``room_full``.
        """
        if session in self._seats:
            raise CoreError(ErrorCode.ALREADY_IN_ROOM, f"this session is already in room {self.id}")
        self.bans.check(user, now)
        privileged = grant in MODERATORS
        if self.locked and not privileged:
            raise CoreError(ErrorCode.ROOM_LOCKED, f"room {self.id} is locked")
        policy = self.policy
        if (
            policy.join is JoinPolicy.INVITE
            and grant is None
            and user not in policy.allowed_users
            and (invite is None or invite not in policy.invite_tokens)
        ):
            raise CoreError(ErrorCode.NOT_INVITED, f"room {self.id} is invite-only")
        replaced = [p for p in self.participants.values() if p.user == user]
        if replaced and policy.duplicate is DuplicatePolicy.REJECT:
            out.events.append(ev.DuplicateJoin(at=now, room=self.id, user=user, outcome="rejected"))
            raise CoreError(ErrorCode.ALREADY_JOINED, f"user is already in room {self.id}")
        ghost = None
        if policy.duplicate is not DuplicatePolicy.REPLACE:
            ghost = self._seat_for(user, replaced, policy.max_seats_per_user)
            replaced = []
        freed = len([m for m in replaced if not m.hidden])
        freed += ghost is not None and not ghost.hidden
        if hidden:
            if sum(1 for p in self.participants.values() if p.hidden) >= MAX_HIDDEN:
                raise CoreError(
                    ErrorCode.ROOM_FULL,
                    f"room {self.id} holds {MAX_HIDDEN} hidden members",
                    details={"limit": MAX_HIDDEN},
                )
        elif self.visible_count() - freed >= policy.capacity:
            raise CoreError(
                ErrorCode.ROOM_FULL,
                f"room {self.id} is full ({policy.capacity} participants)",
                details={"capacity": policy.capacity},
            )
        needs_lobby = (  # even in an empty room: only a grant or the list lets one past
            policy.join is JoinPolicy.LOBBY and not privileged and user not in policy.allowed_users
        )
        if needs_lobby and len(self._lobby) >= MAX_LOBBY:
            raise CoreError(ErrorCode.ROOM_FULL, f"the lobby of room {self.id} is full")
        # ---- every check passed: mutate from here on
        if ghost is not None:  # the user's oldest reconnecting seat makes room
            out.events.append(ev.DuplicateJoin(at=now, room=self.id, user=user, outcome="evicted"))
            self._remove(ghost.id, "replaced", now, out, by=None)
        for old in replaced:
            out.events.append(ev.DuplicateJoin(at=now, room=self.id, user=user, outcome="replaced"))
            self._remove(old.id, "replaced", now, out, by=None)
            out.close_sessions.append(old.session)
        if replaced == [] and any(p.user == user for p in self.participants.values()):
            out.events.append(ev.DuplicateJoin(at=now, room=self.id, user=user, outcome="allowed"))
        role = grant or policy.default_role
        if needs_lobby:
            self._lobby[pid] = Waiting(
                id=pid,
                session=session,
                user=user,
                name=name,
                role=role,
                hidden=hidden,
                can_update_metadata=can_update_metadata,
            )
            self._seats[session] = pid
            self.empty_since = None
            self._announce_lobby(out)
            return LobbyWait(room=self.id, you=pid)
        waiting = Waiting(
            id=pid,
            session=session,
            user=user,
            name=name,
            role=role,
            hidden=hidden,
            can_update_metadata=can_update_metadata,
        )
        self._admit(waiting, now, out)
        return self.snapshot(pid, now)

    def _seat_for(self, user: str, mine: list[Participant], limit: int) -> Participant | None:
        """Under ``max_seats_per_user``: ``None`` while ``user`` holds fewer than ``limit``
        seats here (``mine``: its members), else its oldest reconnecting member, to be
        given up for the new seat.

        Raises:
            CoreError: ``too_many_seats``: every one of the user's seats is connected.
        """
        held = len(mine) + sum(1 for w in self._lobby.values() if w.user == user)
        if held < limit:
            return None
        ghosts = [m for m in mine if m.state == "reconnecting"]
        if not ghosts:
            raise CoreError(
                ErrorCode.TOO_MANY_SEATS,
                f"user holds {held} seats in room {self.id}, the most one user may",
                details={"limit": limit},
            )
        return min(ghosts, key=lambda m: m.order)

    def _admit(self, seat: Waiting, now: float, out: Outbox) -> None:
        pid, session, user, role = seat.id, seat.session, seat.user, seat.role
        joined_as = role
        entitled = role is Role.HOST and not seat.hidden
        current = self.participants.get(self.host) if self.host is not None else None
        takeover = entitled and current is not None and current.joined_as is not Role.HOST
        if seat.hidden:
            role = Role.MODERATOR if role is Role.HOST else role  # never host
        elif entitled and current is not None:
            role = Role.MODERATOR  # the first entitled member hosts; takeover: see below
        elif current is None:
            role = Role.HOST  # the first member (even a guest) hosts: a non-empty room has a host
        self._order += 1
        participant = Participant(
            id=pid,
            session=session,
            user=user,
            name=seat.name,
            role=role,
            order=self._order,
            joined_as=joined_as,
            hidden=seat.hidden,
            can_update_metadata=seat.can_update_metadata,
        )
        self.participants[pid] = participant
        self._seats[session] = pid
        self.empty_since = None
        if role is Role.HOST:
            self.host = pid
        out.events.append(
            ev.MemberJoined(
                at=now,
                room=self.id,
                participant=pid,
                user=user,
                session=session,
                role=role,
                hidden=seat.hidden,
            )
        )
        told = self.audience(participant, but=pid)
        if told:
            out.deliveries.append(
                (told, ParticipantJoined(room=self.id, participant=participant.info()))
            )
        if role is Role.HOST:
            out.events.append(ev.HostTransferred(at=now, room=self.id, host=pid, previous=None))
        if takeover:  # a host grant wins over join order
            assert current is not None
            self._set_role(current, current.joined_as, None, now, out)
            self._set_role(participant, Role.HOST, None, now, out)

    # ------------------------------------------------------------------ leaving
    def leave(self, pid: str, reason: LeaveReason, now: float, out: Outbox) -> None:
        """Remove member or lobby entry ``pid`` for good (no error if already gone)."""
        if pid in self._lobby:
            waiting = self._lobby.pop(pid)
            del self._seats[waiting.session]
            self._announce_lobby(out)
            self._maybe_empty(now)
        elif pid in self.participants:
            self._remove(pid, reason, now, out, by=None)

    def _remove(
        self,
        pid: str,
        reason: LeaveReason,
        now: float,
        out: Outbox,
        *,
        by: str | None,
        message: str | None = None,
    ) -> None:
        gone = self.participants.pop(pid)
        del self._seats[gone.session]
        out.removed.append((pid, gone.session, gone.user))
        out.events.append(
            ev.MemberLeft(at=now, room=self.id, participant=pid, user=gone.user, reason=reason)
        )
        if reason in ("kicked", "banned", "replaced"):
            removed = Removed(room=self.id, reason=reason, by=by, message=message)
            out.deliveries.append(([pid], removed))
        told = self.audience(gone)
        if told:
            out.deliveries.append(
                (told, ParticipantLeft(room=self.id, participant=pid, reason=reason))
            )
        if self.host == pid:
            self.host = None
            successor = self._successor()
            if successor is not None:
                self._set_role(successor, Role.HOST, None, now, out)
        self._maybe_empty(now)

    def _successor(self) -> Participant | None:
        candidates = sorted(
            (p for p in self.participants.values() if not p.hidden),
            key=lambda p: (p.state != "connected", RANK[p.role], p.order),
        )
        return candidates[0] if candidates else None

    def _maybe_empty(self, now: float) -> None:
        if self.is_empty():
            self.empty_since = now

    # ------------------------------------------------------------------ presence & media
    def set_presence(self, pid: str, state: PresenceState, out: Outbox) -> None:
        """Mark a member connected or reconnecting and tell the others."""
        participant = self.participants.get(pid)
        if participant is None or participant.state == state:
            return
        participant.state = state
        self._broadcast_update(participant, out)

    def media(
        self,
        pid: str,
        *,
        audio: bool | None,
        video: bool | None,
        screen: bool | None,
        hand: bool | None,
        out: Outbox,
    ) -> None:
        """Update the sender's own media flags (omitted flags unchanged)."""
        participant = self.member(pid)
        changed = False
        for field, value in (
            ("audio", audio),
            ("video", video),
            ("screen", screen),
            ("hand", hand),
        ):
            if value is not None and getattr(participant, field) != value:
                setattr(participant, field, value)
                changed = True
        if changed:
            self._broadcast_update(participant, out)

    def _broadcast_update(self, participant: Participant, out: Outbox) -> None:
        others = self.audience(participant, but=participant.id)
        if others:
            out.deliveries.append(
                (others, ParticipantUpdated(room=self.id, participant=participant.info()))
            )

    def _set_role(
        self, participant: Participant, role: Role, by: str | None, now: float, out: Outbox
    ) -> None:
        previous_role = participant.role
        participant.role = role
        members = self.audience(participant)
        out.events.append(
            ev.MemberRoleChanged(at=now, room=self.id, participant=participant.id, role=role, by=by)
        )
        out.deliveries.append(
            (members, RoleChanged(room=self.id, participant=participant.id, role=role, by=by))
        )
        if role is Role.HOST:
            previous = self.host if self.host != participant.id else None
            self.host = participant.id
            out.events.append(
                ev.HostTransferred(at=now, room=self.id, host=participant.id, previous=previous)
            )
            out.deliveries.append(
                (members, HostChanged(room=self.id, host=participant.id, previous=previous))
            )
        if (role in MODERATORS) != (previous_role in MODERATORS) and self._lobby:
            # A new moderator needs the waiting list it can now act on.
            out.deliveries.append(
                ([participant.id], LobbyUpdated(room=self.id, lobby=self.lobby_entries()))
            )
        if role in MODERATORS and previous_role not in MODERATORS and len(self.bans):
            bans = BansUpdated(room=self.id, bans=self.bans.entries(now))  # and the bans
            out.deliveries.append(([participant.id], bans))

    def _turn_away(
        self, waiting: Waiting, by: str | None, message: str | None, out: Outbox
    ) -> None:
        """A lobby entry (already out of the lobby) is denied and told so."""
        del self._seats[waiting.session]
        out.removed.append((waiting.id, waiting.session, waiting.user))
        removed = Removed(room=self.id, reason="denied", by=by, message=message)
        out.deliveries.append(([waiting.id], removed))

    @property
    def order(self) -> int:
        """The join counter (the last ``order`` given)."""
        return self._order

    def waiting(self) -> tuple[Waiting, ...]:
        """The lobby entries in full, in arrival order (for the room's next owner)."""
        return tuple(self._lobby.values())

    def restore(
        self,
        *,
        members: list[Participant],
        waiting: list[Waiting],
        host: str | None,
        locked: bool,
        layout: str | None,
        recording: RecordingState,
        order: int,
        now: float,
    ) -> None:
        """Fill this new room with the state its previous owner wrote (a takeover)."""
        for member in members:
            self.participants[member.id] = member
            self._seats[member.session] = member.id
        for entry in waiting:
            self._lobby[entry.id] = entry
            self._seats[entry.session] = entry.id
        self.host = host if host in self.participants else None
        self.locked = locked
        self.layout = layout
        self.recording = recording
        self._order = order
        self.empty_since = now if self.is_empty() else None

    def lobby_entries(self) -> tuple[LobbyEntry, ...]:
        """The lobby entries as moderators see them, in arrival order."""
        return tuple(LobbyEntry(id=w.id, user=w.user, name=w.name) for w in self._lobby.values())

    def _announce_bans(self, now: float, out: Outbox) -> None:
        mods = [p.id for p in self.participants.values() if p.role in MODERATORS]
        if mods:
            out.deliveries.append((mods, BansUpdated(room=self.id, bans=self.bans.entries(now))))

    def _announce_lobby(self, out: Outbox) -> None:
        mods = [p.id for p in self.participants.values() if p.role in MODERATORS]
        if mods:
            out.deliveries.append((mods, LobbyUpdated(room=self.id, lobby=self.lobby_entries())))
