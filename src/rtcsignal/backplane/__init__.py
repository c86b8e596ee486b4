"""Backplanes: what instances of one cluster share (ownership, leases, inboxes, state).

Theory of operation
-------------------
A :class:`Backplane` is the seam between the runtime of one instance and the others
(see ``docs/scaling.md``). It offers exactly what route-to-owner needs:

* **Leases.** :meth:`Backplane.start` registers the instance under a lease (an
  incarnation, renewed every ``renew_every`` seconds, lapsing after ``lease_ttl``) and
  starts reading its inbox. :meth:`Backplane.peers` lists the instances whose lease lives.
* **Ownership.** :meth:`Backplane.acquire` takes a key by compare-and-set, never
  read-then-write: when nobody owns it, or when its owner's lease lapsed (a takeover),
  the epoch of the key grows by one and the caller owns it at that epoch; otherwise the
  current owner comes back. :meth:`Backplane.release` gives it up only if it is still
  held at that epoch.
* **Fenced state.** :meth:`Backplane.persist` writes a room's state only if its writer
  still owns the key at the epoch it names.
* **Inboxes.** :meth:`Backplane.post` queues an envelope for another instance: in order
  per destination, without waiting (a background writer batches what is queued).
* **Generation.** The first instance of a cluster sets a random *generation* (``SET
  NX``); every instance remembers the one it joined (:attr:`Backplane.generation`) and
  checks it at each renewal, atomically with its lease. A generation gone or changed
  means the shared store lost its data (Redis restarted empty, a failover lost writes):
  every owner, epoch and state is gone with it. That is a **reset**: the instance adopts
  the generation in force (setting a fresh one, ``NX``, when none is, so that every
  instance converges on one), takes a new incarnation (every ownership from before is
  void), registers its lease again and calls ``on_reset`` (see :meth:`Backplane.start`).

Two implementations: :class:`MemoryBackplane` (instances in one process sharing a
:class:`MemoryHub`: tests, simulations, embedding several runtimes) and
:class:`~rtcsignal.backplane.redis.RedisBackplane` (``pip install 'rtcsignal[redis]'``).
The default runtime has no backplane at all: one instance owns every room.
"""

from __future__ import annotations

import contextlib
import enum
import secrets
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectSendStream

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RENEW_EVERY",
    "Backplane",
    "BackplaneState",
    "MemoryBackplane",
    "MemoryHub",
    "Owner",
    "new_instance_id",
]

DEFAULT_LEASE_TTL: Final = 3.0
"""Seconds an instance lease lives without renewal: a dead owner's rooms can be taken
over within this (plus a renewal), and a 2.5 s event-loop stall is not mistaken for a
death."""
DEFAULT_RENEW_EVERY: Final = 0.5
"""Seconds between lease renewals: six chances per lease."""

OnMessage = Callable[[bytes], None]
OnChange = Callable[[], None]


class BackplaneState(enum.Enum):
    """Where a backplane stands (``/healthz`` and the ``rtcsignal_backplane_state``
    gauge)."""

    STARTING = "starting"
    UP = "up"
    DEGRADED = "degraded"
    """Commands fail or the inbox cannot be read; retries go on."""
    STOPPED = "stopped"


@attrs.frozen
class Owner:
    """The owner of a key: its instance, that instance's incarnation, and the epoch."""

    node: str
    incarnation: str
    epoch: int

    def encode(self) -> str:
        """The owner key's value: ``node/incarnation/epoch``."""
        return f"{self.node}/{self.incarnation}/{self.epoch}"

    @classmethod
    def decode(cls, value: str | bytes) -> Owner:
        """Parse an owner key's value."""
        text = value.decode() if isinstance(value, bytes) else value
        node, incarnation, epoch = text.rsplit("/", 2)
        return cls(node, incarnation, int(epoch))


def new_instance_id() -> str:
    """A fresh instance id (when ``--instance-id`` is not given): ``i-`` and 8 random
    URL-safe characters (no ``.``: it separates the id in resume tokens)."""
    return "i-" + secrets.token_urlsafe(6).replace(".", "_")


