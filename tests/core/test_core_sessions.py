"""Handshake, sessions, resume, timers: a dropped connection is not a leave."""

from __future__ import annotations

from rtcsignal import protocol as p
from rtcsignal.core import ServerConfig
from rtcsignal.protocol import CloseCode, ErrorCode
from rtcsignal.testing import Harness


def code(reply: object) -> str:
    assert isinstance(reply, p.Error), reply
    return reply.code


def test_welcome_carries_session_token_limits_and_version() -> None:
    h = Harness()
    alice = h.peer("alice")
    welcome = alice.welcome
    assert welcome is not None
    assert welcome.version == 1 and welcome.user == "alice" and not welcome.resumed
    assert welcome.resume_token and welcome.session
    assert welcome.limits.max_frame_bytes == p.MAX_FRAME_BYTES
    assert welcome.limits.ping_timeout == h.server.config.ping_timeout


def test_handshake_errors() -> None:
    h = Harness()
    peer = h.peer("alice", hello=False)
    assert code(peer.request(p.Join(room="room1"))) == ErrorCode.HELLO_REQUIRED
    reply = peer.request(p.Hello(version=99))
    assert code(reply) == ErrorCode.UNSUPPORTED_VERSION
    assert isinstance(reply, p.Error) and reply.details == {"supported": [1]}
    assert isinstance(peer.request(p.Hello(version=1)), p.Welcome)
    assert code(peer.request(p.Hello(version=1))) == ErrorCode.ALREADY_WELCOMED


def test_msgpack_connection_gets_msgpack_replies() -> None:
    h = Harness()
    peer = h.peer("alice", binary=True)
    snap = peer.ok(p.Join(room="room1"))
    assert isinstance(snap, p.RoomSnapshot)


def test_handshake_timeout_closes_silent_connection_exactly() -> None:
    h = Harness()
    peer = h.peer("alice", hello=False)
    assert h.server.next_deadline() == h.clock.now + h.server.config.handshake_timeout
    h.advance(h.server.config.handshake_timeout - 0.01)
    assert peer.closed is None
    h.advance(0.01)
    assert peer.closed == (CloseCode.HANDSHAKE_TIMEOUT, "no hello in time")
    assert h.server.stats().connections == 0


def test_drop_is_not_a_leave_and_resume_replays_in_order() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    snap_a = alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    alice.drain()
    last = alice.last_seq
    alice.drop()
    (update,) = bob.drain("participant_updated")
    assert update.participant.state == "reconnecting"
    room = h.server.room("room1")
    assert room is not None and snap_a.you in room.participants
    for i in range(3):
        bob.ok(p.Chat(room="room1", text=f"while away {i}"))
    h.advance(10)
    alice2 = alice.resume(last_seq=last)
    assert alice2.welcome is not None and alice2.welcome.resumed and not alice2.welcome.gap
    chats = alice2.drain("chat")
    assert [c.text for c in chats] == [f"while away {i}" for i in range(3)]
    assert [c.seq for c in chats] == [last + 1, last + 2, last + 3]
    assert bob.drain("participant_updated")[0].participant.state == "connected"
    # the old token is spent; the fresh one works
    assert alice2.welcome.resume_token != alice.welcome.resume_token  # type: ignore[union-attr]


def test_resume_replays_frames_lost_in_flight_before_the_drop() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    seen = alice.last_seq
    bob.ok(p.Chat(room="room1", text="lost in flight"))
    alice.inbox.clear()  # the frame never arrived
    alice.drop()
    alice2 = alice.resume(last_seq=seen)
    assert [c.text for c in alice2.drain("chat")] == ["lost in flight"]


def test_resume_with_gap_sends_fresh_snapshot() -> None:
    h = Harness(ServerConfig(replay_events=2))
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    seen = alice.last_seq
    alice.drop()
    for i in range(5):
        bob.ok(p.Chat(room="room1", text=str(i)))
    alice2 = alice.resume(last_seq=seen)
    assert alice2.welcome is not None and alice2.welcome.gap
    (snap,) = alice2.drain("room_snapshot")
    assert [c.text for c in snap.chat] == ["0", "1", "2", "3", "4"]


def test_newer_connection_takes_over_session() -> None:
    h = Harness()
    alice = h.peer("alice")
    alice.ok(p.Join(room="room1"))
    alice2 = alice.resume()
    assert alice.closed == (CloseCode.SESSION_REPLACED, "session taken over")
    room = h.server.room("room1")
    assert room is not None and len(room.participants) == 1
    alice2.ok(p.Chat(room="room1", text="still here"))


def test_resume_refused_for_other_user_or_bad_token() -> None:
    h = Harness()
    alice = h.peer("alice")
    token = alice.welcome.resume_token  # type: ignore[union-attr]
    eve = h.peer("eve", hello=False)
    assert code(eve.request(p.Hello(version=1, resume=token))) == ErrorCode.RESUME_FAILED
    assert code(eve.request(p.Hello(version=1, resume="nope"))) == ErrorCode.RESUME_FAILED
    assert alice.closed is None


