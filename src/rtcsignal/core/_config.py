"""The core's configuration: one frozen object, every default named and explained."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

import attrs

from rtcsignal._structure import strict_converter, structure
from rtcsignal.protocol import MAX_FRAME_BYTES, UsageError

from ._call import DEFAULT_MAX_DURATION, DEFAULT_RING_TIMEOUT, DEFAULT_WARNING_BEFORE
from ._roompolicy import RoomPolicy
from ._session import DEFAULT_REPLAY_BYTES, DEFAULT_REPLAY_EVENTS

__all__ = [
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "DEFAULT_MAX_ROOMS_PER_SESSION",
    "DEFAULT_MAX_SESSIONS_PER_USER",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_RECONNECT_GRACE",
    "ServerConfig",
    "ServerConfigError",
    "structure_config",
]

DEFAULT_PING_INTERVAL: Final = 20.0
"""Clients ping every 20 s: under the 30-60 s idle timeouts of common proxies and NATs."""
DEFAULT_PING_TIMEOUT: Final = 45.0
"""Two missed pings plus slack: a silent connection counts as dropped after 45 s."""
DEFAULT_HANDSHAKE_TIMEOUT: Final = 10.0
"""A connection must say ``hello`` within 10 s, so idle sockets cannot pile up."""
DEFAULT_RECONNECT_GRACE: Final = 30.0
"""A dropped session may resume for 30 s: covers Wi-Fi/cellular hand-over and a reload."""
DEFAULT_MAX_ROOMS_PER_SESSION: Final = 8
"""One session in more than 8 rooms at once is a bot, not a person."""
DEFAULT_MAX_SESSIONS_PER_USER: Final = 10
"""Sessions (connected or reconnecting) of one user: the runtime's default cap on one
user's live connections, counting the reconnecting ones too, so that dropped
connections cannot pile up ghosts. Past it the oldest reconnecting session ends."""

DEFAULT_REQUEST_TIMEOUT: Final = 2.0
"""Seconds a request routed to another instance waits for its answer: below the owner
lease (3 s), so the sender hears of a dead owner before a takeover could answer."""


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Configuration of :class:`~rtcsignal.core.Server`.

    Attributes:
        max_frame_bytes: larger frames are refused and the connection closed (1009).
        ping_interval: announced to clients: how often to send something.
        ping_timeout: a connection silent this long counts as dropped.
        handshake_timeout: a connection without ``hello`` this long is closed.
        reconnect_grace: how long a dropped session may resume.
        replay_events / replay_bytes: the bounds of each session's replay buffer.
        max_rooms_per_session: rooms (and lobbies) one session may be in at once.
        max_sessions_per_user: sessions one user may have, connected or reconnecting;
            a new session past it ends the user's oldest reconnecting session (reason
            ``evicted``), or, with none, its ``hello`` is refused
            (``too_many_sessions``).
        auto_create_rooms: create a room on first join (with ``default_room``); when
            false, only rooms made with :meth:`Server.create_room` exist.
        default_room: the policy of auto-created rooms.
        ring_timeout / max_call_duration / call_warning_before: call timers.
        request_timeout: in a cluster, how long a request handed to the instance that
            owns its room may wait for the answer before its sender gets
            ``backplane_unavailable``.
    """

    max_frame_bytes: int = attrs.field(default=MAX_FRAME_BYTES, validator=attrs.validators.ge(256))
    ping_interval: float = attrs.field(
        default=DEFAULT_PING_INTERVAL, validator=attrs.validators.gt(0)
    )
    ping_timeout: float = attrs.field(
        default=DEFAULT_PING_TIMEOUT, validator=attrs.validators.gt(0)
    )
    handshake_timeout: float = attrs.field(
        default=DEFAULT_HANDSHAKE_TIMEOUT, validator=attrs.validators.gt(0)
    )
    reconnect_grace: float = attrs.field(
        default=DEFAULT_RECONNECT_GRACE, validator=attrs.validators.ge(0)
    )
    replay_events: int = attrs.field(
        default=DEFAULT_REPLAY_EVENTS, validator=attrs.validators.ge(0)
    )
    replay_bytes: int = attrs.field(default=DEFAULT_REPLAY_BYTES, validator=attrs.validators.ge(0))
    max_rooms_per_session: int = attrs.field(
        default=DEFAULT_MAX_ROOMS_PER_SESSION, validator=attrs.validators.ge(1)
    )
    max_sessions_per_user: int = attrs.field(
        default=DEFAULT_MAX_SESSIONS_PER_USER, validator=attrs.validators.ge(1)
    )
    auto_create_rooms: bool = True
    default_room: RoomPolicy = attrs.field(factory=RoomPolicy)
    ring_timeout: float = attrs.field(
        default=DEFAULT_RING_TIMEOUT, validator=attrs.validators.gt(0)
    )
    max_call_duration: float = attrs.field(
        default=DEFAULT_MAX_DURATION, validator=attrs.validators.gt(0)
    )
    call_warning_before: float = attrs.field(
        default=DEFAULT_WARNING_BEFORE, validator=attrs.validators.ge(0)
    )
    request_timeout: float = attrs.field(
        default=DEFAULT_REQUEST_TIMEOUT, validator=attrs.validators.gt(0)
    )

    def __attrs_post_init__(self) -> None:
        if self.call_warning_before >= self.max_call_duration:
            raise UsageError(
                f"call_warning_before ({self.call_warning_before}) must be below "
                f"max_call_duration ({self.max_call_duration})"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerConfig:
        """Build a config from plain data (TOML, JSON, env), via cattrs.

        Raises:
            ServerConfigError: (a ``ValueError``) naming the offending key and value.
        """
        return structure_config(data)


class ServerConfigError(UsageError):
    """A server setting is unknown or invalid.

    Attributes:
        key: the dotted path of the offending setting (``default_room.capacity``).
        value: the offending value as given.
        message: what is wrong with it.
    """

    def __init__(self, key: str, value: object, message: str) -> None:
        shown = value.value if isinstance(value, enum.Enum) else value
        super().__init__(f"server config: {key or '<root>'} = {shown!r}: {message}")
        self.key = key
        self.value = value
        self.message = message


_CONVERTER: Final = strict_converter(numbers=False)


def structure_config(data: Mapping[str, Any]) -> ServerConfig:
    """Structure ``data`` into a :class:`ServerConfig` (see :mod:`rtcsignal._structure`).

    Raises:
        ServerConfigError: naming the key path, the value and the rule.
    """
    return structure(_CONVERTER, data, ServerConfig, ServerConfigError)
