"""Node IPAM: pod ranges for nodes that join without one, never a live node's range."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.controlplane.controllers.nodeipam import CidrSet
from cluster.controlplane.sim import ClusterSim
from tests.controlplane.conftest import get

COMPONENTS = ("kube-controller-manager", "cloud-controller-manager")
NODE = registry.by_kind("", "Node")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def join(csim: ClusterSim, api: ApiServer, name: str, **spec: Any) -> dict[str, Any]:
    assert NODE is not None
    api.create(NODE, None, {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": spec})
    csim.run_until_idle()
    return get(api, "", "Node", None, name)


def test_bootstrap_ranges_are_kept_and_a_new_node_gets_the_next(csim: ClusterSim, api: ApiServer) -> None:
    assert get(api, "", "Node", None, "worker-3")["spec"]["podCIDR"] == "10.244.3.0/24"
    node = join(csim, api, "worker-4")
    assert node["spec"]["podCIDR"] == "10.244.4.0/24"
    assert node["spec"]["podCIDRs"] == ["10.244.4.0/24"]


def test_a_live_nodes_range_is_never_handed_out(csim: ClusterSim, api: ApiServer) -> None:
    join(csim, api, "manual", podCIDR="10.244.4.0/24", podCIDRs=["10.244.4.0/24"])
    assert join(csim, api, "worker-4")["spec"]["podCIDR"] == "10.244.5.0/24"


def test_released_ranges_come_back_round_robin(csim: ClusterSim, api: ApiServer) -> None:
    assert NODE is not None
    api.delete(NODE, None, "worker-2")
    csim.run_until_idle()
    # A freshly started allocator searches from the start: the first free range.
    assert join(csim, api, "worker-4")["spec"]["podCIDR"] == "10.244.2.0/24"
    # Then it searches on from its last allocation, so a range just released is not reused at once.
    assert join(csim, api, "worker-5")["spec"]["podCIDR"] == "10.244.4.0/24"
    api.delete(NODE, None, "worker-5")
    csim.run_until_idle()
    assert join(csim, api, "worker-6")["spec"]["podCIDR"] == "10.244.5.0/24"


def test_cidrset_rotates_and_exhausts() -> None:
    cidrs = CidrSet("10.244.0.0/22")
    cidrs.occupy("10.244.1.0/24")
    assert [cidrs.allocate_next() for _ in range(3)] == ["10.244.0.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    assert cidrs.allocate_next() is None
    cidrs.release("10.244.0.0/24")
    assert cidrs.allocate_next() == "10.244.0.0/24"
    # The service range is kept out when it overlaps the cluster CIDR.
    overlap = CidrSet("10.96.0.0/16")
    overlap.occupy("10.96.0.0/23")
    assert overlap.allocate_next() == "10.96.2.0/24"
