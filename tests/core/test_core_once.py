"""Exactly-once requests across reconnects: a re-sent request gets its first reply."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal.core import ServerConfig
from rtcsignal.protocol import ErrorCode
from rtcsignal.testing import Harness, Peer


def chats(peer: Peer) -> list[str]:
    return [c.text for c in peer.drain("chat")]


def replies(peer: Peer, rid: object) -> list[p.ServerMessage]:
    got = [m for m in peer.inbox if isinstance(m, p.Ok | p.Error) and m.id == rid]
    for m in got:
        peer.inbox.remove(m)
    return got


def two_in_a_room(config: ServerConfig | None = None) -> tuple[Harness, Peer, Peer]:
    h = Harness(config)
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1"))
    bob.ok(p.Join(room="room1"))
    alice.drain()
    bob.drain()
    return h, alice, bob


def test_a_request_resent_after_resume_is_answered_not_applied_again() -> None:
    _h, alice, bob = two_in_a_room()
    alice.send(p.Chat(id=7, room="room1", text="brb"))
    assert [m.id for m in replies(alice, 7)] == [7]  # then the socket drops: reply lost
    alice.drop()
    alice2 = alice.resume()
    alice2.send(p.Chat(id=7, room="room1", text="brb"))
    assert replies(alice2, 7) == [p.Ok(id=7)]
    assert chats(bob) == ["brb"]
    assert alice2.drain("chat") == []  # no second copy for the sender either


def test_the_original_result_and_the_original_error_come_back() -> None:
    h = Harness()
    alice = h.peer("alice")
    alice.send(p.Chat(id="c1", room="room1", text="too early"))
    (first,) = replies(alice, "c1")
    assert isinstance(first, p.Error) and first.code == ErrorCode.NOT_IN_ROOM
    alice.send(p.Join(id="j1", room="room1", name="Alice"))
    (joined,) = replies(alice, "j1")
    assert isinstance(joined, p.Ok) and isinstance(joined.result, p.RoomSnapshot)
    alice.drop()
    alice2 = alice.resume()
    alice2.send(p.Join(id="j1", room="room1", name="Alice"))
    assert replies(alice2, "j1") == [joined]  # not already_in_room: the same snapshot
    alice2.send(p.Chat(id="c1", room="room1", text="too early"))
    assert replies(alice2, "c1") == [first]  # the same error, though it is a member now


def test_a_call_invite_resent_rings_once() -> None:
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    invite = p.CallInvite(id=3, to=("bob",))
    alice.send(invite)
    (ok,) = replies(alice, 3)
    assert isinstance(ok, p.Ok) and isinstance(ok.result, p.CallInfo)
    alice.drop()
    alice2 = alice.resume()
    alice2.send(invite)
    assert replies(alice2, 3) == [ok]
    assert len(bob.drain("incoming_call")) == 1
    assert len(h.server.calls) == 1


def test_an_id_reused_for_another_request_is_a_new_request() -> None:
    _h, alice, bob = two_in_a_room()
    alice.send(p.Chat(id=1, room="room1", text="one"))
    replies(alice, 1)
    alice.send(p.Chat(id=1, room="room1", text="two"))  # clients that reuse ids still work
    assert replies(alice, 1) == [p.Ok(id=1)]
    assert chats(bob) == ["one", "two"]
    alice.drop()
    alice2 = alice.resume()
    alice2.send(p.Chat(id=1, room="room1", text="one"))  # replaced by "two": applied
    alice2.send(p.Chat(id=1, room="room1", text="one"))  # same connection: applied
    assert chats(bob) == ["one", "one"]


def test_the_same_request_repeated_on_its_connection_is_applied_again() -> None:
    """Only a re-send on a later connection is deduplicated: on the connection the
    request came on, its reply cannot have been lost."""
    _h, alice, bob = two_in_a_room()
    for _ in range(2):
        alice.send(p.Chat(id=4, room="room1", text="again"))
    assert chats(bob) == ["again", "again"]
    alice.drop()
    alice2 = alice.resume()
    alice2.send(p.Chat(id=4, room="room1", text="again"))
    assert replies(alice2, 4) == [p.Ok(id=4)]
    assert chats(bob) == []


def test_field_order_and_codec_do_not_make_another_request() -> None:
    h, alice, bob = two_in_a_room()
    alice.send_raw('{"type": "chat", "room": "room1", "text": "x", "id": 5}')
    replies(alice, 5)
    alice.drop()
    alice2 = alice.resume()
    alice2.send_raw('{"id": 5, "text": "x", "type": "chat", "room": "room1"}')
    assert replies(alice2, 5) == [p.Ok(id=5)]
    alice2.drop()
    alice3 = Harness.peer(h, "alice", hello=False, binary=True)
    assert alice2.welcome is not None
    alice3.send(p.Hello(id="h", version=1, resume=alice2.welcome.resume_token))
    alice3.send(p.Chat(id=5, room="room1", text="x"))
    assert replies(alice3, 5) == [p.Ok(id=5)]
    assert chats(bob) == ["x"]


def test_requests_without_id_and_pings_are_not_remembered() -> None:
    h, alice, bob = two_in_a_room()
    alice.send(p.Chat(room="room1", text="no id"))
    alice.send(p.Chat(room="room1", text="no id"))
    assert chats(bob) == ["no id", "no id"]
    alice.send(p.Ping(id=9))
    alice.send(p.Ping(id=9))
    assert [type(m) for m in alice.drain("pong")] == [p.Pong, p.Pong]
    session = h.server.session_of(alice.conn)
    assert session is not None and list(session.answered) == ["r2"]  # the join only


def test_remembered_replies_are_bounded_like_the_replay_buffer() -> None:
    h, alice, bob = two_in_a_room(ServerConfig(replay_events=2))
    for i in range(3):
        alice.send(p.Chat(id=i, room="room1", text=str(i)))
        replies(alice, i)
    session = h.server.session_of(alice.conn)
    assert session is not None and list(session.answered) == [1, 2]
    alice.drop()
    alice2 = alice.resume()
    alice2.send(p.Chat(id=0, room="room1", text="0"))  # forgotten: applied again
    alice2.send(p.Chat(id=2, room="room1", text="2"))  # remembered: answered only
    assert chats(bob) == ["0", "1", "2", "0"]


def test_remembered_replies_are_bounded_in_bytes() -> None:
    config = ServerConfig(replay_bytes=200)
    h, alice, _bob = two_in_a_room(config)
    for i in range(5):
        alice.send(p.Chat(id=i, room="room1", text=str(i)))
    session = h.server.session_of(alice.conn)
    assert session is not None
    assert 0 < len(session.answered) < 5 and session.answered_bytes <= 200
    assert list(session.answered)[-1] == 4


def test_a_new_session_remembers_nothing() -> None:
    h, alice, bob = two_in_a_room()
    alice.send(p.Chat(id=1, room="room1", text="a"))
    fresh = h.peer("alice")
    fresh.ok(p.Join(room="room1"))
    chats(bob)
    fresh.send(p.Chat(id=1, room="room1", text="a"))
    assert replies(fresh, 1) == [p.Ok(id=1)]
    assert chats(bob) == ["a"]


# ---------------------------------------------------------------- the property

_ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.booleans(), st.booleans()),  # arrives?, reply kept?
        st.tuples(st.just("bad"), st.booleans(), st.booleans()),  # a request refused
        st.tuples(st.just("drop"), st.just(False), st.just(False)),
        st.tuples(st.just("resume"), st.booleans(), st.booleans()),  # then re-send all
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_ACTIONS)
def test_every_request_is_applied_at_most_once_and_answered_exactly_once(
    actions: list[tuple[str, bool, bool]],
) -> None:
    """A client that re-sends every unanswered request after each resume (as the clients
    do), over drops, frames lost on the way in and replies lost on the way out (each loss
    is the connection dying): each request is applied at most once, every reply it gets
    is the same one, and in the end each is answered and applied exactly once when ``ok``."""
    h, alice, bob = two_in_a_room(ServerConfig(reconnect_grace=10_000.0))
    state: dict[str, Peer | None] = {"peer": alice, "last": alice}
    sent: dict[int, p.Request] = {}  # every request the client made, by id
    unanswered: list[int] = []
    answers: dict[int, p.ServerMessage] = {}

    def drop() -> None:
        peer = state["peer"]
        assert peer is not None
        peer.drop()
        peer.inbox.clear()
        state["last"], state["peer"] = peer, None

    def transmit(rid: int, arrives: bool, reply_kept: bool) -> None:
        peer = state["peer"]
        assert peer is not None
        h.clock.now += 3.0  # within the chat rate limit; no timer is ticked
        if not arrives:  # lost on the way in: the connection is dead
            drop()
            return
        peer.send(sent[rid])
        got = replies(peer, rid)
        assert len(got) == 1, f"one reply per frame, got {got!r}"
        if not reply_kept:  # lost on the way out, with the connection
            drop()
            return
        if rid in answers:
            assert answers[rid] == got[0], "a re-send got another reply"
        answers[rid] = got[0]
        unanswered.remove(rid)

    def resume(arrives: bool = True, reply_kept: bool = True) -> None:
        last = state["last"]
        assert last is not None and state["peer"] is None
        state["peer"] = peer = last.resume()
        peer.inbox.clear()
        for i, rid in enumerate(list(unanswered)):
            first = i == 0  # the losses, if any, hit the first re-send
            transmit(rid, arrives or not first, reply_kept or not first)
            if state["peer"] is None:
                return

    next_id = 100
    for kind, arrives, reply_kept in actions:
        if kind in ("send", "bad") and state["peer"] is not None:
            rid, next_id = next_id, next_id + 1
            room = "room1" if kind == "send" else "nowhere"
            sent[rid] = p.Chat(id=rid, room=room, text=f"m{rid}")
            unanswered.append(rid)
            transmit(rid, arrives, reply_kept)
        elif kind == "drop" and state["peer"] is not None:
            drop()
        elif kind == "resume" and state["peer"] is None:
            resume(arrives, reply_kept)
    for _ in range(2):  # at the end the network holds
        if state["peer"] is None:
            resume()
    assert state["peer"] is not None
    for rid in list(unanswered):
        transmit(rid, True, True)
    applied = [c.text for c in bob.drain("chat")]
    assert len(applied) == len(set(applied)), "a request was applied twice"
    assert not unanswered and set(answers) == set(sent)
    for rid, message in sent.items():
        reply = answers[rid]
        if msgspec.structs.asdict(message)["room"] == "room1":
            assert reply == p.Ok(id=rid) and f"m{rid}" in applied
        else:
            assert isinstance(reply, p.Error) and reply.code == ErrorCode.NOT_IN_ROOM
            assert f"m{rid}" not in applied
