"""Call values: states, inputs, the transition table, records and outputs of the call
machine (see :mod:`rtcsignal.core._call` for the theory of operation)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

import attrs
import msgspec

from rtcsignal.protocol import (
    CallEnding,
    CallEndReason,
    CallInfo,
    CallStateName,
    CallUpdated,
    ErrorCode,
    IncomingCall,
)

from ._errors import CoreError

DEFAULT_RING_TIMEOUT: Final = 45.0
"""Phones ring 30-60 s before carriers divert to voicemail; 45 s sits in the middle."""
DEFAULT_MAX_DURATION: Final = 24 * 3600.0
"""A day: no real call lasts longer, while a forgotten open call would hold resources."""
DEFAULT_WARNING_BEFORE: Final = 3600.0
"""Warn an hour ahead, so users of a long call can reconnect on their own terms."""
DEFAULT_MAX_CALLS: Final = 10_000
"""Live calls per book: a call with 16 invitees is ~3 KiB, so 10k calls stay ~30 MiB,
far above what one signaling instance serves concurrently; beyond it is abuse."""
MAX_TOMBSTONES: Final = 1_024
"""Just-ended calls remembered for quiet idempotent repeats: a late decline travels for
seconds, and 1,024 covers that window at hundreds of call ends per second."""
CALL_LIMIT_CODE: Final = ErrorCode.TOO_MANY_CALLS
"""The code for ``max_calls`` exceeded: the book is full, retry later."""

Media = Literal["audio", "video"]
"""What a call carries; the invitee's client uses it to choose how to ring."""


class CallState(enum.Enum):
    """A call's coarse state (the wire's ``CallStateName``); ``reason`` refines ``ended``."""

    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


_WIRE_STATE: Final[Mapping[CallState, CallStateName]] = MappingProxyType(
    {CallState.RINGING: "ringing", CallState.ACTIVE: "active", CallState.ENDED: "ended"}
)


class CallInput(enum.Enum):
    """Everything that can happen to a call: member requests, server notices, timers."""

    ACCEPT = "accept"  # an invitee answers (call_accept, or a glare invite)
    DECLINE = "decline"  # an invitee refuses (call_decline)
    CANCEL = "cancel"  # the caller stops ringing (call_cancel)
    HANGUP = "hangup"  # a member leaves (call_hangup)
    LEAVE = "leave"  # a member's participant left the room for good (grace expired, kicked)
    RING_TIMEOUT = "ring_timeout"  # timer: nobody answered within ring_timeout
    MAX_DURATION = "max_duration"  # timer: the answered call reached max_duration
    WARN = "warn"  # timer: warning_before seconds remain before max_duration
    FAIL = "fail"  # the server ends the call (its room could not be kept, shutdown)


_R, _A, _E = CallState.RINGING, CallState.ACTIVE, CallState.ENDED
CALL_TRANSITIONS: Final[Mapping[tuple[CallState, CallInput], frozenset[CallState]]] = (
    MappingProxyType(
        {
            (_R, CallInput.ACCEPT): frozenset({_A}),
            # stays ringing while some invitee still rings; ends "declined" when none does
            (_R, CallInput.DECLINE): frozenset({_R, _E}),
            (_R, CallInput.CANCEL): frozenset({_E}),
            # the caller's hang-up is a cancel; an invitee's is a decline
            (_R, CallInput.HANGUP): frozenset({_R, _E}),
            # only the caller has a participant while ringing: it vanished, "failed"
            (_R, CallInput.LEAVE): frozenset({_E}),
            (_R, CallInput.RING_TIMEOUT): frozenset({_E}),
            (_R, CallInput.FAIL): frozenset({_E}),
            # a further invitee joins the answered (group) call
            (_A, CallInput.ACCEPT): frozenset({_A}),
            # the rest: ends "hangup" once too few are active and nobody rings
            (_A, CallInput.DECLINE): frozenset({_A, _E}),
            (_A, CallInput.HANGUP): frozenset({_A, _E}),
            (_A, CallInput.LEAVE): frozenset({_A, _E}),
            (_A, CallInput.RING_TIMEOUT): frozenset({_A, _E}),
            (_A, CallInput.WARN): frozenset({_A}),
            (_A, CallInput.MAX_DURATION): frozenset({_E}),
            (_A, CallInput.FAIL): frozenset({_E}),
        }
    )
)
"""Every allowed ``(state, input)`` and the states it may lead to. ``ended`` has no
entries: it is final. Repeats grouped in :data:`QUIET_WHEN_ENDED` are not listed."""

QUIET_WHEN_ENDED: Final = frozenset(
    {CallInput.DECLINE, CallInput.CANCEL, CallInput.HANGUP, CallInput.LEAVE, CallInput.FAIL}
)
"""Inputs that are quiet no-ops on an ended call (idempotence), and likewise when the same
user already declined or left a live one."""


