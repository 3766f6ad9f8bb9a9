"""The garbage collector: background, foreground and orphan propagation across kinds."""

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
CM = registry.by_kind("", "ConfigMap")
SECRET = registry.by_kind("", "Secret")
POD = registry.by_kind("", "Pod")
SVC = registry.by_kind("", "Service")
PVC = registry.by_kind("", "PersistentVolumeClaim")
DEPLOY = registry.by_kind("apps", "Deployment")
STS = registry.by_kind("apps", "StatefulSet")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def ref(obj: dict[str, Any], block: bool = False, controller: bool = False) -> dict[str, Any]:
    out = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
    }
    if controller:
        out["controller"] = True
    if block:
        out["blockOwnerDeletion"] = True
    return out


def exists(api: ApiServer, resource: registry.Resource | None, name: str, namespace: str | None = "default") -> bool:
    assert resource is not None
    try:
        api.get(resource, namespace, name)
    except StatusError as err:
        assert err.code == 404
        return False
    return True


def configmap(api: ApiServer, name: str, owners: list[dict[str, Any]] | None = None, **meta: Any) -> dict[str, Any]:
    assert CM is not None
    body: dict[str, Any] = {"metadata": {"name": name, **meta}}
    if owners:
        body["metadata"]["ownerReferences"] = owners
    return api.create(CM, "default", body).object


def secret(api: ApiServer, name: str, owners: list[dict[str, Any]]) -> dict[str, Any]:
    assert SECRET is not None
    return api.create(SECRET, "default", {"metadata": {"name": name, "ownerReferences": owners}}).object


