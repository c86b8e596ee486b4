"""Real parts for cluster tests: a ``redis-server`` on a free loopback port and
``python -m rtcsignal serve`` instances on it, each stopped by its pid."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from rtcsignal.auth import mint_token

SECRET = "cluster-secret-0123456789abcdef-0123456789"
WAIT = 10.0


def token(user: str) -> str:
    """A token for ``user`` under the cluster tests' secret."""
    return mint_token(SECRET, user=user, ttl=600, now=time.time())


async def next_event(client: Any, kind: type[Any], wait: float = WAIT) -> Any:
    """The next event of type ``kind`` a client receives (within ``wait`` seconds)."""
    with anyio.fail_after(wait):
        async for event in client.events():
            if isinstance(event, kind):
                return event
    raise AssertionError("events ended")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` without persistence on a free loopback port (or on ``port``:
    a restart of a stopped one, which comes back empty)."""

    def __init__(self, tmp: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # the project's setup installs it: never skip
            raise AssertionError(
                "redis-server is missing: run `bash scripts/install-system-deps.sh` (nox does)"
            )
        self.port = free_port() if port is None else port
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
                str(tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise AssertionError("redis-server did not start") from None
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` for one test."""
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


class ServeProcess:
    """``python -m rtcsignal serve`` on a free loopback port (``RTCSIGNAL_*`` variables
    of the test process left out), stopped by its pid.

    Args:
        args: more command-line arguments.
        env: more environment variables.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCSIGNAL_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtcsignal", "serve", "--host", "127.0.0.1", "--port", "0",
             *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, "RTCSIGNAL_SHUTDOWN_GRACE": "1", **(env or {})},
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", line)
        if not match:
            self.stop()
            raise AssertionError(line + (self.proc.stderr.read() if self.proc.stderr else ""))
        self.port = int(match.group(1))
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Instance(ServeProcess):
    """An instance of a cluster on a shared Redis, with the cluster tests' secret."""

    def __init__(self, redis_url: str, instance_id: str, *args: str) -> None:
        self.id = instance_id
        plane = ("--redis-url", redis_url, "--instance-id", instance_id)
        super().__init__(*plane, *args, env={"RTCSIGNAL_AUTH_SECRET": SECRET})
