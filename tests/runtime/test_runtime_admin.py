"""The admin API over real sockets (issue 18, item 1): service code acts through the
running runtime, and connected clients receive every consequence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness_adapters import Client, Served, hello, open_client, serve_adapter, settings
from rtcsignal.core import JoinPolicy, RoomPolicy
from rtcsignal.core.seam import Sender
from rtcsignal.protocol import UsageError


def _solo(room: str, joiner: Sender) -> RoomPolicy | None:
    return RoomPolicy(capacity=1) if room.startswith("solo") else None


@pytest.fixture
def served() -> Iterator[Served]:
    server = serve_adapter("websockets", settings(), room_policy=_solo)
    yield server
    server.stop()


def _member(served: Served, user: str, room: str = "standup") -> tuple[Client, str]:
    client = open_client(served, user)
    hello(client)
    reply = client.request({"type": "join", "room": room})
    assert reply["type"] == "ok", reply
    return client, reply["result"]["you"]


def _admin(served: Served, method: str, *args: Any, **kwargs: Any) -> Any:
    async def call() -> Any:
        return await getattr(served.runtime.admin, method)(*args, **kwargs)

    return served.call(call)


def test_closing_a_room_tells_every_member(served: Served) -> None:
    alice, _ = _member(served, "alice")
    bob, _ = _member(served, "bob")
    _admin(served, "close_room", "standup")
    for client in (alice, bob):
        removed = client.expect("removed")
        assert (removed["room"], removed["reason"]) == ("standup", "room_closed")
    assert served.call(_async(lambda: served.runtime.admin.rooms())) == []


def test_removing_a_participant_with_a_reason(served: Served) -> None:
    alice, _ = _member(served, "alice")
    bob, bob_pid = _member(served, "bob")
    _admin(served, "remove_participant", "standup", bob_pid, message="spam")
    removed = bob.expect("removed")
    assert (removed["reason"], removed["message"]) == ("kicked", "spam")
    left = alice.expect("participant_left")
    assert (left["participant"], left["reason"]) == (bob_pid, "kicked")
    with pytest.raises(UsageError, match="not in room"):
        _admin(served, "remove_participant", "standup", bob_pid)
    with pytest.raises(UsageError, match="does not exist"):
        _admin(served, "remove_participant", "nowhere", bob_pid)


def test_ending_a_call(served: Served) -> None:
    alice = open_client(served, "alice")
    hello(alice)
    bob = open_client(served, "bob")
    hello(bob)
    call = alice.request({"type": "call_invite", "to": ["bob"]})["result"]
    bob.expect("incoming_call")
    _admin(served, "end_call", call["id"])
    for client in (alice, bob):
        updated = client.expect("call_updated")
        assert (updated["call"]["state"], updated["call"]["reason"]) == ("ended", "hangup")
    with pytest.raises(UsageError):
        _admin(served, "end_call", "no-such-call")


def test_the_invite_list_opens_an_invite_only_room(served: Served) -> None:
    _admin(served, "create_room", "board", RoomPolicy(join=JoinPolicy.INVITE))
    bob = open_client(served, "bob")
    hello(bob)
    refused = bob.request({"type": "join", "room": "board"})
    assert refused["code"] == "not_invited"
    _admin(served, "invite", "board", users=["bob"])
    assert bob.request({"type": "join", "room": "board"})["type"] == "ok"
    info = served.call(_async(lambda: served.runtime.admin.room("board")))
    assert "bob" in info.policy.allowed_users and [m.user for m in info.participants] == ["bob"]


def test_a_server_message_into_a_room_or_to_one_member(served: Served) -> None:
    alice, alice_pid = _member(served, "alice")
    bob, _ = _member(served, "bob")
    _admin(served, "send", "standup", "acme.notice", {"text": "recording starts"})
    for client in (alice, bob):
        app = client.expect("app")
        assert app["app_type"] == "acme.notice" and "from" not in app
        assert app["payload"] == {"text": "recording starts"}
    _admin(served, "send", "standup", "acme.private", 1, to=alice_pid)
    assert alice.expect("app")["app_type"] == "acme.private"
    bob.request({"type": "ping"})  # bob got nothing before its pong
    assert [f["type"] for f in getattr(bob, "pending", [])] == []
    with pytest.raises(UsageError):
        _admin(served, "send", "standup", "not namespaced!", None)


def test_listing_rooms_shows_members_and_their_state(served: Served) -> None:
    alice, alice_pid = _member(served, "alice")
    bob, bob_pid = _member(served, "bob")
    bob.close()  # a drop: bob is reconnecting, not gone
    alice.expect("participant_updated")
    (info,) = served.call(_async(lambda: served.runtime.admin.rooms()))
    states = {m.id: m.state for m in info.participants}
    assert states == {alice_pid: "connected", bob_pid: "reconnecting"}
    assert info.host == alice_pid


def test_the_room_policy_hook_shapes_auto_created_rooms(served: Served) -> None:
    _member(served, "alice", room="solo-1")
    bob = open_client(served, "bob")
    hello(bob)
    assert bob.request({"type": "join", "room": "solo-1"})["code"] == "room_full"
    _member(served, "bob", room="group-1")  # other rooms: the default policy


def _async(fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return call
