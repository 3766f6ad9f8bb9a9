"""NodeResourcesFit: requests must fit the node's allocatable; scores by a scoring strategy.

Scoring follows ``noderesources/resource_allocation.go`` with the LeastAllocated (default),
MostAllocated and RequestedToCapacityRatio scorers, using int64 arithmetic.  For scoring,
CPU and memory of a container without a request count as 100m / 200Mi (``NonZeroRequested``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ..framework import MAX_NODE_SCORE, Code, CycleState, Plugin, PreFilterResult, Status
from ..nodeinfo import NodeInfo, PodInfo, Resource, is_extended_resource_name, is_scalar_resource_name

MAX_UTILIZATION = 100
_PRE_FILTER_KEY = "PreFilterNodeResourcesFit"
_PRE_SCORE_KEY = "PreScoreNodeResourcesFit"

_CPU, _MEMORY, _EPHEMERAL, _OTHER = 0, 1, 2, 3


def go_div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def go_round(x: float) -> int:
    """Go's ``math.Round``: half away from zero."""
    t = math.trunc(x)
    if abs(x - t) >= 0.5:
        t += math.copysign(1, x)
    return int(t)


def broken_linear_function(shape: Sequence[tuple[int, int]]) -> Callable[[int], int]:
    """``helper.BuildBrokenLinearFunction`` over (utilization, score) points."""

    def f(p: int) -> int:
        for i, (u, s) in enumerate(shape):
            if p <= u:
                if i == 0:
                    return shape[0][1]
                pu, ps = shape[i - 1]
                return ps + go_div((s - ps) * (p - pu), u - pu)
        return shape[-1][1]

    return f


def least_requested_score(requested: int, capacity: int) -> int:
    """((capacity - requested) * 100) / capacity, 0 when over capacity."""
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    """(requested * 100) / capacity, requested capped at capacity."""
    if capacity == 0:
        return 0
    if requested > capacity:
        requested = capacity
    return requested * MAX_NODE_SCORE // capacity


Scorer = Callable[[Sequence[int], Sequence[int]], int]


def least_allocated_scorer(weights: Sequence[int]) -> Scorer:
    """``leastResourceScorer``: weighted mean of per-resource least-requested scores."""

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for req, alloc, w in zip(requested, allocatable, weights, strict=True):
            if alloc == 0:
                continue
            node_score += least_requested_score(req, alloc) * w
            weight_sum += w
        return node_score // weight_sum if weight_sum else 0

    return score


def most_allocated_scorer(weights: Sequence[int]) -> Scorer:
    """``mostResourceScorer``: weighted mean of per-resource most-requested scores."""

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for req, alloc, w in zip(requested, allocatable, weights, strict=True):
            if alloc == 0:
                continue
            node_score += most_requested_score(req, alloc) * w
            weight_sum += w
        return node_score // weight_sum if weight_sum else 0

    return score


