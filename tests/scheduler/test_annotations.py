"""Decision annotations in kube-scheduler-simulator's shape, and a queue-driven loop."""

from __future__ import annotations

import json
import random

from cluster.scheduler import Cache, Scheduler, SchedulingQueue, decision_annotations, default_profile, schedule_one
from cluster.scheduler.nodeinfo import PodInfo

from .helpers import make_node, make_pod


def test_annotations_shape() -> None:
    nodes = [
        make_node(
            "cp",
            {"cpu": "4", "memory": "8Gi", "pods": "110"},
            taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        ),
        make_node("w1", {"cpu": "4", "memory": "8Gi", "pods": "110"}),
        make_node("w2", {"cpu": "4", "memory": "8Gi", "pods": "110"}),
    ]
    existing = {"w1": [make_pod(node="w1", requests=[{"cpu": "2", "memory": "1Gi"}])]}
    d = schedule_one(
        make_pod(name="web", namespace="default", requests=[{"cpu": "500m", "memory": "512Mi"}]),
        nodes,
        existing,
        rng=random.Random(0),
    )
    ann = decision_annotations(d)
    assert set(ann) == {
        "kubeglass.io/filter-result",
        "kubeglass.io/score-result",
        "kubeglass.io/finalscore-result",
        "kubeglass.io/selected-node",
    }
    assert ann["kubeglass.io/selected-node"] == "w2"
    filters = json.loads(ann["kubeglass.io/filter-result"])
    assert filters["cp"]["TaintToleration"] == "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
    assert filters["w2"] == {
        "NodeName": "passed",
        "NodeResourcesFit": "passed",
        "NodeUnschedulable": "passed",
        "TaintToleration": "passed",
    }
    scores = json.loads(ann["kubeglass.io/score-result"])
    final = json.loads(ann["kubeglass.io/finalscore-result"])
    assert set(scores) == {"w1", "w2"}
    assert all(isinstance(v, str) for per in scores.values() for v in per.values())
    assert final["w2"]["TaintToleration"] == "300" and scores["w2"]["TaintToleration"] == "0"
    assert int(final["w2"]["NodeResourcesFit"]) > int(final["w1"]["NodeResourcesFit"])


def test_unschedulable_annotations() -> None:
    d = schedule_one(
        make_pod(name="p", requests=[{"cpu": "9"}]), [make_node("n", {"cpu": "1", "memory": "1Gi", "pods": "10"})], {}
    )
    ann = decision_annotations(d)
    assert ann["kubeglass.io/selected-node"] == ""
    assert json.loads(ann["kubeglass.io/score-result"]) == {}


def test_queue_and_scheduler_loop() -> None:
    now = [0.0]
    queue = SchedulingQueue.for_profile(lambda: now[0], default_profile())
    nodes = [make_node(f"n{i}", {"cpu": "1", "memory": "2Gi", "pods": "110"}) for i in range(3)]
    sched = Scheduler(cache=Cache.build(nodes), rng=random.Random(5))
    for i in range(4):
        queue.add(make_pod(name=f"p{i}", requests=[{"cpu": "600m"}], priority=i))
    placed = {}
    while (qp := queue.pop()) is not None:
        d = sched.schedule_one(qp.pod_info)
        if d.selected_node:
            placed[qp.pod_info.name] = d.selected_node
            queue.done(qp.key)
        else:
            qp.unschedulable_plugins = set(d.unschedulable_plugins)
            queue.add_unschedulable_if_not_present(qp, queue.scheduling_cycle)
    # highest priority first: p3, p2, p1 get the three nodes; p0 waits
    assert sorted(placed) == ["p1", "p2", "p3"] and len(set(placed.values())) == 3
    assert [q.pod_info.name for q in queue.unschedulable_pods()] == ["p0"]
    # a new node fits p0
    new = make_node("n3", {"cpu": "1", "memory": "2Gi", "pods": "110"})
    sched.cache.add_node(new)
    now[0] += 2
    queue.node_added(new)
    qp = queue.pop()
    assert qp is not None and sched.schedule_one(qp.pod_info).selected_node == "n3"


def test_annotation_text_equals_encoding_the_maps() -> None:
    """The text is built from cached per-node pieces; it must equal encoding the decision's maps."""
    rng = random.Random(7)
    nodes = [
        make_node(
            f"node-{i}",
            {"cpu": str(rng.choice([1, 2, 4])), "memory": "4Gi", "pods": "110"},
            taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}] if i % 5 == 0 else None,
        )
        for i in range(23)
    ]
    existing = {
        f"node-{i}": [make_pod(node=f"node-{i}", requests=[{"cpu": f"{rng.randrange(1, 900)}m"}])]
        for i in range(0, 23, 3)
    }
    for cpu in ("100m", "700m", "1500m", "9"):
        d = schedule_one(make_pod(name="p", requests=[{"cpu": cpu}]), nodes, existing, rng=random.Random(1))
        ann = decision_annotations(d)

        def enc(value: object) -> str:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

        assert ann["kubeglass.io/filter-result"] == enc(d.filter_results)
        assert ann["kubeglass.io/score-result"] == enc(
            {n: {p: str(s) for p, s in per.items()} for n, per in d.raw_scores.items()}
        )
        assert ann["kubeglass.io/finalscore-result"] == enc(
            {n: {p: str(s) for p, s in per.items()} for n, per in d.final_scores.items()}
        )


