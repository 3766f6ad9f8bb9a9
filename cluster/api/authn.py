"""Authentication: a bearer token names a Django user, as a kubeconfig's token names a user upstream."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from cluster.api.errors import unauthorized
from cluster.models import ApiToken


def authenticate(authorization: str | None) -> AbstractBaseUser:
    """The user behind an ``Authorization: Bearer`` header; anything else is 401."""
    if not authorization:
        raise unauthorized()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    found = ApiToken.objects.select_related("user").filter(key=token.strip()).first()
    if found is None or not found.user.is_active:
        raise unauthorized()
    return found.user
