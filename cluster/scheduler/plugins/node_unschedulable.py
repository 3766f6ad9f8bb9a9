"""NodeUnschedulable: reject cordoned nodes unless the pod tolerates the unschedulable taint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..framework import Code, CycleState, Plugin, Status
from ..nodeinfo import NodeInfo, PodInfo
from ..taints import TAINT_NODE_UNSCHEDULABLE, tolerations_tolerate_taint

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
_REJECT = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_UNSCHEDULABLE)


class NodeUnschedulable(Plugin):
    """``spec.unschedulable`` nodes only take pods tolerating ``node.kubernetes.io/unschedulable:NoSchedule``."""

    name: ClassVar[str] = "NodeUnschedulable"
    extension_points: ClassVar[frozenset[str]] = frozenset({"filter"})

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable:
            return None
        if tolerations_tolerate_taint(pod.tolerations, TAINT_NODE_UNSCHEDULABLE):
            return None
        return _REJECT

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[int, Status]:
        if pod.tolerations and tolerations_tolerate_taint(pod.tolerations, TAINT_NODE_UNSCHEDULABLE):
            return {}
        return {i: _REJECT for i, n in enumerate(nodes) if n.unschedulable}
