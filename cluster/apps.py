from __future__ import annotations

from django.apps import AppConfig


class ClusterConfig(AppConfig):
    name = "cluster"
    verbose_name = "Kubeglass clusters"
    default_auto_field = "django.db.models.BigAutoField"
