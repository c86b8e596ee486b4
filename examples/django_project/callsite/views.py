from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from callsite.rtc import runtime
from rtcsignal.adapters.channels import default_identity


def index(request: HttpRequest) -> HttpResponse:
    """A page that says hello to rtcsignal as the logged-in user."""
    return render(request, "index.html")


def me(request: HttpRequest) -> JsonResponse:
    """Who rtcsignal will take this session's user for."""
    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"authenticated": False})
    return JsonResponse({"authenticated": True, "user": default_identity(user).user})


def healthz(request: HttpRequest) -> JsonResponse:
    """The runtime's health snapshot (``running``: started, by the lifespan or by the
    first WebSocket under Daphne)."""
    return JsonResponse({**runtime.health().as_dict(), "running": runtime.running})