def test_background_cascades_through_generations_and_kinds(csim: ClusterSim, api: ApiServer) -> None:
    root = configmap(api, "root")
    child = secret(api, "child", [ref(root, controller=True)])
    assert POD is not None
    pod = {
        "metadata": {"name": "grandchild", "ownerReferences": [ref(child, block=True, controller=True)]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    api.create(POD, "default", pod)
    csim.run_until_idle()
    assert exists(api, SECRET, "child") and exists(api, POD, "grandchild")
    assert CM is not None
    api.delete(CM, "default", "root", propagation="Background")
    csim.run_until_idle()
    assert not exists(api, SECRET, "child")
    assert not exists(api, POD, "grandchild")


def test_dependent_with_another_live_owner_only_loses_the_dangling_reference(csim: ClusterSim, api: ApiServer) -> None:
    a = configmap(api, "a")
    b = configmap(api, "b")
    shared = secret(api, "shared", [ref(a), ref(b)])
    csim.run_until_idle()
    assert CM is not None and SECRET is not None
    api.delete(CM, "default", "a")
    csim.run_until_idle()
    left = api.get(SECRET, "default", "shared")
    assert left["metadata"]["uid"] == shared["metadata"]["uid"]
    assert [r["name"] for r in left["metadata"]["ownerReferences"]] == ["b"]
    api.delete(CM, "default", "b")
    csim.run_until_idle()
    assert not exists(api, SECRET, "shared")


def test_owner_reference_with_wrong_uid_is_dangling(csim: ClusterSim, api: ApiServer) -> None:
    """An owner recreated under the same name is a different object: the dependent is collected."""
    old = configmap(api, "owner")
    assert CM is not None
    api.delete(CM, "default", "owner")
    configmap(api, "owner")
    secret(api, "stale", [ref(old)])
    csim.run_until_idle()
    assert not exists(api, SECRET, "stale")
    assert exists(api, CM, "owner")


def test_foreground_waits_for_blocking_dependents(csim: ClusterSim, api: ApiServer) -> None:
    owner = configmap(api, "owner")
    secret(api, "blocker", [ref(owner, block=True)])
    configmap(api, "held", [ref(owner, block=True)], finalizers=["example.com/hold"])
    secret(api, "bystander", [ref(owner)])
    csim.run_until_idle()
    assert CM is not None and SECRET is not None
    api.delete(CM, "default", "owner", propagation="Foreground")
    csim.run_until_idle()
    # Dependents are deleted first; the owner stays with its finalizer while "held" cannot go.
    live = api.get(CM, "default", "owner")
    assert live["metadata"]["deletionTimestamp"]
    assert live["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert not exists(api, SECRET, "blocker")
    assert not exists(api, SECRET, "bystander")
    assert api.get(CM, "default", "held")["metadata"]["deletionTimestamp"]
    # The hold is released: the dependent goes, then the owner.
    body = copy.deepcopy(api.get(CM, "default", "held"))
    body["metadata"]["finalizers"] = []
    api.update(CM, "default", "held", body)
    csim.run_until_idle()
    assert not exists(api, CM, "held")
    assert not exists(api, CM, "owner")


def test_orphan_keeps_dependents_without_the_reference(csim: ClusterSim, api: ApiServer) -> None:
    owner = configmap(api, "owner")
    other = configmap(api, "other")
    secret(api, "kept", [ref(owner, block=True, controller=True), ref(other)])
    csim.run_until_idle()
    assert CM is not None and SECRET is not None
    api.delete(CM, "default", "owner", propagation="Orphan")
    csim.run_until_idle()
    assert not exists(api, CM, "owner")
    kept = api.get(SECRET, "default", "kept")
    assert [r["name"] for r in kept["metadata"]["ownerReferences"]] == ["other"]


def test_service_owns_its_endpointslices(csim: ClusterSim, api: ApiServer) -> None:
    assert SVC is not None
    api.create(
        SVC, "default", {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    )
    csim.run_until_idle()
    assert items(api, "discovery.k8s.io", "EndpointSlice", "default", label_selector="kubernetes.io/service-name=web")
    api.delete(SVC, "default", "web")
    csim.run_until_idle()
    assert (
        items(api, "discovery.k8s.io", "EndpointSlice", "default", label_selector="kubernetes.io/service-name=web")
        == []
    )


def _deployment(api: ApiServer, name: str, replicas: int = 2) -> None:
    assert DEPLOY is not None
    labels = {"app": name}
    body = {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    }
    api.create(DEPLOY, "default", body)


def test_deployment_replicaset_pod_background(csim: ClusterSim, api: ApiServer) -> None:
    _deployment(api, "web")
    csim.run_until_idle()
    assert items(api, "apps", "ReplicaSet", "default", label_selector="app=web")
    assert len(items(api, "", "Pod", "default", label_selector="app=web")) == 2
    assert DEPLOY is not None
    api.delete(DEPLOY, "default", "web", propagation="Background")
    csim.run_until_idle()
    assert items(api, "apps", "ReplicaSet", "default", label_selector="app=web") == []
    assert items(api, "", "Pod", "default", label_selector="app=web") == []


def test_deployment_foreground_goes_last(csim: ClusterSim, api: ApiServer) -> None:
    _deployment(api, "fg", replicas=1)
    csim.run_until_idle()
    assert DEPLOY is not None and POD is not None
    [pod] = items(api, "", "Pod", "default", label_selector="app=fg")
    # Hold the pod, as a kubelet still stopping its containers would.
    held = copy.deepcopy(api.get(POD, "default", pod["metadata"]["name"]))
    held["metadata"]["finalizers"] = ["example.com/hold"]
    api.update(POD, "default", pod["metadata"]["name"], held)
    api.delete(DEPLOY, "default", "fg", propagation="Foreground")
    csim.run_until_idle()
    assert exists(api, DEPLOY, "fg")
    [rs] = items(api, "apps", "ReplicaSet", "default", label_selector="app=fg")
    assert rs["metadata"]["finalizers"] == ["foregroundDeletion"]
    released = copy.deepcopy(api.get(POD, "default", pod["metadata"]["name"]))
    released["metadata"]["finalizers"] = []
    api.update(POD, "default", pod["metadata"]["name"], released)
    csim.run_until_idle()
    assert items(api, "apps", "ReplicaSet", "default", label_selector="app=fg") == []
    assert not exists(api, DEPLOY, "fg")


def test_statefulset_pvc_retention_by_owner_reference(csim: ClusterSim, api: ApiServer) -> None:
    """With whenDeleted: Delete the StatefulSet controller owns the PVCs; the collector removes them."""
    assert STS is not None and PVC is not None
    sts = api.create(
        STS,
        "default",
        {
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 0,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "c", "image": "pg"}]},
                },
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
            },
        },
    ).object
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    api.create(
        PVC, "default", {"metadata": {"name": "data-db-0", "ownerReferences": [ref(sts, block=True)]}, "spec": claim}
    )
    api.create(PVC, "default", {"metadata": {"name": "data-db-1"}, "spec": claim})
    csim.run_until_idle()
    api.delete(STS, "default", "db")
    csim.run_until_idle()
    assert not exists(api, PVC, "data-db-0")
    assert exists(api, PVC, "data-db-1")
