"""kube-scheduler's control loop: informers feed the scheduling queue and the cache; each cycle
runs the framework in :mod:`cluster.scheduler`, then binds through the ``binding`` subresource.

The decision is recorded on the pod in kube-scheduler-simulator's annotation format
(``kubeglass.io/filter-result`` ...), narrated step by step, and reported as the real
``Scheduled`` / ``FailedScheduling`` events.
"""

from __future__ import annotations

import logging
import random
from typing import Any, ClassVar

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.controlplane import components
from cluster.controlplane.controller import Context, Controller
from cluster.jsonutil import clone
from cluster.scheduler import (
    ClusterEvent,
    Decision,
    ProfileError,
    Scheduler,
    SchedulingQueue,
    decision_annotations,
    default_profile,
    load_profile,
)
from cluster.scheduler.framework import Volumes, Workloads
from cluster.scheduler.plugins.volume_binding import is_delay_binding, pod_claim_names

logger = logging.getLogger(__name__)

COMPONENT = "kube-scheduler"
SCHEDULER_NAME = "default-scheduler"
CONFIG_NAMESPACE, CONFIG_NAME, CONFIG_KEY = "kube-system", "kube-scheduler-config", "config.yaml"

NARRATION = {
    "scheduler.queued": gettext_noop("The scheduler put pod {pod} in its active queue (priority {priority})."),
    "scheduler.filter": gettext_noop("Filtering: {feasible} of {total} nodes can run {pod}.{reasons}"),
    "scheduler.score": gettext_noop("Scoring: {node} scored highest for {pod} with {score} points ({runner_up})."),
    "scheduler.bind": gettext_noop("The scheduler bound {pod} to {node} through the binding subresource."),
    "scheduler.unschedulable": gettext_noop("The scheduler could not place {pod}: {message}"),
    "scheduler.preempt": gettext_noop("To make room for {pod} on {node}, the scheduler preempts {victims}."),
    "scheduler.reload": gettext_noop("The scheduler reloaded its profile from ConfigMap {config}: {summary}."),
    "scheduler.config-invalid": gettext_noop(
        "The scheduler kept its old profile: ConfigMap {config} is invalid: {error}"
    ),
    "scheduler.volume-node": gettext_noop(
        "Claim {claim} waits for its first consumer: the scheduler marks it with node {node}, "
        "so the provisioner creates the volume there."
    ),
}
# VolumeBinding's PreBind: the annotation that tells a WaitForFirstConsumer claim where its pod goes.
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _uid(obj: dict[str, Any]) -> str:
    """The scheduler's cache and queue key pods by UID, as upstream's do."""
    return str(obj["metadata"].get("uid") or _key(obj))


def _responsible(pod: dict[str, Any]) -> bool:
    return (pod.get("spec") or {}).get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME


def _terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class KubeScheduler(Controller):
    component = COMPONENT
    name = "kube-scheduler"
    watches: ClassVar[tuple[tuple[str, str], ...]] = (
        ("", "Pod"),
        ("", "Node"),
        ("", "PersistentVolumeClaim"),
        ("", "PersistentVolume"),
        ("storage.k8s.io", "StorageClass"),
        ("", "ConfigMap"),
    )
    resync_seconds = None

    def __init__(self, ctx: Context) -> None:
        self.profile = default_profile()
        self.config_source: str | None = None
        self.rng: random.Random = ctx.rng("kube-scheduler")
        self.scheduler = Scheduler(self.profile, rng=self.rng)
        self.squeue = SchedulingQueue.for_profile(ctx.now, self.profile)
        super().__init__(ctx)

    # ------------------------------------------------------------------ events
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if kind == "Pod":
            self._on_pod(etype, old, new)
        elif kind == "Node":
            self._on_node(etype, old, new)
        elif kind == "ConfigMap":
            obj = new or old
            if obj and obj["metadata"].get("namespace") == CONFIG_NAMESPACE and obj["metadata"]["name"] == CONFIG_NAME:
                self.queue.add("config")
        else:
            # A volume object changed: pods waiting on a claim may fit now (VolumeBinding's events).
            action = {"ADDED": "Add", "MODIFIED": "Update", "DELETED": "Delete"}[etype]
            self.squeue.move_all_to_active_or_backoff(ClusterEvent(kind, action), old, new)

    def _on_node(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        cache = self.scheduler.cache
        if etype == "DELETED" and old is not None:
            if cache.get(old["metadata"]["name"]) is not None:
                cache.remove_node(old["metadata"]["name"])
            return
        assert new is not None
        name = new["metadata"]["name"]
        if cache.get(name) is None:
            cache.add_node(new)
            self.squeue.node_added(new)
        else:
            cache.update_node(new)
            self.squeue.node_updated(old or new, new)

    def _on_pod(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        cache = self.scheduler.cache
        obj = new if new is not None else old
        assert obj is not None
        key = _uid(obj)
        bound = bool((obj.get("spec") or {}).get("nodeName"))
        if etype == "DELETED":
            if cache.node_of(key) is not None:
                cache.remove_pod(key)
                self.squeue.assigned_pod_deleted(obj)
            self.squeue.delete(obj)
            return
        if bound:
            if self.squeue.where(key) is not None:
                self.squeue.delete(obj)
            if _terminal(obj):
                if cache.node_of(key) is not None:
                    cache.remove_pod(key)
                    self.squeue.assigned_pod_deleted(obj)
                return
            if cache.node_of(key) is None:
                cache.add_pod(obj)
                self.squeue.assigned_pod_added(obj)
            else:
                cache.update_pod(obj)
            return
        if not _responsible(obj) or obj["metadata"].get("deletionTimestamp") or _terminal(obj):
            return
        if self.squeue.where(key) is None:
            q = self.squeue.add(obj)
            self.ctx.trace(
                COMPONENT,
                "queue",
                "scheduler.queued",
                {"pod": _key(obj), "priority": q.pod_info.priority},
                [{"kind": "Pod", "namespace": obj["metadata"]["namespace"], "name": obj["metadata"]["name"]}],
                "kube-apiserver",
                COMPONENT,
            )
        else:
            self.squeue.update(old, obj)

    # ------------------------------------------------------------------ the loop
    def next_due(self) -> float | None:
        due = self.queue.next_due()
        candidates = [due] if due is not None else []
        backoff = self.squeue.backoff_pods()
        if backoff:
            candidates.append(min(self.squeue.backoff_time(q) for q in backoff))
        if self.squeue.unschedulable:
            oldest = min(q.timestamp for q in self.squeue.unschedulable.values())
            candidates.append(oldest + self.squeue.pod_max_in_unschedulable)
        if self.squeue.active_count():
            candidates.append(self.ctx.now())
        return min(candidates) if candidates else None

    def ready_count(self) -> int:
        return super().ready_count() + self.squeue.active_count()

    def run_one(self) -> bool:
        if super().run_one():
            return True
        q = self.squeue.pop()
        if q is None:
            return False
        try:
            self._schedule(q)
        except StatusError as err:
            logger.debug("scheduling %s failed: %s", q.key, err.message)
            self.ctx.pending_trace.clear()
            if self.squeue.where(q.key) is None and self._pending_pod(q.pod) is not None:
                self.squeue.add_unschedulable_if_not_present(q)
            else:
                self.squeue.done(q.key)
        self.ctx.flush_trace()
        return True

    def reconcile(self, key: str) -> float | None:
        if key == "config":
            self._reload_profile()
        return None

    # ------------------------------------------------------------------ a cycle
    def _pending_pod(self, queued: Any) -> dict[str, Any] | None:
        """The live pod behind a queue entry, if it still needs scheduling."""
        meta = queued["metadata"]
        pod = self.ctx.lister("", "Pod").get(meta["namespace"], meta["name"])
        if pod is not None and pod["metadata"].get("uid") != meta.get("uid"):
            return None
        if pod is None or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

    def _refresh_inputs(self) -> None:
        lister = self.ctx.lister
        self.scheduler.volumes = Volumes.build(
            lister("", "PersistentVolumeClaim"),
            lister("", "PersistentVolume"),
            lister("storage.k8s.io", "StorageClass"),
        )
        self.scheduler.workloads = Workloads(
            services=list(lister("", "Service")),
            replica_sets=list(lister("apps", "ReplicaSet")),
            stateful_sets=list(lister("apps", "StatefulSet")),
        )
        self.scheduler.cache.set_namespaces(lister("", "Namespace"))

    def _schedule(self, q: Any) -> None:
        pod = self._pending_pod(q.pod)
        if pod is None:
            self.squeue.done(q.key)
            return
        self._refresh_inputs()
        # The queue's PodInfo, as upstream's cycle takes it, unless the pod changed since.
        decision = self.scheduler.schedule_one(q.pod_info if q.pod is pod else pod)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        involved = [{"kind": "Pod", "namespace": ns, "name": name}]
        total = decision.evaluated_nodes or len(self.scheduler.cache)
        reasons = self._reason_summary(decision)
        self.ctx.trace(
            COMPONENT,
            "filter",
            "scheduler.filter",
            {"pod": f"{ns}/{name}", "feasible": decision.feasible_nodes, "total": total, "reasons": reasons},
            involved,
        )
        if decision.selected_node:
            self._bind(pod, decision, involved)
            self.squeue.done(q.key)
            return
        self._unschedulable(pod, decision, involved)
        q.unschedulable_plugins = set(decision.unschedulable_plugins)
        self.squeue.add_unschedulable_if_not_present(q)

    @staticmethod
    def _reason_summary(decision: Decision) -> str:
        counts = decision.rejection_counts()
        if not counts:
            return ""
        return " " + "; ".join(f"{n} x {reason}" for reason, n in sorted(counts.items()))

    def _bind(self, pod: dict[str, Any], decision: Decision, involved: list[dict[str, Any]]) -> None:
        node = decision.selected_node
        assert node is not None
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        totals = decision.total_scores
        best = totals.get(node, 0)
        # The best of the others, the first in node order on a tie (as a stable sort would give).
        runner = max(((n, s) for n, s in totals.items() if n != node), key=lambda kv: kv[1], default=None)
        self.ctx.trace(
            COMPONENT,
            "score",
            "scheduler.score",
            {
                "pod": f"{ns}/{name}",
                "node": node,
                "score": best,
                "runner_up": f"next: {runner[0]} with {runner[1]}" if runner else "the only feasible node",
            },
            [*involved, {"kind": "Node", "name": node}],
        )
        annotations = decision_annotations(decision)
        self.ctx.trace(
            COMPONENT,
            "bind",
            "scheduler.bind",
            {"pod": f"{ns}/{name}", "node": node},
            [*involved, {"kind": "Node", "name": node}],
            COMPONENT,
            "kube-apiserver",
        )
        self.ctx.flush_trace()
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        self._select_node_for_claims(pod, node)
        try:
            self.ctx.api.bind(ns, name, binding, self.ctx.opts(COMPONENT))
        except StatusError:
            self.scheduler.cache.forget_pod(_uid(pod))
            raise
        self.ctx.event(COMPONENT, pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}")

    def _select_node_for_claims(self, pod: dict[str, Any], node: str) -> None:
        """VolumeBinding's PreBind, simplified: unbound WaitForFirstConsumer claims learn the chosen node.

        Upstream then waits in the binding cycle until the claims are bound; here the pod is bound
        at once and the kubelet waits for the volume before it mounts (docs/simulation.md).
        """
        ns = pod["metadata"]["namespace"]
        volumes = self.scheduler.volumes
        for claim, _ephemeral, _volume in pod_claim_names(pod):
            pvc = volumes.pvcs.get(f"{ns}/{claim}")
            if pvc is None or (pvc.get("spec") or {}).get("volumeName"):
                continue
            if not is_delay_binding(pvc, volumes.storage_classes):
                continue
            if ((pvc.get("metadata") or {}).get("annotations") or {}).get(ANN_SELECTED_NODE) == node:
                continue
            self.ctx.trace(
                COMPONENT,
                "bind",
                "scheduler.volume-node",
                {"claim": f"{ns}/{claim}", "node": node},
                [{"kind": "PersistentVolumeClaim", "namespace": ns, "name": claim}, {"kind": "Node", "name": node}],
                COMPONENT,
                "kube-apiserver",
            )
            self.ctx.patch(
                COMPONENT,
                "",
                "PersistentVolumeClaim",
                ns,
                claim,
                {"metadata": {"annotations": {ANN_SELECTED_NODE: node}}},
            )

    def _unschedulable(self, pod: dict[str, Any], decision: Decision, involved: list[dict[str, Any]]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        message = decision.message
        self.ctx.trace(
            COMPONENT, "unschedulable", "scheduler.unschedulable", {"pod": f"{ns}/{name}", "message": message}, involved
        )
        if decision.nominated_node and decision.victims:
            self._preempt(pod, decision, involved)
        self.ctx.event(COMPONENT, pod, "Warning", "FailedScheduling", message)
        annotations = decision_annotations(decision)
        current = pod["metadata"].get("annotations") or {}
        if any(current.get(k) != v for k, v in annotations.items()):
            self.ctx.patch(COMPONENT, "", "Pod", ns, name, {"metadata": {"annotations": annotations}})
        status = clone(pod.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        old = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        wanted = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        if old is not None and all(old.get(k) == v for k, v in wanted.items()) and not decision.nominated_node:
            return
        wanted["lastProbeTime"] = None
        wanted["lastTransitionTime"] = (
            old["lastTransitionTime"] if old and old.get("status") == "False" else self.ctx.timestamp()
        )
        conditions.append(wanted)
        status["conditions"] = conditions
        if decision.nominated_node:
            status["nominatedNodeName"] = decision.nominated_node
        self.ctx.patch(COMPONENT, "", "Pod", ns, name, {"status": status}, subresource="status")

    def _preempt(self, pod: dict[str, Any], decision: Decision, involved: list[dict[str, Any]]) -> None:
        victims = list(decision.victims)
        names = ", ".join(v if isinstance(v, str) else _key(v) for v in victims)
        self.ctx.trace(
            COMPONENT,
            "preempt",
            "scheduler.preempt",
            {"pod": _key(pod), "node": decision.nominated_node, "victims": names},
            involved,
        )
        for victim in victims:
            key = victim if isinstance(victim, str) else _key(victim)
            vns, _, vname = key.partition("/")
            target = self.ctx.lister("", "Pod").get(vns, vname)
            if target is None:
                continue
            self.ctx.event(
                COMPONENT,
                target,
                "Normal",
                "Preempted",
                f"Preempted by pod {pod['metadata'].get('uid')} on node {decision.nominated_node}",
            )
            self.ctx.delete(COMPONENT, "", "Pod", vns, vname)

    # ------------------------------------------------------------------ the profile
    def _reload_profile(self) -> None:
        cm = self.ctx.lister("", "ConfigMap").get(CONFIG_NAMESPACE, CONFIG_NAME)
        text = ((cm or {}).get("data") or {}).get(CONFIG_KEY)
        if text == self.config_source:
            return
        config = f"{CONFIG_NAMESPACE}/{CONFIG_NAME}"
        involved = [{"kind": "ConfigMap", "namespace": CONFIG_NAMESPACE, "name": CONFIG_NAME}]
        try:
            profile = load_profile(text, SCHEDULER_NAME) if text else default_profile()
        except (ProfileError, ValueError) as exc:
            self.config_source = text
            self.ctx.trace(
                COMPONENT, "config", "scheduler.config-invalid", {"config": config, "error": str(exc)}, involved
            )
            return
        first = self.config_source is None
        self.config_source = text
        self.profile = profile
        cache = self.scheduler.cache
        self.scheduler = Scheduler(profile, cache=cache, rng=self.rng)
        summary = ", ".join(f"{name} weight {weight}" for name, weight in sorted(profile.score_weights.items()))
        self.ctx.trace(
            COMPONENT,
            "config",
            "scheduler.reload",
            {"config": config, "summary": summary or ("defaults" if first else "changed")},
            involved,
        )


components.register(COMPONENT, lambda: [KubeScheduler])
