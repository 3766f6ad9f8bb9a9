"""Authorization: a cluster belongs to its owner; staff (instructors) may act on any."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from cluster.api.errors import forbidden
from cluster.models import Cluster


def can_access(user: AbstractBaseUser, cluster: Cluster) -> bool:
    return bool(user.is_active and (user.is_staff or cluster.owner_id == user.pk))


def authorize(
    user: AbstractBaseUser,
    cluster: Cluster,
    verb: str,
    group: str,
    plural: str,
    namespace: str | None,
    name: str | None = None,
) -> None:
    if not can_access(user, cluster):
        raise forbidden(user.get_username(), verb, group, plural, namespace, name)
