"""The Redis backplane (``pip install 'rtcsignal[redis]'``: redis-py asyncio with hiredis).

Theory of operation
-------------------
Keys (``rs`` is ``key_prefix``; every key carries a hash tag, so that each room's keys
share one Redis Cluster slot and its Lua scripts stay legal there):

=============================  ========================================================
``rs:{n:<node>}:lease``        the instance's incarnation, ``PX lease_ttl``; renewed by
                               a compare-and-``PEXPIRE`` script every ``renew_every``
``rs:{n:<node>}:in``           the instance's inbox, a stream (``XADD … MAXLEN ~``):
                               a Redis blip delays envelopes instead of losing them
``rs:nodes``                   sorted set, instance -> last renewal (for peer lists;
                               liveness is the lease)
``rs:{r:<key>}:owner``         ``node/incarnation/epoch``, changed only by the
                               ``acquire`` script (compare-and-set) and ``release``
``rs:{r:<key>}:epoch``         incremented on every ownership change
``rs:{r:<key>}:state``         the room state, written only by the owner at its epoch
                               (the ``persist`` script: a fenced write)
``rs:{g}:gen``                 the cluster generation: 32 random hex digits, set once
                               (``SET NX``, the ``generation`` script) by the first
                               instance; every instance remembers it
=============================  ========================================================

The scripts' Lua sources and their Python twins (the one statement of their semantics
that a simulation runs) live in :mod:`rtcsignal.backplane._twin`, next to the key
scheme (:class:`~rtcsignal.backplane._twin.Keys`).

Generation: every renewal runs the ``renew`` and ``generation`` scripts in one
``MULTI``/``EXEC``, so the instance learns atomically whether its lease lives and which
generation is in force. A generation that is gone (Redis restarted without its data) or
changed (a failover lost writes, or another instance already set a new one) is a
**reset**: the ``generation`` script has set a fresh one when none was there (so every
instance converges on the first one set), this instance adopts it, takes a new
incarnation (every ownership token from before is void), registers its lease again and
calls ``on_reset`` (``rtcsignal_backplane_resets_total``).

Ordering: one writer task sends everything queued with :meth:`RedisBackplane.post`,
:meth:`~RedisBackplane.persist` and :meth:`~RedisBackplane.release` in one pipelined
round trip per batch, on one connection, in order; envelopes for one destination go in
one stream entry per batch. The inbox reader has its own connection (``XREAD BLOCK``).
A failed batch is retried with backoff until ``outbox_deadline``, then counted
(``rtcsignal_backplane_publish_failures_total``) and dropped: the waiting requests then
end in ``backplane_unavailable`` at their edges, never in silence.

The client is redis-py's asyncio client, so this backplane needs the asyncio event loop
(a clear :class:`~rtcsignal.protocol.UsageError` at start otherwise).
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from typing import Any, Final

import anyio
import anyio.abc
import msgspec

from rtcsignal.protocol import UsageError

from . import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RENEW_EVERY,
    BackplaneState,
    OnChange,
    OnMessage,
    Owner,
    _count,
    _count_reset,
    _observe,
    _Plane,
)
from ._twin import ACQUIRE as _ACQUIRE
from ._twin import GENERATION as _GENERATION
from ._twin import PERSIST as _PERSIST
from ._twin import RELEASE as _RELEASE
from ._twin import RENEW as _RENEW
from ._twin import Keys

__all__ = ["DEFAULT_INBOX_MAXLEN", "DEFAULT_OUTBOX_DEADLINE", "RedisBackplane"]

DEFAULT_INBOX_MAXLEN: Final = 10_000
"""Stream entries (batches) kept in an inbox (approximate trimming)."""
DEFAULT_OUTBOX_DEADLINE: Final = 1.0
"""Seconds a batch is retried while Redis fails, before it is counted and dropped."""
_BLOCK_MS: Final = 1000

_BATCH: Final = msgspec.msgpack.Decoder(list[bytes])
_ENCODE: Final = msgspec.msgpack.Encoder()


class RedisBackplane(_Plane):
    """A :class:`~rtcsignal.backplane.Backplane` on Redis (7.0 or newer).

    Args:
        url: ``redis://127.0.0.1:6379/0`` (any URL redis-py takes).
        node: this instance's id (default :func:`~rtcsignal.backplane.new_instance_id`).
        key_prefix: put before every key (several clusters on one Redis).
        lease_ttl / renew_every: the lease's life and renewal period (seconds).
        inbox_maxlen: entries an inbox keeps.
        outbox_deadline: seconds a failing batch is retried.
        metrics: the runtime's metrics hook, if any.
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        node: str | None = None,
        *,
        key_prefix: str = "rs",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        renew_every: float = DEFAULT_RENEW_EVERY,
        inbox_maxlen: int = DEFAULT_INBOX_MAXLEN,
        outbox_deadline: float = DEFAULT_OUTBOX_DEADLINE,
        metrics: Any = None,
    ) -> None:
        super().__init__(node, lease_ttl, renew_every, metrics)
        self.url = url
        self.prefix = key_prefix
        self.inbox_maxlen = inbox_maxlen
        self.outbox_deadline = outbox_deadline
        self._queue: list[tuple[str, Any]] = []
        self._wake: anyio.Event | None = None
        self._redis: Any = None
        self._reader: Any = None
        self._scripts: dict[str, Any] = {}
        self._sha: dict[str, str] = {}
        self._writing = False
        self.keys = Keys(key_prefix)
        """The key scheme."""

    # ------------------------------------------------------------ keys
    def _lease(self, node: str) -> str:
        return self.keys.lease(node)

    def _inbox(self, node: str) -> str:
        return self.keys.inbox(node)

    def _room(self, key: str, what: str) -> str:
        return self.keys.room(key, what)

    @property
    def _me(self) -> str:
        return f"{self.node}/{self.incarnation}"

    def _set_state(self, state: BackplaneState) -> None:
        if state is self._state:
            return
        self._state = state
        set_gauge = getattr(self.metrics, "set", None)
        if set_gauge is not None:
            for each in BackplaneState:
                set_gauge("rtcsignal_backplane_state", {"state": each.value}, float(each is state))

    def _error(self, op: str) -> None:
        _count(self.metrics, "rtcsignal_backplane_redis_errors_total", {"op": op})

    # ------------------------------------------------------------ lifecycle
    async def start(
        self,
        tg: anyio.abc.TaskGroup,
        on_message: OnMessage,
        on_peers: OnChange,
        on_lost: OnChange,
        *,
        on_reset: OnChange | None = None,
    ) -> None:
        """See :meth:`rtcsignal.backplane.Backplane.start`.

        Raises:
            UsageError: not on asyncio, redis-py missing, Redis unreachable, or another
                live instance has this id.
        """
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            raise UsageError(
                "the Redis backplane needs the asyncio event loop (redis-py's asyncio "
                "client); run this runtime on asyncio, or without --redis-url"
            )
        try:
            import redis.asyncio as aioredis
        except ModuleNotFoundError:
            raise UsageError(
                "the Redis backplane needs redis-py: pip install 'rtcsignal[redis]'"
            ) from None
        self._redis = aioredis.Redis.from_url(self.url, socket_timeout=2.0)
        self._reader = aioredis.Redis.from_url(
            self.url, socket_timeout=_BLOCK_MS / 1000 + 2.0, single_connection_client=True
        )
        redis = self._redis
        for name, lua in (
            ("acquire", _ACQUIRE),
            ("release", _RELEASE),
            ("persist", _PERSIST),
            ("renew", _RENEW),
            ("generation", _GENERATION),
        ):
            self._scripts[name] = redis.register_script(lua)
        try:
            await self._load_scripts()
            last = await redis.xrevrange(self._inbox(self.node), count=1)
            start_id = last[0][0] if last else b"0-0"  # only what is sent from now on
            taken = await redis.set(
                self._lease(self.node), self.incarnation, nx=True, px=_ms(self.lease_ttl)
            )
        except Exception as exc:
            await self._close_clients()
            raise UsageError(f"the Redis backplane cannot reach {self.url}: {exc}") from None
        if not taken:
            await self._close_clients()
            raise UsageError(f"another live instance has the id {self.node!r}")
        try:
            self.generation = (await self._join_generation(redis)).decode()
        except Exception as exc:
            await self._close_clients()
            raise UsageError(f"the Redis backplane cannot reach {self.url}: {exc}") from None
        await redis.zadd(f"{self.prefix}:nodes", {self.node: time.time() * 1000})
        self._peers = await self._live()
        self._set_state(BackplaneState.UP)

        async def run() -> None:
            with anyio.CancelScope() as self._scope:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(self._read, start_id, on_message)
                    inner.start_soon(self._renew, on_peers, on_lost, on_reset)
                    inner.start_soon(self._write)

        tg.start_soon(run)

    async def _load_scripts(self) -> None:
        """Load the scripts the pipelined writer calls by digest (again after a Redis
        restart forgot them)."""
        for name in ("persist", "release"):
            self._sha[name] = await self._redis.script_load(self._scripts[name].script)

    async def stop(self) -> None:
        """See :meth:`rtcsignal.backplane.Backplane.stop`: flush what is queued, drop the
        lease and the keys still held (best effort), close the connections."""
        if self._redis is None or self._state is BackplaneState.STOPPED:
            return
        with anyio.move_on_after(2.0, shield=True):
            while self._writing or self._queue:  # let the writer send what is queued
                await anyio.sleep(0.01)
            try:
                await self._scripts["release"](
                    keys=[self._lease(self.node)], args=[self.incarnation]
                )
                await self._redis.zrem(f"{self.prefix}:nodes", self.node)
            except Exception:
                self._error("stop")
        if self._scope is not None:
            self._scope.cancel()
        await self._close_clients()
        self._set_state(BackplaneState.STOPPED)

    async def _close_clients(self) -> None:
        for client in (self._reader, self._redis):
            if client is not None:
                with anyio.move_on_after(1.0, shield=True):
                    with contextlib.suppress(Exception):
                        await client.aclose()

    # ------------------------------------------------------------ tasks
    async def _read(self, start_id: bytes, on_message: OnMessage) -> None:
        inbox = self._inbox(self.node)
        last = start_id
        backoff = 0.05
        while True:
            try:
                found = await self._reader.xread({inbox: last}, count=256, block=_BLOCK_MS)
            except Exception:
                _count(self.metrics, "rtcsignal_backplane_subscribe_failures_total")
                self._error("xread")
                self._set_state(BackplaneState.DEGRADED)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                _count(self.metrics, "rtcsignal_backplane_reconnects_total")
                continue
            if backoff > 0.05:
                backoff = 0.05
                self._set_state(BackplaneState.UP)
            now = time.time()
            for _stream, entries in found or ():
                for entry_id, fields in entries:
                    last = entry_id
                    sent = float(fields.get(b"t", b"0"))
                    batch = _BATCH.decode(fields[b"d"])
                    _observe(self.metrics, "rtcsignal_backplane_hop_seconds", now - sent)
                    for data in batch:
                        _count(self.metrics, "rtcsignal_backplane_messages_in_total")
                        on_message(data)

    async def _join_generation(self, client: Any) -> Any:
        """The ``generation`` script with a fresh candidate, on ``client`` (the
        connection, or a pipeline that queues it)."""
        fresh = secrets.token_hex(16)
        return await self._scripts["generation"](
            keys=[self.keys.generation], args=[fresh], client=client
        )

    async def _renew(
        self, on_peers: OnChange, on_lost: OnChange, on_reset: OnChange | None
    ) -> None:
        redis = self._redis
        while True:
            await anyio.sleep(self.renew_every)
            try:
                async with redis.pipeline(transaction=True) as pipe:  # lease and generation
                    await self._scripts["renew"](
                        keys=[self._lease(self.node), self._inbox(self.node)],
                        args=[self.incarnation, _ms(self.lease_ttl), 60_000],
                        client=pipe,
                    )
                    await self._join_generation(pipe)
                    kept, gen = await pipe.execute()
                if gen.decode() != self.generation:  # Redis lost its data: a reset
                    await self._reset(gen.decode(), on_lost, on_reset)
                elif not kept:  # lapsed (a stall, or Redis lost it): a new incarnation
                    on_lost()
                    self.incarnation = secrets.token_hex(4)
                    await redis.set(
                        self._lease(self.node), self.incarnation, nx=True, px=_ms(self.lease_ttl)
                    )
                await redis.zadd(f"{self.prefix}:nodes", {self.node: time.time() * 1000})
                live = await self._live()
            except Exception:
                self._error("renew")
                self._set_state(BackplaneState.DEGRADED)
                continue
            self._set_state(BackplaneState.UP)
            if live != self._peers:
                self._peers = live
                on_peers()

    async def _reset(self, gen: str, on_lost: OnChange, on_reset: OnChange | None) -> None:
        """Adopt generation ``gen``: a new incarnation under a new lease, then
        ``on_reset`` (``on_lost`` when there is none)."""
        old, self.incarnation = self.incarnation, secrets.token_hex(4)
        lease = self._lease(self.node)
        # the old lease is gone, or (writes lost but not this one) replaced here
        await self._scripts["release"](keys=[lease], args=[old])
        await self._redis.set(lease, self.incarnation, nx=True, px=_ms(self.lease_ttl))
        await self._load_scripts()  # a restarted Redis forgot them
        self.generation = gen  # only now: a reset that failed half-way is tried again
        (on_reset or on_lost)()
        _count_reset(self.metrics)

    async def _live(self) -> set[str]:
        redis = self._redis
        cutoff = time.time() * 1000 - 60_000
        names = [
            n.decode() for n in await redis.zrangebyscore(f"{self.prefix}:nodes", cutoff, "+inf")
        ]
        names = [n for n in names if n != self.node]
        if not names:
            return set()
        pipe = redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(self._lease(name))
        alive = await pipe.execute()
        return {n for n, ok in zip(names, alive, strict=True) if ok}

    async def _write(self) -> None:
        while True:
            if not self._queue:
                wake = self._wake = anyio.Event()
                await wake.wait()
                continue
            batch, self._queue = self._queue, []
            self._writing = True
            try:
                await self._flush(batch)
            finally:
                self._writing = False

    async def _flush(self, batch: list[tuple[str, Any]]) -> None:
        deadline = time.monotonic() + self.outbox_deadline
        backoff = 0.05
        while True:
            try:
                await self._send(batch)
                return
            except Exception as exc:
                self._error("write")
                self._set_state(BackplaneState.DEGRADED)
                if "NOSCRIPT" in str(exc):
                    with contextlib.suppress(Exception):
                        await self._load_scripts()
                if time.monotonic() + backoff > deadline:
                    posts = sum(len(a) for k, a in batch if k == "post")
                    _count(self.metrics, "rtcsignal_backplane_publish_failures_total", None, posts)
                    return
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _send(self, batch: list[tuple[str, Any]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        posts: dict[str, list[bytes]] = {}
        for kind, arg in batch:  # one stream entry per destination, in order
            if kind == "post":
                posts.setdefault(arg[0], []).append(arg[1])
        sent = str(time.time())
        for node, datas in posts.items():
            pipe.xadd(
                self._inbox(node),
                {"d": _ENCODE.encode(datas), "t": sent},
                maxlen=self.inbox_maxlen,
                approximate=True,
            )
        scripts: list[str] = []
        for kind, arg in batch:
            if kind == "persist":
                key, token, data = arg
                owner, state = self._room(key, "owner"), self._room(key, "state")
                pipe.evalsha(self._sha["persist"], 2, owner, state, token, data)
                scripts.append(kind)
            elif kind == "release":
                key, token = arg
                pipe.evalsha(self._sha["release"], 1, self._room(key, "owner"), token)
                scripts.append(kind)
        results = await pipe.execute()
        count = sum(len(d) for d in posts.values())
        if count:
            _count(self.metrics, "rtcsignal_backplane_messages_out_total", None, count)
        fenced = sum(
            1
            for kind, result in zip(scripts, results[len(posts) :], strict=True)
            if kind == "persist" and not result
        )
        if fenced:
            _count(self.metrics, "rtcsignal_backplane_fenced_drops_total", None, fenced)

    def _enqueue(self, kind: str, arg: Any) -> None:
        if self._state is BackplaneState.STOPPED:
            return
        self._queue.append((kind, arg))
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    # ------------------------------------------------------------ the seam
    async def _alive(self, owner: Owner) -> bool:
        value = await self._redis.get(self._lease(owner.node))
        return value is not None and value.decode() == owner.incarnation

    async def owner(self, key: str) -> Owner | None:
        """See :meth:`rtcsignal.backplane.Backplane.owner`."""
        try:
            value = await self._redis.get(self._room(key, "owner"))
            if value is None:
                return None
            owner = Owner.decode(value)
            return owner if await self._alive(owner) else None
        except Exception:
            self._error("owner")
            raise

    async def acquire(self, key: str) -> Owner:
        """See :meth:`rtcsignal.backplane.Backplane.acquire`: the ``acquire`` script
        (compare-and-set), and a takeover when the owner's lease lapsed."""
        keys = [self._room(key, "owner"), self._room(key, "epoch")]
        try:
            owner = Owner.decode(await self._scripts["acquire"](keys=keys, args=[self._me, ""]))
            took_over = False
            if not self._mine(owner) and not await self._alive(owner):
                dead = owner.encode()
                owner = Owner.decode(
                    await self._scripts["acquire"](keys=keys, args=[self._me, dead])
                )
                took_over = True
        except Exception:
            self._error("acquire")
            raise
        if self._mine(owner):
            _count(self.metrics, "rtcsignal_backplane_ownership_acquired_total")
            if took_over:
                _count(self.metrics, "rtcsignal_backplane_takeovers_total")
        return owner

    def _mine(self, owner: Owner) -> bool:
        return owner.node == self.node and owner.incarnation == self.incarnation

    def release(self, key: str, epoch: int) -> None:
        """See :meth:`rtcsignal.backplane.Backplane.release`."""
        self._enqueue("release", (key, f"{self._me}/{epoch}"))

    def persist(self, key: str, epoch: int, data: bytes) -> None:
        """See :meth:`rtcsignal.backplane.Backplane.persist`."""
        self._enqueue("persist", (key, f"{self._me}/{epoch}", data))

    async def read_state(self, key: str) -> bytes | None:
        """See :meth:`rtcsignal.backplane.Backplane.read_state`."""
        value = await self._redis.get(self._room(key, "state"))
        return None if value is None else bytes(value)

    def post(self, node: str, data: bytes) -> None:
        """See :meth:`rtcsignal.backplane.Backplane.post`."""
        self._enqueue("post", (node, data))


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
