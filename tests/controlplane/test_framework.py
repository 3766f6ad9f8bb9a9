"""The control-loop framework: informers, the workqueue, and the manual clock."""

from __future__ import annotations

from cluster.api import registry
from cluster.controlplane.workqueue import WorkQueue
from tests.controlplane.conftest import items

NS = registry.by_kind("", "Namespace")


def test_workqueue_deduplicates_and_orders() -> None:
    q = WorkQueue("t")
    q.add("a")
    q.add("b")
    q.add("a")
    q.add_after("c", 5.0)
    q.add_after("c", 3.0)
    assert [q.pop(0.0), q.pop(0.0), q.pop(0.0)] == ["a", "b", None]
    assert q.next_due() == 3.0
    assert q.pop(3.0) == "c" and q.pop(10.0) is None


def test_workqueue_backs_off_exponentially() -> None:
    q = WorkQueue("t")
    delays = [q.add_rate_limited("k", 0.0) for _ in range(4)]
    assert delays == [0.005, 0.01, 0.02, 0.04]
    q.forget("k")
    assert q.add_rate_limited("k", 0.0) == 0.005


def test_new_namespace_gets_default_service_account(sim, kube) -> None:
    """The serviceaccount controller reacts to a namespace created through the API."""
    kube.create(NS, None, {"metadata": {"name": "team"}})
    assert items(kube, "", "ServiceAccount", "team") == []
    sim.run_until_idle()
    assert [sa["metadata"]["name"] for sa in items(kube, "", "ServiceAccount", "team")] == ["default"]


def test_advance_moves_sim_time_and_timestamps(sim, kube) -> None:
    before = sim.ctx.now()
    sim.advance(42.0)
    assert sim.ctx.now() == before + 42.0
    ns = kube.create(NS, None, {"metadata": {"name": "later"}}).object
    assert ns["metadata"]["creationTimestamp"] == sim.ctx.timestamp()
