"""Node lifecycle and taint eviction: missed heartbeats become Unknown, taints, and evictions on the sim clock.

There is no kubelet in these tests: the test renews the node Leases (and posts node
status when a kubelet comes back) through the API server, as a kubelet would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from cluster import clock
from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.errors import StatusError
from cluster.controlplane.sim import ClusterSim
from tests.controlplane.conftest import get, items

COMPONENTS = ("kube-controller-manager", "cloud-controller-manager")
LEASE = registry.by_kind("coordination.k8s.io", "Lease")
NODE = registry.by_kind("", "Node")
POD = registry.by_kind("", "Pod")
ALL = ("control-plane", "worker-1", "worker-2", "worker-3")


@pytest.fixture
def csim(make_sim: Callable[..., ClusterSim]) -> ClusterSim:
    return make_sim(components=COMPONENTS)


@pytest.fixture
def api(csim: ClusterSim) -> ApiServer:
    return ApiServer(csim.cluster, csim.cluster.owner)


def micro(sim: ClusterSim) -> str:
    return clock.sim_now(sim.cluster).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def renew(sim: ClusterSim, api: ApiServer, nodes: Iterable[str]) -> None:
    """What the kubelet's lease controller does every 10 s."""
    assert LEASE is not None
    for name in nodes:
        try:
            lease = api.get(LEASE, "kube-node-lease", name)
        except StatusError:
            body = {
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro(sim)},
            }
            api.create(LEASE, "kube-node-lease", body)
            continue
        lease = copy.deepcopy(lease)
        lease["spec"]["renewTime"] = micro(sim)
        api.update(LEASE, "kube-node-lease", name, lease)


def heartbeat(sim: ClusterSim, api: ApiServer, nodes: Iterable[str], seconds: float, step: float = 10.0) -> None:
    """Let ``seconds`` of sim time pass while only ``nodes`` keep renewing their leases."""
    names = list(nodes)
    end = sim.ctx.now() + seconds
    while sim.ctx.now() < end:
        renew(sim, api, names)
        sim.advance(min(step, end - sim.ctx.now()))


def heartbeat_until(
    sim: ClusterSim, api: ApiServer, nodes: Iterable[str], done: Callable[[], bool], limit: float = 600
) -> float:
    """Heartbeat second by second until ``done()``; returns the sim time it took."""
    start = sim.ctx.now()
    names = list(nodes)
    while not done():
        assert sim.ctx.now() - start < limit, "condition never reached"
        if int(sim.ctx.now()) % 10 == 0:
            renew(sim, api, names)
        sim.advance(1)
    return sim.ctx.now() - start


def node(api: ApiServer, name: str) -> dict[str, Any]:
    return get(api, "", "Node", None, name)


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == ctype)


def taints(api: ApiServer, name: str) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in node(api, name)["spec"].get("taints") or []}


def running_pod(sim: ClusterSim, api: ApiServer, name: str, node_name: str, **spec: Any) -> dict[str, Any]:
    """A pod bound to ``node_name`` and reported Running and Ready, as scheduler and kubelet would leave it."""
    assert POD is not None
    body = {
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}], **spec},
    }
    api.create(POD, "default", body)
    api.bind("default", name, {"target": {"kind": "Node", "name": node_name}})
    pod = copy.deepcopy(api.get(POD, "default", name))
    now = sim.ctx.timestamp()
    pod["status"].update(
        phase="Running",
        podIP="10.244.1.5",
        podIPs=[{"ip": "10.244.1.5"}],
        conditions=[
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
        ],
    )
    api.update(POD, "default", name, pod, subresource="status")
    sim.run_until_idle()
    return pod


def test_renewed_leases_keep_nodes_ready(csim: ClusterSim, api: ApiServer) -> None:
    heartbeat(csim, api, ALL, 120)
    for name in ALL:
        assert condition(node(api, name), "Ready")["status"] == "True"
        assert taints(api, name) <= {("node-role.kubernetes.io/control-plane", "NoSchedule")}
    registered = [e for e in items(api, "", "Event", "default") if e["reason"] == "RegisteredNode"]
    assert {e["involvedObject"]["name"] for e in registered} == set(ALL)
    assert registered[0]["source"]["component"] == "node-controller"


