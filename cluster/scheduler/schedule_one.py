"""One scheduling cycle for one pod, as ``pkg/scheduler/schedule_one.go`` does it.

``Scheduler`` keeps the incremental cache and the round-robin start index between cycles;
``schedule_one`` is the stateless convenience wrapper over plain Kubernetes dicts.  Filters
are evaluated in node-tree order from the rotating start index and stop once
``numFeasibleNodesToFind`` feasible nodes are found (sequentially, i.e. without the
nondeterminism of upstream's 16 goroutines); ties between top scores are broken by reservoir
sampling in node order, with the injected ``random.Random``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .cache import Cache
from .framework import (
    Code,
    CycleState,
    Framework,
    FrameworkError,
    Handle,
    NodeToStatus,
    Nominator,
    ScoreTable,
    Status,
    Volumes,
    Workloads,
    fit_error_message,
)
from .nodeinfo import NodeInfo, PodInfo
from .profile import Profile, default_profile

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
NUMBER_OF_HIGHEST_SCORED_NODES_TO_REPORT = 3
NOTE_LENGTH_LIMIT = 1024
ERR_NO_NODES_AVAILABLE = "no nodes available to schedule pods"

SCHEDULED = "Scheduled"
UNSCHEDULABLE = "Unschedulable"
ERROR = "Error"


def num_feasible_nodes_to_find(percentage_of_nodes_to_score: int, num_all_nodes: int) -> int:
    """``numFeasibleNodesToFind``: all nodes below 100; otherwise a percentage (adaptive when 0:
    ``50 - n/125``, at least 5%), never fewer than 100."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    percentage = percentage_of_nodes_to_score
    if percentage == 0:
        percentage = 50 - num_all_nodes // 125
        if percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    num_nodes = num_all_nodes * percentage // 100
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return MIN_FEASIBLE_NODES_TO_FIND
    return num_nodes


def select_host(
    totals: Sequence[int], rng: random.Random, count: int = NUMBER_OF_HIGHEST_SCORED_NODES_TO_REPORT
) -> tuple[int, list[int]]:
    """``selectHost``: pick among the top-scored nodes by reservoir sampling, the k-th tied node
    replacing the candidate when ``rand.Intn(k) == 0`` (here ``rng.randrange(k)``), k = 2..ties.

    Upstream meets the tied nodes in the order Go's ``container/heap`` pops them; here they are
    met in node order. Reservoir sampling is uniform over the ties whatever their order, and Go's
    generator is not Python's, so the pop order only decided which tied node a given seed picks:
    replaying it cost a heap of hundreds of Python steps per cycle at 5,000 nodes (see
    docs/architecture.md). The draws are upstream's: one per tied node after the first.

    Returns the index of the chosen node and the indexes of the reported top ``count`` nodes:
    the chosen one, then the best of the rest, ties in node order.
    """
    n = len(totals)
    if n == 0:
        raise ValueError("empty priorityList")
    top = max(totals)
    ties = [i for i, score in enumerate(totals) if score == top]
    # randrange(k) is _randbelow(k) for a plain random.Random; call it directly when we can.
    randbelow = rng._randbelow if type(rng) is random.Random else rng.randrange
    selected = 0
    for k in range(2, len(ties) + 1):
        if randbelow(k) == 0:
            selected = k - 1
    chosen = ties[selected]
    if count <= 1:
        return chosen, [chosen]
    best = heapq.nlargest(count, range(n), key=totals.__getitem__)
    return chosen, [chosen, *(i for i in best if i != chosen)][:count]


def truncate_message(message: str) -> str:
    """``truncateMessage``: event notes are capped at 1024 characters."""
    if len(message) <= NOTE_LENGTH_LIMIT:
        return message
    suffix = " ..."
    return message[: NOTE_LENGTH_LIMIT - len(suffix)] + suffix


