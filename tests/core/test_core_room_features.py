"""Bans, profile updates (``update_me``) and hidden participants through the Server."""

from __future__ import annotations

import pytest

from rtcsignal import protocol as p
from rtcsignal.core import JoinPolicy, RoomPolicy, ServerConfig
from rtcsignal.core._bans import MAX_BANS
from rtcsignal.core._roompolicy import MAX_HIDDEN
from rtcsignal.protocol import ErrorCode, Role
from rtcsignal.testing import Harness, Peer


def error(reply: object) -> p.Error:
    assert isinstance(reply, p.Error), reply
    return reply


def join(peer: Peer, room: str = "room1", **kw: object) -> p.RoomSnapshot:
    result = peer.ok(p.Join(room=room, **kw))  # type: ignore[arg-type]
    assert isinstance(result, p.RoomSnapshot)
    return result


def events(h: Harness, name: str) -> list[object]:
    return [e for e in h.events if type(e).__name__ == name]


# ===================================================================== bans
def test_a_ban_removes_every_device_of_the_user_and_keeps_it_out() -> None:
    h = Harness()
    host, phone, laptop, carol = h.peer("host"), h.peer("bob"), h.peer("bob"), h.peer("carol")
    join(host)
    snap_phone = join(phone)
    snap_laptop = join(laptop)
    join(carol)
    carol.drain()
    host.ok(p.Kick(room="room1", target=snap_phone.you, ban=True, reason="spam"))
    for device in (phone, laptop):
        (removed,) = device.drain("removed")
        assert (removed.reason, removed.message) == ("banned", "spam")
    left = carol.drain("participant_left")
    assert {(x.participant, x.reason) for x in left} == {
        (snap_phone.you, "banned"),
        (snap_laptop.you, "banned"),
    }
    room = h.server.room("room1")
    assert room is not None and not room.has_user("bob")
    for device in (phone, laptop, h.peer("bob")):  # every device, a new one too
        err = error(device.request(p.Join(room="room1")))
        assert err.code == ErrorCode.BANNED and err.retry_after is None
    (banned,) = events(h, "MemberBanned")
    assert banned.user == "bob" and banned.duration is None  # type: ignore[attr-defined]
    assert [e.reason for e in events(h, "MemberLeft")] == ["banned", "banned"]  # type: ignore[attr-defined]


def test_a_timed_ban_says_when_it_lifts_and_lifts() -> None:
    h = Harness()
    host, bob = h.peer("host"), h.peer("bob")
    join(host)
    snap_b = join(bob)
    host.ok(p.Kick(room="room1", target=snap_b.you, ban=True, duration=60.0))
    h.advance(20)
    err = error(bob.request(p.Join(room="room1")))
    assert err.code == ErrorCode.BANNED and err.retry_after == pytest.approx(40.0)
    snap = host.ok(p.Join(room="room2"))  # the host's view of room1's bans: a fresh snapshot
    assert isinstance(snap, p.RoomSnapshot) and snap.bans == ()
    room = h.server.room("room1")
    assert room is not None
    (entry,) = room.snapshot(next(iter(room.participants)), h.clock.now).bans
    assert entry.user == "bob" and entry.expires_in == pytest.approx(40.0)
    h.advance(40)
    join(bob)


def test_the_ban_list_is_for_hosts_and_moderators_only() -> None:
    h = Harness()
    host, mod, alice, bob = (
        h.peer("host"),
        h.peer("mod"),
        h.peer("alice"),
        h.peer("bob", name="Bob"),
    )
    join(host)
    snap_m = join(mod)
    join(alice)
    snap_b = join(bob)
    host.ok(p.SetRole(room="room1", target=snap_m.you, role="moderator"))
    mod.ok(p.Kick(room="room1", target=snap_b.you, ban=True))
    host.drop()
    host.resume(last_seq=0)  # a gap: a fresh snapshot
    room = h.server.room("room1")
    assert room is not None
    views = {
        room.participants[pid].user: room.snapshot(pid, h.clock.now) for pid in room.participants
    }
    assert [(b.user, b.name, b.by, b.expires_in) for b in views["host"].bans] == [
        ("bob", "Bob", snap_m.you, None)
    ]
    assert views["mod"].bans == views["host"].bans
    assert views["alice"].bans == ()


