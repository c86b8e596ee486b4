"""rtcsignal in front of Django's own ASGI handler (no Channels), served by uvicorn.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/asgi_django.py --port 8080

Django's ASGI handler serves HTTP only and does not speak lifespan; the rtcsignal
dispatcher in front takes the WebSocket at ``/ws``, hands every other request to
Django, and runs the runtime on the lifespan events. (A one-file Django project for
the example; in a real project this is ``asgi.py`` after ``get_asgi_application()``.
For Django's authenticated users as identities, see ``examples/django_project``.)
"""

from __future__ import annotations

import argparse
import socket

import django
import uvicorn
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402

from rtcsignal.adapters.asgi import application  # noqa: E402
from rtcsignal.runtime import Runtime, RuntimeSettings  # noqa: E402

runtime = Runtime(RuntimeSettings.from_env())  # RTCSIGNAL_AUTH_SECRET=... for token auth


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"service": "django", "signaling": "/ws", "rtc": runtime.running})


urlpatterns = [path("", index)]
app = application(runtime, path="/ws", fallback=get_asgi_application())


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await runtime.shutdown()  # going_away + 1001 before uvicorn closes with 1012
        await super().shutdown(sockets)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.create_server((args.host, args.port))
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/ws", flush=True)
    config = uvicorn.Config(
        app,
        ws_max_size=runtime.max_frame_bytes,
        ws_per_message_deflate=False,
        log_level="warning",
    )
    Server(config).run(sockets=[sock])
