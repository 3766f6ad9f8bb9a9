"""PodTopologySpread: hard constraints filter (maxSkew, minDomains), soft constraints score.

Follows ``podtopologyspread/{common,filtering,scoring,plugin}.go`` of v1.32 with the
NodeInclusionPolicyInPodTopologySpread and MatchLabelKeysInPodTopologySpread gates on
(their v1.32 defaults): nodeAffinityPolicy defaults to Honor, nodeTaintsPolicy to Ignore.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..framework import MAX_NODE_SCORE, SKIP, Code, CycleState, Plugin, PreFilterResult, Status
from ..labels import Selector, label_selector_as_selector, selector_from_set
from ..nodeinfo import NodeInfo, PodInfo
from ..taints import find_untolerated_taint
from .node_affinity import RequiredNodeAffinity, required_node_affinity
from .node_resources_fit import go_round

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"

_REJECT = Status(Code.UNSCHEDULABLE, ERR_REASON_CONSTRAINTS_NOT_MATCH)
_REJECT_LABEL = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_NODE_LABEL_NOT_MATCH)
_PRE_FILTER_KEY = "PreFilterPodTopologySpread"
_PRE_SCORE_KEY = "PreScorePodTopologySpread"
_MAX_INT32 = 2**31 - 1

SYSTEM_DEFAULT_CONSTRAINTS: tuple[dict[str, Any], ...] = (
    {"topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 3},
    {"topologyKey": LABEL_TOPOLOGY_ZONE, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 5},
)


@dataclass(frozen=True, slots=True)
class Constraint:
    """``topologySpreadConstraint`` (internal form)."""

    max_skew: int
    topology_key: str
    selector: Selector
    min_domains: int
    node_affinity_policy: str
    node_taints_policy: str

    def match_node_inclusion_policies(self, pod: PodInfo, node: NodeInfo, rna: RequiredNodeAffinity) -> bool:
        """Whether the node counts for this constraint under nodeAffinityPolicy/nodeTaintsPolicy."""
        if self.node_affinity_policy == "Honor" and not rna.match(node):
            return False
        if (
            self.node_taints_policy == "Honor"
            and find_untolerated_taint(node.no_schedule_taints, pod.tolerations) is not None
        ):
            return False
        return True


def _merge_label_set(match_labels: Mapping[str, str], s: Selector) -> Selector:
    if s.nothing:
        return s
    return Selector(selector_from_set(match_labels).requirements + s.requirements)


def filter_constraints(
    raw: Sequence[Mapping[str, Any]], pod_labels: Mapping[str, str], action: str
) -> list[Constraint]:
    """``filterTopologySpreadConstraints``: the constraints with this whenUnsatisfiable action."""
    out: list[Constraint] = []
    for c in raw:
        if c.get("whenUnsatisfiable") != action:
            continue
        selector = label_selector_as_selector(c.get("labelSelector"))
        keys = c.get("matchLabelKeys") or []
        if keys:
            match = {k: pod_labels[k] for k in keys if k in pod_labels}
            if match:
                selector = _merge_label_set(match, selector)
        min_domains = c.get("minDomains")
        out.append(
            Constraint(
                max_skew=int(c.get("maxSkew", 0) or 0),
                topology_key=c.get("topologyKey", ""),
                selector=selector,
                min_domains=1 if min_domains is None else int(min_domains),
                node_affinity_policy=c.get("nodeAffinityPolicy") or "Honor",
                node_taints_policy=c.get("nodeTaintsPolicy") or "Ignore",
            )
        )
    return out


def node_labels_match_constraints(labels: Mapping[str, str], constraints: Sequence[Constraint]) -> bool:
    """The node has every constraint's topology key."""
    for c in constraints:
        if c.topology_key not in labels:
            return False
    return True


def count_pods_match_selector(pods: Sequence[PodInfo], selector: Selector, namespace: str) -> int:
    """Non-terminating pods of the namespace whose labels match (an empty selector counts none)."""
    if selector.empty:
        return 0
    n = 0
    for p in pods:
        if p.deleting or p.namespace != namespace:
            continue
        if selector.matches(p.labels):
            n += 1
    return n


