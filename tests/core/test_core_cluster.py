"""Servers as instances of one cluster (``node=``), on the in-memory model of their
backplane (:class:`rtcsignal.testing.Cluster`): what works on one instance works across
instances, with the same frames and error codes."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal.core import DuplicatePolicy, JoinPolicy, RoomPolicy, Server, ServerConfig
from rtcsignal.core import events as ev
from rtcsignal.core.cluster import (
    CALLS,
    AdminAnswer,
    AdminPending,
    Ask,
    Post,
    Route,
    Tell,
    decode_envelope,
    decode_state,
    encode_envelope,
    shard_of,
    token_node,
)
from rtcsignal.core.events import InternalError
from rtcsignal.core.seam import Presence
from rtcsignal.protocol import UsageError
from rtcsignal.testing import Cluster, ClusterPeer, CountingIds

ROOM = "room1"


def _joined(cluster: Cluster, room: str = ROOM, **placement: str) -> dict[str, object]:
    peers = {user: cluster.peer(user, node=node) for user, node in placement.items()}
    for peer in peers.values():
        peer.ok(p.Join(room=room))
    for peer in peers.values():
        peer.drain()
    return peers  # type: ignore[return-value]


def test_keys_and_tokens() -> None:
    assert shard_of("standup") == "standup"
    assert shard_of("call-x1") == CALLS
    assert shard_of(None) == CALLS
    assert token_node("a.xyz") == "a"
    assert token_node("xyz") is None
    assert token_node(".xyz") is None


def test_node_ids_are_checked() -> None:
    with pytest.raises(UsageError):
        Server(id_factory=CountingIds(), node="a.b")
    with pytest.raises(UsageError):
        Server(id_factory=CountingIds(), node="")
    with pytest.raises(UsageError):
        Server(id_factory=CountingIds()).own("room1", 1)


def test_join_and_relay_across_instances_in_order() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    bob = cluster.peer("bob", node="b")
    alice.ok(p.Join(room=ROOM))
    snap = bob.ok(p.Join(room=ROOM))
    assert [x.user for x in snap.participants] == ["alice", "bob"]
    assert cluster.owners[ROOM] == ("a", 1)  # the first joiner's instance took it
    assert [m.participant.user for m in alice.drain("participant_joined")] == ["bob"]
    for i in range(20):
        bob.ok(p.Chat(room=ROOM, text=f"m{i}"))
        alice.ok(p.Chat(room=ROOM, text=f"n{i}"))
        cluster.advance(2.0)  # under the chat rate limit
    got_a = alice.drain("chat")
    got_b = bob.drain("chat")
    assert [m.text for m in got_a] == [f"m{i}" for i in range(20)]
    assert [m.text for m in got_b] == [f"n{i}" for i in range(20)]
    seqs = [m.seq for m in got_b]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # gapless per session


def test_a_relay_on_the_owner_crosses_nothing() -> None:
    cluster = Cluster(("a", "b"))
    peers = _joined(cluster, alice="a", bob="a")
    before = cluster.delivered
    for i in range(5):
        peers["alice"].ok(p.Chat(room=ROOM, text=str(i)))  # type: ignore[attr-defined]
    assert cluster.delivered == before


def test_errors_are_the_same_across_instances() -> None:
    cluster = Cluster(("a", "b"), ServerConfig(auto_create_rooms=False))
    bob = cluster.peer("bob", node="b")
    reply = bob.request(p.Join(room=ROOM))
    assert isinstance(reply, p.Error) and reply.code == "room_not_found"
    assert cluster.owners == {}  # nothing held for a room that never was
    reply = bob.request(p.Chat(room="other", text="x"))
    assert isinstance(reply, p.Error) and reply.code == "not_in_room"


def test_capacity_holds_across_instances() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    alice.ok(p.Join(room=ROOM))
    room = cluster.servers["a"].room(ROOM)
    assert room is not None
    cluster.servers["a"].update_room(ROOM, attrs.evolve(room.policy, capacity=2), 0.0)
    assert cluster.peer("bob", node="b").ok(p.Join(room=ROOM))
    reply = cluster.peer("carol", node="b").request(p.Join(room=ROOM))
    assert isinstance(reply, p.Error) and reply.code == "room_full"


@pytest.mark.parametrize("first", ["a", "b"])
def test_duplicate_join_racing_on_two_instances(first: str) -> None:
    """The same user joins from two instances at the same moment: the owner sees one
    after the other, exactly as one instance would (``reject``: one wins)."""
    cluster = Cluster(("a", "b"))
    host = cluster.peer("host", node="a")
    host.ok(p.Join(room=ROOM))
    owner = cluster.servers["a"]
    room = owner.room(ROOM)
    assert room is not None
    owner.update_room(ROOM, attrs.evolve(room.policy, duplicate=DuplicatePolicy.REJECT), 0.0)
    one = cluster.peer("dora", node="a")
    two = cluster.peer("dora", node="b")
    cluster.auto_settle = False
    order = (one, two) if first == "a" else (two, one)
    for peer in order:
        peer.send(p.Join(id="j", room=ROOM))
    cluster.settle()
    replies = [next(m for m in x.inbox if getattr(m, "id", None) == "j") for x in (one, two)]
    assert sorted(type(r).__name__ for r in replies) == ["Error", "Ok"]
    error = next(r for r in replies if isinstance(r, p.Error))
    assert error.code == "already_joined"
    assert [x.user for x in room.participants.values()].count("dora") == 1


def test_calls_ring_every_instance_and_answered_elsewhere() -> None:
    cluster = Cluster(("a", "b", "c"))
    alice = cluster.peer("alice", node="a")
    bob_b = cluster.peer("bob", node="b")
    bob_c = cluster.peer("bob", node="c")
    info = alice.ok(p.CallInvite(to=("bob",), media="audio"))
    assert [m.call.id for m in bob_b.drain("incoming_call")] == [info.id]
    assert [m.call.id for m in bob_c.drain("incoming_call")] == [info.id]
    bob_c.ok(p.CallAccept(call=info.id))
    elsewhere = bob_b.drain("call_updated")
    assert [m.call.reason for m in elsewhere] == ["answered_elsewhere"]
    assert [m.call.state for m in alice.drain("call_updated")] == ["active"]
    # the negotiation in the call's room crosses instances too
    alice.drain()
    bob_c.drain()
    call_room = info.room
    assert cluster.owners[shard_of(call_room)][0] == "a"
    assert cluster.servers["a"].room(call_room) is not None


def test_a_session_started_while_a_call_rings_rings_too() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    info = alice.ok(p.CallInvite(to=("bob",), media="audio"))
    late = cluster.peer("bob", node="b")
    assert [m.call.id for m in late.drain("incoming_call")] == [info.id]


def test_call_glare_across_instances() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    bob = cluster.peer("bob", node="b")
    alice.ok(p.CallInvite(to=("bob",), media="audio"))  # takes the call book on a
    reply = bob.request(p.CallInvite(to=("alice",), media="audio"))
    # one place decides glare, as on one instance
    single = Cluster(("a",))
    s_alice = single.peer("alice", node="a")
    s_bob = single.peer("bob", node="a")
    s_alice.ok(p.CallInvite(to=("bob",), media="audio"))
    expected = s_bob.request(p.CallInvite(to=("alice",), media="audio"))
    assert type(reply) is type(expected)
    assert getattr(reply, "code", None) == getattr(expected, "code", None)


def test_resume_on_another_instance_replays_what_was_missed() -> None:
    cluster = Cluster(("a", "b"))
    peers = _joined(cluster, alice="a", bob="b")
    alice, bob = peers["alice"], peers["bob"]
    bob.drop()  # type: ignore[attr-defined]
    for i in range(3):
        alice.ok(p.Chat(room=ROOM, text=f"while away {i}"))  # type: ignore[attr-defined]
    back = bob.resume(node="a")  # type: ignore[attr-defined]
    assert back.welcome is not None and back.welcome.resumed and not back.welcome.gap
    assert token_node(back.welcome.resume_token) == "a"
    assert [m.text for m in back.drain("chat")] == [f"while away {i}" for i in range(3)]
    alice.drain()  # type: ignore[attr-defined]
    back.ok(p.Chat(room=ROOM, text="back"))
    assert [m.text for m in alice.drain("chat")] == ["back"]  # type: ignore[attr-defined]
    alice.ok(p.Chat(room=ROOM, text="hello again"))  # type: ignore[attr-defined]
    assert [m.text for m in back.drain("chat")] == ["hello again"]
    # and back again, to the first instance
    back.drop()
    again = back.resume(node="b")
    assert again.welcome is not None and again.welcome.resumed


def test_resume_with_an_unknown_token_on_another_instance_fails_typed() -> None:
    cluster = Cluster(("a", "b"))
    peer = cluster.peer("bob", node="a", hello=False)
    reply = peer.request(p.Hello(version=1, resume="b.nope", last_seq=0))
    assert isinstance(reply, p.Error) and reply.code == "resume_failed"


def test_an_owner_that_never_answers_gives_backplane_unavailable_once() -> None:
    cluster = Cluster(("a", "b"), ServerConfig(request_timeout=2.0))
    _joined(cluster, alice="a")
    bob = cluster.peer("bob", node="b")
    cluster.auto_settle = False
    bob.send(p.Join(id="j1", room=ROOM))
    cluster.queue.clear()  # the ask is lost on its way
    cluster.advance(2.5)
    errors = [m for m in bob.inbox if isinstance(m, p.Error)]
    assert [(e.id, e.code, e.retry_after) for e in errors] == [("j1", "backplane_unavailable", 1.0)]


def test_a_late_answer_after_the_deadline_is_not_a_second_reply() -> None:
    cluster = Cluster(("a", "b"), ServerConfig(request_timeout=2.0))
    _joined(cluster, alice="a")
    bob = cluster.peer("bob", node="b")
    cluster.auto_settle = False
    bob.send(p.Chat(id="c1", room=ROOM, text="x"))
    held = list(cluster.queue)
    cluster.queue.clear()
    cluster.advance(2.5)
    cluster.queue.extend(held)
    cluster.settle()
    replies = [m for m in bob.inbox if getattr(m, "id", None) == "c1"]
    assert len(replies) == 1 and isinstance(replies[0], p.Error)


def test_tells_from_an_older_epoch_are_fenced() -> None:
    cluster = Cluster(("a", "b"))
    peers = _joined(cluster, alice="a", bob="b")
    b = cluster.servers["b"]
    bob_session = b.session_of(peers["bob"].conn)  # type: ignore[attr-defined]
    assert bob_session is not None
    b.own("fence-room", 5)  # b has seen epoch 5 of some key
    b.disown("fence-room")
    old = Tell(
        key="fence-room",
        epoch=4,
        src="a",
        ops=[],
        conn=None,
    )
    assert b.envelope(encode_envelope(old), cluster.clock.now) == []
    assert b.fenced_drops == 1


def test_an_ask_for_a_key_not_owned_bounces_and_is_routed_again() -> None:
    cluster = Cluster(("a", "b"))
    _joined(cluster, alice="a")
    b = cluster.servers["b"]
    presence = Presence(room=ROOM, session="x", state="connected", at=0.0)
    ask = Ask(key=ROOM, epoch=0, src="a", input=presence)
    fx = b.envelope(encode_envelope(ask), 0.0)
    assert [type(e) for e in fx] == [Post]
    a = cluster.servers["a"]
    back = a.envelope(fx[0].data, 0.0)  # type: ignore[union-attr]
    assert [type(e) for e in back] == [Route]
    assert back[0].bounced == "b"  # type: ignore[union-attr]
    assert decode_envelope(back[0].data).hops == 1  # type: ignore[union-attr]


def test_garbage_envelopes_are_reported_not_raised() -> None:
    cluster = Cluster(("a",))
    fx = cluster.servers["a"].envelope(b"\xc1 not msgpack", 0.0)
    assert [type(e) for e in fx] == [InternalError]


def test_state_is_persisted_on_membership_changes_only_and_released() -> None:
    cluster = Cluster(("a", "b"))
    peers = _joined(cluster, alice="a", bob="b")
    state = decode_state(cluster.states[ROOM])
    assert state.owner == "a" and state.epoch == 1
    assert sorted(x.user for x in state.participants) == ["alice", "bob"]
    assert sorted(state.nodes.values()) == ["a", "b"]
    writes = dict(cluster.states)
    cluster.states.clear()
    peers["alice"].ok(p.Chat(room=ROOM, text="no write for chatter"))  # type: ignore[attr-defined]
    assert cluster.states == {}
    del writes
    for peer in peers.values():
        peer.ok(p.Leave(room=ROOM))  # type: ignore[attr-defined]
    cluster.advance(3 * 3600)  # the empty room expires on its owner
    assert ROOM not in cluster.owners  # released: the next joiner may take it anywhere
    cluster.peer("bob", node="b").ok(p.Join(room=ROOM))
    assert cluster.owners[ROOM] == ("b", 2)  # a higher epoch


def test_a_dropped_remote_member_reconnects_then_leaves_after_grace() -> None:
    cluster = Cluster(("a", "b"), ServerConfig(reconnect_grace=5.0))
    peers = _joined(cluster, alice="a", bob="b")
    peers["bob"].drop()  # type: ignore[attr-defined]
    updates = peers["alice"].drain("participant_updated")  # type: ignore[attr-defined]
    assert [m.participant.state for m in updates] == ["reconnecting"]
    cluster.advance(6.0)
    left = peers["alice"].drain("participant_left")  # type: ignore[attr-defined]
    assert [m.reason for m in left] == ["disconnected"]
    room = cluster.servers["a"].room(ROOM)
    assert room is not None and [x.user for x in room.participants.values()] == ["alice"]


# ------------------------------------------------------------------ properties
_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "chat", "drop", "resume", "tick"]),
        st.integers(0, 3),  # which user
        st.sampled_from(["a", "b", "c"]),  # which instance (for joins and resumes)
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_ACTIONS)
def test_membership_views_agree_with_the_owner(actions: list[tuple[str, int, str]]) -> None:
    """Whatever the joins, leaves, drops and cross-instance resumes: every request gets
    exactly one reply, each member's stream is gapless, and the owner's members are
    exactly the sessions that hold a seat."""
    cluster = Cluster(("a", "b", "c"), ServerConfig(reconnect_grace=5.0))
    users = [f"user{i}" for i in range(4)]
    peers = {u: cluster.peer(u, node="a") for u in users}
    for action, who, node in actions:
        user = users[who]
        peer = peers[user]
        if peer.closed is not None and action != "resume":
            continue
        if action == "join":
            reply = peer.request(p.Join(room=ROOM))
            assert isinstance(reply, p.Ok | p.Error)
        elif action == "leave":
            peer.request(p.Leave(room=ROOM))
        elif action == "chat":
            peer.request(p.Chat(room=ROOM, text="x"))
        elif action == "drop":
            peer.drop()
        elif action == "resume" and peer.closed is not None:
            fresh = peer.resume(node=node)
            if fresh.welcome is None:  # the session ended meanwhile: start afresh
                fresh = cluster.peer(user, node=node)
            peers[user] = fresh
        elif action == "tick":
            cluster.advance(2.0)
    for peer in cluster.peers.values():
        seqs = [m.seq for m in peer.inbox if getattr(m, "seq", None) is not None]
        assert seqs == sorted(set(seqs))
    owner = cluster.owners.get(ROOM)
    if owner is None:
        return
    room = cluster.servers[owner[0]].room(ROOM)
    assert room is not None
    seated = {
        (sid, pid)
        for server in cluster.servers.values()
        for sid in server._edge.sessions
        for pid in [server._edge.sessions[sid].rooms.get(ROOM)]
        if pid is not None
    }
    assert seated == set(room.seats())


def test_a_room_limit_holds_once_for_every_edge() -> None:
    """Members on three instances flood one room: the room's ceiling is counted once, at
    the owner, exactly as on one instance."""
    from rtcsignal.ratelimit import LimitSpec, RatePolicy

    policy = attrs.evolve(RatePolicy.default(), room=LimitSpec(rate=1.0, burst=10.0))

    def accepted(nodes: tuple[str, ...]) -> int:
        cluster = Cluster(nodes, rate_policy=policy)
        peers = [cluster.peer(f"u{i}", node=nodes[i % len(nodes)]) for i in range(3)]
        for peer in peers:
            peer.ok(p.Join(room=ROOM))
        ok = 0
        for _ in range(6):
            for peer in peers:
                reply = peer.request(p.MediaState(room=ROOM, audio=True))
                ok += isinstance(reply, p.Ok)
        return ok

    assert accepted(("a", "b", "c")) == accepted(("a",)) < 18


def test_an_invalid_offer_is_refused_at_the_edge_and_never_crosses() -> None:
    cluster = Cluster(("a", "b"))
    peers = _joined(cluster, alice="a", bob="b")
    alice_id = cluster.servers["a"].room(ROOM).seats()[0][1]  # type: ignore[union-attr]
    before = cluster.delivered
    reply = peers["bob"].request(p.Offer(room=ROOM, to=alice_id, sdp="v=0\r\nnot sdp"))  # type: ignore[attr-defined]
    assert isinstance(reply, p.Error) and reply.code == "invalid_sdp"
    bad = p.Candidate(room=ROOM, to=alice_id, candidate="candidate:x", sdp_mid="0")
    reply = peers["bob"].request(bad)  # type: ignore[attr-defined]
    assert isinstance(reply, p.Error) and reply.code == "invalid_candidate"
    assert cluster.delivered == before


def test_moderation_lobby_and_roles_across_instances() -> None:
    cluster = Cluster(("a", "b", "c"))
    host = cluster.peer("host", node="a")
    host.ok(p.Join(room=ROOM))
    room = cluster.servers["a"].room(ROOM)
    assert room is not None
    cluster.servers["a"].update_room(ROOM, attrs.evolve(room.policy, join=JoinPolicy.LOBBY), 0.0)
    guest = cluster.peer("guest", node="b")
    wait = guest.request(p.Join(room=ROOM))
    assert isinstance(wait, p.Ok) and isinstance(wait.result, p.LobbyWait)
    lobby = host.drain("lobby_updated")[-1]
    (entry,) = lobby.lobby
    host.ok(p.Admit(room=ROOM, target=entry.id))
    assert guest.types() == ["room_snapshot"]  # admitted: the room, as a member sees it
    members = {x.user: x.id for x in room.participants.values()}
    assert set(members) == {"host", "guest"}
    host.ok(p.SetRole(room=ROOM, target=members["guest"], role="moderator"))
    assert [m.role for m in guest.drain("role_changed")] == ["moderator"]
    host.ok(p.Lock(room=ROOM, locked=True))
    late = cluster.peer("late", node="c")
    reply = late.request(p.Join(room=ROOM))
    assert isinstance(reply, p.Error) and reply.code == "room_locked"
    host.ok(p.Lock(room=ROOM, locked=False))
    cluster.servers["a"].update_room(ROOM, attrs.evolve(room.policy, join=JoinPolicy.OPEN), 0.0)
    late.ok(p.Join(room=ROOM))
    late_id = next(x.id for x in room.participants.values() if x.user == "late")
    guest.ok(p.Kick(room=ROOM, target=late_id))  # a moderator on b removes a member on c
    assert [m.reason for m in late.drain("removed")] == ["kicked"]
    assert "late" not in {x.user for x in room.participants.values()}


def test_a_routed_request_resent_after_a_resume_elsewhere_is_answered_once() -> None:
    """Exactly once across reconnects holds through the cluster: the answer to a request
    routed to another instance is remembered, and travels with the session."""
    cluster = Cluster(("a", "b"))
    _joined(cluster, alice="a")
    bob = cluster.peer("bob", node="b")
    bob.send(p.Join(id="j1", room=ROOM))
    first = [m for m in bob.inbox if getattr(m, "id", None) == "j1"]
    assert len(first) == 1 and isinstance(first[0], p.Ok)
    bob.send(p.Chat(id="c1", room=ROOM, text="once"))
    bob.drop()
    back = bob.resume(node="a")  # the session moves to a, with what it answered
    back.inbox.clear()
    back.send(p.Chat(id="c1", room=ROOM, text="once"))  # the re-send after the resume
    again = [m for m in back.inbox if getattr(m, "id", None) == "c1"]
    assert len(again) == 1 and isinstance(again[0], p.Ok)
    alice = next(x for x in cluster.peers.values() if x.user == "alice")
    assert [m.text for m in alice.drain("chat")] == ["once"]


def test_a_hidden_session_stays_hidden_after_resuming_elsewhere() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    alice.ok(p.Join(room=ROOM))
    bot = cluster.peer("bot", node="b", hidden=True)
    bot.ok(p.Join(room=ROOM))
    assert [m.participant.hidden for m in alice.drain("participant_joined")] == [True]
    bot.drop()
    back = bot.resume(node="a")
    assert back.welcome is not None and back.welcome.resumed
    session = cluster.servers["a"].session_of(back.conn)
    assert session is not None and session.sender.hidden


# ------------------------------------------------------------------ per-user limits
def _sessions_config(limit: int) -> ServerConfig:
    return ServerConfig(max_sessions_per_user=limit)


def test_max_sessions_per_user_counts_every_instance() -> None:
    """Issue 12: a user cannot double ``max_sessions_per_user`` by opening sessions on a
    second instance: the limit counts the whole cluster, with the error one instance
    gives."""
    cluster = Cluster(("a", "b", "c"), _sessions_config(2))
    cluster.peer("alice", node="a")
    cluster.peer("alice", node="b")
    third = cluster.peer("alice", node="c", hello=False)
    err = third.request(p.Hello(version=1))
    assert isinstance(err, p.Error)
    assert (err.code, err.details) == ("too_many_sessions", {"limit": 2})
    assert cluster.servers["c"].sessions_elsewhere("alice") == (2, 2)
    assert cluster.servers["c"].sessions_elsewhere("bob") == (0, 0)


def test_a_new_session_past_the_limit_ends_a_reconnecting_one_on_another_instance() -> None:
    """As on one instance, a session past the limit ends the user's reconnecting session
    first, wherever it is held (here: instance b, asked with a ``supersede``)."""
    cluster = Cluster(("a", "b"), _sessions_config(2))
    cluster.peer("alice", node="a")
    ghost = cluster.peer("alice", node="b")
    ghost.drop()  # b holds a reconnecting session of alice now
    assert cluster.servers["a"].sessions_elsewhere("alice") == (1, 0)
    cluster.peer("alice", node="a")  # admitted: b's reconnecting session goes
    ended = [e for n, e in cluster.events if n == "b" and isinstance(e, ev.SessionEnded)]
    assert [(e.session, e.reason) for e in ended] == [(ghost.welcome.session, "evicted")]
    assert cluster.servers["a"].sessions_elsewhere("alice") == (0, 0)
    refused = cluster.peer("alice", node="b", hello=False).request(p.Hello(version=1))
    assert isinstance(refused, p.Error) and refused.code == "too_many_sessions"


def test_the_sessions_of_an_instance_that_leaves_are_forgotten_and_a_new_one_learns() -> None:
    cluster = Cluster(("a", "b"), _sessions_config(2))
    cluster.peer("alice", node="a")
    cluster.peer("alice", node="b")
    a = cluster.servers["a"]
    cluster.dispatch("a", a.set_peers(["a"]))  # b left the cluster
    assert a.sessions_elsewhere("alice") == (0, 0)
    assert a.tables()["users_elsewhere"] == 0
    cluster.dispatch("a", a.set_peers(["a", "b"]))  # and is back: a sends b its list
    cluster.settle()
    cluster.dispatch("b", cluster.servers["b"].set_peers(["a", "b"]))
    cluster.settle()
    assert cluster.servers["b"].sessions_elsewhere("alice") == (1, 1)
    assert a.sessions_elsewhere("alice") == (0, 0)  # b told nothing new since


@pytest.mark.parametrize("placement", [("a",), ("a", "b"), ("a", "b", "c")])
def test_a_per_user_budget_is_granted_once_across_instances(placement: tuple[str, ...]) -> None:
    """Issue 12: a user with connections on k instances gets 1/k of each per-user rate
    budget on each, so the whole cluster grants the budget once (chat: 10 at once)."""
    cluster = Cluster(("a", "b", "c"))
    peers = [cluster.peer("alice", node=n) for n in placement]
    for peer in peers:
        peer.ok(p.Join(room=ROOM))
    sent = 0
    for _ in range(12):
        for peer in peers:
            sent += isinstance(peer.request(p.Chat(room=ROOM, text="hi")), p.Ok)
    # the chat burst, whatever the number of instances (a share of 10/k per instance
    # rounds down to whole messages: at most one fewer per instance)
    assert 10 - len(placement) < sent <= 10
    other = cluster.peer("bob", node="b")  # another user's budget is its own
    other.ok(p.Join(room=ROOM))
    assert isinstance(other.request(p.Chat(room=ROOM, text="hi")), p.Ok)


@given(st.lists(st.sampled_from("ab"), min_size=1, max_size=40), st.booleans())
@settings(max_examples=60, deadline=None)
def test_any_interleaving_of_a_user_s_instances_stays_within_the_budget(
    order: list[str], drop_b: bool
) -> None:
    """Whatever the order across two instances, a user's chat never exceeds its burst at
    one instant; when one instance's connection drops midway, its share (half) goes back
    to the other: the one approximation, documented in docs/scaling.md."""
    cluster = Cluster(("a", "b"))
    peers = {n: cluster.peer("alice", node=n) for n in "ab"}
    for peer in peers.values():
        peer.ok(p.Join(room=ROOM))
    sent = 0
    for i, n in enumerate(order):
        if drop_b and i == len(order) // 2 and peers["b"].closed is None:
            peers["b"].drop()
        if peers[n].closed is None:
            sent += isinstance(peers[n].request(p.Chat(room=ROOM, text="x")), p.Ok)
    assert sent <= (15 if drop_b else 10)  # each instance alone would grant 10: 20


# ------------------------------------------------------------------ the application's calls
def _answers(cluster: Cluster, node: str) -> list[AdminAnswer]:
    return [e for n, e in cluster.events if n == node and isinstance(e, AdminAnswer)]


def _admin(cluster: Cluster, node: str, effects: list[object]) -> AdminAnswer | None:
    """Carry out an admin call's effects on ``node``; its answer, when it was routed."""
    pending = [e for e in effects if isinstance(e, AdminPending)]
    cluster.dispatch(node, effects)  # type: ignore[arg-type]
    cluster.settle()
    if not pending:
        return None
    found = [a for a in _answers(cluster, node) if a.ticket == pending[0].ticket]
    assert len(found) == 1, found  # exactly one answer per call
    return found[0]


