"""Every Lua script of the Redis backplane against its Python twin
(:mod:`rtcsignal.backplane._twin`): random operation sequences run on a real
``redis-server`` (the very script strings :mod:`rtcsignal.backplane.redis` loads) and on
:class:`~rtcsignal.backplane._twin.TwinRedis` must give identical results and identical
key states, after every operation.

Time: the twin's clock stands still and every TTL set here is at least 30 s, so no TTL
lapses during an example on either side. Expiry is modelled as what it does, a ``DEL``
on both; a key's TTL compares as "none", "missing", or "set, and Redis's remaining
milliseconds within the twin's" (Redis counts down in wall-clock time, the twin does not).
The twin's own clock arithmetic is tested on its own, below, by advancing its clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness_cluster import RedisServer
from rtcsignal.backplane import _twin
from rtcsignal.backplane import redis as backplane_redis
from rtcsignal.backplane._twin import SCRIPTS, Keys, TwinError, TwinRedis
from rtcsignal.backplane.redis import _ACQUIRE, _GENERATION, _PERSIST, _RELEASE, _RENEW

K = Keys("rs")
NODES = ("n1", "n2")
ROOMS = ("r1", "r2")
KEYS = (
    *(K.lease(n) for n in NODES),
    *(K.inbox(n) for n in NODES),
    *(K.room(r, what) for r in ROOMS for what in ("owner", "epoch", "state")),
    K.generation,
)
CURRENT = "<current owner>"
"""A token that stands for the owner key's value before the operation (equal on both
sides, since the states are compared after every operation): so that takeovers,
releases and fenced writes by the real owner happen often."""
ME = st.sampled_from([f"{n}/{i}" for n in NODES for i in ("i1", "i2")])
TOKEN = st.sampled_from([CURRENT, CURRENT, "", "n1/i1/1", "n2/i2/1", "n1/i1/2", "n3/i1/3"])
INCARNATION = st.sampled_from(["i1", "i2"])
MS = st.sampled_from([30_000, 60_000, 90_000])
NODE = st.sampled_from(NODES)
ROOM = st.sampled_from(ROOMS)
KEY = st.sampled_from(KEYS)
EPOCH = st.sampled_from([K.room(r, "epoch") for r in ROOMS])
INTEGERISH = st.sampled_from([b"05", b"+5", b"5_0", b" 5", b"-3", b"9223372036854775807"])
"""What an epoch key may hold: INCR refuses most (and overflows on the last)."""
TOKEN_AT = {"acquire": 3, "release": 2, "persist": 2}
"""Where an operation's owner token is (the others take none)."""

