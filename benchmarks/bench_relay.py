"""Relay over real sockets: rtcsignal (runtime + ``websockets`` adapter, and ``--fast``:
picows on uvloop) against python-socketio on uvicorn, a bare ``websockets`` relay, Node
socket.io and a bare Node ``ws`` relay (pinned in ``benchmarks/node``, installed with
``npm ci``), measured in the same run with the same load generator.

Each server is a separate process pinned to CPU 0; the load generator
(``benchmarks/relay/loadgen.py``) is another process pinned to CPU 1, and reports its own
CPU use so a saturated generator shows. Each scenario gets a fresh server process.

Measured: relayed candidates per second at saturation (2-peer rooms; one room of 50),
p50/p99 latency at a fixed moderate rate, server CPU per 100k relayed messages, memory
per idle connection (1,000 and 5,000), and the time for 200 peers to join one room at
once. A row whose generator used 90% or more of its core is marked generator-bound.
``RTCSIGNAL_BENCH_SERVERS=rtcsignal,node-ws`` measures only those servers. The
per-message profile of the rtcsignal server is in ``docs/benchmarks.md``.
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
from benchmarks.relay.servers import PROFILE_ENV, ensure_node, node_version

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("rtcsignal", "rtcsignal-fast", "socketio", "bare", "node-socketio", "node-ws")
KINDS_ENV = "RTCSIGNAL_BENCH_SERVERS"  # a comma list: measure only these (smoke runs)
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
    """One benchmark server process on CPU 0 (``env``: extra environment)."""

    def __init__(self, kind: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.relay.servers", kind, "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
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


GENERATOR_BOUND = 0.9
"""Generator CPU (share of its one core) from which a figure is the generator's limit,
not the server's: the row is marked and the output says so."""

LABELS = {
    "rtcsignal": "rtcsignal (websockets adapter)",
    "rtcsignal-fast": "rtcsignal --fast (picows, uvloop)",
    "socketio": "python-socketio 5 on uvicorn",
    "bare": "bare websockets relay",
    "node-socketio": "Node socket.io",
    "node-ws": "bare Node ws relay",
}


def _kinds() -> tuple[str, ...]:
    chosen = os.environ.get(KINDS_ENV)
    if not chosen:
        return KINDS
    kinds = tuple(k.strip() for k in chosen.split(",") if k.strip())
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"{KINDS_ENV}: unknown server kinds {sorted(unknown)}; known: {KINDS}")
    return kinds


