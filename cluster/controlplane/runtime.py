"""Running the control loops as Channels workers, in one process (embedded) or many (scale-out).

Each component is a consumer bound to its channel name (``kube-scheduler``,
``kube-controller-manager``, ``cloud-controller-manager``, ``kubelet``, ``kube-proxy``,
``coredns``). A message is only a doorbell: the consumer re-reads the store's log from
its cursor, so a lost message costs latency, never correctness. Which worker runs a
cluster's component is decided by a ``coordination.k8s.io`` Lease, as kube-scheduler
and kube-controller-manager do with ``--leader-elect``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import AsyncConsumer
from django.db import close_old_connections

from cluster import doorbell
from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.controlplane import components
from cluster.controlplane.sim import ClusterSim
from cluster.models import Cluster

logger = logging.getLogger(__name__)

LEASE_DURATION = 15.0  # seconds of wall time, upstream's --leader-elect-lease-duration
RENEW_EVERY = 5.0
TICK = 1.0  # the longest a worker waits without looking at the log
LEASE_NAMES = {
    "kube-scheduler": "kube-scheduler",
    "kube-controller-manager": "kube-controller-manager",
    "cloud-controller-manager": "cloud-controller-manager",
}
IDENTITY = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def lease_name(component: str) -> str:
    return LEASE_NAMES.get(component, f"kubeglass-{component}")


def _micro(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_micro(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


class Runtime:
    """All the clusters this process works on, and the components it holds leases for."""

    def __init__(self, components_: tuple[str, ...] = (), identity: str = IDENTITY) -> None:
        self.components: list[str] = list(components_)
        self.identity = identity
        self.sims: dict[int, ClusterSim] = {}
        self.held: dict[tuple[int, str], float] = {}

    # ------------------------------------------------------------ leader election
    def _try_lease(self, sim: ClusterSim, component: str) -> bool:
        """Acquire or renew this worker's Lease for (cluster, component); False when another holds it."""
        key = (sim.cluster.pk, component)
        now = time.time()
        held_at = self.held.get(key)
        if held_at is not None and now - held_at < RENEW_EVERY:
            return True
        leases = registry.by_kind("coordination.k8s.io", "Lease")
        assert leases is not None
        name = lease_name(component)
        api = sim.ctx.api
        opts = sim.ctx.opts(component)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(LEASE_DURATION),
            "renewTime": _micro(now),
        }
        try:
            current = api.get(leases, "kube-system", name)
        except StatusError:
            current = None
        try:
            if current is None:
                spec.update(acquireTime=_micro(now), leaseTransitions=0)
                api.create(leases, "kube-system", {"metadata": {"name": name}, "spec": spec}, opts)
            else:
                cur = current.get("spec") or {}
                holder = cur.get("holderIdentity")
                renewed = _parse_micro(cur["renewTime"]) if cur.get("renewTime") else 0.0
                expired = now - renewed > float(cur.get("leaseDurationSeconds", LEASE_DURATION))
                if holder != self.identity and not expired:
                    self._release_local(sim, component)
                    return False
                if holder != self.identity:
                    spec.update(acquireTime=_micro(now), leaseTransitions=int(cur.get("leaseTransitions", 0)) + 1)
                    sim.ctx.trace(
                        component,
                        "leader-election",
                        "runtime.lease.acquired",
                        {"component": component, "holder": self.identity, "previous": holder or ""},
                        [{"kind": "Lease", "namespace": "kube-system", "name": name}],
                    )
                else:
                    spec.update(acquireTime=cur.get("acquireTime"), leaseTransitions=cur.get("leaseTransitions", 0))
                body = {**current, "spec": spec}
                api.update(leases, "kube-system", name, body, opts)
        except StatusError as err:
            if err.code in (404, 409):
                return key in self.held and now - self.held[key] < LEASE_DURATION
            raise
        self.held[key] = now
        return True

    def _release_local(self, sim: ClusterSim, component: str) -> None:
        self.held.pop((sim.cluster.pk, component), None)
        sim.remove_component(component)

    # ------------------------------------------------------------ the loop
    def sim_for(self, cluster_id: int) -> ClusterSim | None:
        sim = self.sims.get(cluster_id)
        if sim is None:
            cluster = Cluster.objects.filter(pk=cluster_id).first()
            if cluster is None:
                return None
            sim = ClusterSim(cluster, ())
            self.sims[cluster_id] = sim
        return sim

    def work(self, cluster_id: int, only: str | None = None) -> float | None:
        """Run this process's components for one cluster until idle; returns the wall seconds until the next timer."""
        close_old_connections()
        sim = self.sim_for(cluster_id)
        if sim is None:
            self.sims.pop(cluster_id, None)
            return None
        try:
            sim.refresh_cluster()
        except Cluster.DoesNotExist:
            self.sims.pop(cluster_id, None)
            return None
        sim.informers.sync(force=True)
        for component in self.components if only is None else (only,):
            if self._try_lease(sim, component):
                sim.add_component(component)
        sim.ctx.flush_trace()
        sim.run_until_idle()
        self._report_next_timer(sim)
        return self.wall_until_due(sim)

    def _report_next_timer(self, sim: ClusterSim) -> None:
        due = sim.next_due()
        if due != sim.cluster.next_timer:
            Cluster.objects.filter(pk=sim.cluster.pk).update(next_timer=due)
            sim.cluster.next_timer = due

    def wall_until_due(self, sim: ClusterSim) -> float | None:
        due = sim.next_due()
        cluster = sim.cluster
        if due is None or cluster.clock_paused or cluster.clock_speed <= 0:
            return None
        return max(0.0, (due - sim.ctx.now()) / cluster.clock_speed)

    def cluster_ids(self) -> list[int]:
        return list(Cluster.objects.order_by("pk").values_list("pk", flat=True))

    def work_all(self) -> float:
        """One pass over every cluster; returns how long the caller may wait before the next pass."""
        close_old_connections()
        wait = TICK
        live = set(self.cluster_ids())
        for gone in set(self.sims) - live:
            self.sims.pop(gone, None)
        for cluster_id in sorted(live):
            try:
                due = self.work(cluster_id)
            except Exception:  # one broken cluster must not stop the others
                logger.exception("control plane of cluster %s failed; retrying on the next tick", cluster_id)
                self.sims.pop(cluster_id, None)
                continue
            if due is not None:
                wait = min(wait, due)
        return wait

    def enable(self, component: str) -> None:
        if component not in self.components:
            self.components.append(component)


