"""DefaultPreemption (PostFilter): find a node where evicting lower-priority pods makes room.

Follows ``framework/preemption/preemption.go`` and ``defaultpreemption/default_preemption.go``
of v1.32, run sequentially: candidates come from nodes whose filter status was
``Unschedulable`` (``UnschedulableAndUnresolvable`` nodes are "not helpful"), starting at a
random offset; victims are the minimal set of lower-priority pods (PDB-violating ones tried
first for reprieve), and the best candidate is picked by upstream's tie-break chain.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..framework import Code, CycleState, NodeToStatus, Plugin, Status, fit_error_message
from ..labels import label_selector_as_selector
from ..nodeinfo import NodeInfo, PodInfo

PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass
class PostFilterResult:
    """The node nominated for the preemptor and the pods to evict there."""

    nominated_node_name: str = ""
    victims: list[PodInfo] = field(default_factory=list)
    num_pdb_violations: int = 0


@dataclass
class Candidate:
    """A node where preemption would work, with its victims."""

    name: str
    victims: list[PodInfo]
    num_pdb_violations: int


def _start_time(p: PodInfo) -> float:
    """``GetPodStartTime``: a pod without a start time counts as starting now (i.e. latest)."""
    return p.start_time if p.start_time is not None else math.inf


def more_important_key(p: PodInfo) -> tuple[int, float]:
    """Sort key for ``MoreImportantPod``: higher priority first, then earlier start."""
    return (-p.priority, _start_time(p))


def _terminating_by_preemption(p: PodInfo) -> bool:
    if not p.deleting:
        return False
    for cond in (p.pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "DisruptionTarget":
            return cond.get("status") == "True" and cond.get("reason") == "PreemptionByScheduler"
    return False


def filter_pods_with_pdb_violation(
    pods: Sequence[PodInfo], pdbs: Sequence[Mapping[str, Any]]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """Split victims into those whose eviction would violate a PodDisruptionBudget and the rest."""
    allowed = [int(((pdb.get("status") or {}).get("disruptionsAllowed")) or 0) for pdb in pdbs]
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for p in pods:
        violated = False
        if p.labels:
            for i, pdb in enumerate(pdbs):
                meta = pdb.get("metadata") or {}
                if (meta.get("namespace") or "") != p.namespace:
                    continue
                try:
                    selector = label_selector_as_selector((pdb.get("spec") or {}).get("selector"))
                except ValueError:
                    continue
                if selector.empty or not selector.matches(p.labels):
                    continue
                if p.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else non_violating).append(p)
    return violating, non_violating


def _earliest_start_time(victims: Sequence[PodInfo]) -> float | None:
    if not victims:
        return None
    earliest = _start_time(victims[0])
    max_priority = victims[0].priority
    for p in victims:
        if p.priority == max_priority:
            earliest = min(earliest, _start_time(p))
        elif p.priority > max_priority:
            max_priority = p.priority
            earliest = _start_time(p)
    return earliest


def pick_one_node_for_preemption(candidates: Sequence[Candidate]) -> Candidate | None:
    """Fewest PDB violations, lowest highest-victim priority, lowest priority sum, fewest
    victims, latest earliest-start; then the first remaining."""
    if not candidates:
        return None
    remaining = list(candidates)

    def sum_priorities(c: Candidate) -> int:
        return -sum(p.priority + 2**31 for p in c.victims)

    def latest_start(c: Candidate) -> float:
        t = _earliest_start_time(c.victims)
        return -math.inf if t is None else t

    funcs = (
        lambda c: -c.num_pdb_violations,
        lambda c: -c.victims[0].priority,
        sum_priorities,
        lambda c: -len(c.victims),
        latest_start,
    )
    for f in funcs:
        best = max(f(c) for c in remaining)
        remaining = [c for c in remaining if f(c) == best]
        if len(remaining) == 1:
            return remaining[0]
    return remaining[0]


class DefaultPreemption(Plugin):
    """Preempt lower-priority pods so the preemptor fits on some node later."""

    name: ClassVar[str] = "DefaultPreemption"
    extension_points: ClassVar[frozenset[str]] = frozenset({"postFilter", "preEnqueue"})

    def __init__(self, args: Mapping[str, Any] | None, handle: Any) -> None:
        super().__init__(args, handle)
        self.min_candidate_nodes_percentage = int(self.args.get("minCandidateNodesPercentage", 10))
        self.min_candidate_nodes_absolute = int(self.args.get("minCandidateNodesAbsolute", 100))

    def calculate_num_candidates(self, num_nodes: int) -> int:
        """``calculateNumCandidates``."""
        n = num_nodes * self.min_candidate_nodes_percentage // 100
        n = max(n, self.min_candidate_nodes_absolute)
        return min(n, num_nodes)

    def post_filter(self, state: CycleState, pod: PodInfo, node_to_status: NodeToStatus) -> tuple[Any, Status]:
        result, status = self.preempt(state, pod, node_to_status)
        if status.message:
            return result, Status(status.code, "preemption: " + status.message)
        return result, status

    def eligible(self, pod: PodInfo, nominated_status: Status) -> tuple[bool, str]:
        """``PodEligibleToPreemptOthers``."""
        if pod.preemption_policy == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        nnn = pod.nominated_node_name
        if nnn:
            if nominated_status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node = self.handle.cache.get(nnn)
            if node is not None:
                for p in node.pods:
                    if p.priority < pod.priority and _terminating_by_preemption(p):
                        return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    def preempt(self, state: CycleState, pod: PodInfo, m: NodeToStatus) -> tuple[PostFilterResult | None, Status]:
        """``Evaluator.Preempt``."""
        ok, msg = self.eligible(pod, m.get(pod.nominated_node_name))
        if not ok:
            return None, Status(Code.UNSCHEDULABLE, msg)
        all_nodes = self.handle.node_infos()
        if not all_nodes:
            return None, Status(Code.ERROR, "no nodes available")
        candidates, statuses = self.find_candidates(state, all_nodes, pod, m)
        if not candidates:
            statuses.absent = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, PREEMPTION_NOT_HELPFUL)
            return PostFilterResult(""), Status(Code.UNSCHEDULABLE, fit_error_message(len(all_nodes), statuses))
        best = pick_one_node_for_preemption(candidates) if len(candidates) > 1 else candidates[0]
        if best is None or not best.name:
            return None, Status(Code.UNSCHEDULABLE, "no candidate node for preemption")
        return PostFilterResult(best.name, best.victims, best.num_pdb_violations), Status(Code.SUCCESS)

    def find_candidates(
        self, state: CycleState, all_nodes: Sequence[NodeInfo], pod: PodInfo, m: NodeToStatus
    ) -> tuple[list[Candidate], NodeToStatus]:
        """``findCandidates`` + ``DryRunPreemption`` (sequential)."""
        potential = m.nodes_for_status_code(all_nodes, Code.UNSCHEDULABLE)
        statuses = NodeToStatus()
        if not potential:
            return [], statuses
        rng: random.Random = getattr(self.handle, "rng", None) or random.Random()
        offset = rng.randrange(len(potential))
        wanted = self.calculate_num_candidates(len(potential))
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        pdbs = self.handle.workloads.pod_disruption_budgets
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)].snapshot()
            victims, num_violating, status = self.select_victims_on_node(state.clone(), pod, node, pdbs)
            if status.is_success and victims:
                c = Candidate(node.name, victims, num_violating)
                (non_violating if num_violating == 0 else violating).append(c)
                if non_violating and len(non_violating) + len(violating) >= wanted:
                    break
                continue
            if status.is_success:
                status = Status(Code.ERROR, f'expected at least one victim pod on node "{node.name}"')
            statuses.set(node.name, status)
        return non_violating + violating, statuses

    def select_victims_on_node(
        self, state: CycleState, pod: PodInfo, node: NodeInfo, pdbs: Sequence[Mapping[str, Any]]
    ) -> tuple[list[PodInfo], int, Status]:
        """``SelectVictimsOnNode``: remove all lower-priority pods, then reprieve as many as fit."""
        fwk = self.handle.framework
        potential: list[PodInfo] = []
        for p in list(node.pods):
            if p.priority < pod.priority:
                potential.append(p)
                node.remove_pod(p.key)
                fwk.run_pre_filter_extension_remove_pod(state, pod, p, node)
        if not potential:
            return [], 0, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NO_VICTIMS)
        failed = fwk.run_filter_plugins_with_nominated_pods(state, pod, node)
        if failed is not None:
            return [], 0, failed[1]
        potential.sort(key=more_important_key)
        violating, non_violating = filter_pods_with_pdb_violation(potential, pdbs)
        victims: list[PodInfo] = []

        def reprieve(p: PodInfo) -> bool:
            node.add_pod(p)
            fwk.run_pre_filter_extension_add_pod(state, pod, p, node)
            fits = fwk.run_filter_plugins_with_nominated_pods(state, pod, node) is None
            if not fits:
                node.remove_pod(p.key)
                fwk.run_pre_filter_extension_remove_pod(state, pod, p, node)
                victims.append(p)
            return fits

        num_violating = 0
        for p in violating:
            if not reprieve(p):
                num_violating += 1
        for p in non_violating:
            reprieve(p)
        if violating and non_violating:
            victims.sort(key=more_important_key)
        return victims, num_violating, Status(Code.SUCCESS)
