"""Reading the cluster's log: watch events and trace steps, merged in their shared sequence."""

from __future__ import annotations

from typing import Any

from cluster.models import Cluster, TraceStep, WatchEvent

MAX_LIMIT = 2000


def read(cluster: Cluster, after: int, limit: int = 500) -> dict[str, Any]:
    """Entries with sequence > ``after``, oldest first, and the head the reader can continue from."""
    limit = max(1, min(limit, MAX_LIMIT))
    head = Cluster.objects.values_list("revision", flat=True).get(pk=cluster.pk)
    # Read only up to the head seen first, so a write landing mid-read is neither lost nor sent twice.
    events = list(
        WatchEvent.objects.filter(cluster=cluster, revision__gt=after, revision__lte=head)
        .order_by("revision")
        .values("revision", "type", "group", "kind", "namespace", "name", "object")[:limit]
    )
    steps = list(
        TraceStep.objects.filter(cluster=cluster, seq__gt=after, seq__lte=head)
        .order_by("seq")
        .values("seq", "sim_time", "component", "stage", "message", "params", "involved", "source", "target")[:limit]
    )
    entries: list[dict[str, Any]] = [
        {
            "seq": e["revision"],
            "type": e["type"],
            "group": e["group"],
            "kind": e["kind"],
            "namespace": e["namespace"],
            "name": e["name"],
            "object": e["object"],
        }
        for e in events
    ]
    entries += [
        {
            "seq": s["seq"],
            "type": "TRACE",
            "simTime": s["sim_time"],
            "component": s["component"],
            "stage": s["stage"],
            "message": s["message"],
            "params": s["params"],
            "involved": s["involved"],
            "from": s["source"],
            "to": s["target"],
        }
        for s in steps
    ]
    entries.sort(key=lambda e: e["seq"])
    entries = entries[:limit]
    # Sequence numbers with neither an event nor a step are allocated and never used; skip past them.
    cursor = entries[-1]["seq"] if len(entries) == limit else head
    return {"entries": entries, "next": cursor, "head": head}
