"""The PersistentVolume controller: static binding, dynamic provisioning, and reclaiming."""

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
PV = registry.by_kind("", "PersistentVolume")
PVC = registry.by_kind("", "PersistentVolumeClaim")
SC = registry.by_kind("storage.k8s.io", "StorageClass")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def volume(
    api: ApiServer,
    name: str,
    size: str,
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> None:
    assert PV is not None
    body = {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(modes),
            "hostPath": {"path": f"/data/{name}"},
            **spec,
        },
    }
    api.create(PV, None, body)


def claim(
    api: ApiServer, name: str, size: str, modes: tuple[str, ...] = ("ReadWriteOnce",), **spec: Any
) -> dict[str, Any]:
    assert PVC is not None
    body = {
        "metadata": {"name": name},
        "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec},
    }
    return api.create(PVC, "default", body).object


def storage_class(api: ApiServer, name: str, provisioner: str, mode: str = "Immediate", default: bool = False) -> None:
    assert SC is not None
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    api.create(SC, None, {"metadata": meta, "provisioner": provisioner, "volumeBindingMode": mode})


def pvc(api: ApiServer, name: str) -> dict[str, Any]:
    assert PVC is not None
    return api.get(PVC, "default", name)


def pv(api: ApiServer, name: str) -> dict[str, Any] | None:
    assert PV is not None
    try:
        return api.get(PV, None, name)
    except StatusError:
        return None


def events_for(api: ApiServer, name: str) -> list[tuple[str, str, str]]:
    return [
        (e["reason"], e["message"], e["source"]["component"])
        for e in items(api, "", "Event", "default")
        if e["involvedObject"]["name"] == name
    ]


def test_binds_the_smallest_volume_that_fits(csim: ClusterSim, api: ApiServer) -> None:
    volume(api, "pv-small", "500Mi")
    volume(api, "pv-1g", "1Gi")
    volume(api, "pv-10g", "10Gi")
    csim.run_until_idle()
    assert pv(api, "pv-1g")["status"]["phase"] == "Available"
    made = claim(api, "data", "800Mi", storageClassName="")
    csim.run_until_idle()
    c = pvc(api, "data")
    assert c["status"]["phase"] == "Bound"
    assert c["spec"]["volumeName"] == "pv-1g"
    assert c["status"]["capacity"] == {"storage": "1Gi"}
    assert c["status"]["accessModes"] == ["ReadWriteOnce"]
    assert c["metadata"]["annotations"] == {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
    }
    v = pv(api, "pv-1g")
    assert v["status"]["phase"] == "Bound"
    assert v["metadata"]["annotations"] == {"pv.kubernetes.io/bound-by-controller": "yes"}
    ref = v["spec"]["claimRef"]
    assert (ref["kind"], ref["namespace"], ref["name"], ref["uid"], ref["apiVersion"]) == (
        "PersistentVolumeClaim",
        "default",
        "data",
        made["metadata"]["uid"],
        "v1",
    )
    assert pv(api, "pv-small")["status"]["phase"] == "Available"
    assert pv(api, "pv-10g")["status"]["phase"] == "Available"


def test_access_modes_class_mode_and_selector_must_match(csim: ClusterSim, api: ApiServer) -> None:
    volume(api, "rwx-1g", "1Gi", ("ReadWriteOnce", "ReadWriteMany"))
    volume(api, "rwo-5g", "5Gi")
    volume(api, "fast-1g", "1Gi", storageClassName="fast")
    volume(api, "block-1g", "1Gi", volumeMode="Block")
    volume(api, "labelled-8g", "8Gi", labels={"tier": "gold"})
    csim.run_until_idle()
    # The smallest superset of access modes is searched first, even if its volume is bigger.
    claim(api, "rwo", "1Gi", storageClassName="")
    # Only a volume offering ReadWriteMany will do.
    claim(api, "rwx", "1Gi", ("ReadWriteMany",), storageClassName="")
    claim(api, "fast", "1Gi", storageClassName="fast")
    claim(api, "block", "1Gi", storageClassName="", volumeMode="Block")
    claim(api, "gold", "1Gi", storageClassName="", selector={"matchLabels": {"tier": "gold"}})
    csim.run_until_idle()
    assert {n: pvc(api, n)["spec"].get("volumeName") for n in ("rwo", "rwx", "fast", "block", "gold")} == {
        "rwo": "rwo-5g",
        "rwx": "rwx-1g",
        "fast": "fast-1g",
        "block": "block-1g",
        "gold": "labelled-8g",
    }


