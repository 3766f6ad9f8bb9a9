"""The store, playing etcd: compare-and-swap writes, one revision counter per cluster, a watch log.

Every write and its watch event land in one transaction, and the revision a
write takes is also its ``resourceVersion``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from cluster import doorbell
from cluster.jsonutil import clone
from cluster.models import Cluster, EventType, StoredObject, TraceStep, WatchEvent


@dataclass(frozen=True)
class Key:
    group: str
    kind: str
    namespace: str
    name: str


class CompareFailed(Exception):
    """The stored resourceVersion is not the one the writer read."""


class KeyExists(Exception):
    """A create found the key taken."""


class KeyMissing(Exception):
    """An update or delete found no such key."""


class QuotaExceeded(Exception):
    """The cluster already holds as many objects as it may."""


@dataclass
class PendingTrace:
    """Trace steps gathered during one request, written with the request's own write."""

    component: str
    stage: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    involved: list[dict[str, str]] = field(default_factory=list)
    source: str = ""
    target: str = ""
    sim_time: float = 0.0


_TABLE = Cluster._meta.db_table


def _allocate(cluster_id: int, count: int, objects: int = 0) -> tuple[int, int]:
    """Take ``count`` revisions; returns the last and the new object count.

    The row update serialises writers of one cluster, so revisions commit in order.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET revision = revision + %s, object_count = object_count + %s "
            "WHERE id = %s RETURNING revision, object_count",
            [count, objects, cluster_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise KeyMissing(cluster_id)
    return int(row[0]), int(row[1])


def _stamp(body: dict[str, Any], revision: int) -> dict[str, Any]:
    body = clone(body)
    body.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return body


def _write_trace(cluster_id: int, first_seq: int, steps: Iterable[PendingTrace]) -> None:
    rows = [
        (
            cluster_id,
            first_seq + i,
            s.sim_time,
            s.component,
            s.stage,
            s.message,
            json.dumps(s.params, separators=(",", ":")),
            json.dumps(s.involved, separators=(",", ":")),
            s.source,
            s.target,
        )
        for i, s in enumerate(steps)
    ]
    if not rows:
        return
    j = _json_param()
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {TraceStep._meta.db_table} "
            "(cluster_id, seq, sim_time, component, stage, message, params, involved, source, target) "
            f"VALUES (%s, %s, %s, %s, %s, %s, {j}, {j}, %s, %s)",
            rows,
        )


def _event(cluster_id: int, revision: int, etype: str, key: Key, body: dict[str, Any]) -> WatchEvent:
    return WatchEvent(
        cluster_id=cluster_id,
        revision=revision,
        type=etype,
        group=key.group,
        kind=key.kind,
        namespace=key.namespace,
        name=key.name,
        object=body,
    )


_EVENTS = WatchEvent._meta.db_table


def _json_param() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def _insert_event(cursor: Any, cluster_id: int, revision: int, etype: str, key: Key, text: str) -> None:
    cursor.execute(
        f'INSERT INTO {_EVENTS} (cluster_id, revision, type, "group", kind, namespace, name, object) '
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, {_json_param()})",
        [cluster_id, revision, str(etype), key.group, key.kind, key.namespace, key.name, text],
    )


def _after_commit(cluster_id: int) -> None:
    doorbell.note_write(cluster_id)
    transaction.on_commit(lambda: doorbell.ring(cluster_id))


def create(
    cluster_id: int,
    key: Key,
    body: dict[str, Any],
    trace: list[PendingTrace] | None = None,
    uid_for: Callable[[int], str] | None = None,
    max_objects: int | None = None,
) -> dict[str, Any]:
    """Store a new key. ``uid_for(revision)`` names the object once its revision is known."""
    trace = trace or []
    with transaction.atomic():
        if get(cluster_id, key) is not None:
            raise KeyExists(key)
        last, objects = _allocate(cluster_id, len(trace) + 1, 1)
        if max_objects is not None and objects > max_objects:
            transaction.set_rollback(True)
            raise QuotaExceeded(max_objects)
        revision = last
        _write_trace(cluster_id, last - len(trace), trace)
        stored = _stamp(body, revision)
        if uid_for is not None:
            stored["metadata"]["uid"] = uid_for(revision)
        text = json.dumps(stored, separators=(",", ":"))
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {_OBJECTS} (cluster_id, "group", kind, namespace, name, resource_version, body) '
                f"VALUES (%s, %s, %s, %s, %s, %s, {_json_param()})",
                [cluster_id, key.group, key.kind, key.namespace, key.name, revision, text],
            )
            _insert_event(cursor, cluster_id, revision, EventType.ADDED, key, text)
        _after_commit(cluster_id)
    return stored


def update(
    cluster_id: int,
    key: Key,
    body: dict[str, Any],
    expected_rv: int,
    trace: list[PendingTrace] | None = None,
) -> dict[str, Any]:
    """Compare-and-swap: succeeds only while the stored revision is still ``expected_rv``."""
    trace = trace or []
    with transaction.atomic():
        last, _ = _allocate(cluster_id, len(trace) + 1)
        stored = _stamp(body, last)
        text = json.dumps(stored, separators=(",", ":"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_OBJECTS} SET resource_version = %s, body = {_json_param()} "
                'WHERE cluster_id = %s AND "group" = %s AND kind = %s AND namespace = %s AND name = %s '
                "AND resource_version = %s",
                [last, text, cluster_id, key.group, key.kind, key.namespace, key.name, expected_rv],
            )
            changed = cursor.rowcount
        if changed != 1:
            exists = StoredObject.objects.filter(
                cluster_id=cluster_id, group=key.group, kind=key.kind, namespace=key.namespace, name=key.name
            ).exists()
            transaction.set_rollback(True)
            raise CompareFailed(key) if exists else KeyMissing(key)
        _write_trace(cluster_id, last - len(trace), trace)
        with connection.cursor() as cursor:
            _insert_event(cursor, cluster_id, last, EventType.MODIFIED, key, text)
        _after_commit(cluster_id)
    return stored


def delete(
    cluster_id: int,
    key: Key,
    expected_rv: int | None,
    trace: list[PendingTrace] | None = None,
) -> dict[str, Any]:
    """Remove the key; the DELETED event carries the last state at the deletion's revision."""
    trace = trace or []
    with transaction.atomic():
        qs = StoredObject.objects.filter(
            cluster_id=cluster_id, group=key.group, kind=key.kind, namespace=key.namespace, name=key.name
        )
        row = qs.values_list("resource_version", "body").first()
        if row is None:
            raise KeyMissing(key)
        if expected_rv is not None and row[0] != expected_rv:
            raise CompareFailed(key)
        last, _ = _allocate(cluster_id, len(trace) + 1, -1)
        if qs.filter(resource_version=row[0]).delete()[0] != 1:
            transaction.set_rollback(True)
            raise CompareFailed(key)
        stored = _stamp(row[1], last)
        _write_trace(cluster_id, last - len(trace), trace)
        _event(cluster_id, last, EventType.DELETED, key, stored).save()
        _after_commit(cluster_id)
    return stored