def test_grace_expiry_is_a_real_leave_with_host_transfer() -> None:
    h = Harness()
    host, bob = h.peer("host"), h.peer("bob")
    host.ok(p.Join(room="room1"))
    snap_b = bob.ok(p.Join(room="room1"))
    bob.drain()
    host.drop()
    grace = h.server.config.reconnect_grace
    h.advance(grace - 0.001)
    room = h.server.room("room1")
    assert room is not None and len(room.participants) == 2
    bob.send(p.Ping())  # keep bob alive
    h.advance(0.001)
    assert len(room.participants) == 1
    left = bob.drain("participant_left")
    assert [x.reason for x in left] == ["disconnected"]
    assert bob.drain("host_changed")[0].host == snap_b.you
    assert h.server.stats().sessions == 1
    assert "SessionEnded" in h.event_types()


def test_silent_connection_times_out_then_may_resume() -> None:
    h = Harness()
    alice = h.peer("alice")
    alice.ok(p.Join(room="room1"))
    timeout = h.server.config.ping_timeout
    h.advance(timeout / 2)
    alice.send(p.Ping())
    assert alice.drain("pong")
    assert h.server.next_deadline() == h.clock.now + timeout
    h.advance(timeout)
    assert alice.closed == (CloseCode.PING_TIMEOUT, "ping timeout")
    alice2 = alice.resume()
    assert alice2.welcome is not None and alice2.welcome.resumed


def test_shutdown_tells_everyone_going_away() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    h.dispatch(h.server.shutdown(h.clock.now))
    for peer in (alice, bob):
        assert peer.drain("going_away")[0].reconnect is True
        assert peer.closed is not None and peer.closed[0] == CloseCode.GOING_AWAY


def test_observer_events_in_order() -> None:
    h = Harness()
    alice = h.peer("alice")
    alice.ok(p.Join(room="room1"))
    alice.ok(p.Leave(room="room1"))
    names = h.event_types()
    assert names.index("SessionStarted") < names.index("RoomCreated")
    assert names.index("RoomCreated") < names.index("MemberJoined")
    assert names.index("MemberJoined") < names.index("MemberLeft")


def test_welcome_seq_on_resume_is_where_the_replay_that_follows_ends() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    assert alice.welcome is not None and alice.welcome.seq == 0  # a new session
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    seen = alice.last_seq
    alice.drop()
    bob.ok(p.Chat(room="room1", text="one"))
    bob.ok(p.Chat(room="room1", text="two"))
    again = alice.resume(last_seq=seen)
    assert again.welcome is not None and not again.welcome.gap
    replayed = [m.seq for m in again.drain()]
    assert replayed[0] == seen + 1 and replayed[-1] == again.welcome.seq
    quiet = again.resume()  # nothing missed: welcome.seq is last_seq, nothing replayed
    assert quiet.welcome is not None and quiet.welcome.seq == again.last_seq
    assert [m for m in quiet.drain() if getattr(m, "seq", None)] == []


def test_resume_claiming_events_never_sent_resynchronizes_with_a_gap() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    alice.drop()
    bob.ok(p.Chat(room="room1", text="missed"))
    again = alice.resume(last_seq=alice.last_seq + 100)
    assert again.welcome is not None and again.welcome.resumed and again.welcome.gap
    (snap,) = again.drain("room_snapshot")
    assert [c.text for c in snap.chat] == ["missed"] and again.drain("chat") == []
    resumed = [e for e in h.events if type(e).__name__ == "SessionResumed"]
    assert resumed[-1].gap and resumed[-1].replayed == 0  # type: ignore[attr-defined]


def test_frames_kept_in_one_codec_are_never_replayed_in_the_other() -> None:
    """Found by the ``server`` fuzzer (fuzz/corpus/server/regression-codec-switch-replay):
    a session resumed in the other codec gets a gap, and the frames it kept in the old
    codec are dropped, so a later resume in the new codec, asking from before the
    switch, gets a gap too, never an old-codec frame sent as a new-codec one."""
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    before = alice.last_seq
    bob.ok(p.Chat(room="room1", text="json"))  # kept for alice as JSON
    alice.drop()
    alice.binary = True
    binary = alice.resume(last_seq=before)  # the codec changed: a gap
    assert binary.welcome is not None and binary.welcome.gap
    bob.ok(p.Chat(room="room1", text="msgpack"))
    binary.drop()
    again = binary.resume(last_seq=before)  # from before the switch: a gap again
    assert again.welcome is not None and again.welcome.gap
    assert all(not isinstance(m, p.Chat) or m.text != "json" for m in again.inbox)
