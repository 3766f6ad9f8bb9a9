"""The immutable input of the network model: one revision of one cluster's objects.

Everything in :mod:`cluster.network` is a pure function of a :class:`Snapshot`, so a
snapshot carries every object the data plane is derived from, plus the seed that
makes the random parts (endpoint choice, source ports) reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CNI_MODES: tuple[str, ...] = ("flannel-vxlan", "flannel-host-gw", "calico-bgp", "calico-ipip", "calico-vxlan")
"""The CNI data planes the model knows.  ``calico-vxlan`` is an extra beyond the four required ones."""

DEFAULT_POD_CIDR = "10.244.0.0/16"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_CIDR = "172.18.0.0/24"


@dataclass(frozen=True)
class Snapshot:
    """One revision of a cluster, as plain Kubernetes JSON dicts.

    The dicts must be treated as read-only: derived structures are cached by
    ``(cluster, revision)`` and would go stale if a dict changed underneath them.
    """

    cluster: str
    revision: int
    seed: int
    cni: str
    pod_cidr: str = DEFAULT_POD_CIDR
    service_cidr: str = DEFAULT_SERVICE_CIDR
    node_cidr: str = DEFAULT_NODE_CIDR
    nodes: tuple[dict[str, Any], ...] = ()
    pods: tuple[dict[str, Any], ...] = ()
    services: tuple[dict[str, Any], ...] = ()
    endpointslices: tuple[dict[str, Any], ...] = ()
    networkpolicies: tuple[dict[str, Any], ...] = ()
    namespaces: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.cni not in CNI_MODES:
            raise ValueError(f"unknown CNI mode {self.cni!r}; expected one of {', '.join(CNI_MODES)}")

    @classmethod
    def build(
        cls,
        *,
        cluster: str,
        revision: int,
        seed: int,
        cni: str,
        pod_cidr: str = DEFAULT_POD_CIDR,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_cidr: str = DEFAULT_NODE_CIDR,
        nodes: Iterable[dict[str, Any]] = (),
        pods: Iterable[dict[str, Any]] = (),
        services: Iterable[dict[str, Any]] = (),
        endpointslices: Iterable[dict[str, Any]] = (),
        networkpolicies: Iterable[dict[str, Any]] = (),
        namespaces: Iterable[dict[str, Any]] = (),
    ) -> Snapshot:
        """Build from any iterables (lists from a query, say); the fields become tuples."""
        return cls(
            cluster=cluster,
            revision=revision,
            seed=seed,
            cni=cni,
            pod_cidr=pod_cidr,
            service_cidr=service_cidr,
            node_cidr=node_cidr,
            nodes=tuple(nodes),
            pods=tuple(pods),
            services=tuple(services),
            endpointslices=tuple(endpointslices),
            networkpolicies=tuple(networkpolicies),
            namespaces=tuple(namespaces),
        )

    def __hash__(self) -> int:
        # The objects are dicts (unhashable); a revision identifies the state anyway.
        return hash((self.cluster, self.revision, self.seed, self.cni))

    @property
    def flannel(self) -> bool:
        return self.cni.startswith("flannel")

    @property
    def calico(self) -> bool:
        return self.cni.startswith("calico")