def test_no_volume_and_no_class_stays_pending(csim: ClusterSim, api: ApiServer) -> None:
    claim(api, "lonely", "1Gi", storageClassName="")
    csim.run_until_idle()
    assert pvc(api, "lonely")["status"]["phase"] == "Pending"
    assert (
        "FailedBinding",
        "no persistent volumes available for this claim and no storage class is set",
        "persistentvolume-controller",
    ) in events_for(api, "lonely")
    # A volume appearing later is picked up by the next sync (15 s period).
    volume(api, "late", "2Gi")
    csim.advance(15)
    assert pvc(api, "lonely")["status"]["phase"] == "Bound"


def test_pre_bound_claim_and_released_volume_with_retain(csim: ClusterSim, api: ApiServer) -> None:
    volume(api, "wanted", "1Gi")
    volume(api, "bigger", "1Gi")
    csim.run_until_idle()
    claim(api, "mine", "1Gi", storageClassName="", volumeName="wanted")
    csim.run_until_idle()
    c = pvc(api, "mine")
    assert c["status"]["phase"] == "Bound" and c["spec"]["volumeName"] == "wanted"
    # The user chose the volume: the claim gets bind-completed only.
    assert c["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes"}
    assert PVC is not None
    api.delete(PVC, "default", "mine")
    csim.run_until_idle()
    v = pv(api, "wanted")
    assert v["status"]["phase"] == "Released"
    assert v["spec"]["claimRef"]["name"] == "mine"  # Retain keeps the reference (and the data)
    assert v["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    # A new claim cannot have a Released volume.
    claim(api, "next", "1Gi", storageClassName="")
    csim.run_until_idle()
    assert pvc(api, "next")["spec"]["volumeName"] == "bigger"


def test_dynamic_provisioning_immediate_with_default_class(csim: ClusterSim, api: ApiServer) -> None:
    storage_class(api, "fast", "example.com/fast", default=True)
    made = claim(api, "data", "3Gi")
    csim.run_until_idle()
    c = pvc(api, "data")
    assert c["spec"]["storageClassName"] == "fast"  # retroactive default class
    name = f"pvc-{made['metadata']['uid']}"
    assert c["status"]["phase"] == "Bound" and c["spec"]["volumeName"] == name
    assert c["metadata"]["annotations"] == {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.beta.kubernetes.io/storage-provisioner": "example.com/fast",
        "volume.kubernetes.io/storage-provisioner": "example.com/fast",
    }
    v = pv(api, name)
    assert v["metadata"]["annotations"] == {"pv.kubernetes.io/provisioned-by": "example.com/fast"}
    assert v["spec"]["capacity"] == {"storage": "3Gi"}
    assert v["spec"]["storageClassName"] == "fast"
    assert v["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert v["spec"]["claimRef"]["uid"] == made["metadata"]["uid"]
    assert v["status"]["phase"] == "Bound"
    reasons = sorted(r for r, _, _ in events_for(api, "data"))
    assert reasons == ["ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"]
    msgs = {r: (m, s) for r, m, s in events_for(api, "data")}
    assert msgs["ExternalProvisioning"][0].startswith(
        "Waiting for a volume to be created either by the external provisioner 'example.com/fast'"
    )
    assert msgs["Provisioning"][0] == 'External provisioner is provisioning volume for claim "default/data"'
    assert msgs["ProvisioningSucceeded"][0] == f"Successfully provisioned volume {name}"
    assert msgs["ProvisioningSucceeded"][1].startswith("example.com/fast_")
    # Reclaim policy Delete: the claim goes, and so does the volume.
    assert PVC is not None
    api.delete(PVC, "default", "data")
    csim.run_until_idle()
    assert pv(api, name) is None


def test_wait_for_first_consumer_provisions_on_the_selected_node(csim: ClusterSim, api: ApiServer) -> None:
    storage_class(api, "standard", "rancher.io/local-path", "WaitForFirstConsumer", default=True)
    made = claim(api, "data", "1Gi", storageClassName="standard")
    csim.run_until_idle()
    assert pvc(api, "data")["status"]["phase"] == "Pending"
    assert items(api, "", "PersistentVolume", None) == []
    assert (
        "WaitForFirstConsumer",
        "waiting for first consumer to be created before binding",
        "persistentvolume-controller",
    ) in events_for(api, "data")
    # The scheduler picked worker-2 for the pod using the claim.
    assert PVC is not None
    api.patch(
        PVC,
        "default",
        "data",
        "application/merge-patch+json",
        {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "worker-2"}}},
    )
    csim.run_until_idle()
    name = f"pvc-{made['metadata']['uid']}"
    v = pv(api, name)
    assert v is not None
    terms = v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-2"]}]}
    ]
    assert v["metadata"]["annotations"]["local.path.provisioner/selected-node"] == "worker-2"
    assert v["spec"]["hostPath"]["path"] == f"/var/local-path-provisioner/{name}_default_data"
    c = pvc(api, "data")
    assert c["status"]["phase"] == "Bound" and c["spec"]["volumeName"] == name


