"""VolumeBinding (basic): the pod's PVCs must exist and be bound, or bindable on the node.

PreFilter mirrors ``podHasPVCs``/``GetPodVolumeClaims``: a missing, lost or deleting PVC and
an unbound PVC of an ``Immediate`` class reject the pod outright.  Filter checks bound PVs'
node affinity and, for ``WaitForFirstConsumer`` claims, that a matching PV exists or the class
can provision on the node (CSI storage capacity is not modelled).  The Score extension stays
off as in v1.32 (``VolumeCapacityPriority`` is alpha).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..framework import SKIP, Code, CycleState, Plugin, PreFilterResult, Status
from ..labels import label_selector_as_selector
from ..nodeinfo import NodeInfo, PodInfo
from ..quantity import QuantityError, parse_quantity
from .node_affinity import NodeSelector

ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_NOT_ENOUGH_SPACE = "node(s) did not have enough free storage"
ERR_REASON_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
NOT_SUPPORTED_PROVISIONER = "kubernetes.io/no-provisioner"
_STATE_KEY = "VolumeBinding"


def claim_class(obj: Mapping[str, Any]) -> str:
    """``GetPersistentVolumeClaimClass`` / ``GetPersistentVolumeClass``: beta annotation first."""
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if ANN_STORAGE_CLASS in ann:
        return ann[ANN_STORAGE_CLASS]
    return (obj.get("spec") or {}).get("storageClassName") or ""


def pod_claim_names(pod: Mapping[str, Any]) -> list[tuple[str, bool, str]]:
    """(claim name, ephemeral, volume name) for each claim a pod uses; ephemeral ones are ``<pod>-<volume>``."""
    name = (pod.get("metadata") or {}).get("name", "")
    out = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        if vol.get("persistentVolumeClaim"):
            out.append((vol["persistentVolumeClaim"].get("claimName", ""), False, vol.get("name", "")))
        elif vol.get("ephemeral") is not None:
            out.append((f"{name}-{vol.get('name', '')}", True, vol.get("name", "")))
    return out


def is_delay_binding(pvc: Mapping[str, Any], storage_classes: Mapping[str, Mapping[str, Any]]) -> bool:
    """``IsDelayBindingMode``: the claim's class binds when its first consumer is scheduled."""
    cls = claim_class(pvc)
    sc = storage_classes.get(cls) if cls else None
    if sc is None:
        return False
    return (sc.get("volumeBindingMode") or "Immediate") == "WaitForFirstConsumer"


def _storage(obj: Mapping[str, Any], path: tuple[str, ...]) -> int:
    cur: Any = obj
    for p in path:
        cur = (cur or {}).get(p)
    if cur is None:
        return 0
    try:
        return parse_quantity(cur)
    except QuantityError:
        return 0


def pv_matches_node(pv: Mapping[str, Any], node_labels: Mapping[str, str]) -> bool:
    """``volume.CheckNodeAffinity``: a PV's required node affinity against node labels."""
    required = (((pv.get("spec") or {}).get("nodeAffinity")) or {}).get("required")
    if required is None:
        return True
    return NodeSelector(required).match(node_labels, "")


def _topology_terms_match(terms: Sequence[Mapping[str, Any]] | None, labels: Mapping[str, str]) -> bool:
    """``MatchTopologySelectorTerms``: no terms match everything; terms are ORed."""
    if not terms:
        return True
    for term in terms:
        ok = True
        for expr in term.get("matchLabelExpressions") or []:
            if labels.get(expr.get("key", "")) not in (expr.get("values") or []):
                ok = False
                break
        if ok:
            return True
    return False


class _Claims:
    __slots__ = ("bound", "delayed", "delayed_pvs")

    def __init__(self) -> None:
        self.bound: list[Mapping[str, Any]] = []
        self.delayed: list[Mapping[str, Any]] = []
        self.delayed_pvs: dict[str, list[Mapping[str, Any]]] = {}


