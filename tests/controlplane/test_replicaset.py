"""The replicaset controller against upstream's behaviour; also the kubelet stand-in the workload tests share."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.errors import StatusError
from cluster.controlplane.controllers import replicaset as rsc
from cluster.controlplane.sim import ClusterSim
from cluster.models import TraceStep
from tests.controlplane.conftest import get, items

KCM = ("kube-controller-manager",)
NS = "default"
POD = registry.by_kind("", "Pod")
GENERATED = re.compile(r"^[bcdfghjklmnpqrstvwxz2456789]{5}$")


# ------------------------------------------------------------------------- helpers shared by the workload tests
def create(kube: ApiServer, group: str, kind: str, body: dict[str, Any], namespace: str | None = NS) -> dict[str, Any]:
    resource = registry.by_kind(group, kind)
    assert resource is not None
    return kube.create(resource, namespace, body).object


def pods(kube: ApiServer, namespace: str = NS, active: bool = False) -> list[dict[str, Any]]:
    out = items(kube, "", "Pod", namespace)
    if active:
        out = [p for p in out if rsc.is_pod_active(p)]
    return out


def target_node(pod: dict[str, Any], workers: list[str], index: int) -> str:
    """Where the scheduler would bind this pod: a DaemonSet pod's metadata.name affinity, else round-robin."""
    affinity = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in affinity.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return workers[index % len(workers)]


