"""How a cluster instance recovers from another's failure: takeovers, orphans, leases.

Theory of operation
-------------------
:class:`Recovery` is the part of :class:`~rtcsignal.core._clusterside.ClusterSide` that
handles instances going away and coming back (see ``docs/scaling.md``, *Failures*):

* **Takeover.** The driver hands a new owner the room's last written state with the key
  (:meth:`~rtcsignal.core.Server.own`): the room is rebuilt (:mod:`._takeover`), its
  members whose instance is gone become *orphans*, and every live member is resynced: a
  fresh ``room_snapshot``, then ``negotiation_reset``.
* **Orphans.** A member whose instance went away (a takeover, or
  :meth:`~ClusterSide.set_peers` dropping an instance) is ``reconnecting`` and leaves
  (``disconnected``) when its reconnect grace passes, unless its instance speaks for it
  again first (any input it routes for the session, or :meth:`Recovery.rejoin`).
* **Instances that come back under the same id** (a restart) no longer hold their old
  sessions: the owner asks a joining instance which of the sessions it places there it
  holds (:class:`~rtcsignal.core.cluster.Held`); the answer, and any tell for a session
  an edge does not hold, is a :class:`~rtcsignal.core.cluster.Gone`, and those members
  leave.
* **Leases.** An instance acts as an owner only until :meth:`Recovery.set_lease`'s
  deadline; past it, requests for its rooms get ``backplane_unavailable`` and asks bounce
  (a paused owner that resumes must not act on rooms another may have taken over). Once
  it learned its lease was lost it disowns the keys and :meth:`Recovery.rejoin` tells the
  new owners where its sessions stand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from rtcsignal import protocol as p

from . import events as ev
from ._config import ServerConfig
from ._edge import Edge
from ._effects import Effect
from ._host import RoomHost
from ._node import NodeState
from ._takeover import rebuild
from .cluster import CALLS, Gone, Held, Persist, Post, RoomState, encode_envelope, shard_of
from .seam import Deliver, Depart, Emit, HostInput, Op, Presence, RoomOutput, Snapshot

__all__ = ["ORPHAN", "Recovery"]

ORPHAN: Final = "~orphan:"
"""Timer keys ``(ORPHAN + room, session)``: a member taken over from a dead instance,
which leaves when its reconnect grace passes unless its session came back."""


class Recovery:
    """Takeovers, orphans and leases (a mixin of the cluster side). See the module
    docstring."""

    config: ServerConfig
    _edge: Edge
    _host: RoomHost
    _node: NodeState | None
    _link: Callable[[HostInput], RoomOutput]

    if TYPE_CHECKING:  # the server's and the cluster side's own methods

        def _cluster(self) -> NodeState: ...

        def _host_in(
            self, inp: HostInput, key: str, now: float, fx: list[Effect]
        ) -> RoomOutput | None: ...

        def _state(self, key: str, epoch: int, now: float) -> RoomState: ...

        def _owner_apply(
            self,
            key: str,
            epoch: int,
            out: RoomOutput,
            now: float,
            fx: list[Effect],
            ask: Any,
            moved: bool = False,
        ) -> None: ...

    def _take_over(self, state: RoomState, epoch: int, now: float, fx: list[Effect]) -> None:
        """Continue the room of ``state`` here at ``epoch``: rebuild it, mark the members
        whose instance is gone ``reconnecting`` (they leave when the reconnect grace
        passes, unless they come back), and resync every other member: a fresh
        ``room_snapshot``, then ``negotiation_reset`` (what was in flight toward them
        may be lost)."""
        node = self._node
        assert node is not None
        if state.closed or state.policy is None:
            return
        me = node.node
        alive = {me, *node.peers}
        self._host.adopt(rebuild(state, now))
        key = state.key
        live: list[str] = []
        orphans: list[str] = []
        for sid in state.seats:
            holder = state.nodes.get(sid, state.owner)
            if holder != me:
                node.where[sid] = holder  # a paused holder gets what is meant for it
            if holder in alive and (holder != me or sid in self._edge.sessions):
                live.append(sid)
            else:
                orphans.append(sid)
        ops = self._orphan(key, orphans, now)
        room = self._host.room(key)
        assert room is not None
        for sid in live:
            ops.extend(self._link(Snapshot(room=key, session=sid, at=now)).ops)
            seat = room.seat_of(sid)
            if seat in room.participants:
                peers = tuple(other for other in room.participants if other != seat)
                reset = p.NegotiationReset(room=key, peers=peers, reason="owner_changed")
                ops.append(Deliver(sessions=(sid,), message=reset))
        ops.append(
            Emit(event=ev.RoomTakenOver(at=now, room=key, epoch=epoch, previous=state.owner))
        )
        self._owner_apply(key, epoch, RoomOutput(ops=ops), now, fx, None)
        if self._host.room(key) is not None:
            data = encode_envelope(self._state(key, epoch, now))
            fx.append(Persist(key=key, epoch=epoch, data=data))

    def set_lease(self, until: float) -> None:
        """This instance may act as the owner of its keys until ``until`` (monotonic):
        its lease as last renewed, less a safety margin, so that it stops before any
        other instance can take over. Past it, requests for its rooms get
        ``backplane_unavailable`` and other instances' asks bounce, until the driver
        renews it (or, when the lease was lost, disowns the keys)."""
        self._cluster().lease_until = until

    def _check_held(self, joined: list[str], fx: list[Effect]) -> None:
        """Ask each instance that joined which of the sessions placed there in the rooms
        owned here it still holds (it may be a restart under the same id)."""
        node = self._node
        assert node is not None
        where = node.where
        for key in node.owned:
            room = self._host.room(key) if key != CALLS else None
            if room is None:
                continue
            for dest in joined:
                placed = [sid for sid, _ in room.seats() if where.get(sid) == dest]
                if placed:
                    held = Held(src=node.node, key=key, sessions=placed)
                    fx.append(Post(node=dest, data=encode_envelope(held)))

    def _orphan(self, key: str, sessions: list[str], now: float) -> list[Op]:
        """Members of room ``key`` whose instance is gone: ``reconnecting`` now, gone
        when their reconnect grace passes (see :data:`ORPHAN`)."""
        node = self._node
        assert node is not None
        ops: list[Op] = []
        for sid in sessions:
            out = self._link(Presence(room=key, session=sid, state="reconnecting", at=now))
            ops.extend(out.ops)
            node.orphaned.setdefault(sid, set()).add(key)
            node.timers.arm((ORPHAN + key, sid), now + self.config.reconnect_grace)
        return ops

    def reset(self) -> list[str]:
        """The backplane lost its data (a new cluster generation): every ownership is
        void and epochs start again, so the epochs seen are forgotten. The rooms stay in
        memory, the only copy of their state now: the driver acquires each key again
        and hands it back with :meth:`~rtcsignal.core.Server.own`, which writes the
        state anew (or disowns it, when another instance got it first).

        Returns: the keys this instance owned, to acquire again."""
        node = self._cluster()
        keys = sorted(node.owned)
        node.owned.clear()
        node.epochs.clear()
        return keys

    def rejoin(self, now: float) -> list[Effect]:
        """This instance was cut off (its lease lapsed, say while it was paused) and is
        back: tell the owner of every room its sessions sit in where they stand, since
        it may have marked them ``reconnecting`` meanwhile."""
        fx: list[Effect] = []
        try:
            for session in list(self._edge.sessions.values()):
                state: p.PresenceState = "connected" if session.conn else "reconnecting"
                for key in list(session.rooms):
                    presence = Presence(room=key, session=session.id, state=state, at=now)
                    self._host_in(presence, shard_of(key), now, fx)
        except Exception as exc:  # never let an unexpected error escape the core
            fx.append(
                ev.InternalError(at=now, connection="", message_type="rejoin", error=repr(exc))
            )
        return fx

    def _on_held(self, asked: Held, fx: list[Effect]) -> None:
        """Answer which of ``asked.sessions`` this instance does not hold."""
        node = self._node
        assert node is not None
        held, moved = self._edge.sessions, node.moved
        lost = [sid for sid in asked.sessions if sid not in held and sid not in moved]
        if lost:
            gone = Gone(src=node.node, key=asked.key, sessions=lost)
            fx.append(Post(node=asked.src, data=encode_envelope(gone)))

    def _on_gone(self, gone: Gone, now: float, fx: list[Effect]) -> None:
        """Instance ``gone.src`` does not hold these sessions of a room owned here."""
        node = self._node
        assert node is not None
        room = self._host.room(gone.key) if gone.key in node.owned else None
        if room is None:
            return
        for sid in gone.sessions:
            if room.seat_of(sid) is not None and node.where.get(sid) == gone.src:
                node.orphaned.pop(sid, None)
                depart = Depart(room=gone.key, session=sid, reason="disconnected", at=now)
                self._host_in(depart, gone.key, now, fx)

    def _orphan_expired(self, room: str, sid: str, now: float, fx: list[Effect]) -> None:
        """The grace of ``sid``, a member of ``room`` whose instance went away, is over:
        it leaves (``disconnected``) unless its instance spoke for it since."""
        node = self._node
        assert node is not None
        rooms = node.orphaned.get(sid)
        came_back = sid in self._edge.sessions or rooms is None or room not in rooms
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del node.orphaned[sid]
        if not came_back and room in node.owned and now < node.lease_until:
            depart = Depart(room=room, session=sid, reason="disconnected", at=now)
            self._host_in(depart, room, now, fx)