def test_remembered_layouts_give_the_same_text_and_stay_within_their_budget() -> None:
    """A cached table layout must format to what encoding the maps gives, for every pod that
    reuses it, and the caches forget everything rather than grow past their budget."""
    from cluster.scheduler import annotations

    nodes = [make_node(f"n-{i}", {"cpu": "8", "memory": "16Gi", "pods": "110"}) for i in (3, 1, 12, 2)]
    sched = Scheduler(cache=Cache.build(nodes), rng=random.Random(3))
    annotations._LAYOUTS.texts.clear()
    annotations._LAYOUTS.held = 0
    seen = []
    for i in range(6):
        d = sched.schedule_one(PodInfo(make_pod(name=f"p{i}", requests=[{"cpu": f"{(i + 1) * 300}m"}])))
        assert d.selected_node is not None
        text = decision_annotations(d)["kubeglass.io/score-result"]
        assert text == json.dumps(
            {n: {p: str(s) for p, s in per.items()} for n, per in d.raw_scores.items()},
            sort_keys=True,
            separators=(",", ":"),
        )
        seen.append(text)
    assert len(set(seen)) > 1  # the scores moved while the layout stayed
    assert len(annotations._LAYOUTS.texts) == 1

    small = annotations._Texts(10)
    small.put("a", "x" * 6, 6)
    small.put("b", "y" * 3, 3)
    assert small.get("a") and small.get("b")
    small.put("c", "z" * 4, 4)
    assert small.get("a") is None and small.get("b") is None and small.get("c") == "zzzz"
    assert small.held == 4


def test_cached_texts_undo_the_doubled_percent_signs_with_and_without_plugins() -> None:
    """Names reach the templates with ``%`` doubled; every path must give the plain name back,
    the second time (from the caches) as the first."""
    from cluster.scheduler.framework import ScoreTable
    from cluster.scheduler.schedule_one import Decision

    def enc(value: object) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    bare = Decision(pod="default/p", feasible_nodes=["b%s", "a%%"])
    bare._table = ScoreTable(plugins=[], raw={}, weighted={}, totals=[0, 0])
    scored = Decision(pod="default/p", feasible_nodes=["b%s", "a%%"])
    scored._table = ScoreTable(
        plugins=["Z%d", "A"], raw={"Z%d": [1, 2], "A": [3, 4]}, weighted={"Z%d": [2, 4], "A": [3, 4]}, totals=[5, 8]
    )
    for _ in range(2):
        assert decision_annotations(bare)["kubeglass.io/score-result"] == enc({"a%%": {}, "b%s": {}})
        ann = decision_annotations(scored)
        assert ann["kubeglass.io/score-result"] == enc({"a%%": {"A": "4", "Z%d": "2"}, "b%s": {"A": "3", "Z%d": "1"}})
        assert ann["kubeglass.io/finalscore-result"] == enc(
            {"a%%": {"A": "4", "Z%d": "4"}, "b%s": {"A": "3", "Z%d": "2"}}
        )


def test_unchanged_rows_are_reused_and_changed_rows_are_not() -> None:
    """Pods of one shape leave most nodes' scores as they were: only the rows that moved are
    formatted again, and every table still encodes the decision's own scores."""
    from cluster.scheduler import annotations

    nodes = [make_node(f"n-{i:02d}", {"cpu": "8", "memory": "16Gi", "pods": "110"}) for i in range(20)]
    sched = Scheduler(cache=Cache.build(nodes), rng=random.Random(5))
    annotations._LAYOUTS.texts.clear()
    annotations._LAYOUTS.held = 0
    for i in range(8):
        d = sched.schedule_one(PodInfo(make_pod(name=f"p{i}", requests=[{"cpu": "300m", "memory": "256Mi"}])))
        assert d.selected_node is not None
        ann = decision_annotations(d)
        for key, scores in (("score-result", d.raw_scores), ("finalscore-result", d.final_scores)):
            assert ann[f"kubeglass.io/{key}"] == json.dumps(
                {n: {p: str(s) for p, s in per.items()} for n, per in scores.items()},
                sort_keys=True,
                separators=(",", ":"),
            )
    [layout] = annotations._LAYOUTS.texts.values()
    # Two whole tables for the first pod, then far fewer rows than 7 more pods' 2 x 20 each.
    assert 2 * 20 < layout.formatted < 2 * 20 * 8
