"""Ghost sessions over a real socket (issue 17, defect 2): one token connecting, joining
and dropping its socket again and again cannot lock everyone else out of a room."""

from __future__ import annotations

import time

from harness_adapters import WAIT, Served, hello, open_client, serve_adapter, settings
from rtcsignal.core import RoomPolicy, ServerConfig


def _all_dropped(served: Served, user: str) -> None:
    """Wait (bounded) until the runtime has seen every connection of ``user`` drop."""
    deadline = time.monotonic() + WAIT

    async def live() -> int:
        room = served.runtime.server.room("standup")
        members = room.participants.values() if room is not None else ()
        return sum(1 for m in members if m.user == user and m.state == "connected")

    while served.call(live):
        assert time.monotonic() < deadline, "the drop never reached the core"
        time.sleep(0.01)


def test_one_user_s_dropped_connections_cannot_fill_a_room() -> None:
    served = serve_adapter(
        "websockets", settings(server=ServerConfig(default_room=RoomPolicy(capacity=6)))
    )
    try:
        for _ in range(8):  # without a per-user seat bound: 6 ghosts and a full room
            mallory = open_client(served, "mallory")
            hello(mallory)
            assert mallory.request({"type": "join", "room": "standup"})["type"] == "ok"
            mallory.close()  # a drop, not a leave: the seat stays for the grace period
            _all_dropped(served, "mallory")
        bob = open_client(served, "bob")
        hello(bob)
        reply = bob.request({"type": "join", "room": "standup"})
        assert reply["type"] == "ok", reply
        users = [m["user"] for m in reply["result"]["participants"]]
        assert users.count("mallory") == 4 and users.count("bob") == 1
        assert served.runtime.server.stats().sessions == 9  # under max_sessions_per_user
    finally:
        served.stop()
