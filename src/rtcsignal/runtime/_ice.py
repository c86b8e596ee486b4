"""ICE servers for the handshake: the ``[ice]`` settings table and each user's list.

Theory of operation
-------------------
Behind NATs and firewalls a call needs TURN, and a browser learns its STUN/TURN servers
only from the application. The runtime hands every connection its list in ``welcome``
(``ice_servers``, the shape ``RTCPeerConnection`` takes), built at admission:

* entries with static credentials (or none, for STUN) are sent as configured;
* a TURN entry without credentials gets time-limited ones minted for the connection's
  user from ``turn_secret``, in coturn's ``use-auth-secret`` scheme (the TURN REST draft,
  :func:`rtcsignal.sdp.mint_turn_credentials`): ``username = "<expiry>:<user>"``,
  ``credential = base64(HMAC-SHA1(turn_secret, username))``, expiring ``turn_ttl``
  seconds after the connection was admitted. Every hello and every resume is a new
  connection, so it gets fresh credentials.

Minting needs the wall clock (the TURN server compares the expiry with its own), so it
happens here in the runtime, never in the pure core, which only stores the list on the
connection. Everything is validated at startup (URLs by RFC 7064/7065 through
:mod:`rtcsignal.sdp`): a mistyped TURN URL fails the start, naming the entry
(``ice.servers[1].urls[0]``), instead of failing calls in production.

Layout (TOML)::

    [ice]
    turn_secret = "...coturn's static-auth-secret..."
    turn_ttl = 86400

    [[ice.servers]]
    urls = ["stun:stun.example.com:3478"]

    [[ice.servers]]   # no credentials: minted per user from turn_secret
    urls = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"]

Environment: ``RTCSIGNAL_ICE__SERVERS`` holds the list as JSON (or TOML),
``RTCSIGNAL_ICE__TURN_SECRET`` and ``RTCSIGNAL_ICE__TURN_TTL`` the options.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from rtcsignal import protocol as p
from rtcsignal.protocol import UsageError
from rtcsignal.sdp import (
    IceServer,
    IceServerError,
    mint_turn_credentials,
    validate_ice_server,
    validate_ice_server_url,
)

__all__ = ["DEFAULT_TURN_TTL", "IceSettings"]

DEFAULT_TURN_TTL: Final = 86_400.0
"""Seconds minted TURN credentials stay valid: 24 hours, the TURN REST draft's example
(draft-uberti-behave-turn-rest §2.2). A TURN allocation is refreshed with the credentials
it was made with, so they must outlive the longest call; every hello and resume brings a
fresh set, so a long session does not run out."""

_SERVER_KEYS: Final = frozenset({"urls", "username", "credential"})
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_KEYS: Final = frozenset({"servers", "turn_secret", "turn_ttl"})


def _servers(value: Sequence[IceServer]) -> tuple[IceServer, ...]:
    return tuple(value)


def _needs_minting(server: IceServer) -> bool:
    return any(u.is_turn for u in server.urls) and not (server.username and server.credential)


@attrs.frozen(kw_only=True)
class IceSettings:
    """The ``[ice]`` settings: the STUN/TURN servers every ``welcome`` announces.

    Attributes:
        servers: validated entries (:func:`rtcsignal.sdp.validate_ice_server`, or
            :meth:`from_dict`); a TURN entry without ``username`` and ``credential``
            gets credentials minted per user from ``turn_secret``.
        turn_secret: coturn's ``static-auth-secret`` (``use-auth-secret``), or ``None``.
        turn_ttl: seconds the minted credentials stay valid.

    Raises:
        UsageError: naming the entry (``ice.servers[1]``): too many servers, a TURN
            entry with neither credentials nor ``turn_secret``, an empty secret, or a
            ``turn_ttl`` that is not a positive number of seconds.

    .. versionadded:: 0.1
    """

    servers: tuple[IceServer, ...] = attrs.field(default=(), converter=_servers)
    turn_secret: str | None = attrs.field(default=None, repr=False)
    turn_ttl: float = DEFAULT_TURN_TTL
    _static: tuple[p.IceServer | None, ...] = attrs.field(
        init=False, repr=False, eq=False, default=()
    )

    def __attrs_post_init__(self) -> None:
        if len(self.servers) > p.MAX_ICE_SERVERS:
            raise UsageError(f"ice.servers: at most {p.MAX_ICE_SERVERS} servers")
        for index, server in enumerate(self.servers):
            if not isinstance(server, IceServer):
                raise UsageError(f"ice.servers[{index}]: not an rtcsignal.sdp.IceServer")
            for what in ("username", "credential"):
                value = getattr(server, what)
                if value is not None and _CONTROL.search(value):
                    # The wire refuses control characters in text (protocol IceCredential).
                    raise UsageError(f"ice.servers[{index}].{what}: has control characters")
            if _needs_minting(server) and self.turn_secret is None:
                raise UsageError(
                    f"ice.servers[{index}]: a TURN server needs a username and a credential, "
                    "or ice.turn_secret to mint them per user"
                )
        if self.turn_secret is not None and (
            not isinstance(self.turn_secret, str) or not self.turn_secret
        ):
            raise UsageError("ice.turn_secret: must be non-empty text")
        ttl = self.turn_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
            raise UsageError(f"ice.turn_ttl: expected a number of seconds, not {ttl!r}")
        if ttl < 1:
            raise UsageError(f"ice.turn_ttl: must be at least 1 second, not {ttl!r}")
        object.__setattr__(self, "_static", self._wire())  # frozen: set once, here

    def _wire(self) -> tuple[p.IceServer | None, ...]:
        """The wire form of every entry that needs no minting (``None`` where it does)."""
        return tuple(
            None
            if _needs_minting(s)
            else p.IceServer(
                urls=tuple(u.url for u in s.urls), username=s.username, credential=s.credential
            )
            for s in self.servers
        )

    @property
    def mints(self) -> bool:
        """Whether some entry gets credentials minted per user."""
        return any(s is None for s in self._static)

    def for_user(self, user: str, now: float) -> tuple[p.IceServer, ...]:
        """The ``welcome.ice_servers`` for ``user``, minting TURN credentials where the
        configuration gives none.

        Args:
            user: the authenticated user id (embedded in the minted username).
            now: the current UNIX (wall-clock) time in seconds.

        Returns:
            The servers in configuration order, in the wire shape.
        """
        if not self.servers:
            return ()
        out: list[p.IceServer] = []
        minted = None
        for server, static in zip(self.servers, self._static, strict=True):
            if static is not None:
                out.append(static)
                continue
            if minted is None:
                assert self.turn_secret is not None  # checked at construction
                minted = mint_turn_credentials(self.turn_secret, user, now=now, ttl=self.turn_ttl)
            out.append(
                p.IceServer(
                    urls=tuple(u.url for u in server.urls),
                    username=minted.username,
                    credential=minted.credential,
                )
            )
        return tuple(out)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IceSettings:
        """Build from the ``[ice]`` table: ``servers`` (a list of ``{urls, username,
        credential}`` tables, or that list as JSON text), ``turn_secret``, ``turn_ttl``.

        Raises:
            UsageError: naming the bad entry, e.g. ``ice.servers[1].urls[0]: ICE server
                URL 'turn:turn.example.com:99999' has a port that is not 1 to 65535``.
        """
        if not isinstance(data, Mapping):
            raise UsageError(f"ice: must be a table, not {data!r}")
        for key, value in data.items():
            if key not in _KEYS:
                raise UsageError(f"ice: unknown key {key} = {value!r}")
        kwargs: dict[str, Any] = {}
        secret = data.get("turn_secret")
        if secret is not None:
            if not isinstance(secret, str) or not secret:
                raise UsageError("ice.turn_secret: must be non-empty text")
            kwargs["turn_secret"] = secret
        if "turn_ttl" in data:
            ttl = data["turn_ttl"]
            if secret is None:
                raise UsageError("ice.turn_ttl: set without ice.turn_secret (nothing to mint)")
            kwargs["turn_ttl"] = ttl
        servers = data.get("servers", [])
        if isinstance(servers, str):
            try:
                servers = json.loads(servers)
            except ValueError as exc:  # json.JSONDecodeError
                raise UsageError(f"ice.servers: not a JSON list: {exc}") from None
        if not isinstance(servers, list | tuple):
            raise UsageError(f"ice.servers: expected a list of tables, not {servers!r}")
        kwargs["servers"] = tuple(_server(f"ice.servers[{i}]", s) for i, s in enumerate(servers))
        settings = cls(**kwargs)
        if settings.turn_secret is not None and not settings.mints:
            raise UsageError(
                "ice.turn_secret: set, but no TURN server in ice.servers lacks credentials "
                "(nothing to mint)"
            )
        return settings


def _server(where: str, entry: Any) -> IceServer:
    """One ``{urls, username, credential}`` table, validated, errors naming ``where``."""
    if not isinstance(entry, Mapping):
        raise UsageError(f"{where}: expected a table with urls, not {entry!r}")
    for key, value in entry.items():
        if key not in _SERVER_KEYS:
            raise UsageError(f"{where}: unknown key {key} = {value!r}")
    if "urls" not in entry:
        raise UsageError(f"{where}: urls is missing")
    urls = entry["urls"]
    items: list[tuple[str, Any]]
    if isinstance(urls, str):
        items = [(f"{where}.urls", urls)]
    elif isinstance(urls, list | tuple) and urls:
        items = [(f"{where}.urls[{j}]", u) for j, u in enumerate(urls)]
    else:
        raise UsageError(f"{where}.urls: expected a URL or a non-empty list of URLs")
    parsed = []
    for at, url in items:
        try:
            parsed.append(validate_ice_server_url(url))
        except IceServerError as err:
            raise UsageError(f"{at}: {err}") from None
    username, credential = entry.get("username"), entry.get("credential")
    if username is None and credential is None:
        # TURN entries without credentials are minted per user (checked by IceSettings).
        return IceServer(urls=tuple(parsed), username=None, credential=None)
    try:
        return validate_ice_server([u.url for u in parsed], username, credential)
    except IceServerError as err:
        raise UsageError(f"{where}.{err.field or 'urls'}: {err}") from None
