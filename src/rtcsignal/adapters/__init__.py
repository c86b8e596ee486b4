"""WebSocket framework adapters: one public submodule per framework, each importing only
its framework and :mod:`rtcsignal.runtime`.

* :mod:`rtcsignal.adapters.websockets`: the ``websockets`` asyncio server.
* :mod:`rtcsignal.adapters.starlette`: an ASGI WebSocket route (Starlette, FastAPI).
* :mod:`rtcsignal.adapters.aiohttp`: an ``aiohttp.web`` handler.
* :mod:`rtcsignal.adapters.trio`: ``trio-websocket``.
* :mod:`rtcsignal.adapters.asgi`: a raw ASGI 3 application (any ASGI server or
  framework: uvicorn, hypercorn, granian; Litestar, Quart, FastAPI, Django).
* :mod:`rtcsignal.adapters.channels`: a Django Channels consumer.
* :mod:`rtcsignal.adapters.picows`: ``picows`` on asyncio (uvloop): the fastest path.

Import the one you use by its submodule (nothing is imported here, so a missing framework
raises its own clear ``ImportError`` where you import it). See ``docs/adapters.md``.
"""

from __future__ import annotations

__all__: list[str] = []
