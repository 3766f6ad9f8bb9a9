"""The simulated cluster's network: a data plane derived from a snapshot, and packet walks through it.

Pure Python over plain Kubernetes JSON (no Django), so it can be computed, cached
and tested on its own.  Public entry points:

* :class:`~cluster.network.snapshot.Snapshot` — the input;
* :func:`~cluster.network.walk.walk` — a packet's hops (and its reply's);
* :func:`~cluster.network.graph.build_graph` / :func:`~cluster.network.graph.node_link_data`;
* :mod:`~cluster.network.render` — ``ip route``, ``ip neigh``, ``bridge fdb``, ``iptables-save``.

Everything derived from a snapshot is cached per revision (:mod:`~cluster.network.cache`),
and a new revision is derived from the last cached one by the objects that changed
(:mod:`~cluster.network.delta`): one pod moving redoes that pod's, its node's and its
Service's parts, not the cluster's.
"""

from __future__ import annotations

from cluster.network.graph import build_graph, node_link_data
from cluster.network.render import bridge_fdb, ip_neigh, ip_route, iptables_save
from cluster.network.snapshot import CNI_MODES, Snapshot
from cluster.network.walk import WalkError, walk

__all__ = [
    "CNI_MODES",
    "Snapshot",
    "WalkError",
    "bridge_fdb",
    "build_graph",
    "ip_neigh",
    "ip_route",
    "iptables_save",
    "node_link_data",
    "walk",
]
