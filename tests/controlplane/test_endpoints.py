"""Endpoints and EndpointSlices follow the pods a Service selects, with their readiness and ports."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.errors import StatusError
from cluster.controlplane.controllers import endpointslice
from cluster.controlplane.sim import ClusterSim
from tests.controlplane.conftest import get, items

COMPONENTS = ("kube-controller-manager", "cloud-controller-manager")
POD = registry.by_kind("", "Pod")
SVC = registry.by_kind("", "Service")
NODE = registry.by_kind("", "Node")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def make_pod(
    csim: ClusterSim,
    api: ApiServer,
    name: str,
    ip: str,
    node: str = "worker-1",
    ready: bool = True,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> None:
    """A pod the scheduler bound and the kubelet started, reporting ``ready``."""
    assert POD is not None
    containers = spec.pop(
        "containers",
        [{"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 8080}]}],
    )
    body = {
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {"containers": containers, **spec},
    }
    api.create(POD, "default", body)
    api.bind("default", name, {"target": {"name": node}})
    set_ready(csim, api, name, ready, ip)


def set_ready(csim: ClusterSim, api: ApiServer, name: str, ready: bool, ip: str | None = None) -> None:
    assert POD is not None
    pod = copy.deepcopy(api.get(POD, "default", name))
    now = csim.ctx.timestamp()
    status = pod["status"]
    status["phase"] = "Running"
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}], hostIP="172.18.0.3")
    flag = "True" if ready else "False"
    status["conditions"] = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": now},
    ]
    api.update(POD, "default", name, pod, subresource="status")
    csim.run_until_idle()


def make_service(csim: ClusterSim, api: ApiServer, name: str = "web", **spec: Any) -> dict[str, Any]:
    assert SVC is not None
    body = {
        "metadata": {"name": name, "namespace": "default", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec},
    }
    svc = api.create(SVC, "default", body).object
    csim.run_until_idle()
    return svc


def endpoints(api: ApiServer, name: str = "web") -> dict[str, Any]:
    return get(api, "", "Endpoints", "default", name)


def slices(api: ApiServer, service: str = "web") -> list[dict[str, Any]]:
    return items(
        api, "discovery.k8s.io", "EndpointSlice", "default", label_selector=f"kubernetes.io/service-name={service}"
    )


def test_ready_and_not_ready_addresses(csim: ClusterSim, api: ApiServer) -> None:
    make_pod(csim, api, "web-1", "10.244.1.10", "worker-1")
    make_pod(csim, api, "web-2", "10.244.2.10", "worker-2", ready=False)
    make_pod(csim, api, "other", "10.244.3.10", "worker-3", labels={"app": "db"})
    svc = make_service(csim, api)
    ep = endpoints(api)
    assert ep["metadata"]["labels"] == {"tier": "front"}
    assert (
        ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
        == svc["metadata"]["creationTimestamp"]
    )
    [subset] = ep["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.1.10"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.2.10"]
    addr = subset["addresses"][0]
    assert addr["nodeName"] == "worker-1"
    assert addr["targetRef"]["kind"] == "Pod" and addr["targetRef"]["name"] == "web-1"
    assert addr["targetRef"]["uid"] == api.get(POD, "default", "web-1")["metadata"]["uid"]
    # The named targetPort resolved to the container port.
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

    # web-2 turns Ready: it moves over.
    set_ready(csim, api, "web-2", True)
    [subset] = endpoints(api)["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.1.10", "10.244.2.10"]
    assert "notReadyAddresses" not in subset

    # A deleted pod disappears; the Service going takes its Endpoints along.
    assert POD is not None and SVC is not None
    api.delete(POD, "default", "web-1", grace_period=0)
    csim.run_until_idle()
    assert [a["ip"] for a in endpoints(api)["subsets"][0]["addresses"]] == ["10.244.2.10"]
    api.delete(SVC, "default", "web")
    csim.run_until_idle()
    with pytest.raises(StatusError):
        endpoints(api)
    assert slices(api) == []  # the garbage collector removed the owned slices


def test_numeric_target_port_and_unresolvable_name(csim: ClusterSim, api: ApiServer) -> None:
    make_pod(csim, api, "web-1", "10.244.1.10")
    make_pod(
        csim,
        api,
        "web-2",
        "10.244.2.10",
        "worker-2",
        containers=[{"name": "web", "image": "nginx:1.27", "ports": [{"name": "metrics", "containerPort": 9090}]}],
    )
    make_service(
        csim,
        api,
        ports=[
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "raw", "port": 81, "targetPort": 8081, "protocol": "TCP"},
        ],
    )
    subsets = endpoints(api)["subsets"]
    # web-2 has no "http" port: RepackSubsets groups each port with the addresses offering it.
    by_ports = {tuple(p["name"] for p in s["ports"]): [a["ip"] for a in s["addresses"]] for s in subsets}
    assert by_ports == {("http",): ["10.244.1.10"], ("raw",): ["10.244.1.10", "10.244.2.10"]}
    raw = next(p for s in subsets for p in s["ports"] if p["name"] == "raw")
    assert raw["port"] == 8081
    # Slices group endpoints by port set the same way.
    groups = {tuple(sorted(p["name"] for p in s["ports"])): s for s in slices(api)}
    assert set(groups) == {("http", "raw"), ("raw",)}


def test_endpointslice_shape(csim: ClusterSim, api: ApiServer) -> None:
    assert NODE is not None
    api.patch(
        NODE,
        None,
        "worker-1",
        "application/merge-patch+json",
        {"metadata": {"labels": {"topology.kubernetes.io/zone": "a"}}},
    )
    make_pod(csim, api, "web-1", "10.244.1.10", "worker-1")
    make_pod(csim, api, "web-2", "10.244.2.10", "worker-2", ready=False)
    svc = make_service(csim, api)
    [es] = slices(api)
    meta = es["metadata"]
    assert meta["name"].startswith("web-") and len(meta["name"]) == len("web-") + 5
    assert meta["generateName"] == "web-"
    assert meta["labels"] == {
        "tier": "front",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": svc["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    eps = {e["targetRef"]["name"]: e for e in es["endpoints"]}
    assert eps["web-1"]["addresses"] == ["10.244.1.10"]
    assert eps["web-1"]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert eps["web-1"]["nodeName"] == "worker-1"
    assert eps["web-1"]["zone"] == "a"
    assert "zone" not in eps["web-2"]
    assert eps["web-2"]["conditions"] == {"ready": False, "serving": False, "terminating": False}

    # A terminating pod stays in the slice (not in Endpoints), flagged terminating.
    assert POD is not None
    api.delete(POD, "default", "web-1")
    csim.run_until_idle()
    [es] = slices(api)
    eps = {e["targetRef"]["name"]: e for e in es["endpoints"]}
    assert eps["web-1"]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert "addresses" not in endpoints(api)["subsets"][0]


def test_service_without_pods_gets_placeholder_slice(csim: ClusterSim, api: ApiServer) -> None:
    make_service(csim, api)
    [es] = slices(api)
    assert not es.get("endpoints")
    assert not es.get("ports")
    assert "subsets" not in endpoints(api)
    # The first pod reuses the placeholder instead of creating another slice.
    make_pod(csim, api, "web-1", "10.244.1.10")
    [after] = slices(api)
    assert after["metadata"]["name"] == es["metadata"]["name"]
    assert [e["targetRef"]["name"] for e in after["endpoints"]] == ["web-1"]


def test_headless_statefulset_hostnames(csim: ClusterSim, api: ApiServer) -> None:
    for i in range(2):
        make_pod(
            csim,
            api,
            f"db-{i}",
            f"10.244.1.{20 + i}",
            labels={"app": "db"},
            hostname=f"db-{i}",
            subdomain="db",
        )
    make_service(csim, api, "db", clusterIP="None", selector={"app": "db"}, ports=[{"name": "sql", "port": 5432}])
    ep = endpoints(api, "db")
    assert ep["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert [(a["ip"], a["hostname"]) for a in ep["subsets"][0]["addresses"]] == [
        ("10.244.1.20", "db-0"),
        ("10.244.1.21", "db-1"),
    ]
    [es] = slices(api, "db")
    assert es["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert sorted(e["hostname"] for e in es["endpoints"]) == ["db-0", "db-1"]


def test_service_without_selector_is_left_alone(csim: ClusterSim, api: ApiServer) -> None:
    make_pod(csim, api, "web-1", "10.244.1.10")
    make_service(csim, api, "external", selector=None)
    with pytest.raises(StatusError):
        endpoints(api, "external")
    assert slices(api, "external") == []


def test_slices_hold_at_most_max_endpoints(csim: ClusterSim, api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpointslice.MAX_ENDPOINTS_PER_SLICE == 100
    ctrl = next(c for c in csim.all_controllers() if c.name == "endpointslice")
    monkeypatch.setattr(ctrl, "max_endpoints", 3)
    for i in range(7):
        make_pod(csim, api, f"web-{i}", f"10.244.1.{10 + i}")
    make_service(csim, api)
    sizes = sorted(len(s["endpoints"]) for s in slices(api))
    assert sizes == [1, 3, 3]
    assert len(endpoints(api)["subsets"][0]["addresses"]) == 7
    # Removing pods empties and deletes slices rather than leaving holes everywhere.
    assert POD is not None
    for i in range(4):
        api.delete(POD, "default", f"web-{i}", grace_period=0)
    csim.run_until_idle()
    assert sum(len(s["endpoints"]) for s in slices(api)) == 3


def test_kube_dns_endpoints_exist(csim: ClusterSim, api: ApiServer) -> None:
    ep = get(api, "", "Endpoints", "kube-system", "kube-dns")
    assert ep["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert items(api, "discovery.k8s.io", "EndpointSlice", "kube-system")


def test_a_pod_relabelled_out_of_a_service_leaves_its_endpoints(csim: ClusterSim, api: ApiServer) -> None:
    """A label change enqueues the Services of the old pod as well as the new one's (upstream's
    GetServicesToUpdateOnPodChange); an update that keeps the labels asks only about the new pod."""
    from cluster.controlplane.controllers.endpoints import services_for_pod_change

    make_service(csim, api)
    make_service(csim, api, "db", selector={"app": "db"})
    make_pod(csim, api, "web-1", "10.244.1.10", "worker-1")
    assert [a["ip"] for a in endpoints(api)["subsets"][0]["addresses"]] == ["10.244.1.10"]
    assert POD is not None
    pod = copy.deepcopy(api.get(POD, "default", "web-1"))
    moved = copy.deepcopy(pod)
    moved["metadata"]["labels"] = {"app": "db"}
    assert services_for_pod_change(csim.ctx, pod, moved) == ["default/db", "default/web"]
    assert services_for_pod_change(csim.ctx, pod, pod) == ["default/web"]
    assert services_for_pod_change(csim.ctx, None, moved) == ["default/db"]
    assert services_for_pod_change(csim.ctx, pod, None) == ["default/web"]

    api.update(POD, "default", "web-1", moved)
    csim.run_until_idle()
    assert "subsets" not in endpoints(api) or endpoints(api)["subsets"] == []
    assert [a["ip"] for a in endpoints(api, "db")["subsets"][0]["addresses"]] == ["10.244.1.10"]
    assert [e["addresses"] for s in slices(api) for e in s.get("endpoints") or []] == []
    assert [e["addresses"] for s in slices(api, "db") for e in s["endpoints"]] == [["10.244.1.10"]]
