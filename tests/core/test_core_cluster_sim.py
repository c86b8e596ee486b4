"""Issue 13 item 7: a simulated cluster (:class:`rtcsignal.testing.Cluster`: three
instances, the model of their backplane, a virtual clock) driven by hypothesis with client
actions and faults, swarm-style (each run enables a random subset of the fault kinds), and
the cluster's invariants checked after every step and at quiescence. Every failure
replays from its seed: the model has no real time and no threads."""

from __future__ import annotations

import os
from typing import Any

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rtcsignal import protocol as p
from rtcsignal.core import ServerConfig
from rtcsignal.ratelimit import RatePolicy
from rtcsignal.testing import Cluster, ClusterPeer

NODES = ("a", "b", "c")
USERS = ("ann", "ben", "cat", "dan")
ROOMS = ("room-x", "room-y")
FAULTS = ("crash", "restart", "pause", "resume")
GRACE = 5.0


def _wide() -> RatePolicy:
    """Limits far above what a run sends: this machine tests the cluster, not the
    limiter."""
    wide = {"rate": 1e6, "burst": 1e6}
    return RatePolicy.from_dict(
        {
            **RatePolicy.default().to_dict(),
            "connection": wide,
            "user": wide,
            "address": wide,
            "room": wide,
            "kinds": {},
            "default_kind": {"limit": wide, "on_deny": "reject"},
        }
    )


