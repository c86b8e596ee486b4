"""Issue 13: the client retries a request refused with ``backplane_unavailable``, with
the same ``id``, after ``retry_after``, and the request is applied once.

Real parts only: a ``redis-server``, two ``python -m rtcsignal serve`` instances on it
(``[server] request_timeout = 0.5``), the owner of the room paused with SIGSTOP (and
always continued with SIGCONT), and the Python client over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from harness_cluster import SECRET, Instance, RedisServer, token
from rtcsignal import protocol as p
from rtcsignal.client import Backoff, Connected, ConnectionLost, RequestError, SessionReset, connect
from rtcsignal.client._backoff import (
    MAX_UNAVAILABLE_WAIT,
    UNAVAILABLE_JITTER,
    UNAVAILABLE_RETRY_AFTER,
    unavailable_delay,
)

pytestmark = pytest.mark.anyio
WAIT = 10.0
REQUEST_TIMEOUT = 0.5  # the edge's wait for the owner (docs: [server] request_timeout)
ROOM = "retry-room"
REJECTED = re.compile(r'^rtcsignal_requests_rejected_total\{code="backplane_unavailable"\} (\S+)$')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def _cluster(tmp_path: Path, server: str = "") -> Iterator[tuple[Instance, Instance]]:
    """Instances ``a`` and ``b`` on one ``redis-server`` (``server``: more ``[server]``
    settings), each continued and stopped at the end."""
    config = tmp_path / "cluster.toml"
    config.write_text(
        f'auth_secret = "{SECRET}"\n[server]\nrequest_timeout = {REQUEST_TIMEOUT}\n{server}'
        "[backplane]\nlease_ttl = 30.0\n"  # the paused owner keeps its rooms
    )
    redis = RedisServer(tmp_path)
    instances: list[Instance] = []
    try:
        for name in ("a", "b"):
            instances.append(Instance(redis.url, name, "--config", str(config)))
        a, b = instances
        _wait_for_peer(a, "b")
        _wait_for_peer(b, "a")
        yield a, b
    finally:
        for instance in instances:
            os.kill(instance.proc.pid, signal.SIGCONT)  # never leave one stopped
            instance.stop()
        redis.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    with _cluster(tmp_path) as instances:
        yield instances


def _get(instance: Instance, path: str) -> str:
    url = f"http://127.0.0.1:{instance.port}{path}"
    with urllib.request.urlopen(url, timeout=WAIT) as reply:
        return str(reply.read().decode())


def _wait_for_peer(instance: Instance, peer: str) -> None:
    deadline = time.monotonic() + WAIT
    while f'"{peer}"' not in _get(instance, "/healthz"):
        assert time.monotonic() < deadline, f"instance {instance.id} does not see {peer}"
        time.sleep(0.05)


def _unavailable(instance: Instance) -> int:
    """How many requests ``instance`` answered ``backplane_unavailable`` (its metrics)."""
    for line in _get(instance, "/metrics").splitlines():
        match = REJECTED.match(line)
        if match:
            return int(float(match.group(1)))
    return 0


def _stop(instance: Instance) -> None:
    """SIGSTOP ``instance`` and wait until the kernel says it is stopped."""
    pid = instance.proc.pid
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + WAIT
    stat = Path(f"/proc/{pid}/stat")
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the instance did not stop"
        time.sleep(0.01)


async def _chats_until(client: Any, last: str) -> list[str]:
    """The chat texts ``client`` receives up to and including ``last``."""
    texts: list[str] = []
    with anyio.fail_after(WAIT):
        async for event in client.events():
            if isinstance(event, p.Chat):
                texts.append(event.text)
                if event.text == last:
                    return texts
    raise AssertionError(f"events ended after {texts}")


async def _joined(alice: Any, bob: Any) -> None:
    await alice.join(ROOM)  # alice is on a: a owns the room
    await bob.join(ROOM)  # bob is on b: an edge of it
    with anyio.fail_after(WAIT):
        async for event in alice.events():
            if isinstance(event, p.ParticipantJoined):
                break


async def test_a_request_refused_while_the_owner_is_paused_is_retried_and_applied_once(
    cluster: tuple[Instance, Instance],
) -> None:
    a, b = cluster
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob")) as bob,
    ):
        await _joined(alice, bob)
        refused_before = _unavailable(b)
        outcome: list[object] = []

        async def chat() -> None:
            try:
                outcome.append(await bob.chat(ROOM, "once"))
            except Exception as exc:  # reported below, with what it was
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            _stop(a)
            try:
                tg.start_soon(chat)
                # past the edge's deadline (a refusal), before the client's retry
                await anyio.sleep(REQUEST_TIMEOUT + 0.3)
            finally:
                os.kill(a.proc.pid, signal.SIGCONT)
        assert outcome == [None], outcome  # the call succeeded ...
        assert _unavailable(b) > refused_before  # ... after at least one refusal
        await bob.chat(ROOM, "after")
        assert await _chats_until(alice, "after") == ["once", "after"]  # applied once


async def test_a_retry_goes_out_after_a_resume_in_between(
    cluster: tuple[Instance, Instance],
) -> None:
    """The connection drops while a retry waits: the session resumes, and the retry goes
    out on the new connection, with its id, once; the chat is applied once."""
    a, b = cluster
    fast = Backoff(initial=0.05, max_delay=0.05)
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob"), backoff=fast) as bob,
    ):
        await _joined(alice, bob)
        refused_before = _unavailable(b)
        outcome: list[object] = []

        async def chat() -> None:
            try:
                outcome.append(await bob.chat(ROOM, "once"))
            except Exception as exc:  # reported below, with what it was
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            _stop(a)
            try:
                tg.start_soon(chat)
                with anyio.fail_after(WAIT):
                    while _unavailable(b) == refused_before:  # refused: a retry waits
                        await anyio.sleep(0.01)
                await bob.drop()
                with anyio.fail_after(WAIT):
                    async for event in bob.events():
                        assert not isinstance(event, SessionReset), event
                        if isinstance(event, Connected) and event.resumed:
                            break
            finally:
                os.kill(a.proc.pid, signal.SIGCONT)
        assert outcome == [None], outcome
        await bob.chat(ROOM, "after")
        assert await _chats_until(alice, "after") == ["once", "after"]  # applied once


@pytest.mark.parametrize(("retries", "sends"), [(1, 2), (0, 1)], ids=["one-retry", "no-retry"])
async def test_retries_are_bounded_then_the_error_is_raised(
    cluster: tuple[Instance, Instance], retries: int, sends: int
) -> None:
    """``retry_unavailable`` bounds the re-sends (0: none); then the error is raised."""
    a, b = cluster
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob"), retry_unavailable=retries) as bob,
    ):
        await _joined(alice, bob)
        refused_before = _unavailable(b)
        _stop(a)
        try:
            with pytest.raises(RequestError) as refused:
                await bob.chat(ROOM, "maybe")
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        assert refused.value.code == "backplane_unavailable"
        assert refused.value.retry_after == UNAVAILABLE_RETRY_AFTER
        assert _unavailable(b) == refused_before + sends  # the first send and the retries
        await bob.chat(ROOM, "after")
        texts = await _chats_until(alice, "after")
        assert texts.count("maybe") <= 1, texts  # may or may not, never twice


async def test_a_retry_is_not_sent_to_a_new_session(tmp_path: Path) -> None:
    """The session ends while a retry waits (its resume fails): the old session's owner
    may have applied the request, so it fails with ``ConnectionLost`` instead of being
    applied again by the new session."""
    grace = "reconnect_grace = 0.1\n"  # the drop below outlives it: the resume fails
    with _cluster(tmp_path, grace) as (a, b):
        slow = Backoff(initial=0.6, max_delay=0.6)  # reconnect after 0.6 * 0.99 s
        async with (
            connect(a.url, token=token("alice")) as alice,
            connect(
                b.url, token=token("bob"), backoff=slow, rand=lambda: 0.99, rejoin=False
            ) as bob,
        ):
            await _joined(alice, bob)
            refused_before = _unavailable(b)
            outcome: list[object] = []

            async def chat() -> None:
                try:
                    outcome.append(await bob.chat(ROOM, "maybe"))
                except Exception as exc:  # reported below, with what it was
                    outcome.append(exc)

            _stop(a)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(chat)
                    with anyio.fail_after(WAIT):
                        while _unavailable(b) == refused_before:  # refused: a retry waits
                            await anyio.sleep(0.01)
                    await bob.drop()
                    with anyio.fail_after(WAIT):
                        async for event in bob.events():
                            if isinstance(event, SessionReset):
                                break
            finally:
                os.kill(a.proc.pid, signal.SIGCONT)
            assert len(outcome) == 1 and isinstance(outcome[0], ConnectionLost), outcome
            assert _unavailable(b) == refused_before + 1  # the retry was never sent


def test_the_wait_before_a_retry() -> None:
    assert unavailable_delay(1.0, lambda: 0.0) == 1.0
    assert unavailable_delay(2.0, lambda: 0.5) == 2.0 * (1 + UNAVAILABLE_JITTER * 0.5)
    assert unavailable_delay(None, lambda: 0.0) == UNAVAILABLE_RETRY_AFTER
    assert unavailable_delay(-3.0, lambda: 0.0) == UNAVAILABLE_RETRY_AFTER
    assert unavailable_delay(1e9, lambda: 0.0) == MAX_UNAVAILABLE_WAIT


async def test_retry_unavailable_must_not_be_negative() -> None:
    from rtcsignal.client import Client

    with pytest.raises(ValueError, match="retry_unavailable"):
        Client("ws://127.0.0.1:9/ws", retry_unavailable=-1)
