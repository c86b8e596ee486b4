"""The runtime's link to its backplane: it carries out the core's cluster effects.

Theory of operation
-------------------
A runtime built with a backplane runs its core server with ``node=`` (see
:mod:`rtcsignal.core.cluster`) and hands every cluster effect to one :class:`ClusterLink`:

* ``Route``: the owner cache answers at once for a key seen before (entries go when the
  owner bounces an ask, or leaves the cluster); otherwise one task per key resolves it
  (``acquire`` when the input may create the room, else a lookup) while later routes for
  that key wait behind it, in order. When this instance becomes the owner the core is
  told (``own``) and handed the asks; when nobody owns the key and the input cannot
  create it, the core answers it from no room.
* ``Post``, ``Persist``, ``Release``: queued on the backplane, which writes them in order.
* **Reset.** When Redis lost its data (the backplane's ``on_reset``: a new cluster
  generation), every ownership is void: the core forgets its epochs, this instance
  acquires each of its rooms again (they are still in memory) and writes them anew, and
  tells every owner where its sessions stand.
* **Takeover.** When this instance becomes a key's owner it reads the key's last written
  state and hands it to the core with the ownership (``own(key, epoch, state=...)``), so
  a room whose owner died (or stopped with members left) continues here. A route for a
  key nobody owns takes it over when such a state exists, and when an instance leaves
  the cluster every instance that knew it as an owner tries to take those keys over at
  once (one wins the compare-and-set; the others learn the new owner).
* ``AdminAnswer``: the outcome of an application call routed to another instance, for
  the admin API's waiting caller (``answered``); ``AdminPending`` is the admin API's own.

Envelopes read from the inbox go straight to the core (``envelope``), and their effects
are executed like a frame's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import anyio.abc

from rtcsignal.backplane import Backplane, Owner
from rtcsignal.core import Server
from rtcsignal.core.cluster import (
    AdminAnswer,
    AdminPending,
    OwnerSeen,
    Persist,
    Post,
    Release,
    Route,
    decode_state,
)

__all__ = ["CLUSTER_EFFECTS", "ClusterLink"]

logger: Final = logging.getLogger("rtcsignal")

CLUSTER_EFFECTS: Final = frozenset(
    {Route, Post, Persist, Release, AdminPending, AdminAnswer, OwnerSeen}
)
"""The effect types a :class:`ClusterLink` carries out."""


class ClusterLink:
    """Carries out a cluster server's effects on a backplane. See the module docstring.

    Args:
        server: the core server (built with ``node=backplane.node``).
        backplane: the backplane.
        execute: runs a list of effects (the runtime's).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        server: Server,
        backplane: Backplane,
        execute: Callable[[list[Any]], None],
        clock: Callable[[], float],
    ) -> None:
        self.server = server
        self.backplane = backplane
        self._execute = execute
        self._clock = clock
        self._me = backplane.node
        self._owners: dict[str, Owner] = {}
        self._resolving: dict[str, list[Route]] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self.answered: Callable[[AdminAnswer], None] | None = None
        """Where the outcomes of routed application calls go (the admin API's)."""

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the backplane (lease, inbox) on ``tg``."""
        self._tg = tg
        await self.backplane.start(
            tg, self._on_message, self._on_peers, self._on_lost, on_reset=self._on_reset
        )
        self._execute(self.server.set_peers(self.backplane.peers()))

    async def stop(self) -> None:
        """Release every key this instance owns and stop the backplane."""
        for key, epoch in self.server.owned().items():
            self.backplane.release(key, epoch)
            self.server.disown(key)
        await self.backplane.stop()

    # ------------------------------------------------------------ backplane -> core
    def _on_message(self, data: bytes) -> None:
        self._execute(self.server.envelope(data, self._clock()))

    def _on_peers(self) -> None:
        peers = self.backplane.peers()
        self._execute(self.server.set_peers(peers, self._clock()))
        for key, owner in list(self._owners.items()):
            if owner.node != self._me and owner.node not in peers:
                del self._owners[key]
                if key not in self._resolving and self._tg is not None:
                    self._resolving[key] = []  # its owner is gone: take the key over
                    self._tg.start_soon(self._resolve, key, True)

    def _on_lost(self) -> None:
        logger.warning(
            "backplane lease of instance %s lapsed: giving up its rooms",
            self._me,
            extra={"event": "lease_lost"},
        )
        now = self._clock()
        for key in self.server.owned():
            self.server.disown(key)
        self._owners.clear()
        self._execute(self.server.rejoin(now))  # the owners may think its sessions gone

    def _on_reset(self) -> None:
        logger.warning(
            "backplane: Redis lost its data (a new cluster generation): instance %s takes "
            "its rooms again",
            self._me,
            extra={"event": "backplane_reset"},
        )
        self._owners.clear()
        keys = self.server.reset()
        assert self._tg is not None
        for key in keys:
            self._tg.start_soon(self._take_again, key)
        self._execute(self.server.rejoin(self._clock()))

    async def _take_again(self, key: str) -> None:
        """Acquire ``key`` again after a reset; its room (kept in memory) goes on here,
        or, when another instance got it first, is dropped here."""
        try:
            owner = await self.backplane.acquire(key)
        except Exception:
            logger.exception(
                "backplane: could not take %s again", key, extra={"event": "route_error"}
            )
            self.server.disown(key)
            return
        if owner.node == self._me:
            self._owners[key] = owner
            self._execute(self.server.own(key, owner.epoch, now=self._clock()))
        else:
            self.server.disown(key)

    # ------------------------------------------------------------ core -> backplane
    def handle(self, effect: Any) -> None:
        """Carry out one cluster effect."""
        kind = type(effect)
        if kind is Route:
            self._route(effect)
        elif kind is Post:
            if effect.node is not None:
                self.backplane.post(effect.node, effect.data)
            else:
                for node in sorted(self.backplane.peers()):
                    self.backplane.post(node, effect.data)
        elif kind is Persist:
            self.backplane.persist(effect.key, effect.epoch, effect.data)
        elif kind is AdminAnswer:
            if self.answered is not None:
                self.answered(effect)
        elif kind is OwnerSeen:
            cached = self._owners.get(effect.key)
            if cached is None or cached.epoch < effect.epoch:  # a takeover elsewhere
                self._owners[effect.key] = Owner(effect.node, "", effect.epoch)
        elif kind is AdminPending:
            pass  # the admin API waits for its answer
        else:
            self._owners.pop(effect.key, None)
            self.backplane.release(effect.key, effect.epoch)

    def _route(self, route: Route) -> None:
        key = route.key
        owners = self._owners
        if route.bounced is not None:
            cached = owners.get(key)
            if cached is not None and cached.node == route.bounced:
                del owners[key]
        waiting = self._resolving.get(key)
        if waiting is not None:
            waiting.append(route)
            return
        owner = owners.get(key)
        if owner is not None:
            if owner.node != self._me:
                self.backplane.post(owner.node, route.data)
                return
            if self.server.owns(key):
                self._execute(self.server.envelope(route.data, self._clock()))
                return
            del owners[key]
        self._resolving[key] = [route]
        assert self._tg is not None
        self._tg.start_soon(self._resolve, key)

    async def _continued(self, key: str) -> bytes | None:
        """The state last written for ``key``, when its room is to be continued (not
        gone)."""
        data = await self.backplane.read_state(key)
        if data is None:
            return None
        try:
            closed = decode_state(data).closed
        except Exception:
            return None
        return None if closed else data

    async def _resolve(self, key: str, takeover: bool = False) -> None:
        backplane = self.backplane
        state: bytes | None = None
        try:
            if takeover and (state := await self._continued(key)) is None:
                for route in self._resolving.pop(key, []):  # nothing to continue
                    self._route(route)
                return
            while True:
                create = takeover or any(r.create for r in self._resolving[key])
                owner = await (backplane.acquire(key) if create else backplane.owner(key))
                if owner is None and not takeover:
                    state = await self._continued(key)  # its owner died with members
                    takeover = state is not None
                    if takeover or any(r.create for r in self._resolving[key]):
                        continue
                break
            if owner is not None and owner.node == self._me and state is None:
                state = await self._continued(key) if owner.epoch > 1 else None
        except Exception:
            logger.exception(
                "backplane: could not resolve the owner of %s", key, extra={"event": "route_error"}
            )
            self._resolving.pop(key, None)  # their deadlines answer backplane_unavailable
            return
        routes = self._resolving.pop(key)
        server = self.server
        now = self._clock()
        if owner is None:
            for route in routes:
                self._execute(server.envelope(route.data, now, owner=False))
        elif owner.node == self._me:
            self._execute(server.own(key, owner.epoch, state=state, now=now))
            self._owners[key] = owner
            for route in routes:
                self._execute(server.envelope(route.data, now))
        else:
            self._owners[key] = owner
            for route in routes:
                backplane.post(owner.node, route.data)
