"""The project's one rtcsignal runtime: Django's logged-in user is the identity."""

from rtcsignal.adapters.channels import django_user_authenticator, runtime_settings
from rtcsignal.runtime import Runtime

runtime = Runtime(runtime_settings(), authenticate=django_user_authenticator())
