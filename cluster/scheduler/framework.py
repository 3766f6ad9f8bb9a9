"""The scheduling framework: statuses, cycle state, the plugin protocol and the runners.

Mirrors ``pkg/scheduler/framework`` (``interface.go``, ``cycle_state.go``, ``types.go``) and
``framework/runtime/framework.go``.  Plugins work on ``PodInfo``/``NodeInfo`` and may offer a
batch form of Filter/Score (``filter_nodes``/``score_nodes``) so the hot loop stays in one
Python call per plugin instead of one per node; results are identical to the per-node form.
"""

from __future__ import annotations

import enum
import itertools
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import add, mul
from typing import TYPE_CHECKING, Any, ClassVar

from .nodeinfo import NodeInfo, PodInfo

if TYPE_CHECKING:
    from .cache import Cache
    from .profile import Profile

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
MAX_TOTAL_SCORE = 2**63 - 1


class Code(enum.IntEnum):
    """``framework.Code``."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    PENDING = 6


class Status:
    """An immutable plugin status: a code and reason strings (``Message`` joins them with ", ")."""

    __slots__ = ("code", "plugin", "reasons")

    def __init__(self, code: Code, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons: tuple[str, ...] = reasons
        self.plugin = plugin

    @property
    def message(self) -> str:
        """Reasons joined with ", "."""
        return ", ".join(self.reasons)

    @property
    def is_success(self) -> bool:
        """Success (a nil status upstream is represented by ``None`` here)."""
        return self.code == Code.SUCCESS

    @property
    def is_skip(self) -> bool:
        """The plugin has nothing to do for this pod."""
        return self.code == Code.SKIP

    @property
    def is_rejected(self) -> bool:
        """Unschedulable, UnschedulableAndUnresolvable or Pending."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    def with_plugin(self, plugin: str) -> Status:
        """The same status attributed to a plugin."""
        return Status(self.code, *self.reasons, plugin=plugin)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and (self.code, self.reasons) == (other.code, other.reasons)

    def __hash__(self) -> int:
        return hash((self.code, self.reasons))

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {self.message!r}{', plugin=' + self.plugin if self.plugin else ''})"


SKIP = Status(Code.SKIP)

_MEMO_TOKENS = itertools.count()


def error_status(message: str, plugin: str = "") -> Status:
    """``framework.AsStatus(err)``."""
    return Status(Code.ERROR, message, plugin=plugin)


def is_success(status: Status | None) -> bool:
    """nil or Success."""
    return status is None or status.code == Code.SUCCESS


class NodeToStatus:
    """``framework.NodeToStatus``: explicit per-node statuses plus one for absent nodes."""

    __slots__ = ("absent", "explicit")

    def __init__(self, absent: Status | None = None) -> None:
        self.explicit: dict[str, Status] = {}
        self.absent: Status = absent if absent is not None else Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def get(self, node_name: str) -> Status:
        """Status of a node (the absent status if not recorded)."""
        return self.explicit.get(node_name, self.absent)

    def set(self, node_name: str, status: Status) -> None:
        """Record a node's status."""
        self.explicit[node_name] = status

    def __len__(self) -> int:
        return len(self.explicit)

    def nodes_for_status_code(self, all_nodes: Sequence[NodeInfo], code: Code) -> list[NodeInfo]:
        """``NodesForStatusCode``: nodes whose (possibly absent) status has ``code``."""
        if self.absent.code == code:
            if not self.explicit:
                return list(all_nodes)
            return [n for n in all_nodes if (s := self.explicit.get(n.name)) is None or s.code == code]
        by_name = {n.name: n for n in all_nodes}
        return [by_name[name] for name, s in self.explicit.items() if s.code == code and name in by_name]