@dataclass(eq=False)
class Decision:
    """The outcome of one scheduling cycle, with what every plugin said.

    ``filter_results``, ``raw_scores``, ``final_scores`` and ``total_scores`` are built lazily
    from compact per-plugin lists, so a decision over thousands of nodes stays cheap unless
    someone looks.
    """

    pod: str
    """``namespace/name`` of the pod."""
    selected_node: str | None = None
    status: str = UNSCHEDULABLE
    """``Scheduled``, ``Unschedulable`` or ``Error``."""
    message: str | None = None
    """The FailedScheduling event message when not scheduled."""
    feasible_nodes: list[str] = field(default_factory=list)
    evaluated_nodes: int = 0
    nominated_node: str | None = None
    """Set when preemption nominated a node for the pod (it still has to wait for the victims)."""
    victims: list[str] = field(default_factory=list)
    """``namespace/name`` of pods preemption wants deleted."""
    unschedulable_plugins: frozenset[str] = frozenset()
    """Plugins that rejected the pod (the queue uses them to decide which events can help)."""
    next_start_node_index: int = 0
    filter_plugins: tuple[str, ...] = ()
    """Filter plugins that ran (PreFilter did not skip them), in order."""
    score_plugins: tuple[str, ...] = ()
    """Score plugins that ran (PreScore did not skip them), in order."""
    _filtered_nodes: list[NodeInfo] = field(default_factory=list, repr=False)
    _failures: dict[str, tuple[int, Status]] = field(default_factory=dict, repr=False)
    _table: ScoreTable | None = field(default=None, repr=False)

    @property
    def scheduled(self) -> bool:
        """Whether a node was selected."""
        return self.selected_node is not None

    @cached_property
    def filter_results(self) -> dict[str, dict[str, str]]:
        """node -> plugin -> ``"passed"`` or the rejection message, for every node filtered."""
        out: dict[str, dict[str, str]] = {}
        for node in self._filtered_nodes:
            res = self.filter_result(node.name)
            if res:
                out[node.name] = res
        return out

    def filter_result(self, node: str) -> dict[str, str]:
        """plugin -> ``"passed"`` or the rejection message, for one node filtered: the plugins
        before the one that rejected it passed, and the ones after it never ran."""
        plugins = self.filter_plugins
        failure = self._failures.get(node)
        if failure is None:
            return dict.fromkeys(plugins, "passed")
        idx, status = failure
        res = dict.fromkeys(plugins[:idx], "passed")
        res[plugins[idx] if idx < len(plugins) else status.plugin or "?"] = status.message
        return res

    def rejection_counts(self) -> dict[str, int]:
        """rejection message -> how many filtered nodes it rejected: what ``filter_results``
        holds besides ``"passed"``, without building a map per node."""
        counts: dict[str, int] = {}
        failures = self._failures
        if not failures:
            return counts
        for node in self._filtered_nodes:
            failure = failures.get(node.name)
            if failure is not None:
                message = failure[1].message
                counts[message] = counts.get(message, 0) + 1
        return counts

    @cached_property
    def raw_scores(self) -> dict[str, dict[str, int]]:
        """node -> plugin -> score as the plugin returned it (before normalization)."""
        t = self._table
        if t is None:
            return {}
        return {n: {p: t.raw[p][i] for p in t.plugins} for i, n in enumerate(self.feasible_nodes)}

    @cached_property
    def final_scores(self) -> dict[str, dict[str, int]]:
        """node -> plugin -> normalized score times the plugin's weight."""
        t = self._table
        if t is None:
            return {}
        return {n: {p: t.weighted[p][i] for p in t.plugins} for i, n in enumerate(self.feasible_nodes)}

    @cached_property
    def total_scores(self) -> dict[str, int]:
        """node -> sum of final scores."""
        t = self._table
        if t is None:
            return {}
        return dict(zip(self.feasible_nodes, t.totals, strict=True))


