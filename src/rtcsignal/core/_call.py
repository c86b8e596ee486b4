"""Call lifecycle: ringing -> active -> ended, one small machine per call, kept in a book.

Theory of operation
-------------------
A *call* is an invitation from one user (the caller) to up to ``MAX_INVITEES`` users,
attached to a room the server creates for it. :class:`CallBook` owns every live call and
speaks only in user ids: it returns *outputs* (:data:`CallOutput`) that the server turns
into wire events for all connections of those users, and it never sees a connection,
except the opaque ``device`` of the connection that answered. Time is a parameter:
deadlines are pulled with :meth:`CallBook.next_deadline` and fired by
:meth:`CallBook.tick`.

States and the one table. A call is ``ringing`` until its first answer, ``active`` until
it ends, then ``ended`` with a reason. :data:`CALL_TRANSITIONS` maps each ``(state,
input)`` to the states it may lead to; the handler picks one by the rules below. A pair
missing from the table raises :class:`CallError` naming the call, the input and the
state: ``call_ended`` once ended, ``invalid_state`` otherwise.

Rules, and why:

* **Members only.** Only the caller and the invitees may act on a call. Anyone else gets
  ``call_not_found``, the same as for an unknown id, so call ids cannot be probed.
  Members acting out of role get ``forbidden`` (the caller cannot accept or decline its
  own call; only the caller may cancel).
* **Who is in the call.** The caller is *active* from the invite on (it waits in the
  call room); an invitee becomes active by accepting. Invitees not yet answered and not
  declined are *ringing* until the ring timeout, even after someone else answered (a
  group call keeps ringing the others). A missed invitee of an active call may still
  join it late. Leaving (hang up, or the participant leaving the room for good) is final:
  a user who left or declined cannot accept again (``invalid_state``).
* **One device per user.** A user already active who accepts again (another device) gets
  ``invalid_state``. When one device answers, :class:`AnsweredElsewhere` tells the
  user's other devices to stop ringing.
* **Ending.** A ringing call ends ``cancelled`` (caller cancels or hangs up),
  ``declined`` (every invitee declined), ``missed`` (ring timeout) or ``failed`` (the
  caller's participant vanished, or :meth:`CallBook.fail`). An active call ends
  ``hangup`` when nobody is active, or fewer than two are active and nobody is ringing
  any more; ``max_duration`` at its limit (warned ``warning_before`` ahead); ``failed``
  on :meth:`CallBook.fail`. Every ended call has a reason and no active members; its
  last active members come out in :class:`RemoveFromRoom`.
* **Idempotent.** Declining, cancelling, hanging up or leaving twice, or after the call
  ended, returns the record and no outputs. Ended calls leave the book at once; a
  bounded set of tombstones (:data:`MAX_TOMBSTONES`) lets a late repeat of such a request
  still return quietly, and an accept of a just-ended call get ``call_ended``.
* **Call-level glare.** If ``A`` invites exactly one user ``B`` while a *ringing* call
  from ``B`` rings ``A``, no second call is made: ``A``'s invite accepts ``B``'s call
  (the oldest such call, if several). The order the server processes the two invites
  decides which id survives; either way the two users end in one call. The returned
  record's ``id`` then differs from the ``call_id`` passed to :meth:`CallBook.invite`.
* **Check, then mutate.** Every method validates everything first and raises
  :class:`CallError` before touching state, so a refused request changes nothing.
* **Bounded.** At most ``max_calls`` live calls (:data:`DEFAULT_MAX_CALLS`), at most
  ``MAX_INVITEES`` invitees each; timers live in one :class:`~rtcsignal.core._timers.Deadlines`.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Sequence

import attrs

from rtcsignal.protocol import (
    MAX_INVITEES,
    CallEndReason,
    ErrorCode,
    InternalFault,
    UsageError,
)

from ._callvalues import CALL_LIMIT_CODE as CALL_LIMIT_CODE
from ._callvalues import CALL_TRANSITIONS as CALL_TRANSITIONS
from ._callvalues import DEFAULT_MAX_CALLS as DEFAULT_MAX_CALLS
from ._callvalues import DEFAULT_MAX_DURATION as DEFAULT_MAX_DURATION
from ._callvalues import DEFAULT_RING_TIMEOUT as DEFAULT_RING_TIMEOUT
from ._callvalues import DEFAULT_WARNING_BEFORE as DEFAULT_WARNING_BEFORE
from ._callvalues import MAX_TOMBSTONES as MAX_TOMBSTONES
from ._callvalues import QUIET_WHEN_ENDED as QUIET_WHEN_ENDED
from ._callvalues import AnsweredElsewhere as AnsweredElsewhere
from ._callvalues import CallChanged as CallChanged
from ._callvalues import CallError as CallError
from ._callvalues import CallInput as CallInput
from ._callvalues import CallOutput as CallOutput
from ._callvalues import CallRecord as CallRecord
from ._callvalues import CallState as CallState
from ._callvalues import Media as Media
from ._callvalues import RemoveFromRoom as RemoveFromRoom
from ._callvalues import Ring as Ring
from ._callvalues import Warn as Warn
from ._callvalues import call_state_diagram as call_state_diagram
from ._timers import Deadlines

__all__ = [
    "CALL_LIMIT_CODE",
    "CALL_TRANSITIONS",
    "DEFAULT_MAX_CALLS",
    "DEFAULT_MAX_DURATION",
    "DEFAULT_RING_TIMEOUT",
    "DEFAULT_WARNING_BEFORE",
    "MAX_TOMBSTONES",
    "QUIET_WHEN_ENDED",
    "AnsweredElsewhere",
    "CallBook",
    "CallChanged",
    "CallError",
    "CallInput",
    "CallOutput",
    "CallRecord",
    "CallState",
    "Media",
    "RemoveFromRoom",
    "Ring",
    "Warn",
    "call_state_diagram",
]


class _Timer(enum.Enum):
    RING = CallInput.RING_TIMEOUT
    WARN = CallInput.WARN
    MAX = CallInput.MAX_DURATION


@attrs.define(kw_only=True)
class _Call:
    """A live call's mutable state; snapshots of it are :class:`CallRecord`."""

    id: str
    room: str
    caller: str
    invitees: tuple[str, ...]
    media: Media
    created_at: float
    state: CallState = CallState.RINGING
    answered_at: float | None = None
    answered_by: list[str] = attrs.Factory(list)
    declined_by: list[str] = attrs.Factory(list)
    active: dict[str, None] = attrs.Factory(dict)
    ringing: dict[str, None] = attrs.Factory(dict)
    left: set[str] = attrs.Factory(set)
    timers: dict[_Timer, float] = attrs.Factory(dict)

    def record(
        self, *, reason: CallEndReason | None = None, ended_at: float | None = None
    ) -> CallRecord:
        done = ended_at is not None
        return CallRecord(
            id=self.id,
            room=self.room,
            caller=self.caller,
            invitees=self.invitees,
            media=self.media,
            state=CallState.ENDED if done else self.state,
            reason=reason,
            created_at=self.created_at,
            answered_at=self.answered_at,
            ended_at=ended_at,
            answered_by=tuple(self.answered_by),
            declined_by=tuple(self.declined_by),
            active=() if done else tuple(self.active),
            ringing=() if done else tuple(self.ringing),
            duration=(
                ended_at - self.answered_at
                if ended_at is not None and self.answered_at is not None
                else None
            ),
        )