def fit_error_message(
    num_all_nodes: int, node_to_status: NodeToStatus, pre_filter_msg: str = "", post_filter_msg: str = ""
) -> str:
    """``FitError.Error()``: "0/N nodes are available: <histogram, sorted>. <post-filter message>"."""
    msg = f"0/{num_all_nodes} nodes are available:"
    if pre_filter_msg:
        msg += f" {pre_filter_msg}."
    else:
        reasons: dict[str, int] = {}
        for status in node_to_status.explicit.values():
            for reason in status.reasons:
                reasons[reason] = reasons.get(reason, 0) + 1
        absent = num_all_nodes - len(node_to_status)
        if absent > 0:
            for reason in node_to_status.absent.reasons:
                reasons[reason] = reasons.get(reason, 0) + absent
        histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
        if histogram:
            msg += f" {', '.join(histogram)}."
    if post_filter_msg:
        msg += f" {post_filter_msg}"
    return msg


class CycleState:
    """Per-cycle plugin scratch space, plus the plugins that asked to be skipped."""

    __slots__ = ("data", "skip_filter_plugins", "skip_score_plugins")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def read(self, key: str) -> Any:
        """A value written earlier in the cycle, or None."""
        return self.data.get(key)

    def write(self, key: str, value: Any) -> None:
        """Store a value for later extension points."""
        self.data[key] = value

    def clone(self) -> CycleState:
        """A copy whose mutable entries (with a ``clone`` method) are copied too."""
        c = CycleState()
        c.data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self.data.items()}
        c.skip_filter_plugins = set(self.skip_filter_plugins)
        c.skip_score_plugins = set(self.skip_score_plugins)
        return c


@dataclass
class Volumes:
    """PVCs (keyed ``namespace/name``), PVs and StorageClasses (keyed by name)."""

    pvcs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    pvs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    storage_classes: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        pvcs: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
        pvs: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
        storage_classes: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Volumes:
        """Accept lists of objects or already-keyed mappings."""

        def keyed(objs: Any, namespaced: bool) -> dict[str, Mapping[str, Any]]:
            if not objs:
                return {}
            if isinstance(objs, Mapping):
                return dict(objs)
            out = {}
            for o in objs:
                meta = o.get("metadata") or {}
                key = f"{meta.get('namespace', '')}/{meta.get('name', '')}" if namespaced else meta.get("name", "")
                out[key] = o
            return out

        return cls(keyed(pvcs, True), keyed(pvs, False), keyed(storage_classes, False))


@dataclass
class Workloads:
    """Objects PodTopologySpread's system defaulting derives selectors from, and PDBs for preemption."""

    services: list[Mapping[str, Any]] = field(default_factory=list)
    replication_controllers: list[Mapping[str, Any]] = field(default_factory=list)
    replica_sets: list[Mapping[str, Any]] = field(default_factory=list)
    stateful_sets: list[Mapping[str, Any]] = field(default_factory=list)
    pod_disruption_budgets: list[Mapping[str, Any]] = field(default_factory=list)


class Nominator:
    """Pods nominated to nodes by preemption, keyed by node name (``PodNominator``)."""

    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def add(self, pod: PodInfo, node_name: str) -> None:
        """Nominate a pod to a node (replacing an earlier nomination)."""
        self.delete(pod.key)
        if node_name:
            self._by_node.setdefault(node_name, {})[pod.key] = pod
            self._node_of[pod.key] = node_name

    def delete(self, key: str) -> None:
        """Forget a pod's nomination."""
        node = self._node_of.pop(key, None)
        if node is not None:
            pods = self._by_node.get(node, {})
            pods.pop(key, None)
            if not pods:
                self._by_node.pop(node, None)

    def pods_for_node(self, node_name: str) -> list[PodInfo]:
        """Pods nominated to this node."""
        return list(self._by_node.get(node_name, {}).values())

    def __bool__(self) -> bool:
        return bool(self._by_node)


class Handle:
    """What plugins may look at besides the pod: the cache snapshot and listers."""

    def __init__(
        self,
        cache: Cache,
        volumes: Volumes | None = None,
        workloads: Workloads | None = None,
        nominator: Nominator | None = None,
    ) -> None:
        self.cache = cache
        self.volumes = volumes if volumes is not None else Volumes()
        self.workloads = workloads if workloads is not None else Workloads()
        self.nominator = nominator if nominator is not None else Nominator()
        self.rng: random.Random | None = None
        """Randomness for preemption's candidate offset (``rand.Int31n`` upstream)."""
        self.framework: Framework | None = None
        """Set by the Framework built on this handle (preemption re-runs filters through it)."""

    def node_infos(self) -> list[NodeInfo]:
        """All nodes in the snapshot."""
        return self.cache.node_infos()


