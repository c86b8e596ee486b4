"""Authentication and origin checks for the handshake: who is connecting, and from where.

Theory of operation
-------------------
An adapter turns its framework's upgrade request into a :class:`HandshakeRequest` and the
runtime asks, in this order: is the ``Origin`` allowed (:class:`OriginPolicy`), then who is
this (an :data:`Authenticate` hook returning an :class:`~rtcsignal.core.Identity` or
raising :class:`AuthError`). A refused connection is closed with 4003 and the reason and
never reaches the core.

Built in: an HMAC-SHA256 signed, expiring token (:func:`mint_token` /
:class:`TokenVerifier`), for a service that already knows its users and hands the browser
a token, and :class:`JwtVerifier` (optional extra ``rtcsignal[jwt]``, PyJWT imported
lazily). Both take ``now`` as a parameter: **wall-clock** seconds (``time.time()``),
because a token crosses processes, unlike the core's monotonic ``now``.

Token format (``v1``): ``v1.<payload>.<signature>``, each part base64url without padding
(RFC 4648 §5); the payload is compact JSON ``{"u": user, "n": name, "g": grants,
"h": hidden, "m": can_update_metadata, "iat": issued, "exp": expires}`` (``n``, ``g``,
``h`` and ``m`` only when set); the signature is HMAC-SHA256 (RFC 2104) over
``v1.<payload>``, compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import attrs

from rtcsignal.core import Identity
from rtcsignal.protocol import Role

__all__ = [
    "DEFAULT_LEEWAY",
    "MAX_TOKEN_BYTES",
    "MIN_SECRET_BYTES",
    "TOKEN_COOKIE",
    "TOKEN_QUERY",
    "AuthError",
    "Authenticate",
    "HandshakeRequest",
    "JwtVerifier",
    "OriginPolicy",
    "TokenVerifier",
    "extract_token",
    "mint_token",
]

MIN_SECRET_BYTES: Final = 32
"""RFC 2104 §3: a key shorter than the hash output (32 bytes for SHA-256) weakens the MAC."""
MAX_TOKEN_BYTES: Final = 4096
"""Tokens ride in a query string, cookie or header; 4 KiB is the common cookie ceiling
(RFC 6265 §6.1), and refusing larger ones bounds the work before the signature check."""
DEFAULT_LEEWAY: Final = 30.0
"""Seconds of clock skew tolerated between the minting service and this server."""
TOKEN_QUERY: Final = "token"
"""Query parameter carrying the token (browsers cannot set headers on a WebSocket)."""
TOKEN_COOKIE: Final = "rtcsignal_token"
"""Cookie carrying the token, for same-site deployments."""
_VERSION: Final = "v1"


class AuthError(Exception):
    """The handshake was refused; ``reason`` is sent in the 4003 close frame.

    Args:
        reason: a short human sentence (it is truncated to fit a close frame).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen(kw_only=True)
class HandshakeRequest:
    """The WebSocket upgrade request as the authentication hook sees it.

    Attributes:
        path: the request path without the query string.
        headers: header names lower-cased; repeated headers joined with ``", "``.
        query: query parameters (the first value of each name).
        cookies: cookies from the ``Cookie`` header.
        remote_address: the peer's IP address, if known.
        origin: the ``Origin`` header (RFC 6454), sent by every browser.
    """

    path: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    query: Mapping[str, str] = attrs.field(factory=dict)
    cookies: Mapping[str, str] = attrs.field(factory=dict)
    remote_address: str | None = None
    origin: str | None = None

    @classmethod
    def build(
        cls, target: str, headers: Iterable[tuple[str, str]], remote_address: str | None
    ) -> HandshakeRequest:
        """Build a request from what every framework has: the request target
        (``/ws?token=...``), the header pairs and the peer address.

        Returns:
            The parsed request (query and cookies decoded, bad cookies ignored).
        """
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        split = urlsplit(target)
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(name, value)
        cookies: dict[str, str] = {}
        if "cookie" in joined:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(joined["cookie"])
            except CookieError:
                jar = SimpleCookie()
            cookies = {name: morsel.value for name, morsel in jar.items()}
        return cls(
            path=split.path or "/",
            headers=joined,
            query=query,
            cookies=cookies,
            remote_address=remote_address,
            origin=joined.get("origin"),
        )


