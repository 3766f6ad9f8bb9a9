"""TaintToleration, NodeAffinity and ImageLocality with upstream's test-table numbers."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.scheduler.plugins.image_locality import ImageLocality
from cluster.scheduler.plugins.node_affinity import NodeAffinity
from cluster.scheduler.plugins.taint_toleration import TaintToleration

from .helpers import make_node, make_pod, plugin_with_cache, run_filter, run_score

PREFER = "PreferNoSchedule"


def tol(key: str, value: str, effect: str, op: str = "Equal") -> dict[str, str]:
    return {"key": key, "operator": op, "value": value, "effect": effect}


def taint(key: str, value: str, effect: str) -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize(
    ("tolerations", "node_taints", "expected"),
    [
        # node with taints tolerated by the pod gets a higher score than one with intolerable taints
        ([tol("foo", "bar", PREFER)], [[taint("foo", "bar", PREFER)], [taint("foo", "blah", PREFER)]], [100, 0]),
        # the count of tolerated taints does not matter
        (
            [tol("cpu-type", "arm64", PREFER), tol("disk-type", "ssd", PREFER)],
            [
                [],
                [taint("cpu-type", "arm64", PREFER)],
                [taint("cpu-type", "arm64", PREFER), taint("disk-type", "ssd", PREFER)],
            ],
            [100, 100, 100],
        ),
        # the more intolerable taints a node has, the lower its score
        (
            [tol("foo", "bar", PREFER)],
            [
                [],
                [taint("cpu-type", "arm64", PREFER)],
                [taint("cpu-type", "arm64", PREFER), taint("disk-type", "ssd", PREFER)],
            ],
            [100, 50, 0],
        ),
        # only PreferNoSchedule taints and tolerations count
        (
            [tol("cpu-type", "arm64", "NoSchedule"), tol("disk-type", "ssd", "NoSchedule")],
            [
                [],
                [taint("cpu-type", "arm64", "NoSchedule")],
                [taint("cpu-type", "arm64", PREFER), taint("disk-type", "ssd", PREFER)],
            ],
            [100, 100, 0],
        ),
        # no taints and tolerations: lands on the node with no taints
        ([], [[], [taint("cpu-type", "arm64", PREFER)]], [100, 0]),
    ],
)
def test_taint_toleration_score(
    tolerations: list[dict[str, str]], node_taints: list[list[dict[str, str]]], expected: list[int]
) -> None:
    nodes = [make_node(f"node{chr(65 + i)}", taints=t) for i, t in enumerate(node_taints)]
    pl = plugin_with_cache(TaintToleration, nodes)
    assert run_score(pl, make_pod(tolerations=tolerations)) == expected


@pytest.mark.parametrize(
    ("tolerations", "taints", "reason"),
    [
        ([], [taint("dedicated", "user1", "NoSchedule")], "node(s) had untolerated taint {dedicated: user1}"),
        ([tol("dedicated", "user1", "NoSchedule")], [taint("dedicated", "user1", "NoSchedule")], None),
        (
            [tol("dedicated", "user2", "NoSchedule")],
            [taint("dedicated", "user1", "NoSchedule")],
            "node(s) had untolerated taint {dedicated: user1}",
        ),
        ([tol("foo", "", "NoSchedule", op="Exists")], [taint("foo", "bar", "NoSchedule")], None),
        (
            [tol("dedicated", "user2", "NoSchedule"), tol("foo", "", "NoSchedule", op="Exists")],
            [taint("dedicated", "user2", "NoSchedule"), taint("foo", "bar", "NoSchedule")],
            None,
        ),
        ([tol("foo", "bar", PREFER)], [taint("foo", "bar", "NoSchedule")], "node(s) had untolerated taint {foo: bar}"),
        ([{"key": "foo", "operator": "Equal", "value": "bar"}], [taint("foo", "bar", "NoSchedule")], None),
        ([tol("dedicated", "user2", "NoSchedule")], [taint("dedicated", "user1", PREFER)], None),
        ([], [taint("dedicated", "user1", PREFER)], None),
        (
            [],
            [taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
            "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
        ),
        (
            [],
            [taint("node.kubernetes.io/not-ready", "", "NoExecute")],
            "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
        ),
    ],
)
def test_taint_toleration_filter(
    tolerations: list[dict[str, str]], taints: list[dict[str, str]], reason: str | None
) -> None:
    pl = plugin_with_cache(TaintToleration, [make_node("nodeA", taints=taints)])
    st = run_filter(pl, make_pod(tolerations=tolerations), "nodeA")
    if reason is None:
        assert st is None
    else:
        assert st.message == reason
        assert st.code.name == "UNSCHEDULABLE_AND_UNRESOLVABLE"


LABEL1 = {"foo": "bar"}
LABEL2 = {"key": "value"}
LABEL3 = {"az": "az1"}
LABEL4 = {"abc": "az11", "def": "az22"}
LABEL5 = {"foo": "bar", "key": "value", "az": "az1"}


def pref(weight: int, *exprs: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {
        "weight": weight,
        "preference": {"matchExpressions": [{"key": k, "operator": op, "values": v} for k, op, v in exprs]},
    }


AFFINITY1 = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [pref(2, ("foo", "In", ["bar"]))]}}
AFFINITY2 = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            pref(2, ("foo", "In", ["bar"])),
            pref(4, ("key", "In", ["value"])),
            pref(5, ("foo", "In", ["bar"]), ("key", "In", ["value"]), ("az", "In", ["az1"])),
        ]
    }
}


@pytest.mark.parametrize(
    ("affinity", "nodes", "args", "expected"),
    [
        (AFFINITY1, [("node1", LABEL4), ("node2", LABEL2), ("node3", LABEL3)], {}, [0, 0, 0]),
        (AFFINITY1, [("node1", LABEL1), ("node2", LABEL2), ("node3", LABEL3)], {}, [100, 0, 0]),
        (AFFINITY2, [("node1", LABEL1), ("node5", LABEL5), ("node2", LABEL2)], {}, [18, 100, 36]),
        (None, [("node1", LABEL1), ("node2", LABEL2)], {"addedAffinity": AFFINITY1["nodeAffinity"]}, [100, 0]),
        (
            AFFINITY1,
            [("node1", LABEL1), ("node2", LABEL2), ("node3", LABEL5)],
            {"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [pref(3, ("key", "In", ["value"]))]}},
            [40, 60, 100],
        ),
    ],
)
def test_node_affinity_priority(
    affinity: Any, nodes: list[tuple[str, dict[str, str]]], args: dict[str, Any], expected: list[int]
) -> None:
    pl = plugin_with_cache(NodeAffinity, [make_node(n, labels=lbl) for n, lbl in nodes], args=args)
    pod = make_pod(affinity=affinity)
    assert run_score(pl, pod) == expected


def test_node_affinity_pre_score_skips_without_preferences() -> None:
    from cluster.scheduler.framework import CycleState
    from cluster.scheduler.nodeinfo import PodInfo

    pl = plugin_with_cache(NodeAffinity, [make_node("node1", labels=LABEL1)])
    st = pl.pre_score(CycleState(), PodInfo(make_pod()), pl.handle.cache.node_infos())
    assert st is not None and st.is_skip


def required(*terms: list[dict[str, Any]], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node_terms = [{"matchExpressions": t} for t in terms]
    if fields is not None:
        node_terms.append({"matchFields": fields})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": node_terms}}}


@pytest.mark.parametrize(
    ("pod_kwargs", "labels", "fits"),
    [
        ({"node_selector": {"foo": "bar"}}, {"foo": "bar"}, True),
        ({"node_selector": {"foo": "bar"}}, {"foo": "baz"}, False),
        ({"affinity": required([{"key": "foo", "operator": "In", "values": ["bar", "value2"]}])}, {"foo": "bar"}, True),
        ({"affinity": required([{"key": "foo", "operator": "NotIn", "values": ["bar"]}])}, {"foo": "bar"}, False),
        ({"affinity": required([{"key": "foo", "operator": "Exists"}])}, {}, False),
        ({"affinity": required([{"key": "foo", "operator": "DoesNotExist"}])}, {}, True),
        (
            {"affinity": required([{"key": "kernel-version", "operator": "Gt", "values": ["0204"]}])},
            {"kernel-version": "0206"},
            True,
        ),
        (
            {"affinity": required([{"key": "kernel-version", "operator": "Lt", "values": ["0204"]}])},
            {"kernel-version": "0206"},
            False,
        ),
        # terms are ORed
        (
            {
                "affinity": required(
                    [{"key": "foo", "operator": "In", "values": ["x"]}],
                    [{"key": "diskType", "operator": "In", "values": ["ssd"]}],
                )
            },
            {"diskType": "ssd"},
            True,
        ),
        # nodeSelector AND affinity
        (
            {"node_selector": {"foo": "bar"}, "affinity": required([{"key": "zone", "operator": "Exists"}])},
            {"foo": "bar"},
            False,
        ),
        # an affinity with no (non-empty) terms matches nothing
        (
            {
                "affinity": {
                    "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}
                }
            },
            {"foo": "bar"},
            False,
        ),
        ({"affinity": required(fields=[{"key": "metadata.name", "operator": "In", "values": ["node1"]}])}, {}, True),
        ({"affinity": required(fields=[{"key": "metadata.name", "operator": "In", "values": ["node2"]}])}, {}, False),
    ],
)
def test_node_affinity_filter(pod_kwargs: dict[str, Any], labels: dict[str, str], fits: bool) -> None:
    pl = plugin_with_cache(NodeAffinity, [make_node("node1", labels=labels)])
    st = run_filter(pl, make_pod(**pod_kwargs), "node1")
    if fits:
        assert st is None
    else:
        assert st.message == "node(s) didn't match Pod's node affinity/selector"
        assert st.code.name == "UNSCHEDULABLE_AND_UNRESOLVABLE"


def test_node_affinity_pre_filter_node_names() -> None:
    from cluster.scheduler.framework import CycleState
    from cluster.scheduler.nodeinfo import PodInfo

    pl = plugin_with_cache(NodeAffinity, [make_node("node1")])
    pod = make_pod(affinity=required(fields=[{"key": "metadata.name", "operator": "In", "values": ["node1", "node2"]}]))
    res, st = pl.pre_filter(CycleState(), PodInfo(pod))
    assert st is None and res is not None and res.node_names == {"node1", "node2"}
    conflict = make_pod(
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["node1"]},
                                {"key": "metadata.name", "operator": "In", "values": ["node2"]},
                            ]
                        }
                    ]
                }
            }
        }
    )
    _, st = pl.pre_filter(CycleState(), PodInfo(conflict))
    assert st is not None and st.message == "pod affinity terms conflict"
    _, st = pl.pre_filter(CycleState(), PodInfo(make_pod()))
    assert st is not None and st.is_skip


MB = 1024 * 1024
NODE_40_300_2000 = [
    (["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40 * MB),
    (["gcr.io/300:latest", "gcr.io/300:v1"], 300 * MB),
    (["gcr.io/2000:latest"], 2000 * MB),
]
NODE_250_10 = [(["gcr.io/250:latest"], 250 * MB), (["gcr.io/10:latest", "gcr.io/10:v1"], 10 * MB)]
NODE_600_40_900 = [
    (["gcr.io/600:latest"], 600 * MB),
    (["gcr.io/40:latest"], 40 * MB),
    (["gcr.io/900:latest"], 900 * MB),
]
NODE_300_600_900 = [
    (["gcr.io/300:latest"], 300 * MB),
    (["gcr.io/600:latest"], 600 * MB),
    (["gcr.io/900:latest"], 900 * MB),
]
NODE_4000_30 = [(["gcr.io/4000:latest"], 4000 * MB), (["gcr.io/30:latest"], 30 * MB)]
NODE_20_30_40 = [(["gcr.io/20:latest"], 20 * MB), (["gcr.io/30:latest"], 30 * MB), (["gcr.io/40:latest"], 40 * MB)]


@pytest.mark.parametrize(
    ("images", "init_images", "nodes", "expected"),
    [
        (["gcr.io/40", "gcr.io/250"], [], [NODE_40_300_2000, NODE_250_10], [0, 5]),
        (["gcr.io/40", "gcr.io/300"], [], [NODE_40_300_2000, NODE_250_10], [7, 0]),
        (["gcr.io/10", "gcr.io/4000"], [], [NODE_4000_30, NODE_250_10], [100, 0]),
        (["gcr.io/10", "gcr.io/4000"], [], [NODE_4000_30, NODE_250_10, []], [66, 0, 0]),
        (["gcr.io/300", "gcr.io/600", "gcr.io/900"], [], [NODE_600_40_900, NODE_300_600_900, []], [32, 36, 0]),
        (["gcr.io/30", "gcr.io/40"], [], [NODE_20_30_40, NODE_4000_30], [1, 0]),
        (["gcr.io/30"], ["gcr.io/300"], [NODE_40_300_2000, NODE_20_30_40], [6, 0]),
    ],
)
def test_image_locality(images: list[str], init_images: list[str], nodes: list[Any], expected: list[int]) -> None:
    pl = plugin_with_cache(ImageLocality, [make_node(f"node{i + 1}", images=imgs) for i, imgs in enumerate(nodes)])
    assert run_score(pl, make_pod(images=images, init_images=init_images)) == expected
