"""One cluster's control plane in one process: a deterministic loop over informers, queues and timers.

Tests drive it on the manual clock (``run_until_idle``, ``advance``, ``fast_forward``);
the embedded runtime and the Channels workers drive the same loop on the live clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from cluster import clock, etcd
from cluster.controlplane import components as registry
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import Informers
from cluster.models import Cluster

logger = logging.getLogger(__name__)

# etcd's --batch-interval is 100 ms; a round commits at least this often.
BATCH_SECONDS = 0.05


class Stuck(RuntimeError):
    """The loop kept finding work past its step budget: a controller is fighting itself."""


class WriteBatch:
    """Commits a round's writes a batch at a time (``etcd.GroupCommit``).

    A batch commits at the first key boundary after ``BATCH_SECONDS`` of wall time, so an API
    request from a user waits about that long for the store (longer only behind one big reconcile).
    """

    def __init__(self, cluster_id: int) -> None:
        self.cluster_id = cluster_id
        self._open: etcd.GroupCommit | None = None
        self._opened = 0.0

    def checkpoint(self) -> None:
        """Commit if the open batch is old enough; open one if none is."""
        if self._open is not None and time.perf_counter() - self._opened >= BATCH_SECONDS:
            self.close()
        if self._open is None:
            batch = etcd.GroupCommit(self.cluster_id)
            batch.begin()
            self._open, self._opened = batch, time.perf_counter()

    def close(self) -> None:
        if self._open is not None:
            batch, self._open = self._open, None
            batch.commit()

    def abort(self) -> None:
        if self._open is not None:
            batch, self._open = self._open, None
            batch.abort()


class ClusterSim:
    def __init__(self, cluster: Cluster, components: Iterable[str] = registry.COMPONENTS) -> None:
        self.cluster = cluster
        self.informers = Informers(cluster)
        self.ctx = Context(cluster, informers=self.informers)
        self.components: list[str] = []
        self.by_component: dict[str, list[Controller]] = {}
        self.node_agents: dict[str, dict[str, list[Controller]]] = {}
        self.informers.add_handler("", "Node", self._on_node)
        for name in components:
            self.add_component(name)

    # --------------------------------------------------------------- components
    def add_component(self, name: str) -> None:
        """Start a component's loops (a worker that just won its lease); they catch up from the cache."""
        if name in self.components:
            return
        self.components.append(name)
        self.components.sort(key=lambda n: registry.COMPONENTS.index(n) if n in registry.COMPONENTS else 99)
        controllers = [cls(self.ctx) for cls in registry.cluster_controllers(name)]
        self.by_component[name] = controllers
        if self.informers.synced:
            for ctrl in controllers:
                ctrl.replay()
            if name in registry.NODE_AGENTS:
                for node in self.informers.lister("", "Node"):
                    self._start_agents(node["metadata"]["name"], [name])

    def remove_component(self, name: str) -> None:
        """Stop a component's loops (its lease went to another worker)."""
        if name not in self.components:
            return
        self.components.remove(name)
        for ctrl in self.by_component.pop(name, []):
            ctrl.detach()
        for agents in self.node_agents.values():
            for ctrl in agents.pop(name, []):
                ctrl.detach()

    def _start_agents(self, node: str, components: Iterable[str]) -> None:
        agents = self.node_agents.setdefault(node, {})
        for component in components:
            if component in agents or component not in registry.NODE_AGENTS:
                continue
            controllers = [cls(self.ctx, node) for cls in registry.node_controllers(component)]
            agents[component] = controllers
            if self.informers.synced:
                for ctrl in controllers:
                    ctrl.replay()

    # --------------------------------------------------------------- node agents
    def _on_node(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """A Node that registers gets a kubelet and a kube-proxy loop; one deleted loses them."""
        name = (new or old or {}).get("metadata", {}).get("name")
        if not name:
            return
        if etype == "DELETED":
            for controllers in self.node_agents.pop(name, {}).values():
                for ctrl in controllers:
                    ctrl.detach()
            return
        self._start_agents(name, self.components)

    def all_controllers(self) -> list[Controller]:
        """Every loop in a fixed order: cluster components, then node agents by node name."""
        out: list[Controller] = []
        for name in self.components:
            out.extend(self.by_component.get(name, ()))
        for node in sorted(self.node_agents):
            for name in self.components:
                out.extend(self.node_agents[node].get(name, ()))
        return out

    # --------------------------------------------------------------- the loop
    def refresh_cluster(self) -> None:
        fresh = Cluster.objects.get(pk=self.cluster.pk)
        for field in ("sim_seconds", "clock_speed", "clock_paused", "clock_anchor", "revision", "next_timer"):
            setattr(self.cluster, field, getattr(fresh, field))

    def step(self) -> bool:
        """One round: catch the caches up with the log, then let every loop work off the keys that are
        ready now, in a fixed order, as concurrent workers would between two informer deliveries.

        Events that arrive during the round are folded into one key per object, so a ReplicaSet
        that saw a hundred pod updates reconciles once, not a hundred times. The round's writes
        commit in batches (see ``WriteBatch``).
        """
        worked = False
        batch = WriteBatch(self.cluster.pk)
        try:
            self.informers.sync()
            for ctrl in self.all_controllers():
                budget = ctrl.ready_count()
                while budget > 0:
                    batch.checkpoint()
                    # Every key sees every write before it (the read is skipped when there was none).
                    self.informers.sync()
                    if not ctrl.run_one():
                        break
                    worked = True
                    budget -= 1
        except BaseException:
            batch.abort()
            # The caches may hold writes that just rolled back: list again from the store.
            self.informers.reset()
            raise
        try:
            batch.close()
        except BaseException:
            self.informers.reset()  # the commit failed: the same, for the whole batch
            raise
        return worked

    def run_until_idle(self, max_steps: int = 1_000_000) -> int:
        steps = 0
        while self.step():
            steps += 1
            if steps >= max_steps:
                raise Stuck(f"still busy after {max_steps} steps")
        self.informers.sync()
        return steps

    def next_due(self) -> float | None:
        dues = [d for d in (c.next_due() for c in self.all_controllers()) if d is not None]
        return min(dues) if dues else None

    # --------------------------------------------------------------- the manual clock
    def set_sim_time(self, seconds: float) -> None:
        if seconds <= self.cluster.sim_seconds:
            return
        with transaction.atomic():
            Cluster.objects.filter(pk=self.cluster.pk).update(sim_seconds=seconds)
        self.cluster.sim_seconds = seconds

    def advance(self, seconds: float, max_steps: int = 1_000_000) -> None:
        """Move the manual clock forward, firing every timer on the way in time order."""
        target = clock.sim_seconds(self.cluster) + seconds
        self.run_until_idle(max_steps)
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            self.set_sim_time(due)
            self.run_until_idle(max_steps)
        self.set_sim_time(target)
        self.run_until_idle(max_steps)

    def fast_forward(self, max_steps: int = 1_000_000) -> float | None:
        """Jump to the next timer and run it; returns the new sim time, or None when no timer is set."""
        self.run_until_idle(max_steps)
        due = self.next_due()
        if due is None:
            return None
        self.set_sim_time(due)
        self.run_until_idle(max_steps)
        return self.cluster.sim_seconds

    def run_until(self, predicate: Any, limit_seconds: float = 3600.0, max_steps: int = 1_000_000) -> bool:
        """Fast-forward timer by timer until ``predicate()`` holds or ``limit_seconds`` of sim time pass."""
        start = clock.sim_seconds(self.cluster)
        self.run_until_idle(max_steps)
        while not predicate():
            due = self.next_due()
            if due is None or due - start > limit_seconds:
                return bool(predicate())
            self.set_sim_time(due)
            self.run_until_idle(max_steps)
        return True
