from __future__ import annotations

from django.apps import AppConfig


class ClusterConfig(AppConfig):
    name = "cluster"
    verbose_name = "Kubeglass clusters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from cluster import heap, sqlite_wal

        connection_created.connect(sqlite_wal.on_connection_created, dispatch_uid="kubeglass-sqlite-wal")
        heap.tune()
