"""Soak: the real server under churn, its memory, tables and descriptors sampled.

``python tests/soak/soak.py --minutes 10 --out soak.json`` (what ``nox -s soak`` runs;
``tests/soak/test_soak.py`` runs about a minute of it in the normal suite) starts
``python -m rtcsignal serve`` on 127.0.0.1 (a free port) and drives it with the Python
client (:mod:`rtcsignal.client`) and raw WebSockets from a bounded load: ``WORKERS``
tasks, each looping over weighted scenarios until the time is up:

* ``visit``: two clients join one of ``ROOMS`` rooms, negotiate (a real Chromium offer
  and the Firefox answer to it, from ``tests/sdp/corpus``, with their candidates), chat,
  then leave and close, or one drops and resumes first, or one vanishes (its socket
  aborted: the session waits out the reconnect grace, then leaves);
* ``call``: a call rung, then answered and hung up, declined, cancelled or left ringing
  until the ring timeout;
* ``flood``: a joined connection sends chats and pings far past their rate limits
  (``rate_limited`` replies, dropped pings, and a close once the strikes add up);
* ``oversize``: a frame past ``max_frame_bytes`` (close 1009);
* ``malformed``: bytes that are not a message, before and after ``hello``;
* ``silent``: a connection that never says ``hello`` (the handshake timeout closes it).

Every ``SAMPLE`` seconds it reads the server's table sizes (``/healthz``'s ``tables``:
:meth:`rtcsignal.core.Server.tables` and the runtime's), its RSS (``/proc/<pid>/status``)
and open descriptors (``/proc/<pid>/fd``). The first ``WARMUP`` share of the run is the
warm-up. The verdict (:func:`check`):

* **tables**: after warm-up, no table exceeds ``ceil(GROWTH x its warm-up peak) + SLACK``
  (counts, so the same bound holds in the minute-long CI run; the limiter keys may also
  hold ``LIMITER_SWEEP_SLACK`` recovered keys awaiting a sweep; the replay frames, kept
  per live session, may instead stay within ``GROWTH x`` their warm-up peak per session
  times the sessions alive, plus ``SLACK``); after the load stops and
  the timers ran out (grace, ring, idle room), connections, sessions, rooms,
  participants, negotiations, calls, replay frames and every timer are back to zero;
* **descriptors**: the same growth bound after warm-up, and back to the idle count;
* **RSS** (``--check-rss``, on in ``nox -s soak``): the median of the last quarter is at
  most ``RSS_GROWTH_MIB`` above the median of the warm-up's last half.

The server runs with short timers (``SERVER_ENV``) so that every timer fires many times
within minutes, not hours.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import websockets

from rtcsignal import protocol as p
from rtcsignal.client import Client, Connected, RequestError, connect
from rtcsignal.ratelimit import RatePolicy

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "tests" / "sdp" / "corpus"

WORKERS = 12
"""Concurrent load tasks: at most ~2 connections each, far under the per-address cap."""
ROOMS = 40
"""Distinct room names visited: rooms are created, emptied and expire over and over."""
SAMPLE = 1.0
"""Seconds between samples."""
WARMUP = 0.2
"""The share of the run that is warm-up (at least ``MIN_WARMUP`` seconds)."""
MIN_WARMUP = 10.0
GROWTH = 1.5
"""A table may reach this multiple of its warm-up peak, plus ``SLACK``."""
SLACK = 16
RSS_GROWTH_MIB = 16.0
SWEEP_MIN_INSERTS = 1024
"""``rtcsignal.ratelimit``'s: each limiter sweeps its recovered keys after this many new
keys, so up to that many recovered keys wait for the next sweep, per limiter."""
LIMITERS = 5 + sum(1 for kind in RatePolicy.default().kinds.values() if kind.limit is not None)
"""The limiters of the default policy: connections, user, address, room, the default
kind and one per limited kind."""
LIMITER_SWEEP_SLACK = LIMITERS * SWEEP_MIN_INSERTS
"""What ``limiter_keys`` may hold beyond the growth bound: recovered keys not yet swept."""
DRAIN = 30.0
"""Seconds, at most, for the server to forget everything once the load stops."""
JOIN_INTERVAL = 0.3
"""Seconds between joins over the whole load: the default join limit is 5/s per address,
and every client here shares 127.0.0.1."""
MAX_REQUEST_TRIES = 5

SERVER_ENV = {
    "RTCSIGNAL_SHUTDOWN_GRACE": "1",
    "RTCSIGNAL_SERVER__RECONNECT_GRACE": "3",
    "RTCSIGNAL_SERVER__RING_TIMEOUT": "3",
    "RTCSIGNAL_SERVER__HANDSHAKE_TIMEOUT": "2",
    "RTCSIGNAL_SERVER__PING_INTERVAL": "5",
    "RTCSIGNAL_SERVER__PING_TIMEOUT": "10",
    "RTCSIGNAL_SERVER__DEFAULT_ROOM__IDLE_TIMEOUT": "3",
}
"""Short timers: each fires many times in a minute."""

ZERO_AFTER_DRAIN = (
    "connections",
    "sessions",
    "users",
    "rooms",
    "participants",
    "negotiations",
    "calls",
    "replay_frames",
    "edge_timers",
    "room_timers",
    "call_timers",
    "links",
    "tracked",
)
"""The tables that must be empty once nobody is connected and the timers ran out."""

OFFER = (CORPUS / "chromium_datachannel_offer.sdp").read_text()
OFFER_CANDIDATES = json.loads((CORPUS / "chromium_datachannel_offer.candidates.json").read_text())
ANSWER = (CORPUS / "firefox_answer_to_chromium_datachannel.sdp").read_text()


# ---------------------------------------------------------------------- the server


class Server:
    """``python -m rtcsignal serve --host 127.0.0.1 --port 0`` as a subprocess."""

    def __init__(self, log: Path) -> None:
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtcsignal", "serve", "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **SERVER_ENV},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints its URLs first
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", line)
        if not match:
            self.stop()
            raise RuntimeError(f"unexpected first line from the server: {line!r}")
        self.port = int(match.group(1))
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    def sample(self) -> dict[str, Any]:
        """The server's tables, RSS (KiB) and open descriptors now."""
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=10) as reply:
            health = json.loads(reply.read())
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]
        fds = len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        return {"rss_kib": rss, "fds": fds, **health["tables"]}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


