"""Rooms through the Server: joins, policies, roles, moderation, chat, expiry."""

from __future__ import annotations

import pytest

from rtcsignal import protocol as p
from rtcsignal.core import DuplicatePolicy, JoinPolicy, RoomPolicy, ServerConfig
from rtcsignal.protocol import ErrorCode, Role
from rtcsignal.testing import Harness, Peer


def code(reply: object) -> str:
    assert isinstance(reply, p.Error), reply
    return reply.code


def join(peer: Peer, room: str = "room1", **kw: object) -> p.RoomSnapshot:
    result = peer.ok(p.Join(room=room, **kw))  # type: ignore[arg-type]
    assert isinstance(result, p.RoomSnapshot)
    return result


def test_first_joiner_is_host_and_others_are_told() -> None:
    h = Harness()
    alice, bob = h.peer("alice", name="Alice"), h.peer("bob")
    snap_a = join(alice)
    assert snap_a.host == snap_a.you
    assert [x.role for x in snap_a.participants] == [Role.HOST]
    snap_b = join(bob, name="Bobby")
    assert snap_b.host == snap_a.you
    assert {x.user for x in snap_b.participants} == {"alice", "bob"}
    (joined,) = alice.drain("participant_joined")
    assert joined.participant.user == "bob" and joined.participant.name == "Bobby"
    assert joined.participant.role == Role.PARTICIPANT
    assert bob.drain() == []  # nothing echoed to the joiner beyond its ok


def test_user_id_comes_from_identity_not_client() -> None:
    h = Harness()
    mallory = h.peer("mallory")
    snap = join(mallory, name="alice")
    assert snap.participants[0].user == "mallory"


def test_unknown_room_when_auto_create_disabled() -> None:
    h = Harness(ServerConfig(auto_create_rooms=False))
    alice = h.peer("alice")
    assert code(alice.request(p.Join(room="nowhere"))) == ErrorCode.ROOM_NOT_FOUND
    assert h.server.room("nowhere") is None
    h.dispatch(h.server.create_room("there", RoomPolicy(), h.clock.now))
    join(alice, "there")


@pytest.mark.parametrize("n", [20, 200])
def test_simultaneous_joins_fill_exactly_to_capacity(n: int) -> None:
    h = Harness()
    h.dispatch(h.server.create_room("big", RoomPolicy(capacity=10), h.clock.now))
    # distinct users on distinct addresses: the per-address join limit is not under test
    peers = [h.peer(f"u{i}", address=f"192.0.2.{i}") for i in range(n)]
    replies = [peer.request(p.Join(room="big")) for peer in peers]
    oks = [r for r in replies if isinstance(r, p.Ok)]
    errors = [r for r in replies if isinstance(r, p.Error)]
    assert len(oks) == min(n, 10)
    assert {e.code for e in errors} <= {ErrorCode.ROOM_FULL}
    assert len(errors) == n - min(n, 10)
    room = h.server.room("big")
    assert room is not None and len(room.participants) == 10


@pytest.mark.parametrize(
    ("policy", "members", "first_closed"),
    [
        (DuplicatePolicy.REJECT, 1, False),
        (DuplicatePolicy.REPLACE, 1, True),
        (DuplicatePolicy.ALLOW, 2, False),
    ],
)
def test_duplicate_join_policy(policy: DuplicatePolicy, members: int, first_closed: bool) -> None:
    h = Harness()
    h.dispatch(h.server.create_room("dup", RoomPolicy(duplicate=policy), h.clock.now))
    phone, laptop = h.peer("alice"), h.peer("alice")
    first = phone.request(p.Join(room="dup"))
    second = laptop.request(p.Join(room="dup"))
    assert isinstance(first, p.Ok)
    if policy is DuplicatePolicy.REJECT:
        assert code(second) == ErrorCode.ALREADY_JOINED
    else:
        assert isinstance(second, p.Ok)
    room = h.server.room("dup")
    assert room is not None and len(room.participants) == members
    assert (phone.closed is not None) == first_closed
    if first_closed:
        assert phone.closed is not None and phone.closed[0] == p.CloseCode.SESSION_REPLACED
        assert phone.drain("removed")[0].reason == "replaced"


def test_same_session_cannot_join_twice() -> None:
    h = Harness()
    alice = h.peer("alice")
    join(alice)
    assert code(alice.request(p.Join(room="room1"))) == ErrorCode.ALREADY_IN_ROOM
    room = h.server.room("room1")
    assert room is not None and len(room.participants) == 1