def test_missed_heartbeats_mark_node_unknown_then_taint_and_evict(csim: ClusterSim, api: ApiServer) -> None:
    heartbeat(csim, api, ALL, 20)
    running_pod(csim, api, "web-abc", "worker-1")
    running_pod(csim, api, "patient", "worker-1", tolerations=[{"operator": "Exists"}])
    others = [n for n in ALL if n != "worker-1"]
    renew(csim, api, ALL)

    # The first monitor pass (every 5 s) more than 40 s after it saw the last renewal posts Unknown.
    took = heartbeat_until(csim, api, others, lambda: condition(node(api, "worker-1"), "Ready")["status"] != "True")
    assert 40 < took <= 50
    w1 = node(api, "worker-1")
    ready = condition(w1, "Ready")
    assert ready["status"] == "Unknown"
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    for ctype in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert condition(w1, ctype)["status"] == "Unknown"
    assert ("node.kubernetes.io/unreachable", "NoSchedule") in taints(api, "worker-1")
    pod = api.get(POD, "default", "web-abc")
    assert condition(pod, "Ready")["status"] == "False"
    warned = [e for e in items(api, "", "Event", "default") if e["reason"] == "NodeNotReady"]
    assert {e["involvedObject"]["kind"] for e in warned} == {"Node", "Pod"}

    # One monitor period later the NoExecute taint follows.
    became_unknown = csim.ctx.now()
    heartbeat_until(
        csim, api, others, lambda: ("node.kubernetes.io/unreachable", "NoExecute") in taints(api, "worker-1")
    )
    assert csim.ctx.now() - became_unknown == 5
    noexec = [t for t in node(api, "worker-1")["spec"]["taints"] if t["effect"] == "NoExecute"]
    assert [t["key"] for t in noexec] == ["node.kubernetes.io/unreachable"]
    tainted_at = csim.ctx.now()
    assert noexec[0]["timeAdded"] == csim.ctx.timestamp()
    # Other nodes are untouched.
    assert condition(node(api, "worker-2"), "Ready")["status"] == "True"

    # The default toleration (300 s, from admission) holds the pod exactly that long.
    heartbeat(csim, api, others, 299)
    assert csim.ctx.now() == tainted_at + 299
    assert not api.get(POD, "default", "web-abc")["metadata"].get("deletionTimestamp")
    heartbeat(csim, api, others, 1)
    evicted = api.get(POD, "default", "web-abc")
    # A graceful delete: deletionTimestamp is now plus the pod's 30 s grace period.
    deadline = clock.parse_rfc3339(evicted["metadata"]["deletionTimestamp"])
    assert (deadline - clock.sim_now(csim.cluster)).total_seconds() == 30
    assert evicted["metadata"]["deletionGracePeriodSeconds"] == 30
    target = condition(evicted, "DisruptionTarget")
    assert (target["status"], target["reason"]) == ("True", "DeletionByTaintManager")
    events = [e for e in items(api, "", "Event", "default") if e["reason"] == "TaintManagerEviction"]
    assert [e["message"] for e in events] == ["Marking for deletion Pod default/web-abc"]
    assert events[0]["source"]["component"] == "taint-eviction-controller"
    # A pod tolerating everything forever stays.
    assert not api.get(POD, "default", "patient")["metadata"].get("deletionTimestamp")


def test_taints_go_when_the_kubelet_comes_back(csim: ClusterSim, api: ApiServer) -> None:
    heartbeat(csim, api, ALL, 20)
    running_pod(csim, api, "web-abc", "worker-1")
    others = [n for n in ALL if n != "worker-1"]
    heartbeat(csim, api, others, 60)
    assert ("node.kubernetes.io/unreachable", "NoExecute") in taints(api, "worker-1")

    # Renewing the lease alone does not make the node Ready: the kubelet must post status.
    heartbeat(csim, api, ALL, 20)
    assert condition(node(api, "worker-1"), "Ready")["status"] == "Unknown"

    # The kubelet posts Ready=True; the next monitor pass removes every controller taint.
    w1 = copy.deepcopy(node(api, "worker-1"))
    now = csim.ctx.timestamp()
    for cond in w1["status"]["conditions"]:
        cond.update(
            status="False" if cond["type"] != "Ready" else "True", lastHeartbeatTime=now, lastTransitionTime=now
        )
        cond["reason"] = "KubeletReady" if cond["type"] == "Ready" else "KubeletHasSufficient"
    assert NODE is not None
    api.update(NODE, None, "worker-1", w1, subresource="status")
    heartbeat(csim, api, ALL, 10)
    assert taints(api, "worker-1") == set()
    events = [e for e in items(api, "", "Event", "default") if e["reason"] == "TaintManagerEviction"]
    assert [e["message"] for e in events] == ["Cancelling deletion of Pod default/web-abc"]
    assert not api.get(POD, "default", "web-abc")["metadata"].get("deletionTimestamp")


