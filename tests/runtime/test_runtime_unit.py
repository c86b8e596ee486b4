"""The runtime without sockets: fake transports, on asyncio and on trio (anyio plugin)."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import anyio
import anyio.abc
import pytest

from rtcsignal.auth import AuthError, HandshakeRequest
from rtcsignal.core import Identity, ServerConfig
from rtcsignal.ratelimit import RatePolicy
from rtcsignal.runtime import MemoryMetrics, Outbound, Runtime, RuntimeSettings

WAIT = 5.0  # generous bound on any wait: the test fails instead of hanging


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class FakeTransport:
    """A transport fed by the test: frames in through a memory stream, frames out to a
    list, the close recorded."""

    def __init__(self, *, fail_send: bool = False) -> None:
        self.inbox: list[str | None] = []
        self.arrived = anyio.Event()
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.closed_event = anyio.Event()
        self.fail_send = fail_send

    async def recv(self) -> str | bytes | None:
        with anyio.move_on_after(WAIT * 2):
            while not self.inbox:
                await self.arrived.wait()
                self.arrived = anyio.Event()
            return self.inbox.pop(0)
        return None

    async def send(self, data: bytes, text: bool) -> None:
        if self.fail_send:
            raise OSError("the network card caught fire")
        self.sent.append(json.loads(data))

    async def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self.closed_event.set()
            self._put(None)

    def _put(self, frame: str | None) -> None:
        self.inbox.append(frame)
        self.arrived.set()

    def push(self, message: dict[str, Any]) -> None:
        self._put(json.dumps(message))

    async def wait_for(self, type_: str) -> dict[str, Any]:
        with anyio.fail_after(WAIT):
            while True:
                for message in self.sent:
                    if message["type"] == type_:
                        self.sent.remove(message)
                        return message
                await anyio.sleep(0.005)


def _users(request: HandshakeRequest) -> Identity:
    user = request.query.get("user")
    if not user:
        raise AuthError("who are you?")
    return Identity(user=user)


def _request(user: str | None) -> HandshakeRequest:
    return HandshakeRequest.build(f"/ws?user={user or ''}", [], "10.0.0.1")


def _runtime(**server: Any) -> tuple[Runtime, MemoryMetrics]:
    metrics = MemoryMetrics()
    settings = RuntimeSettings(server=ServerConfig(**server), shutdown_grace=1.0)
    return Runtime(settings, authenticate=_users, metrics=metrics), metrics


# ---------------------------------------------------------------- the outbound queue
def test_outbound_keeps_order_and_bounds_bytes() -> None:
    out = Outbound(10)
    assert out.push(b"abc", True)
    assert out.push(b"defgh", False)
    assert not out.push(b"ijk", True)  # 8 + 3 > 10: refused, nothing queued
    assert out.size == 8
    out.close(1000, "bye")
    assert not out.push(b"x", True)  # nothing after a close
    assert out.close_code == 1000


def test_outbound_take_drains_then_reports_the_close() -> None:
    out = Outbound(100)
    out.push(b"a", True)
    out.push(b"b", True)
    out.close(4000, "replaced")
    out.close(1000, "ignored: the first close wins")
    assert out.take() == [(b"a", True), (b"b", True)]
    assert out.size == 0
    assert out.take() == []
    assert not out.open
    assert (out.close_code, out.close_reason) == (4000, "replaced")


def test_outbound_abort_drops_pending_frames() -> None:
    out = Outbound(100)
    out.push(b"abcd", True)
    assert out.abort(4008, "slow") == 4
    assert out.take() == []
    assert (out.close_code, out.size) == (4008, 0)
    assert out.abort(1000, "again") == 0  # idempotent: the first reason stays
    assert out.close_code == 4008
    closing = Outbound(100)
    closing.push(b"x", True)
    closing.close(4000, "replaced")
    closing.abort(1001, "going away")  # an abort keeps a queued close's code
    assert closing.close_code == 4000
    assert closing.take() == []


# ---------------------------------------------------------------- the runtime
async def _alice_and_bob(
    runtime: Runtime, tg: anyio.abc.TaskGroup, room: str, bob: FakeTransport | None = None
) -> tuple[FakeTransport, FakeTransport]:
    """Alice and Bob (on ``bob`` if given) connected through ``runtime``, welcomed, and
    in ``room``."""
    alice, bob = FakeTransport(), FakeTransport() if bob is None else bob
    tg.start_soon(runtime.serve, _request("alice"), alice)
    tg.start_soon(runtime.serve, _request("bob"), bob)
    for t in (alice, bob):
        t.push({"type": "hello", "version": 1, "id": 1})
        await t.wait_for("welcome")
        t.push({"type": "join", "room": room, "id": 2})
        await t.wait_for("ok")
    return alice, bob


@pytest.mark.anyio
async def test_serve_relays_and_reports_health() -> None:
    runtime, metrics = _runtime()
    async with runtime, anyio.create_task_group() as tg:
        alice, _ = await _alice_and_bob(runtime, tg, "standup")
        joined = await alice.wait_for("participant_joined")
        assert joined["participant"]["user"] == "bob"
        health = runtime.health()
        assert (health.connections, health.sessions, health.rooms, health.participants) == (
            2,
            2,
            1,
            2,
        )
        assert health.accepting
        assert health.as_dict()["queued_bytes"] == 0
        assert metrics.total("rtcsignal_participants_joined_total") == 2
        await runtime.shutdown()
    assert alice.closed is not None
    assert alice.closed[0] == 1001
    assert not runtime.accepting


@pytest.mark.anyio
async def test_unauthenticated_connections_never_reach_the_core() -> None:
    runtime, metrics = _runtime()
    async with runtime:
        t = FakeTransport()
        await runtime.serve(_request(None), t)
        assert t.closed == (4003, "who are you?")
        assert runtime.server.stats().connections == 0
        assert metrics.total("rtcsignal_handshake_refused_total", reason="unauthorized") == 1


@pytest.mark.anyio
async def test_a_failing_authenticate_hook_closes_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: HandshakeRequest) -> Identity:
        raise KeyError("database down")

    runtime = Runtime(RuntimeSettings(), authenticate=broken)
    async with runtime:
        t = FakeTransport()
        with caplog.at_level(logging.ERROR, logger="rtcsignal"):
            await runtime.serve(_request("alice"), t)
        assert t.closed == (1011, "authentication unavailable")
        assert "authenticate hook failed" in caplog.text


@pytest.mark.anyio
async def test_the_timer_closes_a_silent_connection_even_after_a_far_deadline() -> None:
    # The first connection arms a far deadline (ping timeout); the second brings a nearer
    # one (handshake timeout), which must re-arm the sleeping timer.
    runtime, _ = _runtime(handshake_timeout=0.05, ping_timeout=3600.0)
    async with runtime, anyio.create_task_group() as tg:
        talker, silent = FakeTransport(), FakeTransport()
        tg.start_soon(runtime.serve, _request("talker"), talker)
        talker.push({"type": "hello", "version": 1, "id": 1})
        await talker.wait_for("welcome")
        await anyio.sleep(0.01)  # the timer is now asleep on the hour-long deadline
        tg.start_soon(runtime.serve, _request("silent"), silent)
        with anyio.fail_after(WAIT):
            await silent.closed_event.wait()
        assert silent.closed == (4002, "no hello in time")
        assert talker.closed is None
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_transport_failure_ends_only_its_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, metrics = _runtime()
    async with runtime, anyio.create_task_group() as tg:
        good, bad = FakeTransport(), FakeTransport(fail_send=True)
        tg.start_soon(runtime.serve, _request("good"), good)
        with caplog.at_level(logging.ERROR, logger="rtcsignal"):
            tg.start_soon(runtime.serve, _request("bad"), bad)
            bad.push({"type": "hello", "version": 1, "id": 1})
            with anyio.fail_after(WAIT):
                await bad.closed_event.wait()
        assert bad.closed is not None
        assert bad.closed[0] == 1011
        record = next(r for r in caplog.records if "failed while writing" in r.getMessage())
        assert record.__dict__["user"] == "bad"
        assert record.__dict__["address"] == "10.0.0.1"
        assert metrics.total("rtcsignal_internal_errors_total", where="writer") == 1
        good.push({"type": "hello", "version": 1, "id": 1})
        await good.wait_for("welcome")
        assert runtime.server.stats().connections == 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_failing_metrics_hook_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryMetrics):
        def count(self, name: str, labels: Any, value: float = 1.0) -> None:
            raise ValueError("metrics backend down")

    runtime = Runtime(RuntimeSettings(), authenticate=_users, metrics=Broken())
    async with runtime, anyio.create_task_group() as tg:
        t = FakeTransport()
        with caplog.at_level(logging.ERROR, logger="rtcsignal"):
            tg.start_soon(runtime.serve, _request("alice"), t)
            t.push({"type": "hello", "version": 1, "id": 1})
            await t.wait_for("welcome")
        assert "metrics hook failed" in caplog.text
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_connection_guards_refuse_with_1008() -> None:
    policy = RatePolicy.from_dict({"guards": {"max_connections_per_user": 1}})
    runtime = Runtime(RuntimeSettings(rate=policy), authenticate=_users)
    async with runtime, anyio.create_task_group() as tg:
        first, second = FakeTransport(), FakeTransport()
        tg.start_soon(runtime.serve, _request("alice"), first)
        await anyio.sleep(0.01)
        await runtime.serve(_request("alice"), second)
        assert second.closed is not None
        assert second.closed[0] == 1008
        first.push({"type": "hello", "version": 1, "id": 1})
        await first.wait_for("welcome")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_observer_events_are_logged_with_structure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, _ = _runtime()
    async with runtime, anyio.create_task_group() as tg:
        t = FakeTransport()
        with caplog.at_level(logging.DEBUG, logger="rtcsignal"):
            tg.start_soon(runtime.serve, _request("alice"), t)
            t.push({"type": "hello", "version": 1, "id": 1})
            await t.wait_for("welcome")
        started = next(r for r in caplog.records if r.__dict__.get("event") == "SessionStarted")
        assert started.__dict__["fields"]["user"] == "alice"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_runtime_that_is_not_running_refuses_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, _ = _runtime()
    t = FakeTransport()
    with caplog.at_level(logging.ERROR, logger="rtcsignal"):
        await runtime.serve(_request("alice"), t)
    assert t.closed == (1011, "server not running")
    assert "not running" in caplog.text
    assert runtime.server.stats().connections == 0


def test_a_runtime_needs_a_way_to_authenticate() -> None:
    with pytest.raises(ValueError, match="authenticate"):
        Runtime(RuntimeSettings())


@pytest.mark.anyio
async def test_a_runtime_runs_once_at_a_time() -> None:
    runtime, _ = _runtime()
    async with runtime:
        with pytest.raises(RuntimeError, match="already running"):
            await runtime.__aenter__()
    assert math.isfinite(runtime.health().uptime)


@pytest.mark.anyio
async def test_a_writer_lingers_under_traffic_and_exits_when_idle() -> None:
    """One writer task serves frames that come within WRITER_LINGER of each other, in
    order; a quiet connection's writer exits (an idle connection holds no task)."""
    from rtcsignal.runtime._runtime import WRITER_LINGER

    runtime, _ = _runtime()
    async with runtime, anyio.create_task_group() as tg:
        alice, bob = await _alice_and_bob(runtime, tg, "r-1")
        (link,) = [x for x in runtime._links.values() if x.user == "bob"]
        for i in range(10):
            alice.push({"type": "chat", "room": "r-1", "text": f"m{i}"})
            await anyio.sleep(WRITER_LINGER / 10)
            assert link.writing, (i, alice.sent[-1])  # the same writer, woken each time
        with anyio.fail_after(WAIT):
            while len([m for m in bob.sent if m["type"] == "chat"]) < 10:
                await anyio.sleep(0.005)
        assert [m["text"] for m in bob.sent if m["type"] == "chat"] == [f"m{i}" for i in range(10)]
        with anyio.fail_after(WAIT):
            while link.writing:
                await anyio.sleep(WRITER_LINGER / 4)
        assert link.wake is None and link.writer is None
        alice.push({"type": "reaction", "room": "r-1", "emoji": "+1"})  # a new writer
        with anyio.fail_after(WAIT):
            while bob.sent[-1]["type"] != "reaction":
                await anyio.sleep(0.005)
        await runtime.shutdown()
    assert bob.closed is not None and bob.closed[0] == 1001


