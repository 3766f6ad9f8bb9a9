"""The deployment controller against upstream's behaviour (pkg/controller/deployment and kubectl rollout)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.controlplane.controllers import deployment as dc
from cluster.controlplane.controllers import replicaset as rsc
from cluster.controlplane.sim import ClusterSim
from cluster.models import WatchEvent
from tests.controlplane.conftest import get, items
from tests.controlplane.test_replicaset import NS, POD, create, events, kcm, kubelet, mark_running, pods, settle

__all__ = ["kcm"]

DEPLOY = registry.by_kind("apps", "Deployment")
HASH = re.compile(r"^[456789bcdf]{1,10}$")  # SafeEncodeString of a decimal uses only these ten characters


def deployment(name: str, replicas: int, image: str = "nginx:1.26", **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}},
            **spec,
        },
    }


def deploy(kube: ApiServer, name: str) -> dict[str, Any]:
    return get(kube, "apps", "Deployment", NS, name)


def replicasets(kube: ApiServer, name: str) -> list[dict[str, Any]]:
    return [rs for rs in items(kube, "apps", "ReplicaSet", NS) if rs["metadata"]["name"].startswith(f"{name}-")]


def set_image(kube: ApiServer, name: str, image: str) -> None:
    assert DEPLOY is not None
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    kube.patch(DEPLOY, NS, name, "application/strategic-merge-patch+json", patch)


def patch(kube: ApiServer, name: str, body: dict[str, Any]) -> None:
    assert DEPLOY is not None
    kube.patch(DEPLOY, NS, name, "application/merge-patch+json", body)


def rollout_status(d: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer (staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go)."""
    name, status = d["metadata"]["name"], d.get("status") or {}
    if d["metadata"]["generation"] > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    cond = dc.get_condition(status, "Progressing")
    if cond is not None and cond["reason"] == "ProgressDeadlineExceeded":
        return f'deployment "{name}" exceeded its progress deadline', False
    want, updated = d["spec"]["replicas"], status.get("updatedReplicas", 0)
    if updated < want:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas have been updated...',
            False,
        )
    if status.get("replicas", 0) > updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {status["replicas"] - updated} old replicas are pending termination...',
            False,
        )
    if status.get("availableReplicas", 0) < updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {status.get("availableReplicas", 0)} of {updated} updated replicas are available...',
            False,
        )
    return f'deployment "{name}" successfully rolled out', True


def kubectl_rollout_undo(kube: ApiServer, name: str, to_revision: int = 0) -> None:
    """kubectl 1.32's client-side DeploymentRollbacker: copy the wanted ReplicaSet's template back."""
    d = deploy(kube, name)
    owned = [
        rs
        for rs in items(kube, "apps", "ReplicaSet", NS)
        if (rsc.controller_of(rs) or {}).get("uid") == d["metadata"]["uid"]
    ]
    if to_revision == 0:
        revisions = sorted((dc.revision_of(rs) or 0 for rs in owned), reverse=True)
        to_revision = revisions[1]
    target = next(rs for rs in owned if dc.revision_of(rs) == to_revision)
    template = copy.deepcopy(target["spec"]["template"])
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k in dc.SKIP_ANNOTATIONS}
    annotations.update(
        {k: v for k, v in (target["metadata"].get("annotations") or {}).items() if k not in dc.SKIP_ANNOTATIONS}
    )
    ops = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    assert DEPLOY is not None
    kube.patch(DEPLOY, NS, name, "application/json-patch+json", ops)


def revisions(kube: ApiServer, name: str) -> dict[str, str]:
    return {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["metadata"]["annotations"][dc.REVISION]
        for rs in replicasets(kube, name)
    }


def progressing_history(sim: ClusterSim, name: str) -> list[str]:
    """Every Progressing reason the Deployment went through, in order, from the watch log."""
    out: list[str] = []
    rows = WatchEvent.objects.filter(cluster=sim.cluster, kind="Deployment", name=name).order_by("revision")
    for obj in rows.values_list("object", flat=True):
        cond = dc.get_condition(obj.get("status") or {}, "Progressing")
        if cond is not None and (not out or out[-1] != cond["reason"]):
            out.append(cond["reason"])
    return out


