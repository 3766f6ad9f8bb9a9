"""Whole scheduling cycles: filter reason texts, the FailedScheduling message, how many nodes
are evaluated and from where, tie-breaking, preemption and volume binding."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cluster.scheduler import Cache, Scheduler, load_profile, num_feasible_nodes_to_find, schedule_one, select_host
from cluster.scheduler.framework import Code, NodeToStatus, Status, Workloads, fit_error_message
from cluster.scheduler.schedule_one import truncate_message

from .helpers import make_node, make_pod

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def worker(name: str, cpu: str = "2", memory: str = "4Gi", pods: str = "110", **kw: Any) -> dict[str, Any]:
    return make_node(name, {"cpu": cpu, "memory": memory, "pods": pods}, **kw)


def test_failed_scheduling_message_with_preemption_postfix() -> None:
    nodes = [worker("cp", taints=[CONTROL_PLANE_TAINT]), worker("w1", "1"), worker("w2", "1"), worker("w3", "1")]
    d = schedule_one(
        make_pod(name="big", namespace="default", requests=[{"cpu": "2"}]), nodes, {}, rng=random.Random(0)
    )
    assert d.selected_node is None and d.status == "Unschedulable"
    assert d.message == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu. "
        "preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
    )
    assert d.unschedulable_plugins == {"TaintToleration", "NodeResourcesFit"}
    assert d.filter_results["cp"] == {
        "NodeUnschedulable": "passed",
        "NodeName": "passed",
        "TaintToleration": "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
    }
    assert d.filter_results["w1"]["NodeResourcesFit"] == "Insufficient cpu"
    assert d.raw_scores == {} and d.final_scores == {}
    assert d.rejection_counts() == {
        "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }": 1,
        "Insufficient cpu": 3,
    }


def test_rejection_counts_match_the_filter_results() -> None:
    nodes = [worker("cp", taints=[CONTROL_PLANE_TAINT]), worker("w1", "1"), worker("w2", "4"), worker("w3", "1")]
    d = schedule_one(make_pod(name="p", namespace="default", requests=[{"cpu": "2"}]), nodes, {}, rng=random.Random(0))
    assert d.selected_node == "w2"
    counted: dict[str, int] = {}
    for plugins in d.filter_results.values():
        for result in plugins.values():
            if result != "passed":
                counted[result] = counted.get(result, 0) + 1
    assert d.rejection_counts() == counted and sum(counted.values()) == 3


@pytest.mark.parametrize(
    ("node", "pod_kwargs", "reason"),
    [
        (worker("n", unschedulable=True), {}, "node(s) were unschedulable"),
        (worker("n"), {"nodeName": "other"}, "node(s) didn't match the requested node name"),
        (
            worker("n", labels={"disk": "hdd"}),
            {"node_selector": {"disk": "ssd"}},
            "node(s) didn't match Pod's node affinity/selector",
        ),
        (worker("n"), {"requests": [{"cpu": "3"}]}, "Insufficient cpu"),
        (worker("n"), {"requests": [{"memory": "5Gi"}]}, "Insufficient memory"),
        (worker("n", pods="0"), {}, "Too many pods"),
    ],
)
def test_filter_reason_texts(node: dict[str, Any], pod_kwargs: dict[str, Any], reason: str) -> None:
    d = schedule_one(make_pod(name="p", **pod_kwargs), [node], {}, rng=random.Random(0))
    assert reason in d.filter_results["n"].values()
    assert d.message is not None and d.message.startswith(f"0/1 nodes are available: 1 {reason}.")


def test_node_ports_conflict() -> None:
    existing = make_pod(name="web", node="n", host_ports=[8080])
    d = schedule_one(make_pod(name="p", host_ports=[8080]), [worker("n")], {"n": [existing]}, rng=random.Random(0))
    assert d.filter_results["n"]["NodePorts"] == "node(s) didn't have free ports for the requested pod ports"
    ok = schedule_one(make_pod(name="q", host_ports=[9090]), [worker("n")], {"n": [existing]}, rng=random.Random(0))
    assert ok.selected_node == "n"


def test_topology_spread_reason_in_message() -> None:
    nodes = [worker("a", labels={"zone": "z1"}), worker("b", labels={"zone": "z2"})]
    existing = {"a": [make_pod(node="a", labels={"app": "x"})]}
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "x"}},
        }
    ]
    pod = make_pod(name="p", labels={"app": "x"}, spread=spread)
    d = schedule_one(pod, nodes, existing, rng=random.Random(0))
    assert d.selected_node == "b"
    assert d.filter_results["a"]["PodTopologySpread"] == "node(s) didn't match pod topology spread constraints"


def test_fit_error_message_formats() -> None:
    def m(statuses: dict[str, str], absent: str | None = None, num: int = 3, pre: str = "", post: str = "") -> str:
        nts = NodeToStatus(Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, absent) if absent else None)
        for name, reason in statuses.items():
            nts.set(name, Status(Code.UNSCHEDULABLE, reason))
        return fit_error_message(num, nts, pre, post)

    f1, f2 = "Node(s) failed Filter plugin FalseFilter-1", "Node(s) failed Filter plugin FalseFilter-2"
    assert (
        m({}, "x", pre="Node(s) failed PreFilter plugin FalsePreFilter")
        == "0/3 nodes are available: Node(s) failed PreFilter plugin FalsePreFilter."
    )
    assert m({"n1": f1, "n2": f1, "n3": f1}) == f"0/3 nodes are available: 3 {f1}."
    assert m({"n1": f1, "n2": f1, "n3": f1}, post="Error running PostFilter plugin FailedPostFilter") == (
        f"0/3 nodes are available: 3 {f1}. Error running PostFilter plugin FailedPostFilter"
    )
    assert m({"n1": f1, "n2": f1, "n3": f2}) == f"0/3 nodes are available: 1 {f2}, 2 {f1}."
    assert m({"n1": f1}, absent=f2) == f"0/3 nodes are available: 1 {f1}, 2 {f2}."
    # reasons are sorted as strings: "10 ..." sorts before "2 ..."
    many = {f"n{i}": "A" for i in range(10)} | {"x1": "B", "x2": "B"}
    assert m(many, num=12) == "0/12 nodes are available: 10 A, 2 B."


def test_truncate_message() -> None:
    assert truncate_message("x" * 1024) == "x" * 1024
    assert truncate_message("x" * 2000) == "x" * 1020 + " ..."


def test_no_nodes() -> None:
    d = schedule_one(make_pod(name="p"), [], {}, rng=random.Random(0))
    assert d.message == "no nodes available to schedule pods" and d.selected_node is None


@pytest.mark.parametrize(
    ("profile_pct", "num_all", "want"),
    [
        (0, 10, 10),
        (40, 10, 10),
        (0, 1000, 420),
        (40, 1000, 400),
        (70, 1000, 700),
        (0, 6000, 300),
        (40, 6000, 2400),
        (0, 5000, 500),
        (0, 100, 100),
        (0, 150, 100),
    ],
)
def test_num_feasible_nodes_to_find(profile_pct: int, num_all: int, want: int) -> None:
    assert num_feasible_nodes_to_find(profile_pct, num_all) == want


class _Draws(random.Random):
    """Hands out given draws and counts them."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(0)
        self.values = values
        self.calls: list[int] = []

    def randrange(self, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        self.calls.append(args[0])
        return self.values.pop(0)


def test_select_host_picks_a_top_node_with_one_draw_per_extra_tie() -> None:
    gen = random.Random(42)
    for _ in range(300):
        n = gen.randint(1, 40)
        totals = [gen.choice([100, 150, 200, 250, 300]) for _ in range(n)]
        ties = totals.count(max(totals))
        draws = _Draws([gen.randrange(k) for k in range(2, ties + 1)])
        index, top = select_host(totals, draws)
        assert totals[index] == max(totals), totals
        # rand.Intn(k) for k = 2..ties, as upstream's reservoir sampling draws.
        assert draws.calls == list(range(2, ties + 1))
        assert top[0] == index and len(top) == min(3, n) and len(set(top)) == len(top)
        assert sorted((totals[i] for i in top[1:]), reverse=True) == sorted(totals, reverse=True)[1 : len(top)]


def test_select_host_is_uniform_over_ties() -> None:
    """Reservoir sampling: each of k tied nodes wins about 1/k of the time, whatever their places."""
    totals = [5, 9, 1, 9, 9, 3, 9, 0, 9]
    tied = [i for i, s in enumerate(totals) if s == 9]
    wins = dict.fromkeys(tied, 0)
    rng = random.Random(7)
    trials = 20000
    for _ in range(trials):
        wins[select_host(totals, rng, count=1)[0]] += 1
    assert set(wins) == set(tied)
    for won in wins.values():
        assert abs(won / trials - 1 / len(tied)) < 0.02, wins


def test_select_host_reservoir_in_node_order() -> None:
    # Draw 0 for k makes the k-th tied node (in node order) the candidate.
    assert select_host([7, 7, 7, 7], _Draws([0, 1, 1]))[0] == 1
    assert select_host([7, 7, 7, 7], _Draws([1, 1, 1]))[0] == 0
    assert select_host([7, 7, 7, 7], _Draws([1, 1, 0]))[0] == 3
    assert select_host([3, 7, 1, 7], _Draws([0]), count=3) == (3, [3, 1, 0])
    assert select_host([1, 9, 3], _Draws([]))[0] == 1
    with pytest.raises(ValueError):
        select_host([], random.Random(0))


def test_tie_breaking_is_deterministic_with_a_seeded_rng() -> None:
    nodes = [worker(f"n{i}") for i in range(8)]

    def run(seed: int) -> list[str | None]:
        sched = Scheduler(cache=Cache.build(nodes), rng=random.Random(seed))
        return [sched.schedule_one(make_pod(name=f"p{i}", requests=[{"cpu": "100m"}])).selected_node for i in range(12)]

    assert run(7) == run(7)
    assert len({tuple(run(s)) for s in range(6)}) > 1
    first_picks = {run(s)[0] for s in range(40)}
    assert first_picks == {f"n{i}" for i in range(8)}


def test_round_robin_start_index_and_node_sampling() -> None:
    nodes = [worker(f"node-{i:03d}") for i in range(200)]
    sched = Scheduler(cache=Cache.build(nodes), rng=random.Random(1))
    d1 = sched.schedule_one(make_pod(name="a"))
    assert len(d1.feasible_nodes) == 100 and d1.evaluated_nodes == 100
    assert d1.feasible_nodes[0] == "node-000" and d1.feasible_nodes[-1] == "node-099"
    assert set(d1.filter_results) == {f"node-{i:03d}" for i in range(100)}
    assert d1.next_start_node_index == 100
    d2 = sched.schedule_one(make_pod(name="b"))
    assert d2.feasible_nodes[0] == "node-100" and d2.next_start_node_index == 0


def test_failed_nodes_count_as_processed() -> None:
    nodes = [worker(f"node-{i:03d}", unschedulable=i < 30) for i in range(200)]
    sched = Scheduler(cache=Cache.build(nodes), rng=random.Random(1))
    d = sched.schedule_one(make_pod(name="a"))
    assert len(d.feasible_nodes) == 100 and d.evaluated_nodes == 130
    assert d.next_start_node_index == 130


def test_node_tree_interleaves_zones() -> None:
    zone = "topology.kubernetes.io/zone"
    cache = Cache.build(
        [
            worker("a1", labels={zone: "a"}),
            worker("a2", labels={zone: "a"}),
            worker("a3", labels={zone: "a"}),
            worker("b1", labels={zone: "b"}),
        ]
    )
    assert [n.name for n in cache.node_infos()] == ["a1", "b1", "a2", "a3"]


def test_single_feasible_node_is_not_scored() -> None:
    d = schedule_one(make_pod(name="p"), [worker("n1"), worker("n2", unschedulable=True)], {}, rng=random.Random(0))
    assert d.selected_node == "n1" and d.raw_scores == {}


def test_scores_and_weights() -> None:
    nodes = [
        worker("n1", cpu="4"),
        worker("n2", cpu="4", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
    ]
    d = schedule_one(make_pod(name="p", requests=[{"cpu": "1", "memory": "1Gi"}]), nodes, {}, rng=random.Random(0))
    assert d.score_plugins == (
        "TaintToleration",
        "NodeResourcesFit",
        "NodeResourcesBalancedAllocation",
        "ImageLocality",
    )
    assert d.raw_scores["n1"]["TaintToleration"] == 0 and d.raw_scores["n2"]["TaintToleration"] == 1
    assert d.final_scores["n1"]["TaintToleration"] == 300 and d.final_scores["n2"]["TaintToleration"] == 0
    # LeastAllocated: cpu (4000-1000)*100/4000 = 75, memory (4Gi-1Gi)*100/4Gi = 75
    assert d.raw_scores["n1"]["NodeResourcesFit"] == 75
    assert d.total_scores["n1"] == sum(d.final_scores["n1"].values())
    assert d.selected_node == "n1"


def test_custom_weights_change_the_choice() -> None:
    nodes = [worker("big", cpu="16", memory="64Gi"), worker("small", cpu="2", memory="4Gi")]
    existing = {"small": [make_pod(node="small", requests=[{"cpu": "1", "memory": "2Gi"}])]}
    pod = make_pod(name="p", requests=[{"cpu": "500m", "memory": "1Gi"}])
    assert schedule_one(pod, nodes, existing, rng=random.Random(0)).selected_node == "big"
    most = load_profile(
        """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"""
    )
    d = schedule_one(pod, nodes, existing, profile=most, rng=random.Random(0))
    assert d.selected_node == "small" and d.score_plugins == ("NodeResourcesFit",)
    assert d.final_scores["small"]["NodeResourcesFit"] == 5 * d.raw_scores["small"]["NodeResourcesFit"]


def test_preemption_nominates_a_node_and_picks_victims() -> None:
    nodes = [worker("n1", cpu="2"), worker("n2", cpu="2")]
    low = [make_pod(name="low1", namespace="default", node="n1", requests=[{"cpu": "1500m"}], priority=0)]
    mid = [make_pod(name="mid", namespace="default", node="n2", requests=[{"cpu": "1500m"}], priority=50)]
    pod = make_pod(name="high", namespace="default", requests=[{"cpu": "1"}], priority=100)
    sched = Scheduler(cache=Cache.build(nodes, low + mid), rng=random.Random(3))
    d = sched.schedule_one(pod)
    assert d.selected_node is None
    assert d.message == "0/2 nodes are available: 2 Insufficient cpu."
    # both nodes work with one victim; the lowest highest-victim priority wins
    assert d.nominated_node == "n1" and d.victims == ["default/low1"]
    assert [p.name for p in sched.nominator.pods_for_node("n1")] == ["high"]


def test_preemption_policy_never() -> None:
    nodes = [worker("n1", cpu="1")]
    pod = make_pod(name="p", requests=[{"cpu": "2"}], preemptionPolicy="Never", priority=10)
    d = schedule_one(pod, nodes, {}, rng=random.Random(0))
    assert (
        d.message
        == "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_preemption_respects_pdbs() -> None:
    nodes = [worker("n1", cpu="2"), worker("n2", cpu="2")]
    existing = [
        make_pod(name="a", namespace="ns", node="n1", requests=[{"cpu": "1500m"}], labels={"app": "guarded"}),
        make_pod(name="b", namespace="ns", node="n2", requests=[{"cpu": "1500m"}], labels={"app": "free"}),
    ]
    pdb = {
        "metadata": {"name": "pdb", "namespace": "ns"},
        "spec": {"selector": {"matchLabels": {"app": "guarded"}}},
        "status": {"disruptionsAllowed": 0},
    }
    pod = make_pod(name="high", namespace="ns", requests=[{"cpu": "1"}], priority=100)
    d = schedule_one(pod, nodes, existing, rng=random.Random(0), workloads=Workloads(pod_disruption_budgets=[pdb]))
    assert d.nominated_node == "n2" and d.victims == ["ns/b"]


def test_nominated_pods_reserve_room() -> None:
    nodes = [worker("n1", cpu="2")]
    nominated = make_pod(name="nom", requests=[{"cpu": "1500m"}], priority=100)
    nominated["status"] = {"nominatedNodeName": "n1"}
    lower = make_pod(name="p", requests=[{"cpu": "1"}], priority=1)
    d = schedule_one(lower, nodes, {}, rng=random.Random(0), nominated_pods=[nominated])
    assert d.selected_node is None and d.filter_results["n1"]["NodeResourcesFit"] == "Insufficient cpu"
    higher = make_pod(name="q", requests=[{"cpu": "1"}], priority=200)
    assert schedule_one(higher, nodes, {}, rng=random.Random(0), nominated_pods=[nominated]).selected_node == "n1"


def pvc(name: str, *, volume: str = "", bound: bool = False, storage_class: str = "standard") -> dict[str, Any]:
    ann = {"pv.kubernetes.io/bind-completed": "yes"} if bound else {}
    spec: dict[str, Any] = {
        "storageClassName": storage_class,
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    if volume:
        spec["volumeName"] = volume
    return {
        "metadata": {"name": name, "namespace": "default", "annotations": ann},
        "spec": spec,
        "status": {"phase": "Bound" if bound else "Pending"},
    }


def with_claim(claim: str) -> dict[str, Any]:
    return make_pod(
        name="p", namespace="default", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    )


IMMEDIATE = {"metadata": {"name": "standard"}, "provisioner": "example.com/csi", "volumeBindingMode": "Immediate"}
WFFC = {
    "metadata": {"name": "local"},
    "provisioner": "kubernetes.io/no-provisioner",
    "volumeBindingMode": "WaitForFirstConsumer",
}


def test_volume_binding_missing_and_unbound_claims() -> None:
    nodes = [worker("n1"), worker("n2")]
    d = schedule_one(with_claim("data"), nodes, {}, pvcs=[], storage_classes=[IMMEDIATE], rng=random.Random(0))
    assert d.message == (
        '0/2 nodes are available: persistentvolumeclaim "data" not found. '
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    d = schedule_one(
        with_claim("data"), nodes, {}, pvcs=[pvc("data")], storage_classes=[IMMEDIATE], rng=random.Random(0)
    )
    assert d.message == (
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    assert d.unschedulable_plugins == {"VolumeBinding"}


def test_volume_binding_bound_pv_node_affinity() -> None:
    nodes = [worker("n1", labels={"zone": "a"}), worker("n2", labels={"zone": "b"})]
    pv = {
        "metadata": {"name": "pv1"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]
                }
            },
        },
    }
    d = schedule_one(
        with_claim("data"),
        nodes,
        {},
        pvcs=[pvc("data", volume="pv1", bound=True)],
        pvs=[pv],
        storage_classes=[IMMEDIATE],
        rng=random.Random(0),
    )
    assert d.selected_node == "n2"
    assert d.filter_results["n1"]["VolumeBinding"] == "node(s) had volume node affinity conflict"


def test_volume_binding_wait_for_first_consumer() -> None:
    nodes = [worker("n1"), worker("n2")]
    local_pv = {
        "metadata": {"name": "local-pv"},
        "spec": {
            "storageClassName": "local",
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}
                    ]
                }
            },
        },
        "status": {"phase": "Available"},
    }
    claim = pvc("data", storage_class="local")
    d = schedule_one(
        with_claim("data"), nodes, {}, pvcs=[claim], pvs=[local_pv], storage_classes=[WFFC], rng=random.Random(0)
    )
    # matchFields are ignored for PV node affinity (the node has no name there), so both fit
    assert d.selected_node in ("n1", "n2")
    d = schedule_one(with_claim("data"), nodes, {}, pvcs=[claim], pvs=[], storage_classes=[WFFC], rng=random.Random(0))
    assert d.filter_results["n1"]["VolumeBinding"] == "node(s) didn't find available persistent volumes to bind"