def record(cluster_id: int, trace: list[PendingTrace]) -> int:
    """Append trace steps that go with no write; returns the last sequence number."""
    if not trace:
        return current_revision(cluster_id)
    with transaction.atomic():
        last, _ = _allocate(cluster_id, len(trace))
        _write_trace(cluster_id, last - len(trace) + 1, trace)
        _after_commit(cluster_id)
    return last


_OBJECTS = StoredObject._meta.db_table
_GET_SQL = (
    f'SELECT body FROM {_OBJECTS} WHERE cluster_id = %s AND "group" = %s AND kind = %s AND namespace = %s AND name = %s'
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def get(cluster_id: int, key: Key) -> dict[str, Any] | None:
    """One object by key. Hand-written SQL: this is the hottest read of every write."""
    with connection.cursor() as cursor:
        cursor.execute(_GET_SQL, [cluster_id, key.group, key.kind, key.namespace, key.name])
        row = cursor.fetchone()
    return None if row is None else _json(row[0])


def list_(cluster_id: int, group: str, kind: str, namespace: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """All objects of a kind (optionally in one namespace), and the revision they were read at."""
    with transaction.atomic():
        revision = current_revision(cluster_id)
        qs = StoredObject.objects.filter(cluster_id=cluster_id, group=group, kind=kind)
        if namespace is not None:
            qs = qs.filter(namespace=namespace)
        bodies = list(qs.order_by("namespace", "name").values_list("body", flat=True))
    return bodies, revision


def current_revision(cluster_id: int) -> int:
    return Cluster.objects.values_list("revision", flat=True).get(pk=cluster_id)


def events_after(
    cluster_id: int,
    revision: int,
    group: str | None = None,
    kind: str | None = None,
    namespace: str | None = None,
    limit: int = 500,
) -> list[WatchEvent]:
    qs = WatchEvent.objects.filter(cluster_id=cluster_id, revision__gt=revision)
    if kind is not None:
        qs = qs.filter(group=group or "", kind=kind)
    if namespace is not None:
        qs = qs.filter(namespace=namespace)
    return list(qs.order_by("revision")[:limit])


def oldest_event_revision(cluster_id: int) -> int:
    first = (
        WatchEvent.objects.filter(cluster_id=cluster_id).order_by("revision").values_list("revision", flat=True).first()
    )
    return first if first is not None else current_revision(cluster_id)
