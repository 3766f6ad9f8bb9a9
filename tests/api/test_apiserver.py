"""The API server pipeline, called in-process as the control loops call it."""

from __future__ import annotations

import copy
import ipaddress

import pytest

from cluster import etcd
from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options
from cluster.api.errors import StatusError
from cluster.models import TraceStep

DEPLOY = registry.by_kind("apps", "Deployment")
POD = registry.by_kind("", "Pod")
CM = registry.by_kind("", "ConfigMap")
SVC = registry.by_kind("", "Service")
NS = registry.by_kind("", "Namespace")


def deployment(name: str = "web", replicas: int = 3) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def test_create_fills_upstream_defaults(api: ApiServer) -> None:
    """Mutating admission sets the defaults a real apiserver sets."""
    d = api.create(DEPLOY, "default", deployment()).object
    meta = d["metadata"]
    assert meta["namespace"] == "default" and meta["generation"] == 1 and meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert d["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert d["spec"]["revisionHistoryLimit"] == 10 and d["spec"]["progressDeadlineSeconds"] == 600
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always" and pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["terminationGracePeriodSeconds"] == 30
    assert pod_spec["containers"][0]["imagePullPolicy"] == "Always"
    assert d["status"] == {"replicas": 0}


def test_pod_admission_adds_service_account_and_tolerations(api: ApiServer) -> None:
    """ServiceAccount and DefaultTolerationSeconds admission run on a new pod."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    }
    p = api.create(POD, "default", pod).object
    assert p["spec"]["serviceAccountName"] == "default"
    assert p["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    keys = {(t["key"], t["tolerationSeconds"]) for t in p["spec"]["tolerations"]}
    assert keys == {("node.kubernetes.io/not-ready", 300), ("node.kubernetes.io/unreachable", 300)}
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert p["spec"]["volumes"][0]["name"].startswith("kube-api-access-")


def test_status_sent_on_create_is_ignored(api: ApiServer) -> None:
    """Outside the status subresource, a client cannot set status."""
    body = deployment()
    body["status"] = {"replicas": 99, "readyReplicas": 99}
    assert api.create(DEPLOY, "default", body).object["status"] == {"replicas": 0}


def test_stale_resource_version_gives_409(api: ApiServer) -> None:
    """An update carrying an old resourceVersion is a Conflict and changes nothing."""
    d = api.create(DEPLOY, "default", deployment()).object
    first = copy.deepcopy(d)
    d["spec"]["replicas"] = 5
    api.update(DEPLOY, "default", "web", d)
    first["spec"]["replicas"] = 7
    with pytest.raises(StatusError) as err:
        api.update(DEPLOY, "default", "web", first)
    assert err.value.code == 409 and err.value.reason == "Conflict"
    assert "the object has been modified" in err.value.message
    assert api.get(DEPLOY, "default", "web")["spec"]["replicas"] == 5


def test_generation_counts_spec_changes_only(api: ApiServer) -> None:
    """metadata.generation moves with spec, not with labels."""
    d = api.create(DEPLOY, "default", deployment()).object
    d["metadata"]["labels"] = {"x": "y"}
    d = api.update(DEPLOY, "default", "web", d).object
    assert d["metadata"]["generation"] == 1
    d["spec"]["replicas"] = 1
    assert api.update(DEPLOY, "default", "web", d).object["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda d: d["metadata"].update(name="Web"), "metadata.name", "a lowercase RFC 1123 subdomain"),
        (
            lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "other"}),
            "spec.template.metadata.labels",
            "`selector` does not match template `labels`",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
            "spec.template.spec.containers[0].image",
            "Required value",
        ),
        (lambda d: d["spec"].pop("selector"), "spec.selector", "Required value"),
    ],
)
def test_invalid_objects_get_422_with_the_field(api: ApiServer, mutate, field: str, fragment: str) -> None:
    """Semantic errors are 422 Invalid, naming the field in details.causes."""
    body = deployment()
    mutate(body)
    with pytest.raises(StatusError) as err:
        api.create(DEPLOY, "default", body)
    status = err.value.status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert any(c["field"] == field and fragment in c["message"] for c in status["details"]["causes"])
    assert api.list(DEPLOY, "default")["items"] == []


def test_selector_is_immutable(api: ApiServer) -> None:
    """spec.selector of a Deployment cannot change after create."""
    d = api.create(DEPLOY, "default", deployment()).object
    d["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    d["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    with pytest.raises(StatusError) as err:
        api.update(DEPLOY, "default", "web", d)
    assert "field is immutable" in err.value.message


def test_strict_field_validation_and_warn(api: ApiServer) -> None:
    """Unknown fields fail under Strict, and are dropped with a warning under Warn."""
    body = deployment()
    body["spec"]["replicaz"] = 1
    with pytest.raises(StatusError) as err:
        api.create(DEPLOY, "default", body)
    assert err.value.code == 400 and 'unknown field "spec.replicaz"' in err.value.message
    result = api.create(DEPLOY, "default", body, Options(field_validation="Warn"))
    assert result.warnings == ['unknown field "spec.replicaz"']
    assert "replicaz" not in result.object["spec"]


def test_dry_run_stores_nothing(api: ApiServer) -> None:
    """dryRun=All runs the whole pipeline and writes nothing."""
    rev = etcd.current_revision(api.cluster.pk)
    out = api.create(DEPLOY, "default", deployment(), Options(dry_run=True)).object
    assert out["spec"]["strategy"]["type"] == "RollingUpdate"
    # A dry run answers with a UID of its own, as the real apiserver does; a real create gets the store's.
    assert len(out["metadata"]["uid"]) == 36
    assert etcd.current_revision(api.cluster.pk) == rev
    with pytest.raises(StatusError):
        api.get(DEPLOY, "default", "web")


def test_a_created_object_carries_the_uid_of_its_revision(api: ApiServer) -> None:
    from cluster.api.admission import deterministic_uid

    out = api.create(CM, "default", {"metadata": {"name": "c"}, "data": {}}).object
    rev = int(out["metadata"]["resourceVersion"])
    assert out["metadata"]["uid"] == deterministic_uid(api.cluster.seed, rev, "ConfigMap", "default", "c")
    assert api.get(CM, "default", "c")["metadata"]["uid"] == out["metadata"]["uid"]


def test_missing_namespace_is_404(api: ApiServer) -> None:
    with pytest.raises(StatusError) as err:
        api.create(DEPLOY, "nowhere", deployment())
    assert err.value.code == 404 and err.value.message == 'namespaces "nowhere" not found'


def test_finalizers_hold_deletion_until_removed(api: ApiServer) -> None:
    """Delete of an object with finalizers sets deletionTimestamp; removing the last finalizer deletes it."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f", "finalizers": ["example.com/hold"]}}
    api.create(CM, "default", body)
    held = api.delete(CM, "default", "f").object
    assert held["metadata"]["deletionTimestamp"]
    assert api.get(CM, "default", "f")["metadata"]["finalizers"] == ["example.com/hold"]
    held["metadata"]["finalizers"] = []
    api.update(CM, "default", "f", held)
    with pytest.raises(StatusError) as err:
        api.get(CM, "default", "f")
    assert err.value.code == 404