def test_admin_calls_on_an_instance_that_does_not_own_the_room_reach_the_owner() -> None:
    """Issue 12: the application's calls work from any instance, with the outcome one
    instance gives: done, or the owner's refusal (raised as UsageError by the runtime)."""
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    pid = alice.ok(p.Join(room=ROOM)).you
    b, now = cluster.servers["b"], cluster.clock.now
    refused = _admin(cluster, "b", b.remove_participant(ROOM, "nobody", now))
    assert refused is not None and refused.refused is not None
    assert refused.refused.code == "unknown_participant"
    done = _admin(cluster, "b", b.remove_participant(ROOM, pid, now, message="bye"))
    assert done is not None and done.refused is None
    assert [m.reason for m in alice.drain("removed")] == ["kicked"]
    assert not cluster.servers["a"].room(ROOM).participants  # type: ignore[union-attr]


def test_create_room_invite_and_say_from_another_instance() -> None:
    cluster = Cluster(("a", "b"))
    a, b, now = cluster.servers["a"], cluster.servers["b"], cluster.clock.now
    policy = RoomPolicy(join=JoinPolicy.INVITE)
    created = _admin(cluster, "b", b.create_room("board", policy, now))
    assert created is not None and created.refused is None
    assert cluster.owners["board"][0] == "b"  # taken by the instance that created it
    again = _admin(cluster, "a", a.create_room("board", policy, now))
    assert again is not None and again.refused is not None
    assert "already exists" in again.refused.message
    with pytest.raises(UsageError, match="already exists"):  # on the owner: raised at once
        b.create_room("board", policy, now)
    carol = cluster.peer("carol", node="a")
    assert carol.request(p.Join(room="board")).code == "not_invited"  # type: ignore[union-attr]
    first = a.invite("board", now, users=["carol"])
    second = a.invite("board", now, users=["dave"])  # both at once: neither is lost
    assert _admin(cluster, "a", first + second) is not None
    assert b.room("board").policy.allowed_users == {"carol", "dave"}  # type: ignore[union-attr]
    carol.ok(p.Join(room="board"))
    said = _admin(cluster, "a", a.say("board", "acme.note", {"n": 1}, now))
    assert said is not None and said.refused is None
    assert [m.payload for m in carol.drain("app")] == [{"n": 1}]


