"""ICE server configuration: STUN/TURN URIs (RFC 7064, RFC 7065) and TURN REST credentials.

::

    stunURI = scheme ":" host [ ":" port ]                     ; RFC 7064 §3.1
    turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ]   ; RFC 7065 §3.1
    transport = "udp" / "tcp" / transport-ext

Hosts are IPv4 dotted quads, bracketed IPv6 literals, or host names (LDH labels); the
percent-encoded reg-name forms RFC 3986 also allows are refused (no stack emits them,
and they hide what a client will contact). Default ports: 3478 for ``stun``/``turn``,
5349 for ``stuns``/``turns`` (RFC 7064 §3.2, RFC 7065 §3.2).

TURN REST credentials follow the scheme of coturn's ``use-auth-secret``
(draft-uberti-behave-turn-rest §2.2): ``username = "<expiry>:<user>"``, ``credential =
base64(HMAC-SHA1(secret, username))``, where ``expiry`` is a UNIX timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
from collections.abc import Sequence
from typing import Final

import attrs

from ._candidate import is_valid_hostname
from ._errors import IceServerError

__all__ = [
    "IceServer",
    "IceServerUrl",
    "TurnCredentials",
    "mint_turn_credentials",
    "validate_ice_server",
    "validate_ice_server_url",
]

MAX_URL_LENGTH: Final = 2_048
"""A STUN/TURN URI is a host, a port and a transport: under 300 characters in practice;
2 KiB bounds hostile configuration without refusing any real one."""
MAX_URLS: Final = 32
"""One RTCIceServer lists a handful of URIs (UDP, TCP, TLS per host); 32 bounds abuse."""
MAX_USERNAME_BYTES: Final = 508  # RFC 8489 §14.3: USERNAME is fewer than 509 bytes
MAX_CREDENTIAL_LENGTH: Final = 1_024
"""TURN passwords and REST credentials are 28-64 characters; 1 KiB bounds abuse."""
DEFAULT_PORTS: Final = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}
TRANSPORTS: Final = frozenset({"udp", "tcp"})  # RFC 7065 §3.1


@attrs.frozen(kw_only=True)
class IceServerUrl:
    """A validated STUN or TURN URI.

    Attributes:
        url: the URI as given.
        scheme: ``stun``, ``stuns``, ``turn`` or ``turns`` (lower case).
        host: the host (IPv6 without brackets).
        port: the explicit port, or the scheme's default.
        transport: ``udp`` or ``tcp`` when ``?transport=`` is given, else ``None``.
        secure: whether the scheme is ``stuns``/``turns`` (TLS or DTLS).
    """

    url: str
    scheme: str
    host: str
    port: int
    transport: str | None
    secure: bool

    @property
    def is_turn(self) -> bool:
        """Whether the URI names a TURN server (credentials required)."""
        return self.scheme in ("turn", "turns")


@attrs.frozen(kw_only=True)
class IceServer:
    """A validated ``RTCIceServer``: its URIs and, for TURN, the credentials."""

    urls: tuple[IceServerUrl, ...]
    username: str | None = None
    credential: str | None = None


@attrs.frozen(kw_only=True)
class TurnCredentials:
    """Time-limited TURN credentials in the coturn ``use-auth-secret`` scheme.

    Attributes:
        username: ``"<expiry>:<user>"``.
        credential: base64 of HMAC-SHA1(secret, username).
        expires_at: the expiry, a UNIX timestamp (integer seconds).
    """

    username: str
    credential: str
    expires_at: int


def _fail(rule: str, url: str, why: str) -> IceServerError:
    shown = url if len(url) <= 80 else url[:77] + "..."
    return IceServerError(rule, f"ICE server URL {shown!r} {why}", field="urls")


def _split_host_port(url: str, hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _fail("ice_server.host", url, "has an unclosed IPv6 literal")
        host, rest = hostport[1:end], hostport[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _fail("ice_server.host", url, "has an invalid IPv6 literal") from None
        if "%" in host:
            raise _fail("ice_server.host", url, "has an IPv6 zone id")
        if rest and not rest.startswith(":"):
            raise _fail("ice_server.url", url, "has text after the IPv6 literal")
        return host, rest[1:] if rest else None
    host, colon, port = hostport.partition(":")
    if not host:
        raise _fail("ice_server.host", url, "has no host")
    if all(c in "0123456789." for c in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _fail("ice_server.host", url, "has an invalid IPv4 address") from None
    elif not is_valid_hostname(host):
        raise _fail("ice_server.host", url, "has a host that is not a host name")
    return host, port if colon else None


def validate_ice_server_url(url: str) -> IceServerUrl:
    """Validate one ``stun:``/``stuns:``/``turn:``/``turns:`` URI.

    Args:
        url: e.g. ``"turn:turn.example.com:3478?transport=udp"``.

    Returns:
        The parsed :class:`IceServerUrl`.

    Raises:
        IceServerError: ``ice_server.url``, ``.scheme``, ``.host``, ``.port``, ``.query`` or
            ``.transport``.
    """
    if not isinstance(url, str) or not url:
        raise IceServerError("ice_server.url", "an ICE server URL must be non-empty text")
    if len(url) > MAX_URL_LENGTH or not (url.isascii() and url.isprintable()) or " " in url:
        raise _fail("ice_server.url", url, "is too long or has spaces/non-ASCII characters")
    scheme_text, colon, rest = url.partition(":")
    scheme = scheme_text.lower()  # RFC 3986 §3.1: schemes are case-insensitive
    if not colon or scheme not in DEFAULT_PORTS:
        raise _fail("ice_server.scheme", url, "does not start with stun:, stuns:, turn: or turns:")
    if rest.startswith("//") or "@" in rest or "#" in rest:
        raise _fail("ice_server.url", url, "has an authority, userinfo or fragment part")
    hostport, question, query = rest.partition("?")
    transport = None
    if question:
        if scheme in ("stun", "stuns"):
            raise _fail("ice_server.query", url, "has a query, which stun URIs do not allow")
        key, equals, value = query.partition("=")
        if key != "transport" or not equals:
            raise _fail("ice_server.query", url, "has a query other than ?transport=")
        transport = value.lower()
        if transport not in TRANSPORTS:
            raise _fail("ice_server.transport", url, "has a transport other than udp or tcp")
    host, port_text = _split_host_port(url, hostport)
    port = DEFAULT_PORTS[scheme]
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not 1 <= int(port_text) <= 65535:
            raise _fail("ice_server.port", url, "has a port that is not 1 to 65535")
        port = int(port_text)
    return IceServerUrl(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        transport=transport,
        secure=scheme.endswith("s"),
    )


def validate_ice_server(
    urls: str | Sequence[str], username: str | None = None, credential: str | None = None
) -> IceServer:
    """Validate an ``RTCIceServer`` entry: its URLs and, for TURN, its credentials.

    Args:
        urls: one URI or a sequence of them.
        username: the TURN username (at most 508 UTF-8 bytes, RFC 8489 §14.3).
        credential: the TURN password or REST credential.

    Returns:
        The :class:`IceServer`.

    Raises:
        IceServerError: ``ice_server.no_urls``, any rule of :func:`validate_ice_server_url`,
            or ``ice_server.credentials`` when a TURN URI comes without a username and
            credential, or they are too long.
    """
    items = [urls] if isinstance(urls, str) else list(urls)
    if not items:
        raise IceServerError("ice_server.no_urls", "an ICE server needs at least one URL")
    if len(items) > MAX_URLS:
        raise IceServerError("ice_server.no_urls", f"an ICE server lists at most {MAX_URLS} URLs")
    parsed = tuple(validate_ice_server_url(u) for u in items)
    for value, what in ((username, "username"), (credential, "credential")):
        if value is not None and not isinstance(value, str):
            raise IceServerError("ice_server.credentials", f"the {what} must be text", field=what)
    # W3C WebRTC §4.2.1: a turn/turns URL without username and credential is an error.
    if any(u.is_turn for u in parsed) and (not username or not credential):
        raise IceServerError(
            "ice_server.credentials",
            "a TURN server needs a username and a credential",
            field="username" if not username else "credential",
        )
    if username is not None and len(username.encode("utf-8", "replace")) > MAX_USERNAME_BYTES:
        raise IceServerError(
            "ice_server.credentials",
            f"the username is over {MAX_USERNAME_BYTES} bytes (RFC 8489 §14.3)",
            field="username",
        )
    if credential is not None and len(credential) > MAX_CREDENTIAL_LENGTH:
        raise IceServerError(
            "ice_server.credentials",
            f"the credential is over {MAX_CREDENTIAL_LENGTH} characters",
            field="credential",
        )
    return IceServer(urls=parsed, username=username, credential=credential)


def mint_turn_credentials(
    secret: bytes | str, user: str, *, now: float, ttl: float
) -> TurnCredentials:
    """Mint time-limited TURN credentials for coturn's ``use-auth-secret`` (TURN REST API).

    Pure: the caller passes the time. ``now`` must be UNIX (wall-clock) time, not a
    monotonic clock, because the TURN server compares the expiry with its own wall clock.

    Args:
        secret: the shared secret configured as coturn's ``static-auth-secret``.
        user: the user id to embed (any text; coturn splits at the first ``:``).
        now: the current UNIX time in seconds.
        ttl: how long the credentials stay valid, in seconds (> 0).

    Returns:
        :class:`TurnCredentials` with ``username = f"{int(now + ttl)}:{user}"`` and
        ``credential = base64(HMAC-SHA1(secret, username))``.

    Raises:
        IceServerError: ``turn.secret`` (empty secret), ``turn.user`` (empty user),
            ``turn.ttl`` (non-finite ``now`` or non-positive / non-finite ``ttl``).

    Example::

        >>> mint_turn_credentials("s3cret", "alice", now=1_700_000_000, ttl=3600).username
        '1700003600:alice'
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise IceServerError("turn.secret", "the TURN shared secret is empty", field="secret")
    if not isinstance(user, str) or not user:
        raise IceServerError("turn.user", "the TURN user id is empty", field="user")
    if not (math.isfinite(now) and math.isfinite(ttl)) or ttl <= 0:
        raise IceServerError(
            "turn.ttl", "now must be finite and ttl a positive number of seconds", field="ttl"
        )
    expires_at = int(now + ttl)
    username = f"{expires_at}:{user}"
    digest = hmac.new(key, username.encode("utf-8"), hashlib.sha1).digest()
    return TurnCredentials(
        username=username,
        credential=base64.b64encode(digest).decode("ascii"),
        expires_at=expires_at,
    )
