"""NodePorts: the pod's host ports must be free on the node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..framework import SKIP, Code, CycleState, Plugin, PreFilterResult, Status
from ..nodeinfo import NodeInfo, PodInfo

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_REJECT = Status(Code.UNSCHEDULABLE, ERR_REASON)
_STATE_KEY = "PreFilterNodePorts"


def fits_ports(wanted: Sequence[tuple[str, str, int]], node: NodeInfo) -> bool:
    """No wanted (hostIP, protocol, hostPort) conflicts with the node's used ports."""
    used = node.used_ports
    if not used:
        return True
    return not any(used.check_conflict(ip, proto, port) for ip, proto, port in wanted)


class NodePorts(Plugin):
    """Host port conflicts (0.0.0.0 conflicts with every IP)."""

    name: ClassVar[str] = "NodePorts"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter"})

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        if not pod.wanted_ports:
            return None, SKIP
        state.write(_STATE_KEY, pod.wanted_ports)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        wanted = state.read(_STATE_KEY)
        if wanted is None:
            wanted = pod.wanted_ports
        return None if fits_ports(wanted, node) else _REJECT
