"""The edge / room-host seam: every value that crosses it survives its encoding, and a
server whose values cross encoded (``seam="loopback"``) behaves exactly like one whose
values cross as they are."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, CANDIDATE, OFFER
from rtcsignal.core import (
    DuplicatePolicy,
    Identity,
    JoinPolicy,
    RoomPolicy,
    Seam,
    Server,
    ServerConfig,
)
from rtcsignal.core import events as ev
from rtcsignal.core import seam as s
from rtcsignal.protocol import Role, UsageError
from rtcsignal.testing import CountingIds

SENDER = s.Sender(session="s1", user="alice", name="Alice", grants={"room1": Role.HOST})

INPUTS: list[s.HostInput] = [
    s.RoomCall(room="room1", sender=SENDER, joined=2, request=p.Join(room="room1", id=7), at=1.5),
    s.RoomCall(
        room="room1",
        sender=SENDER,
        joined=0,
        request=p.Offer(room="room1", to="x", sdp=OFFER),
        at=2,
    ),
    s.RoomCall(
        room=None,
        sender=s.Sender(session="s2", user="bob"),
        joined=1,
        request=p.CallInvite(to=("alice",), id="c"),
        at=3.0,
    ),
    s.Presence(room="room1", session="s1", state="reconnecting", at=4.0),
    s.Depart(room="room1", session="s1", reason="disconnected", at=5.0),
    s.Snapshot(room="room1", session="s1", at=6.0),
    s.UserSeen(user="alice", session="s1", at=7.0),
    s.OpenRoom(
        room="room2",
        policy=RoomPolicy(
            join=JoinPolicy.INVITE,
            allowed_users=frozenset({"alice", "bob"}),
            invite_tokens=frozenset({"t0k"}),
            capacity=4,
            duplicate=DuplicatePolicy.REPLACE,
            idle_timeout=12.5,
            default_role=Role.GUEST,
            call="c1",
        ),
        at=8.0,
    ),
    s.ShutRoom(room="room2", at=9.0),
    s.Expire(room="room2", at=10.0),
    s.TickCalls(at=11.0),
    s.Evict(room="room1", participant="p1", message="spam", at=12.0),
    s.EndCall(call="c1", reason="failed", at=13.0),
    s.SetPolicy(room="room1", policy=RoomPolicy(capacity=3), at=14.0),
    s.Invite(room="room1", users=frozenset({"carol"}), tokens=frozenset({"t1"}), at=14.5),
    s.Say(room="room1", app_type="acme.note", payload={"a": [1, 2]}, to="p2", at=15.0),
]


def test_every_kind_of_input_and_event_is_in_the_unions() -> None:
    inputs = {type(v) for v in INPUTS}
    assert inputs == set(typing.get_args(s.HostInput))
    events = {
        getattr(ev, name)
        for name in ev.__all__
        if name != "ObserverEvent" and isinstance(getattr(ev, name), type)
    }
    assert events == set(typing.get_args(s.AnyEvent))


OUTPUTS: list[s.RoomOutput] = [
    s.RoomOutput(reply=p.Ok(id=1), ops=[]),
    s.RoomOutput(
        refused=s.Refusal(
            code=p.ErrorCode.RATE_LIMITED, message="slow", details={"k": [1, "a"]}, retry_after=0.5
        )
    ),
    s.RoomOutput(
        ops=[
            s.Deliver(
                sessions=("s1", "s2"), message=p.Offer(room="room1", to="x", sdp=OFFER), from_="y"
            ),
            s.ToUser(user="bob", message=p.Typing(room="room1", typing=True), except_session="s3"),
            s.Joined(session="s1", room="room1", pid="p1"),
            s.Left(session="s1", room="room1", pid="p1"),
            s.CloseSession(session="s4"),
            s.Emit(event=ev.RoomCreated(at=1.0, room="room1")),
            s.Emit(event=ev.StatsReported(at=1.0, room="room1", participant="p1", report={"a": 1})),
            s.Emit(
                event=ev.MemberLeft(
                    at=2.0, room="room1", participant="p1", user="alice", reason="left"
                )
            ),
        ]
    ),
]


@pytest.mark.parametrize("value", INPUTS, ids=lambda v: type(v).__name__)
def test_every_input_kind_survives_its_encoding(value: s.HostInput) -> None:
    data = s.encode_input(value)
    assert isinstance(data, bytes)
    assert s.decode_input(data) == value


@pytest.mark.parametrize("value", OUTPUTS, ids=range(len(OUTPUTS)))
def test_every_output_kind_survives_its_encoding(value: s.RoomOutput) -> None:
    assert s.decode_output(s.encode_output(value)) == value


def test_an_input_that_is_not_one_is_a_typed_decode_error() -> None:
    with pytest.raises(msgspec.ValidationError):
        s.decode_input(msgspec.msgpack.encode({"in": "nope", "at": 1.0}))
    with pytest.raises(msgspec.DecodeError):
        s.decode_output(b"\xc1")


def test_the_sender_knows_its_grants_like_the_identity() -> None:
    both = s.Sender(session="s", user="u", grants={"*": Role.MODERATOR, "r": Role.HOST})
    assert both.grant_for("r") is Role.HOST and both.grant_for("other") is Role.MODERATOR
    assert s.Sender(session="s", user="u").grant_for("r") is None


def test_an_unknown_seam_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="seam"):
        Server(id_factory=CountingIds(), seam="carrier-pigeon")  # type: ignore[arg-type]


# ---------------------------------------------------------------- direct == loopback
USERS = ("alice", "bob", "carol")
ROOMS = ("room1", "room2")

step = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("leave"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("chat"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("media"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("offer"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("answer"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("candidate"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("kick"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("ban"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("unban"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("update_me"), st.sampled_from(USERS), st.sampled_from(ROOMS)),
    st.tuples(st.just("invite"), st.sampled_from(USERS), st.sampled_from(USERS)),
    st.tuples(st.just("accept"), st.sampled_from(USERS), st.just("")),
    st.tuples(st.just("hangup"), st.sampled_from(USERS), st.just("")),
    st.tuples(st.just("drop"), st.sampled_from(USERS), st.just("")),
    st.tuples(st.just("resume"), st.sampled_from(USERS), st.just("")),
    st.tuples(st.just("garbage"), st.sampled_from(USERS), st.just("")),
    st.tuples(st.just("wait"), st.sampled_from(("1", "20", "100")), st.just("")),
)


class _World:
    """Clients driving one server over its public API, recording every effect."""

    def __init__(self, seam: Seam) -> None:
        config = ServerConfig(ring_timeout=30.0, reconnect_grace=15.0, ping_timeout=60.0)
        self.server = Server(config, id_factory=CountingIds(), seam=seam)
        self.now = 0.0
        self.log: list[Any] = []
        self.conn: dict[str, str | None] = {}
        self.token: dict[str, str] = {}
        for user in USERS:
            self._hello(user, None)

    def _hello(self, user: str, token: str | None) -> None:
        # carol is a hidden recorder and may not update her profile: grants that the
        # room host learns only through the seam's Sender
        hidden = user == "carol"
        identity = Identity(user=user, hidden=hidden, can_update_metadata=not hidden)
        conn = self.server.connect(identity, self.now)
        self.conn[user] = conn
        hello = p.Hello(version=1, id="h", resume=token)
        for effect in self._feed(conn, hello):
            if getattr(effect, "conn", None) == conn and getattr(effect, "data", None):
                reply = p.decode_server(effect.data.decode())
                if isinstance(reply, p.Welcome):
                    self.token[user] = reply.resume_token

    def _feed(self, conn: str, msg: Any) -> list[Any]:
        fx = self.server.receive(conn, p.encode(msg, p.Format.JSON).decode(), self.now)
        self.log.extend(fx)
        return fx

    def _pid(self, user: str, room: str) -> str | None:
        live = self.server.room(room)
        if live is None:
            return None
        return next((m.id for m in live.participants.values() if m.user == user), None)

    def _peer(self, user: str, room: str) -> str:
        live = self.server.room(room)
        others = [m.id for m in live.participants.values() if m.user != user] if live else []
        return others[0] if others else "nobody"

    def _call(self) -> str:
        calls = sorted(r.id for r in self.server.calls.calls_of("alice")) + sorted(
            r.id for u in USERS for r in self.server.calls.calls_of(u)
        )
        return calls[0] if calls else "none"

    def run(self, kind: str, user: str, arg: str) -> None:
        if kind == "wait":
            target = self.now + float(user)
            while (d := self.server.next_deadline()) is not None and d <= target:
                self.now = max(self.now, d)
                self.log.extend(self.server.tick(self.now))
            self.now = target
            return
        self.now += 0.25
        conn = self.conn[user]
        if kind == "resume":
            if conn is None and user in self.token:
                self._hello(user, self.token[user])
            return
        if conn is None:
            return
        if kind == "drop":
            self.log.extend(self.server.disconnect(conn, self.now))
            self.conn[user] = None
            return
        if kind == "garbage":
            self.log.extend(self.server.receive(conn, '{"type": "join", "room": 5}', self.now))
            return
        room = arg
        msg: p.Request = {
            "join": lambda: p.Join(room=room, id=1),
            "leave": lambda: p.Leave(room=room, id=2),
            "chat": lambda: p.Chat(room=room, text="hi", id=3),
            "media": lambda: p.MediaState(room=room, audio=True, id=4),
            "offer": lambda: p.Offer(room=room, to=self._peer(user, room), sdp=OFFER, id=5),
            "answer": lambda: p.Answer(room=room, to=self._peer(user, room), sdp=ANSWER, id=6),
            "candidate": lambda: p.Candidate(
                room=room, to=self._peer(user, room), candidate=CANDIDATE, sdp_mid="0", id=7
            ),
            "kick": lambda: p.Kick(room=room, target=self._peer(user, room), id=8),
            "ban": lambda: p.Kick(
                room=room, target=self._peer(user, room), ban=True, duration=30.0, id=12
            ),
            "unban": lambda: p.Unban(room=room, user="bob", id=13),
            "update_me": lambda: p.UpdateMe(room=room, name="N", metadata={"k": 1}, id=14),
            "invite": lambda: p.CallInvite(to=(arg,), id=9),
            "accept": lambda: p.CallAccept(call=self._call(), id=10),
            "hangup": lambda: p.CallHangup(call=self._call(), id=11),
        }[kind]()
        self._feed(conn, msg)


@given(st.lists(step, max_size=40))
def test_the_loopback_seam_changes_nothing(steps: list[tuple[str, str, str]]) -> None:
    direct, loopback = _World("direct"), _World("loopback")
    for kind, user, arg in steps:
        direct.run(kind, user, arg)
        loopback.run(kind, user, arg)
        assert loopback.log == direct.log
    assert loopback.server.stats() == direct.server.stats()
    assert loopback.server.next_deadline() == direct.server.next_deadline()


def test_servers_use_the_seam_the_suite_runs_with(request: pytest.FixtureRequest) -> None:
    # `pytest --seam loopback` (nox -s tests runs tests/core and tests/runtime so) must
    # put every Server of the run behind the loopback, not only those that ask for it.
    server = Server(id_factory=CountingIds())
    direct = server._link == server._host.handle
    assert direct is (request.config.getoption("--seam") == "direct")
