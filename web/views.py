"""Pages of the glass: sign-in by one-time link, and the cluster list."""

from __future__ import annotations

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from cluster.models import Cluster
from web.loginlink import MAX_AGE, SALT


def login_link(request: HttpRequest, token: str) -> HttpResponse:
    """A link works once: signing in changes last_login, which the token carries."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return render(
            request, "web/login_failed.html", {"reason": _("This sign-in link is invalid or has expired.")}, status=400
        )
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    stamp = user.last_login.isoformat() if user is not None and user.last_login else ""
    if user is None or stamp != data.get("l"):
        return render(
            request, "web/login_failed.html", {"reason": _("This sign-in link was already used.")}, status=400
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("home")


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "web/signed_out.html")
    return cluster_list(request)


@login_required
def cluster_list(request: HttpRequest, error: str | None = None, status: int = 200) -> HttpResponse:
    from web.glassviews import presets

    clusters = Cluster.objects.all() if request.user.is_staff else Cluster.objects.filter(owner=request.user)
    context = {
        "clusters": clusters.select_related("owner"),
        "presets": presets(),
        "error": error,
        "name": request.POST.get("name", ""),
        "preset": request.POST.get("preset", "demo"),
    }
    return render(request, "web/cluster_list.html", context, status=status)
