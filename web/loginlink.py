"""One-time sign-in links, so no fixed password is ever needed."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing

SALT = "kubeglass.loginlink"
MAX_AGE = 15 * 60


def make_link(username: str, base: str) -> str:
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    token = signing.dumps({"u": user.pk, "l": user.last_login.isoformat() if user.last_login else ""}, salt=SALT)
    return f"{base.rstrip('/')}/accounts/link/{token}/"