@dataclass(frozen=True)
class PreFilterResult:
    """``PreFilterResult``: the node names a PreFilter plugin restricts scheduling to (None = all)."""

    node_names: frozenset[str] | None = None

    def all_nodes(self) -> bool:
        """Whether every node remains eligible."""
        return self.node_names is None

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        """Intersection of two results."""
        if other is None or other.all_nodes():
            return self
        if self.all_nodes():
            return other
        assert self.node_names is not None and other.node_names is not None
        return PreFilterResult(self.node_names & other.node_names)


class Plugin:
    """Base class; a plugin lists the extension points it implements in ``extension_points``.

    Filter plugins implement ``filter`` (and may override the batch ``filter_nodes``), Score
    plugins ``score``/``score_nodes`` and optionally ``normalize_score`` (``has_normalize``).
    """

    name: ClassVar[str] = ""
    extension_points: ClassVar[frozenset[str]] = frozenset()
    has_normalize: ClassVar[bool] = False
    has_pre_filter_extensions: ClassVar[bool] = False

    def __init__(self, args: Mapping[str, Any] | None, handle: Handle) -> None:
        self.args: Mapping[str, Any] = args or {}
        self.handle = handle
        self._memo_token = next(_MEMO_TOKENS)
        """Unique per plugin instance: keys its entries in ``NodeInfo.score_memo``."""

    # PreFilter
    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        """Compute per-cycle state; may Skip the plugin's Filter or reject the pod outright."""
        return None, None

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status | None:
        """PreFilterExtensions.AddPod: adjust pre-filter state as if ``pod_to_add`` ran on ``node``."""
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status | None:
        """PreFilterExtensions.RemovePod."""
        return None

    # Filter
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """None when the node fits, else a rejecting status."""
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[int, Status]:
        """Batch Filter: indexes of rejected nodes mapped to their status."""
        out: dict[int, Status] = {}
        f = self.filter
        for i, node in enumerate(nodes):
            st = f(state, pod, node)
            if st is not None and st.code != Code.SUCCESS:
                out[i] = st
        return out

    # PostFilter
    def post_filter(self, state: CycleState, pod: PodInfo, node_to_status: NodeToStatus) -> tuple[Any, Status]:
        """Try to make the pod schedulable later (preemption)."""
        return None, Status(Code.UNSCHEDULABLE)

    # PreScore / Score
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        """Compute per-cycle scoring state; may Skip the plugin's Score."""
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """Raw score of one node."""
        return 0

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """Batch Score."""
        s = self.score
        return [s(state, pod, n) for n in nodes]

    def normalize_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> Status | None:
        """NormalizeScore, in place."""
        return None


def default_normalize_score(max_priority: int, reverse: bool, scores: list[int]) -> None:
    """``helper.DefaultNormalizeScore`` with int64 arithmetic (all operands non-negative)."""
    max_count = 0
    for s in scores:
        if s > max_count:
            max_count = s
    if max_count == 0:
        if reverse:
            for i in range(len(scores)):
                scores[i] = max_priority
        return
    for i, s in enumerate(scores):
        v = max_priority * s // max_count if s >= 0 else -((max_priority * -s) // max_count)
        scores[i] = max_priority - v if reverse else v


@dataclass
class ScoreTable:
    """Scores of the feasible nodes: per plugin raw and weighted lists (node order) and totals."""

    plugins: list[str]
    raw: dict[str, list[int]]
    weighted: dict[str, list[int]]
    totals: list[int]


class FrameworkError(Exception):
    """A plugin returned an Error status; the cycle fails with this message."""


