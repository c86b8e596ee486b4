"""``python -m rtcsignal serve`` and ``/metrics``: a real process, real HTTP GETs.

With ``prometheus-client`` (the ``prometheus`` extra, part of the test extra) the server
answers ``/metrics`` in the Prometheus text format and says so at startup. Without it,
``/metrics`` is 404 and the startup line says how to enable it: the child process is
started with ``sys.modules["prometheus_client"] = None``, the import system's own way of
making an import fail with ``ModuleNotFoundError`` (as when the package is absent).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from websockets.sync.client import connect

WAIT = 10.0

WITHOUT_PROMETHEUS = (
    "import sys; sys.modules['prometheus_client'] = None; "
    "from rtcsignal.cli import main; raise SystemExit(main(sys.argv[1:]))"
)
"""``python -c`` program: the serve command in a process where prometheus-client cannot be
imported."""


@contextmanager
def serving(*python_args: str) -> Iterator[tuple[int, str]]:
    """Run ``python <python_args> serve --port 0``; yield its port and second stdout line."""
    env = {**os.environ, "RTCSIGNAL_SHUTDOWN_GRACE": "1"}
    proc = subprocess.Popen(
        [sys.executable, *python_args, "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", first)
        assert match, first
        second = proc.stdout.readline()
        yield int(match.group(1)), second
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def get(port: int, path: str) -> tuple[int, str, str]:
    """Status, content type and body of ``GET path``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=WAIT) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def sample(text: str, name: str) -> float | None:
    """The value of the unlabelled sample ``name`` in a Prometheus text exposition."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_serve_exposes_prometheus_metrics_and_says_so() -> None:
    with serving("-m", "rtcsignal") as (port, line):
        assert line.strip() == f"rtcsignal: Prometheus metrics at http://127.0.0.1:{port}/metrics"
        status, content_type, before = get(port, "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=")
        assert "# TYPE rtcsignal_sessions_started_total counter" in before
        assert "# HELP rtcsignal_call_duration_seconds Duration of answered calls" in before
        assert sample(before, "rtcsignal_sessions_started_total") == 0.0
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=WAIT) as ws:
            ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
            _, _, after = get(port, "/metrics")
        # The runtime feeds the exporter: the session started above is counted.
        assert sample(after, "rtcsignal_sessions_started_total") == 1.0
        assert sample(after, "rtcsignal_connections_opened_total") == 1.0


def test_serve_without_prometheus_client_has_no_metrics_and_says_how_to_enable() -> None:
    with serving("-c", WITHOUT_PROMETHEUS) as (port, line):
        assert line.strip() == (
            "rtcsignal: /metrics is off: install the prometheus extra "
            "(pip install 'rtcsignal[prometheus]') to serve Prometheus metrics"
        )
        status, _, _ = get(port, "/metrics")
        assert status == 404
        status, _, body = get(port, "/healthz")
        assert status == 200
        assert json.loads(body)["accepting"] is True