def test_an_admin_call_whose_owner_never_answers_ends_backplane_unavailable_once() -> None:
    cluster = Cluster(("a", "b"))
    cluster.peer("alice", node="a").ok(p.Join(room=ROOM))
    cluster.auto_settle = False
    b = cluster.servers["b"]
    effects = b.close_room(ROOM, cluster.clock.now)
    ticket = next(e.ticket for e in effects if isinstance(e, AdminPending))
    cluster.dispatch("b", effects)
    cluster.queue.clear()  # the ask is lost on its way
    cluster.advance(b.config.request_timeout + 0.1)
    (answer,) = _answers(cluster, "b")
    assert answer.ticket == ticket and answer.refused is not None
    assert answer.refused.code == "backplane_unavailable"
    cluster.advance(10.0)
    assert len(_answers(cluster, "b")) == 1


def test_a_retry_after_backplane_unavailable_is_not_applied_twice() -> None:
    """Issue 13: the owner answered too late (the edge already said
    ``backplane_unavailable``); the client retries with the same id and gets the first
    outcome, and the room sees the message once."""
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    bob = cluster.peer("bob", node="b")
    alice.ok(p.Join(room=ROOM))
    bob.ok(p.Join(room=ROOM))
    alice.drain()
    cluster.auto_settle = False
    bob.send(p.Chat(room=ROOM, text="once", id="r9"))
    late = list(cluster.queue)
    cluster.queue.clear()  # the ask is delayed past the deadline
    cluster.advance(cluster.servers["b"].config.request_timeout + 0.1)
    (unavailable,) = [m for m in bob.drain() if isinstance(m, p.Error)]
    assert (unavailable.id, unavailable.code) == ("r9", "backplane_unavailable")
    cluster.queue.extend(late)  # ... and arrives: the owner applies it, its answer is late
    cluster.settle()
    assert [m.text for m in alice.drain("chat")] == ["once"]
    assert not [m for m in bob.inbox if isinstance(m, p.Ok | p.Error)]  # no second reply
    cluster.auto_settle = True
    bob.send(p.Chat(room=ROOM, text="once", id="r9"))  # the client's retry
    assert [m.id for m in bob.drain() if isinstance(m, p.Ok)] == ["r9"]
    assert alice.drain("chat") == []  # applied once
    bob.send(p.Chat(room=ROOM, text="twice", id="r9"))  # another request under that id
    assert [m.text for m in alice.drain("chat")] == ["twice"]