def test_claim_loses_its_volume(csim: ClusterSim, api: ApiServer) -> None:
    volume(api, "fragile", "1Gi")
    claim(api, "data", "1Gi", storageClassName="")
    csim.run_until_idle()
    assert PV is not None
    api.delete(PV, None, "fragile")
    csim.run_until_idle()
    c = pvc(api, "data")
    assert c["status"]["phase"] == "Lost"
    assert (
        "ClaimLost",
        "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        "persistentvolume-controller",
    ) in events_for(api, "data")


def test_static_volume_with_delete_policy_fails_to_delete(csim: ClusterSim, api: ApiServer) -> None:
    """No deleter plugin for a hand-made hostPath volume: upstream marks it Failed."""
    volume(api, "manual", "1Gi", persistentVolumeReclaimPolicy="Delete")
    claim(api, "data", "1Gi", storageClassName="")
    csim.run_until_idle()
    assert PVC is not None
    api.delete(PVC, "default", "data")
    csim.run_until_idle()
    v = pv(api, "manual")
    assert v["status"]["phase"] == "Failed"
    assert (
        v["status"]["message"]
        == 'error getting deleter volume plugin for volume "manual": no deletable volume plugin matched'
    )
    assert copy.deepcopy(v["status"]).get("lastPhaseTransitionTime")


def test_scheduler_selects_the_node_of_a_wait_for_first_consumer_claim(make_sim: Callable[..., ClusterSim]) -> None:
    """Scheduling the first consumer annotates the claim; the provisioner creates the volume on that node."""
    sim = make_sim(components=("kube-controller-manager", "kube-scheduler", "kubelet"))
    api = ApiServer(sim.cluster, sim.cluster.owner)
    storage_class(api, "standard", "rancher.io/local-path", "WaitForFirstConsumer", default=True)
    claim(api, "data", "1Gi")
    sim.run_until_idle()
    assert pvc(api, "data")["status"]["phase"] == "Pending"
    pod = {
        "metadata": {"name": "db"},
        "spec": {
            "containers": [{"name": "db", "image": "nginx:1.27"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }
    POD = registry.by_kind("", "Pod")
    assert POD is not None
    api.create(POD, "default", pod)
    assert sim.run_until(lambda: api.get(POD, "default", "db")["status"].get("phase") == "Running", 120)
    node = api.get(POD, "default", "db")["spec"]["nodeName"]
    c = pvc(api, "data")
    assert c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    assert c["status"]["phase"] == "Bound"
    v = pv(api, c["spec"]["volumeName"])
    assert v is not None
    terms = v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == [node]