def test_toleration_seconds_are_honoured(csim: ClusterSim, api: ApiServer) -> None:
    heartbeat(csim, api, ALL, 20)
    short = [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    ]
    running_pod(csim, api, "quick", "worker-2", tolerations=short)
    others = [n for n in ALL if n != "worker-2"]
    heartbeat(csim, api, others, 50)
    noexec = [t for t in node(api, "worker-2")["spec"].get("taints") or [] if t["effect"] == "NoExecute"]
    assert noexec
    tainted_at = clock.parse_rfc3339(noexec[0]["timeAdded"])
    heartbeat(csim, api, others, 40)
    gone = api.get(POD, "default", "quick")["metadata"]["deletionTimestamp"]
    # Evicted 30 s after the taint; the deletionTimestamp adds the 30 s termination grace period.
    assert (clock.parse_rfc3339(gone) - tainted_at).total_seconds() == 30 + 30


def test_all_nodes_down_is_master_disruption_mode(csim: ClusterSim, api: ApiServer) -> None:
    """When every node stops at once the controller assumes its own network is broken: no taints."""
    heartbeat(csim, api, ALL, 20)
    heartbeat(csim, api, (), 120)
    for name in ALL:
        assert condition(node(api, name), "Ready")["status"] == "Unknown"
        assert ("node.kubernetes.io/unreachable", "NoExecute") not in taints(api, name)
        assert ("node.kubernetes.io/unreachable", "NoSchedule") in taints(api, name)


def test_cordon_adds_unschedulable_taint(csim: ClusterSim, api: ApiServer) -> None:
    assert NODE is not None
    api.patch(NODE, None, "worker-3", "application/merge-patch+json", {"spec": {"unschedulable": True}})
    csim.run_until_idle()
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in taints(api, "worker-3")
    api.patch(NODE, None, "worker-3", "application/merge-patch+json", {"spec": {"unschedulable": None}})
    csim.run_until_idle()
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") not in taints(api, "worker-3")


def test_tainting_is_rate_limited_per_zone(csim: ClusterSim, api: ApiServer) -> None:
    """--node-eviction-rate 0.1: in one zone a second node is tainted 10 s after the first."""
    heartbeat(csim, api, ALL, 20)
    healthy = ["control-plane", "worker-3"]
    noexec = ("node.kubernetes.io/unreachable", "NoExecute")
    heartbeat_until(csim, api, healthy, lambda: noexec in taints(api, "worker-1") or noexec in taints(api, "worker-2"))
    first = csim.ctx.now()
    assert noexec in taints(api, "worker-1") and noexec not in taints(api, "worker-2")
    heartbeat_until(csim, api, healthy, lambda: noexec in taints(api, "worker-2"))
    assert csim.ctx.now() - first == 10


def test_toleration_matching() -> None:
    from cluster.controlplane.controllers.nodelifecycle import matching_tolerations, min_toleration_seconds

    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    assert matching_tolerations([taint], []) == (False, [])
    wildcard = {"operator": "Exists"}
    assert matching_tolerations([taint], [wildcard]) == (True, [wildcard])
    wrong_effect = {"key": taint["key"], "operator": "Exists", "effect": "NoSchedule"}
    assert matching_tolerations([taint], [wrong_effect])[0] is False
    timed = {"key": taint["key"], "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
    assert min_toleration_seconds([timed, wildcard]) == 60
    assert min_toleration_seconds([wildcard]) == -1
    assert min_toleration_seconds([{**timed, "tolerationSeconds": 0}]) == 0
