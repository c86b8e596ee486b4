"""The abuse policy: what is limited, how much, per what, and what a denial does.

One frozen :class:`RatePolicy` holds every number: the shared ceilings (per connection,
user, remote address and room), one :class:`KindLimit` per wire message kind, the strike
rule that turns sustained abuse into a 1008 close, and the :class:`ConnectionGuards` the
runtime enforces (frame size, connection counts, rooms, handshake timeout, queued bytes).

Every default is a named constant below with its reason; ``docs/ratelimit.md`` tabulates
them. Loading from plain data or TOML is at the end (through :mod:`rtcsignal._structure`).
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs
import cattrs

from rtcsignal._structure import FieldError, TypeMismatch, key_note, strict_converter, structure
from rtcsignal.protocol import UsageError

from ._limiter import DEFAULT_MAX_KEYS

__all__ = [
    "DEFAULT_ADDRESS_LIMIT",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_DEFAULT_KIND",
    "DEFAULT_KINDS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_CONNECTIONS_PER_ADDRESS",
    "DEFAULT_MAX_CONNECTIONS_PER_USER",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_ROOM_LIMIT",
    "DEFAULT_STRIKES",
    "DEFAULT_STRIKE_WINDOW",
    "DEFAULT_USER_LIMIT",
    "MOVED_GUARDS",
    "ConnectionGuards",
    "KindLimit",
    "LimitSpec",
    "OnDeny",
    "PolicyConfigError",
    "RatePolicy",
    "Scope",
]

Scope = Literal["connection", "user", "address", "room"]
"""What a kind's limit is counted per."""

SCOPES: Final[tuple[Scope, ...]] = ("connection", "user", "address", "room")


class PolicyConfigError(UsageError):
    """A policy setting is unknown or invalid.

    Attributes:
        key: the dotted path of the offending setting (``kinds.typing.limit.rate``).
        value: the offending value as given.
        message: what is wrong with it.
    """

    def __init__(self, key: str, value: object, message: str) -> None:
        super().__init__(f"{key or '<root>'} = {value!r}: {message}")
        self.key = key
        self.value = value
        self.message = message


class OnDeny(enum.Enum):
    """What the server does with a message its limits deny."""

    DROP = "drop"
    """Discard it silently (ephemeral kinds: a later one supersedes it). A request that
    carries an ``id`` still gets its ``rate_limited`` reply, so no caller waits forever."""
    REJECT = "reject"
    """Reply with a ``rate_limited`` error carrying ``retry_after``."""
    CLOSE = "close"
    """Reply, then close the connection with 1008 (RFC 6455 §7.4.1 policy violation)."""


