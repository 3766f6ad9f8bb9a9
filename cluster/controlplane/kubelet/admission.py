"""Pod admission: the kubelet's own check that a bound pod can run here.

Upstream ``pkg/kubelet/lifecycle/predicate.go``: the scheduler may have been bypassed
(``spec.nodeName`` set by hand) or raced, so the kubelet re-runs the scheduler's
AdmissionCheck against the pods it already runs: resources (pods, cpu, memory,
ephemeral-storage, extended), node affinity and selector, node name, host ports, and
untolerated NoExecute taints. Only the first failure is reported: an
InsufficientResourceError becomes ``OutOf<resource>``, any other its predicate's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cluster.scheduler.labels import SelectorError
from cluster.scheduler.nodeinfo import NodeInfo, PodInfo, parse_time
from cluster.scheduler.plugins.node_affinity import ERR_REASON_POD, required_node_affinity
from cluster.scheduler.plugins.node_ports import ERR_REASON as NODE_PORTS_REASON
from cluster.scheduler.plugins.node_ports import fits_ports
from cluster.scheduler.taints import Taint, find_untolerated_taint

STATIC_SOURCE_ANNOTATION = "kubernetes.io/config.source"
NODE_NAME_REASON = "node(s) didn't match the requested node name"
TAINT_REASON = "node(s) had taints that the pod didn't tolerate"
_OUT_OF = {
    "cpu": "OutOfcpu",
    "memory": "OutOfmemory",
    "ephemeral-storage": "OutOfephemeral-storage",
    "pods": "OutOfpods",
}


@dataclass(frozen=True)
class AdmitResult:
    admit: bool
    reason: str = ""
    message: str = ""


def _insufficient(pod: PodInfo, node: NodeInfo) -> tuple[str, int, int, int] | None:
    """The first resource the node cannot give the pod: (name, requested, used, capacity)."""
    alloc, used, req = node.allocatable, node.requested, pod.requests
    if len(node.pods) + 1 > alloc.allowed_pod_number:
        return "pods", 1, len(node.pods), alloc.allowed_pod_number
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        return "cpu", req.milli_cpu, used.milli_cpu, alloc.milli_cpu
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        return "memory", req.memory, used.memory, alloc.memory
    if req.ephemeral_storage > 0 and req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        return "ephemeral-storage", req.ephemeral_storage, used.ephemeral_storage, alloc.ephemeral_storage
    for name in sorted(req.scalar):
        q = req.scalar[name]
        if name not in alloc.scalar:
            continue  # an extended resource the node does not know is the cluster's business
        if q > alloc.scalar[name] - used.scalar.get(name, 0):
            return name, q, used.scalar.get(name, 0), alloc.scalar[name]
    return None


class AdmittedView:
    """The kubelet's NodeInfo of the pods it admitted, kept by difference between admissions.

    Upstream builds it afresh for every admission; here that would cost a PodInfo per running
    pod per admission, so pods are added and removed as the running set changes (a pod's
    requests never change while it runs), and the node part follows the latest Node object.
    """

    def __init__(self) -> None:
        self.info = NodeInfo()
        self._pods: dict[str, str] = {}  # PodInfo key -> the pod's resourceVersion when added
        # The PodInfo parsed when a pod was admitted, for when it joins the running set.
        self.admitting: dict[str, PodInfo] = {}

    def update(self, node: dict[str, Any], running: Iterable[dict[str, Any]]) -> NodeInfo:
        """The view of exactly ``running``: whatever left is removed, whatever is new is added."""
        wanted = {view_key(other): other for other in running}
        gone = [k for k in self._pods if k not in wanted]
        return self.apply(node, {k: p for k, p in wanted.items() if k not in self._pods}, gone)

    def apply(self, node: dict[str, Any], added: dict[str, dict[str, Any]], removed: Iterable[str]) -> NodeInfo:
        """The view changed by difference: the caller knows which pods (by :func:`view_key`)
        joined the running set and which left it since it last asked."""
        self.refresh_node(node)
        for key in removed:
            if self._pods.pop(key, None) is not None:
                self.info.remove_pod(key)
        admitting = self.admitting
        for key, other in added.items():
            if key in self._pods:
                continue
            pi = admitting.pop(key, None)
            if pi is None or not _same_pod(pi.pod, other):
                pi = PodInfo(other)
            elif pi.pod is not other:
                # Hold the cached pod, not the one admitted, which would otherwise stay alive.
                pi.pod = other
                pi.start_time = parse_time((other.get("status") or {}).get("startTime"))
            self.info.add_pod(pi)
            self._pods[key] = str((other.get("metadata") or {}).get("resourceVersion", ""))
        if len(admitting) > len(self._pods) + 64:
            admitting.clear()
        return self.info

    def refresh_node(self, node: dict[str, Any]) -> NodeInfo:
        if self.info.node is not node:
            self.info.set_node(node)
        return self.info


def view_key(pod: dict[str, Any]) -> str:
    """How the view (and its PodInfos) name a pod: its uid, or namespace/name before it has one."""
    meta = pod.get("metadata") or {}
    return meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _same_pod(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether a PodInfo of ``a`` describes ``b``: the status (which the kubelet writes between
    admitting a pod and running it) is not part of one."""
    if a is b:
        return True
    ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
    return (
        ma.get("uid") == mb.get("uid")
        and ma.get("deletionTimestamp") == mb.get("deletionTimestamp")
        and ma.get("labels") == mb.get("labels")
        and a.get("spec") == b.get("spec")
    )


def admit(
    pod: dict[str, Any],
    node: dict[str, Any],
    running: Iterable[dict[str, Any]] | None,
    view: AdmittedView | None = None,
) -> AdmitResult:
    """Whether ``pod`` may run on ``node`` next to the pods the kubelet already admitted.

    ``running`` None: ``view`` already holds them (the kubelet keeps it up to date by difference).
    """
    view = view or AdmittedView()
    info = view.update(node, running) if running is not None else view.refresh_node(node)
    pi = PodInfo(pod)
    view.admitting[view_key(pod)] = pi
    missing = _insufficient(pi, info)
    if missing is not None:
        name, requested, used, capacity = missing
        return AdmitResult(
            False,
            _OUT_OF.get(name, f"OutOf{name}"),
            f"Node didn't have enough resource: {name}, requested: {requested}, used: {used}, capacity: {capacity}",
        )
    try:
        matches = required_node_affinity(pi).match(info)
    except SelectorError:
        matches = False
    if not matches:
        return AdmitResult(False, "NodeAffinity", f"Predicate NodeAffinity failed: {ERR_REASON_POD}")
    wanted = (pod.get("spec") or {}).get("nodeName")
    if wanted and wanted != info.name:
        return AdmitResult(False, "NodeName", f"Predicate NodeName failed: {NODE_NAME_REASON}")
    if pi.wanted_ports and not fits_ports(pi.wanted_ports, info):
        return AdmitResult(False, "NodePorts", f"Predicate NodePorts failed: {NODE_PORTS_REASON}")
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if annotations.get(STATIC_SOURCE_ANNOTATION, "api") == "api":
        no_execute: list[Taint] = [t for t in info.taints if t.effect == "NoExecute"]
        if find_untolerated_taint(no_execute, pi.tolerations) is not None:
            return AdmitResult(False, "TaintToleration", f"Predicate TaintToleration failed: {TAINT_REASON}")
    return AdmitResult(True)