def _lookup(call_id: str, state: CallState, inp: CallInput) -> frozenset[CallState]:
    targets = CALL_TRANSITIONS.get((state, inp))
    if targets is None:
        code = ErrorCode.CALL_ENDED if state is CallState.ENDED else ErrorCode.INVALID_STATE
        raise CallError(code, f"{inp.value} is not valid for call {call_id} in state {state.value}")
    return targets


class CallBook:
    """Every live call, its timers, and the rules of the theory of operation above.

    Args:
        ring_timeout: seconds an unanswered invitation rings (> 0).
        max_duration: seconds an answered call may last (> 0).
        warning_before: seconds before ``max_duration`` to send :class:`Warn`;
            0 disables the warning; must be below ``max_duration``.
        max_calls: live calls at most (>= 1).

    Raises:
        ValueError: a setting out of range.
    """

    def __init__(
        self,
        *,
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        max_duration: float = DEFAULT_MAX_DURATION,
        warning_before: float = DEFAULT_WARNING_BEFORE,
        max_calls: int = DEFAULT_MAX_CALLS,
    ) -> None:
        for name, value, ok in (
            ("ring_timeout", ring_timeout, ring_timeout > 0),
            ("max_duration", max_duration, max_duration > 0),
            ("warning_before", warning_before, 0 <= warning_before < max_duration),
            ("max_calls", max_calls, max_calls >= 1),
        ):
            if not ok:
                raise UsageError(f"{name} is out of range: {value!r}")
        self.ring_timeout = ring_timeout
        self.max_duration = max_duration
        self.warning_before = warning_before
        self.max_calls = max_calls
        self._calls: dict[str, _Call] = {}
        self._ringing: dict[str, dict[str, None]] = {}  # user -> ids of calls ringing it
        self._tombstones: OrderedDict[str, CallRecord] = OrderedDict()
        self._timers: Deadlines[tuple[str, _Timer]] = Deadlines()

    def __len__(self) -> int:
        """Returns: the number of live (ringing or active) calls."""
        return len(self._calls)

    # ------------------------------------------------------------------ queries
    def records(self) -> tuple[CallRecord, ...]:
        """Every live call, in creation order."""
        return tuple(call.record() for call in self._calls.values())

    def get(self, call_id: str) -> CallRecord | None:
        """Returns: a snapshot of the live call ``call_id``, or ``None``."""
        call = self._calls.get(call_id)
        return None if call is None else call.record()

    def calls_of(self, user: str) -> tuple[CallRecord, ...]:
        """Returns: the live calls ringing ``user``, oldest first (so the server can send
        ``incoming_call`` to a connection that comes up while they ring)."""
        ids = self._ringing.get(user, {})
        return tuple(self._calls[i].record() for i in ids)

    def counts(self) -> tuple[int, int]:
        """Returns: ``(ringing, active)`` numbers of live calls (for health endpoints)."""
        active = sum(1 for call in self._calls.values() if call.state is CallState.ACTIVE)
        return len(self._calls) - active, active

    def may_join(self, call_id: str, user: str) -> bool:
        """Returns: whether ``user`` is active in the live call ``call_id`` (so its
        participant belongs in the call's room)."""
        call = self._calls.get(call_id)
        return call is not None and user in call.active

    def next_deadline(self) -> float | None:
        """Returns: the earliest time :meth:`tick` has something to do, or ``None``."""
        return self._timers.next()

    @property
    def timers_armed(self) -> int:
        """A count that grows whenever a timer is armed (and never shrinks): while it is
        unchanged, :meth:`next_deadline` cannot have come nearer."""
        return self._timers.arms

    # ------------------------------------------------------------------ requests
    def invite(
        self,
        *,
        call_id: str,
        room: str,
        caller: str,
        invitees: Sequence[str],
        media: Media,
        device: str,
        now: float,
    ) -> tuple[CallRecord, list[CallOutput]]:
        """Start ringing ``invitees`` (or, on call-level glare, accept the crossing call).

        Args:
            call_id / room: the new call's id and its room's id (server-generated).
            caller: the inviting user; it counts as active in the call from now on.
            invitees: users to ring; duplicates are dropped, order kept.
            media: ``"audio"`` or ``"video"``.
            device: the caller's connection, used as the answering device on glare.
            now: the current time.

        Returns:
            The call's record (the caller's ``ok`` result) and the outputs: a
            :class:`Ring` for a new call, or the accept outputs on glare, in which case
            the record's ``id`` is the existing call's, not ``call_id``.

        Raises:
            CallError: ``invalid_message`` (no invitees, too many, the caller among them,
                unknown media); ``rate_limited`` (``max_calls`` live calls);
                ``internal_error`` (``call_id`` already in use).
        """
        users = tuple(dict.fromkeys(invitees))
        if media not in ("audio", "video"):
            raise CallError(ErrorCode.INVALID_MESSAGE, f"call media {media!r} is unknown")
        if not users or len(users) > MAX_INVITEES:
            raise CallError(
                ErrorCode.INVALID_MESSAGE,
                f"a call invites 1 to {MAX_INVITEES} users, not {len(users)}",
            )
        if caller in users:
            raise CallError(ErrorCode.INVALID_MESSAGE, f"user {caller!r} cannot call itself")
        if call_id in self._calls or call_id in self._tombstones:
            raise CallError(ErrorCode.INTERNAL_ERROR, f"call id {call_id} is already in use")
        if len(users) == 1:
            for other_id in self._ringing.get(caller, {}):
                other = self._calls[other_id]
                if other.state is CallState.RINGING and other.caller == users[0]:
                    # call-level glare: the crossing invite answers the ringing call
                    return self._accept(other, caller, device, now)
        if len(self._calls) >= self.max_calls:
            raise CallError(
                CALL_LIMIT_CODE, f"call {call_id} refused: {self.max_calls} calls are live"
            )
        call = _Call(
            id=call_id,
            room=room,
            caller=caller,
            invitees=users,
            media=media,
            created_at=now,
        )
        call.active[caller] = None
        self._calls[call_id] = call
        for user in users:
            call.ringing[user] = None
            self._ringing.setdefault(user, {})[call_id] = None
        self._arm(call, _Timer.RING, now + self.ring_timeout)
        record = call.record()
        return record, [Ring(call=record, users=users)]

    def accept(
        self, call_id: str, *, user: str, device: str, now: float
    ) -> tuple[CallRecord, list[CallOutput]]:
        """An invitee answers on ``device``: ringing -> active, or joins an active call.

        Returns:
            The record and the outputs: :class:`AnsweredElsewhere` for the user's other
            devices, then :class:`CallChanged` for the other members.

        Raises:
            CallError: ``call_not_found`` (unknown, or ``user`` not a member);
                ``forbidden`` (the caller); ``call_ended``; ``invalid_state`` (already
                answered on another device, declined, or left).
        """
        found = self._find(call_id, user)
        if user == found.caller:
            raise CallError(ErrorCode.FORBIDDEN, f"the caller cannot accept its own call {call_id}")
        if isinstance(found, CallRecord):
            return self._quiet(found, CallInput.ACCEPT)
        for done, what in (
            (found.active, "already answered on another device"),
            (found.declined_by, "declined"),
            (found.left, "left"),
        ):
            if user in done:
                raise CallError(
                    ErrorCode.INVALID_STATE,
                    f"accept is not valid for call {call_id} in state {found.state.value}: "
                    f"{user!r} {what}",
                )
        return self._accept(found, user, device, now)

    def decline(
        self, call_id: str, *, user: str, now: float
    ) -> tuple[CallRecord, list[CallOutput]]:
        """An invitee refuses the call (idempotent).

        Returns:
            The record and the outputs: :class:`CallChanged` with reason ``declined`` to
            the user's devices, or the end of the call once no invitee rings any more.
            A repeat, or a decline of an ended call, returns no outputs.

        Raises:
            CallError: ``call_not_found``; ``forbidden`` (the caller: cancel instead);
                ``invalid_state`` (the user already answered: hang up instead).
        """
        found = self._find(call_id, user)
        if user == found.caller:
            raise CallError(
                ErrorCode.FORBIDDEN, f"the caller cannot decline call {call_id}; cancel it"
            )
        if isinstance(found, CallRecord) or user in found.declined_by or user in found.left:
            return self._quiet(found, CallInput.DECLINE)
        if user in found.active:
            raise CallError(
                ErrorCode.INVALID_STATE,
                f"decline is not valid for call {call_id} in state {found.state.value}: "
                f"{user!r} answered it; hang up instead",
            )
        return self._decline(found, user, CallInput.DECLINE, now)

    def cancel(self, call_id: str, *, user: str, now: float) -> tuple[CallRecord, list[CallOutput]]:
        """The caller stops a ringing call: ended ``cancelled`` (idempotent).

        Raises:
            CallError: ``call_not_found``; ``forbidden`` (not the caller);
                ``invalid_state`` (the call was answered: hang up instead).
        """
        found = self._find(call_id, user)
        if user != found.caller:
            raise CallError(ErrorCode.FORBIDDEN, f"only the caller may cancel call {call_id}")
        if isinstance(found, CallRecord):
            return self._quiet(found, CallInput.CANCEL)
        _lookup(call_id, found.state, CallInput.CANCEL)
        return self._end(found, CallInput.CANCEL, "cancelled", now)

    def hangup(self, call_id: str, *, user: str, now: float) -> tuple[CallRecord, list[CallOutput]]:
        """A member leaves the call (idempotent). While ringing, the caller's hang-up
        cancels and an invitee's declines.

        Returns:
            The record and the outputs: :class:`RemoveFromRoom` for the user while the
            call goes on, or the call's end (:class:`CallChanged`, then
            :class:`RemoveFromRoom` for everyone still active).

        Raises:
            CallError: ``call_not_found``.
        """
        found = self._find(call_id, user)
        if isinstance(found, CallRecord) or user in found.declined_by or user in found.left:
            return self._quiet(found, CallInput.HANGUP)
        _lookup(call_id, found.state, CallInput.HANGUP)
        if found.state is CallState.RINGING and user == found.caller:
            return self._end(found, CallInput.HANGUP, "cancelled", now)
        if user not in found.active:
            return self._decline(found, user, CallInput.HANGUP, now)
        return self._depart(found, user, CallInput.HANGUP, now)

    def member_left(
        self, call_id: str, *, user: str, now: float
    ) -> tuple[CallRecord, list[CallOutput]]:
        """The server reports that ``user``'s participant left the call room for good
        (reconnect grace expired, kicked). Like :meth:`hangup`, but a ringing call whose
        caller vanished ends ``failed``; a user not active is a quiet no-op.

        Raises:
            CallError: ``call_not_found`` (not live and not a recent tombstone).
        """
        found = self._find(call_id, user)
        if isinstance(found, CallRecord) or user not in found.active:
            return self._quiet(found, CallInput.LEAVE)
        _lookup(call_id, found.state, CallInput.LEAVE)
        if found.state is CallState.RINGING:
            del found.active[user]
            found.left.add(user)
            return self._end(found, CallInput.LEAVE, "failed", now)
        return self._depart(found, user, CallInput.LEAVE, now)

    def fail(
        self, call_id: str, *, now: float, reason: CallEndReason = "failed"
    ) -> tuple[CallRecord, list[CallOutput]]:
        """The server terminates a call: ended ``reason`` (default ``failed``; the
        application ending it says ``hangup``). Idempotent.

        Raises:
            CallError: ``call_not_found``.
        """
        call = self._calls.get(call_id)
        if call is None:
            return self._quiet(self._find(call_id, None), CallInput.FAIL)
        return self._end(call, CallInput.FAIL, reason, now)

    # ------------------------------------------------------------------ timers
    def tick(self, now: float) -> list[CallOutput]:
        """Fire every deadline at or before ``now``, in deadline order.

        Returns:
            The outputs: ring timeouts (the end ``missed``, or :class:`CallChanged` with
            reason ``missed`` to invitees of a call others answered), :class:`Warn`
            (skipped when the end is also due), and ``max_duration`` ends.
        """
        out: list[CallOutput] = []
        while (due := self._timers.pop_due(now)) is not None:
            call_id, timer = due
            call = self._calls[call_id]  # an ended call's timers are disarmed
            del call.timers[timer]
            _lookup(call_id, call.state, timer.value)
            if timer is _Timer.MAX:
                out += self._end(call, CallInput.MAX_DURATION, "max_duration", now)[1]
            elif timer is _Timer.WARN:
                end_at = call.timers[_Timer.MAX]
                if end_at > now:
                    out.append(
                        Warn(call=call.record(), remaining=end_at - now, users=(*call.active,))
                    )
            elif call.state is CallState.RINGING:
                out += self._end(call, CallInput.RING_TIMEOUT, "missed", now)[1]
            else:
                missed = tuple(call.ringing)
                for user in missed:
                    self._stop_ringing(call, user)
                if self._should_end(call):
                    out += self._end(call, CallInput.RING_TIMEOUT, "hangup", now)[1]
                else:
                    out.append(CallChanged(call=call.record(), users=missed, reason="missed"))
        return out

    # ------------------------------------------------------------------ internals
    def _find(self, call_id: str, user: str | None) -> _Call | CallRecord:
        """The live call or tombstone ``call_id``, if ``user`` is a member (None: anyone)."""
        found: _Call | CallRecord | None = self._calls.get(call_id)
        if found is None:
            found = self._tombstones.get(call_id)
        if found is None or user not in (None, found.caller, *found.invitees):
            # strangers see the same answer as for an unknown id: ids cannot be probed
            raise CallError(ErrorCode.CALL_NOT_FOUND, f"call {call_id} does not exist")
        return found

    @staticmethod
    def _quiet(found: _Call | CallRecord, inp: CallInput) -> tuple[CallRecord, list[CallOutput]]:
        if isinstance(found, _Call):
            return found.record(), []
        if inp not in QUIET_WHEN_ENDED:
            _lookup(found.id, found.state, inp)  # raises call_ended
        return found, []

    def _accept(
        self, call: _Call, user: str, device: str, now: float
    ) -> tuple[CallRecord, list[CallOutput]]:
        first = call.state is CallState.RINGING
        self._stop_ringing(call, user)
        call.active[user] = None
        call.answered_by.append(user)  # once: accepting again after leaving is refused
        if first:
            if CallState.ACTIVE not in _lookup(call.id, call.state, CallInput.ACCEPT):
                raise InternalFault(f"accept cannot answer call {call.id}")
            call.state = CallState.ACTIVE
            call.answered_at = now
            self._arm(call, _Timer.MAX, now + self.max_duration)
            if self.warning_before > 0:
                self._arm(call, _Timer.WARN, now + self.max_duration - self.warning_before)
        record = call.record()
        others = tuple(u for u in record.members if u != user)
        return record, [
            AnsweredElsewhere(call=record, user=user, device=device),
            CallChanged(call=record, users=others, state_changed=first),
        ]

    def _decline(
        self, call: _Call, user: str, inp: CallInput, now: float
    ) -> tuple[CallRecord, list[CallOutput]]:
        _lookup(call.id, call.state, inp)
        self._stop_ringing(call, user)
        call.declined_by.append(user)
        if call.state is CallState.RINGING and not call.ringing:
            return self._end(call, inp, "declined", now)
        if call.state is CallState.ACTIVE and self._should_end(call):
            return self._end(call, inp, "hangup", now)
        record = call.record()
        return record, [CallChanged(call=record, users=(user,), reason="declined")]

    def _depart(
        self, call: _Call, user: str, inp: CallInput, now: float
    ) -> tuple[CallRecord, list[CallOutput]]:
        del call.active[user]
        call.left.add(user)
        # a hang-up still has a participant in the room; a LEAVE's is already gone
        also = (user,) if inp is CallInput.HANGUP else ()
        if self._should_end(call):
            return self._end(call, inp, "hangup", now, also=also)
        record = call.record()
        return record, [RemoveFromRoom(call=record, users=also)] if also else []

    @staticmethod
    def _should_end(call: _Call) -> bool:
        return not call.active or (len(call.active) < 2 and not call.ringing)

    def _end(
        self,
        call: _Call,
        inp: CallInput,
        reason: CallEndReason,
        now: float,
        *,
        also: tuple[str, ...] = (),
    ) -> tuple[CallRecord, list[CallOutput]]:
        if CallState.ENDED not in _lookup(call.id, call.state, inp):
            raise InternalFault(f"{inp.value} cannot end call {call.id} in {call.state.value}")
        remove = (*also, *call.active)
        for user in tuple(call.ringing):
            self._stop_ringing(call, user)
        for timer in tuple(call.timers):
            self._disarm(call, timer)
        record = call.record(reason=reason, ended_at=now)
        del self._calls[call.id]
        self._tombstones[call.id] = record
        if len(self._tombstones) > MAX_TOMBSTONES:
            self._tombstones.popitem(last=False)
        if not self._calls:
            self._timers.clear()  # drop the stale entries of ended calls too
        out: list[CallOutput] = [CallChanged(call=record, users=record.members, state_changed=True)]
        if remove:
            out.append(RemoveFromRoom(call=record, users=remove))
        return record, out

    def _stop_ringing(self, call: _Call, user: str) -> None:
        if user in call.ringing:
            del call.ringing[user]
            ids = self._ringing[user]
            del ids[call.id]
            if not ids:
                del self._ringing[user]
            if not call.ringing and _Timer.RING in call.timers:
                self._disarm(call, _Timer.RING)  # nobody left to ring: keep deadlines exact

    def _arm(self, call: _Call, timer: _Timer, at: float) -> None:
        call.timers[timer] = at
        self._timers.arm((call.id, timer), at)

    def _disarm(self, call: _Call, timer: _Timer) -> None:
        del call.timers[timer]
        self._timers.disarm((call.id, timer))
