"""Check rtcsignal as a user installs it: run by the python of a fresh virtualenv that
holds the built wheel (``nox -s package``), from a directory outside the source tree.

    python scripts/check_installed.py base          # the wheel alone
    python scripts/check_installed.py extra NAME    # after pip install "rtcsignal[NAME]"
    python scripts/check_installed.py serve         # python -m rtcsignal serve, for real
    python scripts/check_installed.py examples      # every example imports

Each check raises ``SystemExit`` with a message naming what is wrong; success prints
one line per check.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAIT = 20.0
SECRET = "package-check-secret-0123456789abcdef"

# What each extra must make importable: third-party modules, then rtcsignal modules.
EXTRAS: dict[str, tuple[list[str], list[str]]] = {
    "asgi": ([], ["rtcsignal.adapters.asgi"]),
    "serve": (["websockets"], ["rtcsignal.adapters.websockets", "rtcsignal._serve"]),
    "websockets": (["websockets"], ["rtcsignal.adapters.websockets"]),
    "client": (["wsproto"], ["rtcsignal.client"]),
    "jwt": (["jwt"], []),
    "prometheus": (["prometheus_client"], []),
    "redis": (["redis", "hiredis"], ["rtcsignal.backplane.redis"]),
    "starlette": (["starlette"], ["rtcsignal.adapters.starlette"]),
    "aiohttp": (["aiohttp"], ["rtcsignal.adapters.aiohttp"]),
    "trio": (["trio", "trio_websocket"], ["rtcsignal.adapters.trio"]),
    "uvicorn": (["uvicorn", "websockets"], ["rtcsignal.adapters.asgi"]),
    "hypercorn": (["hypercorn"], ["rtcsignal.adapters.asgi"]),
    "granian": (["granian"], ["rtcsignal.adapters.asgi"]),
    "litestar": (["litestar"], ["rtcsignal.adapters.asgi"]),
    "quart": (["quart"], ["rtcsignal.adapters.asgi"]),
    "fastapi": (["fastapi"], ["rtcsignal.adapters.starlette", "rtcsignal.adapters.asgi"]),
    "channels": (["channels", "daphne", "django"], ["rtcsignal.adapters.channels"]),
}
# Modules of the extras that the bare wheel must not pull in.
NOT_IN_BASE = ["websockets", "starlette", "aiohttp", "trio", "wsproto", "jwt", "django"]
# Every example but aiortc_bot.py (aiortc is a WebRTC stack, no extra of rtcsignal).
EXAMPLES = [
    "websockets_server.py",
    "starlette_server.py",
    "aiohttp_server.py",
    "trio_server.py",
    "fastapi_service.py",
    "call.py",
    "asgi_server.py",
    "asgi_litestar.py",
    "asgi_quart.py",
    "asgi_fastapi.py",
    "asgi_django.py",
]


def fail(message: str) -> SystemExit:
    return SystemExit(f"check_installed: {message}")


def check_location() -> None:
    """rtcsignal is the installed one, and the source tree is not importable."""
    import rtcsignal

    where = Path(rtcsignal.__file__).resolve()
    if not where.is_relative_to(Path(sys.prefix).resolve()):
        raise fail(f"rtcsignal imported from {where}, not from the venv {sys.prefix}")
    if where.is_relative_to(ROOT):
        raise fail(f"rtcsignal imported from the source tree: {where}")
    for entry in sys.path:
        if entry and (Path(entry) / "rtcsignal").resolve() == (ROOT / "src" / "rtcsignal"):
            raise fail(f"the source tree is on sys.path: {entry}")


def base() -> None:
    check_location()
    import rtcsignal.core
    import rtcsignal.protocol
    import rtcsignal.runtime
    import rtcsignal.sdp  # noqa: F401

    for name in ("index.html", "rtcsignal.js", "demo.js", "demo.css"):
        if not resources.files("rtcsignal").joinpath("static", name).read_bytes():
            raise fail(f"static/{name} is empty or missing in the wheel")
    if not resources.files("rtcsignal").joinpath("py.typed").is_file():
        raise fail("py.typed is missing from the wheel")
    for module in NOT_IN_BASE:
        if importlib.util.find_spec(module) is not None:
            raise fail(f"the bare wheel installed {module}")
    importlib.import_module("rtcsignal.adapters.asgi")  # the ASGI adapter needs nothing
    print(f"base: rtcsignal {importlib.metadata.version('rtcsignal')} from {sys.prefix}")


def extra(name: str) -> None:
    check_location()
    modules, ours = EXTRAS[name]
    for module in [*modules, *ours]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise fail(f"rtcsignal[{name}] does not make {module} importable: {exc}") from None
    if name == "jwt":
        import time

        import jwt

        from rtcsignal.auth import JwtVerifier

        token = jwt.encode({"sub": "ann", "exp": time.time() + 60}, SECRET, algorithm="HS256")
        if JwtVerifier(key=SECRET)(token, time.time()).user != "ann":
            raise fail("JwtVerifier did not verify a PyJWT token")
    if name == "prometheus":
        from rtcsignal.runtime import PrometheusMetrics

        PrometheusMetrics().count("rtcsignal_connections_opened_total", {})
    print(f"extra {name}: {', '.join([*modules, *ours]) or 'nothing to import'}")


def serve() -> None:
    """``python -m rtcsignal serve`` on a free loopback port: the page, the JavaScript
    client, and a WebSocket hello/welcome round trip."""
    check_location()
    from websockets.sync.client import connect

    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcsignal", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("rtcsignal: ws://"):
            raise fail(f"serve printed {line!r}; stderr: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        url = line.split()[1]
        base = url.replace("ws://", "http://").removesuffix("/ws")
        for path, kind in [("/", "text/html"), ("/rtcsignal.js", "text/javascript")]:
            with urllib.request.urlopen(base + path, timeout=WAIT) as reply:
                body = reply.read()
                if reply.status != 200 or not reply.headers["content-type"].startswith(kind):
                    raise fail(f"GET {path}: {reply.status} {reply.headers['content-type']}")
                if not body:
                    raise fail(f"GET {path}: empty body")
        with connect(url, open_timeout=WAIT) as ws:
            ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
            welcome = json.loads(ws.recv(timeout=WAIT))
        if welcome.get("type") != "welcome":
            raise fail(f"hello got {welcome}")
        print(f"serve: {base}/ and /rtcsignal.js 200, hello -> welcome as {welcome['user']}")
    finally:
        proc.terminate()
        proc.wait(WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def examples() -> None:
    """Import every example module (as a library would, not as ``__main__``), each in a
    process of its own (two of them configure Django)."""
    check_location()
    env = {**os.environ, "RTCSIGNAL_AUTH_SECRET": SECRET, "SERVICE_API_KEY": "check"}
    runs = [
        [sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1])", str(path)]
        for path in (ROOT / "examples" / name for name in EXAMPLES)
    ]
    project = ROOT / "examples" / "django_project"  # a package: imported with its settings
    runs.append([sys.executable, "-c", "import callsite.asgi"])
    for command in runs:
        out = subprocess.run(
            command,
            env={**env, "PYTHONPATH": str(project), "DJANGO_SETTINGS_MODULE": "callsite.settings"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise fail(f"{command[-1]} does not import: {out.stderr[-2000:]}")
    print(f"examples: {len(runs)} import (aiortc_bot.py needs aiortc, not an extra)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["base", "extra", "serve", "examples"])
    parser.add_argument("name", nargs="?", choices=sorted(EXTRAS))
    args = parser.parse_args()
    if args.check == "extra":
        if args.name is None:
            parser.error("extra needs the extra's name")
        extra(args.name)
    else:
        {"base": base, "serve": serve, "examples": examples}[args.check]()


if __name__ == "__main__":
    main()