# ----------------------------------------------------------------------------- hashing
def test_compute_hash_follows_upstream_recipe() -> None:
    assert rsc.fnv32a(b"") == 0x811C9DC5 and rsc.fnv32a(b"a") == 0xE40C292C
    assert rsc.fnv32(b"a") == 0x050C5D7E
    assert rsc.safe_encode_string("0123456789") == "456789bcdf"
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "b"}]}}
    plain = rsc.compute_hash(template, None)
    assert plain == rsc.safe_encode_string(str(rsc.fnv32a(rsc.deep_hash_bytes(template))))
    # collisionCount goes in as eight bytes: PutUint32 little-endian into a zeroed [8]byte.
    bumped = rsc.fnv32a(b"\x01\x00\x00\x00\x00\x00\x00\x00", rsc.fnv32a(rsc.deep_hash_bytes(template)))
    assert rsc.compute_hash(template, 1) == rsc.safe_encode_string(str(bumped))
    assert len({plain, rsc.compute_hash(template, 0), rsc.compute_hash(template, 1)}) == 3
    assert HASH.match(plain)


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable rounds down
        ("25%", "25%", 1, (1, 0)),
        (0, "10%", 3, (0, 1)),  # both zero after rounding: one may be unavailable
        (2, 0, 5, (2, 0)),
    ],
)
def test_fenceposts_round_like_upstream(surge: Any, unavailable: Any, replicas: int, expected: tuple[int, int]) -> None:
    assert dc.resolve_fenceposts(surge, unavailable, replicas) == expected