class Backplane(Protocol):
    """The seam between an instance and its cluster. See the module docstring."""

    kind: str
    """``"memory"`` or ``"redis"``."""
    node: str
    """This instance's id."""
    generation: str
    """The cluster generation this instance works in (``""`` before :meth:`start`)."""

    @property
    def state(self) -> BackplaneState:
        """Where the backplane stands."""

    async def start(
        self,
        tg: anyio.abc.TaskGroup,
        on_message: OnMessage,
        on_peers: OnChange,
        on_lost: OnChange,
        *,
        on_reset: OnChange | None = None,
    ) -> None:
        """Register this instance (lease), start reading its inbox into ``on_message``
        (one call per envelope, in order), and call ``on_peers`` when the set of live
        instances changes and ``on_lost`` if this instance's lease is lost.

        ``on_reset`` is called, from the renewal task and once per loss, when a renewal
        finds the cluster generation gone or changed (the store lost its data). Before
        the call the backplane has adopted the generation in force (:attr:`generation`),
        taken a new incarnation and registered its lease under it. So every ownership
        this instance held is void (its writes are fenced), every owner, epoch and room
        state from before is gone (epochs start again at 1), and envelopes in flight may
        be lost. The callee drops what it owned and its knowledge of owners and epochs
        (and may acquire its rooms again, with fresh epochs, and resync their members).
        ``on_lost`` is not called for a reset; without ``on_reset`` it is, instead.

        .. versionadded:: 0.1  ``on_reset``.

        Raises:
            UsageError: another live instance has this id.
        """

    async def stop(self) -> None:
        """Release every key held, drop the lease, stop reading (idempotent)."""

    def peers(self) -> set[str]:
        """The other instances whose lease lives (as of the last renewal)."""

    async def owner(self, key: str) -> Owner | None:
        """The current owner of ``key`` (``None``: nobody, or an owner whose lease lapsed)."""

    async def acquire(self, key: str) -> Owner:
        """Take ``key`` if nobody owns it (or its owner's lease lapsed), atomically;
        returns the owner, this instance (with a new epoch) or the one that holds it."""

    def release(self, key: str, epoch: int) -> None:
        """Give ``key`` up if still held at ``epoch`` (queued, in order)."""

    def persist(self, key: str, epoch: int, data: bytes) -> None:
        """Write ``key``'s state if still held at ``epoch`` (queued, in order, fenced)."""

    async def read_state(self, key: str) -> bytes | None:
        """The last state persisted for ``key``."""

    def post(self, node: str, data: bytes) -> None:
        """Queue ``data`` for instance ``node``'s inbox (in order per destination)."""

    def health(self) -> dict[str, Any]:
        """JSON-ready facts for ``/healthz``: kind, state, instance id, peers."""


# ===================================================================== in memory
class MemoryHub:
    """What :class:`MemoryBackplane` instances in one process share: the model of the
    keys (owners, epochs, states), the leases and the inboxes.

    Args:
        clock: monotonic seconds (lease expiry).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.leases: dict[str, tuple[str, float]] = {}
        """node -> (incarnation, expiry)."""
        self.owners: dict[str, Owner] = {}
        self.epochs: dict[str, int] = {}
        self.states: dict[str, bytes] = {}
        self.inboxes: dict[str, MemoryObjectSendStream[tuple[float, bytes]]] = {}
        self.fenced_writes = 0
        self.generation: str | None = None
        """The cluster generation (``None``: none set, as after :meth:`flush`)."""

    def join_generation(self, fresh: str) -> str:
        """The generation in force, ``fresh`` when none was set (``SET NX``, then ``GET``:
        the ``generation`` script)."""
        if self.generation is None:
            self.generation = fresh
        return self.generation

    def flush(self) -> None:
        """Lose everything, as Redis does when it restarts without its data: leases,
        owners, epochs, states and the generation. (Envelopes already queued in an
        inbox are still delivered; with Redis they may be lost.)"""
        self.leases.clear()
        self.owners.clear()
        self.epochs.clear()
        self.states.clear()
        self.generation = None

    def alive(self, node: str, incarnation: str | None = None) -> bool:
        """Whether ``node``'s lease lives (with ``incarnation``, when given)."""
        lease = self.leases.get(node)
        if lease is None or lease[1] <= self.clock():
            return False
        return incarnation is None or lease[0] == incarnation

    def acquire(self, key: str, owner_node: str, incarnation: str) -> tuple[Owner, bool]:
        """The atomic compare-and-set: ``(owner, taken over)``."""
        current = self.owners.get(key)
        if current is not None and self.alive(current.node, current.incarnation):
            return current, False
        epoch = self.epochs[key] = self.epochs.get(key, 0) + 1
        owner = self.owners[key] = Owner(owner_node, incarnation, epoch)
        return owner, current is not None


