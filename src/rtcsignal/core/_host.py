"""The room host: rooms, their negotiations and calls, and their timers, as one machine.

Theory of operation
-------------------
The room host is the half of the core that a room's owner runs. It takes one
:data:`~rtcsignal.core.seam.HostInput` at a time and returns one
:class:`~rtcsignal.core.seam.RoomOutput`: what to deliver to which *sessions* (or to every
session of a *user*, for calls), which seats changed, which sessions to end, and the
observer events, in order. It never sees a connection, a ``seq`` or a codec, and it
never calls back into the edge: everything it needs to know about the sender comes in
the input (:class:`~rtcsignal.core.seam.Sender`, the session's room count), and the
sender's participant in a room is looked up in the room itself (its seats).

Rules, and why:

* **One request path.** A client request is a :class:`~rtcsignal.core.seam.RoomCall`;
  its type picks one handler from one table (``join``, ``leave``, ``stats``, the
  negotiation relay, the calls, and every room action of :data:`ROOM_ACTIONS`). A
  handler checks first and mutates last; a :class:`CoreError` becomes the output's
  ``refused``, with whatever happened before the refusal (a room auto-created on the way)
  still in ``ops``.
* **Flushing a room's outbox** resolves participant ids to sessions (members, lobby
  entries, and those removed by the same change), then records the seats that went,
  tells the call book when a call's participant left its room for good, ends the
  sessions a duplicate join replaced, and arms the room's expiry or deletes an empty
  call room whose call ended.
* **Calls are rooms with a ringing phase.** The host owns the
  :class:`~rtcsignal.core.CallBook` with the call rooms, so a call and its room change
  together: the book's outputs become ``to_user`` deliveries (every device of a user
  rings), and :class:`~rtcsignal.core._call.RemoveFromRoom` removes participants from
  the call room. See :mod:`rtcsignal.core._calls` for the rules of call rooms.
* **The negotiation relay** keeps per-pair JSEP state (:mod:`rtcsignal.core._negotiation`)
  and validates every description and candidate before it is relayed to exactly one
  session, stamped with its sender.
* **Timers**: each room's expiry is one :class:`~rtcsignal.core._timers.Deadlines` entry
  with a moving deadline (``Room.expires_at``); the book keeps the call timers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import attrs
import msgspec

from rtcsignal import protocol as p
from rtcsignal.protocol import ErrorCode

from . import events as ev
from ._actions import ROOM_ACTIONS, check_app_payload, check_metadata
from ._call import CallBook, CallError, CallOutput, RemoveFromRoom
from ._calls import call_outputs, call_room_id, call_room_policy
from ._config import ServerConfig
from ._errors import CoreError
from ._negotiation import Negotiations
from ._room import Room
from ._roompolicy import Outbox, Participant, RoomPolicy
from ._timers import Deadlines
from ._validation import NegotiationValidator
from .seam import (
    AnyEvent,
    CloseSession,
    Deliver,
    Depart,
    Emit,
    EndCall,
    Evict,
    Expire,
    HostInput,
    Invite,
    Joined,
    Left,
    Op,
    OpenRoom,
    Presence,
    Refusal,
    RoomCall,
    RoomOutput,
    Say,
    Sender,
    SetPolicy,
    ShutRoom,
    Snapshot,
    TickCalls,
    UserSeen,
)

__all__ = ["RoomHost", "RoomPolicyHook"]

RoomPolicyHook = Callable[[str, Sender], RoomPolicy | None]
"""Chooses the policy of a room that a join auto-creates: ``(room id, the joiner) ->``
a policy, or ``None`` for the server config's ``default_room``."""


class _Entry:
    """A room with the negotiation state of its pairs."""

    __slots__ = ("neg", "room")

    def __init__(self, room: Room) -> None:
        self.room = room
        self.neg = Negotiations()


_Handler = Callable[[RoomCall, Any, list[Op]], p.Ok | None]


