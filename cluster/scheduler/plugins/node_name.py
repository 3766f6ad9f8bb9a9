"""NodeName: a pod with ``spec.nodeName`` fits only that node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..framework import Code, CycleState, Plugin, Status
from ..nodeinfo import NodeInfo, PodInfo

ERR_REASON = "node(s) didn't match the requested node name"
_REJECT = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON)


class NodeName(Plugin):
    """Checks ``spec.nodeName`` against the node's name."""

    name: ClassVar[str] = "NodeName"
    extension_points: ClassVar[frozenset[str]] = frozenset({"filter"})

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not pod.node_name or pod.node_name == node.name:
            return None
        return _REJECT

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[int, Status]:
        want = pod.node_name
        if not want:
            return {}
        return {i: _REJECT for i, n in enumerate(nodes) if n.name != want}
