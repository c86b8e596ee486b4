"""``python -m rtcsignal serve``: a real process, a health GET, a WebSocket, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from harness_cluster import ServeProcess
from rtcsignal.auth import TokenVerifier, mint_token

WAIT = 10.0


@pytest.mark.parametrize(
    ("flags", "fast_env", "adapter"),
    [
        ([], None, "websockets"),
        (["--fast"], None, "picows on uvloop.Loop"),
        ([], "true", "picows on uvloop.Loop"),  # the settings key, from the environment
    ],
)
def test_serve_command_runs_the_demo_server_and_stops_gracefully(
    flags: list[str], fast_env: str | None, adapter: str
) -> None:
    env = {**os.environ, "RTCSIGNAL_SHUTDOWN_GRACE": "2"}
    if fast_env is not None:
        env["RTCSIGNAL_FAST"] = fast_env
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcsignal", "serve", "--port", "0", *flags],
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
        proc.stdout.readline()  # the metrics line
        assert proc.stdout.readline().strip() == f"rtcsignal: adapter {adapter}"
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


SECRET = "serve-secret-0123456789abcdef-0123456789"


class _Serving(ServeProcess):
    """``python -m rtcsignal serve`` on loopback port 0, stopped by its pid."""

    def welcome_or_close(self, query: str = "") -> dict[str, object] | int:
        """Say hello over a WebSocket; return the welcome, or the close code."""
        with connect(f"ws://127.0.0.1:{self.port}/ws{query}", open_timeout=WAIT) as ws:
            try:
                ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
                return dict(json.loads(ws.recv(timeout=WAIT)))
            except ConnectionClosed as exc:
                if exc.rcvd is None:
                    raise AssertionError(f"no close frame received: {exc!r}") from None
                return exc.rcvd.code


@pytest.mark.parametrize("source", ["env", "config"])
def test_serve_verifies_tokens_with_its_auth_secret(source: str, tmp_path: Path) -> None:
    """Issue 17: with ``auth_secret`` (environment or ``--config``), a token minted with it
    is accepted as its user, a token-less or foreign connection is refused 4003, and
    ``/demo/identity`` mints with the secret (so instances sharing it accept its tokens)."""
    if source == "env":
        serving = _Serving(env={"RTCSIGNAL_AUTH_SECRET": SECRET})
    else:
        config = tmp_path / "serve.toml"
        config.write_text(f'auth_secret = "{SECRET}"\n')
        serving = _Serving("--config", str(config))
    try:
        token = mint_token(SECRET, user="carol", ttl=60, now=time.time())
        welcome = serving.welcome_or_close(f"?token={token}")
        assert isinstance(welcome, dict) and welcome["user"] == "carol", welcome
        assert serving.welcome_or_close() == 4003  # no token: no guest with a secret
        foreign = mint_token("x" * 40, user="mallory", ttl=60, now=time.time())
        assert serving.welcome_or_close(f"?token={foreign}") == 4003
        url = f"http://127.0.0.1:{serving.port}/demo/identity"
        with urllib.request.urlopen(url, timeout=WAIT) as reply:
            minted = json.loads(reply.read())
        assert TokenVerifier(SECRET)(minted["token"], time.time()).user == minted["user"]
        welcome = serving.welcome_or_close(f"?token={minted['token']}")
        assert isinstance(welcome, dict) and welcome["user"] == minted["user"]
    finally:
        serving.stop()


def test_serve_without_a_secret_keeps_the_demo_identities() -> None:
    serving = _Serving()
    try:
        welcome = serving.welcome_or_close()
        assert isinstance(welcome, dict) and str(welcome["user"]).startswith("guest-")
        token = mint_token(SECRET, user="carol", ttl=60, now=time.time())
        assert serving.welcome_or_close(f"?token={token}") == 4003  # the key is random
    finally:
        serving.stop()


def test_serve_refuses_a_short_auth_secret_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rtcsignal", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "RTCSIGNAL_AUTH_SECRET": "short"},
        timeout=WAIT * 3,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("rtcsignal serve: settings: auth_secret: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_on_a_port_in_use_says_so_in_one_line() -> None:
    """Issue 17: no traceback, one line naming the address, exit status 1."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rtcsignal",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=WAIT * 3,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"rtcsignal serve: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "Traceback" not in result.stderr


def test_serve_rooms_allow_duplicate_joins_by_default() -> None:
    """The documented default of serve's rooms: one user on two devices holds two seats."""
    serving = _Serving(env={"RTCSIGNAL_AUTH_SECRET": SECRET})
    try:
        token = mint_token(SECRET, user="dora", ttl=60, now=time.time())
        url = f"ws://127.0.0.1:{serving.port}/ws?token={token}"
        with connect(url, open_timeout=WAIT) as phone, connect(url, open_timeout=WAIT) as laptop:
            results = []
            for ws in (phone, laptop):
                ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
                assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
                ws.send(json.dumps({"type": "join", "room": "standup", "id": 2}))
                while (reply := json.loads(ws.recv(timeout=WAIT)))["type"] not in ("ok", "error"):
                    pass
                results.append(reply)
        assert [r["type"] for r in results] == ["ok", "ok"], results
        assert len(results[1]["result"]["participants"]) == 2
    finally:
        serving.stop()
