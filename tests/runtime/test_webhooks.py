"""Signed webhooks, against a real HTTP receiver on 127.0.0.1 that checks every signature."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from rtcsignal import protocol as p
from rtcsignal.client import connect
from rtcsignal.runtime import MemoryMetrics, RuntimeSettings, SettingsError
from rtcsignal.testing import Harness
from rtcsignal.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    WebhookSettings,
    WebhookVerificationError,
    sign,
    verify,
)

SECRET = "a-webhook-secret-for-tests"
WAIT = 10.0
ROOT = Path(__file__).resolve().parent.parent.parent


class Receiver:
    """A real HTTP server on 127.0.0.1 (a thread) that verifies each request with
    :func:`verify` and answers the statuses in ``script`` first, then 204."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.attempts: list[tuple[str, int]] = []  # (delivery id, status answered)
        self.events: list[dict[str, Any]] = []  # accepted (2xx) events, in arrival order
        self.refused: list[str] = []  # verification failures
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    event = verify(body, self.headers.get(SIGNATURE_HEADER), SECRET)
                except WebhookVerificationError as exc:
                    with receiver.lock:
                        receiver.refused.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                assert self.headers[DELIVERY_HEADER] == event["id"]
                assert self.headers[EVENT_HEADER] == event["event"]
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else 204
                    receiver.attempts.append((event["id"], status))
                    if status < 300:
                        receiver.events.append(event)
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.events) >= count, timeout=WAIT)
        assert ok, f"{len(self.events)} events arrived, not {count}: {self.events}"
        return list(self.events)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def room_story() -> Harness:
    """Real core events: a room created, two joins, a kick, the room closed."""
    h = Harness()
    alice, bob = h.peer("alice"), h.peer("bob")
    alice.ok(p.Join(room="room1", name="Alice"))
    snap = bob.ok(p.Join(room="room1", name="Bob"))
    alice.ok(p.Kick(room="room1", target=snap.you))
    h.dispatch(h.server.close_room("room1", h.clock.now))
    return h


def settings_for(url: str, **extra: Any) -> WebhookSettings:
    return WebhookSettings(url=url, secret=SECRET, backoff=0.0, **extra)


async def deliver_all(sender: WebhookSender) -> None:
    sender.close()
    with anyio.fail_after(WAIT):
        await sender.run()


