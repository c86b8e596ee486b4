"""Every program in ``examples/`` runs, as a subprocess on loopback, and does its job."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from rtcsignal import protocol as p
from rtcsignal.auth import mint_token
from rtcsignal.client import Backoff, ClientClosed, connect

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
from rtc_peer import RtcPeer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SECRET = "examples-secret-0123456789abcdef"
WAIT = 20.0


@contextmanager
def run(script: str, *args: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``examples/<script>`` and yield it with its first output line."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RTCSIGNAL_AUTH_SECRET": SECRET, **env},
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().strip()
        if not line:
            proc.kill()
            raise AssertionError(f"{script} printed nothing: {proc.communicate()[1][-2000:]}")
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def stop(proc: subprocess.Popen[str]) -> int:
    """SIGTERM, then the exit code (a graceful shutdown exits 0)."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(WAIT)


def token(user: str) -> str:
    return mint_token(SECRET, user=user, ttl=300, now=time.time())


async def relay_then_shutdown(url: str, proc: subprocess.Popen[str]) -> None:
    """Two clients relay a chat; on SIGTERM both are told ``going_away``."""
    once = Backoff(initial=0.01, max_attempts=1)
    async with (
        connect(url, token=token("alice"), backoff=once) as alice,
        connect(url, token=token("bob"), backoff=once) as bob,
    ):
        await alice.join("room-1")
        await bob.join("room-1")
        await bob.chat("room-1", "hello through the example")
        seen: list[object] = []
        with anyio.fail_after(WAIT):
            async for event in alice.events():
                seen.append(event)
                if isinstance(event, p.Chat):
                    assert event.text == "hello through the example"
                    proc.send_signal(signal.SIGTERM)  # graceful shutdown while connected
                if isinstance(event, p.GoingAway):
                    assert event.reconnect
                    break


# uvicorn re-raises the signal once its graceful shutdown is done
GRACEFUL = {"starlette_server.py": -signal.SIGTERM, "fastapi_service.py": -signal.SIGTERM}


@pytest.mark.parametrize(
    "script",
    ["websockets_server.py", "starlette_server.py", "aiohttp_server.py", "trio_server.py"],
)
def test_minimal_servers(script: str) -> None:
    with run(script, "--port", "0") as (proc, line):
        assert line.startswith("listening on ws://127.0.0.1:")
        anyio.run(relay_then_shutdown, line.split()[-1], proc)
        assert proc.wait(WAIT) == GRACEFUL.get(script, 0)


def test_fastapi_service() -> None:
    with run("fastapi_service.py", "--port", "0", SERVICE_API_KEY="backend-key") as (proc, line):
        base = line.split()[-1]
        ws = base.replace("http://", "ws://") + "/ws"
        with httpx.Client(base_url=base, timeout=WAIT) as http:
            assert http.get("/token", params={"user": "x"}).status_code == 401
            reply = http.get(
                "/token", params={"user": "alice"}, headers={"X-Api-Key": "backend-key"}
            )
            assert reply.status_code == 200

            async def scenario() -> None:
                async with connect(ws, token=reply.json()["token"]) as alice:
                    assert alice.user == "alice"
                    await alice.join("room-1")
                    health = (await anyio.to_thread.run_sync(http.get, "/healthz")).json()
                    assert health["connections"] == 1 and health["participants"] == 1
                with pytest.raises(ClientClosed) as err:
                    async with connect(ws, token="v1.forged.token"):
                        pass
                assert err.value.code == 4003

            anyio.run(scenario)
            metrics = http.get("/metrics")
            assert metrics.status_code == 200
            lines = metrics.text.splitlines()
            assert "rtcsignal_sessions_started_total 1.0" in lines
            assert 'rtcsignal_participants_joined_total{role="host"} 1.0' in lines
            assert any(x.startswith("rtcsignal_handshake_refused_total{") for x in lines)
        assert stop(proc) == GRACEFUL["fastapi_service.py"]


