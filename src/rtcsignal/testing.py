"""Test helpers for rtcsignal and for users' own tests: a fake clock, deterministic ids,
and a :class:`Harness` that wires in-memory peers to a core :class:`~rtcsignal.core.Server`.

Example::

    from rtcsignal.protocol import Join
    from rtcsignal.testing import Harness

    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.request(Join(room="standup"))
    bob.request(Join(room="standup"))
    assert alice.drain("participant_joined")[0].participant.user == "bob"
    h.advance(3600)  # drive every timer by hand

Everything is synchronous and deterministic: same calls, same frames.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from rtcsignal import protocol as p
from rtcsignal.core import Close, Identity, Send, Server, ServerConfig
from rtcsignal.core.cluster import OwnerSeen, Persist, Post, Release, Route
from rtcsignal.core.events import ObserverEvent
from rtcsignal.protocol import Role

__all__ = ["Cluster", "ClusterPeer", "CountingIds", "FakeClock", "Harness", "Peer"]


class CountingIds:
    """A deterministic id factory: ``"i1"``, ``"i2"``, ... (never use outside tests:
    real ids must be unguessable)."""

    def __init__(self, prefix: str = "i") -> None:
        self._prefix = prefix
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count)}"


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        self.now += seconds
        return self.now


class Peer:
    """One in-memory client connection of a :class:`Harness`."""

    def __init__(self, harness: Harness, conn: str, identity: Identity, binary: bool) -> None:
        self.harness = harness
        self.conn = conn
        self.identity = identity
        self.binary = binary
        self.inbox: list[p.ServerMessage] = []
        self.closed: tuple[int, str] | None = None
        self.welcome: p.Welcome | None = None
        self.seen_seq = 0
        self._ids = itertools.count(1)

    @property
    def user(self) -> str:
        """The peer's user id."""
        return self.identity.user

    @property
    def last_seq(self) -> int:
        """The highest ``seq`` this peer has received (drained or not)."""
        return self.seen_seq

    def send_raw(self, data: bytes | str) -> None:
        """Send a raw frame (``str`` = text/JSON, ``bytes`` = binary/MessagePack)."""
        if self.closed is not None:
            raise RuntimeError(f"connection {self.conn} is closed {self.closed}")
        self.harness.dispatch(self.harness.server.receive(self.conn, data, self.harness.clock.now))

    def send(self, message: p.Request) -> None:
        """Encode and send a client message in this peer's codec."""
        fmt = p.Format.MSGPACK if self.binary else p.Format.JSON
        data = p.encode(message, fmt)
        self.send_raw(data if self.binary else data.decode())

    def request(self, message: p.Request) -> p.ServerMessage:
        """Send ``message`` with a fresh ``id`` and return its one reply (asserting it
        is exactly one)."""
        rid = f"r{next(self._ids)}"
        self.send(msgspec.structs.replace(message, id=rid))
        replies = [
            m
            for m in self.inbox
            if isinstance(m, p.Ok | p.Error | p.Welcome | p.Pong) and m.id == rid
        ]
        if len(replies) != 1:
            raise AssertionError(f"expected exactly one reply to {rid}, got {replies!r}")
        self.inbox.remove(replies[0])
        return replies[0]

    def ok(self, message: p.Request) -> Any:
        """Like :meth:`request` but assert success; return the ``ok`` result."""
        reply = self.request(message)
        if not isinstance(reply, p.Ok):
            raise AssertionError(f"expected ok, got {reply!r}")
        return reply.result

    def drain(self, type_: str | None = None) -> list[Any]:
        """Remove and return received messages (only those of wire ``type_`` if given)."""
        if type_ is None:
            taken, self.inbox = self.inbox, []
            return taken
        taken = [m for m in self.inbox if m.__struct_config__.tag == type_]
        self.inbox = [m for m in self.inbox if m.__struct_config__.tag != type_]
        return taken

    def types(self) -> list[str]:
        """Wire types of the messages in the inbox, in order."""
        return [str(m.__struct_config__.tag) for m in self.inbox]

    def drop(self) -> None:
        """The transport drops (not a leave)."""
        self.harness.dispatch(self.harness.server.disconnect(self.conn, self.harness.clock.now))
        self.closed = self.closed or (1006, "dropped")

    def resume(self, *, last_seq: int | None = None) -> Peer:
        """Reconnect as the same user and resume this peer's session (the new peer goes
        on numbering request ids where this one stopped, as a client must: a resumed
        session remembers recent request ids)."""
        if self.welcome is None:
            raise RuntimeError("this peer never completed a handshake")
        new = self.harness.peer(
            self.identity.user, grants=dict(self.identity.grants), hello=False, binary=self.binary
        )
        new._ids = self._ids  # one session, one id sequence (ids stay unique across resumes)
        seq = self.last_seq if last_seq is None else last_seq
        reply = new.request(p.Hello(version=1, resume=self.welcome.resume_token, last_seq=seq))
        if isinstance(reply, p.Welcome):
            new.welcome = reply
        else:
            new.inbox.insert(0, reply)
        return new