# ---------------------------------------------------------------- signatures
def test_sign_and_verify() -> None:
    body = b'{"id":"x","event":"room_created","room":"r","seq":1,"time":1.0,"data":{}}'
    header = sign(body, SECRET, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(body, header, SECRET, now=1_700_000_100)["event"] == "room_created"
    # a second signature (a secret being rotated) may sit beside the first
    rotated = f"{header},v1={'0' * 64}"
    assert verify(body, rotated, SECRET, now=1_700_000_000)["seq"] == 1


@pytest.mark.parametrize(
    ("body", "header", "secret", "now", "match"),
    [
        (b"{}", None, SECRET, 0, "no X-Rtcsignal-Signature"),
        (b"{}", "v1=abc", SECRET, 0, "malformed"),
        (b"{}", "t=10", SECRET, 10, "malformed"),
        (b'{"a":2}', sign(b'{"a":1}', SECRET, 10), SECRET, 10, "mismatch"),
        (b"{}", sign(b"{}", SECRET, 10), "another-secret-entirely", 10, "mismatch"),
        (b"{}", sign(b"{}", SECRET, 10), SECRET, 10 + 301, "off"),
        (b"[]", sign(b"[]", SECRET, 10), SECRET, 10, "not a JSON object"),
    ],
)
def test_verify_refuses(
    body: bytes, header: str | None, secret: str, now: float, match: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=match):
        verify(body, header, secret, now=now)


# ---------------------------------------------------------------- settings
def test_settings_table_and_environment() -> None:
    settings = RuntimeSettings.from_toml(
        f'[webhooks]\nurl = "https://app.example.com/h"\nsecret = "{SECRET}"\n'
        'events = ["participant_joined", "room_closed"]\nretries = 2\nqueue_size = 10\n'
    )
    assert settings.webhooks is not None
    assert settings.webhooks.events == ("participant_joined", "room_closed")
    assert (settings.webhooks.retries, settings.webhooks.queue_size) == (2, 10)
    env = RuntimeSettings.from_env(
        environ={
            "RTCSIGNAL_WEBHOOKS__URL": "http://127.0.0.1:9/h",
            "RTCSIGNAL_WEBHOOKS__SECRET": SECRET,
            "RTCSIGNAL_WEBHOOKS__EVENTS": "room_created,room_closed",
            "RTCSIGNAL_WEBHOOKS__TIMEOUT": "2.5",
        }
    )
    assert env.webhooks is not None and env.webhooks.events == ("room_created", "room_closed")
    assert env.webhooks.timeout == 2.5
    assert RuntimeSettings().webhooks is None


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"secret": SECRET}, "url is required"),
        ({"url": "ftp://x.example/h", "secret": SECRET}, "url"),
        ({"url": "http://x.example/h", "secret": "short"}, "secret"),
        ({"url": "http://x.example/h", "secret": SECRET, "events": ["nope"]}, "unknown event"),
        ({"url": "http://x.example/h", "secret": SECRET, "retries": "3"}, "retries"),
        ({"url": "http://x.example/h", "secret": SECRET, "queue_size": 0}, "queue_size"),
        ({"url": "http://x.example/h", "secret": SECRET, "colour": "red"}, "unknown key colour"),
    ],
)
def test_bad_settings_name_the_key(table: dict[str, Any], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        RuntimeSettings.from_dict({"webhooks": table})


# ---------------------------------------------------------------- delivery
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_events_arrive_signed_in_order_and_a_500_is_retried(
    receiver: Receiver, backend: str
) -> None:
    receiver.script = [204, 500, 503]  # the second event fails twice, then goes through
    metrics = MemoryMetrics()
    sender = WebhookSender(settings_for(receiver.url), metrics=metrics)
    for event in room_story().events:
        sender(event)
    anyio.run(deliver_all, sender, backend=backend)
    names = [e["event"] for e in receiver.events]
    assert names == [
        "room_created",
        "participant_joined",  # alice
        "host_transferred",  # to alice
        "participant_joined",  # bob
        "participant_left",  # bob, kicked
        "participant_left",  # alice, room closed
        "room_closed",
    ]
    assert [e["seq"] for e in receiver.events] == list(range(1, len(names) + 1))
    assert {e["room"] for e in receiver.events} == {"room1"}
    kicked = [e["data"] for e in receiver.events if e["event"] == "participant_left"]
    assert kicked[0]["reason"] == "kicked" and kicked[0]["user"] == "bob"
    second = receiver.events[1]["id"]
    assert [s for d, s in receiver.attempts if d == second] == [500, 503, 204]
    assert receiver.refused == []
    assert sender.delivered == len(names) and sender.dropped == 0
    assert metrics.total("rtcsignal_webhooks_delivered_total") == len(names)


def test_the_filter_keeps_the_room_numbering(receiver: Receiver) -> None:
    sender = WebhookSender(settings_for(receiver.url, events=("participant_joined",)))
    for event in room_story().events:
        sender(event)
    anyio.run(deliver_all, sender)
    assert {e["event"] for e in receiver.events} == {"participant_joined"}
    seqs = [e["seq"] for e in receiver.events]
    assert seqs == sorted(seqs) and seqs[0] > 1  # room_created was #1, not sent


def test_a_full_queue_drops_counts_and_never_blocks(receiver: Receiver) -> None:
    metrics = MemoryMetrics()
    sender = WebhookSender(settings_for(receiver.url, queue_size=2), metrics=metrics)
    events = room_story().events
    for event in events:
        sender(event)  # nothing is delivering yet: returns at once all the same
    assert sender.dropped > 0
    assert metrics.total("rtcsignal_webhooks_dropped_total", reason="queue_full") == sender.dropped
    anyio.run(deliver_all, sender)
    assert [e["seq"] for e in receiver.events] == [1, 2]  # then a gap: the rest was dropped


def test_retries_run_out_and_a_4xx_is_final(receiver: Receiver) -> None:
    receiver.script = [500, 500, 400]
    metrics = MemoryMetrics()
    sender = WebhookSender(settings_for(receiver.url, retries=1), metrics=metrics)
    h = Harness()
    h.peer("alice").ok(p.Join(room="room1"))
    for event in h.events:
        sender(event)
    anyio.run(deliver_all, sender)
    # room_created: 500, 500 (retries=1: given up); participant_joined: 400 (final)
    assert [s for _, s in receiver.attempts][:3] == [500, 500, 400]
    assert [e["seq"] for e in receiver.events] == list(range(3, 3 + len(receiver.events)))
    assert metrics.total("rtcsignal_webhooks_dropped_total", reason="failed") == 2


def test_an_unreachable_receiver_is_retried_then_given_up() -> None:
    closed = Receiver()
    url = closed.url
    closed.stop()  # nothing listens there any more
    sender = WebhookSender(WebhookSettings(url=url, secret=SECRET, retries=2, backoff=0.0))
    h = Harness()
    h.peer("alice").ok(p.Join(room="room1"))
    for event in h.events:
        sender(event)
    anyio.run(deliver_all, sender)
    assert sender.dropped == 3 and sender.delivered == 0  # created, joined, host


# ---------------------------------------------------------------- python -m rtcsignal serve
def test_serve_posts_signed_webhooks(receiver: Receiver, tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(f'[webhooks]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RTCSIGNAL_SHUTDOWN_GRACE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcsignal", "serve", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)/ws", line).group(1))  # type: ignore[union-attr]

        async def join_and_leave() -> None:
            async with connect(f"ws://127.0.0.1:{port}/ws") as client:
                await client.join("standup", name="Ada")
                await client.leave("standup")

        anyio.run(join_and_leave)
        events = receiver.wait_for(4)
        assert [e["event"] for e in events[:4]] == [
            "room_created",
            "participant_joined",
            "host_transferred",
            "participant_left",
        ]
        assert [e["seq"] for e in events[:4]] == [1, 2, 3, 4]
        assert events[1]["data"]["role"] == "host" and events[1]["data"]["user"]
        assert events[3]["data"]["reason"] == "left"
        assert json.dumps(events)  # plain JSON all the way
    finally:
        proc.terminate()
        proc.wait(WAIT)
        if proc.stdout is not None:
            proc.stdout.close()