class Scheduler:
    """A profile's framework over an incrementally maintained cache."""

    def __init__(
        self,
        profile: Profile | None = None,
        *,
        cache: Cache | None = None,
        rng: random.Random | None = None,
        volumes: Volumes | None = None,
        workloads: Workloads | None = None,
        nominator: Nominator | None = None,
    ) -> None:
        self.profile = profile if profile is not None else default_profile()
        self.cache = cache if cache is not None else Cache()
        self.rng = rng if rng is not None else random.Random()
        self.handle = Handle(self.cache, volumes, workloads, nominator)
        self.handle.rng = self.rng
        self.framework = Framework(self.profile, self.handle)
        self.next_start_node_index = 0

    @property
    def volumes(self) -> Volumes:
        """PVCs, PVs and StorageClasses the VolumeBinding plugin looks at."""
        return self.handle.volumes

    @volumes.setter
    def volumes(self, value: Volumes) -> None:
        self.handle.volumes = value

    @property
    def workloads(self) -> Workloads:
        """Services/controllers (topology spread defaults) and PDBs (preemption)."""
        return self.handle.workloads

    @workloads.setter
    def workloads(self, value: Workloads) -> None:
        self.handle.workloads = value

    @property
    def nominator(self) -> Nominator:
        """Pods nominated to nodes by earlier preemptions."""
        return self.handle.nominator

    # -------------------------------------------------------------------------------------

    def schedule_one(self, pod: Mapping[str, Any] | PodInfo, *, assume: bool = True) -> Decision:
        """Run one scheduling cycle; when a node is chosen and ``assume`` is set, the pod is
        assumed onto it in the cache so the next cycle sees its requests."""
        pi = pod if isinstance(pod, PodInfo) else PodInfo(pod)
        decision = Decision(pod=f"{pi.namespace}/{pi.name}")
        all_nodes = self.cache.node_infos()
        if not all_nodes:
            decision.message = ERR_NO_NODES_AVAILABLE
            decision.next_start_node_index = self.next_start_node_index
            return decision
        state = CycleState()
        node_to_status = NodeToStatus()
        unschedulable: set[str] = set()
        pre_filter_msg = ""
        try:
            feasible = self._find_nodes_that_fit(state, pi, all_nodes, node_to_status, unschedulable, decision)
            if isinstance(feasible, Status):
                if feasible.code == Code.ERROR:
                    return self._error(decision, feasible.message)
                pre_filter_msg = feasible.message
                feasible = []
            decision.feasible_nodes = [n.name for n in feasible]
            decision.evaluated_nodes = len(feasible) + len(node_to_status)
            decision.unschedulable_plugins = frozenset(unschedulable)
            if not feasible:
                return self._fit_error(decision, state, pi, all_nodes, node_to_status, pre_filter_msg)
            if len(feasible) == 1:
                chosen = feasible[0]
            else:
                chosen = feasible[self._prioritize(decision, state, pi, feasible)]
        except FrameworkError as exc:
            return self._error(decision, str(exc))
        decision.selected_node = chosen.name
        decision.status = SCHEDULED
        decision.next_start_node_index = self.next_start_node_index
        if assume:
            self.cache.assume_pod(pi, chosen.name)
            self.nominator.delete(pi.key)
        return decision

    def _error(self, decision: Decision, message: str) -> Decision:
        decision.status = ERROR
        decision.message = truncate_message(message)
        decision.next_start_node_index = self.next_start_node_index
        return decision

    def _find_nodes_that_fit(
        self,
        state: CycleState,
        pod: PodInfo,
        all_nodes: Sequence[NodeInfo],
        node_to_status: NodeToStatus,
        unschedulable: set[str],
        decision: Decision,
    ) -> list[NodeInfo] | Status:
        """``findNodesThatFitPod``: PreFilter, the nominated node first, then the filters."""
        fwk = self.framework
        pre_res, status, plugins_with_nodes = fwk.run_pre_filter_plugins(state, pod)
        unschedulable.update(plugins_with_nodes)
        decision.filter_plugins = tuple(p.name for p in fwk.active_filter_plugins(state))
        if status is not None and not status.is_success:
            if not status.is_rejected:
                return status
            node_to_status.absent = status
            if status.plugin:
                unschedulable.add(status.plugin)
            return status
        if pod.nominated_node_name:
            nominated = self.cache.get(pod.nominated_node_name)
            if nominated is not None:
                feasible, _ = self._find_nodes_that_pass_filters(
                    state, pod, node_to_status, unschedulable, [nominated], decision
                )
                if feasible:
                    return feasible
        nodes: Sequence[NodeInfo] = all_nodes
        if pre_res is not None and pre_res.node_names is not None:
            names = pre_res.node_names
            nodes = [n for n in all_nodes if n.name in names]
            node_to_status.absent = Status(
                Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                f"node(s) didn't satisfy plugin(s) [{' '.join(sorted(plugins_with_nodes))}]",
            )
        feasible, processed = self._find_nodes_that_pass_filters(
            state, pod, node_to_status, unschedulable, nodes, decision
        )
        self.next_start_node_index = (self.next_start_node_index + processed) % len(all_nodes)
        return feasible

    def _find_nodes_that_pass_filters(
        self,
        state: CycleState,
        pod: PodInfo,
        node_to_status: NodeToStatus,
        unschedulable: set[str],
        nodes: Sequence[NodeInfo],
        decision: Decision,
    ) -> tuple[list[NodeInfo], int]:
        """``findNodesThatPassFilters``: evaluate nodes from the start index, in batches, until
        enough feasible nodes are found; per-node results match a sequential evaluation."""
        fwk = self.framework
        num_all = len(nodes)
        if num_all == 0:
            return [], 0
        need = num_feasible_nodes_to_find(fwk.percentage_of_nodes_to_score, num_all)
        if not fwk.has_score_plugins:
            need = 1
        start = self.next_start_node_index
        plugins = fwk.active_filter_plugins(state)
        nominator = self.nominator
        feasible: list[NodeInfo] = []
        processed = 0
        filtered = decision._filtered_nodes
        failures = decision._failures
        i = 0
        while i < num_all and len(feasible) < need:
            size = min(max(need - len(feasible), 64), num_all - i)
            lo = (start + i) % num_all
            if lo + size <= num_all:
                chunk = nodes[lo : lo + size]
            else:
                chunk = [*nodes[lo:], *nodes[: lo + size - num_all]]
            failed: dict[int, tuple[int, Status]] = {}
            alive = range(size)
            if nominator:
                rest = []
                for k in alive:
                    if nominator.pods_for_node(chunk[k].name):
                        res = fwk.run_filter_plugins_with_nominated_pods(state, pod, chunk[k])
                        if res is not None:
                            failed[k] = res
                    else:
                        rest.append(k)
                alive = rest
            for index, pl in enumerate(plugins):
                if not alive:
                    break
                rejected = pl.filter_nodes(state, pod, chunk if len(alive) == size else [chunk[k] for k in alive])
                if rejected:
                    attributed: dict[int, Status] = {}
                    for sub, st in rejected.items():
                        if not st.is_rejected:
                            raise FrameworkError(f'running "{pl.name}" filter plugin: {st.message}')
                        a = attributed.get(id(st))
                        if a is None:
                            a = attributed[id(st)] = st.with_plugin(pl.name)
                        failed[alive[sub]] = (index, a)
                    alive = [k for sub, k in enumerate(alive) if sub not in rejected]
            # Walk the chunk in order, as a sequential evaluation would, and stop at the
            # node that completes the set of feasible nodes.
            if not failed:
                take = min(size, need - len(feasible))
                feasible.extend(chunk[:take])
                filtered.extend(chunk[:take])
                processed += take
                if len(feasible) >= need:
                    break
                i += size
                continue
            stop = False
            for k, ni in enumerate(chunk):
                filtered.append(ni)
                processed += 1
                res = failed.get(k)
                if res is None:
                    feasible.append(ni)
                    if len(feasible) >= need:
                        stop = True
                        break
                else:
                    status = res[1]
                    if status.code == Code.ERROR:
                        raise FrameworkError(status.message)
                    node_to_status.set(ni.name, status)
                    failures[ni.name] = res
                    if status.plugin:
                        unschedulable.add(status.plugin)
            i += size
            if stop:
                break
        return feasible, processed

    def _prioritize(self, decision: Decision, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> int:
        """``prioritizeNodes`` + ``selectHost``: index of the chosen node."""
        fwk = self.framework
        if not fwk.has_score_plugins:
            totals = [1] * len(nodes)
        else:
            st = fwk.run_pre_score_plugins(state, pod, nodes)
            if st is not None:
                raise FrameworkError(st.message)
            table = fwk.run_score_plugins(state, pod, nodes)
            decision._table = table
            decision.score_plugins = tuple(table.plugins)
            totals = table.totals
        index, _top = select_host(totals, self.rng, count=1)
        return index

    def _fit_error(
        self,
        decision: Decision,
        state: CycleState,
        pod: PodInfo,
        all_nodes: Sequence[NodeInfo],
        node_to_status: NodeToStatus,
        pre_filter_msg: str,
    ) -> Decision:
        """Run PostFilter (preemption) and format the FailedScheduling message."""
        fwk = self.framework
        post_msg = ""
        if fwk.post_filter_plugins:
            try:
                result, status = fwk.run_post_filter_plugins(state, pod, node_to_status)
            except FrameworkError as exc:
                result, status = None, Status(Code.ERROR, str(exc))
            post_msg = status.message
            if result is not None and getattr(result, "nominated_node_name", ""):
                decision.nominated_node = result.nominated_node_name
                decision.victims = [f"{v.namespace}/{v.name}" for v in result.victims]
                self.nominator.add(pod, result.nominated_node_name)
        decision.status = UNSCHEDULABLE
        decision.message = truncate_message(fit_error_message(len(all_nodes), node_to_status, pre_filter_msg, post_msg))
        decision.next_start_node_index = self.next_start_node_index
        return decision


def schedule_one(
    pod: Mapping[str, Any],
    nodes: Iterable[Mapping[str, Any]],
    pods_by_node: Mapping[str, Iterable[Mapping[str, Any]]] | Iterable[Mapping[str, Any]] | None = None,
    pvcs: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
    pvs: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
    storage_classes: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
    profile: Profile | None = None,
    rng: random.Random | None = None,
    *,
    start_index: int = 0,
    namespaces: Iterable[Mapping[str, Any]] = (),
    workloads: Workloads | None = None,
    nominated_pods: Iterable[Mapping[str, Any]] = (),
) -> Decision:
    """Schedule one pod against a cluster given as plain Kubernetes dicts.

    ``nodes`` are taken in the given order as the cache's insertion order (then interleaved by
    zone as upstream's node tree does); ``pods_by_node`` maps node names to the pods on them
    (a flat list of pods with ``spec.nodeName`` works too); ``start_index`` is the round-robin
    start (pass back ``decision.next_start_node_index`` to continue the rotation).  For many
    pods against one cluster, keep a :class:`Scheduler` instead: its cache is incremental.
    """
    if pods_by_node is None:
        assigned: list[Mapping[str, Any]] = []
    elif isinstance(pods_by_node, Mapping):
        assigned = []
        for node_name, pods in pods_by_node.items():
            for p in pods:
                spec = p.get("spec") or {}
                if spec.get("nodeName") == node_name:
                    assigned.append(p)
                else:
                    assigned.append({**p, "spec": {**spec, "nodeName": node_name}})
    else:
        assigned = list(pods_by_node)
    cache = Cache.build(nodes, assigned, namespaces)
    sched = Scheduler(
        profile,
        cache=cache,
        rng=rng if rng is not None else random.Random(),
        volumes=Volumes.build(pvcs, pvs, storage_classes),
        workloads=workloads,
    )
    for np in nominated_pods:
        npi = PodInfo(np)
        if npi.nominated_node_name:
            sched.nominator.add(npi, npi.nominated_node_name)
    sched.next_start_node_index = start_index % max(len(cache), 1)
    return sched.schedule_one(pod, assume=False)
