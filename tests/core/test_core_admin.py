"""The application's own inputs to the core (what the runtime's admin API calls)."""

from __future__ import annotations

import attrs
import pytest

from rtcsignal import protocol as p
from rtcsignal.core import JoinPolicy, RoomPolicy
from rtcsignal.core import events as ev
from rtcsignal.protocol import Role, UsageError
from rtcsignal.testing import Harness


def test_removing_a_lobby_entry_denies_it_and_updates_the_lobby() -> None:
    h = Harness()
    h.dispatch(h.server.create_room("lob", RoomPolicy(join=JoinPolicy.LOBBY), h.clock.now))
    host = h.peer("host", grants={"lob": Role.HOST})
    host.ok(p.Join(room="lob"))
    guest = h.peer("guest")
    wait = guest.ok(p.Join(room="lob"))
    host.drain()
    h.dispatch(h.server.remove_participant("lob", wait.you, h.clock.now, message="not today"))
    (removed,) = guest.drain("removed")
    assert (removed.reason, removed.message) == ("denied", "not today")
    (lobby,) = host.drain("lobby_updated")
    assert lobby.lobby == ()
    assert guest.request(p.Leave(room="lob")).code == "not_in_room"  # type: ignore[union-attr]


def test_a_policy_change_applies_to_the_next_joins_and_members_stay() -> None:
    h = Harness()
    a, b = h.peer("a"), h.peer("b")
    a.ok(p.Join(room="room1"))
    b.ok(p.Join(room="room1"))
    room = h.server.room("room1")
    assert room is not None
    h.dispatch(h.server.update_room("room1", attrs.evolve(room.policy, capacity=1), h.clock.now))
    assert len(room.participants) == 2
    assert h.peer("c").request(p.Join(room="room1")).code == "room_full"  # type: ignore[union-attr]
    assert [e for e in h.events if isinstance(e, ev.RoomPolicyChanged)]
    with pytest.raises(UsageError, match="belongs to call"):
        h.server.update_room("room1", attrs.evolve(room.policy, call="c1"), h.clock.now)


def test_misuse_is_a_usage_error_and_changes_nothing() -> None:
    h = Harness()
    h.peer("a").ok(p.Join(room="room1"))
    before = h.server.stats()
    with pytest.raises(UsageError):
        h.server.say("room1", "acme.x", None, h.clock.now, to="nobody")
    with pytest.raises(UsageError):
        h.server.say("room1", "acme.x", "x" * (p.MAX_APP_PAYLOAD_BYTES + 1), h.clock.now)
    with pytest.raises(UsageError):
        h.server.update_room("nowhere", RoomPolicy(), h.clock.now)
    with pytest.raises(UsageError):
        h.server.end_call("c1", h.clock.now, reason="missed")
    assert h.server.stats() == before
