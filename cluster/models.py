"""The store's tables: clusters, stored objects, the watch-event log, trace steps and API tokens.

One generic object table (as etcd holds one keyspace): a new kind needs a schema and
a strategy, never a migration.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models, transaction

from cluster.jsonutil import unpack


class CNI(models.TextChoices):
    FLANNEL_VXLAN = "flannel-vxlan", "flannel (VXLAN)"
    FLANNEL_HOST_GW = "flannel-host-gw", "flannel (host-gw)"
    CALICO_BGP = "calico-bgp", "calico (BGP)"
    CALICO_IPIP = "calico-ipip", "calico (IPIP)"


class Cluster(models.Model):
    name = models.SlugField(max_length=63, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clusters")
    pod_cidr = models.CharField(max_length=43, default="10.244.0.0/16")
    service_cidr = models.CharField(max_length=43, default="10.96.0.0/12")
    node_cidr = models.CharField(max_length=43, default="172.18.0.0/24")
    cni = models.CharField(max_length=20, choices=CNI.choices, default=CNI.FLANNEL_VXLAN)
    seed = models.BigIntegerField(default=0)
    managed_control_plane = models.BooleanField(default=False)
    # The etcd revision: every write and every trace step takes the next number.
    revision = models.BigIntegerField(default=0)
    # Stored objects, kept with the revision so the object quota costs no extra query.
    object_count = models.IntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    # The virtual clock (see cluster.clock): sim time = sim_seconds + (wall - anchor) * speed while playing.
    sim_epoch = models.DateTimeField()
    sim_seconds = models.FloatField(default=0.0)
    clock_speed = models.FloatField(default=1.0)
    clock_paused = models.BooleanField(default=False)
    clock_anchor = models.FloatField(default=0.0)
    # The earliest timer of this cluster's control loops, as the runtime last saw it (for fast-forward).
    next_timer = models.FloatField(null=True, blank=True)
    # How long simulated work takes (image pulls, sandboxes, container create/start/stop). Off makes
    # that work instant; Kubernetes' own timers (heartbeats, grace periods, probes, back-off) still run.
    sim_delays = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Never write back the store's counters from a stale in-memory copy: only the store moves them."""
        if self.pk is not None and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in STORE_OWNED
            ]
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Lock the cluster row first, as every store write does, so deleting never deadlocks a writer."""
        with transaction.atomic():
            Cluster.objects.select_for_update().filter(pk=self.pk).exists()
            return super().delete(*args, **kwargs)


STORE_OWNED = frozenset({"revision", "object_count", "next_timer"})


class LogJSONField(models.JSONField):  # type: ignore[type-arg]
    """A JSON column the store writes itself, always as orjson's output.

    On SQLite, Django guards a JSONField with ``CHECK (JSON_VALID(...))``, which parses every
    value again as the row goes in: most of the bytes the store writes, on every write.
    """

    def db_check(self, connection: Any) -> str | None:
        return None


class LogAutoField(models.BigAutoField):
    """The row id of a table the store appends to, without SQLite's AUTOINCREMENT.

    AUTOINCREMENT only promises that an id is never reused, which nothing here needs (the log's
    order is its revisions and sequence numbers), and keeps it by updating ``sqlite_sequence``
    on every insert. PostgreSQL's identity column is unchanged.
    """

    def db_type_suffix(self, connection: Any) -> str | None:
        return None if connection.vendor == "sqlite" else super().db_type_suffix(connection)


class StoredJSONField(LogJSONField):
    """A JSON column the store may have written packed (``jsonutil.pack``); reads unpack it."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return unpack(super().from_db_value(value, expression, connection))


class StoredObjectQuerySet(models.QuerySet["StoredObject"]):
    def of(self, cluster: Cluster, group: str, kind: str) -> StoredObjectQuerySet:
        return self.filter(cluster=cluster, group=group, kind=kind)

    def in_namespace(self, namespace: str | None) -> StoredObjectQuerySet:
        return self if namespace is None else self.filter(namespace=namespace)


class StoredObject(models.Model):
    id = LogAutoField(primary_key=True)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="stored_objects", db_index=False)
    group = models.CharField(max_length=63, blank=True)
    kind = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63, blank=True)
    name = models.CharField(max_length=253)
    resource_version = models.BigIntegerField()
    body = StoredJSONField()

    objects = StoredObjectQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "group", "kind", "namespace", "name"], name="uniq_object_key")
        ]

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


class EventType(models.TextChoices):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class WatchEvent(models.Model):
    """One entry of the per-cluster watch log, written in the same transaction as the object."""

    id = LogAutoField(primary_key=True)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="events", db_index=False)
    revision = models.BigIntegerField()
    type = models.CharField(max_length=8, choices=EventType.choices)
    group = models.CharField(max_length=63, blank=True)
    kind = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63, blank=True)
    name = models.CharField(max_length=253)
    object = StoredJSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "revision"], name="uniq_event_revision")]
        indexes = [models.Index(fields=["cluster", "group", "kind", "revision"], name="event_kind_rev")]

    def __str__(self) -> str:
        return f"{self.revision} {self.type} {self.kind} {self.namespace}/{self.name}"


class TraceStep(models.Model):
    """Who did what, and why; shares its sequence numbers with the watch log."""

    id = LogAutoField(primary_key=True)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="trace", db_index=False)
    seq = models.BigIntegerField()
    sim_time = models.FloatField(default=0.0)
    component = models.CharField(max_length=63)
    stage = models.CharField(max_length=63)
    message = models.CharField(max_length=127)
    params = LogJSONField(default=dict)
    involved = LogJSONField(default=list)
    source = models.CharField(max_length=63, blank=True)
    target = models.CharField(max_length=63, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "seq"], name="uniq_trace_seq")]

    def __str__(self) -> str:
        return f"{self.seq} {self.component}/{self.stage} {self.message}"


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class ApiToken(models.Model):
    """A bearer token for kubectl; one user may hold several."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key = models.CharField(max_length=64, unique=True, default=_new_token)
    description = models.CharField(max_length=127, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"token for {self.user}"
