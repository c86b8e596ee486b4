"""``python manage.py serve``: set the example up and serve it with Daphne, in one command.

It migrates the database, creates the demo users (alice and bob, password
``rtcsignal-demo``) when missing, listens (``--port 0``: a free port, printed), and runs
Daphne with rtcsignal's frame limit. SIGINT/SIGTERM shut the runtime down gracefully
(``going_away``, then close 1000: Daphne sends no 1001) before Daphne stops, which
Daphne alone does not do.
"""

import asyncio
import signal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_USERS = ("alice", "bob")
DEMO_PASSWORD = "rtcsignal-demo"


class Command(BaseCommand):
    help = "Migrate, create the demo users and serve the project with Daphne."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        users = get_user_model()
        for name in DEMO_USERS:
            if not users.objects.filter(username=name).exists():
                users.objects.create_user(name, password=DEMO_PASSWORD)

        from daphne.server import Server  # installs Twisted's asyncio reactor: first

        from callsite.asgi import application
        from callsite.rtc import runtime
        from rtcsignal.adapters.channels import stop

        out = self.stdout

        class Daphne(Server):  # type: ignore[misc]
            def listen_success(self, listener: Any) -> None:
                super().listen_success(listener)
                bound = listener.getHost().port  # --port 0: the port the system chose
                out.write(f"listening on http://{host}:{bound}/ (rtcsignal: /ws/rtcsignal/)")
                out.flush()

        server = Daphne(
            application,
            endpoints=[f"tcp:port={port}:interface={host}"],
            signal_handlers=False,  # ours below: a graceful rtcsignal shutdown first
            websocket_max_message_size=runtime.max_frame_bytes,
            websocket_max_frame_size=runtime.max_frame_bytes,
            websocket_timeout=-1,  # Daphne's default closes every WebSocket after a day
            verbosity=0,
        )

        from twisted.internet import reactor

        async def graceful() -> None:
            await stop(runtime)
            reactor.stop()

        def on_signal(signum: int, frame: object) -> None:
            reactor.callFromThread(lambda: asyncio.ensure_future(graceful()))

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        server.run()
