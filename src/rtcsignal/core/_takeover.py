"""A room's state for its next owner: what an owner writes, and the room rebuilt from it.

Theory of operation
-------------------
An owner writes a room's :class:`~rtcsignal.core.cluster.RoomState` after every change of
membership, roles, lobby, locks, bans or settings (never for a relayed message), and a
``closed`` one just before it releases a room that is gone. :func:`room_state` builds it.

When an instance takes a room over (its owner's lease lapsed, or the owner stopped and
released it with members left), the driver hands it the last state written, and
:func:`rebuild` makes the room again: its policy, settings, members with their sessions,
roles and grants, its lobby and bans. What is not written is not rebuilt: chat history,
the negotiation state of pairs (so live members are told, ``negotiation_reset``), and
presence changes since the last write. Times cross instances as durations: a ban's
``until`` is written as the seconds left, since each instance has its own monotonic
clock.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._bans import Ban
from ._room import Room
from .cluster import RoomState

__all__ = ["rebuild", "room_state"]


def room_state(
    room: Room, key: str, epoch: int, owner: str, nodes: Mapping[str, str], now: float
) -> RoomState:
    """The state of ``room`` as its owner ``owner`` writes it at ``epoch`` (``nodes``:
    session id -> the instance holding it)."""
    bans = tuple(
        attrs.evolve(b, until=None if b.until is None else max(0.0, b.until - now))
        for b in room.bans.bans(now)
    )
    return RoomState(
        key=key,
        epoch=epoch,
        owner=owner,
        policy=room.policy,
        host=room.host,
        locked=room.locked,
        layout=room.layout,
        recording=room.recording,
        participants=tuple(x.info() for x in room.participants.values()),
        seats=dict(room.seats()),
        lobby=room.lobby_entries(),
        nodes=dict(nodes),
        members=tuple(room.participants.values()),
        waiting=room.waiting(),
        bans=bans,
        order=room.order,
    )


def rebuild(state: RoomState, now: float) -> Room:
    """The room of ``state`` (a room's, not the call book's), as of ``now``."""
    assert state.policy is not None
    room = Room(state.key, state.policy, now)
    room.restore(
        members=[attrs.evolve(m) for m in state.members],
        waiting=[attrs.evolve(w) for w in state.waiting],
        host=state.host,
        locked=state.locked,
        layout=state.layout,
        recording=state.recording,
        order=state.order,
        now=now,
    )
    for ban in state.bans:
        until = None if ban.until is None else now + ban.until
        room.bans.add(Ban(user=ban.user, name=ban.name, by=ban.by, until=until))
    return room
