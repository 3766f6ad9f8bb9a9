"""The scheduling queue: activeQ, backoffQ and unschedulable pods, on an injected clock.

Follows ``backend/queue/scheduling_queue.go`` of v1.32 with queueing hints on (the v1.32
default): activeQ is ordered by PrioritySort (priority, then queue timestamp); a failed pod
goes to backoffQ or unschedulablePods depending on whether a cluster event that could help
arrived while it was being scheduled; events move unschedulable pods whose rejecting plugins
registered for them; backoff is ``initial * 2^(attempts-1)`` capped at ``max``; pods left
unschedulable for more than 5 minutes are flushed back.  Upstream's periodic goroutines
(backoff flush every 1 s, leftover flush every 30 s) run from :meth:`SchedulingQueue.tick`,
which :meth:`pop` calls first.  Nothing sleeps: time is whatever ``clock()`` returns.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .nodeinfo import PodInfo, Resource
from .taints import TAINT_NODE_UNSCHEDULABLE, find_untolerated_taint, parse_taints, tolerations_tolerate_taint

DEFAULT_POD_INITIAL_BACKOFF = 1.0
DEFAULT_POD_MAX_BACKOFF = 10.0
DEFAULT_POD_MAX_IN_UNSCHEDULABLE = 300.0
BACKOFF_FLUSH_PERIOD = 1.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0

ACTIVE_Q = "Active"
BACKOFF_Q = "Backoff"
UNSCHEDULABLE_PODS = "Unschedulable"

WILDCARD = "*"


@dataclass(frozen=True)
class ClusterEvent:
    """``framework.ClusterEvent``: a resource and an action (``*`` matches anything)."""

    resource: str
    action: str
    label: str = ""

    def is_wildcard(self) -> bool:
        """The all-resources, all-actions event (e.g. UnschedulableTimeout)."""
        return self.resource == WILDCARD and self.action == WILDCARD

    def matches(self, other: ClusterEvent) -> bool:
        """Whether a registered event (self) covers an incoming event (other)."""
        if self.is_wildcard():
            return True
        if self.resource != WILDCARD and self.resource != other.resource:
            return False
        if self.action == WILDCARD or other.action == WILDCARD:
            return True
        if self.action == "Update" and other.action.startswith("Update"):
            return True
        return self.action == other.action


# Predefined events (``framework/events.go``).
NODE_ADD = ClusterEvent("Node", "Add", "NodeAdd")
NODE_DELETE = ClusterEvent("Node", "Delete", "NodeDelete")
NODE_LABEL_CHANGE = ClusterEvent("Node", "UpdateNodeLabel", "NodeLabelChange")
NODE_TAINT_CHANGE = ClusterEvent("Node", "UpdateNodeTaint", "NodeTaintChange")
NODE_ALLOCATABLE_CHANGE = ClusterEvent("Node", "UpdateNodeAllocatable", "NodeAllocatableChange")
ASSIGNED_POD_ADD = ClusterEvent("Pod", "Add", "AssignedPodAdd")
ASSIGNED_POD_DELETE = ClusterEvent("Pod", "Delete", "AssignedPodDelete")
ASSIGNED_POD_LABEL_UPDATE = ClusterEvent("Pod", "UpdatePodLabel", "AssignedPodUpdate")
PVC_ADD = ClusterEvent("PersistentVolumeClaim", "Add", "PvcAdd")
PVC_UPDATE = ClusterEvent("PersistentVolumeClaim", "Update", "PvcUpdate")
PV_ADD = ClusterEvent("PersistentVolume", "Add", "PvAdd")
PV_UPDATE = ClusterEvent("PersistentVolume", "Update", "PvUpdate")
STORAGE_CLASS_ADD = ClusterEvent("StorageClass", "Add", "StorageClassAdd")
UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, WILDCARD, "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(WILDCARD, WILDCARD, "ForceActivate")


def node_update_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ClusterEvent]:
    """``NodeSchedulingPropertiesChange``: which scheduling-relevant parts of a node changed."""
    events = []
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    os_, ns_ = old.get("spec") or {}, new.get("spec") or {}
    ost, nst = old.get("status") or {}, new.get("status") or {}
    if bool(os_.get("unschedulable")) != bool(ns_.get("unschedulable")):
        events.append(ClusterEvent("Node", "UpdateNodeTaint", "NodeSpecUnschedulableChange"))
    if ost.get("allocatable") != nst.get("allocatable"):
        events.append(NODE_ALLOCATABLE_CHANGE)
    if (om.get("labels") or {}) != (nm.get("labels") or {}):
        events.append(NODE_LABEL_CHANGE)
    if (os_.get("taints") or []) != (ns_.get("taints") or []):
        events.append(NODE_TAINT_CHANGE)
    if (om.get("annotations") or {}) != (nm.get("annotations") or {}):
        events.append(ClusterEvent("Node", "UpdateNodeAnnotation", "NodeAnnotationChange"))
    return events


# Hint = (pod waiting in the queue, event, old object, new object) -> worth requeuing?
Hint = Callable[[PodInfo, ClusterEvent, Any, Any], bool]


def _hard_taints(node: Mapping[str, Any]) -> list[Any]:
    return [t for t in parse_taints((node.get("spec") or {}).get("taints")) if t.effect in ("NoSchedule", "NoExecute")]


def _fit_hint(pod: PodInfo, event: ClusterEvent, old: Any, new: Any) -> bool:
    """NodeResourcesFit: a deleted *assigned* pod, or a node that could hold the pod and whose
    allocatable grew for something the pod requests."""
    if event.resource == "Pod":
        return bool(((old or {}).get("spec") or {}).get("nodeName"))
    alloc = Resource.from_resource_list(((new or {}).get("status") or {}).get("allocatable"))
    req = pod.requests
    if alloc.allowed_pod_number < 1:
        return False
    if req.milli_cpu > alloc.milli_cpu or req.memory > alloc.memory or req.ephemeral_storage > alloc.ephemeral_storage:
        return False
    if any(q > alloc.scalar.get(k, 0) for k, q in req.scalar.items()):
        return False
    if old is None:
        return True
    before = Resource.from_resource_list((old.get("status") or {}).get("allocatable"))
    if alloc.allowed_pod_number > before.allowed_pod_number:
        return True
    return (
        (req.milli_cpu > 0 and alloc.milli_cpu > before.milli_cpu)
        or (req.memory > 0 and alloc.memory > before.memory)
        or (req.ephemeral_storage > 0 and alloc.ephemeral_storage > before.ephemeral_storage)
        or any(q and alloc.scalar.get(k, 0) > before.scalar.get(k, 0) for k, q in req.scalar.items())
    )


def _node_unschedulable_hint(pod: PodInfo, event: ClusterEvent, old: Any, new: Any) -> bool:
    """NodeUnschedulable: a node became (or was added) schedulable, or the pod now tolerates it."""
    if event.resource == "Pod":
        updated = PodInfo(new)
        return updated.key == pod.key and tolerations_tolerate_taint(updated.tolerations, TAINT_NODE_UNSCHEDULABLE)
    now = bool(((new or {}).get("spec") or {}).get("unschedulable"))
    if old is None:
        return not now
    return bool((old.get("spec") or {}).get("unschedulable")) and not now


def _taint_hint(pod: PodInfo, event: ClusterEvent, old: Any, new: Any) -> bool:
    """TaintToleration: the node went from untolerated to tolerated, or the pod's tolerations changed."""
    if event.resource == "Pod":
        return PodInfo(new).key == pod.key
    was = old is None or find_untolerated_taint(_hard_taints(old), pod.tolerations) is not None
    now = find_untolerated_taint(_hard_taints(new or {}), pod.tolerations) is not None
    return was and not now


