"""Hypothesis state machine over the whole Server: random interleavings of joins,
duplicate joins, leaves, drops, resumes, timeouts, kicks, bans and unbans, host
transfers, profile updates, hidden joins, chat, negotiation and calls, and requests whose
reply a drop lost re-sent after the resume, with the core's invariants checked after
every step."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, OFFER
from rtcsignal.core import DuplicatePolicy, JoinPolicy, RoomPolicy, Send, ServerConfig
from rtcsignal.core._roompolicy import MAX_HIDDEN, MODERATORS
from rtcsignal.protocol import Role
from rtcsignal.ratelimit import LimitSpec, RatePolicy
from rtcsignal.testing import Harness, Peer

USERS = ["ann", "ben", "cat", "dan", "hal", "bot"]
HIDDEN = {"bot"}  # a recorder: joins every room hidden
ROOMS = ["r-open", "r-small", "r-replace", "r-lobby"]
GRANTS = {"hal": {"*": Role.HOST}}  # hal may host anywhere, and skips lobbies
POLICIES = {
    "r-open": RoomPolicy(max_seats_per_user=2),
    "r-small": RoomPolicy(capacity=2, duplicate=DuplicatePolicy.REJECT),
    "r-replace": RoomPolicy(capacity=3, duplicate=DuplicatePolicy.REPLACE),
    "r-lobby": RoomPolicy(join=JoinPolicy.LOBBY),
}

# Generous limits: this machine tests the room/call/session rules, not the limiter.
_WIDE = LimitSpec(rate=1e6, burst=1e6)


def _policy() -> RatePolicy:
    base = RatePolicy.default()
    return RatePolicy.from_dict(
        {
            **base.to_dict(),
            "connection": {"rate": 1e6, "burst": 1e6},
            "user": {"rate": 1e6, "burst": 1e6},
            "address": {"rate": 1e6, "burst": 1e6},
            "room": {"rate": 1e6, "burst": 1e6},
            "kinds": {},
            "default_kind": {"limit": {"rate": 1e6, "burst": 1e6}, "on_deny": "reject"},
        }
    )


class ServerMachine(RuleBasedStateMachine):
    """The invariants of the issue, after every step."""

    @initialize()
    def setup(self) -> None:
        config = ServerConfig(
            ring_timeout=20,
            reconnect_grace=15,
            ping_timeout=10**6,
            max_call_duration=300,
            call_warning_before=60,
            max_sessions_per_user=3,
        )
        self.h = Harness(config, rate_policy=_policy())
        for room, policy in POLICIES.items():
            self.h.dispatch(self.h.server.create_room(room, policy, self.h.clock.now))
        self.live: list[Peer] = []  # connected peers
        self.dropped: list[Peer] = []  # peers whose session may resume
        self.seqs: dict[str, int] = {}  # session -> last seq seen by its peers
        self.calls: list[str] = []
        self.host_handed_on = False  # transfer_host / set_role may move the host role
        self.once_ids = itertools.count(1)
        self.moderating: set[tuple[str, str]] = set()  # (room, pid) moderators last step
        for user in USERS[:3]:
            self.connect(user)

    # ------------------------------------------------------------------ helpers
    def _check_inbox(self, peer: Peer) -> None:
        session = peer.welcome.session if peer.welcome else None
        for message in peer.inbox:
            seq = getattr(message, "seq", None)
            if seq is not None and session is not None:
                last = self.seqs.get(session, 0)
                assert seq == last + 1, f"gap or disorder in {session}: {last} -> {seq}"
                self.seqs[session] = seq
            about = getattr(message, "participant", None)
            if getattr(about, "hidden", None) and session is not None:
                # only hosts, moderators and the hidden member itself hear of it
                room = message.room
                pid = self._session_rooms(session).get(room)
                assert pid is not None, "news of a hidden member outside the room"
                assert (
                    about.id == pid
                    or (room, pid) in self.moderating
                    or self._is_moderator(room, pid)
                ), f"{pid} in {room} was told of hidden {about.id}"
            sender = getattr(message, "from_", None)
            if sender is not None:
                mine = (
                    set(self.h.server._edge.sessions[session].rooms.values())
                    if session in self.h.server._edge.sessions
                    else set()
                )
                assert sender not in mine, "a message was echoed to its sender"
        peer.inbox.clear()

    def _session_rooms(self, session: str) -> dict[str, str]:
        found = self.h.server._edge.sessions.get(session)
        return found.rooms if found is not None else {}

    def _is_moderator(self, room_id: str, pid: str) -> bool:
        entry = self.h.server._host._rooms.get(room_id)
        member = entry.room.participants.get(pid) if entry is not None else None
        return member is not None and member.role in MODERATORS

    def _pid(self, peer: Peer, room: str) -> str | None:
        session = self.h.server.session_of(peer.conn)
        return session.rooms.get(room) if session else None

    # ------------------------------------------------------------------ rules
    def _hello(self, user: str) -> Peer | None:
        """A new session for ``user``, or ``None`` when all its sessions are connected."""
        peer = self.h.peer(user, hello=False, grants=GRANTS.get(user), hidden=user in HIDDEN)
        reply = peer.request(p.Hello(version=1))
        if isinstance(reply, p.Error):
            assert reply.code == "too_many_sessions", reply
            assert len(self._sessions_of(user)) == self.h.server.config.max_sessions_per_user
            peer.drop()
            return None
        assert isinstance(reply, p.Welcome)
        peer.welcome = reply
        return peer

    def _sessions_of(self, user: str) -> list[str]:
        return [sid for sid, s in self.h.server._edge.sessions.items() if s.user == user]

    @rule(user=st.sampled_from(USERS))
    def connect(self, user: str) -> None:
        if len(self.live) < 8:
            peer = self._hello(user)
            if peer is not None:
                self.live.append(peer)
                self._check_inbox(peer)

    @rule(user=st.sampled_from(USERS), room=st.sampled_from(ROOMS))
    def join_and_drop(self, user: str, room: str) -> None:
        """The ghost-session attack: connect, join, drop the socket, again and again."""
        peer = self._hello(user)
        if peer is None:
            return
        reply = peer.request(p.Join(room=room))
        if isinstance(reply, p.Error):
            allowed = {"room_full", "already_joined", "too_many_seats", "banned"}
            assert reply.code in allowed, reply
        peer.drop()
        self._check_inbox(peer)
        self.dropped.append(peer)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 7), room=st.sampled_from(ROOMS))
    def join(self, i: int, room: str) -> None:
        peer = self.live[i % len(self.live)]
        reply = peer.request(p.Join(room=room))
        assert isinstance(reply, p.Ok | p.Error)
        if isinstance(reply, p.Error):
            allowed = {
                "room_full",
                "already_joined",
                "already_in_room",
                "too_many_rooms",
                "too_many_seats",
                "banned",
            }
            assert reply.code in allowed, reply

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 7), room=st.sampled_from(ROOMS))
    def leave(self, i: int, room: str) -> None:
        peer = self.live[i % len(self.live)]
        reply = peer.request(p.Leave(room=room))
        assert isinstance(reply, p.Ok) == (self._pid(peer, room) is None) or True

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 7))
    def drop(self, i: int) -> None:
        peer = self.live.pop(i % len(self.live))
        peer.drop()
        self._check_inbox(peer)
        self.dropped.append(peer)

    @precondition(lambda self: self.dropped)
    @rule(i=st.integers(0, 7))
    def resume(self, i: int) -> None:
        old = self.dropped.pop(i % len(self.dropped))
        session = old.welcome.session if old.welcome else ""
        new = old.resume(last_seq=self.seqs.get(session, 0))
        if new.welcome is not None:
            self.live.append(new)
            self._check_inbox(new)
        else:
            assert new.inbox and isinstance(new.inbox[0], p.Error)
            assert new.inbox[0].code == "resume_failed"
            new.inbox.clear()

    @precondition(lambda self: self.live)
    @rule(
        i=st.integers(0, 7),
        room=st.sampled_from(ROOMS),
        kind=st.sampled_from(["join", "leave", "chat", "kick", "call_invite"]),
    )
    def request_lost_then_resent(self, i: int, room: str, kind: str) -> None:
        """A request is applied, its reply dies with the connection, the session resumes
        and the client re-sends the same frame: it gets the same reply and nothing else
        happens (no event for anyone, no state change)."""
        peer = self.live.pop(i % len(self.live))
        other = self.live[0] if self.live else None
        message: p.Request = {
            "join": p.Join(room=room),
            "leave": p.Leave(room=room),
            "chat": p.Chat(room=room, text="once"),
            "kick": p.Kick(room=room, target=(other and self._pid(other, room)) or "nobody"),
            "call_invite": p.CallInvite(to=(USERS[i % len(USERS)],)),
        }[kind]
        rid = f"once-{next(self.once_ids)}"
        fmt = p.Format.MSGPACK if peer.binary else p.Format.JSON
        encoded = p.encode(msgspec.structs.replace(message, id=rid), fmt)
        frame: bytes | str = encoded if peer.binary else encoded.decode()
        peer.send_raw(frame)
        first = [m for m in peer.inbox if isinstance(m, p.Ok | p.Error) and m.id == rid]
        assert len(first) == 1, first
        peer.inbox.remove(first[0])
        if peer.closed is None:
            peer.drop()
        self._check_inbox(peer)
        session = peer.welcome.session if peer.welcome else ""
        new = peer.resume(last_seq=self.seqs.get(session, 0))
        if new.welcome is None:  # the request ended its own session (a replacing join)
            new.inbox.clear()
            return
        self._check_inbox(new)
        self.live.append(new)
        stats = self.h.server.stats()
        fx = self.h.server.receive(new.conn, frame, self.h.clock.now)
        assert len(fx) == 1 and isinstance(fx[0], Send), fx
        data = fx[0].data.decode() if fx[0].text else fx[0].data
        assert p.decode_server(data) == first[0]
        assert self.h.server.stats() == stats

    @rule(seconds=st.sampled_from([0.5, 5.0, 16.0, 61.0, 400.0, 7300.0]))
    def wait(self, seconds: float) -> None:
        self.h.advance(seconds)

    @precondition(lambda self: len(self.live) >= 2)
    @rule(
        i=st.integers(0, 7),
        j=st.integers(0, 7),
        room=st.sampled_from(ROOMS),
        action=st.sampled_from(["kick", "transfer_host", "moderator", "mute"]),
    )
    def moderate(self, i: int, j: int, room: str, action: str) -> None:
        actor, target = self.live[i % len(self.live)], self.live[j % len(self.live)]
        target_pid = self._pid(target, room) or "nobody"
        message: p.Request
        if action in ("transfer_host", "moderator"):
            self.host_handed_on = True
        if action == "kick":
            message = p.Kick(room=room, target=target_pid)
        elif action == "transfer_host":
            message = p.TransferHost(room=room, target=target_pid)
        elif action == "moderator":
            message = p.SetRole(room=room, target=target_pid, role="moderator")
        else:
            message = p.Mute(room=room, target=target_pid)
        actor.request(message)

    @precondition(lambda self: len(self.live) >= 2)
    @rule(
        i=st.integers(0, 7),
        j=st.integers(0, 7),
        room=st.sampled_from(ROOMS),
        duration=st.sampled_from([None, 10.0]),
    )
    def ban(self, i: int, j: int, room: str, duration: float | None) -> None:
        actor, target = self.live[i % len(self.live)], self.live[j % len(self.live)]
        target_pid = self._pid(target, room) or "nobody"
        reply = actor.request(p.Kick(room=room, target=target_pid, ban=True, duration=duration))
        if isinstance(reply, p.Error):
            allowed = {"forbidden", "not_in_room", "unknown_participant", "invalid_state"}
            assert reply.code in allowed, reply

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 7), user=st.sampled_from(USERS), room=st.sampled_from(ROOMS))
    def unban(self, i: int, user: str, room: str) -> None:
        reply = self.live[i % len(self.live)].request(p.Unban(room=room, user=user))
        if isinstance(reply, p.Error):
            assert reply.code in {"forbidden", "not_in_room", "unknown_participant"}, reply

    @precondition(lambda self: self.live)
    @rule(
        i=st.integers(0, 7),
        room=st.sampled_from(ROOMS),
        name=st.sampled_from([None, "Ann", "Zed"]),
        metadata=st.sampled_from([None, {}, {"status": "away"}]),
    )
    def update_me(
        self, i: int, room: str, name: str | None, metadata: dict[str, str] | None
    ) -> None:
        message = p.UpdateMe(room=room, name=name, metadata=metadata)
        reply = self.live[i % len(self.live)].request(message)
        if isinstance(reply, p.Error):
            assert reply.code in {"forbidden", "not_in_room"}, reply

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 7), room=st.sampled_from(ROOMS))
    def chat(self, i: int, room: str) -> None:
        self.live[i % len(self.live)].request(p.Chat(room=room, text="hi"))

    @precondition(lambda self: len(self.live) >= 2)
    @rule(
        i=st.integers(0, 7),
        j=st.integers(0, 7),
        room=st.sampled_from(ROOMS),
        kind=st.sampled_from(["offer", "answer"]),
    )
    def negotiate(self, i: int, j: int, room: str, kind: str) -> None:
        sender, target = self.live[i % len(self.live)], self.live[j % len(self.live)]
        to = self._pid(target, room) or "nobody"
        message = (
            p.Offer(room=room, to=to, sdp=OFFER)
            if kind == "offer"
            else p.Answer(room=room, to=to, sdp=ANSWER)
        )
        sender.request(message)

    @precondition(lambda self: len(self.live) >= 2)
    @rule(i=st.integers(0, 7), j=st.integers(0, 7))
    def call(self, i: int, j: int) -> None:
        caller, callee = self.live[i % len(self.live)], self.live[j % len(self.live)]
        reply = caller.request(p.CallInvite(to=(callee.user,)))
        if isinstance(reply, p.Ok) and isinstance(reply.result, p.CallInfo):
            self.calls.append(reply.result.id)

    @precondition(lambda self: self.live and self.calls)
    @rule(
        i=st.integers(0, 7),
        c=st.integers(0, 20),
        op=st.sampled_from(["accept", "decline", "hangup", "cancel"]),
    )
    def call_op(self, i: int, c: int, op: str) -> None:
        peer = self.live[i % len(self.live)]
        call = self.calls[c % len(self.calls)]
        message = {
            "accept": p.CallAccept,
            "decline": p.CallDecline,
            "hangup": p.CallHangup,
            "cancel": p.CallCancel,
        }[op](call=call)
        peer.request(message)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def inboxes_ordered_and_never_echoed(self) -> None:
        for peer in list(self.live):
            self._check_inbox(peer)
            if peer.closed is not None:  # closed by the server: replaced, timed out ...
                self.live.remove(peer)
                self.dropped.append(peer)
        self.moderating = {
            (room_id, m.id)
            for room_id, entry in self.h.server._host._rooms.items()
            for m in entry.room.participants.values()
            if m.role in MODERATORS
        }

    @invariant()
    def rooms_are_consistent(self) -> None:
        server = self.h.server
        for room_id in list(server._host._rooms):
            room = server._host._rooms[room_id].room
            members = list(room.participants.values())
            visible = [m for m in members if not m.hidden]
            hosts = [m for m in members if m.role is Role.HOST]
            assert len(hosts) <= 1
            assert (len(hosts) == 1) == bool(visible), (room_id, members)
            if hosts:
                assert room.host == hosts[0].id and not hosts[0].hidden
            # capacity counts only visible members; the hidden ones are bounded apart
            assert len(visible) <= room.policy.capacity
            assert len(members) - len(visible) <= MAX_HIDDEN
            sessions = [m.session for m in members]
            assert len(sessions) == len(set(sessions)), "a session is in a room twice"
            for m in members:
                session = server._edge.sessions.get(m.session)
                assert session is not None, "ghost participant without a session"
                assert session.rooms.get(room_id) == m.id
            if room.policy.duplicate is DuplicatePolicy.REJECT:
                users = [m.user for m in members]
                assert len(users) == len(set(users))

    @invariant()
    def banned_users_are_never_members(self) -> None:
        now = self.h.clock.now
        for entry in self.h.server._host._rooms.values():
            room = entry.room
            for ban in room.bans.entries(now):
                assert not room.has_user(ban.user), (room.id, ban.user)
                lobby_users = {w.user for w in room._lobby.values()}
                assert ban.user not in lobby_users, (room.id, ban.user)

    @invariant()
    def hidden_members_never_appear_in_others_views(self) -> None:
        now = self.h.clock.now
        for entry in self.h.server._host._rooms.values():
            room = entry.room
            for pid, viewer in room.participants.items():
                view = room.snapshot(pid, now)
                shown = {x.id for x in view.participants}
                hidden = {m.id for m in room.participants.values() if m.hidden} - {pid}
                if viewer.role in MODERATORS:
                    assert hidden <= shown
                    assert view.lobby == room.lobby_entries()
                else:
                    assert not hidden & shown, (room.id, pid, hidden & shown)
                    assert view.bans == () and view.lobby == ()

    @invariant()
    def lobbies_hold_and_granted_hosts_host(self) -> None:
        """Nobody walks past a lobby without a grant (nobody here admits), and a member
        who joined as host hosts unless the host role was handed on deliberately."""
        for entry in self.h.server._host._rooms.values():
            room = entry.room
            members = list(room.participants.values())
            if room.policy.join is JoinPolicy.LOBBY:
                assert all(m.user in GRANTS for m in members), [m.user for m in members]
            granted = [m for m in members if m.joined_as is Role.HOST]
            if granted and not self.host_handed_on:
                assert room.host in {m.id for m in granted}, (room.id, room.host, granted)

    @invariant()
    def no_user_holds_more_seats_or_sessions_than_allowed(self) -> None:
        server = self.h.server
        for user in USERS:
            assert len(self._sessions_of(user)) <= server.config.max_sessions_per_user
        for entry in server._host._rooms.values():
            room = entry.room
            for user in USERS:
                seats = [pid for _, pid in room.seats() if pid in room.participants]
                held = sum(1 for pid in seats if room.participants[pid].user == user)
                assert held <= room.policy.max_seats_per_user, (room.id, user, held)

    @invariant()
    def sessions_are_consistent(self) -> None:
        server = self.h.server
        rooms = server._host._rooms
        for sid, session in server._edge.sessions.items():
            for room_id, pid in session.rooms.items():
                # the edge's seats and the room host's agree, both ways
                assert room_id in rooms and rooms[room_id].room.seat_of(sid) == pid
            if session.conn is None:
                assert session.grace_deadline is not None
        for room_id, entry in rooms.items():
            for sid, pid in entry.room.seats():
                assert server._edge.sessions[sid].rooms.get(room_id) == pid

    @invariant()
    def remembered_answers_stay_bounded(self) -> None:
        config = self.h.server.config
        for session in self.h.server._edge.sessions.values():
            answered = session.answered
            assert len(answered) <= max(1, config.replay_events)
            assert len(answered) <= 1 or session.answered_bytes <= config.replay_bytes
            assert session.answered_bytes == sum(cost for _, _, cost, _ in answered.values())

    @invariant()
    def the_next_deadline_nears_only_when_a_timer_is_armed(self) -> None:
        # what lets the runtime skip next_deadline() after a frame that armed nothing
        server = self.h.server
        armed = server.timers_armed
        deadline = server.next_deadline()
        last = getattr(self, "last_deadline", None)
        if last is not None and last[0] == armed:
            assert deadline is None or (last[1] is not None and deadline >= last[1]), (
                last,
                deadline,
            )
        self.last_deadline = (server.timers_armed, deadline)

    @invariant()
    def ended_calls_have_reasons_and_nobody_active(self) -> None:
        for event in self.h.events:
            call = getattr(event, "call", None)
            if (
                call is not None
                and getattr(call, "state", None) is not None
                and call.state.value == "ended"
            ):
                assert call.reason is not None and call.active == ()

    def teardown(self) -> None:
        # Everyone drops and time passes: nothing may be left behind.
        if not hasattr(self, "h"):
            return
        for peer in self.live:
            peer.drop()
        self.h.advance(10**6)
        server = self.h.server
        assert not server._edge.sessions and not server._edge.conns
        assert set(server._host._rooms) == set(), server._host._rooms.keys()
        assert server._host.negotiations() == 0
        assert len(server.calls) == 0
        assert server.next_deadline() is None


# max_examples comes from the loaded profile (dev 100, ci 200, fuzz 5000)
ServerMachine.TestCase.settings = settings(stateful_step_count=40, deadline=None)
TestServerMachine = ServerMachine.TestCase


def test_machine_smoke() -> None:
    """One fixed run of the machine's helpers, so a broken fixture fails loudly."""
    machine: Any = ServerMachine()
    machine.setup()
    machine.connect("ann")
    machine.connect("ben")
    machine.join(0, "r-open")
    machine.join(1, "r-open")
    machine.negotiate(0, 1, "r-open", "offer")
    machine.connect("bot")
    machine.join(2, "r-open")
    machine.update_me(0, "r-open", "Zed", {"status": "away"})
    machine.ban(0, 1, "r-open", 10.0)
    machine.unban(0, "ben", "r-open")
    machine.call(0, 1)
    machine.request_lost_then_resent(0, "r-open", "chat")
    machine.request_lost_then_resent(1, "r-open", "kick")
    machine.wait(61.0)
    machine.teardown()
