"""The node IPAM controller: every Node gets a pod range carved from the cluster CIDR.

Upstream ``pkg/controller/nodeipam`` with the RangeAllocator kubeadm clusters use
(``--allocate-node-cidrs --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24``).
Ranges already on nodes are marked used when the controller starts; a node that joins
without one gets the next free /24, searching from just after the last one handed out
(so right after a restart that is the first free range). A deleted node's range is
released; a live node's range is never given to another.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.controlplane.controller import Context, Controller

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "cidrAllocator"
NODE_CIDR_MASK_SIZE = 24

NARRATION = {
    "kcm.nodeipam.allocated": gettext_noop("The node IPAM controller gave node {node} the pod range {cidr}."),
    "kcm.nodeipam.released": gettext_noop("Node {node} is gone: the node IPAM controller released {cidr}."),
    "kcm.nodeipam.exhausted": gettext_noop("The cluster CIDR {cluster_cidr} has no free /24 left for node {node}."),
}


class CidrSet:
    """Upstream's cidrset: a bitmap of /24s in the cluster CIDR with a rotating next candidate."""

    def __init__(self, cluster_cidr: str, mask: int = NODE_CIDR_MASK_SIZE) -> None:
        self.net = ipaddress.ip_network(cluster_cidr)
        self.mask = mask
        self.max = 2 ** (mask - self.net.prefixlen) if mask >= self.net.prefixlen else 0
        self.used: set[int] = set()
        self.next_candidate = 0

    def _index(self, cidr: str) -> int | None:
        try:
            sub = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if sub.version != self.net.version or not sub.subnet_of(self.net):  # type: ignore[arg-type]
            return None
        return (int(sub.network_address) - int(self.net.network_address)) >> (self.net.max_prefixlen - self.mask)

    def _cidr(self, index: int) -> str:
        base = int(self.net.network_address) + (index << (self.net.max_prefixlen - self.mask))
        return f"{ipaddress.ip_address(base)}/{self.mask}"

    def occupy(self, cidr: str) -> bool:
        """Mark every /24 of ``cidr`` used (a node's range, or the service CIDR where it overlaps)."""
        try:
            sub = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return False
        if sub.version != self.net.version or not sub.overlaps(self.net):  # type: ignore[arg-type]
            return False
        first = max(int(sub.network_address), int(self.net.network_address))
        last = min(int(sub.broadcast_address), int(self.net.broadcast_address))
        shift = self.net.max_prefixlen - self.mask
        start = (first - int(self.net.network_address)) >> shift
        end = (last - int(self.net.network_address)) >> shift
        self.used.update(range(start, end + 1))
        return True

    def release(self, cidr: str) -> None:
        index = self._index(cidr)
        if index is not None:
            self.used.discard(index)

    def allocate_next(self) -> str | None:
        if len(self.used) >= self.max:
            return None
        candidate = self.next_candidate
        for _ in range(self.max):
            if candidate not in self.used:
                break
            candidate = (candidate + 1) % self.max
        self.next_candidate = (candidate + 1) % self.max
        self.used.add(candidate)
        return self._cidr(candidate)


def node_cidrs(node: dict[str, Any]) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


class NodeIpamController(Controller):
    component = COMPONENT
    name = "nodeipam"
    watches = (("", "Node"),)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.cidrs = CidrSet(ctx.cluster.pod_cidr)
        # The service range is never handed to nodes (upstream filterOutServiceRange).
        self.cidrs.occupy(ctx.cluster.service_cidr)
        self.owned: dict[str, list[str]] = {}

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            for cidr in self.owned.pop(name, []):
                self.cidrs.release(cidr)
                self.ctx.trace(
                    COMPONENT,
                    "nodeipam",
                    "kcm.nodeipam.released",
                    {"node": name, "cidr": cidr},
                    [{"kind": "Node", "name": name}],
                )
            return
        have = node_cidrs(obj)
        if have:
            # Occupy on sight, before any allocation, so a live range is never handed out twice.
            for cidr in have:
                self.cidrs.occupy(cidr)
            self.owned[name] = have
            return
        self.queue.add(name)

    def resync(self) -> None:
        for node in self.ctx.lister("", "Node"):
            if not node_cidrs(node):
                self.queue.add(node["metadata"]["name"])

    def reconcile(self, key: str) -> float | None:
        node = self.ctx.lister("", "Node").get(None, key)
        if node is None or node_cidrs(node) or node["metadata"].get("deletionTimestamp"):
            return None
        cidr = self.cidrs.allocate_next()
        if cidr is None:
            self.ctx.event(
                EVENT_SOURCE, node, "Normal", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable"
            )
            self.ctx.trace(
                COMPONENT,
                "nodeipam",
                "kcm.nodeipam.exhausted",
                {"node": key, "cluster_cidr": self.ctx.cluster.pod_cidr},
                [{"kind": "Node", "name": key}],
            )
            return None
        try:
            self.ctx.patch(COMPONENT, "", "Node", None, key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except StatusError:
            self.cidrs.release(cidr)
            raise
        self.owned[key] = [cidr]
        self.ctx.trace(
            COMPONENT,
            "nodeipam",
            "kcm.nodeipam.allocated",
            {"node": key, "cidr": cidr},
            [{"kind": "Node", "name": key}],
        )
        return None


CONTROLLERS = [NodeIpamController]
