"""Relay over real sockets: rtcsignal (runtime + ``websockets`` adapter) against
python-socketio on uvicorn and a bare ``websockets`` relay, measured in the same run.

Each server is a separate process pinned to CPU 0; the load generator
(``benchmarks/relay/loadgen.py``) is another process pinned to CPU 1, and reports its own
CPU use so a saturated generator shows. Each scenario gets a fresh server process.

Measured: relayed candidates per second at saturation (2-peer rooms; one room of 50),
p50/p99 latency at a fixed moderate rate, server CPU per 100k relayed messages, memory
per idle connection (1,000 and 5,000), and the time for 200 peers to join one room at
once. The per-message profile of the rtcsignal server is in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.relay.loadgen import WINDOW
from benchmarks.relay.servers import PROFILE_ENV

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("rtcsignal", "socketio", "bare")
SERVER_CPU = 0
GENERATOR_CPU = 1
START_TIMEOUT = 30.0
RUN_TIMEOUT = 180.0
STOP_TIMEOUT = 2.0  # then SIGKILL: a server's clean exit is not what is measured


def _pin(cpu: int) -> Any:
    def pin() -> None:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
            os.sched_setaffinity(0, {cpu})

    return pin


class _Server:
    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.relay.servers", kind, "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_pin(SERVER_CPU),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _run(kind: str, scenario: str, *args: object) -> dict[str, Any]:
    server = _Server(kind)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.relay.loadgen",
                kind,
                str(server.port),
                str(server.proc.pid),
                scenario,
                *map(str, args),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            preexec_fn=_pin(GENERATOR_CPU),
            check=False,
        )
    finally:
        server.stop()
    if out.returncode != 0:
        raise RuntimeError(f"loadgen {kind} {scenario} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


# Where the rtcsignal server's CPU goes, by the file each function lives in (builtins are
# charged to their callers). Checked in order: the first matching group wins.
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("candidate/SDP validation", ("rtcsignal/sdp/", "ipaddress.py", "python3.11/re/")),
    ("rate limits", ("rtcsignal/ratelimit/",)),
    ("JSON decode/encode", ("rtcsignal/protocol/", "msgspec")),
    ("core state machines", ("rtcsignal/core/",)),
    ("runtime (queues, writers, timer)", ("rtcsignal/runtime/", "rtcsignal/adapters/", "anyio/")),
    ("WebSocket framing (websockets)", ("websockets/",)),
    ("event loop and sockets", ("asyncio/", "_socket", "select")),
)


def _group(filename: str, name: str) -> str | None:
    key = f"{filename}:{name}"
    for group, patterns in _GROUPS:
        if any(p in key for p in patterns):
            return group
    return None


def profile_shares(path: str) -> dict[str, float]:
    """Shares of the profiled server's own time per group (see ``_GROUPS``)."""
    import pstats

    totals: dict[str, float] = {}
    for (filename, _, name), (_, _, own, _, callers) in pstats.Stats(path).stats.items():  # type: ignore[attr-defined]
        group = _group(filename, name)
        if group is None and filename == "~" and callers:
            spent = sum(v[2] for v in callers.values()) or 1.0
            for (cfile, _, cname), v in callers.items():
                key = _group(cfile, cname) or "other"
                totals[key] = totals.get(key, 0.0) + own * v[2] / spent
            continue
        key = group or "other"
        totals[key] = totals.get(key, 0.0) + own
    everything = sum(totals.values()) or 1.0
    return {k: v / everything for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def _profiled(pairs: int, seconds: float) -> dict[str, float]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "server.prof")
        os.environ[PROFILE_ENV] = path
        try:
            _run("rtcsignal", "pairs", pairs, seconds)
        finally:
            del os.environ[PROFILE_ENV]
        return profile_shares(path)


