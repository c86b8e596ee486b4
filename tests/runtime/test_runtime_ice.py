"""ICE servers in the handshake: the ``[ice]`` settings (validated at startup, errors
naming the entry), TURN credentials minted per user in coturn's ``use-auth-secret``
scheme, and ``welcome.ice_servers`` at every hello and resume (core, runtime, client)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from typing import Any

import anyio
import msgspec
import pytest

from harness_adapters import GOOD_ORIGIN, Served, settings, token
from rtcsignal import protocol as p
from rtcsignal import sdp
from rtcsignal.client import Backoff, Connected, connect
from rtcsignal.core import Identity, Send, Server
from rtcsignal.runtime import (
    DEFAULT_TURN_TTL,
    IceSettings,
    MemoryMetrics,
    Runtime,
    RuntimeSettings,
    SettingsError,
)

TURN_SECRET = "coturn-static-auth-secret"
NOW = 1_700_000_000.0
WAIT = 10.0

TOML = f"""
[ice]
turn_secret = "{TURN_SECRET}"
turn_ttl = 3600

[[ice.servers]]
urls = ["stun:stun.example.com:3478"]

[[ice.servers]]
urls = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"]

[[ice.servers]]
urls = "turn:backup.example.com"
username = "static-user"
credential = "static-pass"
"""


def rest_credential(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)): coturn's check, computed independently."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def assert_minted(server: p.IceServer, user: str, expires: int) -> None:
    assert server.username == f"{expires}:{user}"
    assert server.credential == rest_credential(TURN_SECRET, server.username)


# ---------------------------------------------------------------------- settings


def test_ice_settings_from_toml_mint_where_no_credentials_are_given() -> None:
    ice = RuntimeSettings.from_toml(TOML).ice
    assert ice.turn_ttl == 3600
    assert ice.mints
    stun, turn, backup = ice.for_user("alice", NOW)
    assert stun == p.IceServer(urls=("stun:stun.example.com:3478",))
    assert turn.urls == (
        "turn:turn.example.com:3478?transport=udp",
        "turns:turn.example.com:5349?transport=tcp",
    )
    assert_minted(turn, "alice", int(NOW) + 3600)
    assert backup == p.IceServer(
        urls=("turn:backup.example.com",), username="static-user", credential="static-pass"
    )
    # Per user, per moment: another user or a later hello gets other credentials.
    assert_minted(ice.for_user("bob", NOW)[1], "bob", int(NOW) + 3600)
    assert_minted(ice.for_user("alice", NOW + 10)[1], "alice", int(NOW) + 3610)
    assert TURN_SECRET not in repr(ice) and TURN_SECRET not in repr(RuntimeSettings(ice=ice))


def test_ice_settings_from_the_environment() -> None:
    servers = [{"urls": ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp"]}]
    env = {
        "RTCSIGNAL_ICE__SERVERS": json.dumps(servers),
        "RTCSIGNAL_ICE__TURN_SECRET": "1e5",  # a secret is text as given, never a number
        "RTCSIGNAL_ICE__TURN_TTL": "600",
    }
    ice = RuntimeSettings.from_env(environ=env).ice
    assert ice.turn_secret == "1e5"
    assert ice.turn_ttl == 600
    (server,) = ice.for_user("carol", NOW)
    assert server.urls == tuple(servers[0]["urls"])
    assert server.username == f"{int(NOW) + 600}:carol"
    assert server.credential == rest_credential("1e5", server.username)
    # The TOML form of the list works too, and no [ice] at all means no servers.
    toml_list = '[{urls = ["stun:stun.example.com"]}]'
    ice = RuntimeSettings.from_env(environ={"RTCSIGNAL_ICE__SERVERS": toml_list}).ice
    assert ice.for_user("carol", NOW) == (p.IceServer(urls=("stun:stun.example.com",)),)
    assert RuntimeSettings.from_env(environ={}).ice.for_user("carol", NOW) == ()
    digits = {"RTCSIGNAL_AUTH_SECRET": "0" * 40}
    assert RuntimeSettings.from_env(environ=digits).auth_secret == "0" * 40


TURN = {"urls": ["turn:turn.example.com"]}


@pytest.mark.parametrize(
    ("ice", "message"),
    [
        (
            {"servers": [{"urls": ["stun:ok.example.com"]}, {"urls": ["stun:a", "stn:b"]}]},
            r"ice.servers\[1\].urls\[1\]: ICE server URL 'stn:b' does not start with",
        ),
        ({"servers": [{"urls": "turn:x.example.com:99999"}]}, r"ice.servers\[0\].urls: .*port"),
        ({"servers": [{"urls": ["turn:x?transport=sctp"]}]}, r"ice.servers\[0\].urls\[0\]: .*sctp"),
        ({"servers": [{"urls": ["stun:x?transport=udp"]}]}, r"urls\[0\]: .*query"),
        ({"servers": [{"urls": ["turn:[::1"]}]}, r"urls\[0\]: .*IPv6"),
        ({"servers": [{"urls": [3478]}]}, r"ice.servers\[0\].urls\[0\]: .*non-empty text"),
        ({"servers": [{"urls": []}]}, r"ice.servers\[0\].urls: expected a URL"),
        ({"servers": [{}]}, r"ice.servers\[0\]: urls is missing"),
        ({"servers": [{"url": "stun:x"}]}, r"ice.servers\[0\]: unknown key url"),
        ({"servers": ["stun:x"]}, r"ice.servers\[0\]: expected a table"),
        ({"servers": {"urls": "stun:x"}}, "ice.servers: expected a list"),
        ({"servers": "[{urls: nope"}, "ice.servers: not a JSON list"),
        ({"servers": [TURN]}, r"ice.servers\[0\]: a TURN server needs .* ice.turn_secret"),
        (
            {"servers": [{**TURN, "username": "u"}]},
            r"ice.servers\[0\].credential: a TURN server needs a username and a credential",
        ),
        (
            {"servers": [{**TURN, "username": "u" * 600, "credential": "c"}]},
            r"ice.servers\[0\].username: .*508 bytes",
        ),
        ({"servers": [{**TURN, "username": 7, "credential": "c"}]}, r"\[0\].username: .*text"),
        (
            {"servers": [{**TURN, "username": "u", "credential": "c\n"}]},
            r"ice.servers\[0\].credential: has control characters",
        ),
        ({"servers": [TURN] * 17, "turn_secret": "s"}, "ice.servers: at most 16"),
        ({"servers": [TURN], "turn_secret": ""}, "ice.turn_secret: must be non-empty"),
        ({"servers": [TURN], "turn_secret": 5}, "ice.turn_secret: must be non-empty"),
        ({"servers": [{"urls": "stun:x"}], "turn_secret": "s"}, "ice.turn_secret: .*nothing"),
        ({"turn_ttl": 60}, "ice.turn_ttl: set without ice.turn_secret"),
        ({"servers": [TURN], "turn_secret": "s", "turn_ttl": 0}, "ice.turn_ttl: .*at least"),
        ({"servers": [TURN], "turn_secret": "s", "turn_ttl": "1h"}, "ice.turn_ttl: expected"),
        ({"servers": [TURN], "turn_secret": "s", "turn_ttl": True}, "ice.turn_ttl: expected"),
        (
            {"servers": [TURN], "turn_secret": "s", "turn_ttl": float("inf")},
            "ice.turn_ttl: expected",
        ),
        ({"stun": ["stun:x"]}, "ice: unknown key stun"),
        ("stun:x", "ice: must be a table"),
    ],
)
def test_bad_ice_settings_fail_at_startup_naming_the_entry(ice: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        RuntimeSettings.from_dict({"ice": ice})
    assert str(caught.value).startswith("settings: ice")


def test_ice_settings_in_code() -> None:
    turn = sdp.validate_ice_server("turn:127.0.0.1:3478", "u", "p")
    ice = IceSettings(servers=[turn])
    assert not ice.mints and ice.turn_ttl == DEFAULT_TURN_TTL
    assert ice.for_user("a", NOW) == (
        p.IceServer(urls=("turn:127.0.0.1:3478",), username="u", credential="p"),
    )
    bare = sdp.IceServer(urls=(sdp.validate_ice_server_url("turns:turn.example.com"),))
    with pytest.raises(ValueError, match=r"ice.servers\[1\]: a TURN server needs"):
        IceSettings(servers=[turn, bare])
    minted = IceSettings(servers=[bare], turn_secret=TURN_SECRET, turn_ttl=60)
    assert minted.mints
    assert_minted(minted.for_user("a", NOW)[0], "a", int(NOW) + 60)
    with pytest.raises(ValueError, match=r"not an rtcsignal\.sdp\.IceServer"):
        IceSettings(servers=["stun:x"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"ice\.turn_ttl"):
        IceSettings(servers=[bare], turn_secret=TURN_SECRET, turn_ttl=0.5)


# ---------------------------------------------------------------------- core


def welcome_of(effects: list[Any]) -> dict[str, Any]:
    frames = [json.loads(e.data) for e in effects if isinstance(e, Send)]
    (welcome,) = [f for f in frames if f["type"] == "welcome"]
    return dict(welcome)


def test_the_core_announces_each_connections_servers_at_hello_and_resume() -> None:
    ids = itertools.count()
    server = Server(id_factory=lambda: f"id{next(ids)}")
    first = (p.IceServer(urls=("turn:t.example.com",), username="1:alice", credential="c1"),)
    conn = server.connect(Identity(user="alice"), 0.0, ice_servers=first)
    welcome = welcome_of(server.receive(conn, '{"type": "hello", "version": 1, "id": 1}', 0.0))
    assert welcome["ice_servers"] == [
        {"urls": ["turn:t.example.com"], "username": "1:alice", "credential": "c1"}
    ]
    assert msgspec.json.decode(json.dumps(welcome), type=p.Welcome).ice_servers == first
    server.disconnect(conn, 1.0)
    second = (p.IceServer(urls=("turn:t.example.com",), username="2:alice", credential="c2"),)
    again = server.connect(Identity(user="alice"), 1.0, ice_servers=second)
    hello = {"type": "hello", "version": 1, "id": 1, "resume": welcome["resume_token"]}
    resumed = welcome_of(server.receive(again, json.dumps(hello), 1.0))
    assert resumed["resumed"] is True
    assert resumed["ice_servers"][0]["username"] == "2:alice"  # this connection's, fresh
    # A connection given none announces none (the field is left out).
    plain = server.connect(Identity(user="bob"), 2.0)
    bare = welcome_of(server.receive(plain, '{"type": "hello", "version": 1, "id": 1}', 2.0))
    assert "ice_servers" not in bare
    assert msgspec.json.decode(json.dumps(bare), type=p.Welcome).ice_servers == ()


def test_a_hostile_welcome_is_refused_by_the_decoder() -> None:
    base = {"type": "welcome", "version": 1, "session": "s", "user": "u", "resume_token": "t"}
    base["limits"] = {
        "max_frame_bytes": 1,
        "ping_interval": 1.0,
        "ping_timeout": 2.0,
        "reconnect_grace": 3.0,
        "max_rooms": 1,
        "max_chat_chars": 1,
    }
    for servers in (
        [{"urls": []}],
        [{"urls": ["stun:x"]}] * (p.MAX_ICE_SERVERS + 1),
        [{"urls": ["stun:x y"]}],
        [{"urls": ["stun:x"], "username": "a\x00b"}],
        [{"urls": ["stun:x"], "credential": "c" * (p.MAX_ICE_CREDENTIAL_CHARS + 1)}],
    ):
        with pytest.raises(p.ProtocolError):
            p.decode_server(json.dumps({**base, "ice_servers": servers}))


# ---------------------------------------------------------------------- runtime + client


class WallClock:
    """UNIX time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served_with_turn() -> Iterator[tuple[Served, WallClock]]:
    clock = WallClock()
    ice = IceSettings.from_dict(
        {
            "servers": [{"urls": "stun:127.0.0.1:3478"}, {"urls": "turn:127.0.0.1:3478"}],
            "turn_secret": TURN_SECRET,
            "turn_ttl": 300,
        }
    )
    metrics = MemoryMetrics()
    runtime = Runtime(settings(ice=ice), metrics=metrics, wall_clock=clock)
    server = Served("websockets", runtime, metrics)
    server.start()
    try:
        yield server, clock
    finally:
        server.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_client_gets_fresh_credentials_at_hello_and_at_resume(
    anyio_backend: str, served_with_turn: tuple[Served, WallClock]
) -> None:
    served, clock = served_with_turn
    options: dict[str, Any] = {
        "token": token("dana"),
        "headers": {"Origin": GOOD_ORIGIN},
        "backoff": Backoff(initial=0.05, max_delay=0.2, max_attempts=50),
    }
    async with connect(served.url, **options) as client:
        stun, turn = client.ice_servers
        assert stun == p.IceServer(urls=("stun:127.0.0.1:3478",))
        assert_minted(turn, "dana", int(NOW) + 300)
        clock.now = NOW + 1000  # the first credentials have expired by now
        await client.drop()
        with anyio.fail_after(WAIT):
            async for event in client.events():
                if isinstance(event, Connected) and event.resumed:
                    break
        assert client.ice_servers[0] == stun
        assert_minted(client.ice_servers[1], "dana", int(NOW) + 1300)