def test_call_example() -> None:
    env = {"RTCSIGNAL_SERVER__RING_TIMEOUT": "1.0"}
    with run("websockets_server.py", "--port", "0", **env) as (server, line):
        url = line.split()[-1]
        out = subprocess.run(
            [
                sys.executable,
                str(EXAMPLES / "call.py"),
                url,
                "--secret",
                SECRET,
                "--ring-timeout",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.splitlines() == [
            "bob: alice is calling (video)",
            "bob: accepted, in call-"
            + out.stdout.split("in call-")[1].split()[0]
            + " with ['alice', 'bob']",
            "bob: call ended (hangup)",
            "alice: call to carol ended (declined)",
            "alice: ringing dave for up to 1 s",
            "alice: call to dave ended (missed)",
        ]
        assert stop(server) == 0


def test_aiortc_bot_echoes_the_data_channel() -> None:
    with run("websockets_server.py", "--port", "0") as (server, line):
        url = line.split()[-1]
        with run("aiortc_bot.py", url, "lab", "--token", token("bot")) as (bot, joined):
            assert joined.startswith("joined lab as ")
            bot_pid = joined.split()[-1]

            async def scenario() -> None:
                async with connect(url, token=token("alice"), backoff=Backoff()) as client:
                    peer = RtcPeer(client, "lab")
                    try:
                        await peer.join()  # the newcomer offers to the bot
                        await peer.wait_open(bot_pid)
                        await peer.say(bot_pid, "hi bot")
                        assert await peer.heard(bot_pid) == "echo: hi bot"
                    finally:
                        await peer.close()

            anyio.run(scenario, backend="asyncio")
            assert stop(bot) == 0
        assert stop(server) == 0


def hello_welcome(
    url: str, user: str | None = "alice", **headers: str
) -> tuple[Any, dict[str, Any]]:
    """Open a raw WebSocket to ``url`` (with a token for ``user`` unless ``None``), send
    ``hello`` and return the connection and the reply."""
    target = url if user is None else f"{url}?token={token(user)}"
    ws = ws_connect(target, open_timeout=WAIT, additional_headers=headers or None, legacy=True)
    ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
    return ws, json.loads(ws.recv(timeout=WAIT))


def going_away_on_sigterm(ws: Any, proc: subprocess.Popen[str]) -> None:
    """SIGTERM the server: the client is told ``going_away``, then closed with 1001."""
    proc.send_signal(signal.SIGTERM)
    going = json.loads(ws.recv(timeout=WAIT))
    assert going["type"] == "going_away", going
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def free_port() -> socket.socket:
    """A loopback port reserved for a server that binds with SO_REUSEPORT (granian):
    keep the socket open until the server is listening."""
    reserved = socket.socket()
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind(("127.0.0.1", 0))
    return reserved


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "granian"])
def test_asgi_server(server: str) -> None:
    with free_port() as reserved:
        port = str(reserved.getsockname()[1]) if server == "granian" else "0"
        with run("asgi_server.py", "--server", server, "--port", port) as (proc, line):
            url = line.split()[-1]
            assert url.startswith("ws://127.0.0.1:") and url.endswith("/ws")
            base = url.replace("ws://", "http://").removesuffix("/ws")
            assert httpx.get(f"{base}/healthz", timeout=WAIT).json()["accepting"] is True
            assert httpx.get(f"{base}/nothing", timeout=WAIT).status_code == 404
            ws, welcome = hello_welcome(url)
            assert welcome["type"] == "welcome" and welcome["user"] == "alice"
            going_away_on_sigterm(ws, proc)
            assert proc.wait(WAIT) in (0, -signal.SIGTERM)


