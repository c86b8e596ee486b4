"""Python twins of the Redis backplane's Lua scripts, on a small in-memory Redis model.

Theory of operation
-------------------
:class:`~rtcsignal.backplane.redis.RedisBackplane` rests its safety on a handful of Lua
scripts (compare-and-set ownership, compare-and-delete release, fenced state writes,
compare-and-``PEXPIRE`` lease renewal, the cluster generation). A deterministic model of
the cluster (``rtcsignal.testing``) cannot run Lua, so this module holds the **one**
Python statement of what each script does, on :class:`TwinRedis`, a model of exactly the
part of Redis the scripts touch:

* keys holding byte strings (a stream, such as an inbox, is modelled as an opaque value:
  the scripts only ``PEXPIRE`` it);
* ``GET``, ``SET`` (with ``NX`` / ``XX`` / ``PX``; a plain ``SET`` clears the TTL, as in
  Redis), ``DEL``, ``EXISTS``, ``INCR`` (an error on a value that is not an integer),
  ``PEXPIRE`` (a non-positive time deletes the key, as in Redis), ``PTTL`` and
  ``FLUSHALL``;
* TTLs on a **clock passed in** (seconds, like every ``now`` in rtcsignal): a key whose
  expiry is ``at`` lives while ``clock() < at`` and is gone (lazily) from then on. Nothing
  reads the wall clock, so a simulation advances time by hand.

Each script is a method with the script's keys and arguments in the script's order,
returning what Redis returns to redis-py (``bytes`` for a bulk string, ``int`` for an
integer). :data:`SCRIPTS` maps each script's name to its Lua source (the very string
``RedisBackplane`` loads) and to its twin. ``tests/backplane/test_lua_twins.py`` runs
random operation sequences against a real ``redis-server`` and against the twins and
requires identical results and key states: that test is what makes a simulation on the
twins say something about production.

:class:`Keys` is the key scheme both use (``docs/scaling.md``, *What is in Redis*).

Like Redis, a script that fails half-way (``INCR`` of a non-integer) keeps the writes it
made before the error: the twins raise :class:`TwinError` at the same point.

Driving the twins as ``RedisBackplane`` drives Redis
----------------------------------------------------
A model of the cluster keeps one :class:`TwinRedis` on its virtual clock and, per
instance, its ``node``, ``incarnation`` and remembered ``generation``; with ``k = Keys()``,
``me = node/incarnation`` and lease times in ms:

* start: ``set(k.lease(node), incarnation, nx=True, px=ttl)`` (``False``: the id is in
  use), then ``generation = generation(k.generation, fresh)``;
* each renewal (one ``MULTI``: nothing runs in between): ``kept = renew(k.lease(node),
  k.inbox(node), incarnation, ttl, 60_000)`` and ``gen = generation(k.generation,
  fresh)``; if ``gen`` differs from the remembered one, a **reset**: ``release(
  k.lease(node), old incarnation)``, a new incarnation, ``set(k.lease(node), new, nx=True,
  px=ttl)``, remember ``gen``, then ``on_reset``; else if not ``kept``: ``on_lost``, a new
  incarnation, ``set(…, nx=True, px=ttl)``;
* acquire: ``v = acquire(k.room(key, "owner"), k.room(key, "epoch"), me, "")``; when ``v``
  is another instance's and ``get(k.lease(that node))`` is not its incarnation, the
  takeover ``acquire(…, me, v)``;
* owner: ``get(k.room(key, "owner"))``, valid while its instance's lease holds its
  incarnation;
* release / persist: ``release(k.room(key, "owner"), me/epoch)`` and ``persist(
  k.room(key, "owner"), k.room(key, "state"), me/epoch, data)`` (``0``: fenced);
* faults: a Redis restart without its data is :meth:`TwinRedis.flushall`; a restart
  with its data changes nothing here; a stall is the clock moving past a lease's TTL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

import attrs

__all__ = ["SCRIPTS", "Keys", "TwinError", "TwinRedis"]

# The Lua sources. RedisBackplane loads these very strings; their twins are the
# methods of TwinRedis with the same name.
ACQUIRE: Final = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[2] then return cur end
local e = redis.call('INCR', KEYS[2])
local v = ARGV[1] .. '/' .. e
redis.call('SET', KEYS[1], v)
return v
"""
"""KEYS: owner, epoch. ARGV: ``node/incarnation``, the dead owner to replace (or "")."""
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""
"""KEYS: the key. ARGV: the value it must hold to be deleted."""
PERSIST: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end
return 0
"""
"""KEYS: owner, state. ARGV: ``node/incarnation/epoch``, the state."""
RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
"""KEYS: lease, inbox. ARGV: incarnation, lease ms, inbox ms."""
GENERATION: Final = """
local g = redis.call('GET', KEYS[1])
if g then return g end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""
"""KEYS: generation. ARGV: a fresh generation, set only when none is there (``SET NX``);
returns the generation in force."""