def machine_notes(kinds: tuple[str, ...]) -> list[str]:
    """The run's machine notes: CPUs, load before the run, interpreter and anchors."""
    import platform

    notes = [
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({platform.machine()}, {platform.system()} {platform.release()})",
        "load average before the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]
    if any(k.startswith("node-") for k in kinds):
        notes.append(node_version())
    return notes


def main(quick: bool) -> str:
    kinds = _kinds()
    if any(k.startswith("node-") for k in kinds):
        ensure_node()  # npm ci from the lock file, before anything is timed
    notes = machine_notes(kinds)
    seconds = 1 if quick else 4
    rounds = 1 if quick else 5
    pairs = 20 if quick else 100
    idle = "1000" if quick else "1000,5000"
    rate = 2000
    results: dict[str, dict[str, Any]] = {k: {"pairs": [], "rooms": []} for k in kinds}
    for _ in range(rounds):  # interleaved, so machine noise spreads over every server
        for kind in kinds:
            results[kind]["pairs"].append(_run(kind, "pairs", pairs, seconds))
            results[kind]["rooms"].append(_run(kind, "room", 50, seconds))
    for kind in kinds:
        runs = results[kind]["rooms"]
        results[kind]["room"] = {"rate_median": statistics.median(x["rate_median"] for x in runs)}
        results[kind]["latency"] = _run(kind, "latency", 10, rate, max(seconds, 2))
        results[kind]["idle"] = _run(kind, "idle", idle)
        results[kind]["storm"] = _run(kind, "storm", 200)
    shares = _profiled(pairs, seconds) if not quick and "rtcsignal" in kinds else {}
    rows = []
    rate_of: dict[str, float] = {}
    cpu_of: dict[str, float | None] = {}
    bound: list[str] = []
    for kind in kinds:
        r = results[kind]
        runs = r["pairs"]
        rate_of[kind] = statistics.median(x["rate_median"] for x in runs)
        cpus = [x["server_cpu_per_100k"] for x in runs if x["server_cpu_per_100k"] is not None]
        cpu_of[kind] = statistics.median(cpus) if cpus else None
        gen = max(x["generator_util"] for x in [*runs, *r["rooms"]])
        util = statistics.median(x["server_util"] for x in runs)
        mark = ""
        if gen >= GENERATOR_BOUND:
            mark = " (generator-bound)"
            bound.append(kind)
        mem = r["idle"]
        rows.append(
            f"| {LABELS[kind]} | {_fmt(rate_of[kind])}{mark} | {_fmt(r['room']['rate_median'])} "
            f"| {_fmt(r['latency']['p50_ms'], 2)} / {_fmt(r['latency']['p99_ms'], 2)} "
            f"| {_fmt(cpu_of[kind], 2)} "
            f"| {_fmt(mem['1000'] / 1024, 1)} "
            f"| {_fmt(mem['5000'] / 1024, 1) if '5000' in mem else 'n/a'} "
            f"| {_fmt(r['storm']['seconds'], 3)} "
            f"| {_fmt(gen * 100)}% / {_fmt(util * 100)}% |"
        )
    spread = {k: [round(x["rate_median"]) for x in results[k]["pairs"]] for k in kinds}
    room_spread = {k: [round(x["rate_median"]) for x in results[k]["rooms"]] for k in kinds}
    lines = [
        "## Relay over loopback (`bench_relay`)",
        "",
        "Machine notes: " + "; ".join(notes) + ".",
        "",
        f"Server pinned to CPU {SERVER_CPU} (taskset-style affinity, its threads included), "
        f"load generator (a separate process, on uvloop where installed) to CPU "
        f"{GENERATOR_CPU}; a fresh server process per scenario. {pairs} two-peer rooms at "
        f"saturation ({WINDOW} candidates in flight per sender), one room of 50 (a ring of "
        f"directed candidates), latency at {rate} candidates/s open loop over 10 pairs. "
        f"Throughput (both scenarios) is the median of {rounds} interleaved round(s), each "
        "the median of 1 s windows. rtcsignal runs with validation and rate limits on.",
        "",
        "| server | candidates/s (2-peer rooms) | candidates/s (room of 50) "
        "| p50 / p99 latency ms | server CPU s per 100k | KiB per idle conn (1k) "
        "| KiB per idle conn (5k) | 200-peer join storm s | generator (max) / server CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ]
    if bound:
        lines += [
            f"**The load generator, not the server, was the bottleneck for: "
            f"{', '.join(LABELS[k] for k in bound)}** (its CPU reached "
            f"{GENERATOR_BOUND:.0%} or more of its core): those servers can relay more than "
            "shown; compare their CPU seconds per 100k messages instead.",
            "",
        ]
    lines += _compare(kinds, results, rate_of, cpu_of)
    lines += [
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


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}x"


def _compare(
    kinds: tuple[str, ...],
    results: dict[str, dict[str, Any]],
    rate_of: dict[str, float],
    cpu_of: dict[str, float | None],
) -> list[str]:
    """The "how we compare" table: every server against Node socket.io (or the first
    anchor measured), from this run's medians."""
    base = next((k for k in ("node-socketio", "socketio", "bare") if k in kinds), kinds[0])
    ref = results[base]
    rows = []
    for kind in kinds:
        r = results[kind]
        rows.append(
            f"| {LABELS[kind]} | {_ratio(rate_of[kind], rate_of[base])} "
            f"| {_ratio(r['room']['rate_median'], ref['room']['rate_median'])} "
            f"| {_ratio(cpu_of[kind], cpu_of[base])} "
            f"| {_ratio(r['latency']['p99_ms'], ref['latency']['p99_ms'])} "
            f"| {_ratio(r['idle']['1000'], ref['idle']['1000'])} "
            f"| {_ratio(r['storm']['seconds'], ref['storm']['seconds'])} |"
        )
    return [
        f"### How we compare (against {LABELS[base]}, same run)",
        "",
        "Ratios of this run's medians (interleaved rounds); higher is better for "
        "throughput, lower for CPU, latency, memory and join time.",
        "",
        "| server | msg/s (2-peer) | msg/s (room of 50) | CPU per msg | p99 latency "
        "| KiB per idle conn | join storm |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ]


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
