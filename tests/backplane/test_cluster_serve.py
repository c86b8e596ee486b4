"""Real instances (``python -m rtcsignal serve --redis-url``) on a real ``redis-server``,
driven by the Python client over real sockets."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.sync.client import connect as ws_connect

from harness_cluster import SECRET, Instance, RedisServer, next_event, token
from rtcsignal import protocol as p
from rtcsignal.client import RequestError, connect

pytestmark = pytest.mark.anyio
WAIT = 10.0
MAX_SESSIONS = 3
SAMPLES = Path(__file__).resolve().parents[1] / "sdp" / "samples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[RedisServer, list[Instance]]]:
    config = tmp_path / "cluster.toml"
    config.write_text(
        f'auth_secret = "{SECRET}"\n[server]\nmax_sessions_per_user = {MAX_SESSIONS}\n'
        '[server.default_room]\nduplicate = "reject"\ncapacity = 8\n'
    )
    redis = RedisServer(tmp_path)
    instances: list[Instance] = []
    try:
        for name in ("a", "b", "c"):
            instances.append(Instance(redis.url, name, "--config", str(config)))
        for instance in instances:  # every instance sees the others before the test
            _wait_for_peers(instance, {i.id for i in instances} - {instance.id})
        yield redis, instances
    finally:
        for instance in instances:
            instance.stop()
        redis.stop()


def _health(instance: Instance) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{instance.port}/healthz", timeout=WAIT) as r:
        return dict(json.loads(r.read()))


def _wait_for_peers(instance: Instance, peers: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        plane = _health(instance)["backplane"]
        if set(plane["peers"]) == peers:
            return dict(plane)
        if time.monotonic() > deadline:
            raise AssertionError(f"instance {instance.id} sees {plane}, not {peers}")
        time.sleep(0.05)


async def test_join_and_relay_both_ways_in_order_across_instances(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    _, (a, b, _c) = cluster
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob")) as bob,
    ):
        await alice.join("room1")
        snap = await bob.join("room1")
        assert [x.user for x in snap.participants] == ["alice", "bob"]
        joined = await next_event(alice, p.ParticipantJoined)
        assert joined.participant.user == "bob"
        me = {x.user: x.id for x in snap.participants}
        for i in range(60):
            await bob.app("room1", "test.seq", i, to=me["alice"])
            await alice.app("room1", "test.seq", i, to=me["bob"])
            await anyio.sleep(0.04)  # under the app message rate limit
        for client in (alice, bob):
            got = []
            with anyio.fail_after(WAIT):
                async for event in client.events():
                    if isinstance(event, p.App):
                        got.append(event.payload)
                        if len(got) == 60:
                            break
            assert got == list(range(60))


async def test_offer_answer_and_candidates_cross_instances(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    def sample(name: str) -> str:
        return (SAMPLES / f"{name}.sdp").read_text()

    _, (a, b, _c) = cluster
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob")) as bob,
    ):
        await alice.join("room2")
        snap = await bob.join("room2")
        ids = {x.user: x.id for x in snap.participants}
        await bob.offer("room2", ids["alice"], sample("chrome_offer"))
        offer = await next_event(alice, p.Offer)
        assert offer.from_ == ids["bob"]
        await alice.answer("room2", ids["bob"], sample("chrome_answer"))
        answer = await next_event(bob, p.Answer)
        assert answer.from_ == ids["alice"]
        with pytest.raises(RequestError) as refused:  # the owner's validation, typed
            await bob.offer("room2", ids["alice"], "v=0\r\nnot sdp")
        assert refused.value.code == "invalid_sdp"


async def test_the_same_user_joining_on_two_instances_at_once(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    _, (a, b, c) = cluster
    async with (
        connect(c.url, token=token("host")) as host,
        connect(a.url, token=token("dora")) as one,
        connect(b.url, token=token("dora")) as two,
    ):
        await host.join("room3")
        outcomes: list[str] = []

        async def join(client: Any) -> None:
            try:
                await client.join("room3")
                outcomes.append("ok")
            except RequestError as err:
                outcomes.append(err.code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(join, one)
            tg.start_soon(join, two)
        assert sorted(outcomes) == ["already_joined", "ok"]


async def test_a_call_rings_every_instance_and_is_answered_elsewhere(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    _, (a, b, c) = cluster
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob")) as bob_b,
        connect(c.url, token=token("bob")) as bob_c,
    ):
        call = await alice.call_invite(["bob"], media="audio")
        assert (await next_event(bob_b, p.IncomingCall)).call.id == call.id
        assert (await next_event(bob_c, p.IncomingCall)).call.id == call.id
        await bob_c.call_accept(call.id)
        elsewhere = await next_event(bob_b, p.CallUpdated)
        assert elsewhere.call.reason == "answered_elsewhere"
        active = await next_event(alice, p.CallUpdated)
        assert active.call.state == "active"


def _hello(ws: Any, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "hello", "version": 1, "id": "h", **fields}))
    return dict(json.loads(ws.recv(timeout=WAIT)))


def _reply(ws: Any, rid: str) -> dict[str, Any]:
    while True:
        message = dict(json.loads(ws.recv(timeout=WAIT)))
        if message.get("id") == rid:
            return message


def test_a_session_resumes_on_another_instance(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    _, (a, b, c) = cluster
    headers = {"Authorization": f"Bearer {token('bob')}"}
    with ws_connect(a.url + f"?token={token('alice')}", open_timeout=WAIT) as alice:
        _hello(alice)
        alice.send(json.dumps({"type": "join", "room": "room4", "id": "j"}))
        assert _reply(alice, "j")["type"] == "ok"
        with ws_connect(b.url, additional_headers=headers, open_timeout=WAIT) as bob:
            welcome = _hello(bob)
            bob.send(json.dumps({"type": "join", "room": "room4", "id": "j"}))
            assert _reply(bob, "j")["type"] == "ok"
            last_seq = welcome["seq"]
        for i in range(3):  # bob is away: these wait in his session, on b
            alice.send(
                json.dumps({"type": "chat", "room": "room4", "text": f"m{i}", "id": f"c{i}"})
            )
            assert _reply(alice, f"c{i}")["type"] == "ok"
        with ws_connect(c.url, additional_headers=headers, open_timeout=WAIT) as back:
            resumed = _hello(back, resume=welcome["resume_token"], last_seq=last_seq)
            assert resumed["type"] == "welcome", resumed
            assert resumed["resumed"] is True and resumed["gap"] is False
            assert resumed["session"] == welcome["session"]
            assert resumed["resume_token"].startswith("c.")
            texts = []
            while len(texts) < 3:
                message = json.loads(back.recv(timeout=WAIT))
                if message["type"] == "chat":
                    texts.append(message["text"])
            assert texts == ["m0", "m1", "m2"]
            back.send(json.dumps({"type": "chat", "room": "room4", "text": "back", "id": "x"}))
            assert _reply(back, "x")["type"] == "ok"
            while True:
                message = json.loads(alice.recv(timeout=WAIT))
                if message["type"] == "chat":
                    assert message["text"] == "back"
                    break


def test_healthz_names_the_backplane(cluster: tuple[RedisServer, list[Instance]]) -> None:
    _, (a, _b, _c) = cluster
    plane = _wait_for_peers(a, {"b", "c"})
    assert plane == {"kind": "redis", "state": "up", "instance": "a", "peers": ["b", "c"]}


def test_an_instance_id_in_use_is_refused_in_one_line(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    import subprocess
    import sys

    redis, _ = cluster
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtcsignal",
            "serve",
            "--port",
            "0",
            "--redis-url",
            redis.url,
            "--instance-id",
            "a",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        env={"PATH": "/usr/bin:/bin", "RTCSIGNAL_AUTH_SECRET": SECRET},
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == ["rtcsignal serve: another live instance has the id 'a'"]


def _metric(instance: Instance, line: str) -> bool:
    url = f"http://127.0.0.1:{instance.port}/metrics"
    with urllib.request.urlopen(url, timeout=WAIT) as r:
        return line in r.read().decode()


def test_per_user_limits_hold_across_instances(
    cluster: tuple[RedisServer, list[Instance]],
) -> None:
    """Issue 12: a user cannot double a per-user limit by connecting to another
    instance: ``max_sessions_per_user`` counts every instance (a reconnecting session
    elsewhere is ended for a new one, as on one instance), and the chat budget (10 at
    once, 30 a minute) is granted once across instances."""
    _, (a, b, c) = cluster
    url = f"?token={token('erin')}"
    with (
        ws_connect(a.url + url, open_timeout=WAIT) as one,
        ws_connect(b.url + url, open_timeout=WAIT) as two,
        ws_connect(c.url + url, open_timeout=WAIT) as three,
    ):
        started = time.monotonic()
        rooms = ("room5", "room6", "room7")  # one per session: duplicates are rejected
        assert _hello(one)["type"] == "welcome"
        for room in rooms:  # a owns them all
            one.send(json.dumps({"type": "join", "room": room, "id": room}))
            assert _reply(one, room)["type"] == "ok"
        one.send(json.dumps({"type": "leave", "room": "room6", "id": "l6"}))
        one.send(json.dumps({"type": "leave", "room": "room7", "id": "l7"}))
        assert _reply(one, "l6")["type"] == _reply(one, "l7")["type"] == "ok"
        for ws, room in ((two, "room6"), (three, "room7")):
            assert _hello(ws)["type"] == "welcome"
            # the join reaches a after this instance's session count did (in order)
            ws.send(json.dumps({"type": "join", "room": room, "id": "j"}))
            assert _reply(ws, "j")["type"] == "ok"
        with ws_connect(a.url + url, open_timeout=WAIT) as four:
            refused = _hello(four)
            assert (refused["type"], refused["code"]) == ("error", "too_many_sessions")
            assert refused["details"] == {"limit": MAX_SESSIONS}
        sent = 0
        for ws, room in zip((one, two, three), rooms, strict=True):
            for i in range(12):
                ws.send(json.dumps({"type": "chat", "room": room, "text": "x", "id": f"c{i}"}))
            replies: dict[str, str] = {}  # a refusal at the edge overtakes routed oks
            while len(replies) < 12:
                message = json.loads(ws.recv(timeout=WAIT))
                if str(message.get("id", "")).startswith("c"):
                    replies[message["id"]] = message["type"]
            sent += list(replies.values()).count("ok")
        refill = (time.monotonic() - started) * 30 / 60  # chat is 30 a minute per user
        assert sent <= 10 + refill + 1, sent  # each instance alone would grant 10 or more
    # all three dropped (not a leave): three reconnecting sessions; a new one ends one
    with ws_connect(a.url + url, open_timeout=WAIT) as five:
        assert _hello(five)["type"] == "welcome"
    deadline = time.monotonic() + WAIT
    evicted = 'rtcsignal_sessions_ended_total{reason="evicted"} 1.0'
    while not any(_metric(i, evicted) for i in (a, b, c)):
        assert time.monotonic() < deadline, "no reconnecting session was ended"
        time.sleep(0.05)
