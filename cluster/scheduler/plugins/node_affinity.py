"""NodeAffinity: ``nodeSelector`` plus required node affinity filter; preferred affinity scores.

Node selector terms are compiled once per pod (cached on the PodInfo), following
``component-helpers/scheduling/corev1/nodeaffinity``: terms are ORed, an empty term is
ignored, a term that fails to parse never matches, and ``matchFields`` only knows
``metadata.name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..framework import MAX_NODE_SCORE, SKIP, Code, CycleState, Plugin, PreFilterResult, Status, default_normalize_score
from ..labels import Selector, SelectorError, node_selector_requirements, selector_from_set
from ..nodeinfo import NodeInfo, PodInfo

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"

_REJECT_POD = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_POD)
_REJECT_ENFORCED = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_ENFORCED)
_PRE_FILTER_KEY = "PreFilterNodeAffinity"
_PRE_SCORE_KEY = "PreScoreNodeAffinity"


class NodeSelectorTerm:
    """One compiled term: label requirements, ``metadata.name`` field requirements, or a parse error."""

    __slots__ = ("error", "fields", "labels")

    def __init__(self, raw: Mapping[str, Any], path: str = "") -> None:
        self.labels: Selector | None = None
        self.fields: list[tuple[str, str, str]] | None = None
        self.error: str | None = None
        errors: list[str] = []
        exprs = raw.get("matchExpressions") or []
        if exprs:
            try:
                self.labels = node_selector_requirements(exprs)
            except SelectorError as exc:
                errors.append(f"{path}matchExpressions: {exc}")
        fields = raw.get("matchFields") or []
        if fields:
            reqs: list[tuple[str, str, str]] = []
            for i, f in enumerate(fields):
                op = f.get("operator", "")
                values = f.get("values") or []
                if op not in ("In", "NotIn"):
                    errors.append(
                        f'{path}matchFields[{i}].operator: Unsupported value: "{op}": supported values: "In", "NotIn"'
                    )
                elif len(values) != 1:
                    errors.append(f"{path}matchFields[{i}].values: Invalid value: {values}: must have one element")
                else:
                    reqs.append((f.get("key", ""), op, values[0]))
            self.fields = reqs
        if errors:
            self.error = ", ".join(errors)

    def match(self, labels: Mapping[str, str], name: str) -> bool | None:
        """True/False, or None when the term failed to parse (an error upstream)."""
        if self.error is not None:
            return None
        if self.labels is not None and not self.labels.matches(labels):
            return False
        if self.fields is not None and name:
            for key, op, value in self.fields:
                have = name if key == "metadata.name" else ""
                if (op == "In") != (have == value):
                    return False
        return True


def _is_empty_term(raw: Mapping[str, Any]) -> bool:
    return not raw.get("matchExpressions") and not raw.get("matchFields")


class NodeSelector:
    """``nodeaffinity.LazyErrorNodeSelector``: ORed terms (empty terms dropped)."""

    __slots__ = ("terms",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.terms = [
            NodeSelectorTerm(t, f"nodeSelectorTerms[{i}].")
            for i, t in enumerate(raw.get("nodeSelectorTerms") or [])
            if not _is_empty_term(t)
        ]

    def errors(self) -> list[str]:
        """Parse errors of the terms."""
        return [t.error for t in self.terms if t.error]

    def match(self, labels: Mapping[str, str], name: str) -> bool:
        """Any term matches."""
        for t in self.terms:
            if t.match(labels, name):
                return True
        return False


class PreferredTerms:
    """``nodeaffinity.PreferredSchedulingTerms``: weights of matching terms are summed."""

    __slots__ = ("terms",)

    def __init__(self, raw: Sequence[Mapping[str, Any]]) -> None:
        terms: list[tuple[NodeSelectorTerm, int]] = []
        errors: list[str] = []
        for i, t in enumerate(raw):
            pref = t.get("preference") or {}
            weight = int(t.get("weight", 0) or 0)
            if weight == 0 or _is_empty_term(pref):
                continue
            term = NodeSelectorTerm(pref, f"[{i}].")
            if term.error:
                errors.append(term.error)
            else:
                terms.append((term, weight))
        if errors:
            raise SelectorError(", ".join(errors))
        self.terms = terms

    def score(self, labels: Mapping[str, str], name: str) -> int:
        """Sum of weights of the terms the node matches."""
        total = 0
        for term, weight in self.terms:
            if term.match(labels, name):
                total += weight
        return total


class RequiredNodeAffinity:
    """``nodeaffinity.RequiredNodeAffinity``: ``spec.nodeSelector`` AND required node affinity."""

    __slots__ = ("label_selector", "node_selector")

    def __init__(self, pod: PodInfo) -> None:
        spec = pod.pod.get("spec") or {}
        ns = spec.get("nodeSelector") or {}
        self.label_selector: Selector | None = selector_from_set(ns) if ns else None
        node_aff = pod.affinity.get("nodeAffinity") or {}
        required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.node_selector: NodeSelector | None = NodeSelector(required) if required is not None else None

    def match(self, node: NodeInfo) -> bool:
        """Whether the node satisfies the pod's node selector and required node affinity."""
        if self.label_selector is not None and not self.label_selector.matches(node.labels):
            return False
        if self.node_selector is not None:
            return self.node_selector.match(node.labels, node.name)
        return True


