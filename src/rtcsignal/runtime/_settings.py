"""One settings object for a running server, loadable from a dict, TOML or the environment.

Layout (TOML)::

    host = "0.0.0.0"
    port = 8080
    origins = ["https://app.example.com"]
    auth_secret = "...at least 32 bytes..."
    compression = false
    fast = false      # python -m rtcsignal serve: picows on uvloop (the [fast] extra)

    [server]          # rtcsignal.core.ServerConfig
    ping_timeout = 45.0

    [rate]            # rtcsignal.ratelimit.RatePolicy
    ...

    [backplane]       # several instances on one Redis (docs/scaling.md)
    redis_url = "redis://127.0.0.1:6379/0"

    [ice]             # STUN/TURN servers for welcome (rtcsignal.runtime.IceSettings)
    turn_secret = "..."
    [[ice.servers]]
    urls = ["turn:turn.example.com:3478?transport=udp"]

    [webhooks]        # signed webhooks of `serve` (rtcsignal.webhooks.WebhookSettings)
    url = "https://app.example.com/rtcsignal-hook"
    secret = "...at least 16 characters..."

Every loader raises :class:`SettingsError` naming the bad key (``server.ping_timeout``,
``ice.servers[1].urls[0]``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs

from rtcsignal._structure import FieldError, strict_converter, structure
from rtcsignal.core import ServerConfig
from rtcsignal.protocol import UsageError
from rtcsignal.ratelimit import RatePolicy
from rtcsignal.webhooks import WebhookSettings

from ._ice import IceSettings

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SHUTDOWN_GRACE",
    "BackplaneSettings",
    "RuntimeSettings",
    "SettingsError",
]

DEFAULT_HOST: Final = "127.0.0.1"
"""Loopback by default: exposing a server is a decision, not an accident."""
DEFAULT_PORT: Final = 8080
"""The customary unprivileged HTTP port."""
DEFAULT_SHUTDOWN_GRACE: Final = 5.0
"""Seconds a graceful shutdown waits for queues to drain: well inside the 30 s Kubernetes
gives by default between SIGTERM and SIGKILL, and long enough to flush signaling frames."""
DEFAULT_CLOSE_TIMEOUT: Final = 2.0
"""Seconds to wait for a peer's close frame (RFC 6455 §7.1.1); a peer that does not read
would otherwise hold a slow-consumer close open for the framework's 10 s default."""


class SettingsError(UsageError):
    """A setting is unknown or invalid; the message names the key and the value."""


@attrs.frozen(kw_only=True)
class BackplaneSettings:
    """The ``[backplane]`` table: run as one instance of a cluster (``docs/scaling.md``).

    Attributes:
        redis_url: the Redis all instances share (``None``: a single instance, in memory).
        instance_id: this instance's id (``None``: a fresh random one per start).
        key_prefix: put before every Redis key (several clusters on one Redis).
        lease_ttl: seconds an instance's lease lives without renewal.
        renew_every: seconds between lease renewals.
    """

    redis_url: str | None = None
    instance_id: str | None = attrs.field(default=None)
    key_prefix: str = "rs"
    lease_ttl: float = attrs.field(default=3.0, validator=attrs.validators.gt(0))
    renew_every: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))

    def __attrs_post_init__(self) -> None:
        if self.renew_every >= self.lease_ttl:
            raise FieldError(
                "renew_every", self.renew_every, f"must be below lease_ttl ({self.lease_ttl})"
            )
        if self.instance_id is not None and (not self.instance_id or "." in self.instance_id):
            raise FieldError("instance_id", self.instance_id, "must be non-empty, without '.'")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackplaneSettings:
        """Build the table from plain data.

        Raises:
            ValueError: an unknown key or a bad value, named.
        """
        return structure(_STRICT, data, cls, _bad_value)


def _bad_value(key: str, value: object, message: str) -> ValueError:
    return ValueError(f"{key} = {value!r}: {message}")


_STRICT: Final = strict_converter()


