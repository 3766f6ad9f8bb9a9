"""The pod garbage collector and the root-ca-cert-publisher."""

from __future__ import annotations

from cluster.api import registry
from cluster.api.errors import StatusError
from tests.controlplane.conftest import items

POD = registry.by_kind("", "Pod")
NODE = registry.by_kind("", "Node")
NS = registry.by_kind("", "Namespace")


def test_pods_of_a_deleted_node_are_collected_after_quarantine(make_sim) -> None:
    sim = make_sim(components=("kube-controller-manager",), workers=2)
    kube = sim.ctx.api
    kube.create(
        POD, "default", {"metadata": {"name": "orphan"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    )
    kube.bind("default", "orphan", {"target": {"name": "worker-2"}})
    kube.delete(NODE, None, "worker-2")
    sim.advance(30.0)
    assert [p["metadata"]["name"] for p in items(kube, "", "Pod", "default")] == ["orphan"]
    sim.advance(15.0)
    assert items(kube, "", "Pod", "default") == []


def test_every_namespace_gets_kube_root_ca(make_sim) -> None:
    sim = make_sim(components=("kube-controller-manager",), workers=1)
    kube = sim.ctx.api
    kube.create(NS, None, {"metadata": {"name": "team"}})
    sim.run_until_idle()
    names = [c["metadata"]["name"] for c in items(kube, "", "ConfigMap", "team")]
    assert names == ["kube-root-ca.crt"]
    assert "kube-root-ca.crt" in [c["metadata"]["name"] for c in items(kube, "", "ConfigMap", "kube-system")]


def test_status_update_of_a_terminating_pod_keeps_it(api) -> None:
    """Only a delete with grace 0 (or none) removes a finalizer-less object on update (ShouldDeleteDuringUpdate)."""
    api.create(POD, "default", {"metadata": {"name": "t"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    api.bind("default", "t", {"target": {"name": "worker-1"}})
    pod = api.delete(POD, "default", "t").object
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    pod["status"]["phase"] = "Running"
    api.update(POD, "default", "t", pod, subresource="status")
    assert api.get(POD, "default", "t")["status"]["phase"] == "Running"
    api.delete(POD, "default", "t", grace_period=0)
    try:
        api.get(POD, "default", "t")
        raise AssertionError("the pod should be gone")
    except StatusError as err:
        assert err.code == 404


def test_claim_without_class_gets_the_default_storage_class(owner) -> None:
    from cluster.api.apiserver import ApiServer
    from cluster.bootstrap import Topology, create_cluster

    cluster = create_cluster("sc", owner, Topology(workers=1))
    api = ApiServer(cluster, owner)
    pvc = registry.by_kind("", "PersistentVolumeClaim")
    body = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    assert api.create(pvc, "default", body).object["spec"]["storageClassName"] == "standard"


def test_daemonset_template_generation_annotation(api) -> None:
    ds = registry.by_kind("apps", "DaemonSet")
    body = {
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    created = api.create(ds, "default", body).object
    assert created["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "1"
    created["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.36"
    updated = api.update(ds, "default", "agent", created).object
    assert updated["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