# ------------------------------------------------------------------ faults (issue 13)
def _three_in_a_room(cluster: Cluster) -> tuple[ClusterPeer, ClusterPeer, ClusterPeer]:
    alice = cluster.peer("alice", node="a")  # a owns the room: alice joins first
    bob = cluster.peer("bob", node="b")
    carol = cluster.peer("carol", node="c")
    for peer in (alice, bob, carol):
        peer.ok(p.Join(room=ROOM))
    for peer in (alice, bob, carol):
        peer.drain()
    return alice, bob, carol


def test_an_owner_crash_is_taken_over_from_the_written_state() -> None:
    """Issue 13 item 1: the owner dies; another instance continues the room from its
    written state at a higher epoch. Members of the dead instance are ``reconnecting``
    (not gone) until their grace passes; live members get a fresh snapshot and a
    ``negotiation_reset``; relays work again at once."""
    cluster = Cluster(("a", "b", "c"))
    alice, bob, carol = _three_in_a_room(cluster)
    alice.ok(p.Lock(room=ROOM, locked=True))  # written: the next owner keeps it
    for peer in (bob, carol):
        peer.drain()
    cluster.crash("a")
    assert cluster.owners[ROOM] == ("b", 2)
    for peer in (bob, carol):
        snapshot, reset = [
            m for m in peer.drain() if isinstance(m, p.RoomSnapshot | p.NegotiationReset)
        ]
        assert isinstance(snapshot, p.RoomSnapshot) and snapshot.locked
        states = {x.user: x.state for x in snapshot.participants}
        assert states == {"alice": "reconnecting", "bob": "connected", "carol": "connected"}
        assert isinstance(reset, p.NegotiationReset) and len(reset.peers) == 2
        assert snapshot.seq is not None and reset.seq == snapshot.seq + 1  # in the stream
    taken = [e for n, e in cluster.events if isinstance(e, ev.RoomTakenOver)]
    assert [(n, e.room, e.epoch, e.previous) for n, e in cluster.events if e in taken] == [
        ("b", ROOM, 2, "a")
    ]
    bob.ok(p.Chat(room=ROOM, text="still here"))
    assert [m.text for m in carol.drain("chat")] == ["still here"]
    cluster.advance(cluster.servers["b"].config.reconnect_grace + 1.0)
    left = carol.drain("participant_left")
    assert [m.reason for m in left] == ["disconnected"]
    assert {x.user for x in cluster.servers["b"].room(ROOM).participants.values()} == {
        "bob",
        "carol",
    }  # type: ignore[union-attr]