Authenticate = Callable[[HandshakeRequest], Awaitable[Identity] | Identity]
"""The authentication hook: return the connection's identity or raise :class:`AuthError`."""


def _frozen(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


@attrs.frozen(kw_only=True)
class OriginPolicy:
    """The ``Origin`` allow-list, checked before authentication (it stops cross-site
    WebSocket hijacking: RFC 6455 §10.2).

    Attributes:
        allowed: exact origins (``"https://app.example.com"``); ``None`` allows any
            origin (development only); ``"*"`` in the list also allows any.
        allow_missing: accept requests without ``Origin`` (services and native clients;
            every browser sends one, so this does not weaken the browser check).
    """

    allowed: frozenset[str] | None = attrs.field(default=None, converter=_frozen)
    allow_missing: bool = True

    def check(self, origin: str | None) -> None:
        """Accept ``origin`` or raise.

        Raises:
            AuthError: the origin is missing (and required) or not on the list.
        """
        if origin is None:
            if not self.allow_missing:
                raise AuthError("an Origin header is required")
            return
        allowed = self.allowed
        if allowed is None or "*" in allowed or origin in allowed:
            return
        raise AuthError(f"origin {origin[:100]} is not allowed")


def extract_token(request: HandshakeRequest) -> str | None:
    """The token of a request: ``Authorization: Bearer`` (RFC 6750 §2.1), else the
    ``token`` query parameter, else the ``rtcsignal_token`` cookie."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.query.get(TOKEN_QUERY) or request.cookies.get(TOKEN_COOKIE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def _sign(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def mint_token(
    secret: str | bytes,
    *,
    user: str,
    name: str | None = None,
    grants: Mapping[str, Role | str] | None = None,
    ttl: float,
    now: float,
    hidden: bool = False,
    can_update_metadata: bool | None = None,
) -> str:
    """Mint a signed token for ``user``, valid for ``ttl`` seconds from ``now``.

    Args:
        secret: the shared HMAC key (at least :data:`MIN_SECRET_BYTES`).
        user: the user id the token proves.
        name: a default display name.
        grants: roles per room id (``"*"`` for every room), e.g. ``{"standup": "host"}``.
        ttl: lifetime in seconds (positive).
        now: wall-clock seconds (``time.time()``).
        hidden: the ``hidden`` grant (see :class:`~rtcsignal.core.Identity`).
        can_update_metadata: the ``can_update_metadata`` grant (``None``: by role).

    Returns:
        The token string (URL-safe).

    Raises:
        ValueError: a short secret, an empty user, a non-positive ``ttl`` or an unknown role.
    """
    if not user:
        raise ValueError("user must not be empty")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    roles = {room: Role(role).value for room, role in (grants or {}).items()}
    claims: dict[str, Any] = {"u": user, "iat": int(now), "exp": int(now + ttl)}
    if name is not None:
        claims["n"] = name
    if roles:
        claims["g"] = roles
    if hidden:
        claims["h"] = True
    if can_update_metadata is not None:
        claims["m"] = can_update_metadata
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{_VERSION}.{payload}"
    return f"{signed}.{_sign(_key(secret), signed)}"


def _keys(secret: str | bytes | Iterable[str | bytes]) -> tuple[bytes, ...]:
    return tuple(_key(k) for k in ([secret] if isinstance(secret, str | bytes) else secret))


@attrs.frozen
class TokenVerifier:
    """Verify tokens made by :func:`mint_token`.

    Args:
        secret: the shared HMAC key. Several keys (a sequence) allow rotation: a token
            signed by any of them is accepted.
        leeway: seconds of clock skew tolerated on expiry.
    """

    _keys: tuple[bytes, ...] = attrs.field(converter=_keys, alias="secret")
    leeway: float = attrs.field(default=DEFAULT_LEEWAY, kw_only=True)

    def __call__(self, token: str, now: float) -> Identity:
        """Check ``token`` at wall-clock ``now``.

        Returns:
            The identity it proves (``address`` unset: the runtime fills it in).

        Raises:
            AuthError: malformed, badly signed or expired.
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too long")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            raise AuthError("malformed token")
        signed = f"{parts[0]}.{parts[1]}"
        try:
            signed.encode("ascii")
        except UnicodeEncodeError:
            raise AuthError("malformed token") from None
        if not any(hmac.compare_digest(_sign(k, signed), parts[2]) for k in self._keys):
            raise AuthError("bad token signature")
        try:
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            raise AuthError("malformed token") from None
        return _identity(
            claims, now, self.leeway, user="u", name="n", grants="g", hidden="h", metadata="m"
        )


def _identity(
    claims: object,
    now: float,
    leeway: float,
    *,
    user: str,
    name: str,
    grants: str,
    hidden: str,
    metadata: str,
) -> Identity:
    if not isinstance(claims, dict):
        raise AuthError("malformed token")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise AuthError("token has no expiry")
    if now > exp + leeway:
        raise AuthError("token expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and now + leeway < nbf:
        raise AuthError("token not yet valid")
    uid, display, roles = claims.get(user), claims.get(name), claims.get(grants) or {}
    if not isinstance(uid, str) or not uid:
        raise AuthError("token names no user")
    if display is not None and not isinstance(display, str):
        raise AuthError("malformed token name")
    if not isinstance(roles, dict):
        raise AuthError("malformed token grants")
    is_hidden, may_update = claims.get(hidden, False), claims.get(metadata)
    if not isinstance(is_hidden, bool) or not isinstance(may_update, bool | None):
        raise AuthError("malformed token grants")
    try:
        return Identity(
            user=uid,
            name=display,
            grants=roles,
            hidden=is_hidden,
            can_update_metadata=may_update,
        )
    except ValueError:
        raise AuthError("token grants an unknown role") from None


@attrs.frozen(kw_only=True)
class JwtVerifier:
    """Verify JSON Web Tokens (RFC 7519) with PyJWT (extra ``rtcsignal[jwt]``).

    Attributes:
        key: the HMAC secret or the public key (PEM) of the issuer.
        algorithms: accepted ``alg`` values; never ``none`` (RFC 8725 §3.1).
        audience / issuer: required ``aud`` / ``iss`` when set.
        leeway: seconds of clock skew tolerated on ``exp`` / ``nbf``.
        user_claim / name_claim / grants_claim: where the identity lives in the claims.
        hidden_claim / metadata_claim: the claims of the ``hidden`` and
            ``can_update_metadata`` grants (booleans; absent: not hidden, by role).
    """

    key: str | bytes
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str | None = None
    issuer: str | None = None
    leeway: float = DEFAULT_LEEWAY
    user_claim: str = "sub"
    name_claim: str = "name"
    grants_claim: str = "grants"
    hidden_claim: str = "hidden"
    metadata_claim: str = "can_update_metadata"

    def __call__(self, token: str, now: float) -> Identity:
        """Check ``token`` at wall-clock ``now``.

        Returns:
            The identity it proves.

        Raises:
            AuthError: malformed, badly signed, expired or for another audience/issuer.
            ModuleNotFoundError: PyJWT is not installed.
        """
        import jwt  # optional extra: imported only when used

        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too long")
        if any(a.lower() == "none" for a in self.algorithms):
            raise AuthError("unsigned tokens are never accepted")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                # time claims are checked below against the injected ``now``
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"bad token: {exc}") from None
        return _identity(
            claims,
            now,
            self.leeway,
            user=self.user_claim,
            name=self.name_claim,
            grants=self.grants_claim,
            hidden=self.hidden_claim,
            metadata=self.metadata_claim,
        )