def _node_affinity_hint(pod: PodInfo, event: ClusterEvent, old: Any, new: Any) -> bool:
    """NodeAffinity: the node matches now and did not before."""
    from .nodeinfo import NodeInfo
    from .plugins.node_affinity import required_node_affinity

    rna = required_node_affinity(pod)
    if new is None or not rna.match(NodeInfo(new)):
        return False
    return old is None or not rna.match(NodeInfo(old))


def _node_ports_hint(pod: PodInfo, event: ClusterEvent, old: Any, new: Any) -> bool:
    """NodePorts: a deleted assigned pod freed one of the wanted host ports."""
    if event.resource != "Pod":
        return True
    if old is None or not (old.get("spec") or {}).get("nodeName"):
        return False
    wanted = {(proto or "TCP", port) for _ip, proto, port in pod.wanted_ports}
    return any((proto or "TCP", port) in wanted for _ip, proto, port in PodInfo(old).wanted_ports)


EVENTS_TO_REGISTER: dict[str, list[tuple[ClusterEvent, Hint | None]]] = {
    "NodeUnschedulable": [
        (ClusterEvent("Node", "Add"), _node_unschedulable_hint),
        (ClusterEvent("Node", "UpdateNodeTaint"), _node_unschedulable_hint),
        (ClusterEvent("Pod", "UpdatePodTolerations"), _node_unschedulable_hint),
    ],
    "NodeName": [(ClusterEvent("Node", "Add"), None)],
    "TaintToleration": [
        (ClusterEvent("Node", "Add"), _taint_hint),
        (ClusterEvent("Node", "UpdateNodeTaint"), _taint_hint),
        (ClusterEvent("Pod", "UpdatePodTolerations"), _taint_hint),
    ],
    "NodeAffinity": [
        (ClusterEvent("Node", "Add"), _node_affinity_hint),
        (ClusterEvent("Node", "UpdateNodeLabel"), _node_affinity_hint),
    ],
    "NodePorts": [(ClusterEvent("Pod", "Delete"), _node_ports_hint), (ClusterEvent("Node", "Add"), None)],
    "NodeResourcesFit": [
        (ClusterEvent("Pod", "Delete"), _fit_hint),
        (ClusterEvent("Node", "Add"), _fit_hint),
        (ClusterEvent("Node", "UpdateNodeAllocatable"), _fit_hint),
    ],
    "PodTopologySpread": [
        (ClusterEvent("Pod", a), None) for a in ("Add", "UpdatePodLabel", "UpdatePodTolerations", "Delete")
    ]
    + [(ClusterEvent("Node", a), None) for a in ("Add", "Delete", "UpdateNodeLabel", "UpdateNodeTaint")],
    "InterPodAffinity": [(ClusterEvent("Pod", a), None) for a in ("Add", "UpdatePodLabel", "Delete")]
    + [(ClusterEvent("Node", a), None) for a in ("Add", "UpdateNodeLabel")],
    "VolumeBinding": [
        (ClusterEvent("StorageClass", "Add"), None),
        (ClusterEvent("StorageClass", "Update"), None),
        (ClusterEvent("PersistentVolumeClaim", "Add"), None),
        (ClusterEvent("PersistentVolumeClaim", "Update"), None),
        (ClusterEvent("PersistentVolume", "Add"), None),
        (ClusterEvent("PersistentVolume", "Update"), None),
        (ClusterEvent("Node", "Add"), None),
        (ClusterEvent("Node", "UpdateNodeLabel"), None),
        (ClusterEvent("CSINode", "Add"), None),
        (ClusterEvent("CSINode", "Update"), None),
    ],
    "SchedulingGates": [(ClusterEvent("Pod", "UpdatePodSchedulingGatesEliminated"), None)],
}
"""Events each plugin registers (``EventsToRegister`` with SchedulerQueueingHints on) and hints."""