_OPS = [
    (2, st.tuples(st.just("acquire"), ROOM, ME, TOKEN)),
    (1, st.tuples(st.just("release"), ROOM, TOKEN)),
    (2, st.tuples(st.just("persist"), ROOM, TOKEN, st.sampled_from([b"s1", b"s2", b""]))),
    (3, st.tuples(st.just("lease"), NODE, INCARNATION, st.booleans(), MS)),
    (1, st.tuples(st.just("release_lease"), NODE, INCARNATION)),
    (3, st.tuples(st.just("renew"), NODE, INCARNATION, MS, MS)),
    (2, st.tuples(st.just("inbox"), NODE)),
    (1, st.tuples(st.just("generation"), st.sampled_from(["g1", "g2"]))),
    (2, st.tuples(st.just("renew_and_generation"), NODE, INCARNATION, MS, st.just("g3"))),
    (1, st.tuples(st.just("get"), KEY)),
    (2, st.tuples(st.just("expire"), KEY)),
    (1, st.tuples(st.just("set"), KEY, st.sampled_from([b"x", b"5", b"n1/i1/1"]))),
    (1, st.tuples(st.just("set"), EPOCH, INTEGERISH)),
    (1, st.tuples(st.just("flushall"))),
]
OPS = st.one_of([op for weight, op in _OPS for _ in range(weight)])
"""Operations, weighted so that the interesting coincidences (a lease, its inbox and a
renewal of that incarnation; an acquire replacing the current owner) come often."""


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_py.Redis]:
    """One real ``redis-server`` for the module (flushed at each example)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    client = redis_py.Redis(host="127.0.0.1", port=server.port)
    try:
        yield client
    finally:
        client.close()
        server.stop()


class Real:
    """The operations on the real Redis, with the backplane's own script strings."""

    def __init__(self, client: redis_py.Redis) -> None:
        self.client = client
        self.scripts = {
            name: client.register_script(lua)
            for name, lua in (
                ("acquire", _ACQUIRE),
                ("release", _RELEASE),
                ("persist", _PERSIST),
                ("renew", _RENEW),
                ("generation", _GENERATION),
            )
        }

    def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return self.scripts[name](keys=keys, args=args)

    def run(self, op: tuple[Any, ...], token: Any) -> Any:
        c = self.client
        kind = op[0]
        if kind == "acquire":
            return self.script("acquire", [K.room(op[1], "owner"), K.room(op[1], "epoch")],
                               [op[2], token])  # fmt: skip
        if kind == "release":
            return self.script("release", [K.room(op[1], "owner")], [token])
        if kind == "persist":
            return self.script("persist", [K.room(op[1], "owner"), K.room(op[1], "state")],
                               [token, op[3]])  # fmt: skip
        if kind == "lease":
            return bool(c.set(K.lease(op[1]), op[2], nx=op[3], px=op[4]))  # OK or nil
        if kind == "release_lease":
            return self.script("release", [K.lease(op[1])], [op[2]])
        if kind == "renew":
            return self.script("renew", [K.lease(op[1]), K.inbox(op[1])], [op[2], op[3], op[4]])
        if kind == "inbox":
            return c.set(K.inbox(op[1]), b"stream")
        if kind == "generation":
            return self.script("generation", [K.generation], [op[1]])
        if kind == "renew_and_generation":  # as RedisBackplane renews: one MULTI/EXEC
            pipe = c.pipeline(transaction=True)
            self.scripts["renew"](
                keys=[K.lease(op[1]), K.inbox(op[1])], args=[op[2], op[3], 60_000], client=pipe
            )
            self.scripts["generation"](keys=[K.generation], args=[op[4]], client=pipe)
            return pipe.execute()
        if kind == "get":
            return c.get(op[1])
        if kind == "expire":
            return c.delete(op[1])
        if kind == "set":
            return c.set(op[1], op[2])
        assert kind == "flushall"
        return c.flushall()

    def state(self) -> list[tuple[bytes | None, int]]:
        pipe = self.client.pipeline(transaction=False)
        for key in KEYS:
            pipe.get(key)
            pipe.pttl(key)
        out = pipe.execute()
        return list(zip(out[::2], out[1::2], strict=True))


def twin_run(twin: TwinRedis, op: tuple[Any, ...], token: Any) -> Any:
    kind = op[0]
    if kind == "acquire":
        return twin.acquire(K.room(op[1], "owner"), K.room(op[1], "epoch"), op[2], token)
    if kind == "release":
        return twin.release(K.room(op[1], "owner"), token)
    if kind == "persist":
        return twin.persist(K.room(op[1], "owner"), K.room(op[1], "state"), token, op[3])
    if kind == "lease":
        return twin.set(K.lease(op[1]), op[2], nx=op[3], px=op[4])
    if kind == "release_lease":
        return twin.release(K.lease(op[1]), op[2])
    if kind == "renew":
        return twin.renew(K.lease(op[1]), K.inbox(op[1]), op[2], op[3], op[4])
    if kind == "inbox":
        return twin.set(K.inbox(op[1]), b"stream")
    if kind == "generation":
        return twin.generation(K.generation, op[1])
    if kind == "renew_and_generation":
        kept = twin.renew(K.lease(op[1]), K.inbox(op[1]), op[2], op[3], 60_000)
        return [kept, twin.generation(K.generation, op[4])]
    if kind == "get":
        return twin.get(op[1])
    if kind == "expire":
        return twin.delete(op[1])
    if kind == "set":
        return twin.set(op[1], op[2])
    assert kind == "flushall"
    twin.flushall()
    return True