class TwinError(Exception):
    """What Redis would answer with an error reply (redis-py's ``ResponseError``)."""


Value = bytes | str | int


def _b(value: Value) -> bytes:
    """A value as Redis stores it (redis-py sends a ``str`` as UTF-8, an ``int`` in
    decimal)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


_INT64: Final = (-(2**63), 2**63 - 1)
_INTEGER: Final = re.compile(rb"0|-?[1-9][0-9]*")


def _int(value: Value, what: str = "value") -> int:
    """A value as Redis reads an integer (``string2ll``: no sign ``+``, no spaces, no
    leading zeros, 64 bits), else the error reply."""
    text = _b(value)
    if _INTEGER.fullmatch(text) is None or not _INT64[0] <= int(text) <= _INT64[1]:
        raise TwinError(f"{what} is not an integer or out of range")
    return int(text)


class TwinRedis:
    """The in-memory Redis model (see the module docstring).

    Args:
        clock: seconds, monotonic; TTLs expire against it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._values: dict[bytes, bytes] = {}
        self._expiry: dict[bytes, float] = {}

    # ------------------------------------------------------------ the keyspace
    def _live(self, key: bytes) -> bool:
        at = self._expiry.get(key)
        if at is not None and at <= self.clock():
            del self._values[key], self._expiry[key]
        return key in self._values

    def state(self) -> dict[bytes, tuple[bytes, float | None]]:
        """Every live key: its value and remaining TTL in seconds (``None``: none)."""
        now = self.clock()
        return {
            key: (self._values[key], None if (at := self._expiry.get(key)) is None else at - now)
            for key in list(self._values)
            if self._live(key)
        }

    def flushall(self) -> None:
        """``FLUSHALL``: Redis restarted without its data (or a failover lost it)."""
        self._values.clear()
        self._expiry.clear()

    # ------------------------------------------------------------ commands
    def get(self, key: Value) -> bytes | None:
        """``GET``."""
        k = _b(key)
        return self._values[k] if self._live(k) else None

    def set(
        self, key: Value, value: Value, *, px: int | None = None, nx: bool = False, xx: bool = False
    ) -> bool:
        """``SET [NX|XX] [PX ms]``: whether it was set. Without ``PX`` the TTL goes."""
        k = _b(key)
        exists = self._live(k)
        if (nx and exists) or (xx and not exists):
            return False
        if px is not None and px <= 0:
            raise TwinError("invalid expire time in 'set' command")
        self._values[k] = _b(value)
        if px is None:
            self._expiry.pop(k, None)
        else:
            self._expiry[k] = self.clock() + px / 1000
        return True

    def delete(self, *keys: Value) -> int:
        """``DEL``: how many keys were there."""
        gone = 0
        for key in keys:
            k = _b(key)
            if self._live(k):
                del self._values[k]
                self._expiry.pop(k, None)
                gone += 1
        return gone

    def exists(self, key: Value) -> int:
        """``EXISTS`` (one key): 1 or 0."""
        return int(self._live(_b(key)))

    def incr(self, key: Value) -> int:
        """``INCR``: the new value (a missing key counts from 0; the TTL is kept)."""
        k = _b(key)
        value = _int(self._values[k] if self._live(k) else b"0") + 1
        if value > _INT64[1]:
            raise TwinError("increment or decrement would overflow")
        self._values[k] = _b(value)
        return value

    def pexpire(self, key: Value, ms: Value) -> int:
        """``PEXPIRE``: 1 if the key exists (a time ``<= 0`` deletes it), else 0."""
        k = _b(key)
        millis = _int(ms)
        if not self._live(k):
            return 0
        if millis <= 0:
            self.delete(k)
        else:
            self._expiry[k] = self.clock() + millis / 1000
        return 1

    def pttl(self, key: Value) -> int:
        """``PTTL``: ms left (rounded up), -1 without a TTL, -2 for a missing key."""
        k = _b(key)
        if not self._live(k):
            return -2
        at = self._expiry.get(k)
        if at is None:
            return -1
        return max(1, math.ceil((at - self.clock()) * 1000))

    # ------------------------------------------------------------ the scripts' twins
    def acquire(self, owner: Value, epoch: Value, me: Value, dead: Value) -> bytes:
        """Twin of :data:`ACQUIRE`: the owner key's value after the compare-and-set.

        (Lua formats the epoch with ``%.14g``: identical below 10^14 ownership changes.)
        """
        cur = self.get(owner)
        if cur is not None and cur != _b(dead):
            return cur
        e = self.incr(epoch)
        v = _b(me) + b"/" + _b(e)
        self.set(owner, v)
        return v

    def release(self, key: Value, token: Value) -> int:
        """Twin of :data:`RELEASE`: 1 if ``key`` held ``token`` and is now deleted."""
        if self.get(key) == _b(token):
            self.delete(key)
            return 1
        return 0

    def persist(self, owner: Value, state: Value, token: Value, data: Value) -> int:
        """Twin of :data:`PERSIST`: 1 if ``owner`` held ``token`` and ``state`` is written."""
        if self.get(owner) == _b(token):
            self.set(state, data)
            return 1
        return 0

    def renew(
        self, lease: Value, inbox: Value, incarnation: Value, lease_ms: Value, inbox_ms: Value
    ) -> int:
        """Twin of :data:`RENEW`: 1 if the lease held ``incarnation`` and both TTLs are
        renewed."""
        if self.get(lease) == _b(incarnation):
            self.pexpire(lease, lease_ms)
            self.pexpire(inbox, inbox_ms)
            return 1
        return 0

    def generation(self, key: Value, fresh: Value) -> bytes:
        """Twin of :data:`GENERATION`: the generation in force (``fresh`` if none was)."""
        current = self.get(key)
        if current is not None:
            return current
        self.set(key, fresh)
        return _b(fresh)