def test_invite_only_room() -> None:
    h = Harness()
    policy = RoomPolicy(
        join=JoinPolicy.INVITE, allowed_users=frozenset({"alice"}), invite_tokens=frozenset({"tok"})
    )
    h.dispatch(h.server.create_room("priv", policy, h.clock.now))
    assert code(h.peer("eve").request(p.Join(room="priv"))) == ErrorCode.NOT_INVITED
    assert code(h.peer("eve").request(p.Join(room="priv", invite="bad"))) == ErrorCode.NOT_INVITED
    join(h.peer("alice"), "priv")
    join(h.peer("bob"), "priv", invite="tok")
    join(h.peer("carol", grants={"priv": "moderator"}), "priv")


def test_lock_blocks_joins_but_not_moderator_grants() -> None:
    h = Harness()
    host = h.peer("host")
    join(host)
    assert host.ok(p.Lock(room="room1", locked=True)) is None
    assert code(h.peer("late").request(p.Join(room="room1"))) == ErrorCode.ROOM_LOCKED
    join(h.peer("mod", grants={"room1": Role.MODERATOR}))
    host.ok(p.Lock(room="room1", locked=False))
    join(h.peer("late2"))


def test_lobby_admit_and_deny() -> None:
    h = Harness()
    h.dispatch(h.server.create_room("lob", RoomPolicy(join=JoinPolicy.LOBBY), h.clock.now))
    host = h.peer("host", grants={"lob": Role.HOST})  # past the lobby, even of an empty room
    join(host, "lob")
    guest = h.peer("guest")
    wait = guest.ok(p.Join(room="lob"))
    assert isinstance(wait, p.LobbyWait)
    (lobby,) = host.drain("lobby_updated")
    assert [e.user for e in lobby.lobby] == ["guest"]
    # guests in the lobby cannot act in the room
    assert code(guest.request(p.Chat(room="lob", text="hi"))) == ErrorCode.NOT_IN_ROOM
    host.ok(p.Admit(room="lob", target=wait.you))
    (snap,) = guest.drain("room_snapshot")
    assert snap.you == wait.you and len(snap.participants) == 2
    other = h.peer("other")
    wait2 = other.ok(p.Join(room="lob"))
    host.ok(p.Admit(room="lob", target=wait2.you, allow=False))
    assert other.drain("removed")[0].reason == "denied"
    assert (
        code(host.request(p.Admit(room="lob", target=wait2.you))) == ErrorCode.UNKNOWN_PARTICIPANT
    )
    assert code(guest.request(p.Admit(room="lob", target="x"))) == ErrorCode.FORBIDDEN


def test_host_leaves_role_passes_to_longest_present_moderator() -> None:
    h = Harness()
    host, p1, mod_late, mod_early = (h.peer(u) for u in ("host", "p1", "m2", "m1"))
    join(host)
    join(p1)
    snap_early = join(mod_early)
    snap_late = join(mod_late)
    host.ok(p.SetRole(room="room1", target=snap_late.you, role="moderator"))
    host.ok(p.SetRole(room="room1", target=snap_early.you, role="moderator"))
    for peer in (p1, mod_late, mod_early):
        peer.drain()
    host.ok(p.Leave(room="room1"))
    (changed,) = p1.drain("host_changed")
    # m1 joined before m2 (order 3 vs 4): longest present moderator wins
    assert changed.host == snap_early.you
    room = h.server.room("room1")
    assert room is not None and room.host == snap_early.you
    assert [x.role for x in room.participants.values()].count(Role.HOST) == 1


def test_host_leaves_without_moderators_longest_participant_wins() -> None:
    h = Harness()
    host, a, b = h.peer("host"), h.peer("a"), h.peer("b")
    join(host)
    snap_a = join(a)
    join(b)
    host.ok(p.Leave(room="room1"))
    assert b.drain("host_changed")[0].host == snap_a.you


def test_permissions_are_checked() -> None:
    h = Harness()
    host, alice, bob = h.peer("host"), h.peer("alice"), h.peer("bob")
    snap_h = join(host)
    snap_a = join(alice)
    join(bob)
    for request in (
        p.Kick(room="room1", target=snap_h.you),
        p.Mute(room="room1", target=snap_a.you),
        p.TransferHost(room="room1", target=snap_a.you),
        p.SetRole(room="room1", target=snap_a.you, role="moderator"),
        p.Lock(room="room1", locked=True),
        p.SetLayout(room="room1", layout="grid"),
        p.Recording(room="room1", action="start"),
    ):
        assert code(bob.request(request)) == ErrorCode.FORBIDDEN, request
    host.ok(p.SetRole(room="room1", target=snap_a.you, role="moderator"))
    # a moderator cannot kick the host
    assert code(alice.request(p.Kick(room="room1", target=snap_h.you))) == ErrorCode.FORBIDDEN
    room = h.server.room("room1")
    assert room is not None and len(room.participants) == 3 and not room.locked


