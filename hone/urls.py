from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from hone import health, login

admin.site.login = login.limit_failures(admin.site.login)  # failed sign-ins are limited there too


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, a raw API response)."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),  # probes: no login, no session
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", favicon),
    path("login/", login.limit_failures(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("jobs.lifecycle.ingest_urls")),
    path("api/v1/", include("api.urls")),  # after the ingest route: it ends in a catch-all 404
    path("openai/v1/", include("api.openai_compat.urls")),  # OpenAI's fine-tuning and serving routes
    path("settings/", include("api.ui_urls")),
    path("console/", include("console.urls")),  # operators (staff) only
    path("team/", include("jobs.teams.urls")),
    path("", include("jobs.web.urls")),
]

handler500 = "api.problems.server_error"  # API paths get a problem+json body
