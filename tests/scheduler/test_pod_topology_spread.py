"""PodTopologySpread filter and score, ported from upstream's filtering_test.go / scoring_test.go."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.scheduler.framework import CycleState, Workloads
from cluster.scheduler.nodeinfo import PodInfo
from cluster.scheduler.plugins.pod_topology_spread import PodTopologySpread

from .helpers import make_node, make_pod, plugin_with_cache, run_score

HOST = "kubernetes.io/hostname"
FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
BAR = {"matchExpressions": [{"key": "bar", "operator": "Exists"}]}


def c(skew: int, key: str, when: str, selector: Any, **extra: Any) -> dict[str, Any]:
    out = {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": selector}
    out.update(extra)
    return out


def n(name: str, **labels: str) -> dict[str, Any]:
    return make_node(name, labels={k.replace("__", "/").replace("_", "."): v for k, v in labels.items()})


def host(name: str, **labels: str) -> dict[str, Any]:
    return make_node(name, labels={HOST: name, **labels})


def p(name: str, node: str, labels: dict[str, str] | None = None, namespace: str = "", **kw: Any) -> dict[str, Any]:
    return make_pod(name=name, node=node, labels={"foo": ""} if labels is None else labels, namespace=namespace, **kw)


ZONES_4 = [
    make_node("node-a", labels={"zone": "zone1", "node": "node-a"}),
    make_node("node-b", labels={"zone": "zone1", "node": "node-b"}),
    make_node("node-x", labels={"zone": "zone2", "node": "node-x"}),
    make_node("node-y", labels={"zone": "zone2", "node": "node-y"}),
]
SPREAD_2103 = [
    p("p-a1", "node-a"),
    p("p-a2", "node-a"),
    p("p-b1", "node-b"),
    p("p-y1", "node-y"),
    p("p-y2", "node-y"),
    p("p-y3", "node-y"),
]


def filter_codes(pod: dict[str, Any], nodes: list[dict[str, Any]], existing: list[dict[str, Any]]) -> dict[str, str]:
    pl = plugin_with_cache(PodTopologySpread, nodes, existing, {"defaultingType": "List"})
    state = CycleState()
    pi = PodInfo(pod)
    _, st = pl.pre_filter(state, pi)
    assert st is None, st
    out = {}
    for ni in pl.handle.cache.node_infos():
        res = pl.filter(state, pi, ni)
        out[ni.name] = "Success" if res is None else res.code.name
    return out


S, U, UU = "Success", "UNSCHEDULABLE", "UNSCHEDULABLE_AND_UNRESOLVABLE"


@pytest.mark.parametrize(
    ("name", "pod", "nodes", "existing", "want"),
    [
        (
            "no existing pods",
            make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO)]),
            ZONES_4,
            [],
            [S, S, S, S],
        ),
        (
            "existing pods in a different namespace do not count",
            make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO)]),
            ZONES_4,
            [
                p("p-a1", "node-a", namespace="ns1"),
                p("p-b1", "node-a", namespace="ns2"),
                p("p-x1", "node-x"),
                p("p-y1", "node-y"),
            ],
            [S, S, U, U],
        ),
        (
            "pods spread across zones as 3/3, all nodes fit",
            make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO)]),
            ZONES_4,
            SPREAD_2103,
            [S, S, S, S],
        ),
        (
            "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
            make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO)]),
            [
                make_node("node-a", labels={"zone": "zone1", "node": "node-a"}),
                make_node("node-b", labels={"zon": "zone1", "node": "node-b"}),
                make_node("node-x", labels={"zone": "zone2", "node": "node-x"}),
                make_node("node-y", labels={"zone": "zone2", "node": "node-y"}),
            ],
            [p("p-a1", "node-a"), p("p-b1", "node-b"), p("p-x1", "node-x"), p("p-y1", "node-y")],
            [S, UU, U, U],
        ),
        (
            "pods spread across nodes as 2/1/0/3, only node-x fits",
            make_pod(labels={"foo": ""}, spread=[c(1, "node", "DoNotSchedule", FOO)]),
            ZONES_4,
            SPREAD_2103,
            [U, U, S, U],
        ),
        (
            "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
            make_pod(labels={"foo": ""}, spread=[c(2, "node", "DoNotSchedule", FOO)]),
            ZONES_4,
            SPREAD_2103,
            [U, S, S, U],
        ),
        (
            "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
            make_pod(labels={"bar": ""}, spread=[c(1, "node", "DoNotSchedule", FOO)]),
            ZONES_4,
            SPREAD_2103,
            [U, S, S, U],
        ),
        (
            "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
            make_pod(
                labels={"foo": ""},
                spread=[c(1, "node", "DoNotSchedule", FOO)],
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "node", "operator": "In", "values": ["node-a", "node-y"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
            ),
            ZONES_4,
            SPREAD_2103,
            [S, S, S, U],
        ),
        (
            "terminating Pods should be excluded",
            make_pod(labels={"foo": ""}, spread=[c(1, "node", "DoNotSchedule", FOO)]),
            [make_node("node-a", labels={"node": "node-a"}), make_node("node-b", labels={"node": "node-b"})],
            [
                {
                    **p("p-a", "node-a"),
                    "metadata": {**p("p-a", "node-a")["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"},
                },
                p("p-b", "node-b"),
            ],
            [S, U],
        ),
        (
            "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
            make_pod(
                labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO), c(1, "node", "DoNotSchedule", FOO)]
            ),
            ZONES_4,
            SPREAD_2103,
            [U, U, S, U],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_filter(
    name: str, pod: dict[str, Any], nodes: list[dict[str, Any]], existing: list[dict[str, Any]], want: list[str]
) -> None:
    got = filter_codes(pod, nodes, existing)
    assert list(got.values()) == want


def test_filter_reason_texts() -> None:
    pod = make_pod(labels={"foo": ""}, spread=[c(1, "node", "DoNotSchedule", FOO)])
    pl = plugin_with_cache(
        PodTopologySpread,
        [*ZONES_4, make_node("node-z", labels={"zone": "zone3"})],
        SPREAD_2103,
        {"defaultingType": "List"},
    )
    state, pi = CycleState(), PodInfo(pod)
    pl.pre_filter(state, pi)
    assert (
        pl.filter(state, pi, pl.handle.cache.get("node-a")).message
        == "node(s) didn't match pod topology spread constraints"
    )
    assert (
        pl.filter(state, pi, pl.handle.cache.get("node-z")).message
        == "node(s) didn't match pod topology spread constraints (missing required label)"
    )


def test_min_domains() -> None:
    # Two zones hold 1 and 1 matching pods; with minDomains 3 the global minimum counts as 0,
    # so a third pod in either zone has skew 2 > maxSkew 1.
    nodes = [make_node("a", labels={"zone": "z1"}), make_node("b", labels={"zone": "z2"})]
    existing = [p("p1", "a"), p("p2", "b")]
    without = make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO)])
    with_min = make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO, minDomains=3)])
    assert list(filter_codes(without, nodes, existing).values()) == [S, S]
    assert list(filter_codes(with_min, nodes, existing).values()) == [U, U]


def test_node_taints_policy() -> None:
    # By default (Ignore) a tainted node's domain still counts, so zone2 (0 pods) is the minimum;
    # with Honor the tainted node is excluded and zone1's single domain is the minimum.
    nodes = [
        make_node("a", labels={"zone": "z1"}),
        make_node("x", labels={"zone": "z2"}, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
    ]
    existing = [p("p1", "a")]
    ignore = make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO)])
    honor = make_pod(labels={"foo": ""}, spread=[c(1, "zone", "DoNotSchedule", FOO, nodeTaintsPolicy="Honor")])
    assert filter_codes(ignore, nodes, existing)["a"] == U
    assert filter_codes(honor, nodes, existing)["a"] == S


def score(
    pod: dict[str, Any],
    nodes: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    **kw: Any,
) -> list[int]:
    pl = plugin_with_cache(PodTopologySpread, [*nodes, *failed], existing, **kw)
    return run_score(pl, pod, [nd["metadata"]["name"] for nd in nodes])


def soft(*constraints: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return make_pod(name="p", labels={"foo": ""} if labels is None else labels, spread=list(constraints))


SPREAD_4321 = [p(f"p-{x}{i}", f"node-{x}") for x, cnt in (("a", 4), ("b", 3), ("c", 2), ("d", 1)) for i in range(cnt)]


@pytest.mark.parametrize(
    ("name", "pod", "nodes", "failed", "existing", "want"),
    [
        (
            "one constraint on node, no existing pods",
            soft(c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), host("node-b")],
            [],
            [],
            [100, 100],
        ),
        (
            "one constraint on node, only one node is candidate",
            soft(c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a")],
            [host("node-b")],
            [p("p-a1", "node-a"), p("p-a2", "node-a"), p("p-b1", "node-b")],
            [100],
        ),
        (
            "one constraint on node, all nodes have the same number of matching pods",
            soft(c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), host("node-b")],
            [],
            [p("p-a1", "node-a"), p("p-b1", "node-b")],
            [100, 100],
        ),
        (
            "one constraint on node, all 4 nodes are candidates",
            soft(c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), host("node-b"), host("node-c"), host("node-d")],
            [],
            [
                p("p-a1", "node-a"),
                p("p-a2", "node-a"),
                p("p-b1", "node-b"),
                p("p-d1", "node-d"),
                p("p-d2", "node-d"),
                p("p-d3", "node-d"),
            ],
            [20, 60, 100, 0],
        ),
        (
            "one constraint on node, null selector",
            soft(c(1, HOST, "ScheduleAnyway", None)),
            [host("node-a"), host("node-b"), host("node-c"), host("node-d")],
            [],
            [
                p("p-a1", "node-a"),
                p("p-a2", "node-a"),
                p("p-b1", "node-b"),
                p("p-d1", "node-d"),
                p("p-d2", "node-d"),
                p("p-d3", "node-d"),
            ],
            [100, 100, 100, 100],
        ),
        (
            "one constraint on node, all 4 nodes are candidates, maxSkew=2",
            soft(c(2, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), host("node-b"), host("node-c"), host("node-d")],
            [],
            [
                p("p-a1", "node-a"),
                p("p-a2", "node-a"),
                p("p-b1", "node-b"),
                p("p-d1", "node-d"),
                p("p-d2", "node-d"),
                p("p-d3", "node-d"),
            ],
            [33, 66, 100, 16],
        ),
        (
            "one constraint on node, all 4 nodes are candidates, maxSkew=3",
            soft(c(3, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), host("node-b"), host("node-c"), host("node-d")],
            [],
            SPREAD_4321,
            [44, 66, 77, 100],
        ),
        (
            "one constraint on node, 3 out of 4 nodes are candidates",
            soft(c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), host("node-b"), host("node-x")],
            [host("node-y")],
            [p(f"p-{x}{i}", f"node-{x}") for x, cnt in (("a", 4), ("b", 2), ("x", 1), ("y", 3)) for i in range(cnt)],
            [33, 83, 100],
        ),
        (
            "one constraint on node, 3 out of 4 nodes are candidates, one node doesn't match topology key",
            soft(c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a"), make_node("node-b", labels={"n": "node-b"}), host("node-x")],
            [host("node-y")],
            [p(f"p-{x}{i}", f"node-{x}") for x, cnt in (("a", 4), ("b", 2), ("x", 1), ("y", 3)) for i in range(cnt)],
            [16, 0, 100],
        ),
        (
            "one constraint on zone, 3 out of 4 nodes are candidates",
            soft(c(1, "zone", "ScheduleAnyway", FOO)),
            [host("node-a", zone="zone1"), host("node-b", zone="zone1"), host("node-x", zone="zone2")],
            [host("node-y", zone="zone2")],
            [p(f"p-{x}{i}", f"node-{x}") for x, cnt in (("a", 4), ("b", 2), ("x", 1), ("y", 3)) for i in range(cnt)],
            [75, 75, 100],
        ),
        (
            "two Constraints on zone and node, 2 out of 4 nodes are candidates",
            soft(c(1, "zone", "ScheduleAnyway", FOO), c(1, HOST, "ScheduleAnyway", FOO)),
            [host("node-a", zone="zone1"), host("node-x", zone="zone2")],
            [host("node-b", zone="zone1"), host("node-y", zone="zone2")],
            [p(f"p-{x}{i}", f"node-{x}") for x, cnt in (("a", 2), ("b", 1), ("x", 2), ("y", 4)) for i in range(cnt)],
            [100, 63],
        ),
        (
            "two Constraints on zone, 2 out of 4 nodes are candidates",
            soft(
                c(1, "zone", "ScheduleAnyway", FOO), c(1, "zone", "ScheduleAnyway", BAR), labels={"foo": "", "bar": ""}
            ),
            [make_node("node-a", labels={"zone": "zone1"}), make_node("node-x", labels={"zone": "zone2"})],
            [make_node("node-b", labels={"zone": "zone1"}), make_node("node-y", labels={"zone": "zone2"})],
            [
                p("p-a1", "node-a", {"foo": "", "bar": ""}),
                p("p-a2", "node-a"),
                p("p-b1", "node-b", {"foo": "", "bar": ""}),
                p("p-y1", "node-y"),
                p("p-y2", "node-y", {"foo": "", "bar": ""}),
                p("p-y3", "node-y"),
            ],
            # v1.32 keys pod counts by topology pair only, so both "zone" constraints add into one
            # counter (kubernetes#129067, fixed in v1.33 where upstream's table now says 85).
            [80, 100],
        ),
        (
            "two Constraints on zone and node, with different labelSelectors",
            soft(c(1, "zone", "ScheduleAnyway", FOO), c(1, HOST, "ScheduleAnyway", BAR), labels={"foo": "", "bar": ""}),
            [
                host("node-a", zone="zone1"),
                host("node-b", zone="zone1"),
                host("node-x", zone="zone2"),
                host("node-y", zone="zone2"),
            ],
            [],
            [
                p("p-a1", "node-a"),
                p("p-b1", "node-b", {"foo": "", "bar": ""}),
                p("p-y1", "node-y"),
                p("p-y2", "node-y", {"bar": ""}),
            ],
            [60, 20, 100, 60],
        ),
        (
            "two Constraints on zone and node, with different labelSelectors, some nodes have 0 pods",
            soft(c(1, "zone", "ScheduleAnyway", FOO), c(1, HOST, "ScheduleAnyway", BAR), labels={"foo": "", "bar": ""}),
            [
                host("node-a", zone="zone1"),
                host("node-b", zone="zone1"),
                host("node-x", zone="zone2"),
                host("node-y", zone="zone2"),
            ],
            [],
            [p("p-b1", "node-b", {"bar": ""}), p("p-x1", "node-x"), p("p-y1", "node-y", {"foo": "", "bar": ""})],
            [100, 60, 40, 0],
        ),
        (
            "two Constraints on zone and node, with different labelSelectors, 3 out of 4 nodes are candidates",
            soft(c(1, "zone", "ScheduleAnyway", FOO), c(1, HOST, "ScheduleAnyway", BAR), labels={"foo": "", "bar": ""}),
            [host("node-a", zone="zone1"), host("node-b", zone="zone1"), host("node-x", zone="zone2")],
            [host("node-y", zone="zone2")],
            [
                p("p-a1", "node-a"),
                p("p-b1", "node-b", {"foo": "", "bar": ""}),
                p("p-y1", "node-y"),
                p("p-y2", "node-y", {"bar": ""}),
            ],
            [50, 25, 100],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_score(name: str, pod: Any, nodes: Any, failed: Any, existing: Any, want: list[int]) -> None:
    assert score(pod, nodes, failed, existing, args={"defaultingType": "List"}) == want


def test_score_system_defaulting_uses_service_selector() -> None:
    # "system defaulting, nodes don't have zone, pods match service": same as one hostname constraint.
    pod = make_pod(name="p", labels={"foo": ""})
    nodes = [host("node-a"), host("node-b"), host("node-c"), host("node-d")]
    svc = {"metadata": {"name": "s", "namespace": ""}, "spec": {"selector": {"foo": ""}}}
    got = score(pod, nodes, [], SPREAD_4321, workloads=Workloads(services=[svc]))
    assert got == [44, 66, 77, 100]


def test_system_defaulting_without_service_skips() -> None:
    pl = plugin_with_cache(PodTopologySpread, [host("node-a")])
    pi = PodInfo(make_pod(labels={"foo": ""}))
    assert pl.pre_score(CycleState(), pi, pl.handle.cache.node_infos()).is_skip
    assert pl.pre_filter(CycleState(), pi)[1].is_skip


@pytest.mark.parametrize(
    ("policies", "node_selector", "taint_b", "want"),
    [
        # Node b (zone1, 3 matching pods) fails the pod's nodeSelector: honoured, zone1 counts 0.
        ({}, {"disk": "ssd"}, False, [100, 0]),
        ({"nodeAffinityPolicy": "Ignore"}, {"disk": "ssd"}, False, [25, 100]),
        # Node b has a taint the pod does not tolerate: ignored by default, honoured on request.
        ({}, None, True, [25, 100]),
        ({"nodeTaintsPolicy": "Honor"}, None, True, [100, 0]),
    ],
)
def test_score_counts_only_nodes_the_inclusion_policies_admit(
    policies: dict[str, str], node_selector: dict[str, str] | None, taint_b: bool, want: list[int]
) -> None:
    """Candidates a (zone1) and x (zone2); b (zone1) holds 3 matching pods and x one."""
    nodes = [
        host("node-a", zone="zone1", disk="ssd"),
        make_node(
            "node-b",
            labels={HOST: "node-b", "zone": "zone1"},
            taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}] if taint_b else None,
        ),
        host("node-x", zone="zone2", disk="ssd"),
    ]
    existing = [p(f"p-b{i}", "node-b") for i in range(3)] + [p("p-x0", "node-x")]
    pod = make_pod(
        name="p",
        labels={"foo": ""},
        spread=[c(1, "zone", "ScheduleAnyway", FOO, **policies)],
        node_selector=node_selector,
    )
    pl = plugin_with_cache(PodTopologySpread, nodes, existing, args={"defaultingType": "List"})
    assert run_score(pl, pod, ["node-a", "node-x"]) == want


def test_remembered_match_counts_equal_a_fresh_count_through_adds_removals_and_snapshots() -> None:
    """The remembered count only counts a node's new pods after an add; a removal or a
    snapshot's copied list must make it count again, or a bound or deleted pod is missed."""
    from cluster.scheduler.labels import selector_from_set
    from cluster.scheduler.nodeinfo import NodeInfo
    from cluster.scheduler.plugins.pod_topology_spread import MatchCounts, count_pods_match_selector

    selector = selector_from_set({"foo": ""})
    counts = MatchCounts()
    count = counts.counter(selector, "")
    node = NodeInfo(host("node-a"))

    def check(ni: NodeInfo) -> int:
        got = count(ni)
        assert got == count_pods_match_selector(ni.pods, selector, "")
        return got

    assert check(node) == 0
    p1, p2 = PodInfo(p("p1", "node-a")), PodInfo(p("p2", "node-a"))
    node.add_pod(p1)
    node.add_pod(PodInfo(p("q1", "node-a", labels={"bar": ""})))
    assert check(node) == 1
    node.add_pod(p2)
    assert check(node) == 2
    # A removal swaps the last pod into the hole: the list is no longer an extension.
    assert node.remove_pod(p1.key) is p1
    node.add_pod(PodInfo(p("q2", "node-a", labels={"bar": ""})))
    assert check(node) == 1
    # A snapshot's what-if pods must not leak into the node's count, nor the node's into it.
    copy = node.snapshot()
    copy.add_pod(PodInfo(p("p3", "node-a")))
    assert check(copy) == 2
    node.add_pod(PodInfo(p("q3", "node-a", labels={"bar": ""})))
    assert check(node) == 1
    other = node.snapshot()
    assert other.remove_pod(p2.key) is p2
    assert check(other) == 0
    node.add_pod(PodInfo(p("p4", "node-a")))
    assert check(node) == 2


