"""The lobby over a real socket (issue 18, lobby correctness): in a lobby room that is
still empty, a joiner without a grant waits; the host, arriving later with its grant,
hosts and admits."""

from __future__ import annotations

from harness_adapters import hello, open_client, serve_adapter, settings
from rtcsignal.core import JoinPolicy, RoomPolicy, ServerConfig


def test_the_first_joiner_of_an_empty_lobby_room_waits_for_the_host() -> None:
    config = ServerConfig(default_room=RoomPolicy(join=JoinPolicy.LOBBY))
    served = serve_adapter("websockets", settings(server=config))
    try:
        early = open_client(served, "early")
        hello(early)
        wait = early.request({"type": "join", "room": "standup"})
        assert wait["result"]["type"] == "lobby_wait", wait
        boss = open_client(served, "boss", grants={"standup": "host"})
        hello(boss)
        snap = boss.request({"type": "join", "room": "standup"})["result"]
        assert snap["host"] == snap["you"]
        assert [e["user"] for e in snap["lobby"]] == ["early"]
        admit = {"type": "admit", "room": "standup", "target": wait["result"]["you"]}
        assert boss.request(admit)["type"] == "ok"
        admitted = early.expect("room_snapshot")
        assert admitted["host"] == snap["you"] and admitted["you"] == wait["result"]["you"]
    finally:
        served.stop()