def _race_once(api: ApiServer, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make the next read of ``name`` be followed by a controller's status write, once."""
    real_get = etcd.get
    raced = []

    def racing_get(cluster_id: int, key: etcd.Key) -> dict | None:
        obj = real_get(cluster_id, key)
        if obj is not None and key.name == name and not raced:
            raced.append(True)
            current = copy.deepcopy(obj)
            current["status"]["observedGeneration"] = 99
            etcd.update(cluster_id, key, current, int(current["metadata"]["resourceVersion"]))
        return obj

    monkeypatch.setattr(etcd, "get", racing_get)


def test_delete_retries_a_concurrent_status_write(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A controller writing status between the read and the delete does not make the delete 409."""
    api.create(DEPLOY, "default", deployment("busy"))
    _race_once(api, monkeypatch, "busy")
    api.delete(DEPLOY, "default", "busy")
    with pytest.raises(StatusError) as err:
        api.get(DEPLOY, "default", "busy")
    assert err.value.code == 404


def test_delete_with_stale_resource_version_precondition_is_409(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a resourceVersion precondition the client asked for exactly that version, so no retry."""
    created = api.create(DEPLOY, "default", deployment("pinned")).object
    _race_once(api, monkeypatch, "pinned")
    with pytest.raises(StatusError) as err:
        api.delete(
            DEPLOY, "default", "pinned", preconditions={"resourceVersion": created["metadata"]["resourceVersion"]}
        )
    assert err.value.code == 409
    assert api.get(DEPLOY, "default", "pinned")["status"]["observedGeneration"] == 99


def test_orphan_and_foreground_add_their_finalizers(api: ApiServer) -> None:
    """propagationPolicy Orphan and Foreground leave the finalizers the garbage collector acts on."""
    api.create(DEPLOY, "default", deployment("a"))
    api.create(DEPLOY, "default", deployment("b"))
    assert api.delete(DEPLOY, "default", "a", propagation="Orphan").object["metadata"]["finalizers"] == ["orphan"]
    fg = api.delete(DEPLOY, "default", "b", propagation="Foreground").object
    assert fg["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_binding_sets_node_and_condition_once(api: ApiServer) -> None:
    """pods/binding sets spec.nodeName and PodScheduled; a second binding is a Conflict."""
    api.create(POD, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    api.bind("default", "p", {"target": {"kind": "Node", "name": "worker-1"}})
    pod = api.get(POD, "default", "p")
    assert pod["spec"]["nodeName"] == "worker-1"
    assert [c["type"] for c in pod["status"]["conditions"]] == ["PodScheduled"]
    with pytest.raises(StatusError) as err:
        api.bind("default", "p", {"target": {"kind": "Node", "name": "worker-2"}})
    assert err.value.code == 409


def test_scale_subresource(api: ApiServer) -> None:
    """The scale subresource reads and writes spec.replicas."""
    api.create(DEPLOY, "default", deployment())
    assert api.get_scale(DEPLOY, "default", "web")["spec"] == {"replicas": 3}
    scale = api.update_scale(DEPLOY, "default", "web", lambda s: {**s, "spec": {"replicas": 5}}).object
    assert scale["spec"]["replicas"] == 5 and scale["status"]["selector"] == "app=web"
    assert api.get(DEPLOY, "default", "web")["spec"]["replicas"] == 5


def test_service_gets_cluster_ip_and_node_port(api: ApiServer) -> None:
    """The service registry allocates a ClusterIP in the service CIDR and a NodePort in range."""
    svc = {
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    out = api.create(SVC, "default", svc).object
    ip = out["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") and ip not in ("10.96.0.1", "10.96.0.10")
    assert 30000 <= out["spec"]["ports"][0]["nodePort"] <= 32767
    assert out["spec"]["ports"][0]["targetPort"] == 80
    dup = {"metadata": {"name": "dup"}, "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}}
    with pytest.raises(StatusError) as err:
        api.create(SVC, "default", dup)
    assert err.value.code == 422 and "provided IP is already allocated" in err.value.message


def test_generate_name_is_deterministic_per_seed(api: ApiServer) -> None:
    """generateName suffixes come from the cluster's seeded generator."""
    body = {"metadata": {"generateName": "web-"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    name = api.create(POD, "default", body).object["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_each_write_records_the_pipeline_as_trace_steps(api: ApiServer) -> None:
    """authn, authz, admission, validation and the etcd write appear as trace steps before the event."""
    rev = etcd.current_revision(api.cluster.pk)
    stored = api.create(DEPLOY, "default", deployment()).object
    stages = list(
        TraceStep.objects.filter(cluster=api.cluster, seq__gt=rev).order_by("seq").values_list("stage", flat=True)
    )
    assert stages == ["authentication", "authorization", "mutating-admission", "validation", "persist"]
    assert int(stored["metadata"]["resourceVersion"]) == rev + 6


def test_list_with_selectors(api: ApiServer) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        api.create(CM, "default", {"metadata": {"name": name, "labels": {"tier": tier}}})
    names = lambda lst: [i["metadata"]["name"] for i in lst["items"]]  # noqa: E731
    assert names(api.list(CM, "default", label_selector="tier=web")) == ["a", "c"]
    assert names(api.list(CM, "default", label_selector="tier in (db)")) == ["b"]
    assert names(api.list(CM, "default", field_selector="metadata.name!=a", label_selector="tier")) == ["b", "c"]
    with pytest.raises(StatusError) as err:
        api.list(CM, "default", field_selector="spec.nodeName=x")
    assert err.value.code == 400
    page = api.list(CM, "default", limit=2)
    assert names(page) == ["a", "b"] and page["metadata"]["continue"]
    assert names(api.list(CM, "default", limit=2, continue_token=page["metadata"]["continue"])) == ["c"]


def test_namespace_delete_waits_for_its_finalizer(api: ApiServer) -> None:
    """Deleting a namespace marks it Terminating until the namespace controller finalizes it."""
    api.create(NS, None, {"metadata": {"name": "tmp"}})
    ns = api.delete(NS, None, "tmp").object
    assert ns["status"]["phase"] == "Terminating"
    with pytest.raises(StatusError) as err:
        api.create(CM, "tmp", {"metadata": {"name": "x"}})
    assert err.value.code == 403


def test_object_quota_is_enforced(api: ApiServer, settings) -> None:
    """Past the per-cluster object limit a create is 403 and stores nothing."""
    from cluster.models import Cluster

    current = Cluster.objects.get(pk=api.cluster.pk).object_count
    settings.KUBEGLASS = {**settings.KUBEGLASS, "MAX_OBJECTS_PER_CLUSTER": current + 1}
    api.create(CM, "default", {"metadata": {"name": "fits"}})
    with pytest.raises(StatusError) as err:
        api.create(CM, "default", {"metadata": {"name": "too-many"}})
    assert err.value.code == 403 and "exceeded quota" in err.value.message
    assert Cluster.objects.get(pk=api.cluster.pk).object_count == current + 1
    api.delete(CM, "default", "fits")
    api.create(CM, "default", {"metadata": {"name": "now-fits"}})


def test_deterministic_uids_are_the_v4_uuids_of_their_hash() -> None:
    """UIDs are formatted by hand for speed; they must stay exactly what ``uuid.UUID`` would print."""
    import hashlib
    import uuid

    from cluster.api.admission import deterministic_uid

    for i in range(2000):
        parts = (i * 7919, "Pod", "default" if i % 3 else None, f"web-{i}")
        digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
        assert deterministic_uid(*parts) == str(uuid.UUID(bytes=digest[:16], version=4))