def _to_peer(peer: Peer, effect: Send | Close) -> None:
    """A frame to the peer's inbox (decoded, its ``seq`` noted), or its close."""
    if isinstance(effect, Close):
        peer.closed = (effect.code, effect.reason)
        return
    data: bytes | str = effect.data.decode() if effect.text else effect.data
    message = p.decode_server(data)
    seq = getattr(message, "seq", None)
    if isinstance(seq, int):
        peer.seen_seq = max(peer.seen_seq, seq)
    peer.inbox.append(message)


class Harness:
    """In-memory peers around one :class:`Server`, with a :class:`FakeClock`.

    Args:
        config: the server config (defaults if ``None``).
        server_kwargs: extra keyword arguments for :class:`Server`.
    """

    def __init__(self, config: ServerConfig | None = None, **server_kwargs: Any) -> None:
        self.clock = FakeClock()
        self.ids = CountingIds()
        self.server = Server(config, id_factory=self.ids, **server_kwargs)
        self.peers: dict[str, Peer] = {}
        self.events: list[ObserverEvent] = []

    def peer(
        self,
        user: str,
        *,
        name: str | None = None,
        grants: Mapping[str, Role | str] | None = None,
        address: str | None = "127.0.0.1",
        hello: bool = True,
        binary: bool = False,
        hidden: bool = False,
        can_update_metadata: bool | None = None,
    ) -> Peer:
        """Connect a new peer (and say hello unless ``hello=False``); ``hidden`` and
        ``can_update_metadata`` are the identity's grants of those names."""
        identity = Identity(
            user=user,
            name=name,
            grants=dict(grants or {}),
            address=address,
            hidden=hidden,
            can_update_metadata=can_update_metadata,
        )
        conn = self.server.connect(identity, self.clock.now)
        peer = self.peers[conn] = Peer(self, conn, identity, binary)
        if hello:
            reply = peer.request(p.Hello(version=1))
            if not isinstance(reply, p.Welcome):
                raise AssertionError(f"hello failed: {reply!r}")
            peer.welcome = reply
        return peer

    def dispatch(self, effects: list[Any]) -> None:
        """Carry out effects: frames to inboxes, closes to peers, events to the log."""
        for effect in effects:
            if isinstance(effect, Send | Close):
                _to_peer(self.peers[effect.conn], effect)
            else:
                self.events.append(effect)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, calling ``tick`` at every deadline on the way, exactly
        as a runtime would."""
        target = self.clock.now + seconds
        while True:
            deadline = self.server.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.now = max(self.clock.now, deadline)
            self.dispatch(self.server.tick(self.clock.now))
        self.clock.now = target

    def event_types(self) -> list[str]:
        """Class names of the observer events so far."""
        return [type(e).__name__ for e in self.events]


# ===================================================================== a cluster
class ClusterPeer(Peer):
    """One in-memory client connection to one instance of a :class:`Cluster`."""

    def __init__(
        self, cluster: Cluster, node: str, conn: str, identity: Identity, binary: bool
    ) -> None:
        super().__init__(cluster, conn, identity, binary)  # type: ignore[arg-type]
        self.cluster = cluster
        self.node = node

    def send_raw(self, data: bytes | str) -> None:
        """Send a raw frame to this peer's instance, then let the cluster settle."""
        if self.closed is not None:
            raise RuntimeError(f"connection {self.conn} is closed {self.closed}")
        cluster = self.cluster
        cluster.dispatch(
            self.node, cluster.servers[self.node].receive(self.conn, data, cluster.clock.now)
        )
        if cluster.auto_settle:
            cluster.settle()

    def drop(self) -> None:
        """The transport drops (not a leave)."""
        cluster = self.cluster
        cluster.dispatch(
            self.node, cluster.servers[self.node].disconnect(self.conn, cluster.clock.now)
        )
        self.closed = self.closed or (1006, "dropped")
        if cluster.auto_settle:
            cluster.settle()

    def resume(self, *, last_seq: int | None = None, node: str | None = None) -> ClusterPeer:
        """Reconnect as the same user (to instance ``node``, default the same) and resume
        this peer's session there."""
        if self.welcome is None:
            raise RuntimeError("this peer never completed a handshake")
        new = self.cluster.peer(
            self.identity.user,
            node=node or self.node,
            grants=dict(self.identity.grants),
            hello=False,
            binary=self.binary,
            hidden=self.identity.hidden,
        )
        seq = self.last_seq if last_seq is None else last_seq
        reply = new.request(p.Hello(version=1, resume=self.welcome.resume_token, last_seq=seq))
        if isinstance(reply, p.Welcome):
            new.welcome = reply
        else:
            new.inbox.insert(0, reply)
        return new


