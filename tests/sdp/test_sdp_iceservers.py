"""ICE server URLs (RFC 7064, RFC 7065), RTCIceServer checks, TURN REST credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from rtcsignal import sdp

VALID = [
    ("stun:stun.l.google.com:19302", "stun", "stun.l.google.com", 19302, None, False),
    ("stun:192.0.2.1", "stun", "192.0.2.1", 3478, None, False),
    ("stuns:stun.example.com", "stuns", "stun.example.com", 5349, None, True),
    ("turn:[2001:db8::1]:3478?transport=udp", "turn", "2001:db8::1", 3478, "udp", False),
    ("turn:[2001:db8::1]", "turn", "2001:db8::1", 3478, None, False),
    ("TURN:turn.example.com?transport=TCP", "turn", "turn.example.com", 3478, "tcp", False),
    ("turns:turn.example.com:443?transport=tcp", "turns", "turn.example.com", 443, "tcp", True),
    ("turns:turn.example.com", "turns", "turn.example.com", 5349, None, True),
]


@pytest.mark.parametrize(("url", "scheme", "host", "port", "transport", "secure"), VALID)
def test_valid_urls(
    url: str, scheme: str, host: str, port: int, transport: str | None, secure: bool
) -> None:
    parsed = sdp.validate_ice_server_url(url)
    assert parsed == sdp.IceServerUrl(
        url=url, scheme=scheme, host=host, port=port, transport=transport, secure=secure
    )
    assert parsed.is_turn == scheme.startswith("turn")


INVALID = [
    ("", "ice_server.url"),
    ("http://example.com", "ice_server.scheme"),
    ("stun", "ice_server.scheme"),
    ("stun://stun.example.com", "ice_server.url"),
    ("turn:user@turn.example.com", "ice_server.url"),
    ("stun:stun.example.com#x", "ice_server.url"),
    ("stun:stun example.com", "ice_server.url"),
    ("stun:" + "a" * 3000, "ice_server.url"),
    ("stun:", "ice_server.host"),
    ("stun:exa_mple..com", "ice_server.host"),
    ("stun:300.1.1.1", "ice_server.host"),
    ("turn:[2001:db8::1", "ice_server.host"),
    ("turn:[nope]", "ice_server.host"),
    ("turn:[fe80::1%25eth0]", "ice_server.host"),
    ("turn:[2001:db8::1]x", "ice_server.url"),
    ("stun:stun.example.com:0", "ice_server.port"),
    ("stun:stun.example.com:65536", "ice_server.port"),
    ("stun:stun.example.com:http", "ice_server.port"),
    ("stun:stun.example.com?transport=udp", "ice_server.query"),
    ("turn:turn.example.com?proto=udp", "ice_server.query"),
    ("turn:turn.example.com?transport=sctp", "ice_server.transport"),
]


@pytest.mark.parametrize(("url", "rule"), INVALID)
def test_invalid_urls(url: str, rule: str) -> None:
    with pytest.raises(sdp.IceServerError) as info:
        sdp.validate_ice_server_url(url)
    assert info.value.rule == rule, str(info.value)


def test_ice_server_entries() -> None:
    server = sdp.validate_ice_server(
        ["turn:turn.example.com?transport=udp", "turns:turn.example.com:443?transport=tcp"],
        username="1700003600:alice",
        credential="c2VjcmV0",
    )
    assert [u.port for u in server.urls] == [3478, 443]
    assert server.username == "1700003600:alice"
    assert sdp.validate_ice_server("stun:stun.example.com").urls[0].host == "stun.example.com"


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"urls": []}, "ice_server.no_urls"),
        ({"urls": ["stun:a.example"] * 33}, "ice_server.no_urls"),
        ({"urls": "turn:turn.example.com"}, "ice_server.credentials"),
        ({"urls": "turn:turn.example.com", "username": "u"}, "ice_server.credentials"),
        ({"urls": "turns:t.example", "username": "u", "credential": ""}, "ice_server.credentials"),
        ({"urls": "stun:s.example", "username": 5}, "ice_server.credentials"),
        (
            {"urls": "turn:t.example", "username": "u" * 509, "credential": "p"},
            "ice_server.credentials",
        ),
        (
            {"urls": "turn:t.example", "username": "u", "credential": "p" * 1025},
            "ice_server.credentials",
        ),
        ({"urls": ["stun:ok.example", "stun:bad..example"]}, "ice_server.host"),
    ],
)
def test_ice_server_errors(kwargs: dict[str, object], rule: str) -> None:
    with pytest.raises(sdp.IceServerError) as info:
        sdp.validate_ice_server(**kwargs)  # type: ignore[arg-type]
    assert info.value.rule == rule, str(info.value)


def test_turn_rest_credentials_known_vector() -> None:
    # coturn use-auth-secret / TURN REST: username "<expiry>:<user>",
    # password base64(HMAC-SHA1(static-auth-secret, username)). Computed here independently.
    creds = sdp.mint_turn_credentials("north", "alice", now=1_700_000_000.75, ttl=86_400)
    assert creds.username == "1700086400:alice"
    assert creds.expires_at == 1_700_086_400
    expected = base64.b64encode(
        hmac.new(b"north", b"1700086400:alice", hashlib.sha1).digest()
    ).decode()
    assert creds.credential == expected
    assert (
        creds.credential == "SXua5ne/+mDhiHTp0pQJzRO4ESg="
    )  # openssl dgst -sha1 -hmac north -binary | base64
    assert sdp.mint_turn_credentials(b"north", "alice", now=1_700_000_000, ttl=86_400.9) == creds


@pytest.mark.parametrize(
    ("secret", "user", "now", "ttl", "rule"),
    [
        ("", "alice", 0.0, 10.0, "turn.secret"),
        (b"", "alice", 0.0, 10.0, "turn.secret"),
        ("s", "", 0.0, 10.0, "turn.user"),
        ("s", "alice", 0.0, 0.0, "turn.ttl"),
        ("s", "alice", 0.0, -5.0, "turn.ttl"),
        ("s", "alice", float("nan"), 5.0, "turn.ttl"),
        ("s", "alice", 0.0, float("inf"), "turn.ttl"),
    ],
)
def test_turn_rest_errors(
    secret: str | bytes, user: str, now: float, ttl: float, rule: str
) -> None:
    with pytest.raises(sdp.IceServerError) as info:
        sdp.mint_turn_credentials(secret, user, now=now, ttl=ttl)
    assert info.value.rule == rule
