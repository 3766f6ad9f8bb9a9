"""kube-scheduler's loop: pending pods are bound with the decision recorded, or reported unschedulable."""

from __future__ import annotations

import json

from cluster.api import registry
from cluster.models import TraceStep
from tests.controlplane.conftest import get, items

POD = registry.by_kind("", "Pod")
CM = registry.by_kind("", "ConfigMap")


def _pod(name: str, cpu: str = "100m", **spec: object) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu}}}], **spec},
    }


def test_pending_pod_is_bound_with_simulator_annotations(make_sim) -> None:
    """A pod is bound to a worker (not the tainted control plane), with the decision on the pod."""
    sim = make_sim(components=("kube-scheduler",))
    kube = sim.ctx.api
    kube.create(POD, "default", _pod("p1"))
    sim.run_until_idle()
    pod = get(kube, "", "Pod", "default", "p1")
    node = pod["spec"]["nodeName"]
    assert node.startswith("worker-")
    ann = pod["metadata"]["annotations"]
    assert ann["kubeglass.io/selected-node"] == node
    filters = json.loads(ann["kubeglass.io/filter-result"])
    assert (
        filters["control-plane"]["TaintToleration"]
        == "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
    )
    assert filters[node]["NodeResourcesFit"] == "passed"
    final = json.loads(ann["kubeglass.io/finalscore-result"])
    assert set(final[node]) >= {"NodeResourcesFit", "TaintToleration", "NodeResourcesBalancedAllocation"}
    assert [c["type"] for c in pod["status"]["conditions"]] == ["PodScheduled"]
    events = [e for e in items(kube, "", "Event", "default") if e["involvedObject"]["name"] == "p1"]
    assert [(e["reason"], e["message"]) for e in events] == [
        ("Scheduled", f"Successfully assigned default/p1 to {node}")
    ]
    stages = list(
        TraceStep.objects.filter(cluster=sim.cluster, component="kube-scheduler").values_list("stage", flat=True)
    )
    assert stages[-4:] == ["queue", "filter", "score", "bind"]


def test_unschedulable_pod_gets_the_upstream_message(make_sim) -> None:
    """A pod asking for more CPU than any node has stays Pending with FailedScheduling."""
    sim = make_sim(components=("kube-scheduler",))
    kube = sim.ctx.api
    kube.create(POD, "default", _pod("huge", cpu="64"))
    sim.run_until_idle()
    pod = get(kube, "", "Pod", "default", "huge")
    assert "nodeName" not in pod["spec"]
    cond = pod["status"]["conditions"][0]
    message = (
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "3 Insufficient cpu. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, "
        "3 No preemption victims found for incoming pod."
    )
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", message)
    events = [e for e in items(kube, "", "Event", "default") if e["reason"] == "FailedScheduling"]
    assert events and events[0]["message"] == message


def test_cordoned_nodes_get_no_pods(make_sim) -> None:
    sim = make_sim(components=("kube-scheduler",), workers=2)
    kube = sim.ctx.api
    node = registry.by_kind("", "Node")
    n1 = kube.get(node, None, "worker-1")
    n1["spec"]["unschedulable"] = True
    kube.update(node, None, "worker-1", n1)
    for i in range(4):
        kube.create(POD, "default", _pod(f"p{i}"))
    sim.run_until_idle()
    assert {p["spec"]["nodeName"] for p in items(kube, "", "Pod", "default")} == {"worker-2"}


def test_spread_across_workers_and_same_seed_same_choices(make_sim) -> None:
    """Identical pods spread over the workers (LeastAllocated), and a replay with the same seed picks the same nodes."""

    def run(name: str) -> list[str]:
        sim = make_sim(name=name, components=("kube-scheduler",), seed=3)
        for i in range(6):
            sim.ctx.api.create(POD, "default", _pod(f"p{i}", cpu="500m"))
        sim.run_until_idle()
        return [get(sim.ctx.api, "", "Pod", "default", f"p{i}")["spec"]["nodeName"] for i in range(6)]

    first = run("a")
    assert sorted(first) == ["worker-1", "worker-1", "worker-2", "worker-2", "worker-3", "worker-3"]
    assert run("b") == first


def test_profile_reload_from_configmap(make_sim) -> None:
    """Editing kube-system/kube-scheduler-config reloads the scheduler, and the reload is traced."""
    sim = make_sim(components=("kube-scheduler",))
    kube = sim.ctx.api
    config = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"""
    kube.create(CM, "kube-system", {"metadata": {"name": "kube-scheduler-config"}, "data": {"config.yaml": config}})
    sim.run_until_idle()
    assert TraceStep.objects.filter(cluster=sim.cluster, message="scheduler.reload").exists()
    for i in range(3):
        kube.create(POD, "default", _pod(f"m{i}", cpu="500m"))
        sim.run_until_idle()
    assert len({get(kube, "", "Pod", "default", f"m{i}")["spec"]["nodeName"] for i in range(3)}) == 1
    cm = kube.get(CM, "kube-system", "kube-scheduler-config")
    cm["data"]["config.yaml"] = (
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles: [{pluginz: 1}]\n"
    )
    kube.update(CM, "kube-system", "kube-scheduler-config", cm)
    sim.run_until_idle()
    assert TraceStep.objects.filter(cluster=sim.cluster, message="scheduler.config-invalid").exists()


def test_the_cycle_takes_the_queued_pod_info_and_the_binding_confirms_it(make_sim) -> None:
    """The PodInfo made when the pod was queued is the one assumed, then confirmed by the bind."""
    from cluster.controlplane.scheduler import KubeScheduler

    sim = make_sim(components=("kube-scheduler",))
    kube = sim.ctx.api
    scheduler = next(c for c in sim.by_component["kube-scheduler"] if isinstance(c, KubeScheduler))
    kube.create(POD, "default", _pod("once"))
    sim.informers.sync()
    uid = get(kube, "", "Pod", "default", "once")["metadata"]["uid"]
    queued = next(q for q in scheduler.squeue.active_pods() if q.key == uid)
    sim.run_until_idle()
    pod = get(kube, "", "Pod", "default", "once")
    held = scheduler.scheduler.cache._infos[uid]
    assert held is queued.pod_info and not scheduler.scheduler.cache.is_assumed(uid)
    assert held.node_name == pod["spec"]["nodeName"]
    assert held.pod["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
