"""The scheduling queue on a fake clock: PrioritySort order, backoff, unschedulable pods,
cluster events with queueing hints, the 5-minute flush and scheduling gates."""

from __future__ import annotations

from typing import Any

from cluster.scheduler.queue import (
    ACTIVE_Q,
    BACKOFF_Q,
    NODE_ADD,
    UNSCHEDULABLE_PODS,
    ClusterEvent,
    SchedulingQueue,
)

from .helpers import make_node, make_pod


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def pod(name: str, priority: int = 0, **kw: Any) -> dict[str, Any]:
    return make_pod(name=name, namespace="default", priority=priority, **kw)


def fail(q: SchedulingQueue, plugins: set[str]) -> str:
    """Pop the next pod and report it unschedulable, rejected by ``plugins``."""
    qp = q.pop()
    assert qp is not None
    qp.unschedulable_plugins = set(plugins)
    return q.add_unschedulable_if_not_present(qp, q.scheduling_cycle)


def test_priority_then_timestamp_order() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("low-early", 0))
    clock.step(1)
    q.add(pod("high-late", 100))
    clock.step(1)
    q.add(pod("low-late", 0))
    q.add(pod("high-later", 100))
    assert [x.pod_info.name for x in q.active_pods()] == ["high-late", "high-later", "low-early", "low-late"]
    assert [q.pop().pod_info.name for _ in range(4)] == ["high-late", "high-later", "low-early", "low-late"]  # type: ignore[union-attr]
    assert q.pop() is None


def test_backoff_doubles_up_to_the_maximum() -> None:
    q = SchedulingQueue(FakeClock())
    qp = q.add(pod("p"))
    durations = []
    for attempts in range(1, 7):
        qp.attempts = attempts
        durations.append(q.backoff_duration(qp))
    assert durations == [1, 2, 4, 8, 10, 10]
    qp.attempts = 0
    assert q.backoff_duration(qp) == 0


def test_unschedulable_without_events_waits_then_is_flushed_after_five_minutes() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p"))
    assert fail(q, {"NodeResourcesFit"}) == UNSCHEDULABLE_PODS
    key = q.unschedulable_pods()[0].key
    clock.step(299)
    q.tick()
    assert q.where(key) == UNSCHEDULABLE_PODS
    clock.step(31)  # past 5 minutes, and the 30 s leftover flush has run
    assert q.pop() is not None
    assert q.where(key) is None  # popped: in flight


def test_event_during_scheduling_sends_pod_to_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p", requests=[{"cpu": "1"}]))
    qp = q.pop()
    assert qp is not None
    q.node_added(make_node("new", {"cpu": "4", "memory": "1Gi", "pods": "10"}))
    qp.unschedulable_plugins = {"NodeResourcesFit"}
    assert q.add_unschedulable_if_not_present(qp, q.scheduling_cycle) == BACKOFF_Q
    assert q.pop() is None  # backing off for 1 s
    clock.step(1)
    again = q.pop()
    assert again is not None and again.attempts == 2


def test_cluster_event_moves_only_pods_it_can_help() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("needs-cpu", requests=[{"cpu": "8"}]))
    q.add(pod("needs-ssd", node_selector={"disk": "ssd"}))
    assert fail(q, {"NodeResourcesFit"}) == UNSCHEDULABLE_PODS
    assert fail(q, {"NodeAffinity"}) == UNSCHEDULABLE_PODS
    clock.step(20)
    # a small node without the label helps neither
    assert q.node_added(make_node("small", {"cpu": "2", "memory": "1Gi", "pods": "10"})) == {}
    # a big node helps the CPU-hungry pod only; its 1 s backoff is over, so it goes active
    moved = q.node_added(make_node("big", {"cpu": "16", "memory": "1Gi", "pods": "10"}))
    assert list(moved.values()) == [ACTIVE_Q]
    assert q.pop().pod_info.name == "needs-cpu"  # type: ignore[union-attr]
    moved = q.node_added(make_node("ssd", {"cpu": "1", "memory": "1Gi", "pods": "10"}, labels={"disk": "ssd"}))
    assert list(moved.values()) == [ACTIVE_Q]


def test_event_while_backing_off_goes_to_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p", requests=[{"cpu": "8"}]))
    assert fail(q, {"NodeResourcesFit"}) == UNSCHEDULABLE_PODS
    clock.step(0.5)
    moved = q.node_added(make_node("big", {"cpu": "16", "memory": "1Gi", "pods": "10"}))
    assert list(moved.values()) == [BACKOFF_Q]
    clock.step(0.5)
    assert q.pop() is not None


def test_assigned_pod_deleted_frees_resources() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p", requests=[{"cpu": "1"}]))
    fail(q, {"NodeResourcesFit"})
    clock.step(5)
    unassigned = pod("gone")
    assert q.assigned_pod_deleted(unassigned) == {}
    moved = q.assigned_pod_deleted(pod("gone2", node="n1"))
    assert list(moved.values()) == [ACTIVE_Q]


def test_scheduling_error_backs_off() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p"))
    assert fail(q, set()) == BACKOFF_Q


def test_wildcard_event_requeues_everything() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("a"))
    q.add(pod("b"))
    fail(q, {"NodeName"})
    fail(q, {"InterPodAffinity"})
    clock.step(30)
    moved = q.move_all_to_active_or_backoff(ClusterEvent("*", "*", "ForceActivate"))
    assert sorted(moved.values()) == [ACTIVE_Q, ACTIVE_Q]


def test_irrelevant_events_are_ignored() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p"))
    fail(q, {"NodeName"})
    assert q.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete")) == {}
    assert q.move_all_to_active_or_backoff(NODE_ADD, None, make_node("n")) != {}


def test_scheduling_gates() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    gated = pod("gated", schedulingGates=[{"name": "example.com/wait"}])
    q.add(gated)
    assert q.pop() is None
    assert q.where(q.unschedulable_pods()[0].key) == UNSCHEDULABLE_PODS
    clock.step(600)
    q.tick()
    assert q.pop() is None  # the 5-minute flush does not ungate
    released = {**gated, "spec": {k: v for k, v in gated["spec"].items() if k != "schedulingGates"}}
    q.update(gated, released)
    assert q.pop() is not None


def test_update_of_unschedulable_pod_requeues_it() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    p = pod("p", node_selector={"disk": "ssd"})
    q.add(p)
    fail(q, {"NodeAffinity"})
    clock.step(2)
    changed = {**p, "spec": {**p["spec"], "nodeSelector": {}}}
    q.update(p, changed)
    assert q.pop() is not None


def test_delete_removes_from_every_subqueue() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    a, b = pod("a"), pod("b")
    q.add(a)
    q.add(b)
    fail(q, {"NodeName"})
    q.delete(a)
    q.delete(b)
    assert len(q) == 0 and q.pop() is None


def test_update_of_in_flight_pod_requeues_it_after_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    p = pod("p", node_selector={"disk": "ssd"})
    q.add(p)
    other = pod("other")
    q.add(other)
    qp = q.pop()
    assert qp is not None and qp.pod_info.name == "p"
    q.update(p, {**p, "spec": {**p["spec"], "nodeSelector": {}}})
    qp.unschedulable_plugins = {"NodeAffinity"}
    assert q.add_unschedulable_if_not_present(qp, q.scheduling_cycle) == BACKOFF_Q
    q2 = q.pop()
    assert q2 is not None and q2.pod_info.name == "other"
    q2.unschedulable_plugins = {"NodeAffinity"}
    assert q.add_unschedulable_if_not_present(q2, q.scheduling_cycle) == UNSCHEDULABLE_PODS
