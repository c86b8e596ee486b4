"""The admin API of a runtime in a cluster (issue 12): a call on any instance reaches the
room's owner and raises what one instance would. Run on both backplanes: the in-memory
one and the Redis one on a real ``redis-server``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from harness_cluster import SECRET, RedisServer
from rtcsignal.backplane import Backplane, MemoryBackplane, MemoryHub
from rtcsignal.backplane.redis import RedisBackplane
from rtcsignal.core import JoinPolicy, RoomPolicy
from rtcsignal.protocol import UsageError
from rtcsignal.runtime import Runtime, RuntimeSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py's client is asyncio's


@pytest.fixture(params=["memory", "redis"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two running instances on one backplane store, each seeing the other."""
    redis = RedisServer(tmp_path) if request.param == "redis" else None
    hub = MemoryHub()

    def plane(node: str) -> Backplane:
        if redis is None:
            return MemoryBackplane(hub, node)
        return RedisBackplane(redis.url, node)

    try:
        async with (
            Runtime(RuntimeSettings(auth_secret=SECRET), backplane=plane("a")) as a,
            Runtime(RuntimeSettings(auth_secret=SECRET), backplane=plane("b")) as b,
        ):
            await _until(lambda: _sees(a, "b") and _sees(b, "a"))
            yield a, b
    finally:
        if redis is not None:
            redis.stop()


def _sees(runtime: Runtime, node: str) -> bool:
    return node in runtime.health().backplane["peers"]  # type: ignore[index]


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.01)


async def test_admin_calls_from_any_instance(pair: tuple[Runtime, Runtime]) -> None:
    a, b = pair
    await a.admin.create_room("board", RoomPolicy(join=JoinPolicy.INVITE))
    assert a.server.owns("board") and not b.server.owns("board")
    with pytest.raises(UsageError, match="already exists"):
        await b.admin.create_room("board")  # the owner refuses; b raises it
    with pytest.raises(UsageError, match="not in room"):
        await b.admin.remove_participant("board", "nobody")
    with pytest.raises(UsageError, match="does not exist"):
        await b.admin.update_room("nowhere", RoomPolicy())
    with pytest.raises(UsageError):
        await b.admin.end_call("call-nope")
    await b.admin.invite("board", users=["carol"])
    await a.admin.invite("board", users=["dave"])
    assert a.admin.room("board").policy.allowed_users == {"carol", "dave"}  # type: ignore[union-attr]
    assert b.admin.room("board") is None  # the read view shows this instance's rooms

    async def written() -> bool:
        info = await b.admin.find_room("board")  # as its owner last wrote it
        return info is not None and info.policy.allowed_users == {"carol", "dave"}

    with anyio.fail_after(5.0):
        while not await written():
            await anyio.sleep(0.01)
    assert await b.admin.find_room("nowhere") is None
    await b.admin.send("board", "acme.note", {"n": 1})  # an empty room: nobody to tell
    await b.admin.close_room("board")
    assert a.admin.room("board") is None
