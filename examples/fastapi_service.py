"""A FastAPI service with rtcsignal mounted: token auth, health and Prometheus metrics.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes SERVICE_API_KEY=backend-key \\
        python examples/fastapi_service.py --port 8080

* ``GET /token?user=alice&name=Alice`` (header ``X-Api-Key``): mints a 10-minute
  signaling token. In a real service this is your login or session check.
* ``WS /ws``: the signaling endpoint; connections without a valid token are closed
  with 4003 before they reach the core.
* ``GET /healthz``: the runtime's health snapshot (503 while shutting down).
* ``GET /metrics``: call lifecycle and abuse counters in the Prometheus text format.
"""

from __future__ import annotations

import argparse
import hmac
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import prometheus_client
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse, Response

from rtcsignal.adapters.starlette import endpoint
from rtcsignal.auth import mint_token
from rtcsignal.runtime import PrometheusMetrics, Runtime, RuntimeSettings

settings = RuntimeSettings.from_env()  # RTCSIGNAL_AUTH_SECRET is required: token auth
if settings.auth_secret is None:
    raise SystemExit("set RTCSIGNAL_AUTH_SECRET")
API_KEY = os.environ.get("SERVICE_API_KEY", "")
metrics = PrometheusMetrics()
runtime = Runtime(settings, metrics=metrics)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with runtime:  # graceful shutdown (going_away, 1001) when the app stops
        yield


app = FastAPI(title="calls", lifespan=lifespan)
app.add_api_websocket_route("/ws", endpoint(runtime))


@app.get("/token")
def token(user: str, name: str | None = None, x_api_key: str = Header("")) -> dict[str, str]:
    if not API_KEY or not hmac.compare_digest(x_api_key, API_KEY):
        raise HTTPException(status_code=401, detail="bad API key")
    secret = settings.auth_secret
    assert secret is not None
    return {"token": mint_token(secret, user=user, name=name, ttl=600, now=time.time())}


@app.get("/healthz")
def healthz() -> JSONResponse:
    health = runtime.health()
    return JSONResponse(health.as_dict(), status_code=200 if health.accepting else 503)


@app.get("/metrics")
def metrics_endpoint() -> Response:
    body = prometheus_client.generate_latest(metrics.registry)
    return Response(body, media_type=prometheus_client.CONTENT_TYPE_LATEST)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.create_server((args.host, args.port))
    print(f"listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, ws_per_message_deflate=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