def test_unban_lets_the_user_back_in() -> None:
    h = Harness()
    host, alice, bob = h.peer("host"), h.peer("alice"), h.peer("bob")
    join(host)
    join(alice)
    snap_b = join(bob)
    host.ok(p.Kick(room="room1", target=snap_b.you, ban=True))
    assert error(alice.request(p.Unban(room="room1", user="bob"))).code == ErrorCode.FORBIDDEN
    host.ok(p.Unban(room="room1", user="bob"))
    err = error(host.request(p.Unban(room="room1", user="bob")))
    assert err.code == ErrorCode.UNKNOWN_PARTICIPANT
    join(bob)
    (unbanned,) = events(h, "MemberUnbanned")
    assert unbanned.user == "bob"  # type: ignore[attr-defined]


def test_a_banned_user_cannot_knock_and_its_lobby_entries_go() -> None:
    h = Harness()
    h.dispatch(h.server.create_room("lob", RoomPolicy(join=JoinPolicy.LOBBY), h.clock.now))
    host = h.peer("host", grants={"lob": "host"})
    join(host, "lob")
    bob_in, bob_waiting = h.peer("bob"), h.peer("bob")
    wait = bob_in.ok(p.Join(room="lob"))
    host.ok(p.Admit(room="lob", target=wait.you))
    assert isinstance(bob_waiting.ok(p.Join(room="lob")), p.LobbyWait)
    host.drain()
    host.ok(p.Kick(room="lob", target=wait.you, ban=True))
    assert [r.reason for r in bob_waiting.drain("removed")] == ["denied"]
    assert host.drain("lobby_updated")[-1].lobby == ()
    assert error(bob_waiting.request(p.Join(room="lob"))).code == ErrorCode.BANNED


def test_ban_refusals_change_nothing() -> None:
    h = Harness()
    host, mod, mod_phone, alice = h.peer("host"), h.peer("mod"), h.peer("mod"), h.peer("alice")
    snap_h = join(host)
    snap_m = join(mod)
    snap_phone = join(mod_phone)
    snap_a = join(alice)
    host.ok(p.SetRole(room="room1", target=snap_m.you, role="moderator"))
    # a moderator cannot ban the host, nor a user one of whose seats moderates
    assert error(mod.request(p.Kick(room="room1", target=snap_h.you, ban=True))).code == "forbidden"
    alice_phone = h.peer("alice")
    join(alice_phone)
    host.ok(p.SetRole(room="room1", target=snap_a.you, role="moderator"))
    alice_seats = [x for x in h.server.room("room1").participants.values() if x.user == "alice"]  # type: ignore[union-attr]
    other = next(x.id for x in alice_seats if x.id != snap_a.you)
    assert error(mod.request(p.Kick(room="room1", target=other, ban=True))).code == "forbidden"
    # nobody bans their own user; a duration needs ban
    err = error(mod.request(p.Kick(room="room1", target=snap_phone.you, ban=True)))
    assert err.code == ErrorCode.INVALID_STATE
    err = error(host.request(p.Kick(room="room1", target=other, duration=5.0)))
    assert err.code == ErrorCode.INVALID_MESSAGE
    room = h.server.room("room1")
    assert room is not None and len(room.participants) == 5 and len(room.bans) == 0
    # durations are bounded on the wire
    err = error(host.request(p.Kick(room="room1", target=other, ban=True, duration=0)))
    assert err.code == ErrorCode.INVALID_MESSAGE


def test_the_ban_list_is_bounded() -> None:
    h = Harness()
    host = h.peer("host")
    join(host)
    room = h.server.room("room1")
    assert room is not None
    from rtcsignal.core._bans import Ban

    for i in range(MAX_BANS - 1):
        room.bans.add(Ban(user=f"u{i}", name=None, by=None, until=None))
    room.bans.add(Ban(user="short", name=None, by=None, until=h.clock.now + 1))
    bob, carol = h.peer("bob"), h.peer("carol")
    snap_b, snap_c = join(bob), join(carol)
    err = error(host.request(p.Kick(room="room1", target=snap_b.you, ban=True)))
    assert err.code == ErrorCode.TOO_MANY_BANS and room.has_user("bob")
    h.advance(2)  # the timed ban lifted: its entry makes room
    host.ok(p.Kick(room="room1", target=snap_c.you, ban=True))
    assert len(room.bans) == MAX_BANS and not room.has_user("carol")