def required_node_affinity(pod: PodInfo) -> RequiredNodeAffinity:
    """``GetRequiredNodeAffinity``, compiled once per pod."""
    rna = pod.memo.get("RequiredNodeAffinity")
    if rna is None:
        rna = pod.memo["RequiredNodeAffinity"] = RequiredNodeAffinity(pod)
    return rna


def validate_added_affinity(raw: Any, path: str) -> list[str]:
    """``ValidateNodeAffinityArgs``: the scheduler-enforced affinity must parse."""
    if not isinstance(raw, Mapping):
        return [f"{path}: Invalid value: expected an object"]
    errors: list[str] = []
    req = raw.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is not None:
        for err in NodeSelector(req).errors():
            errors.append(f"{path}.requiredDuringSchedulingIgnoredDuringExecution.{err}")
    pref = raw.get("preferredDuringSchedulingIgnoredDuringExecution")
    if pref:
        try:
            PreferredTerms(pref)
        except SelectorError as exc:
            errors.append(f"{path}.preferredDuringSchedulingIgnoredDuringExecution{exc}")
    return errors


class NodeAffinity(Plugin):
    """Required node affinity and nodeSelector filter; preferred node affinity score."""

    name: ClassVar[str] = "NodeAffinity"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter", "preScore", "score"})
    has_normalize: ClassVar[bool] = True

    def __init__(self, args: Mapping[str, Any] | None, handle: Any) -> None:
        super().__init__(args, handle)
        added = self.args.get("addedAffinity") or {}
        req = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.added_node_selector: NodeSelector | None = NodeSelector(req) if req is not None else None
        pref = added.get("preferredDuringSchedulingIgnoredDuringExecution")
        self.added_pref_terms: PreferredTerms | None = PreferredTerms(pref) if pref else None

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        node_aff = pod.affinity.get("nodeAffinity") or {}
        required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
        no_node_affinity = required is None
        spec = pod.pod.get("spec") or {}
        if no_node_affinity and self.added_node_selector is None and spec.get("nodeSelector") is None:
            return None, SKIP
        state.write(_PRE_FILTER_KEY, required_node_affinity(pod))
        terms = (required or {}).get("nodeSelectorTerms") or []
        if no_node_affinity or not terms:
            return None, None
        node_names: set[str] | None = None
        for t in terms:
            term_names: set[str] | None = None
            for r in t.get("matchFields") or []:
                if r.get("key") == "metadata.name" and r.get("operator") == "In":
                    s = set(r.get("values") or [])
                    term_names = s if term_names is None else term_names & s
            if term_names is None:
                return None, None
            node_names = term_names if node_names is None else node_names | term_names
        if node_names is not None and not node_names:
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_CONFLICT)
        if node_names:
            return PreFilterResult(frozenset(node_names)), None
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if self.added_node_selector is not None and not self.added_node_selector.match(node.labels, node.name):
            return _REJECT_ENFORCED
        rna = state.read(_PRE_FILTER_KEY) or required_node_affinity(pod)
        return None if rna.match(node) else _REJECT_POD

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[int, Status]:
        rna = state.read(_PRE_FILTER_KEY) or required_node_affinity(pod)
        added = self.added_node_selector
        out: dict[int, Status] = {}
        for i, n in enumerate(nodes):
            if added is not None and not added.match(n.labels, n.name):
                out[i] = _REJECT_ENFORCED
            elif not rna.match(n):
                out[i] = _REJECT_POD
        return out

    @staticmethod
    def _preferred(pod: PodInfo) -> PreferredTerms | None:
        node_aff = pod.affinity.get("nodeAffinity") or {}
        pref = node_aff.get("preferredDuringSchedulingIgnoredDuringExecution")
        if pref is None:
            return None
        return PreferredTerms(pref)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        if not nodes:
            return None
        try:
            pref = self._preferred(pod)
        except SelectorError as exc:
            return Status(Code.ERROR, str(exc))
        if pref is None and self.added_pref_terms is None:
            return SKIP
        state.write(_PRE_SCORE_KEY, pref)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        if _PRE_SCORE_KEY in state.data:
            pref = state.read(_PRE_SCORE_KEY)
        else:
            pref = self._preferred(pod)
        added = self.added_pref_terms
        out = []
        for n in nodes:
            count = 0
            if added is not None:
                count += added.score(n.labels, n.name)
            if pref is not None:
                count += pref.score(n.labels, n.name)
            out.append(count)
        return out

    def normalize_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> Status | None:
        default_normalize_score(MAX_NODE_SCORE, False, scores)
        return None