def mark_running(kube: ApiServer, pod: dict[str, Any], ready: bool = True) -> dict[str, Any]:
    """What the kubelet reports for a started pod: Running, with the real pod conditions."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    current = get(kube, "", "Pod", namespace, name)
    now = kube.now()
    flag = "True" if ready else "False"
    status = dict(current.get("status") or {})
    status.update(
        {
            "phase": "Running",
            "hostIP": "172.18.0.3",
            "podIP": f"10.244.1.{len(name) % 200 + 2}",
            "startTime": status.get("startTime") or now,
            "conditions": [
                {
                    "type": "PodReadyToStartContainers",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                },
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "Ready", "status": flag, "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "containerID": f"containerd://{name}-{c['name']}",
                    "ready": ready,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
                for c in current["spec"].get("containers") or []
            ],
        }
    )
    current["status"] = status
    assert POD is not None
    return kube.update(POD, namespace, name, current, subresource="status").object


def bind(kube: ApiServer, pod: dict[str, Any], node: str) -> None:
    kube.bind(pod["metadata"]["namespace"], pod["metadata"]["name"], {"target": {"kind": "Node", "name": node}})


def kubelet(kube: ApiServer, namespace: str = NS, ready: bool = True, workers: list[str] | None = None) -> int:
    """Stand in for scheduler and kubelets: bind pending pods, start them, finish graceful deletions."""
    assert POD is not None
    workers = workers or [
        n["metadata"]["name"] for n in items(kube, "", "Node") if n["metadata"]["name"].startswith("worker")
    ]
    changed = 0
    for i, pod in enumerate(pods(kube, namespace)):
        if rsc.is_terminating(pod):
            kube.delete(POD, namespace, pod["metadata"]["name"], grace_period=0)
            changed += 1
            continue
        if not rsc.node_name(pod):
            bind(kube, pod, target_node(pod, workers, i))
        if rsc.phase(pod) != "Running" or rsc.is_pod_ready(pod) != ready:
            mark_running(kube, pod, ready)
            changed += 1
    return changed


def settle(sim: ClusterSim, kube: ApiServer, namespace: str = NS, rounds: int = 50) -> None:
    """Alternate control plane and kubelet until neither has anything left to do."""
    for _ in range(rounds):
        sim.run_until_idle()
        if not kubelet(kube, namespace):
            sim.run_until_idle()
            return
    raise AssertionError("did not settle")


def events(kube: ApiServer, reason: str | None = None, namespace: str = NS) -> list[dict[str, Any]]:
    out = items(kube, "", "Event", namespace)
    return [e for e in out if reason is None or e["reason"] == reason]


def traces(sim: ClusterSim, message: str) -> list[dict[str, Any]]:
    return list(
        TraceStep.objects.filter(cluster=sim.cluster, message=message).order_by("seq").values_list("params", flat=True)
    )


def template(labels: dict[str, str], image: str = "nginx:1.27") -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}}


def replicaset(name: str, replicas: int, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template(labels), **spec},
    }


@pytest.fixture
def kcm(make_sim: Callable[..., ClusterSim]) -> tuple[ClusterSim, ApiServer]:
    sim = make_sim(components=KCM)
    return sim, ApiServer(sim.cluster, sim.cluster.owner)


# ------------------------------------------------------------------------- tests
def test_creates_pods_from_template_with_owner_reference(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    rs = create(kube, "apps", "ReplicaSet", replicaset("web", 3))
    sim.run_until_idle()
    created = pods(kube)
    assert len(created) == 3
    for pod in created:
        name = pod["metadata"]["name"]
        assert name.startswith("web-") and GENERATED.match(name[4:])
        assert pod["metadata"]["generateName"] == "web-"
        assert pod["metadata"]["labels"] == {"app": "web"}
        assert pod["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": rs["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    messages = sorted(e["message"] for e in events(kube, "SuccessfulCreate"))
    assert messages == sorted(f"Created pod: {p['metadata']['name']}" for p in created)
    assert all(e["source"] == {"component": "replicaset-controller"} for e in events(kube, "SuccessfulCreate"))
    status = get(kube, "apps", "ReplicaSet", NS, "web")["status"]
    assert status == {"replicas": 3, "fullyLabeledReplicas": 3, "observedGeneration": 1}


def test_slow_start_batches_double(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "ReplicaSet", replicaset("big", 10))
    sim.run_until_idle()
    assert len(pods(kube)) == 10
    assert [t["size"] for t in traces(sim, "kcm.replicaset.batch") if t["name"] == "big"] == [1, 2, 4, 3]


def test_slow_start_batch_stops_after_a_failing_batch() -> None:
    calls = {"n": 0}

    def fn() -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise StatusError(403, "Forbidden", "exceeded quota")

    batches: list[int] = []
    successes, err = rsc.slow_start_batch(10, 1, fn, lambda i, size: batches.append(size))
    # Batches 1 and 2 succeed; the batch of 4 is attempted whole, one call fails, nothing more is tried.
    assert batches == [1, 2, 4] and calls["n"] == 7 and successes == 6
    assert err is not None and err.message == "exceeded quota"


def test_status_counts_ready_and_available_after_min_ready_seconds(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "ReplicaSet", replicaset("slow", 2, minReadySeconds=10))
    settle(sim, kube)
    status = get(kube, "apps", "ReplicaSet", NS, "slow")["status"]
    assert status["readyReplicas"] == 2 and "availableReplicas" not in status
    sim.advance(10)
    assert "availableReplicas" not in get(kube, "apps", "ReplicaSet", NS, "slow")["status"]
    sim.advance(2)
    assert get(kube, "apps", "ReplicaSet", NS, "slow")["status"]["availableReplicas"] == 2


def test_scale_down_deletes_lowest_ranked_pods_first(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """Unscheduled before scheduled, Pending before Running, not-ready before ready."""
    sim, kube = kcm
    create(kube, "apps", "ReplicaSet", replicaset("rank", 4))
    sim.run_until_idle()
    a, b, c, d = pods(kube)
    bind(kube, a, "worker-1")
    mark_running(kube, a, ready=True)
    bind(kube, b, "worker-2")
    mark_running(kube, b, ready=False)
    bind(kube, c, "worker-3")  # scheduled, still Pending
    # d stays unscheduled
    assert POD is not None
    scale = registry.by_kind("apps", "ReplicaSet")
    assert scale is not None
    kube.update_scale(scale, NS, "rank", lambda s: {**s, "spec": {"replicas": 3}})
    sim.run_until_idle()
    assert {p["metadata"]["name"] for p in pods(kube)} == {n["metadata"]["name"] for n in (a, b, c)}
    kube.update_scale(scale, NS, "rank", lambda s: {**s, "spec": {"replicas": 2}})
    sim.run_until_idle()
    left = {p["metadata"]["name"] for p in pods(kube) if not rsc.is_terminating(p)}
    assert left == {a["metadata"]["name"], b["metadata"]["name"]}
    kube.update_scale(scale, NS, "rank", lambda s: {**s, "spec": {"replicas": 1}})
    sim.run_until_idle()
    left = {p["metadata"]["name"] for p in pods(kube) if not rsc.is_terminating(p)}
    assert left == {a["metadata"]["name"]}
    assert {e["message"] for e in events(kube, "SuccessfulDelete")} == {
        f"Deleted pod: {p['metadata']['name']}" for p in (b, c, d)
    }


def test_rank_prefers_doubled_up_and_newer_pods() -> None:
    def pod(name: str, node: str, ready_at: str, created: str, restarts: int = 0) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "uid": name, "creationTimestamp": created},
            "spec": {"nodeName": node},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}],
                "containerStatuses": [{"restartCount": restarts}],
            },
        }

    old = pod("old", "n1", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    young = pod("young", "n2", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z")
    crashy = pod("crashy", "n3", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", restarts=5)
    doubled = pod("doubled", "n4", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    sibling = pod("sibling", "n4", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    now = rsc.ts_epoch("2024-01-02T00:00:00Z")
    assert now is not None
    ranked = rsc.rank_pods_for_deletion([old, young, crashy, doubled], [old, young, crashy, doubled, sibling], now)
    assert [p["metadata"]["name"] for p in ranked] == ["doubled", "young", "crashy", "old"]


def test_adopts_matching_orphans_and_releases_mismatched_pods(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    orphan = create(kube, "", "Pod", {**template({}), "metadata": {"name": "stray", "labels": {"app": "adopt"}}})
    rs = create(kube, "apps", "ReplicaSet", replicaset("adopt", 2))
    sim.run_until_idle()
    mine = pods(kube)
    assert len(mine) == 2
    stray = get(kube, "", "Pod", NS, "stray")
    assert stray["metadata"]["uid"] == orphan["metadata"]["uid"]
    assert rsc.controller_of(stray) == rsc.new_controller_ref(rs)
    assert POD is not None
    kube.patch(POD, NS, "stray", "application/merge-patch+json", {"metadata": {"labels": {"app": "other"}}})
    sim.run_until_idle()
    assert "ownerReferences" not in get(kube, "", "Pod", NS, "stray")["metadata"]
    owned = [p for p in pods(kube) if rsc.controller_of(p)]
    assert len(owned) == 2 and all(p["metadata"]["labels"] == {"app": "adopt"} for p in owned)


def test_deleted_pod_is_replaced(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "ReplicaSet", replicaset("heal", 2))
    sim.run_until_idle()
    victim = pods(kube)[0]["metadata"]["name"]
    assert POD is not None
    kube.delete(POD, NS, victim)
    sim.run_until_idle()
    names = [p["metadata"]["name"] for p in pods(kube)]
    assert len(names) == 2 and victim not in names


def test_no_duplicate_pods_after_a_restart_mid_create(
    make_sim: Callable[..., ClusterSim], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim(components=KCM)
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    create(kube, "apps", "ReplicaSet", replicaset("crash", 5))
    real_create = sim.ctx.create
    made = {"n": 0}

    def crashing(
        component: str, group: str, kind: str, namespace: str | None, body: dict[str, Any], owned: bool = False
    ) -> Any:
        if kind == "Pod" and namespace == NS:
            if made["n"] == 2:
                raise KeyboardInterrupt("process killed")
            made["n"] += 1
        return real_create(component, group, kind, namespace, body, owned)

    monkeypatch.setattr(sim.ctx, "create", crashing)
    with pytest.raises(KeyboardInterrupt):
        sim.run_until_idle()
    # The kill lands inside a write batch: its two creates are lost with it, unless the batch had
    # already committed (it commits every 50 ms of wall time). Either way no third pod exists.
    assert len(pods(kube)) in (0, 2)
    # A new kube-controller-manager process: fresh caches, no expectations in memory.
    restarted = ClusterSim(sim.cluster, KCM)
    restarted.run_until_idle()
    restarted.run_until_idle()
    assert len(pods(kube)) == 5
    restarted.advance(400)
    assert len(pods(kube)) == 5


def test_a_pod_from_a_template_shares_nothing_with_it() -> None:
    """The ReplicaSet hands the API server its pods as owned: no part may be the template's or the ref's."""
    from cluster.controlplane.controllers.replicaset import new_controller_ref, pod_from_template

    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": NS, "uid": "u-1"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["f"]},
                "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]},
            }
        },
    }
    ref = new_controller_ref(rs)
    template = rs["spec"]["template"]

    def containers(value: Any) -> set[int]:
        if isinstance(value, dict):
            return {id(value)}.union(*(containers(v) for v in value.values()))
        if isinstance(value, list):
            return {id(value)}.union(*(containers(v) for v in value))
        return set()

    pod = pod_from_template(template, rs, ref)
    assert pod["metadata"]["ownerReferences"] == [ref]
    assert not containers(pod) & (containers(template) | containers(ref))


def test_status_counts_fully_labeled_ready_and_available_pods() -> None:
    """calculateReplicaSetStatus: template labels all present (extra ones allowed); available is
    ready for minReadySeconds, or simply ready when that is zero."""

    def pod(labels: dict[str, str], ready_since: str | None) -> dict[str, Any]:
        conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_since}] if ready_since else []
        return {"metadata": {"labels": labels}, "status": {"conditions": conditions}}

    template = {"metadata": {"labels": {"app": "web", "tier": "front"}}}
    pods = [
        pod({"app": "web", "tier": "front", "extra": "x"}, "2026-01-01T00:00:00Z"),
        pod({"app": "web", "tier": "back"}, "2026-01-01T00:00:50Z"),
        pod({"app": "web"}, None),
    ]
    now = 1767225660.0  # 2026-01-01T00:01:00Z
    rs = {"spec": {"replicas": 3, "template": template}}
    assert rsc.replica_set_status(rs, pods, now, "", None) == {
        "replicas": 3,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    slow = {"spec": {"replicas": 3, "template": template, "minReadySeconds": 30}}
    assert rsc.replica_set_status(slow, pods, now, "", None)["availableReplicas"] == 1


def test_remembered_pod_facts_follow_the_pods_and_the_template(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """A sync reuses what it learnt of a pod object it saw before; a pod that changed, or a
    template whose labels changed, must be looked at afresh (fullyLabeledReplicas, readiness)."""
    sim, kube = kcm
    create(kube, "apps", "ReplicaSet", replicaset("facts", 3))
    sim.run_until_idle()
    status = get(kube, "apps", "ReplicaSet", NS, "facts")["status"]
    assert (status.get("fullyLabeledReplicas"), status.get("readyReplicas")) == (3, None)
    for pod in pods(kube):
        mark_running(kube, pod)
    sim.run_until_idle()
    status = get(kube, "apps", "ReplicaSet", NS, "facts")["status"]
    assert (status.get("fullyLabeledReplicas"), status.get("readyReplicas")) == (3, 3)
    # A template label the pods lack: none is fully labeled any more, though all still match.
    rs_res = registry.by_kind("apps", "ReplicaSet")
    assert rs_res is not None
    kube.patch(
        rs_res,
        NS,
        "facts",
        "application/merge-patch+json",
        {"spec": {"template": {"metadata": {"labels": {"app": "facts", "tier": "web"}}}}},
    )
    sim.run_until_idle()
    status = get(kube, "apps", "ReplicaSet", NS, "facts")["status"]
    assert (status.get("fullyLabeledReplicas"), status.get("readyReplicas"), status["replicas"]) == (None, 3, 3)
    # One pod not ready any more: counted afresh.
    mark_running(kube, pods(kube)[0], ready=False)
    sim.run_until_idle()
    assert get(kube, "apps", "ReplicaSet", NS, "facts")["status"].get("readyReplicas") == 2
