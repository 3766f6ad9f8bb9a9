"""cloud-controller-manager: LoadBalancer Services get, keep and give back addresses from the pool."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.errors import StatusError
from cluster.controlplane import cloud
from cluster.controlplane.sim import ClusterSim
from tests.controlplane.conftest import items

COMPONENTS = ("kube-controller-manager", "cloud-controller-manager")
SVC = registry.by_kind("", "Service")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def lb(csim: ClusterSim, api: ApiServer, name: str, **spec: Any) -> dict[str, Any]:
    assert SVC is not None
    body = {
        "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }
    api.create(SVC, "default", body)
    csim.run_until_idle()
    return api.get(SVC, "default", name)


def external_ip(svc: dict[str, Any]) -> str | None:
    ingress = (svc["status"].get("loadBalancer") or {}).get("ingress") or []
    return ingress[0]["ip"] if ingress else None


def reasons(api: ApiServer, name: str) -> list[str]:
    return sorted(
        e["reason"]
        for e in items(api, "", "Event", "default")
        if e["involvedObject"]["name"] == name and e["source"]["component"] == "service-controller"
    )


def test_load_balancer_gets_first_free_address(csim: ClusterSim, api: ApiServer) -> None:
    assert cloud.DEFAULT_POOL == "172.18.255.200-172.18.255.250"
    first = lb(csim, api, "web")
    assert first["status"]["loadBalancer"] == {"ingress": [{"ip": "172.18.255.200", "ipMode": "VIP"}]}
    assert first["metadata"]["finalizers"] == ["service.kubernetes.io/load-balancer-cleanup"]
    assert first["spec"]["ports"][0]["nodePort"]
    assert reasons(api, "web") == ["EnsuredLoadBalancer", "EnsuringLoadBalancer"]
    assert external_ip(lb(csim, api, "api")) == "172.18.255.201"
    # Nothing more happens on later syncs.
    csim.advance(600)
    assert reasons(api, "web") == ["EnsuredLoadBalancer", "EnsuringLoadBalancer"]
    # A change to what the load balancer is built from ensures it again, keeping the address.
    assert SVC is not None
    api.patch(SVC, "default", "web", "application/merge-patch+json", {"spec": {"sessionAffinity": "ClientIP"}})
    csim.run_until_idle()
    assert external_ip(api.get(SVC, "default", "web")) == "172.18.255.200"
    counts = {
        e["reason"]: e["count"]
        for e in items(api, "", "Event", "default")
        if e["involvedObject"]["name"] == "web" and e["source"]["component"] == "service-controller"
    }
    assert counts == {"EnsuringLoadBalancer": 2, "EnsuredLoadBalancer": 2}


def test_delete_releases_the_address(csim: ClusterSim, api: ApiServer) -> None:
    lb(csim, api, "web")
    lb(csim, api, "api")
    assert SVC is not None
    api.delete(SVC, "default", "web")
    # The finalizer holds the Service until the load balancer is gone.
    assert api.get(SVC, "default", "web")["metadata"]["deletionTimestamp"]
    csim.run_until_idle()
    with pytest.raises(StatusError):
        api.get(SVC, "default", "web")
    assert "DeletedLoadBalancer" in reasons(api, "web")
    assert external_ip(lb(csim, api, "next")) == "172.18.255.200"


def test_type_change_releases_the_address(csim: ClusterSim, api: ApiServer) -> None:
    lb(csim, api, "web")
    assert SVC is not None
    svc = copy.deepcopy(api.get(SVC, "default", "web"))
    svc["spec"]["type"] = "ClusterIP"
    for port in svc["spec"]["ports"]:
        port.pop("nodePort", None)
    svc["spec"].pop("externalTrafficPolicy", None)
    svc["spec"].pop("allocateLoadBalancerNodePorts", None)
    api.update(SVC, "default", "web", svc)
    csim.run_until_idle()
    now = api.get(SVC, "default", "web")
    assert external_ip(now) is None
    assert not now["metadata"].get("finalizers")
    assert {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= set(reasons(api, "web"))
    assert external_ip(lb(csim, api, "other")) == "172.18.255.200"


def test_requested_ip_and_other_classes(csim: ClusterSim, api: ApiServer) -> None:
    assert external_ip(lb(csim, api, "pinned", loadBalancerIP="172.18.255.240")) == "172.18.255.240"
    outside = lb(csim, api, "outside", loadBalancerIP="10.0.0.1")
    assert external_ip(outside) is None
    failed = [
        e["message"]
        for e in items(api, "", "Event", "default")
        if e["involvedObject"]["name"] == "outside" and e["reason"] == "SyncLoadBalancerFailed"
    ]
    assert failed == [
        "Error syncing load balancer: failed to ensure load balancer: "
        "requested IP 10.0.0.1 is not in the pool 172.18.255.200-172.18.255.250"
    ]
    # Another implementation's class is none of this controller's business.
    other = lb(csim, api, "metal", loadBalancerClass="example.com/lb")
    assert external_ip(other) is None and not other["metadata"].get("finalizers")


def test_pool_from_settings_and_exhaustion(csim: ClusterSim, api: ApiServer, settings: Any) -> None:
    settings.KUBEGLASS = {**settings.KUBEGLASS, "LOADBALANCER_POOL": "192.168.50.10-192.168.50.11"}
    assert external_ip(lb(csim, api, "a")) == "192.168.50.10"
    assert external_ip(lb(csim, api, "b")) == "192.168.50.11"
    assert external_ip(lb(csim, api, "c")) is None  # EXTERNAL-IP <pending>
    assert "SyncLoadBalancerFailed" in reasons(api, "c")
    assert SVC is not None
    api.delete(SVC, "default", "a")
    csim.run_until_idle()
    # The retry (exponential back-off from 5 s) picks up the freed address.
    csim.advance(10)
    assert external_ip(api.get(SVC, "default", "c")) == "192.168.50.10"
