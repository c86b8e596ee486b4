"""Frames the WebSocket layer refuses, over a real socket (the websockets adapter on
loopback), written byte by byte so no client library tidies them up."""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import Iterator
from urllib.parse import urlsplit

import msgspec
import pytest

from harness_adapters import GOOD_ORIGIN, WAIT, Served, hello, open_client, serve_adapter, token
from rtcsignal.protocol import CloseCode


@pytest.fixture
def served() -> Iterator[Served]:
    server = serve_adapter("websockets")
    try:
        yield server
    finally:
        server.stop()


def _open(served: Served) -> socket.socket:
    """A WebSocket opened by hand (RFC 6455 §4.1)."""
    url = urlsplit(served.url)
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {url.path}?token={token('alice')} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{served.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {GOOD_ORIGIN}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _send_text(sock: socket.socket, payload: bytes) -> None:
    """One masked text frame (opcode 0x1) carrying ``payload`` as is."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)


def _close_code(sock: socket.socket) -> int:
    """Read frames until the server's close frame; return its code."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        assert chunk, f"connection ended without a close frame: {data!r}"
        data += chunk
        while len(data) >= 2:
            opcode, length = data[0] & 0x0F, data[1] & 0x7F
            if len(data) < 2 + length:
                break
            if opcode == 0x8:
                (code,) = struct.unpack("!H", data[2:4])
                return int(code)
            data = data[2 + length :]


def test_invalid_utf8_in_a_text_frame_closes_1007(served: Served) -> None:
    """Issue 17: the documented close code (RFC 6455 §8.1), and nothing reaches the core."""
    sock = _open(served)
    try:
        _send_text(sock, b'{"type": "ping", "id": "\xff\xfe"}')
        assert _close_code(sock) == CloseCode.INVALID_PAYLOAD == 1007
    finally:
        sock.close()
    assert served.metrics.total("rtcsignal_internal_errors_total") == 0


def test_valid_utf8_written_by_hand_is_answered(served: Served) -> None:
    """The control: the same hand-written frame with valid UTF-8 gets its reply."""
    sock = _open(served)
    try:
        _send_text(sock, '{"type": "hello", "version": 1, "id": "é"}'.encode())
        reply = sock.recv(4096)
        assert reply[0] == 0x81 and b'"welcome"' in reply
    finally:
        sock.close()


def test_a_non_finite_number_from_messagepack_is_refused_not_relayed_as_null(
    served: Served,
) -> None:
    """Issue 17: Alice speaks MessagePack, Bob JSON; NaN has no JSON form, so her ``app``
    with one is refused (naming the field) and Bob gets nothing; a finite one arrives."""
    alice, bob = open_client(served, "alice"), open_client(served, "bob")
    alice.send(msgspec.msgpack.encode({"type": "hello", "version": 1, "id": 1}))
    assert msgspec.msgpack.decode(alice.recv())["type"] == "welcome"
    hello(bob)
    alice.send(msgspec.msgpack.encode({"type": "join", "room": "lobby", "id": 2}))
    assert msgspec.msgpack.decode(alice.recv())["type"] == "ok"
    bob.request({"type": "join", "room": "lobby"})
    assert msgspec.msgpack.decode(alice.recv())["type"] == "participant_joined"
    app = {"type": "app", "room": "lobby", "app_type": "acme.board", "id": 3}
    alice.send(msgspec.msgpack.encode({**app, "payload": {"x": float("nan")}}))
    error = msgspec.msgpack.decode(alice.recv())
    assert (error["code"], error["details"], error["id"]) == (
        "invalid_message",
        {"field": "payload.x"},
        3,
    )
    alice.send(msgspec.msgpack.encode({**app, "id": 4, "payload": {"x": 0.5}}))
    assert msgspec.msgpack.decode(alice.recv()) == {"type": "ok", "id": 4}
    relayed = bob.expect("app")  # the first app Bob sees is the finite one
    assert relayed["payload"] == {"x": 0.5}
    alice.close()
    bob.close()
