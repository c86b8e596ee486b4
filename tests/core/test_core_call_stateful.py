"""Random interleavings of every call operation, with the book's invariants after each step.

Invariants: every ended call has a reason and no active members; a call never leaves
``ended`` and only moves along :data:`CALL_TRANSITIONS`; glare never leaves two crossing
one-to-one calls; ``next_deadline()`` is exactly the earliest live deadline; nothing is
left behind once every call ended; every operation returns or raises :class:`CallError`;
decline, cancel, hang up, leave and fail are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rtcsignal.core._call import (
    CALL_TRANSITIONS,
    MAX_TOMBSTONES,
    AnsweredElsewhere,
    CallBook,
    CallChanged,
    CallError,
    CallOutput,
    CallRecord,
    CallState,
    RemoveFromRoom,
    Ring,
    Warn,
)
from rtcsignal.protocol import ErrorCode

USERS = ("u0", "u1", "u2", "u3")
RING_TIMEOUT = 45.0
MAX_DURATION = 24 * 3600.0
WARNING_BEFORE = 3600.0
MAX_CALLS = 5
# steps that land before, on and after each default deadline
STEPS = (0.0, 1.0, 44.0, RING_TIMEOUT, WARNING_BEFORE, MAX_DURATION - WARNING_BEFORE, MAX_DURATION)
EXPECTED = {
    ErrorCode.CALL_NOT_FOUND,
    ErrorCode.CALL_ENDED,
    ErrorCode.INVALID_STATE,
    ErrorCode.FORBIDDEN,
    ErrorCode.INVALID_MESSAGE,
    ErrorCode.TOO_MANY_CALLS,
}
_REACHABLE = {
    source: {t for (s, _), targets in CALL_TRANSITIONS.items() if s is source for t in targets}
    for source in CallState
}

Result = tuple[CallRecord, list[CallOutput]]


class CallBookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = CallBook(
            ring_timeout=RING_TIMEOUT,
            max_duration=MAX_DURATION,
            warning_before=WARNING_BEFORE,
            max_calls=MAX_CALLS,
        )
        self.now = 0.0
        self.issued: list[str] = []
        self.seen: dict[str, CallState] = {}
        self.warned: set[str] = set()

    # ------------------------------------------------------------- helpers
    def _new_id(self) -> str:
        call_id = f"c{len(self.issued)}"
        self.issued.append(call_id)
        return call_id

    def _observe(self, records: list[CallRecord]) -> None:
        for rec in records:
            if rec.state is CallState.ENDED:
                assert rec.reason is not None
                assert rec.active == () and rec.ringing == ()
                assert rec.ended_at is not None
                if rec.answered_at is None:
                    assert rec.duration is None
                else:
                    assert rec.duration == rec.ended_at - rec.answered_at
            else:
                assert rec.reason is None and rec.ended_at is None
                assert rec.active, "a live call has someone in it"
                assert set(rec.ringing) <= set(rec.invitees)
                assert not set(rec.ringing) & set(rec.active)
                assert not set(rec.declined_by) & set(rec.active)
            assert rec.caller not in rec.invitees
            before = self.seen.get(rec.id)
            if before is None:
                assert rec.state is CallState.RINGING
            elif before is CallState.ENDED:
                assert rec.state is CallState.ENDED, "a call never leaves ended"
            elif rec.state is not before:
                assert rec.state in _REACHABLE[before]
            self.seen[rec.id] = rec.state

    def _apply(self, op: Callable[[], Result]) -> Result | None:
        try:
            rec, out = op()
        except CallError as exc:
            refused: CallError | None = exc
        else:
            refused = None
        if refused is not None:
            assert refused.code in EXPECTED, refused
            return None
        self._observe([o.call for o in out] + [rec])
        for o in out:
            if isinstance(o, RemoveFromRoom):
                assert o.users
            if isinstance(o, AnsweredElsewhere):
                assert o.user in o.call.active
        return rec, out

    def _idempotent(self, op: Callable[[], Result]) -> None:
        first = self._apply(op)
        if first is not None:
            assert op() == (first[0], []), "a repeat must be a quiet no-op"

    def _live(self) -> list[CallRecord]:
        return [r for r in map(self.book.get, self.issued) if r is not None]

    # ------------------------------------------------------------- rules
    @rule(
        caller=st.sampled_from(USERS),
        invitees=st.lists(st.sampled_from(USERS), max_size=3),
    )
    def invite(self, caller: str, invitees: list[str]) -> None:
        users = tuple(dict.fromkeys(invitees))
        crossing = [
            r
            for r in self.book.calls_of(caller)
            if len(users) == 1 and r.state is CallState.RINGING and r.caller == users[0]
        ]
        live_before = len(self.book)
        call_id = self._new_id()
        result = self._apply(
            lambda: self.book.invite(
                call_id=call_id,
                room=f"room-{call_id}",
                caller=caller,
                invitees=invitees,
                media="audio",
                device=f"{caller}-d",
                now=self.now,
            )
        )
        if result is None:
            assert not users or caller in users or (live_before == MAX_CALLS and not crossing)
            return
        rec, out = result
        if crossing:
            assert rec.id == crossing[0].id
            assert rec.state is CallState.ACTIVE and caller in rec.active
            assert len(self.book) == live_before
        else:
            assert rec.id == call_id and rec.state is CallState.RINGING
            assert out == [Ring(call=rec, users=users)]

    @precondition(lambda self: any(r.state is CallState.RINGING for r in self._live()))
    @rule(data=st.data())
    def glare(self, data: st.DataObject) -> None:
        ringing = [r for r in self._live() if r.state is CallState.RINGING]
        target = data.draw(st.sampled_from(ringing))
        callee = data.draw(st.sampled_from(target.ringing))
        live_before = len(self.book)
        call_id = self._new_id()
        result = self._apply(
            lambda: self.book.invite(
                call_id=call_id,
                room=f"room-{call_id}",
                caller=callee,
                invitees=[target.caller],
                media="video",
                device=f"{callee}-d",
                now=self.now,
            )
        )
        assert result is not None
        rec, _ = result
        assert rec.caller == target.caller and rec.state is CallState.ACTIVE
        assert rec.id != call_id and len(self.book) == live_before

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), user=st.sampled_from(USERS), device=st.sampled_from(("d1", "d2")))
    def accept(self, data: st.DataObject, user: str, device: str) -> None:
        call_id = data.draw(st.sampled_from(self.issued))
        self._apply(lambda: self.book.accept(call_id, user=user, device=device, now=self.now))

    @precondition(lambda self: self.issued)
    @rule(
        data=st.data(),
        user=st.sampled_from(USERS),
        op=st.sampled_from(("decline", "cancel", "hangup", "member_left")),
    )
    def leave_somehow(self, data: st.DataObject, user: str, op: str) -> None:
        call_id = data.draw(st.sampled_from(self.issued))
        method = getattr(self.book, op)
        self._idempotent(lambda: method(call_id, user=user, now=self.now))

    @precondition(lambda self: self.issued)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(self.issued))
        self._idempotent(lambda: self.book.fail(call_id, now=self.now))

    @rule(step=st.sampled_from(STEPS))
    def advance(self, step: float) -> None:
        self.now += step
        out = self.book.tick(self.now)
        self._observe([o.call for o in out])
        for o in out:
            if isinstance(o, Warn):
                assert o.call.answered_at is not None
                assert o.remaining == o.call.answered_at + MAX_DURATION - self.now > 0
                self.warned.add(o.call.id)
            elif isinstance(o, CallChanged) and o.reason == "missed":
                assert o.call.state is CallState.ACTIVE and o.users
        assert self.book.tick(self.now) == []

    @rule()
    def end_everything(self) -> None:
        self.advance(MAX_DURATION + RING_TIMEOUT)
        assert len(self.book) == 0

    # ------------------------------------------------------------- invariants
    @invariant()
    def deadlines_are_exact(self) -> None:
        expected: list[float] = []
        for rec in self._live():
            if rec.ringing:
                expected.append(rec.created_at + RING_TIMEOUT)
            if rec.state is CallState.ACTIVE:
                assert rec.answered_at is not None
                expected.append(rec.answered_at + MAX_DURATION)
                if rec.id not in self.warned:
                    expected.append(rec.answered_at + MAX_DURATION - WARNING_BEFORE)
        deadline = self.book.next_deadline()
        assert deadline == (min(expected) if expected else None)
        assert deadline is None or deadline > self.now

    @invariant()
    def live_calls_agree_with_every_query(self) -> None:
        live = self._live()
        assert len(self.book) == len(live) <= MAX_CALLS
        for call_id in self.issued:
            if self.seen.get(call_id) is CallState.ENDED:
                assert self.book.get(call_id) is None
        for user in USERS:
            ringing_user = [r for r in live if user in r.ringing]
            assert self.book.calls_of(user) == tuple(ringing_user)
            for rec in live:
                assert self.book.may_join(rec.id, user) is (user in rec.active)

    @invariant()
    def at_most_one_call_per_glare_pair(self) -> None:
        ringing = [r for r in self._live() if r.state is CallState.RINGING]
        for older in ringing:
            for newer in ringing:
                if self.issued.index(newer.id) <= self.issued.index(older.id):
                    continue
                crossing = newer.caller in older.ringing and older.caller in newer.ringing
                assert not (crossing and len(newer.invitees) == 1), (older, newer)

    @invariant()
    def nothing_left_behind(self) -> None:
        if len(self.book) == 0:
            assert self.book.next_deadline() is None
            assert self.book._ringing == {}
            assert self.book._timers._heap == []
            assert len(self.book._timers) == 0
        assert len(self.book._tombstones) <= MAX_TOMBSTONES


TestCallBook = CallBookMachine.TestCase
