"""The ASGI application: Django's views over HTTP, rtcsignal at ``/ws/rtcsignal/``.

Daphne (``manage.py serve`` or ``runserver``) sends no lifespan events: the runtime
starts on the first WebSocket. Under uvicorn or hypercorn the ``lifespan`` entry starts
it with the server and stops it gracefully.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")
django_application = get_asgi_application()  # sets Django up: import models after it

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from callsite.rtc import runtime  # noqa: E402
from rtcsignal.adapters.channels import lifespan, rtcsignal_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        # AuthMiddlewareStack: scope["user"] from the session cookie, for the identity
        "websocket": AuthMiddlewareStack(URLRouter(rtcsignal_urlpatterns(runtime))),
        "lifespan": lifespan(runtime),
    }
)
