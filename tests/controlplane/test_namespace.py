"""Namespace deletion: the namespace controller empties a Terminating namespace, then finalizes it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.errors import StatusError
from cluster.controlplane.sim import ClusterSim
from tests.controlplane.conftest import items

COMPONENTS = ("kube-controller-manager", "cloud-controller-manager")
NS = registry.by_kind("", "Namespace")
CM = registry.by_kind("", "ConfigMap")
POD = registry.by_kind("", "Pod")
SVC = registry.by_kind("", "Service")
SECRET = registry.by_kind("", "Secret")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def namespace(api: ApiServer, name: str) -> dict[str, Any] | None:
    assert NS is not None
    try:
        return api.get(NS, None, name)
    except StatusError as err:
        assert err.code == 404
        return None


def conditions(ns: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in ns["status"].get("conditions") or []}


def populate(csim: ClusterSim, api: ApiServer, name: str = "team") -> None:
    assert NS is not None and CM is not None and SVC is not None and SECRET is not None and POD is not None
    api.create(NS, None, {"metadata": {"name": name}})
    api.create(CM, name, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    api.create(SECRET, name, {"metadata": {"name": "token"}, "stringData": {"t": "x"}})
    api.create(SVC, name, {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    api.create(POD, name, {"metadata": {"name": "pending"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    csim.run_until_idle()


def test_delete_namespace_removes_content_then_namespace(csim: ClusterSim, api: ApiServer) -> None:
    populate(csim, api)
    assert items(api, "", "ServiceAccount", "team")  # created by the serviceaccount controller
    assert NS is not None
    api.delete(NS, None, "team")
    ns = namespace(api, "team")
    assert ns is not None and ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    # Upstream waits 5 s after seeing the deletion before it starts.
    csim.advance(4)
    assert items(api, "", "ConfigMap", "team")
    csim.advance(1)
    assert namespace(api, "team") is None
    for kind in ("ConfigMap", "Secret", "Service", "Pod", "ServiceAccount", "Endpoints"):
        assert items(api, "", kind, "team") == []
    assert items(api, "discovery.k8s.io", "EndpointSlice", "team") == []
    # Other namespaces are untouched.
    assert items(api, "", "ServiceAccount", "default")


def test_terminating_pod_holds_namespace_with_conditions(csim: ClusterSim, api: ApiServer) -> None:
    populate(csim, api)
    assert POD is not None and NS is not None
    api.create(
        POD, "team", {"metadata": {"name": "running"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    )
    api.bind("team", "running", {"target": {"name": "worker-1"}})
    api.delete(NS, None, "team")
    csim.advance(5)
    ns = namespace(api, "team")
    assert ns is not None
    pod = api.get(POD, "team", "running")
    assert pod["metadata"]["deletionTimestamp"]  # graceful: waits for the (absent) kubelet
    conds = conditions(ns)
    assert conds["NamespaceDeletionDiscoveryFailure"] == (
        "False",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    )
    assert conds["NamespaceDeletionGroupVersionParsingFailure"] == (
        "False",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    )
    assert conds["NamespaceDeletionContentFailure"] == (
        "False",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    )
    assert conds["NamespaceContentRemaining"] == (
        "True",
        "SomeResourcesRemain",
        "Some resources are remaining: pods. has 1 resource instances",
    )
    assert conds["NamespaceFinalizersRemaining"] == ("False", "ContentRemoved", "All content successfully removed")
    # Without a kubelet the pod stays Terminating, and so does the namespace.
    csim.advance(60)
    assert namespace(api, "team") is not None
    # The kubelet finishes the pod; the controller looks again within estimate/2+1 = 16 s.
    api.delete(POD, "team", "running", grace_period=0)
    csim.advance(16)
    assert namespace(api, "team") is None


def test_finalizer_on_content_is_reported(csim: ClusterSim, api: ApiServer) -> None:
    populate(csim, api)
    assert CM is not None and NS is not None
    held = api.create(CM, "team", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}).object
    api.delete(NS, None, "team")
    csim.advance(6)
    ns = namespace(api, "team")
    assert ns is not None
    conds = conditions(ns)
    assert conds["NamespaceFinalizersRemaining"] == (
        "True",
        "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
    )
    assert conds["NamespaceContentRemaining"][2] == "Some resources are remaining: configmaps. has 1 resource instances"
    released = copy.deepcopy(api.get(CM, "team", "held"))
    assert released["metadata"]["uid"] == held["metadata"]["uid"]
    released["metadata"]["finalizers"] = []
    api.update(CM, "team", "held", released)
    # Objects with finalizers: the controller retries after 15/2+1 = 8 s.
    csim.advance(8)
    assert namespace(api, "team") is None


def test_namespace_with_extra_finalizer_waits(csim: ClusterSim, api: ApiServer) -> None:
    """Only the ``kubernetes`` finalizer is ours; another one keeps the empty namespace."""
    assert NS is not None
    api.create(NS, None, {"metadata": {"name": "extra"}, "spec": {"finalizers": ["kubernetes", "example.com/x"]}})
    csim.run_until_idle()
    api.delete(NS, None, "extra")
    csim.advance(6)
    ns = namespace(api, "extra")
    assert ns is not None and ns["spec"]["finalizers"] == ["example.com/x"]
    ns = copy.deepcopy(ns)
    ns["spec"]["finalizers"] = []
    api.update(NS, None, "extra", ns, subresource="finalize")
    assert namespace(api, "extra") is None