def test_kick_removes_for_everyone() -> None:
    h = Harness()
    host, alice, bob = h.peer("host"), h.peer("alice"), h.peer("bob")
    join(host)
    snap_a = join(alice)
    join(bob)
    bob.drain()
    host.ok(p.Kick(room="room1", target=snap_a.you, reason="spam"))
    assert alice.drain("removed")[0].reason == "kicked"
    left = bob.drain("participant_left")
    assert [(x.participant, x.reason) for x in left] == [(snap_a.you, "kicked")]
    assert code(alice.request(p.Chat(room="room1", text="x"))) == ErrorCode.NOT_IN_ROOM
    assert alice.closed is None  # a kick removes from the room, not from the server


def test_mute_and_transfer_host() -> None:
    h = Harness()
    host, alice = h.peer("host"), h.peer("alice")
    snap_h = join(host)
    snap_a = join(alice)
    alice.ok(p.MediaState(room="room1", audio=True, video=True))
    host.drain()
    host.ok(p.Mute(room="room1", target=snap_a.you))
    (muted,) = alice.drain("muted")
    assert muted.by == snap_h.you and muted.audio and not muted.video
    (update,) = host.drain("participant_updated")
    assert update.participant.audio is False and update.participant.video is True
    host.ok(p.TransferHost(room="room1", target=snap_a.you))
    room = h.server.room("room1")
    assert room is not None and room.host == snap_a.you
    assert room.participants[snap_h.you].role == Role.MODERATOR


def test_recording_state_machine_and_policy() -> None:
    h = Harness()
    host, other = h.peer("host"), h.peer("other")
    join(host)
    join(other)
    assert code(host.request(p.Recording(room="room1", action="pause"))) == ErrorCode.INVALID_STATE
    host.ok(p.Recording(room="room1", action="start"))
    assert other.drain("room_updated")[-1].recording == "recording"
    host.ok(p.Recording(room="room1", action="pause"))
    host.ok(p.Recording(room="room1", action="resume"))
    host.ok(p.Recording(room="room1", action="stop"))
    assert "RecordingChanged" in h.event_types()
    h.dispatch(h.server.create_room("norec", RoomPolicy(recording_allowed=False), h.clock.now))
    h2 = h.peer("host2")
    join(h2, "norec")
    assert (
        code(h2.request(p.Recording(room="norec", action="start"))) == ErrorCode.RECORDING_DISABLED
    )


def test_chat_not_echoed_and_history_bounded() -> None:
    h = Harness()
    h.dispatch(h.server.create_room("chat", RoomPolicy(chat_history=3), h.clock.now))
    alice, bob = h.peer("alice"), h.peer("bob")
    snap_a = join(alice, "chat")
    join(bob, "chat")
    for i in range(5):
        alice.ok(p.Chat(room="chat", text=f"<b>m{i}</b>"))
    assert alice.drain("chat") == []
    got = bob.drain("chat")
    assert [c.text for c in got] == [f"<b>m{i}</b>" for i in range(5)]
    assert all(c.from_ == snap_a.you for c in got)
    carol = h.peer("carol")
    snap = join(carol, "chat")
    assert [c.text for c in snap.chat] == ["<b>m2</b>", "<b>m3</b>", "<b>m4</b>"]


def test_app_messages_direct_and_broadcast_and_size_limit() -> None:
    h = Harness()
    alice, bob, carol = h.peer("alice"), h.peer("bob"), h.peer("carol")
    join(alice)
    snap_b = join(bob)
    join(carol)
    alice.ok(p.App(room="room1", app_type="acme.board", to=snap_b.you, payload={"x": [1, 2]}))
    assert bob.drain("app")[0].payload == {"x": [1, 2]}
    assert carol.drain("app") == []
    alice.ok(p.App(room="room1", app_type="acme.board", payload="hi"))
    assert len(bob.drain("app")) == 1 and len(carol.drain("app")) == 1
    big = p.App(room="room1", app_type="acme.board", payload="x" * (p.MAX_APP_PAYLOAD_BYTES + 1))
    assert code(alice.request(big)) == ErrorCode.INVALID_MESSAGE


