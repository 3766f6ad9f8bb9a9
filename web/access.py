"""Who is asking: the browser session, or the same bearer token the Kubernetes API takes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from cluster.api import authn
from cluster.api.authz import can_access
from cluster.api.errors import StatusError, not_found
from cluster.models import Cluster


def cluster_for(request: HttpRequest, name: str) -> tuple[Cluster, AbstractBaseUser]:
    """The cluster ``name`` if the caller may see it: 401 without credentials, 404 for someone else's."""
    user = request.user if request.user.is_authenticated else None
    if user is None:
        user = authn.authenticate(request.headers.get("Authorization"))
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None or not can_access(user, cluster):
        # Another student's cluster is reported as absent, so names do not leak.
        raise not_found("", "clusters", name)
    return cluster, user


def token_or_csrf(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Scripts send a bearer token and no cookie, so CSRF cannot apply; a browser session must pass it."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            request.user = AnonymousUser()
        else:
            reject = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, view, args, kwargs)
            if reject is not None:
                return reject
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)


__all__ = ["StatusError", "cluster_for", "token_or_csrf"]