# ---------------------------------------------------------------------- the load


class Load:
    """The scenarios, their pacing and their tallies."""

    def __init__(self, url: str, rng: random.Random) -> None:
        self.url = url
        self.rng = rng
        self.done: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.errors: dict[str, str] = {}
        """The first error of each kind of failed scenario."""
        self._join_lock = anyio.Lock()
        self._last_join = 0.0

    def _identity(self) -> str:
        """A fresh demo identity's token (without one, a reconnect is another guest and
        cannot resume)."""
        url = self.url.replace("ws://", "http://").replace("/ws", "/demo/identity")
        with urllib.request.urlopen(url, timeout=10) as reply:
            token: str = json.loads(reply.read())["token"]
        return token

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Client]:
        token = await anyio.to_thread.run_sync(self._identity)
        async with connect(self.url, token=token) as client:
            yield client

    async def _paced_join(self, client: Client, room: str) -> None:
        for _ in range(MAX_REQUEST_TRIES):
            async with self._join_lock:
                wait = self._last_join + JOIN_INTERVAL - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                self._last_join = time.monotonic()
            try:
                await client.join(room)
                return
            except RequestError as err:
                self.outcomes[f"join:{err.code}"] += 1
                if err.code != "rate_limited":
                    raise
                await anyio.sleep(err.retry_after or 1.0)
        raise RuntimeError(f"join {room}: rate limited {MAX_REQUEST_TRIES} times")

    async def _next(self, client: Client, kind: type[Any], timeout: float = 10.0) -> Any:
        """The next event of type ``kind`` (others skipped), within ``timeout``."""
        with anyio.fail_after(timeout):
            async for event in client.events():
                if isinstance(event, kind):
                    return event
        raise RuntimeError("the client stopped")

    async def visit(self) -> None:
        room = f"soak-{self.rng.randrange(ROOMS)}"
        ending = self.rng.choice(["leave", "resume", "vanish", "close"])
        async with self._client() as a, self._client() as b:
            await self._paced_join(a, room)
            await self._paced_join(b, room)
            bob = await self._participant(a, room, b)
            if bob is not None:
                await a.offer(room, bob, OFFER)
                offer = await self._next(b, p.Offer)
                for item in OFFER_CANDIDATES[:4]:
                    await a.candidate(
                        room,
                        bob,
                        item["candidate"],
                        sdp_mid=item["sdpMid"],
                        sdp_mline_index=item["sdpMLineIndex"],
                        username_fragment=item["usernameFragment"],
                    )
                await b.answer(room, offer.from_, ANSWER, negotiation=offer.negotiation)
                await self._next(a, p.Answer)
            await a.chat(room, "hello from the soak")
            if ending == "leave":
                await a.leave(room)
                await b.leave(room)
            elif ending == "resume":
                await b.drop()
                with anyio.fail_after(10):
                    async for event in b.events():
                        if isinstance(event, Connected) and event.resumed:
                            break
                await b.chat(room, "back")
            elif ending == "vanish":
                await self.vanish(room)
        self.outcomes[f"visit:{ending}"] += 1

    async def _participant(self, a: Client, room: str, b: Client) -> str | None:
        """``b``'s participant id in ``room``, as ``a`` learns it."""
        with anyio.fail_after(10):
            async for event in a.events():
                if (
                    isinstance(event, p.ParticipantJoined)
                    and event.room == room
                    and event.participant.user == b.user
                ):
                    return event.participant.id
        return None

    async def vanish(self, room: str) -> None:
        """A raw session that joins and disappears without a close frame."""
        async with websockets.connect(self.url) as ws:
            await ws.send(json.dumps({"type": "hello", "id": 1, "version": p.PROTOCOL_VERSION}))
            await ws.recv()
            async with self._join_lock:
                await anyio.sleep(JOIN_INTERVAL)
                await ws.send(json.dumps({"type": "join", "id": 2, "room": room}))
            with anyio.fail_after(10):
                while json.loads(await ws.recv()).get("id") != 2:
                    pass
            ws.transport.abort()  # no close frame: the server sees 1006

    async def call(self) -> None:
        ending = self.rng.choice(["hangup", "decline", "cancel", "ring_out"])
        async with self._client() as a, self._client() as b:
            assert b.user is not None
            info = await self._request(lambda: a.call_invite([b.user or ""], media="audio"))
            if info is None:
                return
            incoming = await self._next(b, p.IncomingCall)
            if ending == "hangup":
                await b.call_accept(incoming.call.id)
                await anyio.sleep(0.2)
                await a.call_hangup(info.id)
            elif ending == "decline":
                await b.call_decline(incoming.call.id)
            elif ending == "cancel":
                await a.call_cancel(info.id)
            else:
                updated = await self._next(a, p.CallUpdated, timeout=15)
                assert updated.call.state == "ended", updated
        self.outcomes[f"call:{ending}"] += 1

    async def _request(self, send: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await send()
        except RequestError as err:  # call_invite: 10 a minute per user, 3 at once
            self.outcomes[f"request:{err.code}"] += 1
            return None

    async def flood(self) -> None:
        room = f"soak-flood-{self.rng.randrange(4)}"
        refused = 0
        try:
            async with self._client() as a:
                await self._paced_join(a, room)
                for i in range(150):
                    a.send(p.Chat(room=room, text=f"flood {i}"))
                    a.send(p.Ping())
                with anyio.move_on_after(5):
                    async for event in a.events():
                        if isinstance(event, p.Error) and event.code == "rate_limited":
                            refused += 1
        except Exception as err:  # the server closes a flood that ignores retry_after
            # (the client may then fail to send what it still queued: see the report)
            self.outcomes[f"flood:ended:{type(_leaf(err)).__name__}"] += 1
        self.outcomes["flood:rate_limited"] += refused

    async def oversize(self) -> None:
        async with websockets.connect(self.url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "hello", "id": 1, "version": p.PROTOCOL_VERSION}))
            await ws.recv()
            await ws.send(json.dumps({"type": "ping", "id": 2, "pad": "x" * 70_000}))
            code = await self._closed(ws)
        self.outcomes[f"oversize:close:{code}"] += 1

    async def malformed(self) -> None:
        before = self.rng.random() < 0.5
        async with websockets.connect(self.url) as ws:
            if not before:
                await ws.send(json.dumps({"type": "hello", "id": 1, "version": 1}))
                await ws.recv()
            junk = self.rng.choice(
                ["{", "[]", '{"type": "nope", "id": 3}', '{"type": "join"}', "\x00\xff"]
            )
            await ws.send(junk)
            await ws.send(b"\x93\x01\x02")  # MessagePack on a JSON connection
            code = await self._closed(ws, wait=3)
        self.outcomes[f"malformed:{'before' if before else 'after'}:{code}"] += 1

    async def silent(self) -> None:
        async with websockets.connect(self.url) as ws:
            code = await self._closed(ws)
        self.outcomes[f"silent:close:{code}"] += 1

    async def _closed(self, ws: Any, wait: float = 10.0) -> int | None:
        """Read until the server closes ``ws`` (at most ``wait`` s); its close code."""
        with anyio.move_on_after(wait):
            try:
                for _ in range(1000):
                    await ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        await ws.close()
        return None

    SCENARIOS = (
        ("visit", 8),
        ("call", 4),
        ("flood", 1),
        ("oversize", 1),
        ("malformed", 2),
        ("silent", 1),
    )

    async def worker(self, until: float) -> None:
        names = [name for name, _ in self.SCENARIOS]
        weights = [weight for _, weight in self.SCENARIOS]
        while time.monotonic() < until:
            name = self.rng.choices(names, weights)[0]
            try:
                with anyio.fail_after(60):
                    await getattr(self, name)()
                self.done[name] += 1
            except Exception as err:  # a failed scenario is a tally, not the end of the soak
                leaf = _leaf(err)
                key = f"{name}:failed:{type(leaf).__name__}"
                self.outcomes[key] += 1
                self.errors.setdefault(key, repr(leaf)[:300])
            await anyio.sleep(self.rng.uniform(0.05, 0.3))


