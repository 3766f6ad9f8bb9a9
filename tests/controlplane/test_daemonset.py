"""The daemonset controller against upstream's behaviour (pkg/controller/daemon)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.bootstrap import Topology, node_object
from cluster.controlplane.controllers import daemonset as dsc
from cluster.controlplane.controllers import deployment as dc
from cluster.controlplane.controllers import replicaset as rsc
from cluster.controlplane.controllers import statefulset as ssc
from cluster.controlplane.sim import ClusterSim
from cluster.models import TraceStep
from tests.controlplane.conftest import get, items, owned_revisions
from tests.controlplane.test_deployment import deployment, set_image
from tests.controlplane.test_replicaset import NS, POD, create, events, kcm, mark_running, pods, replicaset, settle
from tests.controlplane.test_statefulset import scale, statefulset

__all__ = ["kcm"]

DS = registry.by_kind("apps", "DaemonSet")
NODE = registry.by_kind("", "Node")
WORKERS = ["worker-1", "worker-2", "worker-3"]
AUTO_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemonset(
    name: str, image: str = "fluentd:1.16", pod_spec: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "agent", "image": image}], **(pod_spec or {})},
            },
            **spec,
        },
    }


def by_node(kube: ApiServer, live_only: bool = True) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pod in pods(kube):
        if live_only and rsc.is_terminating(pod):
            continue
        node = dsc.target_node_name(pod)
        assert node is not None
        out.setdefault(node, []).append(pod["metadata"]["name"])
    return out


def ds_status(kube: ApiServer, name: str) -> dict[str, Any]:
    return get(kube, "apps", "DaemonSet", NS, name)["status"]


def patch_node(kube: ApiServer, name: str, body: dict[str, Any]) -> None:
    assert NODE is not None
    kube.patch(NODE, None, name, "application/merge-patch+json", body)


def add_node(sim: ClusterSim, kube: ApiServer, name: str, index: int) -> None:
    assert NODE is not None
    kube.create(NODE, None, node_object(sim.cluster, name, index, False, Topology(), kube.now()))


def test_one_pinned_pod_per_schedulable_node(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    ds = create(kube, "apps", "DaemonSet", daemonset("agent"))
    sim.run_until_idle()
    # The control-plane node's NoSchedule taint is not tolerated: one pod on each worker.
    assert {k: len(v) for k, v in by_node(kube).items()} == dict.fromkeys(WORKERS, 1)
    pod_hash = rsc.compute_hash(ds["spec"]["template"], None)
    for pod in pods(kube):
        node = dsc.target_node_name(pod)
        assert "nodeName" not in pod["spec"]  # the scheduler binds it
        assert pod["spec"]["affinity"] == {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        }
        assert pod["spec"]["tolerations"] == AUTO_TOLERATIONS
        assert pod["metadata"]["labels"]["controller-revision-hash"] == pod_hash
        generation = (ds["metadata"].get("annotations") or {}).get(dsc.TEMPLATE_GENERATION)
        assert pod["metadata"]["labels"].get("pod-template-generation") == generation
        assert pod["metadata"]["generateName"] == "agent-"
        assert pod["metadata"]["ownerReferences"] == [rsc.new_controller_ref(ds)]
    assert sorted(e["message"] for e in events(kube, "SuccessfulCreate")) == sorted(
        f"Created pod: {p['metadata']['name']}" for p in pods(kube)
    )
    settle(sim, kube)
    assert ds_status(kube, "agent") == {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 3,
        "observedGeneration": 1,
        "updatedNumberScheduled": 3,
        "numberAvailable": 3,
    }


def test_tolerations_extend_to_tainted_nodes_and_host_network(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    spec = {
        "hostNetwork": True,
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
    }
    create(kube, "apps", "DaemonSet", daemonset("net", pod_spec=spec))
    sim.run_until_idle()
    assert sorted(by_node(kube)) == ["control-plane", *WORKERS]
    tolerations = pods(kube)[0]["spec"]["tolerations"]
    assert tolerations == [
        spec["tolerations"][0],
        *AUTO_TOLERATIONS,
        {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"},
    ]


def test_node_selector_follows_node_labels(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("ssd", pod_spec={"nodeSelector": {"disk": "ssd"}}))
    sim.run_until_idle()
    assert by_node(kube) == {}
    patch_node(kube, "worker-2", {"metadata": {"labels": {"disk": "ssd"}}})
    sim.run_until_idle()
    assert list(by_node(kube)) == ["worker-2"]
    patch_node(kube, "worker-2", {"metadata": {"labels": {"disk": None}}})
    sim.run_until_idle()
    assert by_node(kube) == {}
    assert ds_status(kube, "ssd")["desiredNumberScheduled"] == 0


def test_required_node_affinity_is_honoured(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-1", "worker-3"]}
                        ]
                    }
                ]
            }
        }
    }
    create(kube, "apps", "DaemonSet", daemonset("aff", pod_spec={"affinity": affinity}))
    sim.run_until_idle()
    assert sorted(by_node(kube)) == ["worker-1", "worker-3"]
    # The user's terms are replaced by the metadata.name pin (ReplaceDaemonSetPodNodeNameNodeAffinity).
    terms = pods(kube)[0]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0] == {
        "matchFields": [{"key": "metadata.name", "operator": "In", "values": [dsc.target_node_name(pods(kube)[0])]}]
    }


def test_node_join_and_leave(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("join"))
    settle(sim, kube)
    add_node(sim, kube, "worker-4", 4)
    sim.run_until_idle()
    assert sorted(by_node(kube)) == [*WORKERS, "worker-4"]
    assert ds_status(kube, "join")["desiredNumberScheduled"] == 4
    settle(sim, kube)
    assert ds_status(kube, "join")["numberReady"] == 4
    # A node leaves: it no longer counts. Its bound pod is PodGC's to remove, not this controller's.
    assert NODE is not None
    kube.delete(NODE, None, "worker-1")
    sim.run_until_idle()
    status = ds_status(kube, "join")
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberReady"]) == (3, 3, 3)
    assert "worker-1" in by_node(kube)
    # An unscheduled daemon pod whose node is gone is deleted by the daemonset controller itself.
    add_node(sim, kube, "worker-5", 5)
    sim.run_until_idle()
    assert "worker-5" in by_node(kube)
    kube.delete(NODE, None, "worker-5")
    sim.run_until_idle()
    assert "worker-5" not in by_node(kube)


def test_taints_added_later(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("taint"))
    settle(sim, kube)
    # NoSchedule: the running pod stays, but the node is no longer wanted (misscheduled).
    patch_node(kube, "worker-1", {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})
    sim.run_until_idle()
    assert "worker-1" in by_node(kube)
    status = ds_status(kube, "taint")
    assert (status["desiredNumberScheduled"], status["numberMisscheduled"]) == (2, 1)
    # NoExecute: the pod must go.
    patch_node(kube, "worker-2", {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}})
    sim.run_until_idle()
    assert "worker-2" not in by_node(kube)


def test_failed_daemon_pod_is_replaced(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("fail"))
    settle(sim, kube)
    victim = by_node(kube)["worker-2"][0]
    pod = get(kube, "", "Pod", NS, victim)
    pod["status"]["phase"] = "Failed"
    assert POD is not None
    kube.update(POD, NS, victim, pod, subresource="status")
    settle(sim, kube)
    assert victim not in by_node(kube)["worker-2"] and len(by_node(kube)["worker-2"]) == 1
    assert [e["message"] for e in events(kube, "FailedDaemonPod")] == [
        f"Found failed daemon pod default/{victim} on node worker-2, will try to kill it"
    ]


def test_rolling_update_respects_max_unavailable(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("roll"))
    settle(sim, kube)
    assert DS is not None
    kube.patch(
        DS,
        NS,
        "roll",
        "application/strategic-merge-patch+json",
        {"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "fluentd:1.17"}]}}}},
    )
    new_hash = rsc.compute_hash(get(kube, "apps", "DaemonSet", NS, "roll")["spec"]["template"], None)

    def check() -> None:
        # maxUnavailable 1: at most one node without a ready, live daemon pod.
        live = [p for p in pods(kube) if not rsc.is_terminating(p) and rsc.is_pod_ready(p)]
        assert len({dsc.target_node_name(p) for p in live}) >= 2

    for _ in range(40):
        while sim.step():
            check()
        if not _one_kubelet_action(kube):
            break
        check()
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods(kube)} == {new_hash}
    assert {p["spec"]["containers"][0]["image"] for p in pods(kube)} == {"fluentd:1.17"}
    status = ds_status(kube, "roll")
    assert (status["updatedNumberScheduled"], status["numberAvailable"], status["observedGeneration"]) == (3, 3, 2)


def test_rolling_update_with_surge_keeps_every_node_served(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    create(kube, "apps", "DaemonSet", daemonset("surge", updateStrategy=strategy))
    settle(sim, kube)
    assert DS is not None
    kube.patch(
        DS,
        NS,
        "surge",
        "application/strategic-merge-patch+json",
        {"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "fluentd:1.17"}]}}}},
    )

    def check() -> None:
        live = [p for p in pods(kube) if not rsc.is_terminating(p)]
        ready_nodes = {dsc.target_node_name(p) for p in live if rsc.is_pod_ready(p)}
        assert ready_nodes == set(WORKERS)
        assert max(len(v) for v in by_node(kube).values()) <= 2

    for _ in range(40):
        while sim.step():
            check()
        if not _one_kubelet_action(kube):
            break
        check()
    assert {p["spec"]["containers"][0]["image"] for p in pods(kube)} == {"fluentd:1.17"}
    assert {k: len(v) for k, v in by_node(kube).items()} == dict.fromkeys(WORKERS, 1)


def test_kubeadm_add_ons_come_up(make_sim: Callable[..., ClusterSim]) -> None:
    """kube-proxy tolerates every taint, so it runs on all four nodes; CoreDNS gets its ReplicaSet."""
    sim = make_sim(components=("kube-controller-manager",), system_workloads=True)
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    proxies = [p for p in pods(kube, "kube-system") if p["metadata"]["name"].startswith("kube-proxy-")]
    assert sorted(dsc.target_node_name(p) or "" for p in proxies) == ["control-plane", *WORKERS]
    coredns = [
        rs for rs in items(kube, "apps", "ReplicaSet", "kube-system") if rs["metadata"]["name"].startswith("coredns-")
    ]
    assert len(coredns) == 1 and coredns[0]["spec"]["replicas"] == 2


def _one_kubelet_action(kube: ApiServer) -> bool:
    """Finish one graceful deletion, or bind and start one daemon pod on its pinned node."""
    assert POD is not None
    for pod in pods(kube):
        if rsc.is_terminating(pod):
            kube.delete(POD, NS, pod["metadata"]["name"], grace_period=0)
            return True
    for pod in pods(kube):
        if not rsc.is_pod_ready(pod):
            if not rsc.node_name(pod):
                node = dsc.target_node_name(pod)
                assert node is not None
                kube.bind(NS, pod["metadata"]["name"], {"target": {"kind": "Node", "name": node}})
            mark_running(kube, pod)
            return True
    return False


def test_every_workload_trace_step_is_narrated(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """Each step the four controllers record has a template, and the step carries every {param} it names."""
    sim, kube = kcm
    create(kube, "apps", "ReplicaSet", replicaset("plain", 2))
    create(kube, "apps", "Deployment", deployment("web", 2))
    create(kube, "apps", "StatefulSet", statefulset("db", 2))
    create(kube, "apps", "DaemonSet", daemonset("agent"))
    settle(sim, kube)
    set_image(kube, "web", "nginx:1.27")
    scale(kube, "db", 1)
    settle(sim, kube)
    templates = {**rsc.NARRATION, **dc.NARRATION, **ssc.NARRATION, **dsc.NARRATION}
    steps = TraceStep.objects.filter(
        cluster=sim.cluster, message__regex=r"^kcm\.(replicaset|deployment|statefulset|daemonset)\."
    )
    seen = set()
    for message, params in steps.values_list("message", "params"):
        assert message in templates, message
        missing = set(re.findall(r"\{(\w+)\}", templates[message])) - set(params)
        assert not missing, (message, missing)
        seen.add(message)
    assert {"kcm.deployment.new-rs", "kcm.deployment.rolling", "kcm.replicaset.batch", "kcm.statefulset.create"} <= seen
    assert {"kcm.daemonset.create", "kcm.statefulset.scale-down", "kcm.deployment.scale"} <= seen


# ------------------------------------------------------------------------- ControllerRevisions (update.go)
def ds_revisions(kube: ApiServer, name: str) -> list[dict[str, Any]]:
    return owned_revisions(kube, "DaemonSet", NS, name)


def set_ds_image(kube: ApiServer, name: str, image: str) -> None:
    assert DS is not None
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": image}]}}}}
    kube.patch(DS, NS, name, "application/strategic-merge-patch+json", patch)


def roll(sim: ClusterSim, kube: ApiServer) -> None:
    """Let the control plane and the kubelet stand-in finish a rollout."""
    for _ in range(60):
        sim.run_until_idle()
        if not _one_kubelet_action(kube):
            return
    raise AssertionError("rollout did not finish")


def pod_hashes(kube: ApiServer) -> set[str]:
    return {p["metadata"]["labels"][dsc.HASH_LABEL] for p in pods(kube) if not rsc.is_terminating(p)}


def test_revision_is_recorded_and_names_the_pod_hash(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    body = daemonset("hist")
    body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "kubectl create"}
    ds = create(kube, "apps", "DaemonSet", body)
    sim.run_until_idle()
    [rev] = ds_revisions(kube, "hist")
    digest = rsc.compute_hash(ds["spec"]["template"], None)
    assert rev["metadata"]["name"] == f"hist-{digest}"
    assert rev["metadata"]["labels"] == {"app": "hist", "controller-revision-hash": digest}
    assert rev["metadata"]["annotations"] == ds["metadata"]["annotations"]
    assert rev["metadata"]["annotations"]["kubernetes.io/change-cause"] == "kubectl create"
    assert rev["metadata"]["ownerReferences"] == [rsc.new_controller_ref(ds)]
    assert rev["data"] == {"spec": {"template": {**ds["spec"]["template"], "$patch": "replace"}}}
    assert rev["revision"] == 1
    assert pod_hashes(kube) == {digest}


def test_undo_with_the_revision_data_restores_the_old_pods(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """kubectl rollout undo patches the set with an old revision's data; that revision becomes the newest."""
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("back"))
    roll(sim, kube)
    set_ds_image(kube, "back", "fluentd:1.17")
    roll(sim, kube)
    old, new = ds_revisions(kube, "back")
    assert (old["revision"], new["revision"]) == (1, 2)
    assert pod_hashes(kube) == {new["metadata"]["labels"][dsc.HASH_LABEL]}
    assert DS is not None
    kube.patch(DS, NS, "back", "application/strategic-merge-patch+json", old["data"])
    roll(sim, kube)
    after = ds_revisions(kube, "back")
    assert [(r["metadata"]["name"], r["revision"]) for r in after] == [
        (new["metadata"]["name"], 2),
        (old["metadata"]["name"], 3),
    ]
    assert {p["spec"]["containers"][0]["image"] for p in pods(kube)} == {"fluentd:1.16"}
    assert pod_hashes(kube) == {old["metadata"]["labels"][dsc.HASH_LABEL]}
    status = ds_status(kube, "back")
    assert (status["updatedNumberScheduled"], status["numberAvailable"], status["observedGeneration"]) == (3, 3, 3)