# ----------------------------------------------------------------------------- creation
def test_new_replicaset_named_by_pod_template_hash(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    d = create(kube, "apps", "Deployment", deployment("web", 3))
    sim.run_until_idle()
    (rs,) = replicasets(kube, "web")
    pod_hash = rsc.compute_hash(d["spec"]["template"], None)
    assert HASH.match(pod_hash)
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": pod_hash}}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert rs["metadata"]["ownerReferences"] == [rsc.new_controller_ref(d)]
    assert deploy(kube, "web")["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert all(p["metadata"]["labels"]["pod-template-hash"] == pod_hash for p in pods(kube))
    assert [e["message"] for e in events(kube, "ScalingReplicaSet")] == [
        f"Scaled up replica set web-{pod_hash} from 0 to 3"
    ]
    assert events(kube, "ScalingReplicaSet")[0]["source"] == {"component": "deployment-controller"}


def test_status_and_conditions_through_a_first_rollout(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("web", 3))
    sim.run_until_idle()
    d = deploy(kube, "web")
    rs_name = replicasets(kube, "web")[0]["metadata"]["name"]
    assert d["status"]["replicas"] == 3 and d["status"]["updatedReplicas"] == 3
    assert d["status"]["unavailableReplicas"] == 3 and "availableReplicas" not in d["status"]
    available = dc.get_condition(d["status"], "Available")
    assert available is not None
    assert (available["status"], available["reason"], available["message"]) == (
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    )
    assert rollout_status(d) == (
        'Waiting for deployment "web" rollout to finish: 0 of 3 updated replicas are available...',
        False,
    )
    settle(sim, kube)
    d = deploy(kube, "web")
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in d["status"]["conditions"]] == [
        ("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        ("Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'),
    ]
    assert progressing_history(sim, "web") == ["NewReplicaSetCreated", "ReplicaSetUpdated", "NewReplicaSetAvailable"]
    assert rollout_status(d) == ('deployment "web" successfully rolled out', True)


# ----------------------------------------------------------------------------- rolling update
def _one_kubelet_action(kube: ApiServer) -> bool:
    """Finish one graceful deletion, or start one pod: the slowest possible node agent."""
    assert POD is not None
    for pod in pods(kube):
        if rsc.is_terminating(pod):
            kube.delete(POD, NS, pod["metadata"]["name"], grace_period=0)
            return True
    for pod in pods(kube):
        if not rsc.is_pod_ready(pod):
            if not rsc.node_name(pod):
                kube.bind(NS, pod["metadata"]["name"], {"target": {"kind": "Node", "name": "worker-1"}})
            mark_running(kube, pod)
            return True
    return False


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [(4, "25%", "25%"), (10, "25%", "25%"), (3, 0, 1), (3, 1, 0), (5, "40%", "20%")],
)
def test_rolling_update_stays_within_surge_and_unavailable(
    kcm: tuple[ClusterSim, ApiServer], replicas: int, surge: Any, unavailable: Any
) -> None:
    sim, kube = kcm
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    create(kube, "apps", "Deployment", deployment("roll", replicas, strategy=strategy))
    settle(sim, kube)
    max_surge, max_unavailable = dc.resolve_fenceposts(surge, unavailable, replicas)
    ceiling, floor = replicas + max_surge, replicas - max_unavailable

    def check(idle: bool) -> None:
        # Upstream bounds the ReplicaSets' spec.replicas; pods follow once the replicaset controller has run.
        rss = replicasets(kube, "roll")
        assert sum(rs["spec"]["replicas"] for rs in rss) <= ceiling
        live = pods(kube, active=True)
        assert sum(1 for p in live if rsc.is_pod_ready(p)) >= floor
        if idle:
            assert len(live) <= ceiling

    set_image(kube, "roll", "nginx:1.27")
    steps = 0
    while True:
        while sim.step():
            check(idle=False)
            steps += 1
        check(idle=True)
        if not _one_kubelet_action(kube):
            break
        check(idle=False)
    sim.run_until_idle()
    assert steps > 0
    d = deploy(kube, "roll")
    assert rollout_status(d)[1], rollout_status(d)
    new = [rs for rs in replicasets(kube, "roll") if rs["spec"]["replicas"]]
    assert len(new) == 1 and new[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert new[0]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == str(ceiling)
    assert dc.get_condition(d["status"], "Progressing")["reason"] == "NewReplicaSetAvailable"  # type: ignore[index]


def test_rolling_update_events_name_both_sizes(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("ev", 2))
    settle(sim, kube)
    old = replicasets(kube, "ev")[0]["metadata"]["name"]
    set_image(kube, "ev", "nginx:1.27")
    settle(sim, kube)
    new = next(rs["metadata"]["name"] for rs in replicasets(kube, "ev") if rs["metadata"]["name"] != old)
    messages = [
        e["message"] for e in sorted(events(kube, "ScalingReplicaSet"), key=lambda e: e["metadata"]["resourceVersion"])
    ]
    assert f"Scaled up replica set {old} from 0 to 2" in messages
    assert f"Scaled up replica set {new} from 0 to 1" in messages
    assert f"Scaled down replica set {old} from 2 to 1" in messages
    assert f"Scaled up replica set {new} from 1 to 2" in messages
    assert f"Scaled down replica set {old} from 1 to 0" in messages


# ----------------------------------------------------------------------------- revisions, undo, history
def test_revisions_and_kubectl_rollout_undo(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("app", 2, image="nginx:1.25"))
    settle(sim, kube)
    for image in ("nginx:1.26", "nginx:1.27"):
        set_image(kube, "app", image)
        settle(sim, kube)
    assert revisions(kube, "app") == {"nginx:1.25": "1", "nginx:1.26": "2", "nginx:1.27": "3"}
    assert deploy(kube, "app")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    kubectl_rollout_undo(kube, "app")
    settle(sim, kube)
    assert revisions(kube, "app") == {"nginx:1.25": "1", "nginx:1.26": "4", "nginx:1.27": "3"}
    d = deploy(kube, "app")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    back = next(rs for rs in replicasets(kube, "app") if rs["metadata"]["annotations"][dc.REVISION] == "4")
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"
    assert back["spec"]["replicas"] == 2 and rollout_status(d)[1]
    assert sum(rs["spec"]["replicas"] for rs in replicasets(kube, "app")) == 2

    kubectl_rollout_undo(kube, "app", to_revision=1)
    settle(sim, kube)
    assert revisions(kube, "app") == {"nginx:1.25": "5", "nginx:1.26": "4", "nginx:1.27": "3"}
    kubectl_rollout_undo(kube, "app", to_revision=4)
    settle(sim, kube)
    back = next(rs for rs in replicasets(kube, "app") if rs["metadata"]["annotations"][dc.REVISION] == "6")
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2,4"


def test_revision_history_limit_deletes_oldest_scaled_down_sets(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("hist", 1, image="nginx:1.0", revisionHistoryLimit=1))
    settle(sim, kube)
    for version in range(1, 4):
        set_image(kube, "hist", f"nginx:1.{version}")
        settle(sim, kube)
    assert revisions(kube, "hist") == {"nginx:1.2": "3", "nginx:1.3": "4"}


def test_change_cause_annotation_is_copied_to_the_replicaset(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    body = deployment("cause", 1)
    body["metadata"]["annotations"] = {
        "kubernetes.io/change-cause": "first",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    }
    create(kube, "apps", "Deployment", body)
    settle(sim, kube)
    ann = replicasets(kube, "cause")[0]["metadata"]["annotations"]
    assert ann["kubernetes.io/change-cause"] == "first"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in ann


# ----------------------------------------------------------------------------- Recreate, scaling, pause
def test_recreate_never_runs_old_and_new_pods_together(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("re", 3, strategy={"type": "Recreate"}))
    settle(sim, kube)
    old_hash = pods(kube)[0]["metadata"]["labels"]["pod-template-hash"]
    set_image(kube, "re", "nginx:1.27")

    def check() -> None:
        hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods(kube)}
        assert len(hashes) <= 1

    sim.run_until_idle()
    check()
    assert [rs["spec"]["replicas"] for rs in replicasets(kube, "re")] == [0]  # old scaled to 0, no new set yet
    while True:
        while sim.step():
            check()
        if not _one_kubelet_action(kube):
            break
        check()
    live = pods(kube)
    assert len(live) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] != old_hash for p in live)
    assert rollout_status(deploy(kube, "re"))[1]