QUEUE_SKIP, QUEUE_AFTER_BACKOFF, QUEUE_IMMEDIATELY = 0, 1, 2


@dataclass(eq=False)
class QueuedPodInfo:
    """A pod in the queue (``framework.QueuedPodInfo``)."""

    pod_info: PodInfo
    timestamp: float
    """When the pod was added or last requeued; PrioritySort's tie-breaker and the backoff base."""
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    gated: bool = False

    @property
    def key(self) -> str:
        """The pod's cache key."""
        return self.pod_info.key

    @property
    def pod(self) -> Mapping[str, Any]:
        """The pod object."""
        return self.pod_info.pod


def priority_sort_less(a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
    """PrioritySort ``Less``: higher priority first, then earlier timestamp."""
    pa, pb = a.pod_info.priority, b.pod_info.priority
    return pa > pb or (pa == pb and a.timestamp < b.timestamp)


class SchedulingQueue:
    """``PriorityQueue`` with an injected clock (seconds as floats)."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        pod_initial_backoff: float = DEFAULT_POD_INITIAL_BACKOFF,
        pod_max_backoff: float = DEFAULT_POD_MAX_BACKOFF,
        pod_max_in_unschedulable: float = DEFAULT_POD_MAX_IN_UNSCHEDULABLE,
        enabled_plugins: Iterable[str] | None = None,
    ) -> None:
        self.clock = clock
        self.pod_initial_backoff = pod_initial_backoff
        self.pod_max_backoff = pod_max_backoff
        self.pod_max_in_unschedulable = pod_max_in_unschedulable
        names = set(EVENTS_TO_REGISTER) if enabled_plugins is None else set(enabled_plugins)
        self.hints: list[tuple[ClusterEvent, str, Hint | None]] = [
            (ev, name, hint) for name, regs in EVENTS_TO_REGISTER.items() if name in names for ev, hint in regs
        ]
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._active_entries: dict[str, tuple[int, float, int, str]] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_entries: dict[str, tuple[float, int, str]] = {}
        self._infos: dict[str, QueuedPodInfo] = {}
        self.unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, int] = {}
        self._events: list[tuple[int, ClusterEvent, Any, Any]] = []
        self._event_seq = 0
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        now = clock()
        self._next_backoff_flush = now + BACKOFF_FLUSH_PERIOD
        self._next_leftover_flush = now + UNSCHEDULABLE_FLUSH_PERIOD

    @classmethod
    def for_profile(cls, clock: Callable[[], float], profile: Any) -> SchedulingQueue:
        """A queue using a profile's backoff settings and its enabled plugins' events."""
        enabled = set(profile.needed_plugins())
        return cls(
            clock,
            pod_initial_backoff=profile.pod_initial_backoff_seconds,
            pod_max_backoff=profile.pod_max_backoff_seconds,
            enabled_plugins=enabled,
        )

    # ----- heaps ---------------------------------------------------------------------------

    def _push_active(self, q: QueuedPodInfo) -> None:
        self._remove_active(q.key)
        entry = (-q.pod_info.priority, q.timestamp, next(self._seq), q.key)
        self._active_entries[q.key] = entry
        self._infos[q.key] = q
        heapq.heappush(self._active, entry)

    def _remove_active(self, key: str) -> bool:
        return self._active_entries.pop(key, None) is not None

    def _push_backoff(self, q: QueuedPodInfo) -> None:
        self._remove_backoff(q.key)
        entry = (self.backoff_time(q), next(self._seq), q.key)
        self._backoff_entries[q.key] = entry
        self._infos[q.key] = q
        heapq.heappush(self._backoff, entry)

    def _remove_backoff(self, key: str) -> bool:
        return self._backoff_entries.pop(key, None) is not None

    def _peek_backoff(self) -> QueuedPodInfo | None:
        while self._backoff:
            entry = self._backoff[0]
            if self._backoff_entries.get(entry[2]) is entry:
                return self._infos[entry[2]]
            heapq.heappop(self._backoff)
        return None

    # ----- backoff -------------------------------------------------------------------------

    def backoff_duration(self, q: QueuedPodInfo) -> float:
        """``calculateBackoffDuration``: 0 before the first attempt, then doubling, capped."""
        if q.attempts == 0:
            return 0.0
        duration = self.pod_initial_backoff
        for _ in range(1, q.attempts):
            if duration > self.pod_max_backoff - duration:
                return self.pod_max_backoff
            duration += duration
        return duration

    def backoff_time(self, q: QueuedPodInfo) -> float:
        """When the pod's backoff ends."""
        return q.timestamp + self.backoff_duration(q)

    def is_backing_off(self, q: QueuedPodInfo) -> bool:
        """Backoff end is after now."""
        return self.backoff_time(q) > self.clock()

    # ----- pre-enqueue ---------------------------------------------------------------------

    @staticmethod
    def _gated(q: QueuedPodInfo) -> bool:
        """SchedulingGates PreEnqueue: a pod with ``spec.schedulingGates`` is not schedulable yet."""
        return bool((q.pod.get("spec") or {}).get("schedulingGates"))

    def _move_to_active(self, q: QueuedPodInfo) -> bool:
        q.gated = self._gated(q)
        if q.gated:
            if q.key in self._active_entries or q.key in self._backoff_entries:
                return False
            if "SchedulingGates" not in q.unschedulable_plugins:
                q.unschedulable_plugins = {"SchedulingGates"}
            self.unschedulable[q.key] = q
            self._infos[q.key] = q
            return False
        if q.initial_attempt_timestamp is None:
            q.initial_attempt_timestamp = self.clock()
        self._push_active(q)
        self.unschedulable.pop(q.key, None)
        self._remove_backoff(q.key)
        return True

    # ----- public API ----------------------------------------------------------------------

    def add(self, pod: Mapping[str, Any] | PodInfo) -> QueuedPodInfo:
        """A new pending pod enters activeQ (or stays gated)."""
        pi = pod if isinstance(pod, PodInfo) else PodInfo(pod)
        q = QueuedPodInfo(pi, self.clock())
        self._move_to_active(q)
        return q

    def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule (after running due flushes), or None if activeQ is empty."""
        self.tick()
        while self._active:
            entry = heapq.heappop(self._active)
            key = entry[3]
            if self._active_entries.get(key) is not entry:
                continue
            del self._active_entries[key]
            q = self._infos[key]
            q.attempts += 1
            self.scheduling_cycle += 1
            self._in_flight[key] = self._event_seq
            return q
        return None

    def done(self, key: str) -> None:
        """The pod's scheduling cycle is over (scheduled or requeued)."""
        self._in_flight.pop(key, None)
        if not self._in_flight:
            self._events.clear()
        if key not in self._active_entries and key not in self._backoff_entries and key not in self.unschedulable:
            self._infos.pop(key, None)

    def add_unschedulable_if_not_present(self, q: QueuedPodInfo, scheduling_cycle: int | None = None) -> str:
        """Requeue a pod whose cycle failed; returns the sub-queue it went to.

        With queueing hints, events received while it was in flight decide: one that may make
        it schedulable sends it to backoffQ (or activeQ if its backoff already passed),
        otherwise it waits in unschedulablePods.  A pod rejected by no plugin (an error) backs off.
        """
        key = q.key
        if key in self.unschedulable or key in self._active_entries or key in self._backoff_entries:
            self.done(key)
            raise ValueError(f"pod {q.pod_info.namespace}/{q.pod_info.name} is already present in the queue")
        q.timestamp = self.clock()
        strategy = self._hint_for_in_flight(q)
        queue = self._requeue(q, strategy)
        self.done(key)
        return queue

    def _hint_for_in_flight(self, q: QueuedPodInfo) -> int:
        if not q.unschedulable_plugins and not q.pending_plugins:
            return QUEUE_AFTER_BACKOFF
        since = self._in_flight.get(q.key, self._event_seq)
        strategy = QUEUE_SKIP
        for seq, event, old, new in self._events:
            if seq <= since:
                continue
            s = self._worth_requeuing(q, event, old, new)
            if s == QUEUE_IMMEDIATELY:
                return s
            if s == QUEUE_AFTER_BACKOFF:
                strategy = s
                if not q.pending_plugins:
                    return s
        return strategy

    def _worth_requeuing(self, q: QueuedPodInfo, event: ClusterEvent, old: Any, new: Any) -> int:
        """``isPodWorthRequeuing``."""
        rejectors = q.unschedulable_plugins | q.pending_plugins
        if not rejectors:
            return QUEUE_AFTER_BACKOFF
        if event.is_wildcard():
            if isinstance(new, Mapping) and PodInfo(new).key != q.key:
                return QUEUE_SKIP
            return QUEUE_AFTER_BACKOFF
        strategy = QUEUE_SKIP
        for registered, plugin, hint in self.hints:
            if plugin not in rejectors or not registered.matches(event):
                continue
            if hint is not None:
                try:
                    ok = hint(q.pod_info, event, old, new)
                except Exception:
                    ok = True
                if not ok:
                    continue
            if plugin in q.pending_plugins:
                return QUEUE_IMMEDIATELY
            if not q.pending_plugins:
                return QUEUE_AFTER_BACKOFF
            strategy = QUEUE_AFTER_BACKOFF
        return strategy

    def _requeue(self, q: QueuedPodInfo, strategy: int) -> str:
        """``requeuePodViaQueueingHint``."""
        if strategy == QUEUE_SKIP:
            self.unschedulable[q.key] = q
            self._infos[q.key] = q
            return UNSCHEDULABLE_PODS
        if strategy == QUEUE_AFTER_BACKOFF and self.is_backing_off(q):
            self.unschedulable.pop(q.key, None)
            self._push_backoff(q)
            return BACKOFF_Q
        if self._move_to_active(q):
            return ACTIVE_Q
        return UNSCHEDULABLE_PODS

    def move_all_to_active_or_backoff(
        self, event: ClusterEvent, old: Any = None, new: Any = None, pre_check: Callable[[PodInfo], bool] | None = None
    ) -> dict[str, str]:
        """A cluster event: move unschedulable pods it may help; returns ``pod key -> queue``."""
        if not event.is_wildcard() and not any(reg.matches(event) for reg, _, _ in self.hints):
            return {}
        moved: dict[str, str] = {}
        for q in list(self.unschedulable.values()):
            if pre_check is not None and not pre_check(q.pod_info):
                continue
            if q.gated and "SchedulingGates" in q.unschedulable_plugins:
                continue
            strategy = self._worth_requeuing(q, event, old, new)
            if strategy == QUEUE_SKIP:
                continue
            del self.unschedulable[q.key]
            moved[q.key] = self._requeue(q, strategy)
        self.move_request_cycle = self.scheduling_cycle
        if self._in_flight:
            self._event_seq += 1
            self._events.append((self._event_seq, event, old, new))
        return moved

    def node_added(self, node: Mapping[str, Any]) -> dict[str, str]:
        """Convenience: a node appeared."""
        return self.move_all_to_active_or_backoff(NODE_ADD, None, node)

    def node_updated(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, str]:
        """Convenience: a node changed; one move per scheduling-relevant change."""
        moved: dict[str, str] = {}
        for event in node_update_events(old, new):
            moved.update(self.move_all_to_active_or_backoff(event, old, new))
        return moved

    def assigned_pod_added(self, pod: Mapping[str, Any]) -> dict[str, str]:
        """Convenience: a pod got bound (helps pod affinity / spreading)."""
        return self.move_all_to_active_or_backoff(ASSIGNED_POD_ADD, None, pod)

    def assigned_pod_deleted(self, pod: Mapping[str, Any]) -> dict[str, str]:
        """Convenience: a bound pod went away (frees resources and ports)."""
        return self.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE, pod, None)

    def activate(self, keys: Iterable[str]) -> None:
        """Force pods out of unschedulablePods/backoffQ into activeQ (``Activate``)."""
        for key in keys:
            q = self.unschedulable.get(key)
            if q is None and key in self._backoff_entries:
                q = self._infos[key]
            if q is not None:
                self._move_to_active(q)

    def update(self, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        """A pending pod changed (``Update``)."""
        pi = PodInfo(new)
        key = pi.key
        if key in self._in_flight:
            # Only remembered for the in-flight pod itself (``addEventsIfPodInFlight``).
            self._event_seq += 1
            self._events.append((self._event_seq, ClusterEvent(WILDCARD, WILDCARD, "UnscheduledPodUpdate"), old, new))
            return
        if key in self._active_entries:
            q = self._infos[key]
            q.pod_info = pi
            self._push_active(q)
            return
        if key in self._backoff_entries:
            q = self._infos[key]
            q.pod_info = pi
            self._push_backoff(q)
            return
        q = self.unschedulable.get(key)
        if q is not None:
            q.pod_info = pi
            if q.gated:
                if not self._gated(q):
                    del self.unschedulable[key]
                    q.unschedulable_plugins = set()
                    self._move_to_active(q)
                return
            if old is None or _spec_or_labels_changed(old, new):
                del self.unschedulable[key]
                self._requeue(q, QUEUE_AFTER_BACKOFF)
            return
        self.add(pi)

    def delete(self, pod: Mapping[str, Any] | str) -> None:
        """A pending pod went away."""
        key = pod if isinstance(pod, str) else PodInfo(pod).key
        self._remove_active(key)
        self._remove_backoff(key)
        self.unschedulable.pop(key, None)
        if key not in self._in_flight:
            self._infos.pop(key, None)

    # ----- periodic flushes ----------------------------------------------------------------

    def flush_backoff_completed(self) -> list[str]:
        """Move pods whose backoff has expired to activeQ."""
        moved = []
        while True:
            q = self._peek_backoff()
            if q is None or self.is_backing_off(q):
                break
            heapq.heappop(self._backoff)
            del self._backoff_entries[q.key]
            if self._move_to_active(q):
                moved.append(q.key)
        return moved

    def flush_unschedulable_leftover(self) -> dict[str, str]:
        """Pods unschedulable for longer than the maximum are retried (UnschedulableTimeout)."""
        now = self.clock()
        keys = [k for k, q in self.unschedulable.items() if now - q.timestamp > self.pod_max_in_unschedulable]
        if not keys:
            return {}
        return self.move_all_to_active_or_backoff(UNSCHEDULABLE_TIMEOUT, pre_check=lambda p: p.key in keys)

    def tick(self) -> None:
        """Run the periodic flushes that are due (every 1 s and every 30 s of clock time)."""
        now = self.clock()
        if now >= self._next_backoff_flush:
            self.flush_backoff_completed()
            self._next_backoff_flush = now + BACKOFF_FLUSH_PERIOD
        if now >= self._next_leftover_flush:
            self.flush_unschedulable_leftover()
            self._next_leftover_flush = now + UNSCHEDULABLE_FLUSH_PERIOD

    # ----- introspection -------------------------------------------------------------------

    def active_pods(self) -> list[QueuedPodInfo]:
        """activeQ in pop order."""
        entries = sorted(e for k, e in self._active_entries.items())
        return [self._infos[e[3]] for e in entries]

    def backoff_pods(self) -> list[QueuedPodInfo]:
        """backoffQ in expiry order."""
        entries = sorted(self._backoff_entries.values())
        return [self._infos[e[2]] for e in entries]

    def unschedulable_pods(self) -> list[QueuedPodInfo]:
        """unschedulablePods (insertion order)."""
        return list(self.unschedulable.values())

    def where(self, key: str) -> str | None:
        """Which sub-queue holds the pod (None if in flight or unknown)."""
        if key in self._active_entries:
            return ACTIVE_Q
        if key in self._backoff_entries:
            return BACKOFF_Q
        if key in self.unschedulable:
            return UNSCHEDULABLE_PODS
        return None

    def __len__(self) -> int:
        return len(self._active_entries) + len(self._backoff_entries) + len(self.unschedulable)

    def active_count(self) -> int:
        """How many pods activeQ holds (after running due flushes)."""
        self.tick()
        return len(self._active_entries)


def _spec_or_labels_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """``isPodUpdated`` ignores status, resourceVersion and generation."""

    def strip(p: Mapping[str, Any]) -> tuple[Any, Any]:
        meta = dict(p.get("metadata") or {})
        for k in ("resourceVersion", "generation", "managedFields"):
            meta.pop(k, None)
        return meta, p.get("spec")

    return strip(old) != strip(new)