def _leaf(err: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    for _ in range(10):
        if not isinstance(err, BaseExceptionGroup):
            break
        err = err.exceptions[0]
    return err


# ---------------------------------------------------------------------- the run


async def _sampler(
    server: Server, samples: list[dict[str, Any]], start: float, until: float
) -> None:
    while time.monotonic() < until:
        sample = await anyio.to_thread.run_sync(server.sample)
        samples.append({"t": round(time.monotonic() - start, 2), **sample})
        await anyio.sleep(SAMPLE)


def run(seconds: float, log: Path, seed: int = 0) -> dict[str, Any]:
    """Soak the server for ``seconds``; the samples, the drained state and the tallies."""
    server = Server(log)
    try:
        samples: list[dict[str, Any]] = []
        idle = server.sample()
        load = Load(server.url, random.Random(seed))

        async def main() -> None:
            start = time.monotonic()
            until = start + seconds
            async with anyio.create_task_group() as tg:
                tg.start_soon(_sampler, server, samples, start, until)
                for _ in range(WORKERS):
                    tg.start_soon(load.worker, until)

        anyio.run(main)
        drained: dict[str, Any] = {}
        deadline = time.monotonic() + DRAIN
        while time.monotonic() < deadline:
            drained = server.sample()
            if all(drained[k] == 0 for k in ZERO_AFTER_DRAIN) and drained["fds"] <= idle["fds"]:
                break
            time.sleep(0.5)
        return {
            "seconds": seconds,
            "seed": seed,
            "warmup": warmup_seconds(seconds),
            "idle": idle,
            "samples": samples,
            "drained": drained,
            "done": dict(load.done),
            "outcomes": dict(sorted(load.outcomes.items())),
            "errors": load.errors,
        }
    finally:
        server.stop()


def warmup_seconds(seconds: float) -> float:
    """The warm-up of a run of ``seconds``."""
    return max(MIN_WARMUP, WARMUP * seconds)


PER_SESSION_KEYS = ("replay_frames",)
"""Tables that hold a bounded amount per live session (frames kept for replay): they
follow the number of sessions the random load keeps alive, so they are bounded per
session (a leak also shows once the load stops: they must drain to 0)."""
TABLE_KEYS = (
    "fds",
    "connections",
    "sessions",
    "users",
    "rooms",
    "participants",
    "negotiations",
    "calls",
    "replay_frames",
    "limiter_keys",
    "edge_timers",
    "room_timers",
    "call_timers",
    "links",
    "tracked",
)


def check(report: dict[str, Any], *, rss: bool = False) -> list[str]:
    """The bounds a soak report breaks (see the module docstring); empty if none."""
    warm = [s for s in report["samples"] if s["t"] <= report["warmup"]]
    after = [s for s in report["samples"] if s["t"] > report["warmup"]]
    problems = []
    if not warm or not after:
        return [f"too few samples: {len(warm)} in warm-up, {len(after)} after"]
    for key in TABLE_KEYS:
        bound = math.ceil(GROWTH * max(s[key] for s in warm)) + SLACK
        if key == "limiter_keys":
            bound += LIMITER_SWEEP_SLACK
        peak = max(s[key] for s in after)
        if key in PER_SESSION_KEYS:  # kept per live session: bounded per session
            per = max(s[key] / max(s["sessions"], 1) for s in warm)
            over = [s for s in after if s[key] > max(bound, GROWTH * per * s["sessions"] + SLACK)]
            if over:
                worst = max(over, key=lambda s: s[key])
                problems.append(
                    f"{key} grew to {worst[key]} for {worst['sessions']} sessions after"
                    f" warm-up (bound {bound}, or {GROWTH * per:.1f} per session)"
                )
        elif peak > bound:
            problems.append(f"{key} grew to {peak} after warm-up (bound {bound})")
    drained = report["drained"]
    for key in ZERO_AFTER_DRAIN:
        if drained.get(key) != 0:
            problems.append(f"{key} is {drained.get(key)} once the load stopped (not 0)")
    if drained.get("fds", 0) > report["idle"]["fds"]:
        problems.append(f"{drained['fds']} descriptors open, {report['idle']['fds']} at idle")
    if rss:
        half = warm[len(warm) // 2 :]
        base = statistics.median(s["rss_kib"] for s in half)
        end = statistics.median(s["rss_kib"] for s in after[-max(1, len(after) // 4) :])
        if end - base > RSS_GROWTH_MIB * 1024:
            problems.append(f"RSS grew {(end - base) / 1024:.1f} MiB after warm-up")
    return problems


def summary(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The last warm-up sample, the peak after it and the last sample, per column."""
    warm = [s for s in report["samples"] if s["t"] <= report["warmup"]]
    after = [s for s in report["samples"] if s["t"] > report["warmup"]]
    keys = ("rss_kib", *TABLE_KEYS)
    return {
        "warmup_end": {k: warm[-1][k] for k in keys},
        "peak_after": {k: max(s[k] for s in after) for k in keys},
        "end": {k: after[-1][k] for k in keys},
        "drained": {k: report["drained"].get(k, 0) for k in keys},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the report (JSON) here")
    parser.add_argument(
        "--log",
        type=Path,
        default=Path(tempfile.gettempdir()) / "rtcsignal-soak-server.log",
        help="the server's log (default: in the temporary directory)",
    )
    parser.add_argument("--no-rss", action="store_true", help="do not bound RSS growth")
    args = parser.parse_args()
    report = run(args.minutes * 60, args.log, args.seed)
    if args.out:
        args.out.write_text(json.dumps(report) + "\n")
    print(json.dumps({"summary": summary(report), "done": report["done"]}, indent=1))
    print(json.dumps(report["outcomes"], indent=1))
    print(json.dumps(report["errors"], indent=1))
    problems = check(report, rss=not args.no_rss)
    for problem in problems:
        print("FAIL:", problem)
    print("soak:", "FAILED" if problems else "passed", f"({args.minutes} min)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
