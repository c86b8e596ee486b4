"""One conformance suite, run against both backplanes: the in-memory one and the Redis
one on a real ``redis-server``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis as redis_py

from harness_cluster import RedisServer
from rtcsignal.backplane import Backplane, BackplaneState, MemoryBackplane, MemoryHub, Owner
from rtcsignal.backplane.redis import RedisBackplane
from rtcsignal.protocol import UsageError
from rtcsignal.runtime import MemoryMetrics

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py's client is asyncio's


Make = Callable[..., Backplane]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Make]:
    """A factory of started backplanes of one kind, all sharing one store."""
    redis = RedisServer(tmp_path) if request.param == "redis" else None
    hub = MemoryHub()
    started: list[Backplane] = []
    inboxes: dict[str, list[bytes]] = {}

    async with anyio.create_task_group() as tg:

        async def factory(node: str, *, resets: bool = True, **kw: Any) -> Backplane:
            """A started backplane; with ``resets=False`` started as before ``on_reset``
            (positional callbacks only). It records its envelopes (``inbox``) and its
            ``on_lost`` and ``on_reset`` calls (``lost``, ``resets``)."""
            plane: Backplane
            if redis is None:
                plane = MemoryBackplane(hub, node, **kw)
            else:
                plane = RedisBackplane(redis.url, node, **kw)
            inbox = inboxes.setdefault(node, [])
            lost: list[str] = []
            reset: list[str] = []
            if resets:
                await plane.start(
                    tg, inbox.append, lambda: None, lambda: lost.append(plane.generation),
                    on_reset=lambda: reset.append(plane.generation),
                )  # fmt: skip
            else:
                await plane.start(tg, inbox.append, lambda: None, lambda: lost.append(""))
            started.append(plane)
            plane.inbox = inbox  # type: ignore[attr-defined]
            plane.lost = lost  # type: ignore[attr-defined]
            plane.resets = reset  # type: ignore[attr-defined]
            return plane

        def flush() -> None:
            """The store loses everything (Redis restarted without its data)."""
            if redis is None:
                hub.flush()
            else:
                with redis_py.Redis(host="127.0.0.1", port=redis.port) as client:
                    client.flushall()

        factory.flush = flush  # type: ignore[attr-defined]
        try:
            yield factory  # type: ignore[misc]
        finally:
            for plane in started:
                await plane.stop()
            tg.cancel_scope.cancel()
    if redis is not None:
        redis.stop()


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.01)


async def test_acquire_is_atomic_and_one_instance_wins(make: Make) -> None:
    a, b = await make("a"), await make("b")
    results: list[Owner] = []

    async def take(plane: Backplane) -> None:
        results.append(await plane.acquire("room1"))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(take, a)
            tg.start_soon(take, b)
    assert len({(o.node, o.epoch) for o in results}) == 1
    winner = results[0]
    assert winner.epoch == 1
    assert await a.owner("room1") == winner == await b.owner("room1")


async def test_epochs_grow_and_release_is_compare_and_delete(make: Make) -> None:
    a, b = await make("a"), await make("b")
    first = await a.acquire("room1")
    b.release("room1", first.epoch)  # not b's: nothing happens
    a.release("room1", first.epoch + 7)  # not that epoch: nothing happens
    await anyio.sleep(0.2)
    assert await b.owner("room1") == first
    a.release("room1", first.epoch)
    await _until_none(b, "room1")
    second = await b.acquire("room1")
    assert second.node == "b" and second.epoch == first.epoch + 1


async def _until_none(plane: Backplane, key: str) -> None:
    with anyio.fail_after(5):
        while await plane.owner(key) is not None:
            await anyio.sleep(0.01)


async def test_state_writes_are_fenced_by_the_epoch(make: Make) -> None:
    a, b = await make("a"), await make("b")
    owner = await a.acquire("room1")
    a.persist("room1", owner.epoch, b"v1")
    b.persist("room1", owner.epoch, b"forged")  # b does not own it
    a.persist("room1", owner.epoch - 1, b"stale")  # an older epoch
    a.persist("room1", owner.epoch, b"v2")
    await anyio.sleep(0.3)
    assert await b.read_state("room1") == b"v2"


async def test_posts_arrive_once_and_in_order(make: Make) -> None:
    a, b = await make("a"), await make("b")
    for i in range(500):
        a.post("b", b"m%d" % i)
        if i % 50 == 0:
            await anyio.sleep(0)  # several batches
    inbox: list[bytes] = b.inbox  # type: ignore[attr-defined]
    await _until(lambda: len(inbox) >= 500)
    await anyio.sleep(0.1)
    assert inbox == [b"m%d" % i for i in range(500)]
    assert a.inbox == []  # type: ignore[attr-defined]


async def test_instances_see_each_other(make: Make) -> None:
    a = await make("a", renew_every=0.05, lease_ttl=1.0)
    b = await make("b", renew_every=0.05, lease_ttl=1.0)
    await _until(lambda: a.peers() == {"b"} and b.peers() == {"a"})
    assert a.state is BackplaneState.UP
    assert a.health()["instance"] == "a" and a.health()["kind"] in ("memory", "redis")


async def test_an_instance_id_in_use_is_refused(make: Make) -> None:
    await make("a")
    with pytest.raises(UsageError, match="another live instance"):
        await make("a")


async def test_a_lapsed_owner_is_taken_over_with_a_higher_epoch(make: Make) -> None:
    metrics = MemoryMetrics()
    a = await make("a", lease_ttl=0.3, renew_every=0.1)
    b = await make("b", lease_ttl=0.3, renew_every=0.1, metrics=metrics)
    first = await a.acquire("room1")
    assert await b.acquire("room1") == first  # alive: it keeps the room
    await a.stop()  # the lease goes (a crash would let it lapse in lease_ttl)
    taken = await b.acquire("room1")
    assert taken.node == "b" and taken.epoch > first.epoch
    assert metrics.total("rtcsignal_backplane_ownership_acquired_total") == 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"nope": 1}, "[backplane] nope = 1: unknown key"),
        ({"lease_ttl": "x"}, "[backplane] lease_ttl = 'x': expected a number"),
        ({"lease_ttl": 1.0, "renew_every": 2.0}, "renew_every = 2.0: must be below lease_ttl"),
        ({"instance_id": "a.b"}, "instance_id = 'a.b': must be non-empty, without '.'"),
    ],
)
def test_backplane_settings_name_the_bad_key(table: dict[str, Any], message: str) -> None:
    from rtcsignal.runtime import RuntimeSettings, SettingsError

    with pytest.raises(SettingsError) as refused:
        RuntimeSettings.from_dict({"backplane": table})
    assert message in str(refused.value)


async def test_the_generation_is_set_once_and_shared(make: Make) -> None:
    a = await make("a")
    b = await make("b")
    assert len(a.generation) == 32 and a.generation == b.generation
    await a.stop()
    c = await make("c")  # a later instance joins the same generation
    assert c.generation == b.generation


async def test_a_store_that_lost_its_data_resets_every_instance_once(make: Make) -> None:
    metrics = MemoryMetrics()
    a = await make("a", renew_every=0.05, lease_ttl=1.0, metrics=metrics)
    b = await make("b", renew_every=0.05, lease_ttl=1.0)
    await _until(lambda: a.peers() == {"b"} and b.peers() == {"a"})
    first = await a.acquire("room1")
    a.release("room1", first.epoch)
    await _until_none(b, "room1")
    old = await a.acquire("room1")
    assert old.epoch == 2
    a.persist("room1", old.epoch, b"before")
    before = a.generation
    make.flush()  # type: ignore[attr-defined]
    resets_a: list[str] = a.resets  # type: ignore[attr-defined]
    resets_b: list[str] = b.resets  # type: ignore[attr-defined]
    await _until(lambda: len(resets_a) == 1 and len(resets_b) == 1)
    assert resets_a == resets_b == [a.generation] == [b.generation]  # one new generation
    assert a.generation != before
    assert metrics.total("rtcsignal_backplane_resets_total") == 1
    assert await b.owner("room1") is None  # the old ownership is gone...
    assert await b.read_state("room1") is None
    a.persist("room1", old.epoch, b"late")  # ...and void: its late writes are fenced
    taken = await b.acquire("room1")  # taken again, with a fresh epoch
    assert taken.node == "b" and taken.epoch == 1
    assert await a.acquire("room1") == taken  # b's lease lives in the new generation
    await _until(lambda: a.peers() == {"b"} and b.peers() == {"a"})
    await anyio.sleep(0.3)  # several more renewals: still one reset each
    assert len(resets_a) == len(resets_b) == 1
    assert a.lost == b.lost == []  # type: ignore[attr-defined]
    assert await a.read_state("room1") is None
    reacquired = await a.acquire("room2")
    assert reacquired.node == "a" and reacquired.epoch == 1


async def test_without_on_reset_a_reset_calls_on_lost(make: Make) -> None:
    a = await make("a", resets=False, renew_every=0.05, lease_ttl=1.0)
    owner = await a.acquire("room1")
    make.flush()  # type: ignore[attr-defined]
    lost: list[str] = a.lost  # type: ignore[attr-defined]
    await _until(lambda: lost == [""])
    taken = await a.acquire("room1")
    assert taken.epoch == 1 and taken.incarnation != owner.incarnation


async def test_a_redis_restarted_without_its_data_resets_every_instance_once(
    tmp_path: Path,
) -> None:
    """Not only ``FLUSHALL``: the connections break and the scripts are forgotten too."""
    redis = RedisServer(tmp_path)
    metrics = MemoryMetrics()
    resets: list[str] = []
    try:
        async with anyio.create_task_group() as tg:
            planes = [
                RedisBackplane(redis.url, n, renew_every=0.05, lease_ttl=1.0, metrics=metrics)
                for n in ("a", "b")
            ]
            try:
                await _restarted_empty(tg, planes, resets, metrics, tmp_path, redis)
            finally:
                for plane in planes:  # stopped whatever happened: no client left open
                    await plane.stop()
                tg.cancel_scope.cancel()
    finally:
        redis.stop()


async def _restarted_empty(
    tg: Any,
    planes: list[RedisBackplane],
    resets: list[str],
    metrics: MemoryMetrics,
    tmp_path: Path,
    redis: RedisServer,
) -> None:
    for plane in planes:
        await plane.start(
            tg, lambda _: None, lambda: None, lambda: resets.append("lost"),
            on_reset=lambda p=plane: resets.append(p.node),
        )  # fmt: skip
    a, b = planes
    before = await a.acquire("room1")
    redis.stop()
    redis = RedisServer(tmp_path, port=redis.port)  # back, empty
    try:
        await _until(lambda: sorted(resets) == ["a", "b"])
        assert a.generation == b.generation != ""
        # the renewal resets first; the inbox reader reconnects on its own schedule
        await _until(lambda: a.state is BackplaneState.UP and b.state is BackplaneState.UP)
        taken = await b.acquire("room1")
        assert taken.node == "b" and taken.epoch == 1
        b.persist("room1", taken.epoch, b"new")
        with anyio.fail_after(5):
            while await a.read_state("room1") != b"new":
                await anyio.sleep(0.01)
        a.persist("room1", before.epoch, b"late")  # fenced, through reloaded scripts
        await _until(lambda: metrics.total("rtcsignal_backplane_fenced_drops_total") == 1)
        assert await a.read_state("room1") == b"new"
        assert metrics.total("rtcsignal_backplane_resets_total") == 2
    finally:
        redis.stop()
