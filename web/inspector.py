"""The inspector's reads: one object, its events and conditions, as they were at a sequence number.

Rewinding the glass rewinds the inspector too, so every read takes ``at``: the object is
the last watch event for its key at or before ``at`` (gone if that event is a deletion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from cluster.models import Cluster, StoredObject, WatchEvent
from web import decision as decisions


@dataclass
class Snapshot:
    """An object as stored at one sequence number (``deleted`` when its last event removed it)."""

    body: dict[str, Any] | None
    seq: int
    deleted: bool = False


def object_at(cluster: Cluster, group: str, kind: str, namespace: str, name: str, at: int | None) -> Snapshot:
    if at is None or at >= cluster.revision:
        row = (
            StoredObject.objects.filter(cluster=cluster, group=group, kind=kind, namespace=namespace, name=name)
            .values_list("resource_version", "body")
            .first()
        )
        if row:
            return Snapshot(row[1], row[0])
    event = (
        WatchEvent.objects.filter(cluster=cluster, group=group, kind=kind, namespace=namespace, name=name)
        .filter(**({"revision__lte": at} if at is not None else {}))
        .order_by("-revision")
        .values_list("revision", "type", "object")
        .first()
    )
    if event is None:
        return Snapshot(None, at if at is not None else cluster.revision)
    return Snapshot(event[2], event[0], deleted=event[1] == "DELETED")


def events_for(
    cluster: Cluster, kind: str, namespace: str, name: str, at: int | None, limit: int = 30
) -> list[dict[str, Any]]:
    """Event objects about the given object, as of ``at``, oldest first."""
    ns = namespace or "default"
    rows = (
        WatchEvent.objects.filter(cluster=cluster, kind="Event", namespace=ns)
        .filter(**({"revision__lte": at} if at is not None else {}))
        .order_by("revision")
        .values_list("type", "name", "object")
    )
    latest: dict[str, dict[str, Any] | None] = {}
    for etype, ev_name, body in rows.iterator():
        involved = body.get("involvedObject") or {}
        if involved.get("name") != name or involved.get("kind") != kind:
            continue
        latest[ev_name] = None if etype == "DELETED" else body
    found = [e for e in latest.values() if e is not None]
    return found[-limit:]


def as_yaml(body: dict[str, Any]) -> str:
    """The stored object as ``kubectl get -o yaml`` shows it (managedFields hidden, as kubectl does)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return yaml.safe_dump({**body, "metadata": meta}, sort_keys=False, allow_unicode=True, width=100)


def node_names(cluster: Cluster, at: int | None) -> list[str]:
    if at is None or at >= cluster.revision:
        return list(
            StoredObject.objects.filter(cluster=cluster, group="", kind="Node")
            .order_by("name")
            .values_list("name", flat=True)
        )
    state: dict[str, bool] = {}
    for etype, name in (
        WatchEvent.objects.filter(cluster=cluster, group="", kind="Node", revision__lte=at)
        .order_by("revision")
        .values_list("type", "name")
    ):
        state[name] = etype != "DELETED"
    return sorted(n for n, present in state.items() if present)


def scheduler_weights(cluster: Cluster) -> dict[str, int]:
    body = (
        StoredObject.objects.filter(
            cluster=cluster, group="", kind="ConfigMap", namespace="kube-system", name="kube-scheduler-config"
        )
        .values_list("body", flat=True)
        .first()
    )
    text = ((body or {}).get("data") or {}).get("config.yaml")
    return decisions.weights_for(text)


def decision_for(cluster: Cluster, pod: dict[str, Any], at: int | None) -> decisions.Decision | None:
    return decisions.from_pod(pod, node_names(cluster, at), scheduler_weights(cluster))
