"""Unit tests of the call lifecycle machine: every transition, error code and deadline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rtcsignal.core._call import (
    CALL_TRANSITIONS,
    DEFAULT_MAX_DURATION,
    DEFAULT_RING_TIMEOUT,
    DEFAULT_WARNING_BEFORE,
    MAX_TOMBSTONES,
    QUIET_WHEN_ENDED,
    AnsweredElsewhere,
    CallBook,
    CallChanged,
    CallError,
    CallInput,
    CallOutput,
    CallRecord,
    CallState,
    RemoveFromRoom,
    Ring,
    Warn,
    call_state_diagram,
)
from rtcsignal.protocol import (
    MAX_INVITEES,
    CallEnding,
    CallUpdated,
    ErrorCode,
    Format,
    IncomingCall,
    Message,
    decode_server,
    encode,
)

RINGING, ACTIVE, ENDED = CallState.RINGING, CallState.ACTIVE, CallState.ENDED
HOUR = 3600.0


def invite(
    b: CallBook,
    call_id: str = "c1",
    caller: str = "alice",
    invitees: tuple[str, ...] = ("bob",),
    now: float = 0.0,
    device: str = "alice-1",
) -> tuple[CallRecord, list[CallOutput]]:
    return b.invite(
        call_id=call_id,
        room=f"room-{call_id}",
        caller=caller,
        invitees=invitees,
        media="video",
        device=device,
        now=now,
    )


def kinds(out: list[CallOutput]) -> list[str]:
    return [type(o).__name__ for o in out]


def error(fn: Callable[[], object]) -> CallError:
    with pytest.raises(CallError) as info:
        fn()
    return info.value


def roundtrips(msg: Message) -> bool:
    """The message survives both codecs unchanged (so its fields meet the wire rules)."""
    return decode_server(encode(msg).decode()) == msg == decode_server(encode(msg, Format.MSGPACK))


def assert_clean(b: CallBook) -> None:
    """No live state is left behind (tombstones aside)."""
    assert len(b) == 0
    assert b.next_deadline() is None
    assert b._ringing == {}
    assert b._timers._heap == []
    assert len(b._timers) == 0


# --------------------------------------------------------------------- construction
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"ring_timeout": 0.0}, "ring_timeout"),
        ({"max_duration": -1.0}, "max_duration"),
        ({"warning_before": -1.0}, "warning_before"),
        ({"max_duration": 10.0, "warning_before": 10.0}, "warning_before"),
        ({"max_calls": 0}, "max_calls"),
    ],
)
def test_settings_out_of_range_are_refused(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} is out of range"):
        CallBook(**kwargs)  # type: ignore[arg-type]


def test_defaults() -> None:
    assert (DEFAULT_RING_TIMEOUT, DEFAULT_MAX_DURATION, DEFAULT_WARNING_BEFORE) == (
        45.0,
        24 * HOUR,
        HOUR,
    )
    b = CallBook()
    assert (b.ring_timeout, b.max_duration, b.warning_before) == (45.0, 24 * HOUR, HOUR)


# --------------------------------------------------------------------- invite
def test_invite_rings_the_invitees_and_arms_the_ring_timeout() -> None:
    b = CallBook()
    rec, out = invite(b, invitees=("bob", "carol", "bob"), now=10.0)
    assert rec == CallRecord(
        id="c1",
        room="room-c1",
        caller="alice",
        invitees=("bob", "carol"),
        media="video",
        state=RINGING,
        reason=None,
        created_at=10.0,
        answered_at=None,
        ended_at=None,
        answered_by=(),
        declined_by=(),
        active=("alice",),
        ringing=("bob", "carol"),
        duration=None,
    )
    assert out == [Ring(call=rec, users=("bob", "carol"))]
    assert b.next_deadline() == 10.0 + DEFAULT_RING_TIMEOUT
    assert len(b) == 1
    assert b.get("c1") == rec
    assert b.calls_of("bob") == (rec,)
    assert b.calls_of("alice") == ()
    assert b.may_join("c1", "alice")
    assert not b.may_join("c1", "bob")
    assert b.get("nope") is None


@pytest.mark.parametrize(
    ("invitees", "fragment"),
    [
        ((), "1 to 16 users, not 0"),
        (("alice",), "cannot call itself"),
        (("bob", "alice"), "cannot call itself"),
        (tuple(f"u{i}" for i in range(MAX_INVITEES + 1)), "not 17"),
    ],
)
def test_invite_refuses_bad_invitee_lists(invitees: tuple[str, ...], fragment: str) -> None:
    b = CallBook()
    err = error(lambda: invite(b, invitees=invitees))
    assert err.code is ErrorCode.INVALID_MESSAGE
    assert fragment in err.message
    assert len(b) == 0


def test_invite_accepts_exactly_max_invitees() -> None:
    b = CallBook()
    rec, _ = invite(b, invitees=tuple(f"u{i}" for i in range(MAX_INVITEES)))
    assert len(rec.invitees) == MAX_INVITEES


def test_invite_refuses_unknown_media() -> None:
    b = CallBook()
    err = error(
        lambda: b.invite(
            call_id="c1",
            room="room-c1",
            caller="a",
            invitees=["b"],
            media="hologram",  # type: ignore[arg-type]
            device="d",
            now=0.0,
        )
    )
    assert err.code is ErrorCode.INVALID_MESSAGE
    assert "hologram" in err.message


def test_invite_refuses_a_call_id_in_use_live_or_just_ended() -> None:
    b = CallBook()
    invite(b)
    assert error(lambda: invite(b, caller="x", invitees=("y",))).code is ErrorCode.INTERNAL_ERROR
    b.cancel("c1", user="alice", now=1.0)
    assert error(lambda: invite(b, caller="x", invitees=("y",))).code is ErrorCode.INTERNAL_ERROR


def test_max_calls_is_enforced_and_frees_up() -> None:
    b = CallBook(max_calls=2)
    invite(b, "c1", "a", ("b",))
    invite(b, "c2", "c", ("d",))
    err = error(lambda: invite(b, "c3", "e", ("f",)))
    assert err.code is ErrorCode.TOO_MANY_CALLS
    assert "c3" in err.message
    assert len(b) == 2
    b.cancel("c1", user="a", now=1.0)
    invite(b, "c3", "e", ("f",))
    assert len(b) == 2


# --------------------------------------------------------------------- accept
def test_accept_answers_tells_other_devices_and_arms_duration_timers() -> None:
    b = CallBook()
    invite(b, now=0.0)
    rec, out = b.accept("c1", user="bob", device="bob-phone", now=5.0)
    assert rec.state is ACTIVE
    assert rec.answered_at == 5.0
    assert rec.answered_by == ("bob",)
    assert rec.active == ("alice", "bob")
    assert rec.ringing == ()
    assert out == [
        AnsweredElsewhere(call=rec, user="bob", device="bob-phone"),
        CallChanged(call=rec, users=("alice",), state_changed=True),
    ]
    # the ring timeout is gone; the warning comes an hour before the 24 h limit
    assert b.next_deadline() == 5.0 + 24 * HOUR - HOUR
    assert b.calls_of("bob") == ()
    assert b.may_join("c1", "bob")


def test_answered_elsewhere_wire_message() -> None:
    b = CallBook()
    invite(b)
    _, out = b.accept("c1", user="bob", device="bob-phone", now=5.0)
    elsewhere = out[0]
    assert isinstance(elsewhere, AnsweredElsewhere)
    msg = elsewhere.message()
    assert isinstance(msg, CallUpdated)
    assert msg.call.reason == "answered_elsewhere"
    assert msg.call.state == "active"
    assert roundtrips(msg)


def test_accept_errors() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    for call_id, user, code in [
        ("c1", "mallory", ErrorCode.CALL_NOT_FOUND),
        ("zz", "bob", ErrorCode.CALL_NOT_FOUND),
        ("c1", "alice", ErrorCode.FORBIDDEN),
    ]:
        assert (
            error(lambda c=call_id, u=user: b.accept(c, user=u, device="d", now=1.0)).code is code
        )
    b.accept("c1", user="bob", device="bob-1", now=1.0)
    err = error(lambda: b.accept("c1", user="bob", device="bob-2", now=2.0))
    assert err.code is ErrorCode.INVALID_STATE
    assert "another device" in err.message
    assert "c1" in err.message
    assert "active" in err.message
    b.decline("c1", user="carol", now=3.0)
    err = error(lambda: b.accept("c1", user="carol", device="carol-1", now=4.0))
    assert (err.code, "declined" in err.message) == (ErrorCode.INVALID_STATE, True)


def test_accept_after_leaving_is_refused() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    b.accept("c1", user="bob", device="b", now=1.0)
    b.accept("c1", user="carol", device="c", now=1.0)
    b.hangup("c1", user="bob", now=2.0)
    err = error(lambda: b.accept("c1", user="bob", device="b", now=3.0))
    assert (err.code, "left" in err.message) == (ErrorCode.INVALID_STATE, True)


def test_accept_of_an_ended_call_is_call_ended() -> None:
    b = CallBook()
    invite(b)
    b.cancel("c1", user="alice", now=1.0)
    err = error(lambda: b.accept("c1", user="bob", device="b", now=2.0))
    assert err.code is ErrorCode.CALL_ENDED
    assert err.message == "accept is not valid for call c1 in state ended"
    assert repr(err) == "CallError('call_ended', 'accept is not valid for call c1 in state ended')"
    # strangers still cannot tell that the call existed
    err = error(lambda: b.accept("c1", user="mallory", device="m", now=2.0))
    assert err.code is ErrorCode.CALL_NOT_FOUND


# --------------------------------------------------------------------- decline
def test_decline_of_a_one_to_one_call_ends_it_declined() -> None:
    b = CallBook()
    invite(b)
    rec, out = b.decline("c1", user="bob", now=3.0)
    assert (rec.state, rec.reason, rec.declined_by, rec.duration) == (
        ENDED,
        "declined",
        ("bob",),
        None,
    )
    assert rec.active == ()
    assert out == [
        CallChanged(call=rec, users=("alice", "bob"), state_changed=True),
        RemoveFromRoom(call=rec, users=("alice",)),
    ]
    assert_clean(b)


def test_decline_is_idempotent() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    rec, out = b.decline("c1", user="bob", now=1.0)
    assert rec.state is RINGING
    assert rec.ringing == ("carol",)
    assert out == [CallChanged(call=rec, users=("bob",), reason="declined")]
    msg = out[0].message()
    assert isinstance(msg, CallUpdated)
    assert (msg.call.state, msg.call.reason) == ("ringing", "declined")
    assert b.decline("c1", user="bob", now=2.0) == (rec, [])
    ended, _ = b.decline("c1", user="carol", now=3.0)
    assert (ended.state, ended.reason) == (ENDED, "declined")
    assert b.decline("c1", user="carol", now=4.0) == (ended, [])
    assert b.decline("c1", user="bob", now=4.0) == (ended, [])


def test_decline_errors() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    assert error(lambda: b.decline("c1", user="alice", now=1.0)).code is ErrorCode.FORBIDDEN
    assert error(lambda: b.decline("c1", user="eve", now=1.0)).code is ErrorCode.CALL_NOT_FOUND
    b.accept("c1", user="bob", device="b", now=1.0)
    err = error(lambda: b.decline("c1", user="bob", now=2.0))
    assert (err.code, "hang up" in err.message) == (ErrorCode.INVALID_STATE, True)


def test_decline_while_active_only_records_it() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    b.accept("c1", user="bob", device="b", now=1.0)
    rec, out = b.decline("c1", user="carol", now=2.0)
    assert (rec.state, rec.declined_by, rec.ringing) == (ACTIVE, ("carol",), ())
    assert out == [CallChanged(call=rec, users=("carol",), reason="declined")]
    # nobody rings any more: the ring deadline is gone, the warning is next
    assert b.next_deadline() == 1.0 + 23 * HOUR


# --------------------------------------------------------------------- cancel
def test_cancel_ends_a_ringing_call_and_is_idempotent() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    rec, out = b.cancel("c1", user="alice", now=2.0)
    assert (rec.state, rec.reason, rec.ended_at, rec.ringing) == (ENDED, "cancelled", 2.0, ())
    assert out == [
        CallChanged(call=rec, users=("alice", "bob", "carol"), state_changed=True),
        RemoveFromRoom(call=rec, users=("alice",)),
    ]
    assert b.calls_of("bob") == ()
    assert b.cancel("c1", user="alice", now=3.0) == (rec, [])
    assert_clean(b)


def test_cancel_errors() -> None:
    b = CallBook()
    invite(b)
    assert error(lambda: b.cancel("c1", user="bob", now=1.0)).code is ErrorCode.FORBIDDEN
    assert error(lambda: b.cancel("c1", user="eve", now=1.0)).code is ErrorCode.CALL_NOT_FOUND
    b.accept("c1", user="bob", device="b", now=1.0)
    err = error(lambda: b.cancel("c1", user="alice", now=2.0))
    assert err.code is ErrorCode.INVALID_STATE
    assert err.message == "cancel is not valid for call c1 in state active"
    assert b.get("c1") is not None


# --------------------------------------------------------------------- hangup
def test_hangup_of_a_one_to_one_call_ends_it_with_its_duration() -> None:
    b = CallBook()
    invite(b, now=0.0)
    b.accept("c1", user="bob", device="b", now=10.0)
    rec, out = b.hangup("c1", user="bob", now=70.0)
    assert (rec.state, rec.reason, rec.duration, rec.active) == (ENDED, "hangup", 60.0, ())
    assert (rec.created_at, rec.answered_at, rec.ended_at) == (0.0, 10.0, 70.0)
    assert out == [
        CallChanged(call=rec, users=("alice", "bob"), state_changed=True),
        RemoveFromRoom(call=rec, users=("bob", "alice")),
    ]
    assert b.hangup("c1", user="bob", now=71.0) == (rec, [])
    assert b.hangup("c1", user="alice", now=71.0) == (rec, [])
    assert_clean(b)
    assert error(lambda: b.hangup("c1", user="eve", now=72.0)).code is ErrorCode.CALL_NOT_FOUND


def test_hangup_while_ringing_is_cancel_for_the_caller_and_decline_for_invitees() -> None:
    b = CallBook()
    invite(b, "c1", invitees=("bob", "carol"))
    rec, out = b.hangup("c1", user="bob", now=1.0)
    assert (rec.state, rec.declined_by) == (RINGING, ("bob",))
    assert out == [CallChanged(call=rec, users=("bob",), reason="declined")]
    assert b.hangup("c1", user="bob", now=1.5) == (rec, [])
    rec, _ = b.hangup("c1", user="alice", now=2.0)
    assert (rec.state, rec.reason) == (ENDED, "cancelled")


def test_group_call_with_two_invitees() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"), now=0.0)
    rec, out = b.accept("c1", user="carol", device="c", now=1.0)
    assert (rec.state, rec.ringing) == (ACTIVE, ("bob",))
    assert out[1] == CallChanged(call=rec, users=("alice", "bob"), state_changed=True)
    # bob still rings; the ring deadline is still the earliest
    assert b.next_deadline() == DEFAULT_RING_TIMEOUT
    assert b.calls_of("bob") == (rec,)
    rec, out = b.accept("c1", user="bob", device="b", now=2.0)
    assert rec.answered_by == ("carol", "bob")
    assert rec.active == ("alice", "carol", "bob")
    assert rec.answered_at == 1.0
    assert out == [
        AnsweredElsewhere(call=rec, user="bob", device="b"),
        CallChanged(call=rec, users=("alice", "carol"), state_changed=False),
    ]
    assert b.next_deadline() == 1.0 + 23 * HOUR
    # the caller leaves: two remain, the call goes on
    rec, out = b.hangup("c1", user="alice", now=3.0)
    assert (rec.state, rec.active) == (ACTIVE, ("carol", "bob"))
    assert out == [RemoveFromRoom(call=rec, users=("alice",))]
    rec, out = b.hangup("c1", user="carol", now=4.0)
    assert (rec.state, rec.reason, rec.duration) == (ENDED, "hangup", 3.0)
    assert out[1] == RemoveFromRoom(call=rec, users=("carol", "bob"))
    assert_clean(b)


def test_caller_alone_with_someone_still_ringing_waits() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"), now=0.0)
    b.accept("c1", user="bob", device="b", now=1.0)
    rec, out = b.hangup("c1", user="bob", now=2.0)
    assert (rec.state, rec.active, rec.ringing) == (ACTIVE, ("alice",), ("carol",))
    assert out == [RemoveFromRoom(call=rec, users=("bob",))]
    # the ring ends with nobody to talk to: the call ends
    out = b.tick(DEFAULT_RING_TIMEOUT)
    assert kinds(out) == ["CallChanged", "RemoveFromRoom"]
    ended = out[0].call
    assert (ended.state, ended.reason, ended.duration) == (
        ENDED,
        "hangup",
        DEFAULT_RING_TIMEOUT - 1,
    )
    assert_clean(b)


def test_last_ringing_invitee_declining_ends_a_lonely_active_call() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    b.accept("c1", user="bob", device="b", now=1.0)
    b.hangup("c1", user="bob", now=2.0)
    rec, out = b.decline("c1", user="carol", now=3.0)
    assert (rec.state, rec.reason) == (ENDED, "hangup")
    assert out[1] == RemoveFromRoom(call=rec, users=("alice",))
    assert_clean(b)


def test_everyone_active_leaving_ends_the_call_even_while_ringing_others() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    b.accept("c1", user="bob", device="b", now=1.0)
    b.hangup("c1", user="alice", now=2.0)
    rec, out = b.hangup("c1", user="bob", now=3.0)
    assert (rec.state, rec.reason, rec.ringing) == (ENDED, "hangup", ())
    assert out[0].users == ("alice", "bob", "carol")  # carol's devices stop ringing
    assert b.calls_of("carol") == ()


def test_missed_invitee_may_join_an_active_call_late_or_decline_it() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol", "dave"), now=0.0)
    b.accept("c1", user="bob", device="b", now=1.0)
    out = b.tick(DEFAULT_RING_TIMEOUT)
    assert len(out) == 1
    missed = out[0]
    assert isinstance(missed, CallChanged)
    assert (missed.users, missed.reason, missed.state_changed) == (
        ("carol", "dave"),
        "missed",
        False,
    )
    assert missed.call.ringing == ()
    msg = missed.message()
    assert (msg.call.state, msg.call.reason) == ("active", "missed")
    rec, _ = b.accept("c1", user="carol", device="c", now=60.0)
    assert rec.active == ("alice", "bob", "carol")
    rec, out = b.hangup("c1", user="dave", now=61.0)
    assert rec.declined_by == ("dave",)
    assert out == [CallChanged(call=rec, users=("dave",), reason="declined")]


# --------------------------------------------------------------------- member_left / fail
def test_caller_vanishing_while_ringing_fails_the_call() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    assert b.member_left("c1", user="bob", now=1.0) == (b.get("c1"), [])
    rec, out = b.member_left("c1", user="alice", now=2.0)
    assert (rec.state, rec.reason, rec.active) == (ENDED, "failed", ())
    # the caller's participant is already gone: nobody to remove from the room
    assert out == [CallChanged(call=rec, users=("alice", "bob", "carol"), state_changed=True)]
    assert b.member_left("c1", user="alice", now=3.0) == (rec, [])
    assert_clean(b)


def test_member_left_of_an_active_call() -> None:
    b = CallBook()
    invite(b, invitees=("bob", "carol"))
    b.accept("c1", user="bob", device="b", now=1.0)
    b.accept("c1", user="carol", device="c", now=1.0)
    rec, out = b.member_left("c1", user="bob", now=2.0)
    assert (rec.state, rec.active, out) == (ACTIVE, ("alice", "carol"), [])
    assert b.member_left("c1", user="bob", now=2.5) == (rec, [])
    rec, out = b.member_left("c1", user="carol", now=3.0)
    assert (rec.state, rec.reason) == (ENDED, "hangup")
    assert out[1] == RemoveFromRoom(call=rec, users=("alice",))
    assert error(lambda: b.member_left("zz", user="a", now=4.0)).code is ErrorCode.CALL_NOT_FOUND


def test_fail_ends_any_live_call_and_is_idempotent() -> None:
    b = CallBook()
    invite(b, "c1")
    invite(b, "c2", caller="x", invitees=("y",))
    b.accept("c2", user="y", device="y1", now=1.0)
    for call_id in ("c1", "c2"):
        rec, out = b.fail(call_id, now=2.0)
        assert (rec.state, rec.reason) == (ENDED, "failed")
        assert kinds(out) == ["CallChanged", "RemoveFromRoom"]
        assert b.fail(call_id, now=3.0) == (rec, [])
    assert error(lambda: b.fail("zz", now=3.0)).code is ErrorCode.CALL_NOT_FOUND
    assert_clean(b)


# --------------------------------------------------------------------- timers
def test_ring_timeout_is_exact_and_ends_missed() -> None:
    b = CallBook(ring_timeout=30.0)
    invite(b, now=100.0)
    assert b.next_deadline() == 130.0
    assert b.tick(129.999) == []
    assert len(b) == 1
    out = b.tick(130.0)
    rec = out[0].call
    assert (rec.state, rec.reason, rec.ended_at, rec.duration) == (ENDED, "missed", 130.0, None)
    assert out == [
        CallChanged(call=rec, users=("alice", "bob"), state_changed=True),
        RemoveFromRoom(call=rec, users=("alice",)),
    ]
    assert_clean(b)


def test_24_hour_limit_with_a_1_hour_warning_driven_by_hand() -> None:
    b = CallBook()
    invite(b, now=0.0)
    b.accept("c1", user="bob", device="b", now=20.0)
    warn_at = 20.0 + 23 * HOUR
    end_at = 20.0 + 24 * HOUR
    assert b.next_deadline() == warn_at
    assert b.tick(warn_at - 1e-6) == []
    out = b.tick(warn_at)
    assert len(out) == 1
    warn = out[0]
    assert isinstance(warn, Warn)
    assert (warn.remaining, warn.users) == (HOUR, ("alice", "bob"))
    assert warn.message() == CallEnding(call="c1", remaining=HOUR)
    assert b.next_deadline() == end_at
    assert b.tick(end_at - 1e-6) == []
    out = b.tick(end_at)
    rec = out[0].call
    assert (rec.state, rec.reason, rec.duration) == (ENDED, "max_duration", 24 * HOUR)
    assert out[1] == RemoveFromRoom(call=rec, users=("alice", "bob"))
    assert_clean(b)


def test_late_tick_skips_the_warning_when_the_end_is_also_due() -> None:
    b = CallBook(max_duration=100.0, warning_before=10.0)
    invite(b, now=0.0)
    b.accept("c1", user="bob", device="b", now=0.0)
    out = b.tick(500.0)
    assert kinds(out) == ["CallChanged", "RemoveFromRoom"]
    assert out[0].call.reason == "max_duration"
    assert out[0].call.ended_at == 500.0


def test_late_warning_reports_the_time_actually_remaining() -> None:
    b = CallBook(max_duration=100.0, warning_before=10.0)
    invite(b, now=0.0)
    b.accept("c1", user="bob", device="b", now=0.0)
    (warn,) = b.tick(95.0)
    assert isinstance(warn, Warn)
    assert warn.remaining == 5.0


def test_zero_warning_before_disables_the_warning() -> None:
    b = CallBook(max_duration=100.0, warning_before=0.0)
    invite(b, now=0.0)
    b.accept("c1", user="bob", device="b", now=1.0)
    assert b.next_deadline() == 101.0


def test_deadlines_across_calls_are_the_exact_minimum() -> None:
    b = CallBook(ring_timeout=10.0, max_duration=100.0, warning_before=30.0)
    invite(b, "c1", "a", ("b",), now=0.0)
    invite(b, "c2", "c", ("d",), now=3.0)
    assert b.next_deadline() == 10.0
    b.accept("c1", user="b", device="b1", now=4.0)
    assert b.next_deadline() == 13.0
    b.cancel("c2", user="c", now=5.0)
    assert b.next_deadline() == 74.0
    assert b.tick(74.0)[0] == Warn(call=b.get("c1"), remaining=30.0, users=("a", "b"))  # type: ignore[arg-type]
    assert b.next_deadline() == 104.0


def test_stale_heap_entries_are_compacted() -> None:
    b = CallBook()
    invite(b, "keep", "k", ("l",))
    for i in range(500):
        invite(b, f"c{i}", "a", ("b",), now=float(i))
        b.accept(f"c{i}", user="b", device="b1", now=float(i))
        b.hangup(f"c{i}", user="a", now=float(i))
    assert len(b) == 1
    assert len(b._timers._heap) <= 2 * len(b._timers) + 64
    assert b.next_deadline() == DEFAULT_RING_TIMEOUT


def test_tombstones_are_bounded() -> None:
    b = CallBook()
    for i in range(MAX_TOMBSTONES + 1):
        invite(b, f"c{i}", "a", ("b",))
        b.cancel(f"c{i}", user="a", now=1.0)
    assert len(b._tombstones) == MAX_TOMBSTONES
    # the oldest is forgotten, the newest still answers quietly
    assert error(lambda: b.decline("c0", user="b", now=2.0)).code is ErrorCode.CALL_NOT_FOUND
    assert b.decline("c1", user="b", now=2.0)[1] == []


# --------------------------------------------------------------------- glare
@pytest.mark.parametrize("first", ["alice", "bob"])
def test_call_level_glare_makes_one_call_whichever_invite_comes_first(first: str) -> None:
    second = "bob" if first == "alice" else "alice"
    b = CallBook()
    rec1, _ = invite(b, "c1", first, (second,), now=0.0, device=f"{first}-1")
    rec2, out = invite(b, "c2", second, (first,), now=0.0, device=f"{second}-1")
    assert rec2.id == "c1" == rec1.id
    assert (rec2.state, rec2.caller, rec2.answered_by) == (ACTIVE, first, (second,))
    assert out == [
        AnsweredElsewhere(call=rec2, user=second, device=f"{second}-1"),
        CallChanged(call=rec2, users=(first,), state_changed=True),
    ]
    assert len(b) == 1
    assert b.get("c2") is None


def test_glare_answers_a_group_call_ringing_the_inviter() -> None:
    b = CallBook()
    invite(b, "c1", "bob", ("alice", "carol"))
    rec, _ = invite(b, "c2", "alice", ("bob",), now=1.0)
    assert (rec.id, rec.state, rec.ringing) == ("c1", ACTIVE, ("carol",))


def test_glare_picks_the_oldest_crossing_call() -> None:
    b = CallBook()
    invite(b, "c1", "bob", ("alice",))
    invite(b, "c2", "bob", ("alice",))
    rec, _ = invite(b, "c3", "alice", ("bob",), now=1.0)
    assert rec.id == "c1"
    assert b.calls_of("alice")[0].id == "c2"


@pytest.mark.parametrize(
    "setup",
    ["two_invitees", "already_declined", "already_active"],
)
def test_not_glare(setup: str) -> None:
    b = CallBook()
    if setup == "two_invitees":
        invite(b, "c1", "bob", ("alice",))
        rec, out = invite(b, "c2", "alice", ("bob", "carol"))
    elif setup == "already_declined":
        invite(b, "c1", "bob", ("alice", "carol"))
        b.decline("c1", user="alice", now=0.5)
        rec, out = invite(b, "c2", "alice", ("bob",))
    else:
        invite(b, "c1", "bob", ("alice", "carol"))
        b.accept("c1", user="carol", device="c", now=0.5)
        rec, out = invite(b, "c2", "alice", ("bob",))
    assert (rec.id, rec.state, kinds(out)) == ("c2", RINGING, ["Ring"])
    assert len(b) == 2


# --------------------------------------------------------------------- the table
Step = Callable[[CallBook], object]
R, A, E, In = RINGING, ACTIVE, ENDED, CallInput


def _accept(user: str) -> Step:
    return lambda b: b.accept("c1", user=user, device=f"{user}-1", now=3.0)


def _decline(user: str) -> Step:
    return lambda b: b.decline("c1", user=user, now=3.0)


def _hangup(user: str) -> Step:
    return lambda b: b.hangup("c1", user=user, now=3.0)


def _left(user: str) -> Step:
    return lambda b: b.member_left("c1", user=user, now=3.0)


def _tick(now: float) -> Step:
    return lambda b: b.tick(now)


def _cancel(b: CallBook) -> object:
    return b.cancel("c1", user="alice", now=3.0)


def _fail(b: CallBook) -> object:
    return b.fail("c1", now=3.0)


# (state, input, target) -> steps; alice calls bob and carol; in ACTIVE bob answered first.
# The setup steps come first; the last step applies the input.
SCENARIOS: dict[tuple[CallState, CallInput, CallState], tuple[Step, ...]] = {
    (R, In.ACCEPT, A): (_accept("bob"),),
    (R, In.DECLINE, R): (_decline("bob"),),
    (R, In.DECLINE, E): (_decline("bob"), _decline("carol")),
    (R, In.CANCEL, E): (_cancel,),
    (R, In.HANGUP, R): (_hangup("bob"),),
    (R, In.HANGUP, E): (_hangup("alice"),),
    (R, In.LEAVE, E): (_left("alice"),),
    (R, In.RING_TIMEOUT, E): (_tick(10.0),),
    (R, In.FAIL, E): (_fail,),
    (A, In.ACCEPT, A): (_accept("carol"),),
    (A, In.DECLINE, A): (_decline("carol"),),
    (A, In.DECLINE, E): (_hangup("bob"), _decline("carol")),
    (A, In.HANGUP, A): (_hangup("bob"),),
    (A, In.HANGUP, E): (_decline("carol"), _hangup("bob")),
    (A, In.LEAVE, A): (_left("bob"),),
    (A, In.LEAVE, E): (_decline("carol"), _left("bob")),
    (A, In.RING_TIMEOUT, A): (_tick(10.0),),
    (A, In.RING_TIMEOUT, E): (_hangup("bob"), _tick(10.0)),
    (A, In.WARN, A): (_tick(81.0),),
    (A, In.MAX_DURATION, E): (_tick(101.0),),
    (A, In.FAIL, E): (_fail,),
}
TABLE_PAIRS = [((s, i), t) for (s, i, t) in SCENARIOS]


def _state(b: CallBook) -> CallState:
    rec = b.get("c1")
    return ENDED if rec is None else rec.state


def test_scenarios_cover_exactly_the_table() -> None:
    assert set(SCENARIOS) == {
        (state, inp, target)
        for (state, inp), targets in CALL_TRANSITIONS.items()
        for target in targets
    }


@pytest.mark.parametrize(
    ("triple", "steps"),
    list(SCENARIOS.items()),
    ids=[f"{s.value}-{i.value}-{t.value}" for s, i, t in SCENARIOS],
)
def test_every_transition_of_the_table(
    triple: tuple[CallState, CallInput, CallState], steps: tuple[Step, ...]
) -> None:
    state, _, target = triple
    b = CallBook(ring_timeout=10.0, max_duration=100.0, warning_before=20.0)
    invite(b, invitees=("bob", "carol"))
    if state is ACTIVE:
        b.accept("c1", user="bob", device="bob-1", now=1.0)
    for step in steps[:-1]:
        step(b)
    assert _state(b) is state
    steps[-1](b)
    assert _state(b) is target


def test_the_table_shape() -> None:
    assert not any(state is ENDED for state, _ in CALL_TRANSITIONS)
    assert {
        CallInput.DECLINE,
        CallInput.CANCEL,
        CallInput.HANGUP,
        CallInput.LEAVE,
        CallInput.FAIL,
    } == QUIET_WHEN_ENDED
    missing = {(s, i) for s in (RINGING, ACTIVE) for i in CallInput} - set(CALL_TRANSITIONS)
    assert missing == {
        (RINGING, CallInput.WARN),
        (RINGING, CallInput.MAX_DURATION),
        (ACTIVE, CallInput.CANCEL),
    }


def test_state_diagram_is_generated_from_the_table() -> None:
    text = call_state_diagram()
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1] == "    [*] --> ringing: invite"
    assert lines[-1] == "    ended --> [*]"
    edges: set[tuple[str, str, str]] = set()
    for line in lines[2:-1]:
        arrow, _, labels = line.strip().partition(": ")
        source, _, target = arrow.partition(" --> ")
        edges |= {(source, target, label) for label in labels.split(", ")}
    assert edges == {(key[0].value, target.value, key[1].value) for key, target in TABLE_PAIRS}
    assert text.endswith("\n")


# --------------------------------------------------------------------- wire mapping
def test_every_output_maps_onto_a_wire_message_that_round_trips() -> None:
    b = CallBook(max_duration=100.0, warning_before=10.0)
    rec, out = invite(b, invitees=("bob",))
    ring = out[0]
    assert isinstance(ring, Ring)
    incoming = ring.message()
    assert isinstance(incoming, IncomingCall)
    assert incoming.call == rec.to_wire()
    assert roundtrips(incoming)
    rec, _ = b.accept("c1", user="bob", device="b", now=1.0)
    (warn,) = b.tick(91.0)
    assert isinstance(warn, Warn)
    assert roundtrips(warn.message())
    rec, out = b.hangup("c1", user="alice", now=51.0)
    changed = out[0]
    assert isinstance(changed, CallChanged)
    wire = changed.message()
    assert roundtrips(wire)
    info = wire.call
    assert (info.id, info.room, info.caller, info.invitees) == ("c1", "room-c1", "alice", ("bob",))
    assert (info.state, info.reason, info.answered_by, info.duration) == (
        "ended",
        "hangup",
        ("bob",),
        50.0,
    )
    assert rec.members == ("alice", "bob")
