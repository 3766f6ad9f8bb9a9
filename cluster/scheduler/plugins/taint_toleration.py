"""TaintToleration: NoSchedule/NoExecute taints filter, PreferNoSchedule taints score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..framework import MAX_NODE_SCORE, Code, CycleState, Plugin, Status, default_normalize_score
from ..nodeinfo import NodeInfo, PodInfo
from ..taints import Taint, Toleration, find_untolerated_taint, tolerations_tolerate_taint

_PRE_SCORE_KEY = "PreScoreTaintToleration"


def untolerated_taint_status(taint: Taint) -> Status:
    """The v1.32 reason text names the first untolerated taint: ``{key: value}``."""
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}")


def count_intolerable_prefer_no_schedule(taints: Sequence[Taint], tolerations: Sequence[Toleration]) -> int:
    """``countIntolerableTaintsPreferNoSchedule``."""
    n = 0
    for taint in taints:
        if not tolerations_tolerate_taint(tolerations, taint):
            n += 1
    return n


class TaintToleration(Plugin):
    """Filter on hard taints; score by the count of intolerable PreferNoSchedule taints (reversed)."""

    name: ClassVar[str] = "TaintToleration"
    extension_points: ClassVar[frozenset[str]] = frozenset({"filter", "preScore", "score"})
    has_normalize: ClassVar[bool] = True

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.no_schedule_taints:
            return None
        taint = find_untolerated_taint(node.no_schedule_taints, pod.tolerations)
        return None if taint is None else untolerated_taint_status(taint)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[int, Status]:
        out: dict[int, Status] = {}
        tolerations = pod.tolerations
        cache: dict[Taint, Status] = {}
        for i, n in enumerate(nodes):
            taints = n.no_schedule_taints
            if not taints:
                continue
            taint = find_untolerated_taint(taints, tolerations)
            if taint is not None:
                st = cache.get(taint)
                if st is None:
                    st = cache[taint] = untolerated_taint_status(taint)
                out[i] = st
        return out

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        if not nodes:
            return None
        prefer = tuple(t for t in pod.tolerations if not t.effect or t.effect == "PreferNoSchedule")
        state.write(_PRE_SCORE_KEY, prefer)
        return None

    def _tolerations(self, state: CycleState, pod: PodInfo) -> tuple[Toleration, ...]:
        prefer = state.read(_PRE_SCORE_KEY)
        if prefer is None:
            prefer = tuple(t for t in pod.tolerations if not t.effect or t.effect == "PreferNoSchedule")
        return prefer

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return count_intolerable_prefer_no_schedule(node.prefer_no_schedule_taints, self._tolerations(state, pod))

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        prefer = self._tolerations(state, pod)
        if not prefer:
            return [len(n.prefer_no_schedule_taints) for n in nodes]
        return [
            count_intolerable_prefer_no_schedule(n.prefer_no_schedule_taints, prefer)
            if n.prefer_no_schedule_taints
            else 0
            for n in nodes
        ]

    def normalize_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> Status | None:
        default_normalize_score(MAX_NODE_SCORE, True, scores)
        return None