def call_state_diagram() -> str:
    """Draw :data:`CALL_TRANSITIONS` as a mermaid ``stateDiagram-v2``.

    Returns:
        The diagram text, one edge per (source, target) pair labelled with its inputs,
        in the declaration order of :class:`CallState` and :class:`CallInput`.
    """
    lines = ["stateDiagram-v2", f"    [*] --> {_R.value}: invite"]
    for source in CallState:
        for target in CallState:
            inputs = [i.value for i in CallInput if target in CALL_TRANSITIONS.get((source, i), ())]
            if inputs:
                lines.append(f"    {source.value} --> {target.value}: {', '.join(inputs)}")
    lines.append(f"    {_E.value} --> [*]")
    return "\n".join(lines) + "\n"


class CallError(CoreError):
    """A call request refused by the rules; the server answers it with one ``error``
    (a :class:`~rtcsignal.core.CoreError`, so the one pipeline that answers refusals
    answers these too).

    Attributes:
        code: the stable wire error code (``call_not_found``, ``call_ended``,
            ``invalid_state``, ``forbidden``, ``invalid_message``, ``rate_limited``,
            ``internal_error``).
        message: a sentence naming the call, the input and the state.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)


class CallRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An immutable snapshot of one call: what outputs and observers carry.

    Attributes:
        id / room: the call id and the id of the room created for it.
        caller / invitees: user ids; invitees deduplicated, in invitation order.
        media: ``"audio"`` or ``"video"``.
        state / reason: the state; ``reason`` is set once ``ended``.
        created_at / answered_at / ended_at: the ``now`` of each step (monotonic seconds).
        answered_by / declined_by: invitees who accepted / declined, in order.
        active: users in the call right now (the caller from the invite on); always
            empty once ended.
        ringing: invitees still being rung.
        duration: ``ended_at - answered_at`` once an answered call ended, else ``None``.
    """

    id: str
    room: str
    caller: str
    invitees: tuple[str, ...]
    media: Media
    state: CallState
    reason: CallEndReason | None
    created_at: float
    answered_at: float | None
    ended_at: float | None
    answered_by: tuple[str, ...]
    declined_by: tuple[str, ...]
    active: tuple[str, ...]
    ringing: tuple[str, ...]
    duration: float | None

    @property
    def members(self) -> tuple[str, ...]:
        """The caller followed by the invitees: everyone told of state changes."""
        return (self.caller, *self.invitees)

    def to_wire(self, *, reason: CallEndReason | None = None) -> CallInfo:
        """Build the wire :class:`~rtcsignal.protocol.CallInfo` of this snapshot.

        Args:
            reason: a per-recipient reason shown instead of the call's own (for example
                ``answered_elsewhere``); ``None`` keeps the call's reason.

        Returns:
            The wire struct.
        """
        return CallInfo(
            id=self.id,
            room=self.room,
            caller=self.caller,
            invitees=self.invitees,
            state=_WIRE_STATE[self.state],
            media=self.media,
            reason=reason if reason is not None else self.reason,
            answered_by=self.answered_by,
            duration=self.duration,
        )


@attrs.frozen(kw_only=True)
class Ring:
    """Send ``incoming_call`` to every connection of ``users`` (a new call rings them)."""

    call: CallRecord
    users: tuple[str, ...]

    def message(self) -> IncomingCall:
        """Returns: the wire event to send."""
        return IncomingCall(call=self.call.to_wire())


@attrs.frozen(kw_only=True)
class CallChanged:
    """Send ``call_updated`` to every connection of ``users``.

    Attributes:
        call: the call after the change.
        users: the recipients. On a state change these are all members but an answering
            user (whose own devices get :class:`AnsweredElsewhere`); the acting
            connection also gets its ``ok`` reply, so the server may skip it.
        reason: a per-recipient reason shown instead of ``call.reason``: ``declined`` to
            a decliner's devices, ``missed`` to invitees whose ring ended on a call
            others answered.
        state_changed: true exactly once per transition to ``active`` or ``ended``:
            emit one observer event per such output (creation is the :class:`Ring`).
    """

    call: CallRecord
    users: tuple[str, ...]
    reason: CallEndReason | None = None
    state_changed: bool = False

    def message(self) -> CallUpdated:
        """Returns: the wire event to send."""
        return CallUpdated(call=self.call.to_wire(reason=self.reason))


@attrs.frozen(kw_only=True)
class AnsweredElsewhere:
    """Send ``call_updated`` with ``reason="answered_elsewhere"`` to every connection of
    ``user`` except ``device``, the one that answered."""

    call: CallRecord
    user: str
    device: str

    def message(self) -> CallUpdated:
        """Returns: the wire event to send."""
        return CallUpdated(call=self.call.to_wire(reason="answered_elsewhere"))


@attrs.frozen(kw_only=True)
class Warn:
    """Send ``call_ending`` to ``users``: the call ends in ``remaining`` seconds."""

    call: CallRecord
    remaining: float
    users: tuple[str, ...]

    def message(self) -> CallEnding:
        """Returns: the wire event to send."""
        return CallEnding(call=self.call.id, remaining=self.remaining)


@attrs.frozen(kw_only=True)
class RemoveFromRoom:
    """Remove the participants of ``users`` from the call's room (they left the call, or
    it ended). Users whose participant already left are never listed."""

    call: CallRecord
    users: tuple[str, ...]


CallOutput = Ring | CallChanged | AnsweredElsewhere | Warn | RemoveFromRoom
"""Anything a :class:`CallBook` method returns for the server to act on, in order."""
