"""1:1 and group calls through the Server: ring, accept, decline, cancel, timers, glare."""

from __future__ import annotations

from rtcsignal import protocol as p
from rtcsignal.core import ServerConfig, call_room_id
from rtcsignal.protocol import ErrorCode
from rtcsignal.testing import Harness


def code(reply: object) -> str:
    assert isinstance(reply, p.Error), reply
    return reply.code


def test_invite_rings_every_device_and_answer_elsewhere() -> None:
    h = Harness()
    alice = h.peer("alice")
    bob_phone, bob_laptop = h.peer("bob"), h.peer("bob")
    call = alice.ok(p.CallInvite(to=("bob",)))
    assert isinstance(call, p.CallInfo) and call.state == "ringing"
    for device in (bob_phone, bob_laptop):
        (ring,) = device.drain("incoming_call")
        assert ring.call.id == call.id and ring.call.caller == "alice"
    snap = bob_phone.ok(p.CallAccept(call=call.id))
    assert isinstance(snap, p.RoomSnapshot) and snap.call == call.id
    assert {x.user for x in snap.participants} == {"alice", "bob"}
    elsewhere = bob_laptop.drain("call_updated")
    assert [u.call.reason for u in elsewhere] == ["answered_elsewhere"]
    assert any(u.call.state == "active" for u in alice.drain("call_updated"))
    assert h.server.stats().active_calls == 1


def test_caller_gets_the_call_rooms_snapshot_after_the_ok() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    call = alice.ok(p.CallInvite(to=("bob",)))
    (snap,) = alice.drain("room_snapshot")
    assert snap.room == call.room and snap.call == call.id and snap.seq is not None
    assert [x.user for x in snap.participants] == ["alice"] and snap.you
    accepted = bob.ok(p.CallAccept(call=call.id))
    assert snap.you in {x.id for x in accepted.participants}
    assert bob.drain("room_snapshot") == []  # the callee's snapshot is its ok's result


def test_hangup_ends_call_for_everyone_with_reason_and_no_members() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    call = alice.ok(p.CallInvite(to=("bob",)))
    bob.ok(p.CallAccept(call=call.id))
    h.advance(5)
    alice.send(p.Ping())
    bob.ok(p.CallHangup(call=call.id))
    bob.ok(p.CallHangup(call=call.id))  # idempotent
    ended = [u.call for u in alice.drain("call_updated") if u.call.state == "ended"]
    assert ended and ended[-1].reason == "hangup"
    assert h.server.room(call_room_id(call.id)) is None
    records = [e.call for e in h.events if type(e).__name__ == "CallStateChanged"]
    final = records[-1]
    assert final.state.value == "ended" and final.active == ()
    assert final.duration is not None and final.duration >= 5


def test_decline_and_cancel_are_idempotent() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    call = alice.ok(p.CallInvite(to=("bob",)))
    bob.ok(p.CallDecline(call=call.id))
    bob.ok(p.CallDecline(call=call.id))
    ended = alice.drain("call_updated")[-1].call
    assert ended.state == "ended" and ended.reason == "declined"
    call2 = alice.ok(p.CallInvite(to=("bob",)))
    alice.ok(p.CallCancel(call=call2.id))
    alice.ok(p.CallCancel(call=call2.id))
    assert bob.drain("call_updated")[-1].call.reason == "cancelled"


def test_unanswered_call_is_missed_after_ring_timeout() -> None:
    h = Harness(ServerConfig(ring_timeout=30))
    alice, bob = h.peer("alice"), h.peer("bob")
    call = alice.ok(p.CallInvite(to=("bob",)))
    assert h.server.next_deadline() == h.clock.now + 30
    h.advance(30)
    assert alice.drain("call_updated")[-1].call.reason == "missed"
    assert code(bob.request(p.CallAccept(call=call.id))) in {
        ErrorCode.CALL_ENDED,
        ErrorCode.CALL_NOT_FOUND,
    }


def test_max_duration_warns_then_ends() -> None:
    h = Harness(
        ServerConfig(max_call_duration=24 * 3600, call_warning_before=3600, ping_timeout=10**6)
    )
    alice, bob = h.peer("alice"), h.peer("bob")
    call = alice.ok(p.CallInvite(to=("bob",)))
    bob.ok(p.CallAccept(call=call.id))
    h.advance(23 * 3600)
    (warning,) = alice.drain("call_ending")
    assert warning.call == call.id and warning.remaining == 3600
    h.advance(3600)
    assert alice.drain("call_updated")[-1].call.reason == "max_duration"
    assert h.server.room(call_room_id(call.id)) is None


def test_strangers_cannot_join_a_call_room() -> None:
    h = Harness()
    alice, bob, eve = h.peer("alice"), h.peer("bob"), h.peer("eve")
    call = alice.ok(p.CallInvite(to=("bob",)))
    assert code(eve.request(p.Join(room=call.room))) == ErrorCode.NOT_INVITED
    assert code(eve.request(p.CallAccept(call=call.id))) == ErrorCode.CALL_NOT_FOUND
    # an invitee must answer, not just join
    assert code(bob.request(p.Join(room=call.room))) == ErrorCode.NOT_INVITED


def test_call_glare_gives_one_call() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    first = alice.ok(p.CallInvite(to=("bob",)))
    second = bob.ok(p.CallInvite(to=("alice",)))
    assert second.id == first.id and second.state == "active"
    assert h.server.stats().active_calls == 1 and h.server.stats().ringing_calls == 0


def test_user_who_connects_while_ringing_gets_the_call() -> None:
    h = Harness()
    alice = h.peer("alice")
    call = alice.ok(p.CallInvite(to=("bob",)))
    bob = h.peer("bob")
    assert [r.call.id for r in bob.drain("incoming_call")] == [call.id]


def test_caller_dropping_for_good_ends_ringing_call() -> None:
    h = Harness(ServerConfig(ring_timeout=600))
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.CallInvite(to=("bob",)))
    alice.drop()
    h.advance(h.server.config.reconnect_grace + 1)
    bob.send(p.Ping())
    ended = [u.call for u in bob.drain("call_updated") if u.call.state == "ended"]
    assert ended and ended[-1].reason in {"failed", "cancelled"}
    assert h.server.stats().ringing_calls == 0
