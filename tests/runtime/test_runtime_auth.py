"""Tokens, JWT, origins and the handshake request."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_runtime import grants, names, secrets_, users

from rtcsignal.auth import (
    MAX_TOKEN_BYTES,
    AuthError,
    HandshakeRequest,
    JwtVerifier,
    OriginPolicy,
    TokenVerifier,
    extract_token,
    mint_token,
)
from rtcsignal.protocol import Role

SECRET = "k" * 32
NOW = 1_700_000_000.0


@given(secret=secrets_, user=users, name=names, roles=grants, ttl=st.integers(1, 10**6))
def test_minted_tokens_verify_to_the_same_identity(
    secret: bytes, user: str, name: str | None, roles: dict[str, Role], ttl: int
) -> None:
    token = mint_token(secret, user=user, name=name, grants=roles, ttl=ttl, now=NOW)
    identity = TokenVerifier(secret)(token, NOW + ttl)
    assert (identity.user, identity.name, dict(identity.grants)) == (user, name, roles)


@given(hidden=st.booleans(), may_update=st.sampled_from([None, True, False]))
def test_the_hidden_and_metadata_grants_ride_in_the_token(
    hidden: bool, may_update: bool | None
) -> None:
    token = mint_token(
        SECRET, user="rec", ttl=60, now=NOW, hidden=hidden, can_update_metadata=may_update
    )
    identity = TokenVerifier(SECRET)(token, NOW)
    assert (identity.hidden, identity.can_update_metadata) == (hidden, may_update)


def test_malformed_hidden_or_metadata_grants_are_refused() -> None:
    verify = JwtVerifier(key=SECRET)
    base = {"sub": "rec", "exp": NOW + 60}
    identity = verify(_jwt({**base, "hidden": True, "can_update_metadata": False}), NOW)
    assert (identity.hidden, identity.can_update_metadata) == (True, False)
    assert verify(_jwt(base), NOW).hidden is False
    for bad in ({"hidden": "yes"}, {"can_update_metadata": 1}):
        with pytest.raises(AuthError, match="malformed token grants"):
            verify(_jwt({**base, **bad}), NOW)


@given(position=st.integers(0, 200), char=st.sampled_from("AbZ09-_."))
def test_any_tampering_is_refused(position: int, char: str) -> None:
    token = mint_token(SECRET, user="alice", grants={"standup": "host"}, ttl=60, now=NOW)
    position %= len(token)
    forged = token[:position] + char + token[position + 1 :]
    if forged == token:
        return
    with pytest.raises(AuthError):
        TokenVerifier(SECRET)(forged, NOW)


def test_a_forged_payload_with_a_valid_looking_signature_is_refused() -> None:
    token = mint_token(SECRET, user="alice", ttl=60, now=NOW)
    version, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["g"] = {"*": "host"}
    evil = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="signature"):
        TokenVerifier(SECRET)(f"{version}.{evil}.{signature}", NOW)


def test_expiry_honours_the_leeway() -> None:
    token = mint_token(SECRET, user="alice", ttl=60, now=NOW)
    verify = TokenVerifier(SECRET, leeway=5)
    assert verify(token, NOW + 65).user == "alice"
    with pytest.raises(AuthError, match="expired"):
        verify(token, NOW + 66)


def test_rotation_accepts_any_configured_key() -> None:
    old = mint_token("o" * 32, user="alice", ttl=60, now=NOW)
    new = mint_token("n" * 32, user="bob", ttl=60, now=NOW)
    verify = TokenVerifier(["n" * 32, "o" * 32])
    assert [verify(t, NOW).user for t in (old, new)] == ["alice", "bob"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed"),
        ("v2.a.b", "malformed"),
        ("v1.a", "malformed"),
        ("v1.é.x", "malformed"),
        ("x" * (MAX_TOKEN_BYTES + 1), "too long"),
    ],
)
def test_malformed_tokens(token: str, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        TokenVerifier(SECRET)(token, NOW)


def test_minting_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        mint_token("short", user="a", ttl=1, now=NOW)
    with pytest.raises(ValueError, match="empty"):
        mint_token(SECRET, user="", ttl=1, now=NOW)
    with pytest.raises(ValueError, match="ttl"):
        mint_token(SECRET, user="a", ttl=0, now=NOW)
    with pytest.raises(ValueError, match="emperor"):
        mint_token(SECRET, user="a", grants={"r": "emperor"}, ttl=1, now=NOW)


def _jwt(claims: dict[str, object], key: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def test_jwt_verification() -> None:
    verify = JwtVerifier(key=SECRET, audience="rtc", issuer="https://idp.example")
    claims = {
        "sub": "alice",
        "name": "Alice",
        "grants": {"standup": "moderator"},
        "exp": NOW + 60,
        "aud": "rtc",
        "iss": "https://idp.example",
    }
    identity = verify(_jwt(claims), NOW)
    assert identity.user == "alice"
    assert identity.grant_for("standup") is Role.MODERATOR
    with pytest.raises(AuthError, match="expired"):
        verify(_jwt(claims), NOW + 3600)
    with pytest.raises(AuthError, match="bad token"):
        verify(_jwt({**claims, "aud": "other"}), NOW)
    with pytest.raises(AuthError, match="bad token"):
        verify(_jwt(claims, key="z" * 32), NOW)
    with pytest.raises(AuthError, match="no expiry"):
        verify(_jwt({k: v for k, v in claims.items() if k != "exp"}), NOW)
    with pytest.raises(AuthError, match="not yet valid"):
        verify(_jwt({**claims, "nbf": NOW + 600}), NOW)
    with pytest.raises(AuthError, match="no user"):
        verify(_jwt({**claims, "sub": ""}), NOW)
    with pytest.raises(AuthError, match="unsigned"):
        JwtVerifier(key=SECRET, algorithms=("none",))(_jwt(claims), NOW)


@pytest.mark.parametrize(
    ("policy", "origin", "allowed"),
    [
        (OriginPolicy(), "https://anything.example", True),
        (OriginPolicy(allowed=["https://app.example"]), "https://app.example", True),
        (OriginPolicy(allowed=["https://app.example"]), "https://evil.example", False),
        (OriginPolicy(allowed=["*"]), "https://evil.example", True),
        (OriginPolicy(allowed=["https://app.example"]), None, True),
        (OriginPolicy(allowed=["https://app.example"], allow_missing=False), None, False),
    ],
)
def test_origin_policy(policy: OriginPolicy, origin: str | None, allowed: bool) -> None:
    if allowed:
        policy.check(origin)
    else:
        with pytest.raises(AuthError):
            policy.check(origin)


def test_handshake_request_parsing_and_token_sources() -> None:
    request = HandshakeRequest.build(
        "/ws?token=q1&token=q2&name=",
        [
            ("Origin", "https://app.example"),
            ("Cookie", "rtcsignal_token=c1; other=x"),
            ("X-Dup", "a"),
            ("x-dup", "b"),
        ],
        "192.0.2.1",
    )
    assert request.path == "/ws"
    assert request.query == {"token": "q1", "name": ""}
    assert request.cookies == {"rtcsignal_token": "c1", "other": "x"}
    assert request.headers["x-dup"] == "a, b"
    assert request.origin == "https://app.example"
    assert extract_token(request) == "q1"
    bearer = HandshakeRequest.build("/ws", [("Authorization", "Bearer  h1 ")], None)
    assert extract_token(bearer) == "h1"
    cookie_only = HandshakeRequest.build("/ws", [("Cookie", "rtcsignal_token=c1")], None)
    assert extract_token(cookie_only) == "c1"
    broken = HandshakeRequest.build("/", [("Cookie", 'a="unterminated')], None)
    assert broken.cookies == {}
    assert extract_token(broken) is None