class BatchTransport(FakeTransport):
    """A transport with ``send_many``: the writer hands it whole batches."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def send(self, data: bytes, text: bool) -> None:
        raise AssertionError("a transport with send_many gets every frame through it")

    async def send_many(self, frames: list[tuple[bytes, bool]]) -> None:
        self.batches.append(len(frames))
        for data, text in frames:
            assert text
            self.sent.append(json.loads(data))


@pytest.mark.anyio
async def test_a_transport_with_send_many_gets_what_is_queued_in_one_call() -> None:
    runtime, _ = _runtime()
    async with runtime, anyio.create_task_group() as tg:
        batching = BatchTransport()
        alice, _ = await _alice_and_bob(runtime, tg, "r-1", bob=batching)
        bob = batching
        for i in range(8):  # queued before bob's writer runs (within the chat burst)
            alice.push({"type": "chat", "room": "r-1", "text": f"m{i}"})
        with anyio.fail_after(WAIT):
            while len([m for m in bob.sent if m["type"] == "chat"]) < 8:
                await anyio.sleep(0.005)
        assert [m["text"] for m in bob.sent if m["type"] == "chat"] == [f"m{i}" for i in range(8)]
        assert max(bob.batches) > 1
        await runtime.shutdown()
    assert bob.closed is not None and bob.closed[0] == 1001