class VolumeBinding(Plugin):
    """PVC existence / binding checks."""

    name: ClassVar[str] = "VolumeBinding"
    extension_points: ClassVar[frozenset[str]] = frozenset(
        {"preFilter", "filter", "reserve", "preBind", "preScore", "score"}
    )

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        names = pod_claim_names(pod.pod)
        if not names:
            return None, SKIP
        pvcs = self.handle.volumes.pvcs
        claims = _Claims()
        unbound_immediate = False
        for claim_name, ephemeral, _vol in names:
            pvc = pvcs.get(f"{pod.namespace}/{claim_name}")
            if pvc is None:
                if ephemeral:
                    msg = f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{claim_name}"'
                else:
                    msg = f'persistentvolumeclaim "{claim_name}" not found'
                return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, msg)
            meta = pvc.get("metadata") or {}
            spec = pvc.get("spec") or {}
            if ((pvc.get("status") or {}).get("phase")) == "Lost":
                return None, Status(
                    Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                    f'persistentvolumeclaim "{claim_name}" bound to non-existent persistentvolume "{spec.get("volumeName", "")}"',
                )
            if meta.get("deletionTimestamp"):
                return None, Status(
                    Code.UNSCHEDULABLE_AND_UNRESOLVABLE, f'persistentvolumeclaim "{claim_name}" is being deleted'
                )
            if ephemeral:
                owners = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
                if not owners or owners[0].get("uid") != pod.uid:
                    return None, Status(
                        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                        f"PVC {pod.namespace}/{claim_name} was not created for pod {pod.namespace}/{pod.name} (pod is not owner)",
                    )
            volume_name = spec.get("volumeName") or ""
            annotations = meta.get("annotations") or {}
            if volume_name and ANN_BIND_COMPLETED in annotations:
                claims.bound.append(pvc)
            elif is_delay_binding(pvc, self.handle.volumes.storage_classes) and not volume_name:
                claims.delayed.append(pvc)
            else:
                unbound_immediate = True
        if unbound_immediate:
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_UNBOUND_IMMEDIATE)
        for pvc in claims.delayed:
            cls = claim_class(pvc)
            if cls not in claims.delayed_pvs:
                claims.delayed_pvs[cls] = [pv for pv in self.handle.volumes.pvs.values() if claim_class(pv) == cls]
        state.write(_STATE_KEY, claims)
        return None, None

    def _find_matching_volume(
        self, pvc: Mapping[str, Any], pvs: Sequence[Mapping[str, Any]], node: NodeInfo, chosen: set[str]
    ) -> Mapping[str, Any] | None:
        meta = pvc.get("metadata") or {}
        spec = pvc.get("spec") or {}
        requested = _storage(spec, ("resources", "requests", "storage"))
        try:
            selector = label_selector_as_selector(spec.get("selector")) if spec.get("selector") is not None else None
        except ValueError:
            return None
        modes = set(spec.get("accessModes") or [])
        volume_mode = spec.get("volumeMode") or "Filesystem"
        best: Mapping[str, Any] | None = None
        best_size = 0
        for pv in pvs:
            pv_meta = pv.get("metadata") or {}
            pv_spec = pv.get("spec") or {}
            name = pv_meta.get("name", "")
            if name in chosen:
                continue
            size = _storage(pv_spec, ("capacity", "storage"))
            if (pv_spec.get("volumeMode") or "Filesystem") != volume_mode:
                continue
            ref = pv_spec.get("claimRef")
            if ref:
                if ref.get("name") == meta.get("name") and (ref.get("namespace") or "") == (
                    meta.get("namespace") or ""
                ):
                    if size >= requested and pv_matches_node(pv, node.labels):
                        return pv
                continue
            if ((pv.get("status") or {}).get("phase") or "Available") != "Available":
                continue
            if not pv_matches_node(pv, node.labels):
                continue
            if selector is not None and not selector.matches(pv_meta.get("labels") or {}):
                continue
            if not modes.issubset(set(pv_spec.get("accessModes") or [])):
                continue
            if size < requested:
                continue
            if best is None or size < best_size:
                best, best_size = pv, size
        return best

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        claims: _Claims | None = state.read(_STATE_KEY)
        if claims is None:
            return None
        pvs = self.handle.volumes.pvs
        reasons: list[str] = []
        bound_ok = True
        pv_found = True
        for pvc in claims.bound:
            pv = pvs.get((pvc.get("spec") or {}).get("volumeName", ""))
            if pv is None:
                pv_found = False
                break
            if not pv_matches_node(pv, node.labels):
                bound_ok = False
                break
        unbound_ok = True
        if claims.delayed:
            to_provision: list[Mapping[str, Any]] = []
            to_match: list[Mapping[str, Any]] = []
            for pvc in claims.delayed:
                selected = ((pvc.get("metadata") or {}).get("annotations") or {}).get(ANN_SELECTED_NODE)
                if selected is not None:
                    if selected != node.name:
                        unbound_ok = False
                        break
                    to_provision.append(pvc)
                else:
                    to_match.append(pvc)
            if unbound_ok:
                chosen: set[str] = set()
                to_match.sort(key=lambda c: _storage(c.get("spec") or {}, ("resources", "requests", "storage")))
                for pvc in to_match:
                    pv = self._find_matching_volume(pvc, claims.delayed_pvs.get(claim_class(pvc), []), node, chosen)
                    if pv is None:
                        to_provision.append(pvc)
                    else:
                        chosen.add((pv.get("metadata") or {}).get("name", ""))
                for pvc in to_provision:
                    sc = self.handle.volumes.storage_classes.get(claim_class(pvc))
                    if sc is None:
                        return Status(Code.ERROR, f'failed to find storage class "{claim_class(pvc)}"')
                    provisioner = sc.get("provisioner") or ""
                    if (
                        not provisioner
                        or provisioner == NOT_SUPPORTED_PROVISIONER
                        or not _topology_terms_match(sc.get("allowedTopologies"), node.labels)
                    ):
                        unbound_ok = False
                        break
        if not bound_ok:
            reasons.append(ERR_REASON_NODE_CONFLICT)
        if not unbound_ok:
            reasons.append(ERR_REASON_BIND_CONFLICT)
        if not pv_found:
            reasons.append(ERR_REASON_PV_NOT_EXIST)
        if reasons:
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, *reasons)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        return SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return 0