class Cluster:
    """Several instances (core servers built with ``node=``) and a model of their
    backplane, in memory, synchronous and deterministic: ownership is taken by
    compare-and-set with a growing epoch per key, state writes are fenced, and
    envelopes between instances wait in one FIFO queue until :meth:`settle` (run after
    every peer action while ``auto_settle``) delivers them.

    Args:
        nodes: the instances' ids.
        config: the servers' config.
        server_kwargs: extra keyword arguments for every :class:`Server`.
    """

    def __init__(
        self,
        nodes: tuple[str, ...] = ("a", "b"),
        config: ServerConfig | None = None,
        **server_kwargs: Any,
    ) -> None:
        self.clock = FakeClock()
        self._config = config
        self._kwargs = server_kwargs
        self.restarts: dict[str, int] = {}
        self.servers = {
            n: Server(config, id_factory=CountingIds(f"{n}-"), node=n, **server_kwargs)
            for n in nodes
        }
        self.peers: dict[str, ClusterPeer] = {}
        self.events: list[tuple[str, ObserverEvent]] = []
        self.owners: dict[str, tuple[str, int]] = {}
        """key -> (owner, epoch): the model of the ownership keys."""
        self.epochs: dict[str, int] = {}
        self.states: dict[str, bytes] = {}
        """key -> the last room state its owner persisted."""
        self.fenced_writes = 0
        self.queue: list[tuple[str, bytes, bool]] = []
        """Envelopes on their way: (destination, data, whether to the owner)."""
        self.delivered = 0
        self.auto_settle = True
        self.down: set[str] = set()
        """Instances crashed or paused (:meth:`crash`, :meth:`pause`)."""
        self.paused: set[str] = set()
        self.stale: set[str] = set()
        """Instances resumed after a pause that have not learned their lease lapsed."""
        self.held: dict[str, list[tuple[str, bytes, bool]]] = {}
        """Envelopes waiting for a paused instance."""
        for n, server in self.servers.items():
            self.dispatch(n, server.set_peers(nodes))
        self.settle()

    def peer(
        self,
        user: str,
        *,
        node: str,
        name: str | None = None,
        grants: Mapping[str, Role | str] | None = None,
        hello: bool = True,
        binary: bool = False,
        hidden: bool = False,
    ) -> ClusterPeer:
        """Connect a new peer to instance ``node`` (and say hello unless ``hello=False``)."""
        identity = Identity(
            user=user, name=name, grants=dict(grants or {}), address="127.0.0.1", hidden=hidden
        )
        conn = self.servers[node].connect(identity, self.clock.now)
        peer = self.peers[conn] = ClusterPeer(self, node, conn, identity, binary)
        if hello:
            reply = peer.request(p.Hello(version=1))
            if not isinstance(reply, p.Welcome):
                raise AssertionError(f"hello failed: {reply!r}")
            peer.welcome = reply
        return peer

    def dispatch(self, node: str, effects: list[Any]) -> None:
        """Carry out instance ``node``'s effects (frames, closes, backplane effects)."""
        for effect in effects:
            kind = type(effect)
            if kind is Send or kind is Close:
                _to_peer(self.peers[effect.conn], effect)
            elif kind is Route:
                self._route(node, effect)
            elif kind is Post:
                targets = (
                    [n for n in self.servers if n != node] if effect.node is None else [effect.node]
                )
                self.queue.extend((t, effect.data, True) for t in targets)
            elif kind is Persist:
                if self.owners.get(effect.key) == (node, effect.epoch):
                    self.states[effect.key] = effect.data
                else:
                    self.fenced_writes += 1
            elif kind is Release:
                if self.owners.get(effect.key) == (node, effect.epoch):
                    del self.owners[effect.key]
            elif kind is OwnerSeen:
                pass  # the model routes by its own table of owners
            else:
                self.events.append((node, effect))

    def live(self) -> tuple[str, ...]:
        """The instances neither crashed nor paused, in id order."""
        return tuple(n for n in sorted(self.servers) if n not in self.down)

    def crash(self, node: str) -> None:
        """Instance ``node`` dies (SIGKILL): its connections are gone, what was on its
        way to it is lost, and once its lease lapses (at once: the model has no TTL) the
        other instances see it gone and take its rooms over from their written state."""
        self.down.add(node)
        self.queue = [entry for entry in self.queue if entry[0] != node]
        for peer in self.peers.values():
            if peer.node == node and peer.closed is None:
                peer.closed = (1006, "instance died")
        self._gone(node)

    def pause(self, node: str) -> None:
        """Instance ``node`` stops (SIGSTOP) past its lease: to the others it is gone
        and its rooms are taken over, while it still believes it owns them (a zombie).
        Its sockets stay open; what is sent to it waits (its inbox keeps it)."""
        self.down.add(node)
        self.paused.add(node)
        self.servers[node].set_lease(self.clock.now)  # not renewed while it is stopped
        self._gone(node)

    def _gone(self, node: str) -> None:
        """The others see ``node`` gone and take its rooms over."""
        self._membership_changed()
        for key, (owner, _) in sorted(self.owners.items()):
            if owner == node:
                self._take_over(key)
        if self.auto_settle:
            self.settle()

    def resume(self, node: str) -> None:
        """A paused instance runs again and reads what waited in its inbox, still
        believing it owns its old rooms until :meth:`lease_lost`: what it does as their
        owner now is stale (fenced by the epochs)."""
        self.down.discard(node)
        self.paused.discard(node)
        self.stale.add(node)
        self.queue.extend(self.held.pop(node, []))
        self._membership_changed()
        if self.auto_settle:
            self.settle()

    def lease_lost(self, node: str) -> None:
        """Instance ``node`` learns its lease lapsed (its renewal failed): it gives up
        every key it no longer owns, as the runtime's backplane link does."""
        server = self.servers[node]
        for key in server.owned():
            if self.owners.get(key, ("", 0))[0] != node:
                server.disown(key)
        server.set_lease(math.inf)  # a new lease, registered again
        self.stale.discard(node)
        self.dispatch(node, server.rejoin(self.clock.now))
        if self.auto_settle:
            self.settle()

    def restart(self, node: str) -> None:
        """A crashed instance starts again: a new process under the same id, with
        nothing of the old one (its sessions and rooms are gone)."""
        if node not in self.down or node in self.paused:
            raise RuntimeError(f"instance {node} is not crashed")
        self.restarts[node] = self.restarts.get(node, 0) + 1
        ids = CountingIds(f"{node}{self.restarts[node]}-")
        self.servers[node] = Server(self._config, id_factory=ids, node=node, **self._kwargs)
        self.down.discard(node)
        self._membership_changed()
        if self.auto_settle:
            self.settle()

    def _membership_changed(self) -> None:
        live = self.live()
        for n in live:
            self.dispatch(n, self.servers[n].set_peers(live, self.clock.now))

    def _take_over(self, key: str) -> None:
        """The first live instance takes ``key`` over (compare-and-set against the dead
        owner: a higher epoch), with the state last written for it."""
        live = [n for n in self.live() if n not in self.stale]  # a zombie cannot take
        if not live:
            return
        node = live[0]
        epoch = self.epochs[key] = self.epochs.get(key, 0) + 1
        self.owners[key] = (node, epoch)
        state = self.states.get(key)
        self.dispatch(node, self.servers[node].own(key, epoch, state=state, now=self.clock.now))

    def _route(self, node: str, route: Route) -> None:
        owner = self.owners.get(route.key)
        if owner is not None and (
            (owner[0] in self.down and owner[0] not in self.paused) or owner[0] in self.stale
        ):
            owner = None  # its lease lapsed
            if node not in self.stale and route.key in self.states:
                self._take_over(route.key)
                owner = self.owners.get(route.key)
        if owner is None and route.create and node not in self.stale:
            epoch = self.epochs[route.key] = self.epochs.get(route.key, 0) + 1
            owner = self.owners[route.key] = (node, epoch)
            state = self.states.get(route.key)
            self.dispatch(
                node, self.servers[node].own(route.key, epoch, state=state, now=self.clock.now)
            )
        if owner is None:
            self.queue.append((node, route.data, False))
        else:
            self.queue.append((owner[0], route.data, True))

    def step(self) -> bool:
        """Deliver the oldest envelope on its way; ``False`` when none is."""
        if not self.queue:
            return False
        node, data, owner = self.queue.pop(0)
        if node in self.paused:
            self.held.setdefault(node, []).append((node, data, owner))  # its inbox keeps it
            return True
        if node in self.down:
            return True  # lost with the instance
        self.delivered += 1
        self.dispatch(node, self.servers[node].envelope(data, self.clock.now, owner=owner))
        return True

    def settle(self, limit: int = 100_000) -> None:
        """Deliver envelopes until none is on its way (at most ``limit``)."""
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError(f"the cluster did not settle within {limit} deliveries")

    def advance(self, seconds: float) -> None:
        """Move the clock forward, ticking every instance at every deadline on the way."""
        target = self.clock.now + seconds
        while True:
            due = [
                (d, n)
                for n, s in self.servers.items()
                if n not in self.down and (d := s.next_deadline()) is not None
            ]  # a crashed or paused instance runs no timer
            if not due or min(due)[0] > target:
                break
            deadline, node = min(due)
            self.clock.now = max(self.clock.now, deadline)
            self.dispatch(node, self.servers[node].tick(self.clock.now))
            if self.auto_settle:
                self.settle()
        self.clock.now = target
