"""A consistent read of everything the network model needs, at one revision (a read-only selector)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction

from cluster.models import Cluster, StoredObject
from cluster.network.snapshot import Snapshot

_KINDS = (
    ("", "Node"),
    ("", "Pod"),
    ("", "Service"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("", "Namespace"),
)


def network_snapshot(cluster: Cluster) -> Snapshot:
    by_kind: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    with transaction.atomic():
        revision = Cluster.objects.values_list("revision", flat=True).get(pk=cluster.pk)
        rows = (
            StoredObject.objects.filter(cluster_id=cluster.pk, kind__in=[k for _, k in _KINDS])
            .order_by("namespace", "name")
            .values_list("group", "kind", "body")
        )
        for group, kind, body in rows:
            by_kind[(group, kind)].append(body)
    return Snapshot.build(
        cluster=cluster.name,
        revision=revision,
        seed=cluster.seed,
        cni=cluster.cni,
        pod_cidr=cluster.pod_cidr,
        service_cidr=cluster.service_cidr,
        node_cidr=cluster.node_cidr,
        nodes=by_kind[("", "Node")],
        pods=by_kind[("", "Pod")],
        services=by_kind[("", "Service")],
        endpointslices=by_kind[("discovery.k8s.io", "EndpointSlice")],
        networkpolicies=by_kind[("networking.k8s.io", "NetworkPolicy")],
        namespaces=by_kind[("", "Namespace")],
    )