def test_history_beyond_the_limit_is_deleted_oldest_first(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("trim", revisionHistoryLimit=1))
    roll(sim, kube)
    for minor in (17, 18, 19):
        set_ds_image(kube, "trim", f"fluentd:1.{minor}")
        roll(sim, kube)
    kept = ds_revisions(kube, "trim")
    assert [r["revision"] for r in kept] == [3, 4]
    assert kept[-1]["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "fluentd:1.19"


def test_cleanup_spares_revisions_that_pods_still_run(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """OnDelete keeps the old pods; their revision survives a limit of 0, the unused one does not."""
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("keep", updateStrategy={"type": "OnDelete"}, revisionHistoryLimit=0))
    roll(sim, kube)
    for minor in (17, 18):
        set_ds_image(kube, "keep", f"fluentd:1.{minor}")
        roll(sim, kube)
    kept = ds_revisions(kube, "keep")
    assert [r["revision"] for r in kept] == [1, 3]
    assert pod_hashes(kube) == {kept[0]["metadata"]["labels"][dsc.HASH_LABEL]}
    assert ds_status(kube, "keep").get("updatedNumberScheduled", 0) == 0


def test_duplicate_revisions_of_the_current_template_are_merged(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """dedupCurHistories: the newest duplicate stays, pods are relabelled to it, the others go."""
    sim, kube = kcm
    ds = create(kube, "apps", "DaemonSet", daemonset("dup"))
    roll(sim, kube)
    [rev] = ds_revisions(kube, "dup")
    twin = {
        "metadata": {
            "name": "dup-twin",
            "labels": {"app": "dup", dsc.HASH_LABEL: "twin"},
            "ownerReferences": [rsc.new_controller_ref(ds)],
        },
        "data": rev["data"],
        "revision": 2,
    }
    create(kube, "apps", "ControllerRevision", twin)
    roll(sim, kube)
    [kept] = ds_revisions(kube, "dup")
    assert kept["metadata"]["name"] == "dup-twin"
    assert pod_hashes(kube) == {"twin"}
    assert ds_status(kube, "dup")["updatedNumberScheduled"] == 3
    assert len(pods(kube)) == 3  # relabelled, not replaced


def test_hash_collision_bumps_the_collision_count(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    ds = create(kube, "apps", "DaemonSet", daemonset("col"))
    taken = f"col-{rsc.compute_hash(ds['spec']['template'], None)}"
    squatter = {"metadata": {"name": taken, "labels": {"app": "other"}}, "data": {"other": True}, "revision": 1}
    create(kube, "apps", "ControllerRevision", squatter)
    roll(sim, kube)
    assert ds_status(kube, "col")["collisionCount"] == 1
    [rev] = ds_revisions(kube, "col")
    digest = rsc.compute_hash(ds["spec"]["template"], 1)
    assert rev["metadata"]["name"] == f"col-{digest}"
    assert pod_hashes(kube) == {digest}
    assert get(kube, "apps", "ControllerRevision", NS, taken)["data"] == {"other": True}


def test_revisions_go_with_their_daemonset(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "DaemonSet", daemonset("gone"))
    roll(sim, kube)
    assert len(ds_revisions(kube, "gone")) == 1
    assert DS is not None
    kube.delete(DS, NS, "gone")
    roll(sim, kube)
    assert items(kube, "apps", "ControllerRevision", NS) == []