def twin_state(twin: TwinRedis) -> list[tuple[bytes | None, int]]:
    return [(twin.get(key), twin.pttl(key)) for key in KEYS]


def _outcome(run: Any, *args: Any) -> Any:
    try:
        return run(*args)
    except (redis_py.ResponseError, TwinError):
        return "error"


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=20, max_size=60))
def test_scripts_and_twins_agree(real: redis_py.Redis, ops: list[tuple[Any, ...]]) -> None:
    real.flushall()
    redis = Real(real)
    twin = TwinRedis(clock=lambda: 1000.0)
    for step, op in enumerate(ops):
        token = op[TOKEN_AT[op[0]]] if op[0] in TOKEN_AT else None
        if token == CURRENT:
            current = twin.get(K.room(op[1], "owner"))
            token = b"" if current is None else current
        got = _outcome(redis.run, op, token)
        want = _outcome(twin_run, twin, op, token)
        assert got == want, f"step {step} {op}: redis {got!r}, twin {want!r}"
        for key, (value, ttl), (twin_value, twin_ttl) in zip(
            KEYS, redis.state(), twin_state(twin), strict=True
        ):
            where = f"step {step} {op}: {key}"
            assert value == twin_value, f"{where}: redis {value!r}, twin {twin_value!r}"
            if twin_ttl < 0:
                assert ttl == twin_ttl, f"{where}: PTTL redis {ttl}, twin {twin_ttl}"
            else:
                assert 0 < ttl <= twin_ttl, f"{where}: PTTL redis {ttl}, twin {twin_ttl}"


def test_every_lua_script_of_the_backplane_has_a_twin() -> None:
    lua = {
        value
        for value in vars(backplane_redis).values()
        if isinstance(value, str) and "redis.call" in value
    }
    assert lua == {source for source, _ in SCRIPTS.values()}
    assert all(callable(twin) for _, twin in SCRIPTS.values())
    assert _twin.ACQUIRE is _ACQUIRE  # the very strings, not copies


def test_the_twin_expires_keys_on_its_own_clock() -> None:
    now = [1000.0]
    twin = TwinRedis(clock=lambda: now[0])
    assert twin.set("lease", "i1", px=3000, nx=True)
    assert not twin.set("lease", "i2", px=3000, nx=True)  # NX: it is there
    assert twin.pttl("lease") == 3000
    now[0] += 1.0
    assert twin.renew("lease", "inbox", "i1", 3000, 60_000) == 1  # the inbox is missing
    assert twin.pttl("lease") == 3000 and twin.pttl("inbox") == -2
    now[0] += 2.9995
    assert twin.pttl("lease") == 1 and twin.get("lease") == b"i1"
    now[0] += 0.0005
    assert twin.get("lease") is None and twin.pttl("lease") == -2
    assert twin.renew("lease", "inbox", "i1", 3000, 60_000) == 0
    assert twin.set("lease", "i2", px=3000, nx=True)
    twin.set("lease", "i3")  # a plain SET drops the TTL
    assert twin.pttl("lease") == -1
    assert twin.pexpire("lease", 0) == 1 and twin.exists("lease") == 0  # <= 0: deleted
    assert twin.incr("epoch") == 1 and twin.incr("epoch") == 2
    twin.set("epoch", "x")
    with pytest.raises(TwinError):
        twin.acquire("owner", "epoch", "n1/i1", "")
    assert twin.get("owner") is None  # failed before any write
    twin.flushall()
    assert twin.state() == {}
    assert twin.generation("gen", "g1") == b"g1" and twin.generation("gen", "g2") == b"g1"


def test_the_backplane_uses_the_twins_key_scheme() -> None:
    plane = backplane_redis.RedisBackplane("redis://127.0.0.1:1/0", "n1")
    assert plane.keys == K
    assert K.lease("n1") == "rs:{n:n1}:lease" and K.room("r", "owner") == "rs:{r:r}:owner"
    assert K.generation == "rs:{g}:gen"
