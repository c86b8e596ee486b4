"""Rate limits through the core: every inbound message passes the policy first, denials
never change room state, and each kind's denial does what the policy says."""

from __future__ import annotations

import pytest

from rtcsignal import protocol as p
from rtcsignal.core import ServerConfig
from rtcsignal.protocol import CloseCode, ErrorCode
from rtcsignal.ratelimit import MOVED_GUARDS, PolicyConfigError, RatePolicy
from rtcsignal.testing import Harness


def test_typing_flood_is_dropped_silently_and_others_see_at_most_the_limit() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    alice.drain()
    typing = RatePolicy.default().kinds["typing"]
    assert typing.limit is not None
    for _ in range(25):  # 25 in one instant: under the strike threshold
        bob.send(p.Typing(room="room1", typing=True))
    assert bob.drain() == []  # dropped silently: no error frames
    assert len(alice.drain("typing")) == int(typing.limit.burst)
    denials = [e for e in h.events if type(e).__name__ == "RateLimitDenied"]
    assert len(denials) == 25 - int(typing.limit.burst)
    assert {d.action for d in denials} == {"drop"}
    h.advance(1 / typing.limit.rate)  # the limit recovers with time
    bob.send(p.Typing(room="room1", typing=False))
    assert len(alice.drain("typing")) == 1


def test_dropped_request_with_an_id_still_gets_its_one_reply() -> None:
    h = Harness()
    bob = h.peer("bob")
    bob.ok(p.Join(room="room1"))
    replies = [bob.request(p.Typing(room="room1", typing=True)) for _ in range(6)]
    assert [type(r).__name__ for r in replies[:3]] == ["Ok"] * 3
    assert all(isinstance(r, p.Error) and r.code == ErrorCode.RATE_LIMITED for r in replies[3:])


def test_invite_storm_rings_at_most_the_limit_and_caller_gets_retry_after() -> None:
    h = Harness()
    victim = h.peer("victim")
    caller = h.peer("caller")
    spec = RatePolicy.default().kinds["call_invite"].limit
    assert spec is not None
    replies = [caller.request(p.CallInvite(to=("victim",))) for _ in range(20)]
    rings = victim.drain("incoming_call")
    assert len(rings) == int(spec.burst)
    limited = [r for r in replies if isinstance(r, p.Error)]
    assert {r.code for r in limited} == {ErrorCode.RATE_LIMITED}
    assert all(r.retry_after is not None and r.retry_after > 0 for r in limited)
    # waiting exactly retry_after admits the next invitation (rounded up, never down)
    wait = limited[-1].retry_after
    assert wait is not None
    h.advance(wait)
    caller.send(p.Ping())
    assert isinstance(caller.request(p.CallInvite(to=("victim",))), p.Ok)


def test_invite_limit_is_per_user_across_devices() -> None:
    h = Harness()
    h.peer("victim")
    phone, laptop = h.peer("caller"), h.peer("caller")
    spec = RatePolicy.default().kinds["call_invite"].limit
    assert spec is not None
    oks = 0
    for i in range(10):
        device = phone if i % 2 else laptop
        oks += isinstance(device.request(p.CallInvite(to=("victim",))), p.Ok)
    assert oks == int(spec.burst)


def test_sustained_abuse_closes_1008_and_nothing_else_changes() -> None:
    h = Harness()
    host, abuser, other = h.peer("host"), h.peer("abuser"), h.peer("other")
    host.ok(p.Join(room="room1"))
    abuser.ok(p.Join(room="room1"))
    other.ok(p.Join(room="room1"))
    room = h.server.room("room1")
    assert room is not None
    before = {pid: (x.role, x.state) for pid, x in room.participants.items()}
    policy = RatePolicy.default()
    for _ in range(policy.strikes + int(policy.kinds["chat"].limit.burst) + 5):  # type: ignore[union-attr]
        if abuser.closed:
            break
        abuser.send(p.Chat(room="room1", text="spam"))
    assert abuser.closed is not None
    assert abuser.closed[0] == CloseCode.POLICY_VIOLATION
    # the room is untouched: same members, roles; the abuser is only reconnecting
    after = {pid: x.role for pid, x in room.participants.items()}
    assert after == {pid: role for pid, (role, _) in before.items()}
    assert len(other.drain("chat")) == int(policy.kinds["chat"].limit.burst)  # type: ignore[union-attr]
    other.ok(p.Chat(room="room1", text="still fine"))


@pytest.mark.parametrize("raw", ["{", '{"type":"nope"}', '{"type":"join","room":"x"}'])
def test_bad_frames_never_reach_the_handlers(raw: str) -> None:
    h = Harness()
    alice = h.peer("alice")
    alice.ok(p.Join(room="room1"))
    snapshot = h.server.stats()
    alice.send_raw(raw)
    (error,) = alice.drain("error")
    assert error.code in {"malformed_frame", "unknown_type", "invalid_message"}
    assert h.server.stats() == snapshot


def test_the_core_limits_are_defined_once_in_the_server_config() -> None:
    """Frames, handshake time and rooms per session are the server config's limits (the
    welcome announces them); a rate policy naming one is refused with its new home."""
    config = ServerConfig(max_frame_bytes=1024, handshake_timeout=2.0, max_rooms_per_session=1)
    h = Harness(config)
    alice = h.peer("alice")
    assert h.server.config.max_frame_bytes == 1024
    assert h.server.config.handshake_timeout == 2.0
    assert h.server.config.max_rooms_per_session == 1
    assert alice.welcome is not None
    assert alice.welcome.limits.max_frame_bytes == 1024 and alice.welcome.limits.max_rooms == 1
    alice.ok(p.Join(room="room1"))
    assert alice.request(p.Join(room="room2")).code == ErrorCode.TOO_MANY_ROOMS  # type: ignore[union-attr]
    alice.send_raw('{"type": "chat", "room": "room1", "text": "' + "x" * 1100 + '"}')
    assert [m.code for m in alice.drain("error")] == [ErrorCode.FRAME_TOO_LARGE]
    assert alice.closed is not None and alice.closed[0] == 1009
    for key, home in MOVED_GUARDS.items():
        with pytest.raises(PolicyConfigError) as info:
            RatePolicy.from_dict({"guards": {key: 1}})
        assert info.value.key == f"guards.{key}" and home in info.value.message