def test_a_banned_user_cannot_answer_a_call_into_the_room() -> None:
    h = Harness()
    alice, bob_phone, carol = h.peer("alice"), h.peer("bob"), h.peer("carol")
    call = alice.ok(p.CallInvite(to=("bob", "carol")))
    carol.ok(p.CallAccept(call=call.id))
    snap = bob_phone.ok(p.CallAccept(call=call.id))
    alice.ok(p.Kick(room=call.room, target=snap.you, ban=True))
    bob_laptop = h.peer("bob")
    err = error(bob_laptop.request(p.CallAccept(call=call.id)))
    assert err.code == ErrorCode.BANNED
    assert error(bob_laptop.request(p.Join(room=call.room))).code == ErrorCode.BANNED


# ===================================================================== update_me
def test_update_me_changes_name_and_metadata_for_the_others() -> None:
    h = Harness()
    alice, bob = h.peer("alice", name="Alice"), h.peer("bob")
    snap_a = join(alice)
    join(bob)
    alice.drain()
    bob.drain()
    alice.ok(p.UpdateMe(room="room1", name="Alice B.", metadata={"status": "brb"}))
    (updated,) = bob.drain("participant_updated")
    assert updated.participant.id == snap_a.you
    assert (updated.participant.name, updated.participant.metadata) == (
        "Alice B.",
        {"status": "brb"},
    )
    assert alice.drain() == []  # nothing echoed
    alice.ok(p.UpdateMe(room="room1", name="Alice B."))  # unchanged: nobody told
    assert bob.drain() == []
    snap = join(h.peer("carol"))
    (seen,) = [x for x in snap.participants if x.id == snap_a.you]
    assert (seen.name, seen.metadata) == ("Alice B.", {"status": "brb"})


def test_update_me_needs_the_grant() -> None:
    h = Harness()
    host, guest, allowed_guest, muted = (
        h.peer("host"),
        h.peer("guest"),
        h.peer("guest2", can_update_metadata=True),
        h.peer("muted", can_update_metadata=False),
    )
    join(host)
    snap_g = join(guest)
    snap_ag = join(allowed_guest)
    join(muted)
    for pid in (snap_g.you, snap_ag.you):
        host.ok(p.SetRole(room="room1", target=pid, role="guest"))
    assert error(guest.request(p.UpdateMe(room="room1", name="G"))).code == ErrorCode.FORBIDDEN
    assert error(muted.request(p.UpdateMe(room="room1", name="M"))).code == ErrorCode.FORBIDDEN
    allowed_guest.ok(p.UpdateMe(room="room1", name="G2"))
    room = h.server.room("room1")
    assert room is not None
    assert {x.user: x.name for x in room.participants.values()}["guest"] is None


def test_update_me_metadata_is_bounded() -> None:
    h = Harness()
    alice = h.peer("alice")
    join(alice)
    err = error(alice.request(p.UpdateMe(room="room1", metadata={"x": "y" * p.MAX_METADATA_BYTES})))
    assert err.code == ErrorCode.INVALID_MESSAGE
    assert err.details == {"field": "metadata", "limit": p.MAX_METADATA_BYTES}
    assert error(alice.request(p.UpdateMe(room="nowhere", name="x"))).code == ErrorCode.NOT_IN_ROOM


# ===================================================================== hidden
def test_a_hidden_member_is_seen_by_moderators_only() -> None:
    h = Harness()
    host, alice = h.peer("host"), h.peer("alice")
    join(host)
    snap_a = join(alice)
    host.drain()
    alice.drain()
    bot = h.peer("recorder", hidden=True)
    snap_bot = join(bot)
    assert alice.drain() == []
    (joined,) = host.drain("participant_joined")
    assert joined.participant.hidden is True
    assert {x.id for x in snap_bot.participants} >= {snap_bot.you, snap_a.you}
    room = h.server.room("room1")
    assert room is not None
    view_a = room.snapshot(snap_a.you, h.clock.now)
    assert snap_bot.you not in {x.id for x in view_a.participants}
    view_h = room.snapshot(room.host or "", h.clock.now)
    assert [x.hidden for x in view_h.participants if x.id == snap_bot.you] == [True]
    # it receives the room's events, and others may address it
    alice.ok(p.Chat(room="room1", text="hi"))
    assert [c.text for c in bot.drain("chat")] == ["hi"]
    bot.ok(p.MediaState(room="room1", audio=True))
    assert alice.drain("participant_updated") == []
    assert [u.participant.id for u in host.drain("participant_updated")] == [snap_bot.you]
    alice.ok(p.App(room="room1", app_type="acme.ping", to=snap_bot.you))
    assert len(bot.drain("app")) == 1
    bot.ok(p.Leave(room="room1"))
    assert alice.drain("participant_left") == []
    assert len(host.drain("participant_left")) == 1
    (joined_event,) = [e for e in events(h, "MemberJoined") if e.user == "recorder"]  # type: ignore[attr-defined]
    assert joined_event.hidden is True  # type: ignore[attr-defined]


