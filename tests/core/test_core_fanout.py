"""A fan-out is encoded once per codec: every spliced frame is the bytes the
per-recipient encode writes, in the live stream, in the replay buffer and on resume."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal.core import ServerConfig
from rtcsignal.core._edge import SPLICE_FROM, Edge, splice_parts
from rtcsignal.core._effects import Send
from rtcsignal.core._identity import Identity
from rtcsignal.ratelimit import InboundLimiter, RatePolicy
from rtcsignal.testing import CountingIds, Harness

FORMATS = list(p.Format)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
ROOM = st.from_regex(r"\A[A-Za-z0-9_-]{3,20}\Z")
TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
MESSAGES: st.SearchStrategy[p.Message] = st.one_of(
    st.builds(lambda r, t: p.Chat(room=r, text=t), ROOM, TEXT),
    st.builds(
        lambda r, a, v, i: p.App(room=r, app_type=a, payload=v, id=i),
        ROOM,
        st.sampled_from(["acme.note", "x.y"]),
        JSON_VALUES,
        st.none() | st.integers(0, 99) | st.just("seq"),
    ),
    st.builds(lambda r, t: p.Typing(room=r, typing=t), ROOM, st.booleans()),
    st.builds(
        lambda r, pid, why: p.ParticipantLeft(room=r, participant=pid, reason=why),
        ROOM,
        st.text("abc0123456789", min_size=1, max_size=12),
        st.sampled_from(["left", "kicked", "disconnected", "room_closed"]),
    ),
)
SEQS = st.integers(0, 2**63 - 1)


def old_frame(message: p.Message, seq: int, fmt: p.Format, from_: str | None) -> bytes:
    """What :meth:`Edge.deliver` writes for one recipient (the per-recipient encode)."""
    if from_ is None:
        return p.encode(msgspec.structs.replace(message, seq=seq), fmt)
    return p.encode(msgspec.structs.replace(message, seq=seq, id=None, from_=from_), fmt)


@given(MESSAGES, st.lists(SEQS, min_size=1, max_size=5), st.sampled_from(FORMATS), st.booleans())
def test_a_spliced_frame_is_the_per_recipient_encode(
    message: p.Message, seqs: list[int], fmt: p.Format, relayed: bool
) -> None:
    from_ = "peer1" if relayed and hasattr(message, "from_") else None
    zero = msgspec.structs.replace(message, seq=0)
    if from_ is not None:
        zero = msgspec.structs.replace(zero, id=None, from_=from_)
    head, tail, encode = splice_parts(zero, msgspec.structs.replace(zero, seq=1), p.encoder(fmt))
    for seq in seqs:
        frame = head + encode(seq) + tail
        assert frame == old_frame(message, seq, fmt, from_)
        data = frame.decode() if fmt is p.Format.JSON else frame
        assert p.decode_server(data) == msgspec.structs.replace(zero, seq=seq)


def make_edge() -> Edge:
    return Edge(
        ServerConfig(),
        ids=CountingIds(),
        limiter=InboundLimiter(RatePolicy.default()),
        serial=itertools.count(),
    )


def sessions_on(
    edge: Edge, fmts: list[p.Format], seqs: list[int], connected: list[bool]
) -> list[str]:
    sids = []
    for i, (fmt, seq, up) in enumerate(zip(fmts, seqs, connected, strict=True)):
        conn_id = edge.connect(Identity(user=f"u{i}"), 0.0, ())
        conn = edge.conns[conn_id]
        conn.fmt = fmt
        session = edge.start_session(conn, 0.0, [])
        session.seq = seq
        if not up:
            edge.drop(conn_id, 1.0)
        sids.append(session.id)
    return sids


@given(
    MESSAGES,
    st.lists(
        st.tuples(st.sampled_from(FORMATS), st.integers(0, 2**40), st.booleans()),
        min_size=1,
        max_size=7,
    ),
    st.booleans(),
    st.integers(1, 3),
)
def test_deliver_many_writes_and_keeps_what_deliver_does(
    message: p.Message, recipients: list[tuple[p.Format, int, bool]], relayed: bool, rounds: int
) -> None:
    """Same effects and same replay buffers as one :meth:`Edge.deliver` per recipient,
    with sessions in both codecs, connected or not, and a session the edge does not hold."""
    from_ = "peer1" if relayed and hasattr(message, "from_") else None
    fmts, seqs, connected = (list(x) for x in zip(*recipients, strict=True))
    old, new = make_edge(), make_edge()
    old_sids = [*sessions_on(old, fmts, seqs, connected), "elsewhere"]
    new_sids = [*sessions_on(new, fmts, seqs, connected), "elsewhere"]
    assert old_sids == new_sids
    for _ in range(rounds):
        old_fx: list[Any] = []
        new_fx: list[Any] = []
        for sid in old_sids:
            old.deliver(sid, message, old_fx, from_)
        new.deliver_many(new_sids, message, new_fx, from_)
        assert new_fx == old_fx
    for sid in old_sids[:-1]:
        a, b = old.sessions[sid], new.sessions[sid]
        assert (b.seq, list(b.replay), b.replay_bytes) == (a.seq, list(a.replay), a.replay_bytes)


def test_the_splice_starts_at_three_recipients() -> None:
    assert SPLICE_FROM == 3


@pytest.mark.parametrize("binary", [False, True])
def test_a_room_event_fanned_out_replays_the_same_frames_on_resume(binary: bool) -> None:
    """Five peers (mixed codecs); one drops, the room chatters, it resumes: the replayed
    frames decode to what the live peers got, renumbered in its own stream."""
    h = Harness()
    peers = [h.peer(f"user{i}", binary=(i % 2 == 0) is binary) for i in range(5)]
    for peer in peers:
        peer.ok(p.Join(room="room1"))
    for peer in peers:
        peer.inbox.clear()
    peers[1].drop()
    for i in range(4):
        peers[0].send(p.Chat(room="room1", text=f"hello {i}"))
    peers[2].send(p.App(room="room1", app_type="acme.note", payload={"seq": [1, 2]}))
    live = [m for m in peers[3].inbox if isinstance(m, p.Chat | p.App)]
    assert len(live) == 5
    again = peers[1].resume()
    replayed = [m for m in again.inbox if isinstance(m, p.Chat | p.App)]
    assert [msgspec.structs.replace(m, seq=None) for m in replayed] == [
        msgspec.structs.replace(m, seq=None) for m in live
    ]
    seqs = [m.seq for m in replayed]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_sends_to_every_session_of_a_user_are_one_encode() -> None:
    edge = make_edge()
    fmts = [p.Format.JSON, p.Format.MSGPACK, p.Format.JSON, p.Format.MSGPACK]
    for i, fmt in enumerate(fmts):
        conn_id = edge.connect(Identity(user="alice"), 0.0, ())
        edge.conns[conn_id].fmt = fmt
        edge.start_session(edge.conns[conn_id], 0.0, []).seq = i
    fx: list[Any] = []
    sids = sorted(edge.sessions)
    edge.deliver_user("alice", p.Typing(room="room1", typing=True), fx, except_session=sids[1])
    sends = [e for e in fx if isinstance(e, Send)]
    assert [s.conn for s in sends] == [edge.sessions[sid].conn for sid in sids if sid != sids[1]]
    for send, sid in zip(sends, [s for s in sids if s != sids[1]], strict=True):
        session = edge.sessions[sid]
        assert send.data == old_frame(
            p.Typing(room="room1", typing=True), session.seq, session.fmt, None
        )
