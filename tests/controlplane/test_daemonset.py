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
from tests.controlplane.conftest import get, items
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
