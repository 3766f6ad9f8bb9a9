"""InterPodAffinity: required pod (anti-)affinity filter, preferred (anti-)affinity score.

Follows ``interpodaffinity/{filtering,scoring,plugin}.go`` of v1.32, including symmetry:
existing pods' required anti-affinity filters, and their required (weighted by
``hardPodAffinityWeight``) and preferred terms score the incoming pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..framework import MAX_NODE_SCORE, SKIP, Code, CycleState, Plugin, PreFilterResult, Status
from ..nodeinfo import AffinityTerm, NodeInfo, PodInfo, WeightedAffinityTerm

ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"

_REJECT_AFFINITY = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_AFFINITY)
_REJECT_ANTI = Status(Code.UNSCHEDULABLE, ERR_REASON_ANTI_AFFINITY)
_REJECT_EXISTING = Status(Code.UNSCHEDULABLE, ERR_REASON_EXISTING_ANTI_AFFINITY)
_PRE_FILTER_KEY = "PreFilterInterPodAffinity"
_PRE_SCORE_KEY = "PreScoreInterPodAffinity"

Pair = tuple[str, str]


def _update(counts: dict[Pair, int], node: NodeInfo, key: str, value: int) -> None:
    tv = node.labels.get(key)
    if tv is not None:
        pair = (key, tv)
        n = counts.get(pair, 0) + value
        if n == 0:
            counts.pop(pair, None)
        else:
            counts[pair] = n


def pod_matches_all_affinity_terms(terms: Sequence[AffinityTerm], pod: PodInfo) -> bool:
    """True if there are terms and all match the pod (namespace labels not considered)."""
    if not terms:
        return False
    for t in terms:
        if not t.matches(pod, None):
            return False
    return True


def _update_with_affinity_terms(
    counts: dict[Pair, int], terms: Sequence[AffinityTerm], pod: PodInfo, node: NodeInfo, value: int
) -> None:
    if pod_matches_all_affinity_terms(terms, pod):
        for t in terms:
            _update(counts, node, t.topology_key, value)


def _update_with_anti_affinity_terms(
    counts: dict[Pair, int],
    terms: Sequence[AffinityTerm],
    pod: PodInfo,
    ns_labels: Mapping[str, str] | None,
    node: NodeInfo,
    value: int,
) -> None:
    for t in terms:
        if t.matches(pod, ns_labels):
            _update(counts, node, t.topology_key, value)


class _PreFilterState:
    __slots__ = ("affinity_counts", "anti_affinity_counts", "existing_anti_affinity_counts", "namespace_labels", "pod")

    def __init__(self, pod: PodInfo, namespace_labels: Mapping[str, str]) -> None:
        self.pod = pod
        self.namespace_labels = namespace_labels
        self.existing_anti_affinity_counts: dict[Pair, int] = {}
        self.affinity_counts: dict[Pair, int] = {}
        self.anti_affinity_counts: dict[Pair, int] = {}

    def clone(self) -> _PreFilterState:
        c = _PreFilterState(self.pod, self.namespace_labels)
        c.existing_anti_affinity_counts = dict(self.existing_anti_affinity_counts)
        c.affinity_counts = dict(self.affinity_counts)
        c.anti_affinity_counts = dict(self.anti_affinity_counts)
        return c

    def update_with_pod(self, other: PodInfo, node: NodeInfo, multiplier: int) -> None:
        _update_with_anti_affinity_terms(
            self.existing_anti_affinity_counts,
            other.required_anti_affinity_terms,
            self.pod,
            self.namespace_labels,
            node,
            multiplier,
        )
        _update_with_affinity_terms(self.affinity_counts, self.pod.required_affinity_terms, other, node, multiplier)
        _update_with_anti_affinity_terms(
            self.anti_affinity_counts, self.pod.required_anti_affinity_terms, other, None, node, multiplier
        )


class InterPodAffinity(Plugin):
    """Pod (anti-)affinity, including the symmetric view from existing pods."""

    name: ClassVar[str] = "InterPodAffinity"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter", "preScore", "score"})
    has_normalize: ClassVar[bool] = True
    has_pre_filter_extensions: ClassVar[bool] = True

    def __init__(self, args: Mapping[str, Any] | None, handle: Any) -> None:
        super().__init__(args, handle)
        w = self.args.get("hardPodAffinityWeight")
        self.hard_pod_affinity_weight = 1 if w is None else int(w)
        self.ignore_preferred_terms_of_existing_pods = bool(self.args.get("ignorePreferredTermsOfExistingPods"))

    def _ns_labels(self, namespace: str) -> dict[str, str]:
        return dict(self.handle.cache.namespace_labels.get(namespace, {}))

    def _merge_namespaces(self, term: AffinityTerm) -> AffinityTerm:
        """``mergeAffinityTermNamespacesIfNotEmpty``."""
        if term.namespace_selector.empty:
            return term
        names = [
            ns for ns, labels in self.handle.cache.namespace_labels.items() if term.namespace_selector.matches(labels)
        ]
        return term.with_namespaces(names)

    def _incoming(self, pod: PodInfo) -> PodInfo:
        """A shallow PodInfo copy whose terms have namespace selectors merged into namespaces."""
        if not (
            pod.required_affinity_terms
            or pod.required_anti_affinity_terms
            or pod.preferred_affinity_terms
            or pod.preferred_anti_affinity_terms
        ):
            return pod
        view = PodInfo.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(view, slot, getattr(pod, slot))
        view.required_affinity_terms = tuple(self._merge_namespaces(t) for t in pod.required_affinity_terms)
        view.required_anti_affinity_terms = tuple(self._merge_namespaces(t) for t in pod.required_anti_affinity_terms)
        view.preferred_affinity_terms = tuple(
            WeightedAffinityTerm(self._merge_namespaces(t.term), t.weight) for t in pod.preferred_affinity_terms
        )
        view.preferred_anti_affinity_terms = tuple(
            WeightedAffinityTerm(self._merge_namespaces(t.term), t.weight) for t in pod.preferred_anti_affinity_terms
        )
        return view

    # ----- filtering -----------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        if pod.parse_error is not None:
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, f"parsing pod: {pod.parse_error}")
        cache = self.handle.cache
        if (
            not pod.required_affinity_terms
            and not pod.required_anti_affinity_terms
            and not cache.any_pods_with_required_anti_affinity
        ):
            return None, SKIP
        incoming = self._incoming(pod)
        s = _PreFilterState(incoming, self._ns_labels(pod.namespace))
        for node in cache.have_pods_with_required_anti_affinity():
            for existing in node.pods_with_required_anti_affinity:
                _update_with_anti_affinity_terms(
                    s.existing_anti_affinity_counts,
                    existing.required_anti_affinity_terms,
                    incoming,
                    s.namespace_labels,
                    node,
                    1,
                )
        if incoming.required_affinity_terms or incoming.required_anti_affinity_terms:
            for node in self.handle.node_infos():
                for existing in node.pods:
                    _update_with_affinity_terms(s.affinity_counts, incoming.required_affinity_terms, existing, node, 1)
                    _update_with_anti_affinity_terms(
                        s.anti_affinity_counts, incoming.required_anti_affinity_terms, existing, None, node, 1
                    )
        if (
            not s.existing_anti_affinity_counts
            and not incoming.required_affinity_terms
            and not incoming.required_anti_affinity_terms
        ):
            return None, SKIP
        state.write(_PRE_FILTER_KEY, s)
        return None, None

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState | None = state.read(_PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(pod_to_add, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState | None = state.read(_PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(pod_to_remove, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None:
            return Status(Code.ERROR, f'error reading "{_PRE_FILTER_KEY}" from cycleState: not found')
        labels = node.labels
        # satisfyPodAffinity
        pods_exist = True
        for term in s.pod.required_affinity_terms:
            value = labels.get(term.topology_key)
            if value is None:
                return _REJECT_AFFINITY
            if s.affinity_counts.get((term.topology_key, value), 0) <= 0:
                pods_exist = False
        if not pods_exist and not (
            not s.affinity_counts and pod_matches_all_affinity_terms(s.pod.required_affinity_terms, s.pod)
        ):
            return _REJECT_AFFINITY
        # satisfyPodAntiAffinity
        if s.anti_affinity_counts:
            for term in s.pod.required_anti_affinity_terms:
                value = labels.get(term.topology_key)
                if value is not None and s.anti_affinity_counts.get((term.topology_key, value), 0) > 0:
                    return _REJECT_ANTI
        # satisfyExistingPodsAntiAffinity
        if s.existing_anti_affinity_counts:
            for item in labels.items():
                if s.existing_anti_affinity_counts.get(item, 0) > 0:
                    return _REJECT_EXISTING
        return None

    # ----- scoring -------------------------------------------------------------------------

    def _process_term(
        self,
        scores: dict[str, dict[str, int]],
        term: AffinityTerm,
        weight: int,
        pod: PodInfo,
        ns_labels: Mapping[str, str] | None,
        node: NodeInfo,
        multiplier: int,
    ) -> None:
        if term.matches(pod, ns_labels):
            value = node.labels.get(term.topology_key)
            if value is not None:
                m = scores.setdefault(term.topology_key, {})
                m[value] = m.get(value, 0) + weight * multiplier

    def _process_existing_pod(
        self,
        scores: dict[str, dict[str, int]],
        incoming: PodInfo,
        ns_labels: Mapping[str, str],
        existing: PodInfo,
        node: NodeInfo,
    ) -> None:
        if not node.labels:
            return
        for t in incoming.preferred_affinity_terms:
            self._process_term(scores, t.term, t.weight, existing, None, node, 1)
        for t in incoming.preferred_anti_affinity_terms:
            self._process_term(scores, t.term, t.weight, existing, None, node, -1)
        if self.hard_pod_affinity_weight > 0:
            for term in existing.required_affinity_terms:
                self._process_term(scores, term, self.hard_pod_affinity_weight, incoming, ns_labels, node, 1)
        for t in existing.preferred_affinity_terms:
            self._process_term(scores, t.term, t.weight, incoming, ns_labels, node, 1)
        for t in existing.preferred_anti_affinity_terms:
            self._process_term(scores, t.term, t.weight, incoming, ns_labels, node, -1)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        if not nodes:
            return SKIP
        pod_aff = pod.affinity.get("podAffinity") or {}
        anti = pod.affinity.get("podAntiAffinity") or {}
        has_constraints = bool(pod_aff.get("preferredDuringSchedulingIgnoredDuringExecution")) or bool(
            anti.get("preferredDuringSchedulingIgnoredDuringExecution")
        )
        if self.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return SKIP
        cache = self.handle.cache
        if not has_constraints and not cache.any_pods_with_affinity:
            return SKIP
        if pod.parse_error is not None:
            return Status(Code.ERROR, f"failed to parse pod: {pod.parse_error}")
        all_nodes = self.handle.node_infos() if has_constraints else cache.have_pods_with_affinity()
        incoming = self._incoming(pod)
        ns_labels = self._ns_labels(pod.namespace)
        scores: dict[str, dict[str, int]] = {}
        for node in all_nodes:
            existing_pods = node.pods if has_constraints else node.pods_with_affinity
            for existing in existing_pods:
                self._process_existing_pod(scores, incoming, ns_labels, existing, node)
        if not scores:
            return SKIP
        state.write(_PRE_SCORE_KEY, scores)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        scores: dict[str, dict[str, int]] = state.read(_PRE_SCORE_KEY) or {}
        out = []
        for node in nodes:
            total = 0
            labels = node.labels
            for key, values in scores.items():
                v = labels.get(key)
                if v is not None:
                    total += values.get(v, 0)
            out.append(total)
        return out

    def normalize_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> Status | None:
        if not state.read(_PRE_SCORE_KEY):
            return None
        min_count = min(scores) if scores else 0
        max_count = max(scores) if scores else 0
        diff = max_count - min_count
        for i, s in enumerate(scores):
            f = 0.0
            if diff > 0:
                f = float(MAX_NODE_SCORE) * (float(s - min_count) / float(diff))
            scores[i] = int(f)
        return None
