"""NodeResourcesBalancedAllocation: favour nodes whose resource usage stays balanced.

Uses the pod's actual requests (no 100m/200Mi defaults) and the node's ``Requested``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..framework import CycleState, Plugin, Status
from ..nodeinfo import NodeInfo, PodInfo
from .node_resources_fit import ResourceAllocationScorer, balanced_resource_scorer

_PRE_SCORE_KEY = "PreScoreNodeResourcesBalancedAllocation"


class BalancedAllocation(Plugin):
    """Score = (1 - standard deviation of requested/allocatable fractions) * 100."""

    name: ClassVar[str] = "NodeResourcesBalancedAllocation"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preScore", "score"})

    def __init__(self, args: Mapping[str, Any] | None, handle: Any) -> None:
        super().__init__(args, handle)
        resources = self.args.get("resources") or [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
        self.scorer = ResourceAllocationScorer(resources, use_requested=True, scorer=balanced_resource_scorer)
        self._fast = self.scorer.is_cpu_memory()

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        state.write(_PRE_SCORE_KEY, self.scorer.pod_requests(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        reqs = state.read(_PRE_SCORE_KEY)
        if reqs is None:
            reqs = self.scorer.pod_requests(pod)
        if not self._fast:
            sn = self.scorer.score_node
            return [sn(n, reqs) for n in nodes]
        cpu_req, mem_req = reqs
        key = (self._memo_token, cpu_req, mem_req)
        out = []
        for n in nodes:
            memo = n.score_memo
            v = memo.get(key)
            if v is None:
                a = n.allocatable
                u = n.requested
                ac = a.milli_cpu
                am = a.memory
                if ac and am:
                    fc = float(u.milli_cpu + cpu_req) / float(ac)
                    fm = float(u.memory + mem_req) / float(am)
                    if fc > 1:
                        fc = 1.0
                    if fm > 1:
                        fm = 1.0
                    v = int((1 - abs((fc - fm) / 2)) * 100)
                else:
                    v = 100
                if len(memo) > 64:
                    memo.clear()
                memo[key] = v
            out.append(v)
        return out