class _Plane:
    """What both backplanes keep: the instance, its incarnation and lease timing, its
    state and its peers (as of the last renewal)."""

    kind = ""

    def __init__(
        self, node: str | None, lease_ttl: float, renew_every: float, metrics: Any
    ) -> None:
        self.node = node or new_instance_id()
        self.incarnation = secrets.token_hex(4)
        self.lease_ttl = lease_ttl
        self.renew_every = renew_every
        self.metrics = metrics
        self.generation = ""
        """The cluster generation this instance works in (``""`` before ``start``)."""
        self._state = BackplaneState.STARTING
        self._peers: set[str] = set()
        self._scope: anyio.CancelScope | None = None

    @property
    def state(self) -> BackplaneState:
        """Where the backplane stands."""
        return self._state

    def peers(self) -> set[str]:
        """See :meth:`Backplane.peers`."""
        return set(self._peers)

    def health(self) -> dict[str, Any]:
        """See :meth:`Backplane.health`."""
        return {
            "kind": self.kind,
            "state": self._state.value,
            "instance": self.node,
            "peers": sorted(self._peers),
        }


class MemoryBackplane(_Plane):
    """A :class:`Backplane` for instances in one process, on a shared :class:`MemoryHub`.

    Args:
        hub: what the instances share.
        node: this instance's id (default :func:`new_instance_id`).
        lease_ttl / renew_every: the lease's life and renewal period (seconds).
        metrics: the runtime's metrics hook (``count`` / ``observe``), if any.
    """

    kind = "memory"

    def __init__(
        self,
        hub: MemoryHub,
        node: str | None = None,
        *,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        renew_every: float = DEFAULT_RENEW_EVERY,
        metrics: Any = None,
    ) -> None:
        super().__init__(node, lease_ttl, renew_every, metrics)
        self.hub = hub

    async def start(
        self,
        tg: anyio.abc.TaskGroup,
        on_message: OnMessage,
        on_peers: OnChange,
        on_lost: OnChange,
        *,
        on_reset: OnChange | None = None,
    ) -> None:
        """See :meth:`Backplane.start`."""
        from rtcsignal.protocol import UsageError

        hub = self.hub
        if hub.alive(self.node):
            raise UsageError(f"another live instance has the id {self.node!r}")
        hub.leases[self.node] = (self.incarnation, hub.clock() + self.lease_ttl)
        self.generation = hub.join_generation(secrets.token_hex(16))
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](10_000)
        hub.inboxes[self.node] = send
        self._state = BackplaneState.UP
        self._peers = self._live()

        async def read() -> None:
            async with receive:
                async for sent, data in receive:
                    _count(self.metrics, "rtcsignal_backplane_messages_in_total")
                    _observe(self.metrics, "rtcsignal_backplane_hop_seconds", time.time() - sent)
                    on_message(data)

        async def renew() -> None:
            while True:
                await anyio.sleep(self.renew_every)
                gen = hub.join_generation(secrets.token_hex(16))
                if gen != self.generation:  # the hub lost its data: a reset
                    self.generation = gen
                    self.incarnation = secrets.token_hex(4)
                    hub.leases[self.node] = (self.incarnation, hub.clock() + self.lease_ttl)
                    (on_reset or on_lost)()
                    _count_reset(self.metrics)
                elif not hub.alive(self.node, self.incarnation):
                    on_lost()
                    self.incarnation = secrets.token_hex(4)
                hub.leases[self.node] = (self.incarnation, hub.clock() + self.lease_ttl)
                live = self._live()
                if live != self._peers:
                    self._peers = live
                    on_peers()

        async def run() -> None:
            with anyio.CancelScope() as self._scope:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(read)
                    inner.start_soon(renew)

        tg.start_soon(run)

    def _live(self) -> set[str]:
        hub = self.hub
        return {n for n in list(hub.leases) if n != self.node and hub.alive(n)}

    async def stop(self) -> None:
        """See :meth:`Backplane.stop`."""
        hub = self.hub
        for key, owner in list(hub.owners.items()):
            if owner.node == self.node and owner.incarnation == self.incarnation:
                del hub.owners[key]
        hub.leases.pop(self.node, None)
        inbox = hub.inboxes.pop(self.node, None)
        if inbox is not None:
            inbox.close()
        if self._scope is not None:
            self._scope.cancel()
        self._state = BackplaneState.STOPPED

    async def owner(self, key: str) -> Owner | None:
        """See :meth:`Backplane.owner`."""
        owner = self.hub.owners.get(key)
        if owner is None or not self.hub.alive(owner.node, owner.incarnation):
            return None
        return owner

    async def acquire(self, key: str) -> Owner:
        """See :meth:`Backplane.acquire`."""
        owner, took_over = self.hub.acquire(key, self.node, self.incarnation)
        if owner.node == self.node and owner.incarnation == self.incarnation:
            _count(self.metrics, "rtcsignal_backplane_ownership_acquired_total")
            if took_over:
                _count(self.metrics, "rtcsignal_backplane_takeovers_total")
        return owner

    def release(self, key: str, epoch: int) -> None:
        """See :meth:`Backplane.release`."""
        owner = self.hub.owners.get(key)
        if owner == Owner(self.node, self.incarnation, epoch):
            del self.hub.owners[key]

    def persist(self, key: str, epoch: int, data: bytes) -> None:
        """See :meth:`Backplane.persist`."""
        hub = self.hub
        if hub.owners.get(key) == Owner(self.node, self.incarnation, epoch):
            hub.states[key] = data
        else:
            hub.fenced_writes += 1
            _count(self.metrics, "rtcsignal_backplane_fenced_drops_total")

    async def read_state(self, key: str) -> bytes | None:
        """See :meth:`Backplane.read_state`."""
        return self.hub.states.get(key)

    def post(self, node: str, data: bytes) -> None:
        """See :meth:`Backplane.post`."""
        inbox = self.hub.inboxes.get(node)
        if inbox is None:
            _count(self.metrics, "rtcsignal_backplane_publish_failures_total")
            return
        try:
            inbox.send_nowait((time.time(), data))
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            _count(self.metrics, "rtcsignal_backplane_publish_failures_total")
            return
        _count(self.metrics, "rtcsignal_backplane_messages_out_total")


def _count(
    metrics: Any, name: str, labels: dict[str, str] | None = None, value: float = 1.0
) -> None:
    if metrics is not None:
        metrics.count(name, labels or {}, value)


def _count_reset(metrics: Any) -> None:
    """Count a reset (``rtcsignal_backplane_resets_total``). A metrics hook that does not
    declare that counter yet (``PrometheusMetrics`` refuses unknown names) must not
    stop the reset: it is skipped."""
    with contextlib.suppress(KeyError):
        _count(metrics, "rtcsignal_backplane_resets_total")


def _observe(metrics: Any, name: str, value: float) -> None:
    if metrics is not None:
        metrics.observe(name, {}, max(value, 0.0))