SCRIPTS: Final[dict[str, tuple[str, Callable[..., object]]]] = {
    "acquire": (ACQUIRE, TwinRedis.acquire),
    "release": (RELEASE, TwinRedis.release),
    "persist": (PERSIST, TwinRedis.persist),
    "renew": (RENEW, TwinRedis.renew),
    "generation": (GENERATION, TwinRedis.generation),
}
"""Script name -> (its Lua source, its twin, called as ``twin(redis, *keys, *args)``)."""


@attrs.frozen
class Keys:
    """The backplane's key scheme (``docs/scaling.md``, *What is in Redis*). Every key
    carries a hash tag so that a script's keys share one Redis Cluster slot: ``{n:<id>}``
    for an instance's keys, ``{r:<key>}`` for a room's, ``{g}`` for the generation.

    Args:
        prefix: put before every key (``key_prefix``).
    """

    prefix: str = "rs"

    def lease(self, node: str) -> str:
        """The instance's lease: its incarnation, with a TTL."""
        return f"{self.prefix}:{{n:{node}}}:lease"

    def inbox(self, node: str) -> str:
        """The instance's inbox stream."""
        return f"{self.prefix}:{{n:{node}}}:in"

    def room(self, key: str, what: str) -> str:
        """A room's ``owner``, ``epoch`` or ``state`` key."""
        return f"{self.prefix}:{{r:{key}}}:{what}"

    @property
    def nodes(self) -> str:
        """The sorted set of instances and their last renewal."""
        return f"{self.prefix}:nodes"

    @property
    def generation(self) -> str:
        """The cluster generation: set once with ``SET NX``; gone or changed means Redis
        lost its data."""
        return f"{self.prefix}:{{g}}:gen"