def _origins(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(o.strip() for o in value.split(",") if o.strip())
    return tuple(str(o) for o in value)  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class RuntimeSettings:
    """Everything a running server needs besides its code hooks.

    Attributes:
        server: the core's limits and timeouts.
        rate: the abuse limits (message rates and connection guards).
        ice: the STUN/TURN servers announced in every ``welcome`` (``docs/turn.md``).
        backplane: several instances on one Redis (``docs/scaling.md``).
        auth_secret: the HMAC key of :class:`rtcsignal.auth.TokenVerifier` (``None``:
            the application supplies its own ``authenticate`` hook).
        origins: allowed ``Origin`` values (``None``: any; development only).
        allow_missing_origin: accept requests without ``Origin`` (non-browser clients).
        compression: negotiate permessage-deflate (RFC 7692). Off by default: for small
            signaling frames it costs ~2.8x CPU per message and ~40 KiB more memory per
            connection (see ``docs/adapters.md``).
        host / port: where the built-in server listens.
        fast: ``python -m rtcsignal serve`` runs the ``picows`` adapter, on uvloop where
            it is installed, instead of ``websockets`` (``pip install 'rtcsignal[fast]'``;
            same as ``--fast``). Other adapters ignore it.
        shutdown_grace: seconds a graceful shutdown waits for queues to drain.
        close_timeout: seconds to wait for the peer's close frame.
        webhooks: signed webhooks ``python -m rtcsignal serve`` POSTs (``docs/webhooks.md``);
            ``None``: none.
    """

    server: ServerConfig = attrs.field(factory=ServerConfig)
    rate: RatePolicy = attrs.field(factory=RatePolicy.default)
    ice: IceSettings = attrs.field(factory=IceSettings)
    backplane: BackplaneSettings = attrs.field(factory=BackplaneSettings)
    auth_secret: str | None = attrs.field(default=None, repr=False)
    origins: tuple[str, ...] | None = attrs.field(default=None, converter=_origins)
    allow_missing_origin: bool = True
    compression: bool = False
    fast: bool = False
    host: str = DEFAULT_HOST
    port: int = attrs.field(
        default=DEFAULT_PORT, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    shutdown_grace: float = attrs.field(
        default=DEFAULT_SHUTDOWN_GRACE, validator=attrs.validators.ge(0)
    )
    close_timeout: float = attrs.field(
        default=DEFAULT_CLOSE_TIMEOUT, validator=attrs.validators.gt(0)
    )
    webhooks: WebhookSettings | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuntimeSettings:
        """Build settings from plain data (the TOML layout above).

        Raises:
            SettingsError: naming the unknown or invalid key and its value.
        """
        if not isinstance(data, Mapping):
            raise SettingsError(f"settings must be a table, not {type(data).__name__}")
        own = dict(data)
        kwargs: dict[str, Any] = {}
        server = own.pop("server", None)
        if server is not None:
            kwargs["server"] = _section("server", server, ServerConfig.from_dict)
        rate = own.pop("rate", None)
        if rate is not None:
            kwargs["rate"] = _section("rate", rate, RatePolicy.from_dict)
        backplane = own.pop("backplane", None)
        if backplane is not None:
            kwargs["backplane"] = _section("backplane", backplane, BackplaneSettings.from_dict)
        ice = own.pop("ice", None)
        if ice is not None:
            try:
                kwargs["ice"] = IceSettings.from_dict(ice)
            except UsageError as exc:
                raise SettingsError(f"settings: {exc}") from None
        webhooks = own.pop("webhooks", None)
        if webhooks is not None:
            kwargs["webhooks"] = _section("webhooks", webhooks, WebhookSettings.from_dict)
        fields = attrs.fields_dict(cls)
        for key, value in own.items():
            if key not in fields or key in ("server", "rate", "ice", "backplane", "webhooks"):
                raise SettingsError(f"settings: unknown key {key} = {value!r}")
            kwargs[key] = _value(key, value, fields[key].type)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            key = next((k for k in kwargs if k in str(exc)), "<root>")
            raise SettingsError(f"settings: bad value {key}: {exc}") from None

    @classmethod
    def from_toml(cls, text: str) -> RuntimeSettings:
        """Build settings from TOML text.

        Raises:
            SettingsError: the TOML does not parse, or a key is unknown or invalid.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings: TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_env(
        cls, prefix: str = "RTCSIGNAL_", environ: Mapping[str, str] | None = None
    ) -> RuntimeSettings:
        """Build settings from environment variables: ``RTCSIGNAL_PORT=9000``, sections
        with a double underscore (``RTCSIGNAL_SERVER__PING_TIMEOUT=30``). Values are read
        as TOML literals when they parse (numbers, booleans, arrays), else as strings;
        secrets (keys ending in ``secret``) are always strings, as given.
        ``RTCSIGNAL_REDIS_URL`` is short for ``RTCSIGNAL_BACKPLANE__REDIS_URL``.
        ``RTCSIGNAL_ICE__SERVERS`` takes the server list as JSON.

        Args:
            prefix: the variable prefix.
            environ: the environment (``os.environ`` by default).

        Raises:
            SettingsError: naming the variable's key and value.
        """
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for name, raw in env.items():
            if not name.startswith(prefix):
                continue
            path = name[len(prefix) :].lower().split("__")
            if path == ["redis_url"]:
                path = ["backplane", "redis_url"]
            target = data
            for part in path[:-1]:
                target = target.setdefault(part, {})
            key = path[-1]
            target[key] = raw if key.endswith(("secret", "url", "_id")) else _literal(raw)
        return cls.from_dict(data)


def _literal(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


_CONVERTER: Final = cattrs.Converter()


def _value(key: str, value: Any, kind: Any) -> Any:
    if key == "origins":
        if value is not None and not isinstance(value, str | list | tuple):
            raise SettingsError(f"settings: bad value origins = {value!r}: expected a list")
        return value
    if kind in ("bool", bool) and not isinstance(value, bool):
        raise SettingsError(f"settings: bad value {key} = {value!r}: expected true or false")
    try:
        return _CONVERTER.structure(value, _TYPES[key])
    except Exception as exc:
        raise SettingsError(f"settings: bad value {key} = {value!r}: {exc}") from None


_TYPES: Final[Mapping[str, Any]] = {
    "auth_secret": str | None,
    "allow_missing_origin": bool,
    "compression": bool,
    "fast": bool,
    "host": str,
    "port": int,
    "shutdown_grace": float,
    "close_timeout": float,
}


def _section(name: str, value: Any, build: Any) -> Any:
    if not isinstance(value, Mapping):
        raise SettingsError(f"settings: {name} must be a table, not {value!r}")
    try:
        return build(value)
    except ValueError as exc:
        raise SettingsError(f"settings: [{name}] {exc}") from None
