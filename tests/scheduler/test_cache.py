"""The incremental cache: requests, ports, images and memoized scores follow pod/node changes."""

from __future__ import annotations

from cluster.scheduler.cache import Cache
from cluster.scheduler.framework import CycleState, Handle
from cluster.scheduler.nodeinfo import PodInfo
from cluster.scheduler.plugins.node_resources_fit import NodeResourcesFit

from .helpers import make_node, make_pod


def test_requests_ports_and_pvcs_are_incremental() -> None:
    cache = Cache.build([make_node("n", {"cpu": "4", "memory": "8Gi", "pods": "110"})])
    p1 = make_pod(name="a", node="n", requests=[{"cpu": "500m", "memory": "1Gi"}], host_ports=[80])
    p2 = make_pod(
        name="b", node="n", requests=[{}], volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]
    )
    cache.add_pod(p1)
    cache.add_pod(p2)
    ni = cache.get("n")
    assert ni is not None
    assert (ni.requested.milli_cpu, ni.requested.memory) == (500, 2**30)
    assert (ni.non0_cpu, ni.non0_mem) == (600, 2**30 + 200 * 2**20)
    assert ni.used_ports.check_conflict("", "TCP", 80) and ni.pvc_ref_counts == {"/data": 1}
    cache.remove_pod(PodInfo(p1).key)
    assert (ni.requested.milli_cpu, ni.non0_cpu) == (0, 100)
    assert not ni.used_ports.check_conflict("10.0.0.1", "TCP", 80)
    cache.update_pod({**p2, "status": {"phase": "Succeeded"}})
    assert ni.pods == [] and ni.non0_cpu == 0


def test_pods_wait_for_their_node_and_assumed_pods_can_be_forgotten() -> None:
    cache = Cache()
    early = make_pod(name="early", node="later", requests=[{"cpu": "1"}])
    cache.add_pod(early)
    ni = cache.add_node(make_node("later", {"cpu": "4", "memory": "8Gi", "pods": "110"}))
    assert [p.name for p in ni.pods] == ["early"]
    pi = cache.assume_pod(make_pod(name="new", requests=[{"cpu": "1"}]), "later")
    assert cache.is_assumed(pi.key) and ni.requested.milli_cpu == 2000
    cache.forget_pod(pi.key)
    assert ni.requested.milli_cpu == 1000


def test_the_binding_confirms_an_assumed_pod_in_place_and_another_node_moves_it() -> None:
    """The bound pod arriving for an assumed one keeps its PodInfo; bound elsewhere, it moves."""
    spec = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    cache = Cache.build([make_node("a", spec), make_node("b", spec)])
    pending = make_pod(name="p", requests=[{"cpu": "1"}], labels={"app": "web"})
    assumed = cache.assume_pod(pending, "a")
    a, b = cache.get("a"), cache.get("b")
    assert a is not None and b is not None and a.requested.milli_cpu == 1000
    generation = a.generation
    bound = {**pending, "spec": {**pending["spec"], "nodeName": "a"}}
    assert cache.update_pod(bound) is assumed
    assert not cache.is_assumed(assumed.key) and assumed.pod is bound and assumed.node_name == "a"
    assert a.generation == generation and a.requested.milli_cpu == 1000
    # Assumed on one node, bound (by someone else) to another: rebuilt there.
    other = make_pod(name="q", requests=[{"cpu": "2"}])
    first = cache.assume_pod(other, "a")
    moved = cache.update_pod({**other, "spec": {**other["spec"], "nodeName": "b"}})
    assert moved is not None and moved is not first and cache.node_of(first.key) == "b"
    assert (a.requested.milli_cpu, b.requested.milli_cpu) == (1000, 2000)


def test_image_states_track_nodes() -> None:
    img = (["nginx:1.25"], 100)
    cache = Cache.build([make_node("a", images=[img]), make_node("b", images=[img])])
    assert cache.image_states["nginx:1.25"].num_nodes == 2
    cache.update_node(make_node("b"))
    assert cache.image_states["nginx:1.25"].num_nodes == 1
    cache.remove_node("a")
    assert "nginx:1.25" not in cache.image_states


def test_memoized_scores_follow_node_changes() -> None:
    cache = Cache.build([make_node("n", {"cpu": "4", "memory": "8Gi", "pods": "110"})])
    pl = NodeResourcesFit({}, Handle(cache))
    pod = PodInfo(make_pod(requests=[{"cpu": "1", "memory": "1Gi"}]))

    def score() -> int:
        state = CycleState()
        pl.pre_score(state, pod, cache.node_infos())
        return pl.score_nodes(state, pod, cache.node_infos())[0]

    before = score()
    assert score() == before
    cache.add_pod(make_pod(node="n", requests=[{"cpu": "2", "memory": "4Gi"}]))
    after = score()
    assert after < before
    cache.update_node(make_node("n", {"cpu": "64", "memory": "256Gi", "pods": "110"}))
    assert score() > after


def test_a_status_write_keeps_the_pod_info_and_a_label_change_rebuilds_it() -> None:
    """The kubelet's status writes change nothing a PodInfo is made of but the start time."""
    cache = Cache.build([make_node("n", {"cpu": "4", "memory": "8Gi", "pods": "110"})])
    pod = make_pod(name="a", node="n", requests=[{"cpu": "500m"}], labels={"app": "web"})
    first = cache.add_pod(pod)
    ni = cache.get("n")
    assert ni is not None
    generation = ni.generation
    running = {**pod, "status": {"phase": "Running", "startTime": "2026-01-01T00:00:10Z", "podIP": "10.0.0.5"}}
    kept = cache.update_pod(running)
    assert kept is first and kept.pod is running and kept.start_time is not None
    assert ni.generation == generation and ni.requested.milli_cpu == 500 and ni.pods == [first]
    relabelled = {**running, "metadata": {**running["metadata"], "labels": {"app": "db"}}}
    rebuilt = cache.update_pod(relabelled)
    assert rebuilt is not None and rebuilt is not first and rebuilt.labels == {"app": "db"}
    assert ni.generation != generation and [p.labels for p in ni.pods] == [{"app": "db"}]
    assert ni.requested.milli_cpu == 500
    cache.update_pod({**relabelled, "status": {"phase": "Succeeded"}})
    assert ni.pods == [] and ni.requested.milli_cpu == 0