def _number(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(attribute.name, value, "expected a number")
    if not math.isfinite(value):
        raise FieldError(attribute.name, value, "expected a finite number")


def _at_least(bound: float, *, strict: bool = False) -> Any:
    def check(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        _number(inst, attribute, value)
        if value < bound or (strict and value == bound):
            op = ">" if strict else ">="
            raise FieldError(attribute.name, value, f"must be {op} {bound:g}")

    return check


def _count(minimum: int) -> Any:
    def check(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(attribute.name, value, "expected an integer")
        if value < minimum:
            raise FieldError(attribute.name, value, f"must be >= {minimum}")

    return check


@attrs.frozen(kw_only=True)
class LimitSpec:
    """A rate and a burst: ``burst`` units at once, ``rate`` units recovered per second.

    Attributes:
        rate: units per second (``> 0``).
        burst: units that may be spent at once (``>= 1``).

    Raises:
        ValueError: for a value out of range (a :class:`PolicyConfigError` through the loaders).
    """

    rate: float = attrs.field(validator=_at_least(0, strict=True))
    burst: float = attrs.field(validator=_at_least(1))

    @classmethod
    def per_minute(cls, count: float, *, burst: float) -> LimitSpec:
        """``count`` per minute with ``burst``: ``LimitSpec.per_minute(30, burst=10)``."""
        return cls(rate=count / 60, burst=burst)


@attrs.frozen(kw_only=True)
class KindLimit:
    """The limit of one message kind and what a denial does.

    Attributes:
        limit: the kind's own rate, counted in messages of this kind; ``None``: the kind
            is bounded only by the shared ceilings.
        cost: what one message of this kind spends of the shared ceilings (connection,
            user, address, room): heavier work (SDP validation, fan-out) costs more.
        on_deny: drop, reject (``rate_limited``) or close.
        per: what the kind's limit is counted per. When the message lacks that value
            (no user, no room) the limit is counted per connection instead.
    """

    limit: LimitSpec | None = None
    cost: float = attrs.field(default=1.0, validator=_at_least(0, strict=True))
    on_deny: OnDeny = attrs.field(
        default=OnDeny.REJECT, validator=attrs.validators.instance_of(OnDeny)
    )
    per: Scope = attrs.field(default="connection", validator=attrs.validators.in_(SCOPES))


# -- shared ceilings --------------------------------------------------------------------

DEFAULT_CONNECTION_LIMIT: Final = LimitSpec(rate=100, burst=200)
"""100 messages/s per connection, 200 at once: a person's client sends a few per second;
a mesh join (offers plus ~20 candidates per peer) fits in the burst."""
DEFAULT_USER_LIMIT: Final = LimitSpec(rate=200, burst=400)
"""Twice one connection: several devices of one user are fine, opening ten tabs does not
multiply the budget tenfold."""
DEFAULT_ADDRESS_LIMIT: Final = LimitSpec(rate=1_000, burst=2_000)
"""Many users share an address behind NAT (offices, carrier-grade NAT): ten busy
connections' worth, so one address cannot take a whole server."""
DEFAULT_ROOM_LIMIT: Final = LimitSpec(rate=500, burst=2_000)
"""Every room message fans out to its members: this caps the work one room can cost,
and still lets a mesh of 8 (re)negotiate at once (~8 x 7 x 30 candidates)."""

# -- per kind ---------------------------------------------------------------------------

_SIGNAL: Final = LimitSpec(rate=10, burst=50)
# offers/answers/end-of-candidates: one per peer per (re)negotiation; a mesh of 16 joining
# sends 15 at once, ICE restarts add a few more.
_MODERATION: Final = LimitSpec(rate=2, burst=10)
# kick, roles, lock, admit, layout, recording: deliberate human actions, a few at a time.
_CALL_STEP: Final = LimitSpec(rate=2, burst=10)
# accept, decline, cancel, hang up: a handful per call.
_PRESENCE: Final = LimitSpec(rate=5, burst=20)
# media_state, mute, leave: toggles a person clicks; bursts when devices change.

DEFAULT_KINDS: Final[Mapping[str, KindLimit]] = {
    # hello: the second one is an error anyway; a loop of them is a bug.
    "hello": KindLimit(limit=LimitSpec(rate=1, burst=3)),
    # join per remote address: a join storm from one place (a script opening rooms)
    # is the attack; 20 at once covers a page that opens several rooms on load.
    "join": KindLimit(limit=LimitSpec(rate=5, burst=20), cost=2, per="address"),
    "leave": KindLimit(limit=_PRESENCE),
    # SDP validation is the most expensive handling: cost 2 of the shared ceilings.
    "offer": KindLimit(limit=_SIGNAL, cost=2),
    "answer": KindLimit(limit=_SIGNAL, cost=2),
    # candidates arrive in bursts of 10-30 per peer as gathering completes.
    "candidate": KindLimit(limit=LimitSpec(rate=50, burst=200)),
    "end_of_candidates": KindLimit(limit=_SIGNAL),
    "media_state": KindLimit(limit=_PRESENCE),
    "mute": KindLimit(limit=_PRESENCE),
    "kick": KindLimit(limit=_MODERATION),
    "unban": KindLimit(limit=_MODERATION),
    # a rename or a status change is a click; metadata fans out to the whole room.
    "update_me": KindLimit(limit=_PRESENCE),
    "transfer_host": KindLimit(limit=_MODERATION),
    "set_role": KindLimit(limit=_MODERATION),
    "lock": KindLimit(limit=_MODERATION),
    "admit": KindLimit(limit=_MODERATION),
    "set_layout": KindLimit(limit=_MODERATION),
    "recording": KindLimit(limit=_MODERATION),
    # chat per user: a person writes a few lines a minute; 10 at once covers a paste of
    # lines; devices of one user share the budget. Rejected: the sender must know.
    "chat": KindLimit(limit=LimitSpec.per_minute(30, burst=10), per="user"),
    # reactions are ephemeral and shown locally at once: dropped, since an error per
    # denied tap would double the traffic of the very flood being limited.
    "reaction": KindLimit(limit=LimitSpec(rate=3, burst=10), on_deny=OnDeny.DROP),
    # typing is "still typing" state: the next one supersedes a dropped one.
    "typing": KindLimit(limit=LimitSpec(rate=1, burst=3), on_deny=OnDeny.DROP),
    # application messages (whiteboards, cursors) carry up to 16 KiB each and fan out.
    "app": KindLimit(limit=LimitSpec(rate=20, burst=40), cost=2),
    # each invitation rings phones: 10 a minute per user, 3 at once (a retry or two).
    "call_invite": KindLimit(limit=LimitSpec.per_minute(10, burst=3), per="user"),
    "call_accept": KindLimit(limit=_CALL_STEP),
    "call_decline": KindLimit(limit=_CALL_STEP),
    "call_cancel": KindLimit(limit=_CALL_STEP),
    "call_hangup": KindLimit(limit=_CALL_STEP),
    # clients ping every 20 s; a faster ping is a bug, and a pong per flood ping is waste.
    "ping": KindLimit(limit=LimitSpec(rate=1, burst=5), on_deny=OnDeny.DROP),
    # stats reports summarise seconds of media: one per 5 s, a second one on demand.
    "stats": KindLimit(limit=LimitSpec(rate=0.2, burst=2), on_deny=OnDeny.DROP),
}
"""The per-kind defaults, keyed by the wire ``type`` tag."""

DEFAULT_DEFAULT_KIND: Final = KindLimit(limit=LimitSpec(rate=20, burst=50))
"""Kinds missing from the table share this generous limit (one bucket for all of them)."""

DEFAULT_STRIKES: Final = 30
"""Strikes within the strike window that close a connection. A strike is a denial of a
message sent before the ``retry_after`` its kind was last told had elapsed: a client that
waits as told never strikes; one ignoring ``retry_after`` gets 30 within seconds."""
DEFAULT_STRIKE_WINDOW: Final = 10.0
"""Seconds over which strikes count: 30 ignored waits in 10 s is 3 a second, sustained."""

# -- connection guards ------------------------------------------------------------------

DEFAULT_MAX_CONNECTIONS: Final = 50_000
"""Connections one server process holds: ~20-60 KiB each with framework buffers is
1-3 GB; beyond that a second instance is the answer, not more memory."""
DEFAULT_MAX_CONNECTIONS_PER_USER: Final = 10
"""Phone, laptop, tablet and a few browser tabs; more is a script or a leak."""
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: Final = 200
"""An office or carrier-grade NAT puts many people behind one address; 200 still stops
one host from opening thousands of sockets."""
DEFAULT_MAX_QUEUED_BYTES: Final = 1_048_576
"""1 MiB waiting for one slow reader: 16 maximal frames, or a full replay after resume;
past it the reader is closed, so memory per connection stays bounded."""


@attrs.frozen(kw_only=True)
class ConnectionGuards:
    """Limits the runtime enforces per socket, from the same policy.

    Attributes:
        max_connections: connections the server holds at once.
        max_connections_per_user: live connections of one user.
        max_connections_per_address: live connections from one remote address.
        max_queued_bytes: bytes queued to one connection before it is closed as a slow
            reader.
    """

    max_connections: int = attrs.field(default=DEFAULT_MAX_CONNECTIONS, validator=_count(1))
    max_connections_per_user: int = attrs.field(
        default=DEFAULT_MAX_CONNECTIONS_PER_USER, validator=_count(1)
    )
    max_connections_per_address: int = attrs.field(
        default=DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, validator=_count(1)
    )
    max_queued_bytes: int = attrs.field(default=DEFAULT_MAX_QUEUED_BYTES, validator=_count(1))


def _kinds(value: Mapping[str, KindLimit]) -> Mapping[str, KindLimit]:
    return dict(value)


@attrs.frozen(kw_only=True)
class RatePolicy:
    """Every abuse limit in one value; ``RatePolicy()`` is :meth:`default`.

    Attributes:
        connection / user / address / room: the shared ceilings each message passes.
        kinds: per wire ``type``, its :class:`KindLimit`; the mapping replaces the
            default table as a whole.
        default_kind: for kinds missing from ``kinds`` (all of them share one bucket).
        strikes: strikes of one connection within ``strike_window`` that close it (1008);
            a strike is a denial of a message sent before the ``retry_after`` its kind
            was last told had elapsed.
        strike_window: seconds over which strikes count.
        guards: the per-socket limits the runtime enforces.
        max_keys: the most keys each keyed table holds (limiters, connection states).

    Raises:
        ValueError: for a value out of range, or a kind whose ``cost`` exceeds a shared
            ceiling's burst (it could never be admitted).
    """

    connection: LimitSpec = DEFAULT_CONNECTION_LIMIT
    user: LimitSpec = DEFAULT_USER_LIMIT
    address: LimitSpec = DEFAULT_ADDRESS_LIMIT
    room: LimitSpec = DEFAULT_ROOM_LIMIT
    kinds: Mapping[str, KindLimit] = attrs.field(
        factory=lambda: dict(DEFAULT_KINDS), converter=_kinds
    )
    default_kind: KindLimit = DEFAULT_DEFAULT_KIND
    strikes: int = attrs.field(default=DEFAULT_STRIKES, validator=_count(1))
    strike_window: float = attrs.field(
        default=DEFAULT_STRIKE_WINDOW, validator=_at_least(0, strict=True)
    )
    guards: ConnectionGuards = attrs.field(factory=ConnectionGuards)
    max_keys: int = attrs.field(default=DEFAULT_MAX_KEYS, validator=_count(1))

    def __attrs_post_init__(self) -> None:
        ceiling = min(self.connection.burst, self.user.burst, self.address.burst, self.room.burst)
        entries = [(f"kinds.{name}", kl) for name, kl in self.kinds.items()]
        for path, kind in [*entries, ("default_kind", self.default_kind)]:
            if kind.cost > ceiling:
                raise FieldError(
                    f"{path}.cost",
                    kind.cost,
                    f"exceeds the smallest shared burst ({ceiling:g}); "
                    "such a message could never be admitted",
                )

    @classmethod
    def default(cls) -> RatePolicy:
        """The documented defaults (``docs/ratelimit.md`` tabulates them)."""
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RatePolicy:
        """Build a policy from plain data (parsed TOML or JSON) through cattrs.

        Missing keys take their defaults; ``kinds``, when given, replaces the default
        table as a whole. Numbers must be numbers (``"5"`` is refused).

        Raises:
            PolicyConfigError: naming the key path, the value and what is wrong.
        """
        return structure_policy(data)

    @classmethod
    def from_toml(cls, text: str) -> RatePolicy:
        """Build a policy from TOML text (the layout of :meth:`from_dict`).

        Raises:
            PolicyConfigError: the TOML does not parse (key ``<toml>``), or a key is
                unknown or invalid.
        """
        return policy_from_toml(text)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal policy (TOML-safe:
        enums as their values, ``None`` limits left out)."""
        return unstructure_policy(self)


# ===================================================================== loading
def _on_deny(value: Any, _: Any) -> OnDeny:
    try:
        return OnDeny(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in OnDeny)
        raise TypeMismatch(f"expected one of {choices}") from None


def _scope(value: Any, _: Any) -> str:
    if value not in SCOPES:
        raise TypeMismatch(f"expected one of {', '.join(repr(s) for s in SCOPES)}")
    return str(value)


def _structure_kinds(value: Any, _: Any) -> dict[str, KindLimit]:
    if not isinstance(value, Mapping):
        raise TypeMismatch("expected a table of kinds")
    out: dict[str, KindLimit] = {}
    for name, entry in value.items():
        try:
            out[str(name)] = _CONVERTER.structure(entry, KindLimit)
        except Exception as exc:
            exc.add_note(key_note(name))
            raise
    return out


def _limit(value: Any, _: Any) -> LimitSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeMismatch("expected a table with rate and burst")
    return _CONVERTER.structure(value, LimitSpec)


def _make_converter() -> cattrs.Converter:
    conv = strict_converter()
    conv.register_structure_hook(OnDeny, _on_deny)
    conv.register_structure_hook_func(lambda t: t == Mapping[str, KindLimit], _structure_kinds)
    conv.register_structure_hook_func(lambda t: t == LimitSpec | None, _limit)
    conv.register_structure_hook_func(lambda t: t == Scope, _scope)
    conv.register_unstructure_hook(OnDeny, lambda member: member.value)
    return conv


_CONVERTER: Final = _make_converter()


MOVED_GUARDS: Final = {
    "max_frame_bytes": "max_frame_bytes",
    "handshake_timeout": "handshake_timeout",
    "max_rooms_per_connection": "max_rooms_per_session",
}
"""Guards that are the core's limits, defined once in :class:`~rtcsignal.core.ServerConfig`
(``[server]`` in the settings file): a policy naming one is refused with its new home."""


def structure_policy(data: Mapping[str, Any]) -> RatePolicy:
    """Structure ``data`` into a :class:`RatePolicy` (see :mod:`rtcsignal._structure`).

    Raises:
        PolicyConfigError: naming the key path, value and rule.
    """
    guards = data.get("guards") if isinstance(data, Mapping) else None
    if isinstance(guards, Mapping):
        for key, home in MOVED_GUARDS.items():
            if key in guards:
                raise PolicyConfigError(
                    f"guards.{key}", guards[key], f"moved: set it as the server's {home}"
                )
    return structure(
        _CONVERTER, data, RatePolicy, PolicyConfigError, fallback=lambda _: "expected a table"
    )


def policy_from_toml(text: str) -> RatePolicy:
    """Parse TOML text and structure it (see :func:`structure_policy`).

    Raises:
        PolicyConfigError: with key ``<toml>`` when the text is not TOML.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyConfigError("<toml>", None, str(exc)) from None
    return structure_policy(data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def unstructure_policy(policy: RatePolicy) -> dict[str, Any]:
    """Plain, TOML-safe data for ``policy`` (``structure_policy`` reads it back)."""
    data = _CONVERTER.unstructure(policy, RatePolicy)
    data["kinds"] = {name: _CONVERTER.unstructure(k, KindLimit) for name, k in policy.kinds.items()}
    result: dict[str, Any] = _drop_none(data)
    return result
