"""Settings of the example project: Django auth and sessions, Channels on Daphne, and
rtcsignal's ``RTCSIGNAL`` table (the layout of ``RuntimeSettings.from_dict``)."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",  # first: `manage.py runserver` is then Daphne's (HTTP and WebSockets)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "callsite",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "callsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
ASGI_APPLICATION = "callsite.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", BASE_DIR / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGIN_REDIRECT_URL = "/"

# rtcsignal: RuntimeSettings.from_dict layout (tables: "server", "rate").
RTCSIGNAL = {
    # In production, list your site's origins: the WebSocket then refuses other sites.
    "origins": None,
    "server": {"ping_timeout": 45.0},
    "rate": {"guards": {"max_connections_per_user": 8}},
}
