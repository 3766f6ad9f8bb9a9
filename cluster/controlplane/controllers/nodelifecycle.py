"""The node lifecycle controller and the taint eviction controller (NoExecuteTaintManager).

Upstream ``pkg/controller/nodelifecycle`` and ``pkg/controller/tainteviction``, on the sim clock:

* every ``NODE_MONITOR_PERIOD`` the controller looks at each Node's Ready condition and its
  Lease in ``kube-node-lease``; when neither has moved for ``NODE_MONITOR_GRACE_PERIOD`` it
  sets Ready (and the kubelet's pressure conditions) to Unknown, reports ``NodeNotReady``
  and marks the node's pods Ready=False;
* a node seen NotReady/Unknown on a monitor pass is queued, rate limited per zone, for the
  ``node.kubernetes.io/not-ready`` or ``unreachable`` NoExecute taint; the matching NoSchedule
  taints follow the conditions on every Node change, as does ``unschedulable`` (cordon);
* the taint eviction controller deletes pods on NoExecute-tainted nodes that do not tolerate
  the taint, after the shortest matching ``tolerationSeconds`` (300 s from admission by default).

A cluster where every node is unhealthy enters "master disruption mode": no taints, no evictions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
NODE_EVENTS = "node-controller"
TAINT_EVENTS = "taint-eviction-controller"
LEASE_NAMESPACE = "kube-node-lease"

# kube-controller-manager defaults (v1.32).
NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE_PERIOD = 40.0
NODE_STARTUP_GRACE_PERIOD = 60.0
EVICTION_LIMITER_QPS = 0.1
SECONDARY_EVICTION_LIMITER_QPS = 0.01
LARGE_CLUSTER_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
UPDATE_RETRIES = 5

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
UNREACHABLE_TAINT = {"key": TAINT_UNREACHABLE, "effect": "NoExecute"}
NOT_READY_TAINT = {"key": TAINT_NOT_READY, "effect": "NoExecute"}

# {condition type: {status: taint key}}: which condition puts which NoSchedule taint on a node.
CONDITION_TAINTS = {
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
CONDITION_TAINT_KEYS = {key for statuses in CONDITION_TAINTS.values() for key in statuses.values()}
# Conditions the kubelet owns; NetworkUnavailable belongs to the network plugin and is left alone.
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
LABEL_RECONCILE = (("kubernetes.io/os", "beta.kubernetes.io/os"), ("kubernetes.io/arch", "beta.kubernetes.io/arch"))

NARRATION = {
    "kcm.nodelifecycle.unknown": gettext_noop(
        "Node {node} has not renewed its lease for {seconds} s (grace period {grace} s): "
        "the node lifecycle controller set Ready to Unknown."
    ),
    "kcm.nodelifecycle.tainted": gettext_noop("The node lifecycle controller tainted node {node} with {taint}."),
    "kcm.nodelifecycle.untainted": gettext_noop(
        "Node {node} is healthy again: the node lifecycle controller removed {taint}."
    ),
    "kcm.nodelifecycle.podsnotready": gettext_noop(
        "Node {node} is not ready: the node lifecycle controller marked {count} of its pods Ready=False."
    ),
    "kcm.nodelifecycle.disruption": gettext_noop(
        "Every node is unhealthy: the node lifecycle controller entered master disruption mode and stops evictions."
    ),
    "kcm.tainteviction.scheduled": gettext_noop(
        "Pod {pod} tolerates {taint} for {seconds} s: the taint eviction controller will delete it then."
    ),
    "kcm.tainteviction.evicted": gettext_noop(
        "Pod {pod} does not tolerate the NoExecute taints of node {node}: the taint eviction controller deleted it."
    ),
    "kcm.tainteviction.cancelled": gettext_noop("The taint eviction controller cancelled the eviction of pod {pod}."),
}


# --------------------------------------------------------------------------- helpers
def get_condition(status: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def zone_key(node: dict[str, Any]) -> str:
    """Upstream's nodetopology.GetZoneKey: region and zone labels, or "" when a node has neither."""
    labels = node["metadata"].get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def match_taint(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two taints are the same taint when key and effect agree (upstream MatchTaint)."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def taint_exists(taints: list[dict[str, Any]] | None, taint: dict[str, Any]) -> bool:
    return any(match_taint(t, taint) for t in taints or [])


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Upstream Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def matching_tolerations(
    taints: list[dict[str, Any]], tolerations: list[dict[str, Any]]
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether every taint is tolerated, and the first toleration used for each (GetMatchingTolerations)."""
    if not taints:
        return True, []
    used: list[dict[str, Any]] = []
    for taint in taints:
        found = next((t for t in tolerations if tolerates(t, taint)), None)
        if found is None:
            return False, []
        used.append(found)
    return True, used


def min_toleration_seconds(used: list[dict[str, Any]]) -> float:
    """The shortest tolerationSeconds; -1 means tolerated forever (getMinTolerationTime)."""
    if not used:
        return 0.0
    least: float | None = None
    for tol in used:
        seconds = tol.get("tolerationSeconds")
        if seconds is None:
            continue
        if seconds <= 0:
            return 0.0
        least = seconds if least is None else min(least, seconds)
    return -1.0 if least is None else float(least)


def parse_time(text: str | None) -> dt.datetime | None:
    """metav1.Time or MicroTime (RFC 3339, any fraction) as an aware datetime."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# --------------------------------------------------------------------------- rate limiting
class TokenBucket:
    """client-go's token bucket (burst 1 as the eviction limiter uses), on the sim clock; qps 0 never admits."""

    def __init__(self, qps: float, now: float, burst: int = 1) -> None:
        self.qps = qps
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def _refill(self, now: float) -> None:
        if self.qps > 0:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
        self.last = now

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def next_token_at(self, now: float) -> float | None:
        if self.qps <= 0:
            return None
        self._refill(now)
        return now if self.tokens >= 1.0 else now + (1.0 - self.tokens) / self.qps


@dataclass
class TimedValue:
    value: str
    uid: str
    added_at: float
    process_at: float


@dataclass
class RateLimitedTimedQueue:
    """Upstream's per-zone tainting queue: unique values, processed in time order through a token bucket.

    A processed value leaves the queue but stays in the set, so it is not queued again until
    it is explicitly removed (the node became healthy, or its taint vanished).
    """

    limiter: TokenBucket
    queue: list[TimedValue] = field(default_factory=list)
    members: set[str] = field(default_factory=set)

    def add(self, value: str, uid: str, now: float) -> bool:
        if value in self.members:
            return False
        self.members.add(value)
        self.queue.append(TimedValue(value, uid, now, now))
        self.queue.sort(key=lambda v: v.process_at)
        return True

    def remove(self, value: str) -> bool:
        self.queue = [v for v in self.queue if v.value != value]
        if value in self.members:
            self.members.discard(value)
            return True
        return False

    def swap_limiter(self, qps: float, now: float) -> None:
        if self.limiter.qps == qps:
            return
        was_waiting = not self.limiter.try_accept(now)
        fresh = TokenBucket(qps, now)
        if qps > 0 and was_waiting:
            fresh.try_accept(now)
        self.limiter = fresh

    def next_due(self, now: float) -> float | None:
        if not self.queue:
            return None
        token = self.limiter.next_token_at(now)
        if token is None:
            return None
        return max(token, self.queue[0].process_at)


@dataclass
class NodeHealth:
    """What the controller last saw of a node, with local (sim) times, as upstream's nodeHealthData."""

    probe: float
    ready_transition: float
    status: dict[str, Any]
    lease_renew: dt.datetime | None = None


def _conditions_only(status: dict[str, Any]) -> dict[str, Any]:
    """The part of a node's status the controller remembers between passes."""
    return {"conditions": clone(status.get("conditions") or [])}


def _working_copy(node: dict[str, Any]) -> dict[str, Any]:
    """A node from the cache that may have its conditions and metadata replaced, without copying images."""
    status = dict(node.get("status") or {})
    status["conditions"] = clone(status.get("conditions") or [])
    return {**node, "status": status}


# --------------------------------------------------------------------------- shared write helpers
def _live_node(ctx: Context, name: str) -> dict[str, Any] | None:
    resource = registry.by_kind("", "Node")
    assert resource is not None
    try:
        return ctx.api.get(resource, None, name)
    except StatusError as err:
        if err.code == 404:
            return None
        raise


def _patch_taints(ctx: Context, node: dict[str, Any], taints: list[dict[str, Any]]) -> None:
    """PATCH spec.taints with the node's resourceVersion as precondition (upstream PatchNodeTaints)."""
    ctx.patch(
        COMPONENT,
        "",
        "Node",
        None,
        node["metadata"]["name"],
        {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}, "spec": {"taints": taints or None}},
    )


def add_or_update_taints(ctx: Context, name: str, node: dict[str, Any] | None, taints: list[dict[str, Any]]) -> bool:
    """controller.AddOrUpdateTaintOnNode: first from the cache, then fresh from the apiserver on conflict."""
    if not taints:
        return True
    for attempt in range(UPDATE_RETRIES):
        current = node if attempt == 0 and node is not None else _live_node(ctx, name)
        if current is None:
            return False
        new = list(clone((current.get("spec") or {}).get("taints") or []))
        changed = False
        for taint in taints:
            idx = next((i for i, t in enumerate(new) if match_taint(t, taint)), None)
            if idx is None:
                new.append(dict(taint))
                changed = True
            elif new[idx] != taint:
                new[idx] = dict(taint)
                changed = True
        if not changed:
            return True
        try:
            _patch_taints(ctx, current, new)
            return True
        except StatusError as err:
            if err.code == 404:
                return False
            if err.code != 409:
                raise
    return False


def remove_taints(ctx: Context, name: str, node: dict[str, Any] | None, taints: list[dict[str, Any]]) -> bool:
    """controller.RemoveTaintOffNode: nothing to do unless the node carries one of them."""
    if not taints:
        return True
    if node is not None and not any(taint_exists((node.get("spec") or {}).get("taints"), t) for t in taints):
        return True
    for attempt in range(UPDATE_RETRIES):
        current = node if attempt == 0 and node is not None else _live_node(ctx, name)
        if current is None:
            return False
        have = (current.get("spec") or {}).get("taints") or []
        new = [t for t in have if not any(match_taint(t, r) for r in taints)]
        if len(new) == len(have):
            return True
        try:
            _patch_taints(ctx, current, new)
            return True
        except StatusError as err:
            if err.code == 404:
                return False
            if err.code != 409:
                raise
    return False


def swap_node_controller_taint(
    ctx: Context, node: dict[str, Any], add: list[dict[str, Any]], remove: list[dict[str, Any]]
) -> bool:
    """Stamp timeAdded on the taints to add, add them, then remove the others (SwapNodeControllerTaint)."""
    now = ctx.timestamp()
    stamped = [{**t, "timeAdded": now} for t in add]
    name = node["metadata"]["name"]
    if not add_or_update_taints(ctx, name, node, stamped):
        return False
    return remove_taints(ctx, name, node if not stamped else None, remove)


# --------------------------------------------------------------------------- node lifecycle
class NodeLifecycleController(Controller):
    """Watches node health signals and turns missing ones into conditions, NotReady pods and taints."""

    component = COMPONENT
    name = "nodelifecycle"
    watches = (("", "Node"), ("", "Pod"))
    resync_seconds = None  # the monitor pass is its own periodic loop

    MONITOR = "monitor"
    TAINTING = "noexecute-tainting"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.health: dict[str, NodeHealth] = {}
        self.known: dict[str, dict[str, Any]] = {}
        self.zone_states: dict[str, str] = {}
        self.tainters: dict[str, RateLimitedTimedQueue] = {}
        self.nodes_to_retry: set[str] = set()
        self.queue.add(self.MONITOR)

    # ------------------------------------------------------------- events
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if kind == "Node":
            if etype == "DELETED":
                if old is not None or new is not None:
                    self.nodes_to_retry.discard((new or old or {})["metadata"]["name"])
                return
            if new is not None:
                self.queue.add(f"node/{new['metadata']['name']}")
            return
        if etype == "DELETED" or new is None:
            return
        node_name = (new.get("spec") or {}).get("nodeName")
        old_node = ((old or {}).get("spec") or {}).get("nodeName")
        if node_name and (old is None or node_name != old_node):
            self.queue.add(f"pod/{object_key(new)}")

    def reconcile(self, key: str) -> float | None:
        if key == self.MONITOR:
            self.monitor_node_health()
            self._schedule_tainting()
            return NODE_MONITOR_PERIOD
        if key == self.TAINTING:
            self.do_no_execute_tainting_pass()
            self._schedule_tainting()
            return None
        kind, _, rest = key.partition("/")
        if kind == "node":
            self.do_no_schedule_tainting_pass(rest)
            self.reconcile_node_labels(rest)
        elif kind == "pod":
            self.process_pod(rest)
        return None

    # ------------------------------------------------------------- NoSchedule taints and labels
    def do_no_schedule_tainting_pass(self, name: str) -> None:
        """Keep the NoSchedule taints in step with the node's conditions and spec.unschedulable."""
        node = self.ctx.lister("", "Node").get(None, name)
        if node is None:
            return
        wanted: list[dict[str, Any]] = []
        for cond in (node.get("status") or {}).get("conditions") or []:
            key = CONDITION_TAINTS.get(cond.get("type", ""), {}).get(cond.get("status", ""))
            if key:
                wanted.append({"key": key, "effect": "NoSchedule"})
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.append({"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"})
        have = [
            t
            for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") == "NoSchedule"
            and (t.get("key") in CONDITION_TAINT_KEYS or t.get("key") == TAINT_UNSCHEDULABLE)
        ]
        to_add = [t for t in wanted if not taint_exists(have, t)]
        to_remove = [t for t in have if not taint_exists(wanted, t)]
        if not to_add and not to_remove:
            return
        if not swap_node_controller_taint(self.ctx, node, to_add, to_remove):
            raise StatusError(409, "Conflict", f"failed to swap taints of node {name}")

    def reconcile_node_labels(self, name: str) -> None:
        """Keep the beta os/arch labels equal to the stable ones (upstream reconcileNodeLabels)."""
        node = self.ctx.lister("", "Node").get(None, name)
        if node is None or not node["metadata"].get("labels"):
            return
        labels = node["metadata"]["labels"]
        update = {
            secondary: labels[primary]
            for primary, secondary in LABEL_RECONCILE
            if primary in labels and labels.get(secondary) != labels[primary]
        }
        if update:
            self.ctx.patch(COMPONENT, "", "Node", None, name, {"metadata": {"labels": update}})

    # ------------------------------------------------------------- pods
    def process_pod(self, key: str) -> None:
        """A pod just landed on a node that is not Ready: mark it NotReady straight away."""
        namespace, _, name = key.partition("/")
        pod = self.ctx.lister("", "Pod").get(namespace, name)
        if pod is None:
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        health = self.health.get(node_name or "")
        if health is None or self.ctx.lister("", "Node").get(None, node_name or "") is None:
            return
        ready = get_condition(health.status, "Ready")
        if ready is not None and ready.get("status") != "True":
            self.mark_pods_not_ready([pod], node_name or "")

    def mark_pods_not_ready(self, pods: list[dict[str, Any]], node_name: str) -> None:
        """Set each pod's Ready condition to False and warn with a NodeNotReady event (MarkPodsNotReady)."""
        marked = 0
        for cached in pods:
            if (cached.get("spec") or {}).get("nodeName") != node_name:
                continue
            pod = clone(cached)
            cond = get_condition(pod.get("status"), "Ready")
            if cond is None or cond.get("status") == "False":
                continue
            cond["status"] = "False"
            cond["lastTransitionTime"] = self.ctx.timestamp()
            try:
                self.ctx.update_status(COMPONENT, pod)
            except StatusError as err:
                if err.code == 404:
                    continue
                raise
            self.ctx.event(NODE_EVENTS, pod, "Warning", "NodeNotReady", "Node is not ready")
            marked += 1
        if marked:
            self.ctx.trace(
                COMPONENT,
                "nodelifecycle",
                "kcm.nodelifecycle.podsnotready",
                {"node": node_name, "count": marked},
                [{"kind": "Node", "name": node_name}],
            )

    # ------------------------------------------------------------- node health
    def _sim_time_of(self, stamp: str | None) -> float:
        moment = parse_time(stamp)
        if moment is None:
            return self.ctx.now()
        return (moment - self.ctx.cluster.sim_epoch).total_seconds()

    def try_update_node_health(self, node: dict[str, Any]) -> tuple[float, dict[str, Any], dict[str, Any] | None]:
        """Decide from the last probe whether the node is still heard from; post Unknown when it is not.

        Returns the grace period used, the Ready condition as observed before this pass, and the
        Ready condition as it is now. ``node`` is changed in place when the status is rewritten.
        """
        name = node["metadata"]["name"]
        now = self.ctx.now()
        health = self.health.get(name)
        status = node.setdefault("status", {})
        current = get_condition(status, "Ready")
        if current is None:
            created = self._sim_time_of(node["metadata"].get("creationTimestamp"))
            observed: dict[str, Any] = {
                "type": "Ready",
                "status": "Unknown",
                "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                "lastTransitionTime": node["metadata"].get("creationTimestamp"),
            }
            grace = NODE_STARTUP_GRACE_PERIOD
            if health is not None:
                health.status = _conditions_only(status)
            else:
                health = NodeHealth(created, created, _conditions_only(status))
        else:
            observed = clone(current)
            grace = NODE_MONITOR_GRACE_PERIOD
        saved = get_condition(health.status, "Ready") if health is not None else None
        saved_lease = health.lease_renew if health is not None else None
        if health is None:
            health = NodeHealth(now, now, _conditions_only(status))
        elif saved is None and current is not None:
            health = NodeHealth(now, now, _conditions_only(status))
        elif saved is not None and current is None:
            health = NodeHealth(now, now, _conditions_only(status))
        elif (
            saved is not None
            and current is not None
            and saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime")
        ):
            transition = (
                now if saved.get("lastTransitionTime") != current.get("lastTransitionTime") else health.ready_transition
            )
            health = NodeHealth(now, transition, _conditions_only(status))
        health.lease_renew = saved_lease
        lease = self.ctx.lister("coordination.k8s.io", "Lease").get(LEASE_NAMESPACE, name)
        renew = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if lease is not None and renew is not None and (saved_lease is None or saved_lease < renew):
            health.lease_renew = renew
            health.probe = now
        self.health[name] = health

        if now > health.probe + grace:
            stamp = self.ctx.timestamp()
            conditions = status.setdefault("conditions", [])
            for ctype in KUBELET_CONDITIONS:
                cond = get_condition(status, ctype)
                if cond is None:
                    conditions.append(
                        {
                            "type": ctype,
                            "status": "Unknown",
                            "reason": "NodeStatusNeverUpdated",
                            "message": "Kubelet never posted node status.",
                            "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                            "lastTransitionTime": stamp,
                        }
                    )
                elif cond.get("status") != "Unknown":
                    cond.update(
                        status="Unknown",
                        reason="NodeStatusUnknown",
                        message="Kubelet stopped posting node status.",
                        lastTransitionTime=stamp,
                    )
            current = get_condition(status, "Ready")
            if current != observed:
                written = self.ctx.update_status(COMPONENT, node).object
                node["metadata"] = clone(written["metadata"])
                self.health[name] = NodeHealth(health.probe, now, _conditions_only(status), health.lease_renew)
                self.ctx.trace(
                    COMPONENT,
                    "nodelifecycle",
                    "kcm.nodelifecycle.unknown",
                    {"node": name, "seconds": round(now - health.probe), "grace": int(grace)},
                    [{"kind": "Node", "name": name}],
                )
        return grace, observed, current

    def monitor_node_health(self) -> None:
        """One pass of upstream monitorNodeHealth over every node in the cache."""
        nodes = self.ctx.lister("", "Node").list()
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self.known:
                self.ctx.event(NODE_EVENTS, node, "Normal", "RegisteredNode", f"Registered Node {name} in Controller")
                self.known[name] = node
                self._add_zone(node)
                self.mark_node_as_reachable(node)
            elif zone_key(node) not in self.zone_states:
                self._add_zone(node)
        for name in sorted(set(self.known) - names):
            gone = self.known.pop(name)
            self.ctx.event(NODE_EVENTS, gone, "Normal", "RemovingNode", f"Removing Node {name} from Controller")
            self.health.pop(name, None)

        zone_conditions: dict[str, list[dict[str, Any] | None]] = {}
        pods_by_node: dict[str, list[dict[str, Any]]] = {}
        for pod in self.ctx.lister("", "Pod"):
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name:
                pods_by_node.setdefault(node_name, []).append(pod)
        for cached in nodes:
            name = cached["metadata"]["name"]
            checked = self._update_health_with_retries(_working_copy(cached))
            if checked is None:
                continue  # upstream: "Skipping - no pods will be evicted"
            node, observed, current = checked
            if EXCLUDE_DISRUPTION_LABEL not in (node["metadata"].get("labels") or {}):
                zone_conditions.setdefault(zone_key(node), []).append(current)
            if current is None:
                self.nodes_to_retry.discard(name)
                continue
            pods = pods_by_node.get(name, [])
            self.process_taint_based_eviction(node, observed)
            if current.get("status") != "True" and observed.get("status") == "True":
                self.ctx.event(NODE_EVENTS, node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
                needs_marking = True
            else:
                needs_marking = name in self.nodes_to_retry and observed.get("status") != "True"
            if needs_marking:
                try:
                    self.mark_pods_not_ready(pods, name)
                except StatusError:
                    self.nodes_to_retry.add(name)
                    continue
            self.nodes_to_retry.discard(name)
        self.handle_disruption(zone_conditions, nodes)

    def _update_health_with_retries(
        self, node: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None] | None:
        """tryUpdateNodeHealth, re-reading the node after a conflict, a few times as upstream does."""
        name = node["metadata"]["name"]
        for _ in range(UPDATE_RETRIES):
            try:
                _, observed, current = self.try_update_node_health(node)
                return node, observed, current
            except StatusError as err:
                if err.code != 409:
                    return None
                fresh = _live_node(self.ctx, name)
                if fresh is None:
                    return None
                node = fresh
        return None

    # ------------------------------------------------------------- NoExecute taints
    def _add_zone(self, node: dict[str, Any]) -> None:
        zone = zone_key(node)
        if zone not in self.zone_states:
            self.zone_states[zone] = "Initial"
            self.tainters[zone] = RateLimitedTimedQueue(TokenBucket(EVICTION_LIMITER_QPS, self.ctx.now()))

    def process_taint_based_eviction(self, node: dict[str, Any], observed: dict[str, Any]) -> None:
        taints = (node.get("spec") or {}).get("taints") or []
        status = observed.get("status")
        if status == "False":
            if taint_exists(taints, UNREACHABLE_TAINT):
                swap_node_controller_taint(self.ctx, node, [dict(NOT_READY_TAINT)], [UNREACHABLE_TAINT])
            else:
                self.mark_node_for_tainting(node, "False")
        elif status == "Unknown":
            if taint_exists(taints, NOT_READY_TAINT):
                swap_node_controller_taint(self.ctx, node, [dict(UNREACHABLE_TAINT)], [NOT_READY_TAINT])
            else:
                self.mark_node_for_tainting(node, "Unknown")
        elif status == "True":
            self.mark_node_as_reachable(node)

    def mark_node_for_tainting(self, node: dict[str, Any], status: str) -> bool:
        zone = zone_key(node)
        self._add_zone(node)
        taints = (node.get("spec") or {}).get("taints") or []
        name = node["metadata"]["name"]
        if status == "False" and not taint_exists(taints, NOT_READY_TAINT):
            self.tainters[zone].remove(name)
        if status == "Unknown" and not taint_exists(taints, UNREACHABLE_TAINT):
            self.tainters[zone].remove(name)
        return self.tainters[zone].add(name, node["metadata"].get("uid", ""), self.ctx.now())

    def mark_node_as_reachable(self, node: dict[str, Any]) -> bool:
        name = node["metadata"]["name"]
        removing = [
            t for t in (UNREACHABLE_TAINT, NOT_READY_TAINT) if taint_exists((node.get("spec") or {}).get("taints"), t)
        ]
        remove_taints(self.ctx, name, node, [UNREACHABLE_TAINT])
        remove_taints(self.ctx, name, node, [NOT_READY_TAINT])
        for taint in removing:
            self.ctx.trace(
                COMPONENT,
                "nodelifecycle",
                "kcm.nodelifecycle.untainted",
                {"node": name, "taint": f"{taint['key']}:{taint['effect']}"},
                [{"kind": "Node", "name": name}],
            )
        tainter = self.tainters.get(zone_key(node))
        return tainter.remove(name) if tainter is not None else False

    def do_no_execute_tainting_pass(self) -> None:
        """Work through each zone's queue as its rate limiter allows (doNoExecuteTaintingPass)."""
        now = self.ctx.now()
        for zone in sorted(self.tainters):
            tainter = self.tainters[zone]
            while tainter.queue:
                if not tainter.limiter.try_accept(now):
                    break
                head = tainter.queue[0]
                if now < head.process_at:
                    break
                ok, wait = self._taint_one(head.value)
                if ok:
                    tainter.queue.pop(0)
                else:
                    head.process_at = now + wait
                    tainter.queue.sort(key=lambda v: v.process_at)

    def _taint_one(self, name: str) -> tuple[bool, float]:
        node = self.ctx.lister("", "Node").get(None, name)
        if node is None:
            return True, 0.0
        cond = get_condition(node.get("status"), "Ready")
        if cond is None:
            return False, 0.05
        if cond.get("status") == "False":
            add, opposite = NOT_READY_TAINT, UNREACHABLE_TAINT
        elif cond.get("status") == "Unknown":
            add, opposite = UNREACHABLE_TAINT, NOT_READY_TAINT
        else:
            return True, 0.0
        try:
            done = swap_node_controller_taint(self.ctx, node, [dict(add)], [opposite])
        except StatusError:
            done = False
        if done:
            self.ctx.trace(
                COMPONENT,
                "nodelifecycle",
                "kcm.nodelifecycle.tainted",
                {"node": name, "taint": f"{add['key']}:{add['effect']}"},
                [{"kind": "Node", "name": name}],
            )
        return done, 0.0

    def _schedule_tainting(self) -> None:
        now = self.ctx.now()
        dues = [d for d in (t.next_due(now) for t in self.tainters.values()) if d is not None]
        if dues:
            due = min(dues)
            if due <= now:
                self.queue.add(self.TAINTING)
            else:
                self.queue.add_after(self.TAINTING, due)

    # ------------------------------------------------------------- disruption
    def compute_zone_state(self, conditions: list[dict[str, Any] | None]) -> tuple[int, str]:
        ready = sum(1 for c in conditions if c is not None and c.get("status") == "True")
        not_ready = len(conditions) - ready
        if ready == 0 and not_ready > 0:
            return not_ready, "FullDisruption"
        if not_ready > 2 and not_ready / (not_ready + ready) >= UNHEALTHY_ZONE_THRESHOLD:
            return not_ready, "PartialDisruption"
        return not_ready, "Normal"

    def _set_limiter(self, zone: str, size: int, state: str) -> None:
        now = self.ctx.now()
        if state == "Normal":
            qps = EVICTION_LIMITER_QPS
        elif state == "PartialDisruption":
            qps = SECONDARY_EVICTION_LIMITER_QPS if size > LARGE_CLUSTER_THRESHOLD else 0.0
        else:
            qps = EVICTION_LIMITER_QPS
        self.tainters[zone].swap_limiter(qps, now)

    def handle_disruption(
        self, zone_conditions: dict[str, list[dict[str, Any] | None]], nodes: list[dict[str, Any]]
    ) -> None:
        new_states: dict[str, str] = {}
        all_fully_disrupted = True
        for zone, conditions in zone_conditions.items():
            _, state = self.compute_zone_state(conditions)
            if state != "FullDisruption":
                all_fully_disrupted = False
            new_states[zone] = state
            if zone not in self.zone_states:
                self.zone_states[zone] = "Initial"
                self._add_zone_tainter(zone)
        all_was_fully_disrupted = True
        for zone in list(self.zone_states):
            if zone not in zone_conditions:
                del self.zone_states[zone]
                continue
            if self.zone_states[zone] != "FullDisruption":
                all_was_fully_disrupted = False
                break
        if all_fully_disrupted and all_was_fully_disrupted:
            return
        if all_fully_disrupted:
            self.ctx.trace(COMPONENT, "nodelifecycle", "kcm.nodelifecycle.disruption", {}, [])
            for node in nodes:
                self.mark_node_as_reachable(node)
            for zone in self.zone_states:
                self.tainters[zone].swap_limiter(0.0, self.ctx.now())
                self.zone_states[zone] = "FullDisruption"
            return
        if all_was_fully_disrupted:
            now = self.ctx.now()
            for node in nodes:
                health = self.health.get(node["metadata"]["name"])
                if health is not None:
                    health.probe = now
                    health.ready_transition = now
            for zone in self.zone_states:
                self._set_limiter(zone, len(zone_conditions.get(zone, [])), new_states[zone])
                self.zone_states[zone] = new_states[zone]
            return
        for zone, state in list(self.zone_states.items()):
            new = new_states[zone]
            if state == new:
                continue
            self._set_limiter(zone, len(zone_conditions.get(zone, [])), new)
            self.zone_states[zone] = new

    def _add_zone_tainter(self, zone: str) -> None:
        if zone not in self.tainters:
            self.tainters[zone] = RateLimitedTimedQueue(TokenBucket(EVICTION_LIMITER_QPS, self.ctx.now()))


# --------------------------------------------------------------------------- taint eviction
@dataclass
class Eviction:
    created_at: float
    fire_at: float


class TaintEvictionController(Controller):
    """Deletes pods from nodes with NoExecute taints they do not tolerate, after their tolerationSeconds."""

    component = COMPONENT
    name = "taint-eviction"
    watches = (("", "Node"), ("", "Pod"))
    resync_seconds = None

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.tainted: dict[str, list[dict[str, Any]]] = {}
        # pod key -> scheduled eviction; None once it has fired, so it is never scheduled twice.
        self.workers: dict[str, Eviction | None] = {}

    @staticmethod
    def _no_execute(node: dict[str, Any] | None) -> list[dict[str, Any]]:
        return [t for t in ((node or {}).get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if kind == "Node":
            if etype == "DELETED":
                new = None
            if old is not None and new is not None and self._no_execute(old) == self._no_execute(new):
                return
            self.queue.add(f"node/{(new or old or {})['metadata']['name']}")
            return
        if etype == "DELETED":
            new = None
        if old is not None and new is not None:
            same_tolerations = (old.get("spec") or {}).get("tolerations") == (new.get("spec") or {}).get("tolerations")
            if same_tolerations and (old.get("spec") or {}).get("nodeName") == (new.get("spec") or {}).get("nodeName"):
                return
        self.queue.add(f"pod/{object_key(new or old or {})}")

    def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition("/")
        if kind == "node":
            self.handle_node_update(rest)
        elif kind == "pod":
            self.handle_pod_update(rest)
        elif kind == "evict":
            self.fire(rest)
        return None

    # ------------------------------------------------------------- the timed worker queue
    def cancel(self, pod_key: str) -> None:
        """Cancel a pending eviction; a real cancellation is reported with an event."""
        if pod_key not in self.workers:
            return
        worker = self.workers.pop(pod_key)
        if worker is None:
            return
        namespace, _, name = pod_key.partition("/")
        ref = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "name": name}}
        self.ctx.event(TAINT_EVENTS, ref, "Normal", "TaintManagerEviction", f"Cancelling deletion of Pod {pod_key}")
        self.ctx.trace(
            COMPONENT,
            "tainteviction",
            "kcm.tainteviction.cancelled",
            {"pod": pod_key},
            [{"kind": "Pod", "namespace": namespace, "name": name}],
        )

    def add_work(self, pod_key: str, created_at: float, fire_at: float) -> None:
        if pod_key in self.workers:
            return
        self.workers[pod_key] = Eviction(created_at, fire_at)
        now = self.ctx.now()
        if fire_at <= now:
            self.queue.add(f"evict/{pod_key}")
        else:
            self.queue.add_after(f"evict/{pod_key}", fire_at)

    def fire(self, pod_key: str) -> None:
        worker = self.workers.get(pod_key)
        now = self.ctx.now()
        if worker is None:
            return
        if worker.fire_at > now:
            self.queue.add_after(f"evict/{pod_key}", worker.fire_at)
            return
        namespace, _, name = pod_key.partition("/")
        ref = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "name": name}}
        self.ctx.event(TAINT_EVENTS, ref, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {pod_key}")
        try:
            self._add_condition_and_delete(namespace, name)
        except StatusError:
            self.workers.pop(pod_key, None)
            raise
        self.workers[pod_key] = None

    def _add_condition_and_delete(self, namespace: str, name: str) -> None:
        resource = registry.by_kind("", "Pod")
        assert resource is not None
        try:
            pod = self.ctx.api.get(resource, namespace, name)
        except StatusError as err:
            if err.code == 404:
                return
            raise
        status = clone(pod.get("status") or {})
        conditions = status.setdefault("conditions", [])
        cond = get_condition(status, "DisruptionTarget")
        wanted = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
        }
        if cond is None:
            conditions.append({**wanted, "lastProbeTime": None, "lastTransitionTime": self.ctx.timestamp()})
            self.ctx.patch(COMPONENT, "", "Pod", namespace, name, {"status": {"conditions": conditions}}, "status")
        elif any(cond.get(k) != v for k, v in wanted.items()):
            if cond.get("status") != "True":
                cond["lastTransitionTime"] = self.ctx.timestamp()
            cond.update(wanted)
            self.ctx.patch(COMPONENT, "", "Pod", namespace, name, {"status": {"conditions": conditions}}, "status")
        self.ctx.delete(COMPONENT, "", "Pod", namespace, name)
        self.ctx.trace(
            COMPONENT,
            "tainteviction",
            "kcm.tainteviction.evicted",
            {"pod": f"{namespace}/{name}", "node": (pod.get("spec") or {}).get("nodeName", "")},
            [{"kind": "Pod", "namespace": namespace, "name": name}],
        )

    # ------------------------------------------------------------- decisions
    def process_pod_on_node(
        self, pod_key: str, node_name: str, tolerations: list[dict[str, Any]], taints: list[dict[str, Any]]
    ) -> None:
        now = self.ctx.now()
        if not taints:
            self.cancel(pod_key)
            return
        all_tolerated, used = matching_tolerations(taints, tolerations)
        if not all_tolerated:
            self.cancel(pod_key)
            self.add_work(pod_key, now, now)
            return
        least = min_toleration_seconds(used)
        if least < 0:
            self.cancel(pod_key)
            return
        start = now
        trigger = now + least
        scheduled = self.workers.get(pod_key)
        if scheduled is not None:
            start = scheduled.created_at
            # An eviction already due no later than this one stands (ties included: same instant).
            if start + least <= trigger:
                return
            self.cancel(pod_key)
        self.add_work(pod_key, start, start + least)
        namespace, _, name = pod_key.partition("/")
        self.ctx.trace(
            COMPONENT,
            "tainteviction",
            "kcm.tainteviction.scheduled",
            {"pod": pod_key, "taint": ", ".join(f"{t['key']}:{t['effect']}" for t in taints), "seconds": int(least)},
            [{"kind": "Pod", "namespace": namespace, "name": name}, {"kind": "Node", "name": node_name}],
        )

    def handle_pod_update(self, pod_key: str) -> None:
        namespace, _, name = pod_key.partition("/")
        pod = self.ctx.lister("", "Pod").get(namespace, name)
        if pod is None:
            self.cancel(pod_key)
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        taints = self.tainted.get(node_name)
        if taints is None:
            return
        self.process_pod_on_node(pod_key, node_name, (pod.get("spec") or {}).get("tolerations") or [], taints)

    def handle_node_update(self, name: str) -> None:
        node = self.ctx.lister("", "Node").get(None, name)
        if node is None:
            self.tainted.pop(name, None)
            return
        taints = self._no_execute(node)
        if taints:
            self.tainted[name] = taints
        else:
            self.tainted.pop(name, None)
        pods = [p for p in self.ctx.lister("", "Pod") if (p.get("spec") or {}).get("nodeName") == name]
        if not pods:
            return
        if not taints:
            for pod in pods:
                self.cancel(object_key(pod))
            return
        for pod in pods:
            self.process_pod_on_node(object_key(pod), name, (pod.get("spec") or {}).get("tolerations") or [], taints)


CONTROLLERS = [NodeLifecycleController, TaintEvictionController]