class ClusterMachine(RuleBasedStateMachine):
    """Clients join, leave, chat, drop and resume on any instance while instances crash,
    restart, pause and resume."""

    def __init__(self) -> None:
        super().__init__()
        config = ServerConfig(reconnect_grace=GRACE, max_sessions_per_user=50)
        self.cluster = Cluster(NODES, config, rate_policy=_wide())
        self.peers: list[ClusterPeer] = []
        self.faults: frozenset[str] = frozenset()
        self.owned_seen: dict[str, int] = {}
        self.sent: list[str] = []

    @initialize(faults=st.sets(st.sampled_from(FAULTS)))
    def swarm(self, faults: set[str]) -> None:
        self.faults = frozenset(faults)

    # ------------------------------------------------------------------ helpers
    def _usable(self) -> list[ClusterPeer]:
        down = self.cluster.down
        return [x for x in self.peers if x.closed is None and x.welcome and x.node not in down]

    def _reply(self, peer: ClusterPeer, message: Any) -> Any:
        """Send a request; its one reply (the owner's, or ``backplane_unavailable`` once
        ``request_timeout`` passed: the clock moves on to it when nothing came)."""
        rid = f"q{len(self.sent)}"
        self.sent.append(rid)
        peer.send(msgspec.structs.replace(message, id=rid))
        replies = [m for m in peer.inbox if isinstance(m, p.Ok | p.Error) and m.id == rid]
        if not replies:
            self.cluster.advance(self.cluster.servers[peer.node].config.request_timeout + 0.01)
            replies = [m for m in peer.inbox if isinstance(m, p.Ok | p.Error) and m.id == rid]
        assert len(replies) == 1 or peer.closed is not None, (rid, replies)
        for reply in replies:
            peer.inbox.remove(reply)
        return replies[0] if replies else None

    # ------------------------------------------------------------------ clients
    @rule(user=st.sampled_from(USERS), index=st.integers(0, 2))
    def connect(self, user: str, index: int) -> None:
        live = self.cluster.live()
        node = live[index % len(live)]
        peer = self.cluster.peer(user, node=node, hello=False)
        reply = peer.request(p.Hello(version=1))
        assert isinstance(reply, p.Welcome | p.Error), reply
        if isinstance(reply, p.Welcome):
            peer.welcome = reply
            self.peers.append(peer)

    @precondition(lambda self: self._usable())
    @rule(data=st.data(), room=st.sampled_from(ROOMS))
    def join(self, data: st.DataObject, room: str) -> None:
        peer = data.draw(st.sampled_from(self._usable()))
        self._reply(peer, p.Join(room=room))

    @precondition(lambda self: self._usable())
    @rule(data=st.data(), room=st.sampled_from(ROOMS))
    def leave(self, data: st.DataObject, room: str) -> None:
        peer = data.draw(st.sampled_from(self._usable()))
        self._reply(peer, p.Leave(room=room))

    @precondition(lambda self: self._usable())
    @rule(data=st.data(), room=st.sampled_from(ROOMS))
    def chat(self, data: st.DataObject, room: str) -> None:
        peer = data.draw(st.sampled_from(self._usable()))
        self._reply(peer, p.Chat(room=room, text="hi"))

    @precondition(lambda self: self._usable())
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(self._usable())).drop()

    @precondition(lambda self: any(x.closed == (1006, "dropped") and x.welcome for x in self.peers))
    @rule(data=st.data(), index=st.integers(0, 2))
    def resume_elsewhere(self, data: st.DataObject, index: int) -> None:
        gone = [x for x in self.peers if x.closed == (1006, "dropped") and x.welcome]
        old = data.draw(st.sampled_from(gone))
        live = self.cluster.live()
        new = old.resume(node=live[index % len(live)])
        self.peers.remove(old)
        if new.welcome is not old.welcome and isinstance(new.welcome, p.Welcome):
            self.peers.append(new)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, GRACE + 1.0]))
    def advance(self, seconds: float) -> None:
        self.cluster.advance(seconds)

    # ------------------------------------------------------------------ faults
    @precondition(lambda self: "crash" in self.faults and len(self.cluster.live()) > 1)
    @rule(index=st.integers(0, 2))
    def crash(self, index: int) -> None:
        live = self.cluster.live()
        self.cluster.crash(live[index % len(live)])

    @precondition(lambda self: "restart" in self.faults and self.cluster.down - self.cluster.paused)
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.cluster.down - self.cluster.paused)))
        self.cluster.restart(node)

    @precondition(lambda self: "pause" in self.faults and len(self.cluster.live()) > 1)
    @rule(index=st.integers(0, 2))
    def pause(self, index: int) -> None:
        live = self.cluster.live()
        self.cluster.pause(live[index % len(live)])

    @precondition(lambda self: "resume" in self.faults and self.cluster.paused)
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.cluster.paused)))
        self.cluster.resume(node)  # it reads what waited for it, fenced where stale,
        self.cluster.lease_lost(node)  # and its next renewal (<= 0.5 s) fails

    # ------------------------------------------------------------------ invariants
    @invariant()
    def one_owner_per_epoch(self) -> None:
        """At most one instance acts for a key at one epoch, and the model's epochs only
        grow."""
        seen: dict[tuple[str, int], str] = {}
        for node, server in self.cluster.servers.items():
            if node in self.cluster.down and node not in self.cluster.paused:
                continue  # a crashed process acts for nothing
            for key, epoch in server.owned().items():
                assert seen.setdefault((key, epoch), node) == node, (key, epoch)
        for key, epoch in self.cluster.epochs.items():
            assert epoch >= self.owned_seen.get(key, 0)
            self.owned_seen[key] = epoch

    @invariant()
    def live_owners_agree_with_the_model(self) -> None:
        for key, (node, epoch) in self.cluster.owners.items():
            server = self.cluster.servers[node]
            if node not in self.cluster.down:
                assert server.owned().get(key) == epoch, (key, node, epoch)

    def teardown(self) -> None:
        """Quiescence: faults stop, paused instances come back and learn their leases
        lapsed, the clock passes every grace. Then every member of a room on a live owner
        has a session somewhere alive, and every live session's seat is its owner's."""
        cluster = self.cluster
        for node in sorted(cluster.paused):
            cluster.resume(node)
            cluster.lease_lost(node)
        cluster.advance(GRACE + 2.0)
        cluster.advance(GRACE + 2.0)
        sessions = {
            sid: (node, session)
            for node, server in cluster.servers.items()
            if node not in cluster.down
            for sid, session in server._edge.sessions.items()
        }
        for key, (node, _) in cluster.owners.items():
            if node in cluster.down:
                continue
            room = cluster.servers[node].room(key)
            if room is None:
                continue
            for sid, pid in room.seats():
                assert sid in sessions, f"ghost {pid} of {sid} in {key} on {node}"
                assert sessions[sid][1].rooms.get(key) == pid, (key, sid, pid)
        for sid, (node, session) in sessions.items():
            for key, pid in session.rooms.items():
                owner = cluster.owners.get(key)
                assert owner is not None and owner[0] not in cluster.down, (key, sid)
                room = cluster.servers[owner[0]].room(key)
                assert room is not None and room.seat_of(sid) == pid, (key, sid, pid, node)


ClusterMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CLUSTER_SIM_EXAMPLES", "3000")),  # ~1.2e5 steps
    stateful_step_count=50,
    deadline=None,
)
TestClusterMachine = ClusterMachine.TestCase
