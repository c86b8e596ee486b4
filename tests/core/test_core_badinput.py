"""Arbitrary bytes and well-typed-but-wrong messages fed to ``Server.receive``: only typed
errors come out, nothing escapes, and state is untouched (issue 2, section 4)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, CANDIDATE
from rtcsignal.core import Close, Send
from rtcsignal.protocol import ErrorCode
from rtcsignal.testing import Harness, Peer

_EXPECTED = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL_ERROR.value}


def _world() -> tuple[Harness, Peer, dict[str, str]]:
    h = Harness()
    host, mallory, other = h.peer("host"), h.peer("mallory"), h.peer("other")
    pids = {}
    for name, peer in (("host", host), ("mallory", mallory), ("other", other)):
        pids[name] = peer.ok(p.Join(room="room1")).you
    h.peer("bystander").ok(p.Join(room="room2"))
    host.ok(p.Chat(room="room1", text="hello"))
    for peer in h.peers.values():
        peer.drain()
    h.events.clear()
    return h, mallory, pids


def _fingerprint(h: Harness) -> Any:
    s = h.server
    rooms = {
        rid: (
            tuple(
                (x.id, x.session, x.role, x.state, x.audio, x.video, x.hand)
                for x in e.room.participants.values()
            ),
            e.room.host,
            e.room.locked,
            e.room.layout,
            e.room.recording,
            tuple(e.room.lobby_ids()),
            len(e.room.snapshot(next(iter(e.room.participants)), 0.0).chat),
            len(e.neg),
        )
        for rid, e in s._host._rooms.items()
    }
    sessions = {sid: (x.conn, tuple(x.rooms.items())) for sid, x in s._edge.sessions.items()}
    seats = {rid: tuple(e.room.seats()) for rid, e in s._host._rooms.items()}
    return rooms, sessions, seats, len(s.calls), s.stats()


def _check(h: Harness, mallory: Peer, effects: list[Any], before: Any) -> None:
    for effect in effects:
        if isinstance(effect, Send):
            assert effect.conn == mallory.conn, "another client was affected"
            message = p.decode_server(effect.data.decode() if effect.text else effect.data)
            assert isinstance(message, p.Error), message
            assert message.code in _EXPECTED, message
        else:
            assert not isinstance(effect, Close), effect
            assert type(effect).__name__ in {"RequestRejected", "RateLimitDenied"}, effect
    assert _fingerprint(h) == before


@given(st.binary(max_size=512) | st.text(max_size=512))
def test_arbitrary_frames_only_typed_errors_and_no_change(data: bytes | str) -> None:
    h, mallory, _ = _world()
    before = _fingerprint(h)
    _check(h, mallory, h.server.receive(mallory.conn, data, h.clock.now), before)


_ROOMS = st.sampled_from(["room2", "nowhere", "room1"])


def _wrong_messages(pids: dict[str, str]) -> st.SearchStrategy[p.Request]:
    """Messages that are well-typed but must be refused for mallory, a plain participant
    of room1: wrong rooms, strangers, unauthorized moderation, bad negotiation."""
    target = st.sampled_from([pids["host"], pids["other"], "nobody"])
    not_mine = st.sampled_from(["room2", "nowhere"])
    return st.one_of(
        st.builds(p.Hello, version=st.integers(0, 5)),
        st.builds(p.Join, room=st.just("room1")),
        st.builds(p.Leave, room=not_mine),
        st.builds(p.Mute, room=_ROOMS, target=target),
        st.builds(p.Kick, room=_ROOMS, target=target),
        st.builds(p.TransferHost, room=_ROOMS, target=target),
        st.builds(
            p.SetRole,
            room=_ROOMS,
            target=target,
            role=st.sampled_from(["moderator", "participant", "guest"]),
        ),
        st.builds(p.Lock, room=_ROOMS, locked=st.booleans()),
        st.builds(p.Admit, room=_ROOMS, target=target, allow=st.booleans()),
        st.builds(p.SetLayout, room=_ROOMS, layout=st.just("grid")),
        st.builds(
            p.Recording, room=_ROOMS, action=st.sampled_from(["start", "stop", "pause", "resume"])
        ),
        st.builds(p.Offer, room=_ROOMS, to=target, sdp=st.text(min_size=1, max_size=200)),
        st.builds(p.Answer, room=_ROOMS, to=target, sdp=st.just(ANSWER)),
        st.builds(p.Candidate, room=_ROOMS, to=target, candidate=st.just(CANDIDATE)),
        st.builds(p.EndOfCandidates, room=_ROOMS, to=target),
        st.builds(p.Chat, room=not_mine, text=st.just("x")),
        st.builds(p.Reaction, room=not_mine, emoji=st.just("x")),
        st.builds(p.Typing, room=not_mine, typing=st.booleans()),
        st.builds(p.MediaState, room=not_mine, audio=st.booleans()),
        st.builds(p.App, room=not_mine, app_type=st.just("acme.x")),
        st.builds(p.App, room=st.just("room1"), app_type=st.just("acme.x"), to=st.just("nobody")),
        st.builds(p.Stats, room=not_mine, report=st.just({"rtt": 1})),
        st.builds(p.CallAccept, call=st.sampled_from(["c1", "nope"])),
        st.builds(p.CallDecline, call=st.just("nope")),
        st.builds(p.CallCancel, call=st.just("nope")),
        st.builds(p.CallHangup, call=st.just("nope")),
        st.builds(p.CallInvite, to=st.just(("mallory",))),
    )


@given(st.data())
def test_wrong_messages_get_typed_errors_and_change_nothing(data: st.DataObject) -> None:
    h, mallory, pids = _world()
    message = data.draw(_wrong_messages(pids))
    before = _fingerprint(h)
    for binary in (False, True):
        frame = p.encode(message, p.Format.MSGPACK if binary else p.Format.JSON)
        effects = h.server.receive(mallory.conn, frame if binary else frame.decode(), h.clock.now)
        _check(h, mallory, effects, before)
        assert any(isinstance(e, Send) for e in effects), "the refusal got no reply"
