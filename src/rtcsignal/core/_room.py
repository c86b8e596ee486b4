"""Room membership: participants, roles, join policies, lobby, moderation, room state.

Theory of operation
-------------------
A :class:`Room` is a pure state machine that speaks only in participant ids. It never sees
a connection: it returns *deliveries* (recipients by participant id, and a wire message) in
an :class:`Outbox`, and the server maps participants to sessions and connections. That is
what lets a room be owned by another instance later (one writer per room).

Rules, and why:

* **Membership is recorded synchronously.** ``join`` admits (or refuses) and records the
  member before returning, so N simultaneous joins give exactly ``min(N, capacity)``
  members; nobody awaits between the decision and the record.
* **Check, then mutate.** Every method validates everything first and raises
  :class:`CoreError` before touching state, so a refused request changes nothing.
* **At most one host, and a host whenever the room has members.** The first member (or a
  user granted ``host``) becomes host; a second host grant joins as moderator. When the
  host leaves for good, the role passes to the longest-present moderator, else the
  longest-present participant, else guest, preferring connected members, and everyone
  is told. A host inside its reconnect grace stays host: a drop is not a leave.
* **No participant twice for one session.** A session joining again gets
  ``already_in_room``; the room keeps each session's *seat* (its participant or lobby
  entry id), so the room host resolves a sender's session to its participant itself.
  The same *user* on another session obeys the duplicate policy:
  ``reject`` (``already_joined``), ``replace`` (the older participant is removed with
  reason ``replaced`` and its session closed) or ``allow`` (several devices).
* **Permissions are one table.** :data:`PERMISSIONS` maps each moderator action to the
  roles allowed to take it; moderators cannot act on the host or on other moderators.
* **Nothing is echoed to its sender.** Relayed chatter goes to every member but the actor;
  the actor's own confirmation is its ``ok`` reply.
* **Bounded.** Capacity, lobby size and chat history are limits; going over is its own
  error (``room_full``) or drops the oldest history entry.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import msgspec

from rtcsignal import protocol as wire
from rtcsignal.protocol import (
    Chat,
    ErrorCode,
    HostChanged,
    JoinPolicyName,
    LeaveReason,
    LobbyEntry,
    LobbyUpdated,
    LobbyWait,
    Muted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    PresenceState,
    RecordingAction,
    RecordingState,
    Removed,
    Role,
    RoleChanged,
    RoomSnapshot,
    RoomUpdated,
    UsageError,
)

from . import events as ev
from ._errors import CoreError
from ._roompolicy import (
    MAX_LOBBY,
    MODERATORS,
    PERMISSIONS,
    RANK,
    RECORDING_TRANSITIONS,
    Action,
    DuplicatePolicy,
    JoinPolicy,
    Outbox,
    Participant,
    RoomPolicy,
    Waiting,
)

__all__ = ["Room"]


class Room:
    """One room's membership and state. See the module docstring for the rules."""

    __slots__ = (
        "_chat",
        "_lobby",
        "_order",
        "_seats",
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

    def snapshot(self, pid: str) -> RoomSnapshot:
        """The room as member ``pid`` sees it (moderators also see the lobby)."""
        me = self.participants[pid]
        lobby = self.lobby_entries() if me.role in MODERATORS else ()
        return RoomSnapshot(
            room=self.id,
            you=pid,
            host=self.host,
            participants=tuple(p.info() for p in self.participants.values()),
            locked=self.locked,
            join_policy=self.join_policy_name,
            layout=self.layout,
            recording=self.recording,
            capacity=self.policy.capacity,
            chat=tuple(self._chat),
            lobby=lobby,
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
    ) -> RoomSnapshot | LobbyWait:
        """Admit a joiner, put it in the lobby, or refuse.

        Args:
            pid: the new participant id (server-generated, unguessable).
            session: the joining session (refused if it already has a seat here).
            user: the authenticated user id (from the identity, never the client).
            grant: a role the identity grants in this room, if any.
            invite: an invite token the client presented.

        Returns:
            The joiner's snapshot, or :class:`LobbyWait` when it must wait.

        Raises:
            CoreError: ``already_in_room``, ``room_locked``, ``not_invited``,
                ``already_joined``, ``too_many_seats``, ``room_full``.
        """
        if session in self._seats:
            raise CoreError(ErrorCode.ALREADY_IN_ROOM, f"this session is already in room {self.id}")
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
        freed = len(replaced) + (ghost is not None)
        if len(self.participants) - freed >= policy.capacity:
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
            self._lobby[pid] = Waiting(id=pid, session=session, user=user, name=name, role=role)
            self._seats[session] = pid
            self.empty_since = None
            self._announce_lobby(out)
            return LobbyWait(room=self.id, you=pid)
        self._admit(pid=pid, session=session, user=user, name=name, role=role, now=now, out=out)
        return self.snapshot(pid)

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

    def _admit(
        self,
        *,
        pid: str,
        session: str,
        user: str,
        name: str | None,
        role: Role,
        now: float,
        out: Outbox,
    ) -> None:
        joined_as = role
        entitled = role is Role.HOST
        current = self.participants.get(self.host) if self.host is not None else None
        takeover = entitled and current is not None and current.joined_as is not Role.HOST
        if entitled and current is not None:
            role = Role.MODERATOR  # the first entitled member hosts; takeover: see below
        elif current is None:
            role = Role.HOST  # the first member (even a guest) hosts: a non-empty room has a host
        self._order += 1
        participant = Participant(
            id=pid,
            session=session,
            user=user,
            name=name,
            role=role,
            order=self._order,
            joined_as=joined_as,
        )
        others = list(self.participants)
        self.participants[pid] = participant
        self._seats[session] = pid
        self.empty_since = None
        if role is Role.HOST:
            self.host = pid
        out.events.append(
            ev.MemberJoined(
                at=now, room=self.id, participant=pid, user=user, session=session, role=role
            )
        )
        if others:
            out.deliveries.append(
                (others, ParticipantJoined(room=self.id, participant=participant.info()))
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
        if reason in ("kicked", "replaced"):
            removed = Removed(room=self.id, reason=reason, by=by, message=message)
            out.deliveries.append(([pid], removed))
        if self.participants:
            out.deliveries.append(
                (
                    list(self.participants),
                    ParticipantLeft(room=self.id, participant=pid, reason=reason),
                )
            )
        if self.host == pid:
            self.host = None
            successor = self._successor()
            if successor is not None:
                self._set_role(successor, Role.HOST, None, now, out)
        self._maybe_empty(now)

    def _successor(self) -> Participant | None:
        candidates = sorted(
            self.participants.values(),
            key=lambda p: (p.state != "connected", RANK[p.role], p.order),
        )
        return candidates[0] if candidates else None

    def _maybe_empty(self, now: float) -> None:
        if self.is_empty():
            self.empty_since = now

    # ------------------------------------------------------------------ the application's
    def evict(self, pid: str, message: str | None, now: float, out: Outbox) -> bool:
        """The application removes member ``pid`` (``removed`` with reason ``kicked``) or
        lobby entry ``pid`` (reason ``denied``), ``message`` saying why. Returns whether
        there was one."""
        if pid in self.participants:
            self._remove(pid, "kicked", now, out, by=None, message=message)
            return True
        waiting = self._lobby.pop(pid, None)
        if waiting is None:
            return False
        self._turn_away(waiting, None, message, out)
        self._announce_lobby(out)
        self._maybe_empty(now)
        return True

    def set_policy(self, policy: RoomPolicy, now: float, out: Outbox) -> None:
        """The application changes this room's policy. Members stay (even over a lower
        capacity); the new rules apply to the next joins.

        Raises:
            UsageError: the policy names another call than the room's.
        """
        if policy.call != self.policy.call:
            raise UsageError(f"room {self.id} belongs to call {self.policy.call}: keep it")
        self.policy = policy
        out.events.append(ev.RoomPolicyChanged(at=now, room=self.id))

    def say(self, app_type: str, payload: object, to: str | None, out: Outbox) -> bool:
        """A server-originated ``app`` message (no ``from``) to member ``to`` or to every
        member. Returns whether anyone was addressed (``to`` is a member)."""
        if to is not None and to not in self.participants:
            return False
        message = wire.App(room=self.id, app_type=app_type, payload=payload)
        targets = [to] if to is not None else list(self.participants)
        if targets:
            out.deliveries.append((targets, message))
        return True

    def close(self, now: float, out: Outbox) -> None:
        """Remove everyone (reason ``room_closed``): the room is being deleted."""
        for pid in list(self._lobby):
            waiting = self._lobby.pop(pid)
            out.removed.append((pid, waiting.session, waiting.user))
            out.deliveries.append(([pid], Removed(room=self.id, reason="room_closed")))
        for pid in list(self.participants):
            gone = self.participants.pop(pid)
            out.removed.append((pid, gone.session, gone.user))
            out.events.append(
                ev.MemberLeft(
                    at=now, room=self.id, participant=pid, user=gone.user, reason="room_closed"
                )
            )
            out.deliveries.append(([pid], Removed(room=self.id, reason="room_closed")))
        self._seats.clear()
        self.host = None
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
        others = self.others(participant.id)
        if others:
            out.deliveries.append(
                (others, ParticipantUpdated(room=self.id, participant=participant.info()))
            )

    # ------------------------------------------------------------------ moderation
    def _check(self, actor: str, action: Action, target: str | None = None) -> Participant | None:
        me = self.member(actor)
        if me.role not in PERMISSIONS[action]:
            raise CoreError(
                ErrorCode.FORBIDDEN,
                f"{action.value} needs role "
                f"{'/'.join(sorted(r.value for r in PERMISSIONS[action]))}; "
                f"you are {me.role.value}",
            )
        if target is None:
            return None
        other = self.member(target)
        if target == actor and action in (Action.KICK, Action.TRANSFER_HOST, Action.SET_ROLE):
            raise CoreError(ErrorCode.INVALID_STATE, f"{action.value} cannot target yourself")
        if me.role is not Role.HOST and other.role in MODERATORS and target != actor:
            raise CoreError(
                ErrorCode.FORBIDDEN, f"a moderator cannot {action.value} a {other.role.value}"
            )
        return other

    def mute(self, actor: str, target: str, *, audio: bool, video: bool, out: Outbox) -> None:
        """Turn the target's audio/video off; the target is told who did it."""
        other = self._check(actor, Action.MUTE, target)
        assert other is not None
        out.deliveries.append(([target], Muted(room=self.id, by=actor, audio=audio, video=video)))
        self.media(
            target,
            audio=False if audio else None,
            video=False if video else None,
            screen=None,
            hand=None,
            out=out,
        )

    def kick(self, actor: str, target: str, now: float, out: Outbox) -> None:
        """Remove the target (reason ``kicked``); everyone is told."""
        self._check(actor, Action.KICK, target)
        self._remove(target, "kicked", now, out, by=actor)

    def transfer_host(self, actor: str, target: str, now: float, out: Outbox) -> None:
        """Hand the host role to ``target``; the old host becomes moderator."""
        self._check(actor, Action.TRANSFER_HOST, target)
        self._set_role(self.participants[actor], Role.MODERATOR, actor, now, out)
        self._set_role(self.participants[target], Role.HOST, actor, now, out)

    def set_role(self, actor: str, target: str, role: Role, now: float, out: Outbox) -> None:
        """Host: set the target's role (never ``host``: use :meth:`transfer_host`)."""
        other = self._check(actor, Action.SET_ROLE, target)
        assert other is not None
        if role is Role.HOST:
            raise CoreError(ErrorCode.INVALID_STATE, "use transfer_host to make a new host")
        if other.role is not role:
            self._set_role(other, role, actor, now, out)

    def _set_role(
        self, participant: Participant, role: Role, by: str | None, now: float, out: Outbox
    ) -> None:
        previous_role = participant.role
        participant.role = role
        members = list(self.participants)
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

    def lock(self, actor: str, locked: bool, out: Outbox) -> None:
        """Lock or unlock the room."""
        self._check(actor, Action.LOCK)
        if self.locked != locked:
            self.locked = locked
            self._room_updated(actor, out)

    def set_layout(self, actor: str, layout: str, out: Outbox) -> None:
        """Set the room's layout hint."""
        self._check(actor, Action.SET_LAYOUT)
        if self.layout != layout:
            self.layout = layout
            self._room_updated(actor, out)

    def record(self, actor: str, action: RecordingAction, now: float, out: Outbox) -> None:
        """Move the recording machine (permission-checked, refused when disabled)."""
        self._check(actor, Action.RECORDING)
        if not self.policy.recording_allowed:
            raise CoreError(ErrorCode.RECORDING_DISABLED, f"room {self.id} disables recording")
        nxt = RECORDING_TRANSITIONS.get((self.recording, action))
        if nxt is None:
            raise CoreError(
                ErrorCode.INVALID_STATE, f"recording cannot {action} in state {self.recording}"
            )
        self.recording = nxt
        out.events.append(ev.RecordingChanged(at=now, room=self.id, state=nxt, by=actor))
        self._room_updated(actor, out)

    def _room_updated(self, actor: str, out: Outbox) -> None:
        message = RoomUpdated(
            room=self.id, locked=self.locked, layout=self.layout, recording=self.recording, by=actor
        )
        out.deliveries.append((self.others(actor), message))

    def admit(self, actor: str, target: str, allow: bool, now: float, out: Outbox) -> str:
        """Admit (or deny) lobby entry ``target``; return its session id.

        Raises:
            CoreError: ``forbidden``, ``unknown_participant``, ``room_full``.
        """
        self._check(actor, Action.ADMIT)
        waiting = self._lobby.get(target)
        if waiting is None:
            raise CoreError(
                ErrorCode.UNKNOWN_PARTICIPANT, f"{target} is not waiting in the lobby of {self.id}"
            )
        if allow and len(self.participants) >= self.policy.capacity:
            raise CoreError(ErrorCode.ROOM_FULL, f"room {self.id} is full")
        del self._lobby[target]
        if allow:
            self._admit(
                pid=target,
                session=waiting.session,
                user=waiting.user,
                name=waiting.name,
                role=waiting.role,
                now=now,
                out=out,
            )
            out.deliveries.append(([target], self.snapshot(target)))
        else:
            self._turn_away(waiting, actor, None, out)
        self._announce_lobby(out)
        return waiting.session

    def _turn_away(
        self, waiting: Waiting, by: str | None, message: str | None, out: Outbox
    ) -> None:
        """A lobby entry (already out of the lobby) is denied and told so."""
        del self._seats[waiting.session]
        out.removed.append((waiting.id, waiting.session, waiting.user))
        removed = Removed(room=self.id, reason="denied", by=by, message=message)
        out.deliveries.append(([waiting.id], removed))

    def lobby_entries(self) -> tuple[LobbyEntry, ...]:
        """The lobby entries as moderators see them, in arrival order."""
        return tuple(LobbyEntry(id=w.id, user=w.user, name=w.name) for w in self._lobby.values())

    def _announce_lobby(self, out: Outbox) -> None:
        mods = [p.id for p in self.participants.values() if p.role in MODERATORS]
        if mods:
            out.deliveries.append((mods, LobbyUpdated(room=self.id, lobby=self.lobby_entries())))

    # ------------------------------------------------------------------ chatter
    def chat(self, actor: str, message: Chat, out: Outbox) -> None:
        """Relay chat to the others and keep it in the bounded history."""
        self.member(actor)
        stamped = msgspec.structs.replace(message, id=None, from_=actor, seq=None)
        if self.policy.chat_history:
            self._chat.append(stamped)
        others = self.others(actor)
        if others:
            out.deliveries.append((others, stamped))

    def relay(self, actor: str, message: wire.Relayed, out: Outbox) -> None:
        """Relay an ephemeral message (reaction, typing) to every other member."""
        self.member(actor)
        others = self.others(actor)
        if others:
            out.deliveries.append((others, msgspec.structs.replace(message, id=None, from_=actor)))

    def app(self, actor: str, message: wire.App, out: Outbox) -> None:
        """Relay an application message to ``message.to`` or to every other member."""
        self._check(actor, Action.APP)
        stamped = msgspec.structs.replace(message, id=None, from_=actor)
        if message.to is not None:
            if message.to == actor:
                raise CoreError(
                    ErrorCode.INVALID_STATE, "an app message cannot be sent to yourself"
                )
            self.member(message.to)
            out.deliveries.append(([message.to], stamped))
            return
        others = self.others(actor)
        if others:
            out.deliveries.append((others, stamped))
