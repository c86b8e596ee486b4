from django.contrib.auth import views as auth_views
from django.urls import path

from callsite import views

urlpatterns = [
    path("", views.index, name="index"),
    path("me", views.me, name="me"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
