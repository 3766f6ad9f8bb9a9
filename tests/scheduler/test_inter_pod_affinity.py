"""InterPodAffinity score (upstream scoring_test.go TestPreferredAffinity cases) and filter."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.scheduler.framework import CycleState
from cluster.scheduler.nodeinfo import PodInfo
from cluster.scheduler.plugins.inter_pod_affinity import InterPodAffinity

from .helpers import make_node, make_pod, plugin_with_cache, run_score

RG_CHINA = {"region": "China"}
RG_INDIA = {"region": "India"}
AZ1 = {"az": "az1"}
AZ2 = {"az": "az2"}
RG_CHINA_AZ1 = {"region": "China", "az": "az1"}
S1 = {"security": "S1"}
S2 = {"security": "S2"}

NAMESPACES = [
    {"metadata": {"name": "subteam1.team1", "labels": {"team": "team1"}}},
    {"metadata": {"name": "subteam2.team1", "labels": {"team": "team1"}}},
    {"metadata": {"name": "subteam1.team2", "labels": {"team": "team2"}}},
    {"metadata": {"name": "subteam2.team2", "labels": {"team": "team2"}}},
]


def expr(key: str, op: str, values: list[str] | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values is not None:
        e["values"] = values
    return e


def term(topology: str, *exprs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchExpressions": list(exprs)}, "topologyKey": topology, **extra}


def weighted(weight: int, t: dict[str, Any]) -> dict[str, Any]:
    return {"weight": weight, "podAffinityTerm": t}


STAY_WITH_S1_IN_REGION = {
    "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(5, term("region", expr("security", "In", ["S1"])))]
    }
}
STAY_WITH_S2_IN_REGION = {
    "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(6, term("region", expr("security", "In", ["S2"])))]
    }
}
AFFINITY3 = {
    "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            weighted(8, term("region", expr("security", "NotIn", ["S1"]), expr("security", "In", ["S2"]))),
            weighted(2, term("region", expr("security", "Exists"), expr("wrongkey", "DoesNotExist"))),
        ]
    }
}
HARD_AFFINITY = {
    "podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            term("region", expr("security", "In", ["S1", "value2"])),
            term("region", expr("security", "Exists"), expr("wrongkey", "DoesNotExist")),
        ]
    }
}
AWAY_FROM_S1_IN_AZ = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(5, term("az", expr("security", "In", ["S1"])))]
    }
}
AWAY_FROM_S2_IN_AZ = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(5, term("az", expr("security", "In", ["S2"])))]
    }
}
STAY_S1_AWAY_S2 = {
    "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(8, term("region", expr("security", "In", ["S1"])))]
    },
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(5, term("az", expr("security", "In", ["S2"])))]
    },
}
NS_SELECTOR = {"matchExpressions": [expr("team", "In", ["team1"])]}
AFFINITY_NS_SELECTOR = {
    "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            weighted(
                5,
                term(
                    "region",
                    expr("security", "In", ["S1"]),
                    namespaces=["subteam2.team2"],
                    namespaceSelector=NS_SELECTOR,
                ),
            )
        ]
    }
}
ANTI_AFFINITY_NS_SELECTOR = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            weighted(
                5,
                term(
                    "region",
                    expr("security", "In", ["S1"]),
                    namespaces=["subteam2.team2"],
                    namespaceSelector=NS_SELECTOR,
                ),
            )
        ]
    }
}


def pod(
    labels: dict[str, str] | None = None, node: str = "", affinity: Any = None, namespace: str = ""
) -> dict[str, Any]:
    return make_pod(labels=labels, node=node, affinity=affinity, namespace=namespace)


CASES = [
    (
        "Affinity: pod that matches topology key & pods in nodes will get high score",
        pod(S1, affinity=STAY_WITH_S1_IN_REGION),
        [pod(S1, "node1"), pod(S2, "node2"), pod(S1, "node3")],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", AZ1)],
        [100, 0, 0],
    ),
    (
        "All the nodes that have the same topology key & label value with one of them has an existing pod that matches",
        pod(affinity=STAY_WITH_S1_IN_REGION),
        [pod(S1, "node1")],
        [("node1", RG_CHINA), ("node2", RG_CHINA_AZ1), ("node3", RG_INDIA)],
        [100, 100, 0],
    ),
    (
        "Affinity: nodes in one region has more matching pods comparing to other region",
        pod(S1, affinity=STAY_WITH_S2_IN_REGION),
        [pod(S2, "node1"), pod(S2, "node1"), pod(S2, "node2"), pod(S2, "node3"), pod(S2, "node4"), pod(S2, "node5")],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", RG_CHINA), ("node4", RG_CHINA), ("node5", RG_INDIA)],
        [100, 0, 100, 100, 0],
    ),
    (
        "Affinity: different Label operators and values for pod affinity scheduling preference",
        pod(S1, affinity=AFFINITY3),
        [pod(S1, "node1"), pod(S2, "node2"), pod(S1, "node3")],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", AZ1)],
        [20, 100, 0],
    ),
    (
        "Affinity symmetry: considered only the preferredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry",
        pod(S2),
        [pod(S1, "node1", STAY_WITH_S1_IN_REGION), pod(S2, "node2", STAY_WITH_S2_IN_REGION)],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", AZ1)],
        [0, 100, 0],
    ),
    (
        "Affinity symmetry with namespace selector",
        pod(S1, namespace="subteam1.team1"),
        [pod(S1, "node1", AFFINITY_NS_SELECTOR), pod(S2, "node2", STAY_WITH_S2_IN_REGION)],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", AZ1)],
        [100, 0, 0],
    ),
    (
        "AntiAffinity symmetry with namespace selector",
        pod(S1, namespace="subteam1.team1"),
        [pod(S1, "node1", ANTI_AFFINITY_NS_SELECTOR), pod(S2, "node2", STAY_WITH_S2_IN_REGION)],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", AZ1)],
        [0, 100, 100],
    ),
    (
        "Affinity symmetry: considered RequiredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry",
        pod(S1),
        [pod(S1, "node1", HARD_AFFINITY), pod(S2, "node2", HARD_AFFINITY)],
        [("node1", RG_CHINA), ("node2", RG_INDIA), ("node3", AZ1)],
        [100, 100, 0],
    ),
    (
        "Anti Affinity: pod that does not match existing pods in node will get high score",
        pod(S1, affinity=AWAY_FROM_S1_IN_AZ),
        [pod(S1, "node1"), pod(S2, "node2")],
        [("node1", AZ1), ("node2", RG_CHINA)],
        [0, 100],
    ),
    (
        "Anti Affinity: pod that does not match topology key & match the pods in nodes will get higher score",
        pod(S1, affinity=AWAY_FROM_S1_IN_AZ),
        [pod(S1, "node1"), pod(S1, "node2")],
        [("node1", AZ1), ("node2", RG_CHINA)],
        [0, 100],
    ),
    (
        "Anti Affinity: one node has more matching pods comparing to other node",
        pod(S1, affinity=AWAY_FROM_S1_IN_AZ),
        [pod(S1, "node1"), pod(S1, "node1"), pod(S2, "node2")],
        [("node1", AZ1), ("node2", RG_INDIA)],
        [0, 100],
    ),
    (
        "Anti Affinity symmetry: the existing pods in node which has anti affinity match will get high score",
        pod(S2),
        [pod(S1, "node1", AWAY_FROM_S2_IN_AZ), pod(S2, "node2", AWAY_FROM_S1_IN_AZ)],
        [("node1", AZ1), ("node2", AZ2)],
        [0, 100],
    ),
    (
        "Affinity and Anti Affinity: considered only preferredDuringSchedulingIgnoredDuringExecution in both",
        pod(S1, affinity=STAY_S1_AWAY_S2),
        [pod(S1, "node1"), pod(S1, "node2")],
        [("node1", RG_CHINA), ("node2", AZ1)],
        [100, 0],
    ),
    (
        "Affinity and Anti Affinity: the pod to schedule and existing pods have the same labels",
        pod(S1, affinity=STAY_S1_AWAY_S2),
        [
            pod(S1, "node1"),
            pod(S1, "node1"),
            pod(S1, "node2"),
            pod(S1, "node3"),
            pod(S1, "node3"),
            pod(S1, "node4"),
            pod(S1, "node5"),
        ],
        [("node1", RG_CHINA_AZ1), ("node2", RG_INDIA), ("node3", RG_CHINA), ("node4", RG_CHINA), ("node5", RG_INDIA)],
        [100, 0, 100, 100, 0],
    ),
    (
        "Affinity and Anti Affinity and symmetry",
        pod(S1, affinity=STAY_S1_AWAY_S2),
        [
            pod(S1, "node1"),
            pod(S2, "node2"),
            pod(None, "node3", STAY_S1_AWAY_S2),
            pod(None, "node4", AWAY_FROM_S1_IN_AZ),
        ],
        [("node1", RG_CHINA), ("node2", AZ1), ("node3", RG_INDIA), ("node4", AZ2)],
        [100, 0, 100, 0],
    ),
    (
        "Avoid panic when partial nodes in a topology don't have pods with affinity",
        pod(S1),
        [pod(S1, "node1"), pod(None, "node2", STAY_S1_AWAY_S2)],
        [("node1", RG_CHINA), ("node2", RG_CHINA)],
        [0, 0],
    ),
]


@pytest.mark.parametrize(("name", "incoming", "existing", "nodes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_preferred_affinity(name: str, incoming: Any, existing: Any, nodes: Any, expected: list[int]) -> None:
    pl = plugin_with_cache(
        InterPodAffinity, [make_node(n, labels=lbl) for n, lbl in nodes], existing, namespaces=NAMESPACES
    )
    assert run_score(pl, incoming) == expected


def test_pre_score_skips_without_affinity() -> None:
    pl = plugin_with_cache(InterPodAffinity, [make_node("node1", labels=RG_CHINA), make_node("node2", labels=RG_INDIA)])
    st = pl.pre_score(CycleState(), PodInfo(pod(S1)), pl.handle.cache.node_infos())
    assert st is not None and st.is_skip


def required_affinity(topology: str, labels: dict[str, str], anti: bool = False) -> dict[str, Any]:
    key = "podAntiAffinity" if anti else "podAffinity"
    exprs = [expr(k, "In", [v]) for k, v in labels.items()]
    return {key: {"requiredDuringSchedulingIgnoredDuringExecution": [term(topology, *exprs)]}}


def filter_messages(
    incoming: dict[str, Any], existing: list[dict[str, Any]], nodes: list[tuple[str, dict[str, str]]]
) -> dict[str, str | None]:
    pl = plugin_with_cache(InterPodAffinity, [make_node(n, labels=lbl) for n, lbl in nodes], existing)
    state = CycleState()
    pi = PodInfo(incoming)
    _, st = pl.pre_filter(state, pi)
    if st is not None and st.is_skip:
        return dict.fromkeys((n for n, _ in nodes))
    out: dict[str, str | None] = {}
    for name, _ in nodes:
        res = pl.filter(state, pi, pl.handle.cache.get(name))
        out[name] = None if res is None else res.message
    return out


def test_filter_required_affinity() -> None:
    got = filter_messages(
        pod({"app": "web"}, affinity=required_affinity("region", S1)),
        [pod(S1, "node1")],
        [("node1", RG_CHINA), ("node2", RG_CHINA), ("node3", RG_INDIA), ("node4", AZ1)],
    )
    assert got == {
        "node1": None,
        "node2": None,
        "node3": "node(s) didn't match pod affinity rules",
        "node4": "node(s) didn't match pod affinity rules",
    }


def test_filter_first_pod_of_a_self_affine_group_fits() -> None:
    # No pod matches yet, but the pod matches its own affinity term: it may go anywhere.
    got = filter_messages(
        pod(S1, affinity=required_affinity("region", S1)), [], [("node1", RG_CHINA), ("node2", RG_INDIA)]
    )
    assert got == {"node1": None, "node2": None}


def test_filter_required_anti_affinity() -> None:
    host = "kubernetes.io/hostname"
    got = filter_messages(
        pod(S1, affinity=required_affinity(host, S1, anti=True)),
        [pod(S1, "node1")],
        [("node1", {host: "node1"}), ("node2", {host: "node2"})],
    )
    assert got == {"node1": "node(s) didn't match pod anti-affinity rules", "node2": None}


def test_filter_existing_pods_anti_affinity() -> None:
    host = "kubernetes.io/hostname"
    got = filter_messages(
        pod(S1),
        [pod(S2, "node1", required_affinity(host, S1, anti=True))],
        [("node1", {host: "node1"}), ("node2", {host: "node2"})],
    )
    assert got == {"node1": "node(s) didn't satisfy existing pods anti-affinity rules", "node2": None}
