"""A cluster with its control plane on the manual clock: nothing moves until a test says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.bootstrap import Topology, create_cluster
from cluster.controlplane.controllers import replicaset as rsc
from cluster.controlplane.sim import ClusterSim


@pytest.fixture
def make_sim(db: None, owner: Any) -> Callable[..., ClusterSim]:
    def build(
        name: str = "sim", workers: int = 3, seed: int = 7, components: tuple[str, ...] | None = None, **topo: Any
    ) -> ClusterSim:
        topo.setdefault("system_workloads", False)
        cluster = create_cluster(name, owner, Topology(workers=workers, seed=seed, **topo))
        cluster.clock_paused = True
        cluster.save(update_fields=["clock_paused"])
        sim = ClusterSim(cluster) if components is None else ClusterSim(cluster, components)
        sim.run_until_idle()
        return sim

    return build


@pytest.fixture
def sim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim()


@pytest.fixture
def kube(sim: ClusterSim) -> ApiServer:
    """The API server of the simulated cluster, as a user would call it."""
    return ApiServer(sim.cluster, sim.cluster.owner)


def get(api: ApiServer, group: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
    resource = registry.by_kind(group, kind)
    assert resource is not None
    return api.get(resource, namespace, name)


def items(api: ApiServer, group: str, kind: str, namespace: str | None = None, **kw: Any) -> list[dict[str, Any]]:
    resource = registry.by_kind(group, kind)
    assert resource is not None
    listed = api.list(resource, namespace, **kw)["items"]
    return listed


def owned_revisions(api: ApiServer, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    """An apps workload's ControllerRevisions, oldest revision first (what kubectl rollout history lists)."""
    owner = get(api, "apps", kind, namespace, name)
    owned = [
        r
        for r in items(api, "apps", "ControllerRevision", namespace)
        if (rsc.controller_of(r) or {}).get("uid") == owner["metadata"]["uid"]
    ]
    return sorted(owned, key=lambda r: r["revision"])