def test_empty_room_expires_after_idle_timeout_exactly() -> None:
    h = Harness()
    alice = h.peer("alice")
    join(alice)
    alice.ok(p.Leave(room="room1"))
    left_at = h.clock.now
    room = h.server.room("room1")
    assert room is not None
    expiry = left_at + 2 * 3600
    alice.drop()
    h.advance(60)  # alice's session grace ends; only the room's expiry remains
    assert h.server.next_deadline() == expiry
    h.advance(expiry - h.clock.now - 0.001)
    assert h.server.room("room1") is not None
    h.advance(0.001)
    assert h.server.room("room1") is None
    assert "RoomClosed" in h.event_types()


@pytest.mark.parametrize("kick_first", [True, False])
def test_host_leaving_while_its_kick_is_in_flight(kick_first: bool) -> None:
    """The host sends a kick and leaves (or drops) at the same instant: whichever the
    server sees first decides, deterministically, and the room is always consistent."""
    h = Harness()
    host, alice, bob = h.peer("host"), h.peer("alice"), h.peer("bob")
    join(host)
    snap_a = join(alice)
    snap_b = join(bob)
    bob.drain()
    kick = p.Kick(room="room1", target=snap_a.you, id="k")
    leave = p.Leave(room="room1", id="l")
    for message in (kick, leave) if kick_first else (leave, kick):
        host.send(message)
    replies = {m.id: m for m in host.drain() if isinstance(m, p.Ok | p.Error)}
    assert set(replies) == {"k", "l"}  # exactly one reply each
    room = h.server.room("room1")
    assert room is not None
    if kick_first:
        assert isinstance(replies["k"], p.Ok)
        assert set(room.participants) == {snap_b.you}
        assert room.host == snap_b.you
    else:
        assert code(replies["k"]) == ErrorCode.NOT_IN_ROOM
        assert set(room.participants) == {snap_a.you, snap_b.you}
        assert room.host == snap_a.you  # longest present after the host
    assert isinstance(replies["l"], p.Ok)
    hosts = [x for x in room.participants.values() if x.role == Role.HOST]
    assert len(hosts) == 1
    left = [(x.participant, x.reason) for x in bob.drain("participant_left")]
    assert (snap_a.you, "kicked") in left if kick_first else all(x[0] != snap_a.you for x in left)


def test_an_empty_lobby_room_keeps_an_unentitled_joiner_waiting() -> None:
    h = Harness()
    h.dispatch(h.server.create_room("lob", RoomPolicy(join=JoinPolicy.LOBBY), h.clock.now))
    early = h.peer("early")
    wait = early.ok(p.Join(room="lob"))
    assert isinstance(wait, p.LobbyWait)
    room = h.server.room("lob")
    assert room is not None and room.participants == {} and room.host is None
    host = h.peer("boss", grants={"lob": Role.HOST})
    snap = host.ok(p.Join(room="lob"))
    assert snap.host == snap.you and [e.user for e in snap.lobby] == ["early"]
    host.ok(p.Admit(room="lob", target=wait.you))
    (admitted,) = early.drain("room_snapshot")
    assert admitted.host == snap.you  # the admitted joiner does not take the host role


def test_a_host_grant_wins_over_join_order() -> None:
    h = Harness()
    first, second = h.peer("first"), h.peer("second")
    a = join(first)
    join(second)
    boss = h.peer("boss", grants={"room1": Role.HOST})
    snap = boss.ok(p.Join(room="room1"))
    assert snap.host == snap.you
    roles = {m.user: m.role for m in snap.participants}
    assert roles == {"first": Role.PARTICIPANT, "second": Role.PARTICIPANT, "boss": Role.HOST}
    changed = [(m.participant, m.role) for m in first.drain("role_changed")]
    assert changed == [(a.you, Role.PARTICIPANT), (snap.you, Role.HOST)]
    (moved,) = second.drain("host_changed")
    assert (moved.host, moved.previous) == (snap.you, a.you)
    # a second host grant does not take it again: the first entitled member keeps it
    rival = h.peer("rival", grants={"room1": Role.HOST})
    assert rival.ok(p.Join(room="room1")).host == snap.you


def test_a_moderator_who_hosted_for_joining_first_goes_back_to_moderator() -> None:
    h = Harness()
    mod = h.peer("mod", grants={"room1": Role.MODERATOR})
    first = join(mod)
    assert first.host == first.you
    boss = h.peer("boss", grants={"room1": Role.HOST})
    assert boss.ok(p.Join(room="room1")).host != first.you
    room = h.server.room("room1")
    assert room is not None and room.participants[first.you].role is Role.MODERATOR
