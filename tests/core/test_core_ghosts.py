"""Ghost sessions: the reconnecting seats of one user's dropped connections cannot fill a
room or pile up on the server (issue 17, defect 2)."""

from __future__ import annotations

import pytest

from rtcsignal import protocol as p
from rtcsignal.core import RoomPolicy, ServerConfig
from rtcsignal.core import events as ev
from rtcsignal.protocol import ErrorCode
from rtcsignal.testing import Harness, Peer


def _seats(h: Harness, room: str, user: str) -> list[str]:
    live = h.server.room(room)
    assert live is not None
    return [m.id for m in live.participants.values() if m.user == user]


def _join_and_drop(h: Harness, user: str, room: str) -> Peer:
    peer = h.peer(user)
    peer.ok(p.Join(room=room))
    peer.drop()
    return peer


def test_one_user_dropping_again_and_again_cannot_fill_a_room() -> None:
    h = Harness(ServerConfig(default_room=RoomPolicy(capacity=6)))
    ghosts = [_join_and_drop(h, "mallory", "room1") for _ in range(12)]
    assert len(_seats(h, "room1", "mallory")) == 4  # DEFAULT_MAX_SEATS_PER_USER
    bob = h.peer("bob")
    snapshot = bob.ok(p.Join(room="room1"))  # not room_full
    assert {m.user for m in snapshot.participants} == {"mallory", "bob"}
    evicted = [e for e in h.events if isinstance(e, ev.DuplicateJoin) and e.outcome == "evicted"]
    assert len(evicted) == 8
    # the oldest ghost gave up its seat: on resume it learns so from the replay
    first = ghosts[0].resume()
    removed = first.drain("removed")
    assert [(r.room, r.reason) for r in removed] == [("room1", "replaced")]


def test_a_user_whose_seats_are_all_connected_gets_too_many_seats_and_nothing_changes() -> None:
    h = Harness(ServerConfig(default_room=RoomPolicy(max_seats_per_user=2)))
    devices = [h.peer("ann") for _ in range(3)]
    devices[0].ok(p.Join(room="room1"))
    devices[1].ok(p.Join(room="room1"))
    devices[0].drain()
    before = (_seats(h, "room1", "ann"), h.server.stats())
    reply = devices[2].request(p.Join(room="room1"))
    assert isinstance(reply, p.Error) and reply.code == ErrorCode.TOO_MANY_SEATS
    assert reply.details == {"limit": 2}
    assert (_seats(h, "room1", "ann"), h.server.stats()) == before
    assert devices[0].drain("participant_joined") == devices[0].drain("participant_left") == []


def test_the_user_s_oldest_reconnecting_seat_makes_room_and_the_others_stay() -> None:
    h = Harness(ServerConfig(default_room=RoomPolicy(max_seats_per_user=2)))
    old, phone = h.peer("ann"), h.peer("ann")
    old.ok(p.Join(room="room1"))
    old_pid = _seats(h, "room1", "ann")[0]
    phone.ok(p.Join(room="room1"))
    old.drop()
    h.peer("ann").ok(p.Join(room="room1"))
    seats = _seats(h, "room1", "ann")
    assert old_pid not in seats and len(seats) == 2
    (left,) = phone.drain("participant_left")
    assert left.participant == old_pid and left.reason == "replaced"


def test_past_the_session_cap_the_oldest_reconnecting_session_ends() -> None:
    h = Harness(ServerConfig(max_sessions_per_user=2))
    first, second = h.peer("ann"), h.peer("ann")
    first.ok(p.Join(room="room1"))
    first.drop()
    second.drop()
    h.peer("ann")  # a third session: the first dropped (oldest) ends
    ended = [e for e in h.events if isinstance(e, ev.SessionEnded)]
    assert [(e.session, e.reason) for e in ended] == [(first.welcome.session, "evicted")]  # type: ignore[union-attr]
    assert _seats(h, "room1", "ann") == []
    again = first.resume()
    assert again.welcome is None and again.inbox[0].code == ErrorCode.RESUME_FAILED  # type: ignore[union-attr]
    assert second.resume().welcome is not None  # the other ghost may still come back
    assert h.server.stats().sessions == 2


def test_a_user_whose_sessions_are_all_connected_gets_too_many_sessions() -> None:
    h = Harness(ServerConfig(max_sessions_per_user=2))
    h.peer("ann")
    h.peer("ann")
    before = h.server.stats()
    third = h.peer("ann", hello=False)
    reply = third.request(p.Hello(version=1))
    assert isinstance(reply, p.Error) and reply.code == ErrorCode.TOO_MANY_SESSIONS
    assert reply.details == {"limit": 2}
    assert h.server.stats().sessions == before.sessions
    assert h.peer("bob").welcome is not None  # other users are not affected


def test_the_limits_are_settings() -> None:
    config = ServerConfig.from_dict(
        {"max_sessions_per_user": 3, "default_room": {"max_seats_per_user": 1}}
    )
    assert config.max_sessions_per_user == 3 and config.default_room.max_seats_per_user == 1
    with pytest.raises(ValueError, match="max_sessions_per_user"):
        ServerConfig.from_dict({"max_sessions_per_user": 0})
    with pytest.raises(ValueError, match=r"default_room\.max_seats_per_user"):
        ServerConfig.from_dict({"default_room": {"max_seats_per_user": 0}})