_RUNTIME: Runtime | None = None
_TASK: asyncio.Task[Any] | None = None


def shared_runtime() -> Runtime:
    """One Runtime per process: the consumers of every channel this process serves share it."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime()
    return _RUNTIME


async def run(runtime: Runtime) -> None:
    """Drive the runtime forever: wake on any write (the doorbell), a due timer, or the tick."""
    listener = asyncio.get_running_loop().create_task(doorbell.listen_remote())
    # A standing subscription: a ring that lands while a pass is running is not lost.
    sub = doorbell.Subscription(doorbell.ANY)
    try:
        while True:
            wait = await sync_to_async(runtime.work_all, thread_sensitive=True)()
            await sub.wait(max(0.005, wait))
    finally:
        sub.close()
        listener.cancel()


def _ensure_loop() -> None:
    global _TASK
    if _TASK is None or _TASK.done():
        _TASK = asyncio.get_running_loop().create_task(run(shared_runtime()))


class ComponentConsumer(AsyncConsumer):
    """The consumer bound to one component's channel (``manage.py runworker kube-scheduler``).

    The first message enables the component in this process's runtime; every message
    after that is only a hint to look at the log sooner.
    """

    component = ""

    async def cluster_changed(self, message: dict[str, Any]) -> None:
        self._enable()
        doorbell.ring(int(message.get("cluster") or doorbell.ANY))

    async def cluster_tick(self, message: dict[str, Any]) -> None:
        self._enable()

    def _enable(self) -> None:
        shared_runtime().enable(self.component)
        _ensure_loop()


def consumer_for(component: str) -> type[ComponentConsumer]:
    return type(f"{component.title().replace('-', '')}Consumer", (ComponentConsumer,), {"component": component})


def channel_router() -> Any:
    from channels.routing import ChannelNameRouter

    return ChannelNameRouter({name: consumer_for(name).as_asgi() for name in components.COMPONENTS})


async def beat(names: tuple[str, ...] = components.COMPONENTS, every: float = TICK) -> None:
    """Knock on every component channel now and then, so that idle workers start and stay awake."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    while True:
        for name in names:
            try:
                await layer.send(name, {"type": "cluster.tick"})
            except Exception:  # a full channel only means the worker is busy or absent
                logger.debug("beat to %s not delivered", name)
        await asyncio.sleep(every)


async def run_embedded() -> None:
    """`make run`: a Channels worker for every component, inside this process, on daphne's loop."""
    from channels.layers import get_channel_layer
    from channels.worker import Worker

    worker = Worker(
        application=channel_router(), channels=list(components.COMPONENTS), channel_layer=get_channel_layer()
    )
    await asyncio.gather(worker.arun(), beat())