@pytest.mark.parametrize(
    ("script", "service"),
    [
        ("asgi_litestar.py", "litestar"),
        ("asgi_quart.py", "quart"),
        ("asgi_fastapi.py", "fastapi"),
        ("asgi_django.py", "django"),
    ],
)
def test_asgi_in_a_framework(script: str, service: str) -> None:
    """The framework's own route and rtcsignal's WebSocket, side by side on one server."""
    with run(script, "--port", "0") as (proc, line):
        url = line.split()[-1]
        base = "http://" + urlsplit(url).netloc
        page = httpx.get(f"{base}/", timeout=WAIT)
        assert page.status_code == 200, page.text
        assert page.json()["service"] == service
        ws, welcome = hello_welcome(url)
        assert welcome["type"] == "welcome" and welcome["user"] == "alice"
        if service == "fastapi":  # routes below the mount point
            assert httpx.get(f"{base}/rtc/healthz", timeout=WAIT).json()["connections"] == 1
        if service in ("quart", "django"):  # the lifespan reached the runtime (and Quart)
            info = httpx.get(f"{base}/", timeout=WAIT).json()
            assert info["rtc"] is True
            assert info.get("started", ["quart"]) == ["quart"]
        going_away_on_sigterm(ws, proc)
        assert proc.wait(WAIT) in (0, -signal.SIGTERM)


def django_login(base: str, user: str) -> str:
    """Log ``user`` in through Django's login view; return the session cookie."""
    with httpx.Client(base_url=base, timeout=WAIT) as http:
        http.get("/accounts/login/")
        form = {
            "username": user,
            "password": "rtcsignal-demo",
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
        }
        assert http.post("/accounts/login/", data=form).status_code == 302
        assert http.get("/me").json() == {"authenticated": True, "user": "1"}
        return str(http.cookies["sessionid"])


def refused(url: str) -> tuple[int, str]:
    """The close code and reason of a WebSocket the server refuses."""
    ws = ws_connect(url, open_timeout=WAIT, legacy=True)
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_django_project_on_daphne(tmp_path: Path) -> None:
    """The one command: migrate, demo users, Daphne; Django's logged-in user is the
    identity, anonymous is refused (4003), and SIGTERM tells clients going_away."""
    db = str(tmp_path / "db.sqlite3")
    with run("django_project/manage.py", "serve", "--port", "0", DJANGO_DB=db) as (proc, line):
        base = line.split()[2].rstrip("/")
        url = base.replace("http://", "ws://") + "/ws/rtcsignal/"
        health = httpx.get(f"{base}/healthz", timeout=WAIT).json()
        assert health["running"] is False  # Daphne: no lifespan, started by a connection
        assert refused(url)[0] == 4003  # Daphne sends no close reasons
        assert httpx.get(f"{base}/healthz", timeout=WAIT).json()["running"] is True
        session = django_login(base, "alice")
        ws, welcome = hello_welcome(url, None, Cookie=f"sessionid={session}")
        assert welcome["type"] == "welcome" and welcome["user"] == "1", welcome
        proc.send_signal(signal.SIGTERM)
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "going_away"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        # Daphne's autobahn sends no 1001: the adapter closes with 1000 after going_away
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert proc.wait(WAIT) == 0


def test_django_project_on_uvicorn_with_lifespan() -> None:
    """The same ASGI application under uvicorn: the lifespan entry starts the runtime
    with the server, and the refusal carries its reason."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    project = EXAMPLES / "django_project"
    # `uvicorn callsite.asgi:application --lifespan on`, on a socket bound here (its
    # --fd option takes Unix sockets only)
    code = (
        "import socket, sys, uvicorn; from callsite.asgi import application; "
        "uvicorn.Server(uvicorn.Config(application, lifespan='on', log_level='warning', "
        "ws_per_message_deflate=False)).run(sockets=[socket.socket(fileno=int(sys.argv[1]))])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(sock.fileno())],
        cwd=project,
        pass_fds=[sock.fileno()],
        env={**os.environ, "PYTHONPATH": str(project)},
        stderr=subprocess.PIPE,
        text=True,
    )
    sock.close()
    try:
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/healthz", timeout=WAIT).json()
        assert health["running"] is True and health["accepting"] is True
        assert refused(f"ws://127.0.0.1:{port}/ws/rtcsignal/") == (4003, "login required")
        assert stop(proc) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        assert proc.stderr is not None
        proc.stderr.close()
