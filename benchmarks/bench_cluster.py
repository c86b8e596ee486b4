"""Scale-out over real sockets and a real ``redis-server``: rtcsignal's Redis backplane
against python-socketio's ``AsyncRedisManager``, in the same run.

For each server, three setups, each with fresh processes:

* **off**: one instance, no Redis (the in-memory default);
* **on, same instance**: one instance on the Redis backplane, both peers of every pair
  on it (what the backplane costs a relay that need not cross);
* **cross**: two instances on the Redis, each pair's peers on different instances (every
  relay crosses once).

Measured per setup: relayed candidates per second at saturation (100 pairs), server CPU
per 100k relayed messages (summed over the instances), and p50/p99 latency at a fixed
open-loop rate. The servers share CPU 0; the load generator and ``redis-server`` share
CPU 1. ``python -m benchmarks cluster``.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_relay import GENERATOR_CPU, _fmt, _pin, _Server
from benchmarks.relay.servers import NODE_ENV, REDIS_ENV

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 180.0
PAIRS = 100
LATENCY_RATE = 1000.0


class _Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: bash scripts/install-system-deps.sh")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            preexec_fn=_pin(GENERATOR_CPU),
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "flushall"], capture_output=True, check=False
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _run(kind: str, setup: str, redis: _Redis, scenario: str, *args: object) -> dict[str, Any]:
    redis.flush()
    instances: list[_Server] = []
    try:
        if setup == "off":
            instances.append(_Server(kind))
        else:
            nodes = ("a",) if setup == "same" else ("a", "b")
            for node in nodes:
                env = {REDIS_ENV: redis.url, NODE_ENV: node}
                instances.append(_Server(f"{kind}-redis", env))
            time.sleep(1.0)  # the instances see each other (one lease renewal)
        ports = ",".join(str(i.port) for i in instances)
        pids = ",".join(str(i.proc.pid) for i in instances)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.relay.loadgen",
                kind,
                ports,
                pids,
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
        for instance in instances:
            instance.stop()
    if out.returncode != 0:
        raise RuntimeError(f"loadgen {kind} {setup} {scenario} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


SETUPS = ("off", "same", "cross")
LABELS = {
    "off": "one instance, no Redis",
    "same": "Redis on, same instance",
    "cross": "Redis on, across instances",
}


def main(quick: bool) -> str:
    seconds = 2.0 if quick else 5.0
    redis = _Redis()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        for setup in SETUPS:  # interleaved: each setup runs both servers back to back
            for kind in ("rtcsignal", "socketio"):
                sat = _run(kind, setup, redis, "pairs", PAIRS, seconds)
                lat = _run(kind, setup, redis, "latency", 10, LATENCY_RATE, max(seconds, 2))
                results[(kind, setup)] = {**sat, **lat}
    finally:
        redis.stop()
    rows = [
        "## Scale-out: the Redis backplane (`python -m benchmarks cluster`)",
        "",
        f"{PAIRS} pairs relaying candidates; servers on CPU 0, load generator and "
        f"redis-server on CPU 1; latency at {LATENCY_RATE:.0f} msg/s open loop.",
        "",
        "| server | setup | msg/s (median) | server CPU s / 100k | p50 ms | p99 ms "
        "| generator CPU |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, name in (("rtcsignal", "rtcsignal"), ("socketio", "python-socketio")):
        for setup in SETUPS:
            r = results[(kind, setup)]
            rows.append(
                f"| {name} | {LABELS[setup]} | {_fmt(r['rate_median'])} | "
                f"{_fmt(r['server_cpu_per_100k'], 2)} | {_fmt(r['p50_ms'], 2)} | "
                f"{_fmt(r['p99_ms'], 2)} | {r['generator_util']:.0%} |"
            )
    ours = {s: results[("rtcsignal", s)] for s in SETUPS}
    sio = {s: results[("socketio", s)] for s in SETUPS}
    rows += [
        "",
        f"Same instance with the backplane on / off: rtcsignal **"
        f"{ours['same']['rate_median'] / ours['off']['rate_median']:.0%}** (target >= 95%), "
        f"python-socketio {sio['same']['rate_median'] / sio['off']['rate_median']:.0%}. "
        f"One hop adds p50 **{ours['cross']['p50_ms'] - ours['same']['p50_ms']:+.2f} ms** "
        f"(target <= 0.7), p99 **{ours['cross']['p99_ms'] - ours['same']['p99_ms']:+.2f} ms** "
        f"(target <= 3). Cross-instance saturated rtcsignal / python-socketio: **"
        f"{ours['cross']['rate_median'] / sio['cross']['rate_median']:.2f}x** (target >= 3x).",
        "",
    ]
    return "\n".join(rows)