def requested_to_capacity_ratio_scorer(weights: Sequence[int], shape: Sequence[Mapping[str, int]]) -> Scorer:
    """``requestedToCapacityRatioScorer``: shape scores (0-10) scaled to 0-100, rounded mean of
    the resources that scored above zero."""
    points = [(int(p["utilization"]), int(p["score"]) * (MAX_NODE_SCORE // 10)) for p in shape]
    raw = broken_linear_function(points)

    def resource_score(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return raw(MAX_UTILIZATION)
        return raw(requested * MAX_UTILIZATION // capacity)

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for req, alloc, w in zip(requested, allocatable, weights, strict=True):
            if alloc == 0:
                continue
            s = resource_score(req, alloc)
            if s > 0:
                node_score += s * w
                weight_sum += w
        if weight_sum == 0:
            return 0
        return go_round(node_score / weight_sum)

    return score


def balanced_resource_scorer(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    """``balancedResourceScorer``: (1 - std of the requested fractions) * 100, truncated."""
    fractions: list[float] = []
    total = 0.0
    for req, alloc in zip(requested, allocatable, strict=True):
        if alloc == 0:
            continue
        fraction = float(req) / float(alloc)
        if fraction > 1:
            fraction = 1.0
        total += fraction
        fractions.append(fraction)
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = total / len(fractions)
        std = math.sqrt(sum((f - mean) * (f - mean) for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


class ResourceAllocationScorer:
    """``resourceAllocationScorer``: gathers (requested, allocatable) per resource and scores."""

    def __init__(self, resources: Sequence[Mapping[str, Any]], use_requested: bool, scorer: Scorer) -> None:
        self.resources = [(str(r["name"]), int(r["weight"])) for r in resources]
        self.use_requested = use_requested
        self.scorer = scorer
        self._kinds = [
            (
                {"cpu": _CPU, "memory": _MEMORY, "ephemeral-storage": _EPHEMERAL}.get(name, _OTHER),
                name,
                is_scalar_resource_name(name),
            )
            for name, _ in self.resources
        ]

    def pod_requests(self, pod: PodInfo) -> list[int]:
        """``calculatePodResourceRequestList``."""
        return [pod.request_value(name, non_zero=not self.use_requested) for name, _ in self.resources]

    def alloc_and_request(self, node: NodeInfo, index: int, pod_request: int) -> tuple[int, int]:
        """``calculateResourceAllocatableRequest`` for the index-th configured resource."""
        kind, name, scalar = self._kinds[index]
        if pod_request == 0 and scalar:
            return 0, 0
        if kind == _CPU:
            used = node.requested.milli_cpu if self.use_requested else node.non0_cpu
            return node.allocatable.milli_cpu, used + pod_request
        if kind == _MEMORY:
            used = node.requested.memory if self.use_requested else node.non0_mem
            return node.allocatable.memory, used + pod_request
        if kind == _EPHEMERAL:
            return node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_request
        alloc = node.allocatable.scalar.get(name)
        if alloc is not None:
            return alloc, node.requested.scalar.get(name, 0) + pod_request
        return 0, 0

    def score_node(self, node: NodeInfo, pod_requests: Sequence[int]) -> int:
        """Score one node."""
        n = len(self.resources)
        requested = [0] * n
        allocatable = [0] * n
        for i in range(n):
            alloc, req = self.alloc_and_request(node, i, pod_requests[i])
            if alloc == 0:
                continue
            allocatable[i] = alloc
            requested[i] = req
        return self.scorer(requested, allocatable)

    def is_cpu_memory(self) -> bool:
        """Configured resources are exactly cpu then memory (the default): enables a fast path."""
        return [k for k, _, _ in self._kinds] == [_CPU, _MEMORY]


def _strategy_scorer(strategy: Mapping[str, Any]) -> ResourceAllocationScorer:
    resources = strategy.get("resources") or [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
    weights = [int(r["weight"]) for r in resources]
    kind = strategy.get("type", "LeastAllocated")
    if kind == "LeastAllocated":
        scorer = least_allocated_scorer(weights)
    elif kind == "MostAllocated":
        scorer = most_allocated_scorer(weights)
    elif kind == "RequestedToCapacityRatio":
        scorer = requested_to_capacity_ratio_scorer(weights, strategy.get("shape") or [])
    else:
        raise ValueError(f"scoring strategy {kind} is not supported")
    return ResourceAllocationScorer(resources, use_requested=False, scorer=scorer)


def fits_request(
    req: Resource, node: NodeInfo, ignored: frozenset[str] = frozenset(), ignored_groups: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """``fitsRequest``: the insufficient-resource reasons, in upstream's order."""
    reasons: list[str] = []
    alloc = node.allocatable
    used = node.requested
    if len(node.pods) + 1 > alloc.allowed_pod_number:
        reasons.append("Too many pods")
    if req.is_zero_request():
        return tuple(reasons)
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        reasons.append("Insufficient memory")
    if req.ephemeral_storage > 0 and req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    for name in sorted(req.scalar):
        q = req.scalar[name]
        if q == 0:
            continue
        if is_extended_resource_name(name):
            prefix = name.split("/")[0] if ignored_groups else ""
            if name in ignored or prefix in ignored_groups:
                continue
        if q > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return tuple(reasons)


class NodeResourcesFit(Plugin):
    """Resource requests vs. allocatable (filter) and the configured scoring strategy (score)."""

    name: ClassVar[str] = "NodeResourcesFit"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter", "preScore", "score"})

    def __init__(self, args: Mapping[str, Any] | None, handle: Any) -> None:
        super().__init__(args, handle)
        self.ignored = frozenset(self.args.get("ignoredResources") or ())
        self.ignored_groups = frozenset(self.args.get("ignoredResourceGroups") or ())
        strategy = self.args.get("scoringStrategy") or {"type": "LeastAllocated"}
        self.strategy = strategy.get("type", "LeastAllocated")
        self.scorer = _strategy_scorer(strategy)
        self._status_cache: dict[tuple[str, ...], Status] = {}
        self._fast_least = self.strategy == "LeastAllocated" and self.scorer.is_cpu_memory()

    def _status(self, reasons: tuple[str, ...]) -> Status:
        st = self._status_cache.get(reasons)
        if st is None:
            st = self._status_cache[reasons] = Status(Code.UNSCHEDULABLE, *reasons)
        return st

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        state.write(_PRE_FILTER_KEY, pod.requests)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        req = state.read(_PRE_FILTER_KEY) or pod.requests
        reasons = fits_request(req, node, self.ignored, self.ignored_groups)
        return self._status(reasons) if reasons else None

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[int, Status]:
        req = state.read(_PRE_FILTER_KEY) or pod.requests
        out: dict[int, Status] = {}
        if req.scalar:
            for i, n in enumerate(nodes):
                reasons = fits_request(req, n, self.ignored, self.ignored_groups)
                if reasons:
                    out[i] = self._status(reasons)
            return out
        cpu, mem, eph = req.milli_cpu, req.memory, req.ephemeral_storage
        zero = not cpu and not mem and not eph
        status = self._status
        for i, n in enumerate(nodes):
            fc, fm, fe, fp = n.free
            if fp > 0 and cpu <= fc and mem <= fm and eph <= fe:
                continue  # fits: the usual case, decided on the node's precomputed room
            too_many = fp < 1
            if zero:
                if too_many:
                    out[i] = status(("Too many pods",))
                continue
            c = cpu > 0 and cpu > fc
            m = mem > 0 and mem > fm
            e = eph > 0 and eph > fe
            if too_many or c or m or e:
                reasons = []
                if too_many:
                    reasons.append("Too many pods")
                if c:
                    reasons.append("Insufficient cpu")
                if m:
                    reasons.append("Insufficient memory")
                if e:
                    reasons.append("Insufficient ephemeral-storage")
                out[i] = status(tuple(reasons))
        return out

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        state.write(_PRE_SCORE_KEY, self.scorer.pod_requests(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        reqs = state.read(_PRE_SCORE_KEY)
        if reqs is None:
            reqs = self.scorer.pod_requests(pod)
        if self._fast_least:
            return self._least_cpu_memory(reqs, nodes)
        sn = self.scorer.score_node
        return [sn(n, reqs) for n in nodes]

    def _least_cpu_memory(self, reqs: Sequence[int], nodes: Sequence[NodeInfo]) -> list[int]:
        """LeastAllocated over cpu and memory, inlined (same arithmetic as the generic path) and
        memoized per node state: a node's score only changes when its pods or allocatable do."""
        cpu_req, mem_req = reqs
        (_, wc), (_, wm) = self.scorer.resources
        key = (self._memo_token, cpu_req, mem_req)
        out = []
        for n in nodes:
            memo = n.score_memo
            v = memo.get(key)
            if v is None:
                a = n.allocatable
                ac = a.milli_cpu
                am = a.memory
                score = weight = 0
                if ac:
                    rc = n.non0_cpu + cpu_req
                    score += ((ac - rc) * 100 // ac if rc <= ac else 0) * wc
                    weight += wc
                if am:
                    rm = n.non0_mem + mem_req
                    score += ((am - rm) * 100 // am if rm <= am else 0) * wm
                    weight += wm
                v = score // weight if weight else 0
                if len(memo) > 64:
                    memo.clear()
                memo[key] = v
            out.append(v)
        return out