def test_hidden_members_do_not_count_toward_capacity_and_are_bounded() -> None:
    h = Harness()
    h.dispatch(h.server.create_room("small", RoomPolicy(capacity=2), h.clock.now))
    join(h.peer("a"), "small")
    for i in range(MAX_HIDDEN):
        join(h.peer(f"bot{i}", hidden=True), "small")
    join(h.peer("b"), "small")
    assert error(h.peer("c").request(p.Join(room="small"))).code == ErrorCode.ROOM_FULL
    err = error(h.peer("bot", hidden=True).request(p.Join(room="small")))
    assert err.code == ErrorCode.ROOM_FULL and err.details == {"limit": MAX_HIDDEN}
    room = h.server.room("small")
    assert room is not None and room.visible_count() == 2


def test_a_hidden_member_is_never_host() -> None:
    h = Harness()
    bot = h.peer("recorder", hidden=True, grants={"room1": Role.HOST})
    snap_bot = join(bot)
    room = h.server.room("room1")
    assert room is not None and room.host is None
    assert room.participants[snap_bot.you].role is Role.MODERATOR
    alice, bob = h.peer("alice"), h.peer("bob")
    snap_a = join(alice)
    assert room.host == snap_a.you  # the first visible member hosts
    snap_b = join(bob)
    err = error(alice.request(p.TransferHost(room="room1", target=snap_bot.you)))
    assert err.code == ErrorCode.INVALID_STATE
    alice.ok(p.Leave(room="room1"))
    assert room.host == snap_b.you  # succession skips the hidden moderator
    bob.ok(p.Leave(room="room1"))
    assert room.host is None and list(room.participants) == [snap_bot.you]


def test_a_hidden_member_may_relay_and_be_addressed() -> None:
    h = Harness(ServerConfig())
    alice = h.peer("alice")
    snap_a = join(alice)
    bot = h.peer("recorder", hidden=True)
    snap_bot = join(bot)
    room = h.server.room("room1")
    assert room is not None and snap_bot.you in room.participants
    # relaying to a hidden member: it is addressable (its id is the room's, not a secret)
    err = alice.request(p.Candidate(room="room1", to=snap_bot.you, candidate="x"))
    assert error(err).code == ErrorCode.NO_DESCRIPTION  # reached the relay, not unknown
    err = bot.request(p.Candidate(room="room1", to=snap_a.you, candidate="x"))
    assert error(err).code == ErrorCode.NO_DESCRIPTION


def test_moderators_are_told_of_the_ban_list() -> None:
    h = Harness()
    host, mod, alice, bob = h.peer("host"), h.peer("mod"), h.peer("alice"), h.peer("bob")
    join(host)
    snap_m = join(mod)
    snap_a = join(alice)
    snap_b = join(bob)
    host.ok(p.SetRole(room="room1", target=snap_m.you, role="moderator"))
    for peer in (host, mod, alice):
        peer.drain()
    host.ok(p.Kick(room="room1", target=snap_b.you, ban=True, duration=100.0))
    for peer in (host, mod):
        (update,) = peer.drain("bans_updated")
        assert [(b.user, b.expires_in) for b in update.bans] == [("bob", 100.0)]
    assert alice.drain("bans_updated") == []
    h.advance(40)
    host.ok(p.SetRole(room="room1", target=snap_a.you, role="moderator"))
    (late,) = alice.drain("bans_updated")  # a new moderator gets the list
    assert [(b.user, b.expires_in) for b in late.bans] == [("bob", pytest.approx(60.0))]
    mod.ok(p.Unban(room="room1", user="bob"))
    for peer in (host, mod, alice):
        assert [u.bans for u in peer.drain("bans_updated")] == [()]
