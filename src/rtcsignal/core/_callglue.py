"""How the Server drives the call machine: calls are rooms with a ringing phase.

Theory of operation
-------------------
:class:`~rtcsignal.core._call.CallBook` owns every call's lifecycle and speaks in user
ids. The server gives each call a room (``call-<call id>``: invite-only, its allowed users
the caller and the invitees, duplicate policy ``replace``) where the negotiation happens,
joins the caller to it on ``call_invite`` and each answering device on ``call_accept``,
and turns the book's outputs into wire events for every connection of the users named:

* ``Ring`` -> ``incoming_call`` to each invitee's sessions (a session that connects while a
  call rings for its user gets it too);
* ``CallChanged`` -> ``call_updated``; ``AnsweredElsewhere`` -> ``call_updated`` with reason
  ``answered_elsewhere`` to the answering user's other sessions;
* ``Warn`` -> ``call_ending``; ``RemoveFromRoom`` -> the users' participants leave the
  call room, which is deleted once the call ended and the room is empty.

Only the caller and invitees can reach the call room (the room is invite-only), and a
plain ``join`` to it needs an answered call (``not_invited`` otherwise), so nobody joins a
call they were not invited to, and nobody sits in a call they did not answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rtcsignal import protocol as p
from rtcsignal.protocol import ErrorCode

from . import events as ev
from ._call import (
    AnsweredElsewhere,
    CallChanged,
    CallError,
    CallOutput,
    CallRecord,
    RemoveFromRoom,
    Ring,
)
from ._errors import CoreError
from ._room import DuplicatePolicy, JoinPolicy, Outbox, RoomPolicy

if TYPE_CHECKING:
    from ._effects import Effect
    from ._server import Server
    from ._session import Connection

__all__ = ["CallGlue", "call_room_id"]


def call_room_id(call_id: str) -> str:
    """The id of the room that carries call ``call_id``."""
    return f"call-{call_id}"


def _core_error(err: CallError) -> CoreError:
    return CoreError(err.code, err.message)


class CallGlue:
    """The Server's call handlers and the translation of call outputs (composed into the
    :class:`~rtcsignal.core.Server`, whose state it uses)."""

    __slots__ = ("s",)

    def __init__(self, server: Server) -> None:
        self.s = server

    def call_invite(
        self, conn: Connection, msg: p.CallInvite, now: float, fx: list[Effect]
    ) -> p.Ok:
        session = self.s._sess(conn)
        if len(session.rooms) >= self.s.config.max_rooms_per_session:
            raise CoreError(ErrorCode.TOO_MANY_ROOMS, "too many rooms for this session")
        call_id = self.s._ids()
        try:
            record, outputs = self.s.calls.invite(
                call_id=call_id,
                room=call_room_id(call_id),
                caller=session.user,
                invitees=msg.to,
                media=msg.media,
                device=session.id,
                now=now,
            )
        except CallError as err:
            raise _core_error(err) from None
        if record.id == call_id:  # a new call, not glare turned into an answer
            users = frozenset((record.caller, *record.invitees))
            policy = RoomPolicy(
                join=JoinPolicy.INVITE,
                allowed_users=users,
                capacity=len(users) * 2,  # room for a device switch (duplicate: replace)
                duplicate=DuplicatePolicy.REPLACE,
                call=record.id,
            )
            self.s._new_room(record.room, policy, now, fx)
        snapshot = self.enter_call_room(session, record, now, fx, answering=record.id != call_id)
        if snapshot is not None:  # the caller learns its participant id in the call's room
            self.s._deliver(session.id, snapshot, fx)
        self.apply_call_outputs(outputs, now, fx)
        return p.Ok(id=msg.id, result=self.call_info(record.id))

    def call_info(self, call_id: str) -> p.CallInfo | None:
        record = self.s.calls.get(call_id)
        return record.to_wire() if record is not None else None

    def enter_call_room(
        self,
        session: Any,
        record: CallRecord,
        now: float,
        fx: list[Effect],
        *,
        answering: bool,
    ) -> p.RoomSnapshot | p.LobbyWait | None:
        entry = self.s._rooms.get(record.room)
        if entry is None or record.room in session.rooms:
            return None
        return self.s._join_room(session, entry, None, None, now, fx)

    def call_accept(
        self, conn: Connection, msg: p.CallAccept, now: float, fx: list[Effect]
    ) -> p.Ok:
        session = self.s._sess(conn)
        record = self.s.calls.get(msg.call)
        if (
            record is not None
            and record.room not in session.rooms
            and len(session.rooms) >= self.s.config.max_rooms_per_session
        ):
            raise CoreError(ErrorCode.TOO_MANY_ROOMS, "too many rooms for this session")
        try:
            record, outputs = self.s.calls.accept(
                msg.call, user=session.user, device=session.id, now=now
            )
        except CallError as err:
            raise _core_error(err) from None
        snapshot = self.enter_call_room(session, record, now, fx, answering=True)
        self.apply_call_outputs(outputs, now, fx)
        return p.Ok(id=msg.id, result=snapshot)

    def call_decline(
        self, conn: Connection, msg: p.CallDecline, now: float, fx: list[Effect]
    ) -> None:
        self.call_op(self.s.calls.decline, conn, msg.call, now, fx)

    def call_cancel(
        self, conn: Connection, msg: p.CallCancel, now: float, fx: list[Effect]
    ) -> None:
        self.call_op(self.s.calls.cancel, conn, msg.call, now, fx)

    def call_hangup(
        self, conn: Connection, msg: p.CallHangup, now: float, fx: list[Effect]
    ) -> None:
        self.call_op(self.s.calls.hangup, conn, msg.call, now, fx)

    def call_op(
        self, op: Any, conn: Connection, call_id: str, now: float, fx: list[Effect]
    ) -> None:
        session = self.s._sess(conn)
        try:
            _, outputs = op(call_id, user=session.user, now=now)
        except CallError as err:
            raise _core_error(err) from None
        self.apply_call_outputs(outputs, now, fx)

    def check_call_join(self, call_id: str, user: str) -> None:
        if not self.s.calls.may_join(call_id, user):
            raise CoreError(ErrorCode.NOT_INVITED, "answer the call to join its room")

    def call_member_left(self, call_id: str, user: str, now: float, fx: list[Effect]) -> None:
        record = self.s.calls.get(call_id)
        if record is None or user not in record.active:
            return
        if any(
            call_room_id(call_id) in self.s._sessions[sid].rooms
            for sid in self.s._user_sessions.get(user, ())
            if sid in self.s._sessions
        ):
            return  # another device of the user is still in the call
        try:
            _, outputs = self.s.calls.member_left(call_id, user=user, now=now)
        except CallError:
            return
        self.apply_call_outputs(outputs, now, fx)

    def ring_pending(self, session: Any, fx: list[Effect]) -> None:
        for record in self.s.calls.calls_of(session.user):
            self.s._deliver(session.id, p.IncomingCall(call=record.to_wire()), fx)

    def apply_call_outputs(self, outputs: list[CallOutput], now: float, fx: list[Effect]) -> None:
        for output in outputs:
            if isinstance(output, RemoveFromRoom):
                self.remove_from_call_room(output, now, fx)
                continue
            if isinstance(output, Ring) or (
                isinstance(output, CallChanged) and output.state_changed
            ):
                fx.append(ev.CallStateChanged(at=now, call=output.call))
            if isinstance(output, AnsweredElsewhere):
                self.s._deliver_user(
                    output.user, output.message(), fx, except_session=output.device
                )
            else:
                message = output.message()
                for user in output.users:
                    self.s._deliver_user(user, message, fx)

    def remove_from_call_room(self, output: RemoveFromRoom, now: float, fx: list[Effect]) -> None:
        entry = self.s._rooms.get(output.call.room)
        if entry is None:
            return
        out = Outbox()
        for user in output.users:
            for sid in sorted(self.s._user_sessions.get(user, ())):
                session = self.s._sessions.get(sid)
                pid = session.rooms.get(entry.room.id) if session else None
                if pid is not None:
                    entry.room.leave(pid, "left", now, out)
        self.s._flush(entry, out, now, fx)
        if entry.room.is_empty() and self.s.calls.get(output.call.id) is None:
            self.s._delete_room(entry.room.id, "call_ended", now, fx)