class MatchCounts:
    """``count_pods_match_selector`` per node, remembered until the node's generation changes.

    Upstream counts every node's pods for every pod it schedules, spread over 16 goroutines; a
    Python loop cannot afford that, and a node's count only changes with its generation (a pod
    added or removed), so one bind recounts one node instead of all of them. Pods are only ever
    appended to a node's list until one is removed, so after an add only the new tail is counted.
    A plugin takes one selector's counter per constraint (:meth:`counter`) and asks it node by node.
    """

    SELECTORS = 4096

    def __init__(self) -> None:
        self._memo: dict[tuple[bool, tuple[Any, ...], str], dict[str, tuple[int, int, int, list[PodInfo]]]] = {}

    def counter(self, selector: Selector, namespace: str) -> Callable[[NodeInfo], int]:
        key = (selector.nothing, selector.requirements, namespace)
        memo = self._memo.get(key)
        if memo is None:
            if len(self._memo) >= self.SELECTORS:
                self._memo.clear()
            memo = self._memo[key] = {}

        def count(node: NodeInfo) -> int:
            hit = memo.get(node.name)
            pods = node.pods
            if hit is not None:
                generation, n, counted, seen = hit
                if generation == node.generation:
                    return n
                # The same list (not a snapshot's copy) with no removal since: only appends.
                if seen is pods and node.removed_at <= generation:
                    n += count_pods_match_selector(pods[counted:], selector, namespace)
                    memo[node.name] = (node.generation, n, len(pods), pods)
                    return n
            n = count_pods_match_selector(pods, selector, namespace)
            memo[node.name] = (node.generation, n, len(pods), pods)
            return n

        return count

    def count(self, node: NodeInfo, selector: Selector, namespace: str) -> int:
        return self.counter(selector, namespace)(node)


