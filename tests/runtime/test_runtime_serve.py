"""``python -m rtcsignal serve``: a real process, a health GET, a WebSocket, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

WAIT = 10.0


def test_serve_command_runs_the_demo_server_and_stops_gracefully() -> None:
    env = {**os.environ, "RTCSIGNAL_SHUTDOWN_GRACE": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcsignal", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", line)
        assert match, line
        port = int(match.group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=WAIT) as reply:
            health = json.loads(reply.read())
        assert health["accepting"] is True
        assert health["connections"] == 0
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=WAIT) as ws:
            ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
            welcome = json.loads(ws.recv(timeout=WAIT))
            assert welcome["type"] == "welcome"
            assert welcome["user"].startswith("guest-")  # an anonymous demo identity
            proc.send_signal(signal.SIGTERM)
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "going_away"
            code = None
            try:
                ws.recv(timeout=WAIT)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
            assert code == 1001
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_command_reports_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rtcsignal", "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "RTCSIGNAL_PORT": "eighty"},
        timeout=WAIT * 3,
        check=False,
    )
    assert result.returncode == 2
    assert "port" in result.stderr


def test_demo_rooms_hold_a_mesh_call_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from rtcsignal._serve import DEMO_ROOM_CAPACITY, _settings

    def capacity(config: str | None = None) -> int:
        args = argparse.Namespace(config=config, host=None, port=None)
        return _settings(args).server.default_room.capacity

    monkeypatch.delenv("RTCSIGNAL_SERVER__DEFAULT_ROOM__CAPACITY", raising=False)
    assert capacity() == DEMO_ROOM_CAPACITY == 8
    monkeypatch.setenv("RTCSIGNAL_SERVER__DEFAULT_ROOM__CAPACITY", "20")
    assert capacity() == 20
    plain = tmp_path / "plain.toml"
    plain.write_text('host = "127.0.0.1"\n')
    assert capacity(str(plain)) == 8
    sized = tmp_path / "sized.toml"
    sized.write_text("[server.default_room]\ncapacity = 4\n")
    assert capacity(str(sized)) == 4