def _upstream_system_default_scores(
    candidates: list[dict[str, Any]], all_nodes: list[dict[str, Any]], existing: list[dict[str, Any]]
) -> list[int]:
    """PreScore, Score and NormalizeScore as upstream writes them, for the system default
    constraints (hostname skew 3, zone skew 5) with every existing pod matching: no node is
    ignored, and a pair is counted on every node, read or not."""
    import math

    zone = "topology.kubernetes.io/zone"
    on_node: dict[str, int] = {}
    for pod in existing:
        on_node[pod["spec"]["nodeName"]] = on_node.get(pod["spec"]["nodeName"], 0) + 1
    labels = {nd["metadata"]["name"]: nd["metadata"].get("labels") or {} for nd in all_nodes}
    counts: dict[str, int] = {}
    for nd in candidates:
        counts.setdefault(labels[nd["metadata"]["name"]].get(zone, ""), 0)
    weights = (math.log(len(candidates) + 2), math.log(len(counts) + 2))
    for name, node_labels in labels.items():
        value = node_labels.get(zone, "")
        if value in counts:
            counts[value] += on_node.get(name, 0)
    raw = []
    for nd in candidates:
        name = nd["metadata"]["name"]
        score = 0.0
        if HOST in labels[name]:
            score += on_node.get(name, 0) * weights[0] + 2
        if zone in labels[name]:
            score += counts[labels[name][zone]] * weights[1] + 4
        raw.append(int(math.copysign(math.floor(abs(score) + 0.5), score)))
    low, high = min(raw), max(raw)
    return [100 if high == 0 else 100 * (high + low - s) // high for s in raw]


@pytest.mark.parametrize("seed", range(6))
def test_system_default_scores_match_upstream_when_only_some_nodes_have_a_zone(seed: int) -> None:
    """Nodes with a zone, with an empty zone, and with none: a pair only label-less nodes stand
    for is never read by Score, so whether it is counted must not change a score."""
    import random

    rng = random.Random(seed)
    zone = "topology.kubernetes.io/zone"
    nodes = []
    for i in range(12):
        extra = rng.choice([{}, {zone: "z1"}, {zone: "z2"}, {zone: ""}])
        nodes.append(host(f"node-{i}", **extra))
    existing = [p(f"e-{i}", f"node-{rng.randrange(12)}", {"foo": ""}) for i in range(30)]
    candidates = [nd for nd in nodes if rng.random() < 0.7] or nodes[:1]
    svc = {"metadata": {"name": "s", "namespace": ""}, "spec": {"selector": {"foo": ""}}}
    pod = make_pod(name="p", labels={"foo": ""})
    pl = plugin_with_cache(PodTopologySpread, nodes, existing, workloads=Workloads(services=[svc]))
    got = run_score(pl, pod, [nd["metadata"]["name"] for nd in candidates])
    assert got == _upstream_system_default_scores(candidates, nodes, existing)


def test_system_default_scores_match_upstream_when_no_node_has_a_zone() -> None:
    """No scored node carries the zone key: the zone constraint adds nothing to any score, so
    Score may pass over it, and the scores are still upstream's."""
    nodes = [host(f"node-{i}") for i in range(7)]
    existing = [p(f"e-{i}", f"node-{i * 3 % 7}", {"foo": ""}) for i in range(11)]
    svc = {"metadata": {"name": "s", "namespace": ""}, "spec": {"selector": {"foo": ""}}}
    pod = make_pod(name="p", labels={"foo": ""})
    pl = plugin_with_cache(PodTopologySpread, nodes, existing, workloads=Workloads(services=[svc]))
    got = run_score(pl, pod, [nd["metadata"]["name"] for nd in nodes])
    assert got == _upstream_system_default_scores(nodes, nodes, existing)
    assert len(set(got)) > 1  # the hostname constraint still spreads