def _controller_of(pod: PodInfo) -> Mapping[str, Any] | None:
    for ref in (pod.pod.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def default_selector(pod: PodInfo, workloads: Any) -> Selector:
    """``helper.DefaultSelector``: selectors of services selecting the pod plus its controller's."""
    label_set: dict[str, str] = {}
    for svc in workloads.services:
        meta = svc.get("metadata") or {}
        if (meta.get("namespace", "") or "") != pod.namespace:
            continue
        sel = (svc.get("spec") or {}).get("selector")
        if sel is None:
            continue
        if selector_from_set(sel).matches(pod.labels):
            label_set.update(sel)
    selector = selector_from_set(label_set)
    owner = _controller_of(pod)
    if owner is None:
        return selector
    api_version = owner.get("apiVersion", "")
    kind = owner.get("kind", "")
    name = owner.get("name", "")

    def find(objs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        for o in objs:
            meta = o.get("metadata") or {}
            if meta.get("name") == name and (meta.get("namespace", "") or "") == pod.namespace:
                return o
        return None

    if api_version == "v1" and kind == "ReplicationController":
        rc = find(workloads.replication_controllers)
        if rc is not None:
            label_set.update((rc.get("spec") or {}).get("selector") or {})
            selector = selector_from_set(label_set)
    elif api_version == "apps/v1" and kind in ("ReplicaSet", "StatefulSet"):
        obj = find(workloads.replica_sets if kind == "ReplicaSet" else workloads.stateful_sets)
        if obj is not None:
            try:
                other = label_selector_as_selector((obj.get("spec") or {}).get("selector"))
            except ValueError:
                return selector
            if not other.nothing:
                selector = selector.with_requirements(other.requirements)
    return selector


class _CriticalPaths:
    """The two topology values with the fewest matching pods (``criticalPaths``)."""

    __slots__ = ("paths",)

    def __init__(self) -> None:
        self.paths = [["", _MAX_INT32], ["", _MAX_INT32]]

    def update(self, value: str, num: int) -> None:
        p = self.paths
        i = 0 if value == p[0][0] else 1 if value == p[1][0] else -1
        if i >= 0:
            p[i][1] = num
            if p[0][1] > p[1][1]:
                p[0], p[1] = p[1], p[0]
        elif num < p[0][1]:
            p[1] = p[0]
            p[0] = [value, num]
        elif num < p[1][1]:
            p[1] = [value, num]

    def clone(self) -> _CriticalPaths:
        c = _CriticalPaths()
        c.paths = [list(self.paths[0]), list(self.paths[1])]
        return c


class _PreFilterState:
    __slots__ = ("constraints", "critical_paths", "domains_num", "pair_match_num")

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.critical_paths: dict[str, _CriticalPaths] = {}
        self.domains_num: dict[str, int] = {}
        self.pair_match_num: dict[tuple[str, str], int] = {}

    def min_match_num(self, key: str, min_domains: int) -> int | None:
        paths = self.critical_paths.get(key)
        if paths is None or key not in self.domains_num:
            return None
        n = paths.paths[0][1]
        if self.domains_num[key] < min_domains:
            n = 0
        return n

    def clone(self) -> _PreFilterState:
        c = _PreFilterState(self.constraints)
        c.critical_paths = {k: v.clone() for k, v in self.critical_paths.items()}
        c.domains_num = self.domains_num
        c.pair_match_num = dict(self.pair_match_num)
        return c


class _PreScoreState:
    __slots__ = ("constraints", "ignored_nodes", "keys_read", "pair_counts", "weights")

    def __init__(self) -> None:
        self.constraints: list[Constraint] = []
        self.ignored_nodes: set[str] = set()
        self.pair_counts: dict[tuple[str, str], int] = {}
        self.weights: list[float] = []
        # Topology keys (other than the hostname) that some scored node carries.
        self.keys_read: set[str] = set()


class PodTopologySpread(Plugin):
    """Spread pods across topology domains."""

    name: ClassVar[str] = "PodTopologySpread"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter", "preScore", "score"})
    has_normalize: ClassVar[bool] = True
    has_pre_filter_extensions: ClassVar[bool] = True

    def __init__(self, args: Mapping[str, Any] | None, handle: Any) -> None:
        super().__init__(args, handle)
        self.system_defaulted = (self.args.get("defaultingType") or "System") == "System"
        self.default_constraints: Sequence[Mapping[str, Any]] = (
            SYSTEM_DEFAULT_CONSTRAINTS if self.system_defaulted else list(self.args.get("defaultConstraints") or [])
        )
        self.match_counts = MatchCounts()
        # Default constraints that take nothing from the pod's labels (no matchLabelKeys, as the
        # system's) filter to the same list for every pod: kept per action.
        self._defaults_fixed = not any(c.get("matchLabelKeys") for c in self.default_constraints)
        self._defaults_by_action: dict[str, list[Constraint]] = {}

    def _build_default_constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        if self._defaults_fixed:
            constraints = self._defaults_by_action.get(action)
            if constraints is None:
                constraints = self._defaults_by_action[action] = filter_constraints(
                    self.default_constraints, {}, action
                )
        else:
            constraints = filter_constraints(self.default_constraints, pod.labels, action)
        if not constraints:
            return []
        selector = default_selector(pod, self.handle.workloads)
        if selector.empty:
            return []
        return [
            Constraint(
                c.max_skew, c.topology_key, selector, c.min_domains, c.node_affinity_policy, c.node_taints_policy
            )
            for c in constraints
        ]

    def get_constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        """The pod's constraints for an action, or the default ones when it has none."""
        raw = (pod.pod.get("spec") or {}).get("topologySpreadConstraints") or []
        if raw:
            return filter_constraints(raw, pod.labels, action)
        return self._build_default_constraints(pod, action)

    # ----- filtering -----------------------------------------------------------------------

    def _calc_pre_filter_state(self, pod: PodInfo) -> _PreFilterState:
        constraints = self.get_constraints(pod, "DoNotSchedule")
        s = _PreFilterState(constraints)
        if not constraints:
            return s
        rna = required_node_affinity(pod)
        pair_num = s.pair_match_num
        counters = [self.match_counts.counter(c.selector, pod.namespace) for c in constraints]
        for node in self.handle.node_infos():
            labels = node.labels
            if not node_labels_match_constraints(labels, constraints):
                continue
            tp_counts: dict[tuple[str, str], int] = {}
            for c, count in zip(constraints, counters, strict=True):
                if not c.match_node_inclusion_policies(pod, node, rna):
                    continue
                tp_counts[(c.topology_key, labels[c.topology_key])] = count(node)
            for pair, count in tp_counts.items():
                pair_num[pair] = pair_num.get(pair, 0) + count
        for key, _ in pair_num:
            s.domains_num[key] = s.domains_num.get(key, 0) + 1
        for c in constraints:
            s.critical_paths[c.topology_key] = _CriticalPaths()
        for (key, value), num in pair_num.items():
            s.critical_paths[key].update(value, num)
        return s

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        try:
            s = self._calc_pre_filter_state(pod)
        except ValueError as exc:
            return None, Status(Code.ERROR, f"get constraints from pod: {exc}")
        if not s.constraints:
            return None, SKIP
        state.write(_PRE_FILTER_KEY, s)
        return None, None

    def _update_with_pod(
        self, s: _PreFilterState | None, updated: PodInfo, preemptor: PodInfo, node: NodeInfo, delta: int
    ) -> None:
        if s is None or updated.namespace != preemptor.namespace:
            return
        if not node_labels_match_constraints(node.labels, s.constraints):
            return
        rna = required_node_affinity(preemptor)
        for c in s.constraints:
            if not c.selector.matches(updated.labels):
                continue
            if not c.match_node_inclusion_policies(preemptor, node, rna):
                continue
            pair = (c.topology_key, node.labels[c.topology_key])
            s.pair_match_num[pair] = s.pair_match_num.get(pair, 0) + delta
            s.critical_paths[c.topology_key].update(pair[1], s.pair_match_num[pair])

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status | None:
        self._update_with_pod(state.read(_PRE_FILTER_KEY), pod_to_add, pod, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status | None:
        self._update_with_pod(state.read(_PRE_FILTER_KEY), pod_to_remove, pod, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None:
            return Status(Code.ERROR, f'reading "{_PRE_FILTER_KEY}" from cycleState: not found')
        if not s.constraints:
            return None
        for c in s.constraints:
            value = node.labels.get(c.topology_key)
            if value is None:
                return _REJECT_LABEL
            min_match = s.min_match_num(c.topology_key, c.min_domains)
            if min_match is None:
                continue
            self_match = 1 if c.selector.matches(pod.labels) else 0
            match_num = s.pair_match_num.get((c.topology_key, value), 0)
            if match_num + self_match - min_match > c.max_skew:
                return _REJECT
        return None

    # ----- scoring -------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        all_nodes = self.handle.node_infos()
        if not all_nodes:
            return SKIP
        s = _PreScoreState()
        raw = (pod.pod.get("spec") or {}).get("topologySpreadConstraints") or []
        require_all = bool(raw) or not self.system_defaulted
        try:
            s.constraints = self.get_constraints(pod, "ScheduleAnyway")
        except ValueError as exc:
            return Status(Code.ERROR, f"calculating preScoreState: {exc}")
        if not s.constraints:
            return SKIP
        topo_size = [0] * len(s.constraints)
        kept = nodes
        if require_all:
            kept = []
            for node in nodes:
                if node_labels_match_constraints(node.labels, s.constraints):
                    kept.append(node)
                else:
                    s.ignored_nodes.add(node.name)
        label_maps = [node.labels for node in kept]
        # Score reads a pair's count only for a node that has the pair's label; a pair that only
        # stands for nodes without it (value "") keeps its count of 0 uncounted, as nothing reads it.
        read: set[tuple[str, str]] = set()
        # Constraint by constraint rather than node by node: a pair is new to the first
        # constraint on its key either way, so each constraint's topology size is the same.
        for i, c in enumerate(s.constraints):
            key = c.topology_key
            if key == LABEL_HOSTNAME:
                continue
            for value in dict.fromkeys([labels.get(key, "") for labels in label_maps]):
                if (key, value) not in s.pair_counts:
                    s.pair_counts[(key, value)] = 0
                    topo_size[i] += 1
            read.update([(key, labels[key]) for labels in label_maps if key in labels])
        s.keys_read = {key for key, _value in read}
        for i, c in enumerate(s.constraints):
            size = topo_size[i]
            if c.topology_key == LABEL_HOSTNAME:
                size = len(nodes) - len(s.ignored_nodes)
            s.weights.append(math.log(size + 2))
        rna = required_node_affinity(pod)
        counts = s.pair_counts
        # Hostname pairs are never in ``counts`` (Score counts per node itself), so those
        # constraints add nothing here; and a constraint whose inclusion policies cannot
        # exclude a node (no node selector or required affinity to honour, taints ignored)
        # need not ask node by node.
        unconditional = rna.label_selector is None and rna.node_selector is None
        summed = [
            (
                c,
                self.match_counts.counter(c.selector, pod.namespace),
                (unconditional or c.node_affinity_policy != "Honor") and c.node_taints_policy != "Honor",
            )
            for c in s.constraints
            if c.topology_key != LABEL_HOSTNAME and any(pair[0] == c.topology_key for pair in read)
        ]
        if summed:
            for node in all_nodes:
                labels = node.labels
                if require_all and not node_labels_match_constraints(labels, s.constraints):
                    continue
                for c, count, always in summed:
                    if not always and not c.match_node_inclusion_policies(pod, node, rna):
                        continue
                    pair = (c.topology_key, labels.get(c.topology_key, ""))
                    if pair in read:
                        counts[pair] += count(node)
        state.write(_PRE_SCORE_KEY, s)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        s: _PreScoreState = state.read(_PRE_SCORE_KEY)
        ignored = s.ignored_nodes
        scores = [0.0] * len(nodes)
        # Constraint by constraint, each node's terms still added in constraint order, so every
        # sum is the float upstream's node-by-node loop gets.
        for i, c in enumerate(s.constraints):
            key, weight, skew = c.topology_key, s.weights[i], float(c.max_skew - 1)
            if key == LABEL_HOSTNAME:
                count = self.match_counts.counter(c.selector, pod.namespace)
                terms = [
                    float(count(node)) * weight + skew if key in node.labels and node.name not in ignored else None
                    for node in nodes
                ]
            elif key not in s.keys_read:
                continue  # no scored node has the key: it adds nothing to any node's score
            else:
                pairs = s.pair_counts
                terms = [
                    float(pairs.get((key, node.labels[key]), 0)) * weight + skew
                    if key in node.labels and node.name not in ignored
                    else None
                    for node in nodes
                ]
            scores = [total if term is None else total + term for total, term in zip(scores, terms, strict=True)]
        # go_round inlined where the score is not negative (always, with a valid maxSkew >= 1).
        return [
            (whole + 1 if score - whole >= 0.5 else whole) if score >= 0 else go_round(score)
            for score, whole in zip(scores, map(int, scores), strict=True)
        ]

    def normalize_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> Status | None:
        s: _PreScoreState | None = state.read(_PRE_SCORE_KEY)
        if s is None:
            return None
        min_score = 2**63 - 1
        max_score = 0
        invalid = [False] * len(scores)
        for i, node in enumerate(nodes):
            if node.name in s.ignored_nodes:
                invalid[i] = True
                continue
            sc = scores[i]
            if sc < min_score:
                min_score = sc
            if sc > max_score:
                max_score = sc
        for i in range(len(scores)):
            if invalid[i]:
                scores[i] = 0
            elif max_score == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (max_score + min_score - scores[i]) // max_score
        return None