def test_a_resume_toward_a_dead_instance_fails_at_once() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    cluster.crash("a")
    again = cluster.peer("alice", node="b", hello=False)
    reply = again.request(p.Hello(version=1, resume=alice.welcome.resume_token))
    assert isinstance(reply, p.Error) and reply.code == "resume_failed"
    assert isinstance(again.request(p.Hello(version=1)), p.Welcome)  # a fresh one works


def test_a_closed_room_is_not_brought_back_by_the_next_owner() -> None:
    cluster = Cluster(("a", "b"))
    alice = cluster.peer("alice", node="a")
    alice.ok(p.Join(room=ROOM))
    cluster.dispatch("a", cluster.servers["a"].close_room(ROOM, cluster.clock.now))
    assert decode_state(cluster.states[ROOM]).closed
    bob = cluster.peer("bob", node="b")
    snapshot = bob.ok(p.Join(room=ROOM))
    assert [x.user for x in snapshot.participants] == ["bob"]


def test_a_paused_owner_that_resumes_is_fenced_then_rejoins() -> None:
    """Issue 13 item 2: an owner paused past its lease (a zombie). What it sent just
    before the pause arrives after the takeover and is dropped by the edges that saw the
    new epoch (counted); once running again it does not act on its old rooms (its lease
    lapsed: ``backplane_unavailable``), and once it learns the lease was lost it gives
    them up and rejoins as a normal instance."""
    cluster = Cluster(("a", "b", "c"))
    alice, bob, carol = _three_in_a_room(cluster)
    cluster.auto_settle = False
    alice.send(p.Chat(room=ROOM, text="late", id="z0"))  # a acts, its tells still queued
    late = [entry for entry in cluster.queue if entry[0] != "a"]
    cluster.queue = [entry for entry in cluster.queue if entry[0] == "a"]
    cluster.pause("a")
    cluster.settle()
    assert cluster.owners[ROOM] == ("b", 2)
    cluster.queue.extend(late)  # the zombie's last frames arrive after the takeover
    cluster.settle()
    cluster.auto_settle = True
    assert cluster.servers["b"].fenced_drops + cluster.servers["c"].fenced_drops >= 1
    assert bob.drain("chat") == [] and carol.drain("chat") == []
    for peer in (bob, carol):
        peer.drain()
    cluster.resume("a")
    refused = alice.request(p.Lock(room=ROOM, locked=True))  # a must not act any more
    assert isinstance(refused, p.Error) and refused.code == "backplane_unavailable"
    assert bob.drain("room_updated") == [] and carol.drain("room_updated") == []
    cluster.lease_lost("a")
    assert not cluster.servers["a"].owns(ROOM) and cluster.servers["a"].room(ROOM) is None
    updated = [m.participant for m in bob.drain("participant_updated")]
    assert [(x.user, x.state) for x in updated] == [("alice", "connected")]  # back
    dora = cluster.peer("dora", node="a")  # a rejoined: its clients reach the new owner
    dora.ok(p.Join(room=ROOM))
    assert "dora" in [m.participant.user for m in bob.drain("participant_joined")]
