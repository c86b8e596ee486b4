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
* **At most one host, and a host whenever the room has visible members.** The first
  visible member (or a user granted ``host``) becomes host; a second host grant joins
  as moderator. When the host leaves for good, the role passes to the longest-present
  visible moderator, else participant, else guest, preferring connected members, and
  everyone is told. A host inside its reconnect grace stays host: a drop is not a leave.
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
* **Bans are by user.** ``kick`` with ``ban`` removes every seat of the target's user
  (reason ``banned``) and keeps the user out (:mod:`rtcsignal.core._bans`): a banned
  user is never a member nor in the lobby.
* **Hidden members are seen by moderators only.** A member with the ``hidden`` grant
  is left out of the snapshots and the announcements (joined, left, updated, role) of
  everyone but hosts and moderators (who see it marked ``hidden``) and itself; it never
  becomes host and does not count toward the capacity (:data:`MAX_HIDDEN` bounds
  them). It receives the room's events and may be addressed like any member.
* **Bounded.** Capacity, lobby size and chat history are limits; going over is its own
  error (``room_full``) or drops the oldest history entry.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rtcsignal import protocol as wire
from rtcsignal.protocol import (
    Chat,
    ErrorCode,
    Muted,
    RecordingAction,
    Removed,
    Role,
    RoomUpdated,
    UsageError,
)

from . import events as ev
from ._bans import Ban
from ._errors import CoreError
from ._roombase import RoomBase
from ._roompolicy import (
    MODERATORS,
    PERMISSIONS,
    RECORDING_TRANSITIONS,
    Action,
    Outbox,
    Participant,
    RoomPolicy,
)

__all__ = ["Room"]


class Room(RoomBase):
    """One room's membership and state. See the module docstring for the rules."""

    __slots__ = ()

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

    def kick(
        self,
        actor: str,
        target: str,
        now: float,
        out: Outbox,
        *,
        reason: str | None = None,
        ban: bool = False,
        duration: float | None = None,
    ) -> None:
        """Remove the target (reason ``kicked``); everyone is told. With ``ban``, every
        seat of the target's user goes (reason ``banned``) and the user is kept out for
        ``duration`` seconds (``None``: until the room ends).

        Raises:
            CoreError: ``forbidden``, ``unknown_participant``, ``invalid_state``,
                ``invalid_message`` (a ``duration`` without ``ban``), ``too_many_bans``.
        """
        other = self._check(actor, Action.KICK, target)
        assert other is not None
        if not ban:
            if duration is not None:
                raise CoreError(
                    ErrorCode.INVALID_MESSAGE,
                    "kick duration needs ban: true",
                    details={"field": "duration"},
                )
            self._remove(target, "kicked", now, out, by=actor, message=reason)
            return
        me = self.participants[actor]
        seats = [p for p in self.participants.values() if p.user == other.user]
        if other.user == me.user:
            raise CoreError(ErrorCode.INVALID_STATE, "ban cannot target yourself")
        if me.role is not Role.HOST and any(p.role in MODERATORS for p in seats):
            raise CoreError(ErrorCode.FORBIDDEN, "a moderator cannot ban a host or moderator")
        self.bans.ensure_room(other.user, now)
        # ---- mutate from here on
        until = None if duration is None else now + duration
        self.bans.add(Ban(user=other.user, name=other.name, by=actor, until=until))
        out.events.append(
            ev.MemberBanned(at=now, room=self.id, user=other.user, by=actor, duration=duration)
        )
        for seat in seats:
            self._remove(seat.id, "banned", now, out, by=actor, message=reason)
        waiting = [w for w in self._lobby.values() if w.user == other.user]
        for entry in waiting:
            del self._lobby[entry.id]
            self._turn_away(entry, actor, reason, out)
        if waiting:
            self._announce_lobby(out)
            self._maybe_empty(now)
        self._announce_bans(now, out)

    def unban(self, actor: str, user: str, now: float, out: Outbox) -> None:
        """Lift ``user``'s ban.

        Raises:
            CoreError: ``forbidden``, ``unknown_participant`` (the user is not banned).
        """
        self._check(actor, Action.UNBAN)
        if not self.bans.is_banned(user, now):
            raise CoreError(
                ErrorCode.UNKNOWN_PARTICIPANT, f"user {user} is not banned from room {self.id}"
            )
        self.bans.lift(user, now)
        out.events.append(ev.MemberUnbanned(at=now, room=self.id, user=user, by=actor))
        self._announce_bans(now, out)

    def update_me(
        self, actor: str, name: str | None, metadata: dict[str, Any] | None, out: Outbox
    ) -> None:
        """Change the sender's display name and/or metadata (``None``: unchanged); the
        others are told (``participant_updated``).

        Raises:
            CoreError: ``not_in_room``-like ``unknown_participant``, ``forbidden`` (no
                ``can_update_metadata`` grant).
        """
        me = self.member(actor)
        allowed = me.can_update_metadata
        if allowed is None:
            allowed = me.role in PERMISSIONS[Action.UPDATE_METADATA]
        if not allowed:
            raise CoreError(
                ErrorCode.FORBIDDEN, f"update_me needs the can_update_metadata grant in {self.id}"
            )
        changed = False
        if name is not None and name != me.name:
            me.name, changed = name, True
        if metadata is not None and metadata != me.metadata:
            me.metadata, changed = metadata, True
        if changed:
            self._broadcast_update(me, out)

    def transfer_host(self, actor: str, target: str, now: float, out: Outbox) -> None:
        """Hand the host role to ``target``; the old host becomes moderator."""
        self._check(actor, Action.TRANSFER_HOST, target)
        if self.participants[target].hidden:
            raise CoreError(ErrorCode.INVALID_STATE, "a hidden participant cannot be host")
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
        if allow and not waiting.hidden and self.visible_count() >= self.policy.capacity:
            raise CoreError(ErrorCode.ROOM_FULL, f"room {self.id} is full")
        del self._lobby[target]
        if allow:
            self._admit(waiting, now, out)
            out.deliveries.append(([target], self.snapshot(target, now)))
        else:
            self._turn_away(waiting, actor, None, out)
        self._announce_lobby(out)
        return waiting.session

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