class Framework:
    """Plugins of one profile wired to their extension points, with upstream's run order."""

    def __init__(
        self, profile: Profile, handle: Handle, registry: Mapping[str, Callable[..., Plugin]] | None = None
    ) -> None:
        from .plugins import REGISTRY

        registry = registry if registry is not None else REGISTRY
        self.profile = profile
        self.handle = handle
        handle.framework = self
        self.percentage_of_nodes_to_score = profile.percentage_of_nodes_to_score
        instances: dict[str, Plugin] = {}
        for name in profile.needed_plugins():
            factory = registry.get(name)
            if factory is None:
                raise FrameworkError(f'plugin "{name}" does not exist')
            instances[name] = factory(profile.plugin_args.get(name), handle)
        self.plugins = instances

        def at(point: str) -> list[Plugin]:
            return [instances[n] for n in profile.extension_points.get(point, ())]

        self.pre_filter_plugins = at("preFilter")
        self.filter_plugins = at("filter")
        self.post_filter_plugins = at("postFilter")
        self.pre_score_plugins = at("preScore")
        self.score_plugins: list[tuple[Plugin, int]] = [
            (instances[n], profile.score_weights.get(n, 1)) for n in profile.extension_points.get("score", ())
        ]

    # ----- PreFilter / Filter ------------------------------------------------------------

    def run_pre_filter_plugins(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None, set[str]]:
        """``RunPreFilterPlugins``: returns the merged node restriction, a rejecting status, and
        the plugins that restricted the node set."""
        result: PreFilterResult | None = None
        plugins_with_nodes: set[str] = set()
        return_status: Status | None = None
        skip = state.skip_filter_plugins
        skip.clear()
        for pl in self.pre_filter_plugins:
            r, s = pl.pre_filter(state, pod)
            if s is not None and s.code == Code.SKIP:
                skip.add(pl.name)
                continue
            if s is not None and s.code != Code.SUCCESS:
                s = s.with_plugin(pl.name)
                if s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    return None, s, set()
                if s.code == Code.UNSCHEDULABLE:
                    return_status = s
                    continue
                return (
                    None,
                    Status(Code.ERROR, f'running PreFilter plugin "{pl.name}": {s.message}', plugin=pl.name),
                    set(),
                )
            if r is not None and not r.all_nodes():
                plugins_with_nodes.add(pl.name)
            result = r if result is None else result.merge(r)
            if result is not None and not result.all_nodes() and not result.node_names:
                names = sorted(plugins_with_nodes)
                if len(names) == 1:
                    msg = f"node(s) didn't satisfy plugin {names[0]}"
                else:
                    msg = f"node(s) didn't satisfy plugin(s) [{' '.join(names)}] simultaneously"
                return result, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, msg), plugins_with_nodes
        return result, return_status, plugins_with_nodes

    def active_filter_plugins(self, state: CycleState) -> list[Plugin]:
        """Filter plugins not skipped by their PreFilter."""
        skip = state.skip_filter_plugins
        return [p for p in self.filter_plugins if p.name not in skip]

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status] | None:
        """``RunFilterPlugins`` on one node: (index into active plugins, status) of the first rejection."""
        for i, pl in enumerate(self.active_filter_plugins(state)):
            st = pl.filter(state, pod, node)
            if st is not None and st.code != Code.SUCCESS:
                if not st.is_rejected:
                    st = Status(Code.ERROR, f'running "{pl.name}" filter plugin: {st.message}')
                return i, st.with_plugin(pl.name)
        return None

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> None:
        """Call AddPod on every non-skipped PreFilter plugin with extensions."""
        for pl in self.pre_filter_plugins:
            if pl.has_pre_filter_extensions and pl.name not in state.skip_filter_plugins:
                st = pl.add_pod(state, pod, to_add, node)
                if st is not None and not st.is_success:
                    raise FrameworkError(f'running AddPod on PreFilter plugin "{pl.name}": {st.message}')

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> None:
        """Call RemovePod on every non-skipped PreFilter plugin with extensions."""
        for pl in self.pre_filter_plugins:
            if pl.has_pre_filter_extensions and pl.name not in state.skip_filter_plugins:
                st = pl.remove_pod(state, pod, to_remove, node)
                if st is not None and not st.is_success:
                    raise FrameworkError(f'running RemovePod on PreFilter plugin "{pl.name}": {st.message}')

    def run_filter_plugins_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> tuple[int, Status] | None:
        """``RunFilterPluginsWithNominatedPods``: filter twice, with and without nominated pods
        of equal or higher priority on the node, and require both to pass."""
        nominated = [
            p for p in self.handle.nominator.pods_for_node(node.name) if p.priority >= pod.priority and p.key != pod.key
        ]
        result: tuple[int, Status] | None = None
        for i in range(2):
            state_to_use, node_to_use = state, node
            if i == 0:
                if nominated:
                    node_to_use = node.snapshot()
                    state_to_use = state.clone()
                    for p in nominated:
                        node_to_use.add_pod(p)
                        self.run_pre_filter_extension_add_pod(state_to_use, pod, p, node_to_use)
            elif not nominated or result is not None:
                break
            result = self.run_filter_plugins(state_to_use, pod, node_to_use)
            if result is not None and result[1].code == Code.ERROR:
                return result
        return result

    # ----- PostFilter --------------------------------------------------------------------

    def run_post_filter_plugins(
        self, state: CycleState, pod: PodInfo, node_to_status: NodeToStatus
    ) -> tuple[Any, Status]:
        """``RunPostFilterPlugins``: the first success wins; otherwise the reasons are collected."""
        result = None
        reasons: list[str] = []
        rejector = ""
        for pl in self.post_filter_plugins:
            r, s = pl.post_filter(state, pod, node_to_status)
            if s.is_success:
                return r, s
            if s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return r, s.with_plugin(pl.name)
            if not s.is_rejected:
                return None, Status(Code.ERROR, *s.reasons, plugin=pl.name)
            if r is not None:
                result = r
            reasons.extend(s.reasons)
            rejector = rejector or pl.name
        return result, Status(Code.UNSCHEDULABLE, *reasons, plugin=rejector)

    # ----- PreScore / Score --------------------------------------------------------------

    def run_pre_score_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        """``RunPreScorePlugins``: records which Score plugins skip; returns an error status."""
        skip = state.skip_score_plugins
        skip.clear()
        for pl in self.pre_score_plugins:
            s = pl.pre_score(state, pod, nodes)
            if s is None or s.code == Code.SUCCESS:
                continue
            if s.code == Code.SKIP:
                skip.add(pl.name)
                continue
            return Status(Code.ERROR, f'running PreScore plugin "{pl.name}": {s.message}', plugin=pl.name)
        return None

    def run_score_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScoreTable:
        """``RunScorePlugins``: score, normalize, check the range, apply weights, sum."""
        skip = state.skip_score_plugins
        active = [(pl, w) for pl, w in self.score_plugins if pl.name not in skip]
        raw: dict[str, list[int]] = {}
        weighted: dict[str, list[int]] = {}
        totals = [0] * len(nodes)
        for pl, weight in active:
            scores = pl.score_nodes(state, pod, nodes)
            raw[pl.name] = scores
            if pl.has_normalize:
                scores = list(scores)
                st = pl.normalize_score(state, pod, nodes, scores)
                if st is not None and not st.is_success:
                    raise FrameworkError(
                        f'running Normalize on Score plugins: plugin "{pl.name}" failed with: {st.message}'
                    )
            if scores and (max(scores) > MAX_NODE_SCORE or min(scores) < MIN_NODE_SCORE):
                bad = next(s for s in scores if s > MAX_NODE_SCORE or s < MIN_NODE_SCORE)
                raise FrameworkError(
                    f'applying score defaultWeights on Score plugins: plugin "{pl.name}" returns an invalid score {bad}, '
                    f"it should in the range of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing"
                )
            w = scores if weight == 1 else list(map(mul, scores, repeat(weight, len(scores))))
            weighted[pl.name] = w
            totals = list(map(add, totals, w))
        return ScoreTable([pl.name for pl, _ in active], raw, weighted, totals)

    @property
    def has_filter_plugins(self) -> bool:
        """Whether any Filter plugin is enabled."""
        return bool(self.filter_plugins)

    @property
    def has_score_plugins(self) -> bool:
        """Whether any Score plugin is enabled."""
        return bool(self.score_plugins)
