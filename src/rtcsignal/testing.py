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
from collections.abc import Mapping
from typing import Any

import msgspec

from rtcsignal import protocol as p
from rtcsignal.core import Close, Identity, Send, Server, ServerConfig
from rtcsignal.core.events import ObserverEvent
from rtcsignal.protocol import Role

__all__ = ["CountingIds", "FakeClock", "Harness", "Peer"]


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
        """Reconnect as the same user and resume this peer's session."""
        if self.welcome is None:
            raise RuntimeError("this peer never completed a handshake")
        new = self.harness.peer(
            self.identity.user, grants=dict(self.identity.grants), hello=False, binary=self.binary
        )
        seq = self.last_seq if last_seq is None else last_seq
        reply = new.request(p.Hello(version=1, resume=self.welcome.resume_token, last_seq=seq))
        if isinstance(reply, p.Welcome):
            new.welcome = reply
        else:
            new.inbox.insert(0, reply)
        return new


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
            if isinstance(effect, Send):
                peer = self.peers[effect.conn]
                data: bytes | str = effect.data.decode() if effect.text else effect.data
                message = p.decode_server(data)
                seq = getattr(message, "seq", None)
                if isinstance(seq, int):
                    peer.seen_seq = max(peer.seen_seq, seq)
                peer.inbox.append(message)
            elif isinstance(effect, Close):
                self.peers[effect.conn].closed = (effect.code, effect.reason)
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