def main(quick: bool) -> str:
    seconds = 1 if quick else 4
    rounds = 1 if quick else 5
    pairs = 20 if quick else 50
    idle = "1000" if quick else "1000,5000"
    rate = 1000
    results: dict[str, dict[str, Any]] = {k: {"pairs": [], "rooms": []} for k in KINDS}
    for _ in range(rounds):  # interleaved, so machine noise spreads over every server
        for kind in KINDS:
            results[kind]["pairs"].append(_run(kind, "pairs", pairs, seconds))
            results[kind]["rooms"].append(_run(kind, "room", 50, seconds))
    for kind in KINDS:
        runs = results[kind]["rooms"]
        results[kind]["room"] = {"rate_median": statistics.median(x["rate_median"] for x in runs)}
        results[kind]["latency"] = _run(kind, "latency", 10, rate, max(seconds, 2))
        results[kind]["idle"] = _run(kind, "idle", idle)
        results[kind]["storm"] = _run(kind, "storm", 200)
    shares = _profiled(pairs, seconds) if not quick else {}
    rows = []
    rate_of: dict[str, float] = {}
    for kind in KINDS:
        r = results[kind]
        runs = r["pairs"]
        rate_of[kind] = statistics.median(x["rate_median"] for x in runs)
        cpu = statistics.median(x["server_cpu_per_100k"] for x in runs)
        gen = max(x["generator_util"] for x in runs)
        util = statistics.median(x["server_util"] for x in runs)
        mem = r["idle"]
        rows.append(
            f"| {kind} | {_fmt(rate_of[kind])} | {_fmt(r['room']['rate_median'])} "
            f"| {_fmt(r['latency']['p50_ms'], 2)} / {_fmt(r['latency']['p99_ms'], 2)} "
            f"| {_fmt(cpu, 2)} "
            f"| {_fmt(mem['1000'] / 1024, 1)} "
            f"| {_fmt(mem['5000'] / 1024, 1) if '5000' in mem else 'n/a'} "
            f"| {_fmt(r['storm']['seconds'], 3)} "
            f"| {_fmt(gen * 100)}% / {_fmt(util * 100)}% |"
        )
    ours, sio, bare = (rate_of[k] for k in KINDS)
    mem_ours = results["rtcsignal"]["idle"]["1000"]
    mem_sio = results["socketio"]["idle"]["1000"]
    spread = {k: [round(x["rate_median"]) for x in results[k]["pairs"]] for k in KINDS}
    room_spread = {k: [round(x["rate_median"]) for x in results[k]["rooms"]] for k in KINDS}
    room_of = {k: results[k]["room"]["rate_median"] for k in KINDS}
    lines = [
        "## Relay over loopback (`bench_relay`)",
        "",
        f"Server pinned to CPU {SERVER_CPU}, load generator (a separate process) to CPU "
        f"{GENERATOR_CPU}; a fresh server process per scenario. {pairs} two-peer rooms at "
        f"saturation ({WINDOW} candidates in flight per sender), one room of 50 (a ring of "
        f"directed candidates), latency at {rate} candidates/s over 10 pairs. Throughput (both "
        f"scenarios) is the median of {rounds} interleaved round(s), each the median of 1 s "
        "windows.",
        "",
        "| server | candidates/s (2-peer rooms) | candidates/s (room of 50) "
        "| p50 / p99 latency ms | server CPU s per 100k | KiB per idle conn (1k) "
        "| KiB per idle conn (5k) | 200-peer join storm s | generator (max) / server CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Ratios: rtcsignal / python-socketio throughput = **{ours / sio:.2f}x** (target >= 2x); "
        f"rtcsignal / bare relay = **{ours / bare:.0%}** (target >= 75%); memory per idle "
        f"connection rtcsignal / python-socketio = **{mem_ours / mem_sio:.0%}** "
        f"(target <= 50%).",
        "",
        f"Room of 50: rtcsignal / python-socketio = "
        f"**{room_of['rtcsignal'] / room_of['socketio']:.2f}x**; "
        f"rtcsignal / bare relay = **{room_of['rtcsignal'] / room_of['bare']:.0%}**.",
        "",
        f"Per-round throughput (2-peer rooms): {spread}.",
        "",
        f"Per-round throughput (room of 50): {room_spread}.",
        "",
    ]
    if shares:
        lines += [
            "Where the rtcsignal server's time goes at saturation (cProfile, own time per "
            "group; the profiler inflates Python-level work relative to C):",
            "",
            "| part | share |",
            "| --- | ---: |",
            *(f"| {group} | {share:.1%} |" for group, share in shares.items()),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