class RoomHost:
    """Rooms, negotiations and calls. See the module docstring.

    Args:
        config: the core's configuration (rooms per session, auto-creation, the
            default room policy, call timers).
        room_policy: chooses the policy of a room auto-created by a join, from its id
            and the joiner (``None``: the config's ``default_room``).
        ids: the id factory (participants, calls).
        validator: checks offers, answers and candidates.
        serial: the arming order shared with the edge's timers.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        ids: Callable[[], str],
        validator: NegotiationValidator,
        serial: Iterator[int],
        room_policy: RoomPolicyHook | None = None,
    ) -> None:
        self.config = config
        self._room_policy = room_policy
        self._ids = ids
        self._validator = validator
        self._rooms: dict[str, _Entry] = {}
        self.timers: Deadlines[str] = Deadlines(self._expiry, serial=serial)
        """Room expiry deadlines (an :class:`~rtcsignal.core.seam.Expire` input fires one)."""
        self.calls = CallBook(
            ring_timeout=config.ring_timeout,
            max_duration=config.max_call_duration,
            warning_before=config.call_warning_before,
        )
        handlers: dict[type[Any], _Handler] = {
            p.Join: self._join,
            p.Leave: self._leave,
            p.Stats: self._stats,
            p.Offer: self._description,
            p.Answer: self._description,
            p.Candidate: self._candidate,
            p.EndOfCandidates: self._candidate,
            p.CallInvite: self._call_invite,
            p.CallAccept: self._call_accept,
            p.CallDecline: self._call_decline,
            p.CallCancel: self._call_cancel,
            p.CallHangup: self._call_hangup,
        }
        for kind in ROOM_ACTIONS:
            handlers[kind] = self._action
        self._handlers = handlers
        self._inputs: dict[type[Any], Callable[[Any], RoomOutput]] = {
            Presence: self._presence,
            Depart: self._depart,
            Snapshot: self._snapshot,
            UserSeen: self._user_seen,
            OpenRoom: self._open_room,
            ShutRoom: self._shut_room,
            Expire: self._expire,
            TickCalls: self._tick_calls,
            Evict: self._evict,
            EndCall: self._end_call,
            SetPolicy: self._set_policy,
            Invite: self._invite,
            Say: self._say,
        }

    # ================================================================ entry point
    def handle(self, inp: HostInput) -> RoomOutput:
        """Apply one input; return what the edge must do, in order."""
        if type(inp) is not RoomCall:
            return self._inputs[type(inp)](inp)
        ops: list[Op] = []  # a client request: the hot path, so inline
        msg = inp.request
        try:
            reply = self._handlers[type(msg)](inp, msg, ops)
        except CoreError as err:
            refusal = Refusal(
                code=err.code, message=err.message, details=err.details, retry_after=err.retry_after
            )
            return RoomOutput(refused=refusal, ops=ops)
        return RoomOutput(reply, None, ops)  # positional: the hot path

    # ================================================================ read views
    def room(self, room_id: str) -> Room | None:
        """The room ``room_id`` (read it, do not mutate it), if it exists."""
        entry = self._rooms.get(room_id)
        return entry.room if entry else None

    def room_ids(self) -> list[str]:
        """The ids of every room."""
        return list(self._rooms)

    def counts(self) -> tuple[int, int]:
        """Returns: ``(rooms, participants)``."""
        return len(self._rooms), sum(len(e.room.participants) for e in self._rooms.values())

    def negotiations(self) -> int:
        """Returns: the number of pairs with negotiation state, over every room."""
        return sum(len(e.neg) for e in self._rooms.values())

    # ================================================================ inputs
    def _presence(self, inp: Presence) -> RoomOutput:
        ops: list[Op] = []
        entry = self._rooms.get(inp.room)
        pid = entry.room.seat_of(inp.session) if entry else None
        if entry is not None and pid is not None:
            out = Outbox()
            entry.room.set_presence(pid, inp.state, out)
            self._flush(entry, out, inp.at, ops)
        return RoomOutput(ops=ops)

    def _depart(self, inp: Depart) -> RoomOutput:
        ops: list[Op] = []
        entry = self._rooms.get(inp.room)
        pid = entry.room.seat_of(inp.session) if entry else None
        if entry is not None and pid is not None:
            out = Outbox()
            entry.room.leave(pid, inp.reason, inp.at, out)
            self._flush(entry, out, inp.at, ops)
        return RoomOutput(ops=ops)

    def _snapshot(self, inp: Snapshot) -> RoomOutput:
        ops: list[Op] = []
        entry = self._rooms.get(inp.room)
        pid = entry.room.seat_of(inp.session) if entry else None
        if entry is not None and pid is not None and pid in entry.room.participants:
            snapshot = entry.room.snapshot(pid, inp.at)
            ops.append(Deliver(sessions=(inp.session,), message=snapshot))
        return RoomOutput(ops=ops)

    def _user_seen(self, inp: UserSeen) -> RoomOutput:
        ops: list[Op] = [
            Deliver(sessions=(inp.session,), message=p.IncomingCall(call=record.to_wire()))
            for record in self.calls.calls_of(inp.user)
        ]
        return RoomOutput(ops=ops)

    def _open_room(self, inp: OpenRoom) -> RoomOutput:
        if inp.room in self._rooms:
            return self._refused(ErrorCode.INVALID_STATE, f"room {inp.room} already exists")
        ops: list[Op] = []
        self._new_room(inp.room, inp.policy, inp.at, ops)
        return RoomOutput(ops=ops)

    def _shut_room(self, inp: ShutRoom) -> RoomOutput:
        ops: list[Op] = []
        entry = self._rooms.get(inp.room)
        if entry is not None:
            out = Outbox()
            entry.room.close(inp.at, out)
            self._flush(entry, out, inp.at, ops)
            self._delete_room(inp.room, "closed", inp.at, ops)
        return RoomOutput(ops=ops)

    def _expire(self, inp: Expire) -> RoomOutput:
        ops: list[Op] = []
        self._delete_room(inp.room, "expired", inp.at, ops)
        return RoomOutput(ops=ops)

    # ---------------------------------------------------------------- the application's
    @staticmethod
    def _refused(code: ErrorCode, message: str, ops: list[Op] | None = None) -> RoomOutput:
        return RoomOutput(refused=Refusal(code=code, message=message), ops=ops or [])

    def _admin_room(self, room: str) -> _Entry | RoomOutput:
        """The room an application input names, or the refusal saying it does not exist."""
        entry = self._rooms.get(room)
        if entry is None:
            return self._refused(ErrorCode.ROOM_NOT_FOUND, f"room {room} does not exist")
        return entry

    def _evict(self, inp: Evict) -> RoomOutput:
        entry = self._admin_room(inp.room)
        if isinstance(entry, RoomOutput):
            return entry
        ops: list[Op] = []
        out = Outbox()
        if not entry.room.evict(inp.participant, inp.message, inp.at, out):
            text = f"participant {inp.participant} is not in room {inp.room}"
            return self._refused(ErrorCode.UNKNOWN_PARTICIPANT, text)
        self._flush(entry, out, inp.at, ops)
        return RoomOutput(ops=ops)

    def _end_call(self, inp: EndCall) -> RoomOutput:
        ops: list[Op] = []
        try:
            _, outputs = self.calls.fail(inp.call, now=inp.at, reason=inp.reason)
        except CoreError as err:
            return self._refused(err.code, err.message)
        self._call_outputs(outputs, inp.at, ops)
        return RoomOutput(ops=ops)

    def _set_policy(self, inp: SetPolicy) -> RoomOutput:
        entry = self._admin_room(inp.room)
        if isinstance(entry, RoomOutput):
            return entry
        ops: list[Op] = []
        out = Outbox()
        entry.room.set_policy(inp.policy, inp.at, out)
        self._flush(entry, out, inp.at, ops)
        return RoomOutput(ops=ops)

    def _invite(self, inp: Invite) -> RoomOutput:
        entry = self._admin_room(inp.room)
        if isinstance(entry, RoomOutput):
            return entry
        policy = entry.room.policy
        policy = attrs.evolve(
            policy,
            allowed_users=policy.allowed_users | inp.users,
            invite_tokens=policy.invite_tokens | inp.tokens,
        )
        return self._set_policy(SetPolicy(room=inp.room, policy=policy, at=inp.at))

    def _say(self, inp: Say) -> RoomOutput:
        entry = self._admin_room(inp.room)
        if isinstance(entry, RoomOutput):
            return entry
        ops: list[Op] = []
        out = Outbox()
        if not entry.room.say(inp.app_type, inp.payload, inp.to, out):
            text = f"participant {inp.to} is not in room {inp.room}"
            return self._refused(ErrorCode.UNKNOWN_PARTICIPANT, text)
        self._flush(entry, out, inp.at, ops)
        return RoomOutput(ops=ops)

    def _tick_calls(self, inp: TickCalls) -> RoomOutput:
        ops: list[Op] = []
        self._call_outputs(self.calls.tick(inp.at), inp.at, ops)
        return RoomOutput(ops=ops)

    # ================================================================ rooms
    def _expiry(self, room_id: str) -> float | None:
        entry = self._rooms.get(room_id)
        return None if entry is None else entry.room.expires_at()

    def _new_room(self, room_id: str, policy: RoomPolicy, now: float, ops: list[Op]) -> _Entry:
        entry = self._rooms[room_id] = _Entry(Room(room_id, policy, now))
        ops.append(Emit(event=ev.RoomCreated(at=now, room=room_id)))
        expires = entry.room.expires_at()
        if expires is not None:
            self.timers.arm(room_id, expires)
        return entry

    def adopt(self, room: Room) -> None:
        """Take ``room`` (rebuilt from the state its previous owner wrote) into this
        host, with its expiry (it was created before: no ``RoomCreated``)."""
        self._rooms[room.id] = _Entry(room)
        expires = room.expires_at()
        if expires is not None:
            self.timers.arm(room.id, expires)

    def forget(self, room_id: str) -> None:
        """Drop ``room_id`` silently: another instance owns it now."""
        if self._rooms.pop(room_id, None) is not None:
            self.timers.disarm(room_id)

    def _delete_room(self, room_id: str, reason: str, now: float, ops: list[Op]) -> None:
        if self._rooms.pop(room_id, None) is None:
            return
        self.timers.disarm(room_id)
        ops.append(Emit(event=ev.RoomClosed(at=now, room=room_id, reason=reason)))

    def _flush(self, entry: _Entry, out: Outbox, now: float, ops: list[Op]) -> None:
        """Turn a room's outbox into ops and bookkeeping, in order."""
        room = entry.room
        members = room.participants
        gone = {pid: sid for pid, sid, _ in out.removed} if out.removed else None
        for recipients, message in out.deliveries:
            sessions: list[str] = []
            for pid in recipients:
                member = members.get(pid)
                sid = member.session if member is not None else room.lobby_session(pid)
                if sid is None and gone is not None:
                    sid = gone.get(pid)
                if sid is not None:
                    sessions.append(sid)
            if sessions:
                ops.append(
                    Deliver(sessions=tuple(sessions), message=cast(p.ServerMessage, message))
                )
        ops.extend(Emit(event=cast(AnyEvent, event)) for event in out.events)
        call = room.policy.call
        for pid, sid, user in out.removed:
            entry.neg.forget(pid)
            ops.append(Left(session=sid, room=room.id, pid=pid))
            if call is not None:
                self._call_member_left(call, user, now, ops)
        ops.extend(CloseSession(session=sid) for sid in out.close_sessions)
        if room.id in self._rooms:
            expires = room.expires_at()
            if expires is not None and room.id not in self.timers:
                self.timers.arm(room.id, expires)
            if call is not None and room.is_empty() and self.calls.get(call) is None:
                self._delete_room(room.id, "call_ended", now, ops)

    def _member(self, session: str, room_id: str) -> tuple[_Entry, str]:
        entry = self._rooms.get(room_id)
        pid = entry.room.seat_of(session) if entry is not None else None
        if entry is None or pid is None or pid not in entry.room.participants:
            raise CoreError(ErrorCode.NOT_IN_ROOM, f"you are not in room {room_id}")
        return entry, pid

    def _join_room(
        self,
        sender: Sender,
        joined: int,
        entry: _Entry,
        name: str | None,
        invite: str | None,
        now: float,
        ops: list[Op],
    ) -> p.RoomSnapshot | p.LobbyWait:
        room = entry.room
        limit = self.config.max_rooms_per_session
        if joined >= limit and room.seat_of(sender.session) is None:
            raise CoreError(ErrorCode.TOO_MANY_ROOMS, f"a session may be in at most {limit} rooms")
        pid = self._ids()
        out = Outbox()
        result = room.join(
            pid=pid,
            session=sender.session,
            user=sender.user,
            name=name or sender.name,
            grant=sender.grant_for(room.id),
            invite=invite,
            now=now,
            out=out,
            hidden=sender.hidden,
            can_update_metadata=sender.can_update_metadata,
        )
        ops.append(Joined(session=sender.session, room=room.id, pid=pid))
        self._flush(entry, out, now, ops)
        return result

    # ================================================================ room requests
    def _join(self, turn: RoomCall, msg: p.Join, ops: list[Op]) -> p.Ok:
        entry = self._rooms.get(msg.room)
        if entry is None:
            if not self.config.auto_create_rooms:
                raise CoreError(ErrorCode.ROOM_NOT_FOUND, f"room {msg.room} does not exist")
            if turn.joined >= self.config.max_rooms_per_session:
                raise CoreError(ErrorCode.TOO_MANY_ROOMS, "too many rooms for this session")
            chosen = self._room_policy(msg.room, turn.sender) if self._room_policy else None
            entry = self._new_room(msg.room, chosen or self.config.default_room, turn.at, ops)
        call_id = entry.room.policy.call
        entry.room.bans.check(turn.sender.user, turn.at)  # before the call's invitation
        if call_id is not None and not self.calls.may_join(call_id, turn.sender.user):
            raise CoreError(ErrorCode.NOT_INVITED, "answer the call to join its room")
        result = self._join_room(
            turn.sender, turn.joined, entry, msg.name, msg.invite, turn.at, ops
        )
        return p.Ok(id=msg.id, result=result)

    def _leave(self, turn: RoomCall, msg: p.Leave, ops: list[Op]) -> None:
        session = turn.sender.session
        entry = self._rooms.get(msg.room)
        pid = entry.room.seat_of(session) if entry is not None else None
        if entry is None or pid is None:
            raise CoreError(ErrorCode.NOT_IN_ROOM, f"you are not in room {msg.room}")
        out = Outbox()
        entry.room.leave(pid, "left", turn.at, out)
        if all(gone != pid for gone, _, _ in out.removed):
            out.removed.append((pid, session, turn.sender.user))  # a lobby entry left
        self._flush(entry, out, turn.at, ops)

    def _action(self, turn: RoomCall, msg: p.RoomRequest, ops: list[Op]) -> None:
        if type(msg) is p.App:
            check_app_payload(msg)
        elif type(msg) is p.UpdateMe:
            check_metadata(msg)
        entry, pid = self._member(turn.sender.session, msg.room)
        out = Outbox()
        ROOM_ACTIONS[type(msg)](entry.room, pid, msg, turn.at, out)
        self._flush(entry, out, turn.at, ops)

    def _stats(self, turn: RoomCall, msg: p.Stats, ops: list[Op]) -> None:
        _, pid = self._member(turn.sender.session, msg.room)
        event = ev.StatsReported(at=turn.at, room=msg.room, participant=pid, report=msg.report)
        ops.append(Emit(event=event))

    # ---------------------------------------------------------------- negotiation
    def _pair(self, turn: RoomCall, msg: p.Directed) -> tuple[_Entry, str, Participant]:
        """The sender's room and participant id, and the addressee (another member),
        to whose session the handler relays ``msg`` stamped with the sender. The relay
        is the hot path, so the lookups are inline."""
        entry = self._rooms.get(msg.room)
        pid = entry.room.seat_of(turn.sender.session) if entry is not None else None
        if entry is None or pid is None or pid not in entry.room.participants:
            raise CoreError(ErrorCode.NOT_IN_ROOM, f"you are not in room {msg.room}")
        if msg.to == pid:
            raise CoreError(ErrorCode.UNKNOWN_PARTICIPANT, "you cannot signal yourself")
        target = entry.room.participants.get(msg.to)
        if target is None:
            raise CoreError(
                ErrorCode.UNKNOWN_PARTICIPANT, f"participant {msg.to} is not in room {msg.room}"
            )
        return entry, pid, target

    def _description(self, turn: RoomCall, msg: p.Offer | p.Answer, ops: list[Op]) -> None:
        entry, pid, target = self._pair(turn, msg)
        is_offer = type(msg) is p.Offer
        polite = entry.room.participants[pid].order > target.order  # joined later
        offer = entry.neg.check(
            pid, msg.to, is_offer=is_offer, sender_polite=polite, negotiation=msg.negotiation
        )
        if is_offer:
            description = self._validator.offer(msg.sdp)
        else:
            description = self._validator.answer(msg.sdp, offer)
        nid = entry.neg.record(
            pid, msg.to, is_offer=is_offer, description=description, negotiation=msg.negotiation
        )
        if nid != msg.negotiation:  # the relayed description names its negotiation
            msg = msgspec.structs.replace(msg, negotiation=nid)
        ops.append(Deliver((target.session,), msg, pid))

    def _candidate(
        self, turn: RoomCall, msg: p.Candidate | p.EndOfCandidates, ops: list[Op]
    ) -> None:
        entry, pid, target = self._pair(turn, msg)
        description = entry.neg.description_of(pid, msg.to)
        if description is None:
            raise CoreError(
                ErrorCode.NO_DESCRIPTION,
                f"send an offer or answer to {msg.to} before its candidates",
            )
        if type(msg) is p.Candidate:
            self._validator.candidate(msg, description)
        ops.append(Deliver((target.session,), msg, pid))

    # ================================================================ calls
    def _call_invite(self, turn: RoomCall, msg: p.CallInvite, ops: list[Op]) -> p.Ok:
        sender = turn.sender
        if turn.joined >= self.config.max_rooms_per_session:
            raise CoreError(ErrorCode.TOO_MANY_ROOMS, "too many rooms for this session")
        call_id = self._ids()
        record, outputs = self.calls.invite(
            call_id=call_id,
            room=call_room_id(call_id),
            caller=sender.user,
            invitees=msg.to,
            media=msg.media,
            device=sender.session,
            now=turn.at,
        )
        if record.id == call_id:  # a new call, not glare turned into an answer
            self._new_room(record.room, call_room_policy(record), turn.at, ops)
        snapshot = self._enter_call_room(turn, record.room, ops)
        if isinstance(
            snapshot, p.RoomSnapshot
        ):  # the caller learns its participant id in the call's room
            ops.append(Deliver(sessions=(sender.session,), message=snapshot))
        self._call_outputs(outputs, turn.at, ops)
        live = self.calls.get(record.id)
        return p.Ok(id=msg.id, result=live.to_wire() if live is not None else None)

    def _enter_call_room(
        self, turn: RoomCall, room_id: str, ops: list[Op]
    ) -> p.RoomSnapshot | p.LobbyWait | None:
        entry = self._rooms.get(room_id)
        if entry is None or entry.room.seat_of(turn.sender.session) is not None:
            return None
        return self._join_room(turn.sender, turn.joined, entry, None, None, turn.at, ops)

    def _call_accept(self, turn: RoomCall, msg: p.CallAccept, ops: list[Op]) -> p.Ok:
        sender = turn.sender
        record = self.calls.get(msg.call)
        entry = self._rooms.get(record.room) if record is not None else None
        if entry is not None:  # a banned user's answer would join the room: refuse first
            entry.room.bans.check(sender.user, turn.at)
        if record is not None and turn.joined >= self.config.max_rooms_per_session:
            entry = self._rooms.get(record.room)
            if entry is None or entry.room.seat_of(sender.session) is None:
                raise CoreError(ErrorCode.TOO_MANY_ROOMS, "too many rooms for this session")
        record, outputs = self.calls.accept(
            msg.call, user=sender.user, device=sender.session, now=turn.at
        )
        snapshot = self._enter_call_room(turn, record.room, ops)
        self._call_outputs(outputs, turn.at, ops)
        return p.Ok(id=msg.id, result=snapshot)

    def _call_decline(self, turn: RoomCall, msg: p.CallDecline, ops: list[Op]) -> None:
        _, outputs = self.calls.decline(msg.call, user=turn.sender.user, now=turn.at)
        self._call_outputs(outputs, turn.at, ops)

    def _call_cancel(self, turn: RoomCall, msg: p.CallCancel, ops: list[Op]) -> None:
        _, outputs = self.calls.cancel(msg.call, user=turn.sender.user, now=turn.at)
        self._call_outputs(outputs, turn.at, ops)

    def _call_hangup(self, turn: RoomCall, msg: p.CallHangup, ops: list[Op]) -> None:
        _, outputs = self.calls.hangup(msg.call, user=turn.sender.user, now=turn.at)
        self._call_outputs(outputs, turn.at, ops)

    def _call_member_left(self, call_id: str, user: str, now: float, ops: list[Op]) -> None:
        """``user``'s participant left call ``call_id``'s room for good."""
        record = self.calls.get(call_id)
        if record is None or user not in record.active:
            return
        entry = self._rooms.get(record.room)
        if entry is not None and entry.room.has_user(user):
            return  # another device of the user is still in the call
        try:
            _, outputs = self.calls.member_left(call_id, user=user, now=now)
        except CallError:
            return
        self._call_outputs(outputs, now, ops)

    def _call_outputs(self, outputs: list[CallOutput], now: float, ops: list[Op]) -> None:
        for output in outputs:
            if isinstance(output, RemoveFromRoom):
                self._remove_from_call_room(output, now, ops)
            else:
                call_outputs(output, now, ops)

    def _remove_from_call_room(self, output: RemoveFromRoom, now: float, ops: list[Op]) -> None:
        entry = self._rooms.get(output.call.room)
        if entry is None:
            return
        room = entry.room
        out = Outbox()
        for user in output.users:
            seats = sorted((m.session, m.id) for m in room.participants.values() if m.user == user)
            for _, pid in seats:
                room.leave(pid, "left", now, out)
        self._flush(entry, out, now, ops)
        if room.is_empty() and self.calls.get(output.call.id) is None:
            self._delete_room(room.id, "call_ended", now, ops)
