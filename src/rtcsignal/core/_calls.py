"""Calls are rooms with a ringing phase: the call room, and call outputs as values.

Theory of operation
-------------------
:class:`~rtcsignal.core._call.CallBook` owns every call's lifecycle and speaks in user
ids. The room host gives each call a room (``call-<call id>``: invite-only, its allowed
users the caller and the invitees, duplicate policy ``replace``) where the negotiation
happens, joins the caller to it on ``call_invite`` and each answering device on
``call_accept``, and turns the book's outputs into deliveries to every session of the
users named (:class:`~rtcsignal.core.seam.ToUser`: the edge knows a user's sessions):

* ``Ring`` -> ``incoming_call`` to each invitee's sessions (a session that starts while a
  call rings for its user gets it too: :class:`~rtcsignal.core.seam.UserSeen`);
* ``CallChanged`` -> ``call_updated``; ``AnsweredElsewhere`` -> ``call_updated`` with
  reason ``answered_elsewhere`` to the answering user's other sessions;
* ``Warn`` -> ``call_ending``; ``RemoveFromRoom`` -> the users' participants leave the
  call room, which is deleted once the call ended and the room is empty (the host does
  that part: it changes a room).

Only the caller and invitees can reach the call room (the room is invite-only), and a
plain ``join`` to it needs an answered call (``not_invited`` otherwise), so nobody joins a
call they were not invited to, and nobody sits in a call they did not answer.
"""

from __future__ import annotations

from . import events as ev
from ._call import AnsweredElsewhere, CallChanged, CallRecord, Ring, Warn
from ._roompolicy import DuplicatePolicy, JoinPolicy, RoomPolicy
from .seam import Emit, Op, ToUser

__all__ = ["call_outputs", "call_room_id", "call_room_policy"]


def call_room_id(call_id: str) -> str:
    """The id of the room that carries call ``call_id``."""
    return f"call-{call_id}"


def call_room_policy(record: CallRecord) -> RoomPolicy:
    """The policy of a new call's room: invite-only for the caller and the invitees, room
    for a device switch per user (duplicate policy ``replace``)."""
    users = frozenset((record.caller, *record.invitees))
    return RoomPolicy(
        join=JoinPolicy.INVITE,
        allowed_users=users,
        capacity=len(users) * 2,
        duplicate=DuplicatePolicy.REPLACE,
        call=record.id,
    )


def call_outputs(
    output: Ring | CallChanged | AnsweredElsewhere | Warn, now: float, ops: list[Op]
) -> None:
    """Append what one call output (other than ``RemoveFromRoom``) means: an observer
    event on a state change, then the deliveries to the users it names."""
    if isinstance(output, Ring) or (isinstance(output, CallChanged) and output.state_changed):
        ops.append(Emit(event=ev.CallStateChanged(at=now, call=output.call)))
    if isinstance(output, AnsweredElsewhere):
        ops.append(ToUser(user=output.user, message=output.message(), except_session=output.device))
    else:
        message = output.message()
        ops.extend(ToUser(user=user, message=message) for user in output.users)