def test_scaling_event_resizes_the_replicaset(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("sc", 2))
    settle(sim, kube)
    assert DEPLOY is not None
    kube.update_scale(DEPLOY, NS, "sc", lambda s: {**s, "spec": {"replicas": 5}})
    settle(sim, kube)
    (rs,) = replicasets(kube, "sc")
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "7"
    assert f"Scaled up replica set {rs['metadata']['name']} from 2 to 5" in [e["message"] for e in events(kube)]
    assert len(pods(kube)) == 5


def test_proportional_scaling_during_a_rollout(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    create(kube, "apps", "Deployment", deployment("prop", 10, strategy=strategy))
    settle(sim, kube)
    set_image(kube, "prop", "nginx:1.27")
    sim.run_until_idle()  # the new pods never start: the rollout is stuck half-way
    before = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in replicasets(kube, "prop")}
    assert sorted(before.values()) == [5, 8]
    assert DEPLOY is not None
    kube.update_scale(DEPLOY, NS, "prop", lambda s: {**s, "spec": {"replicas": 20}})
    sim.run_until_idle()
    after = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in replicasets(kube, "prop")}
    # 13 -> 23 pods (20 + maxSurge 3), shared in the proportions 8/13 and 5/13, rounded as upstream does.
    assert sum(after.values()) == 23
    big = max(before, key=lambda k: before[k])
    assert after[big] == 14 and after[next(k for k in after if k != big)] == 9


def test_pause_blocks_rollout_and_resume_continues(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("pz", 2))
    settle(sim, kube)
    patch(kube, "pz", {"spec": {"paused": True}})
    set_image(kube, "pz", "nginx:1.27")
    settle(sim, kube)
    d = deploy(kube, "pz")
    cond = dc.get_condition(d["status"], "Progressing")
    assert cond is not None and (cond["status"], cond["reason"], cond["message"]) == (
        "Unknown",
        "DeploymentPaused",
        "Deployment is paused",
    )
    assert len(replicasets(kube, "pz")) == 1
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert rollout_status(d) == (
        'Waiting for deployment "pz" rollout to finish: 0 out of 2 new replicas have been updated...',
        False,
    )
    patch(kube, "pz", {"spec": {"paused": False}})
    settle(sim, kube)
    assert "DeploymentResumed" in progressing_history(sim, "pz")
    assert len(replicasets(kube, "pz")) == 2
    assert rollout_status(deploy(kube, "pz"))[1]


def test_progress_deadline_exceeded(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "Deployment", deployment("late", 2, progressDeadlineSeconds=30))
    sim.run_until_idle()
    kubelet(kube, ready=False)  # containers start but never pass readiness
    sim.run_until_idle()
    rs_name = replicasets(kube, "late")[0]["metadata"]["name"]
    sim.advance(29)
    assert dc.get_condition(deploy(kube, "late")["status"], "Progressing")["reason"] != "ProgressDeadlineExceeded"  # type: ignore[index]
    sim.advance(5)
    d = deploy(kube, "late")
    cond = dc.get_condition(d["status"], "Progressing")
    assert cond is not None and (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{rs_name}" has timed out progressing.',
    )
    assert rollout_status(d) == ('deployment "late" exceeded its progress deadline', False)


def test_template_hash_is_stable_json_of_the_stored_template(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """The same template always gets the same ReplicaSet name, so a restarted controller adopts it."""
    sim, kube = kcm
    d = create(kube, "apps", "Deployment", deployment("same", 1))
    sim.run_until_idle()
    restarted = ClusterSim(sim.cluster, ("kube-controller-manager",))
    restarted.run_until_idle()
    (rs,) = replicasets(kube, "same")
    assert rs["metadata"]["name"] == "same-" + rsc.compute_hash(json.loads(json.dumps(d["spec"]["template"])), None)
