"""``KubeSchedulerConfiguration`` (kubescheduler.config.k8s.io/v1): parse, default, validate.

Defaulting follows ``apis/config/v1/default_plugins.go`` (the default MultiPoint list and
``mergePluginSet``) and ``defaults.go`` (plugin args); expansion of MultiPoint onto extension
points and the score weights follow ``framework/runtime/framework.go``.  Every problem found
is reported at once in a :class:`ProfileError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
MAX_CUSTOM_PRIORITY_SCORE = 10

EXTENSION_POINTS: tuple[str, ...] = (
    "preEnqueue",
    "queueSort",
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "preBind",
    "bind",
    "postBind",
)

PLUGIN_EXTENSION_POINTS: dict[str, frozenset[str]] = {
    "SchedulingGates": frozenset({"preEnqueue"}),
    "PrioritySort": frozenset({"queueSort"}),
    "NodeUnschedulable": frozenset({"filter"}),
    "NodeName": frozenset({"filter"}),
    "TaintToleration": frozenset({"filter", "preScore", "score"}),
    "NodeAffinity": frozenset({"preFilter", "filter", "preScore", "score"}),
    "NodePorts": frozenset({"preFilter", "filter"}),
    "NodeResourcesFit": frozenset({"preFilter", "filter", "preScore", "score"}),
    "VolumeRestrictions": frozenset({"preFilter", "filter"}),
    "NodeVolumeLimits": frozenset({"preFilter", "filter"}),
    "VolumeBinding": frozenset({"preFilter", "filter", "reserve", "preBind", "preScore", "score"}),
    "VolumeZone": frozenset({"preFilter", "filter"}),
    "PodTopologySpread": frozenset({"preFilter", "filter", "preScore", "score"}),
    "InterPodAffinity": frozenset({"preFilter", "filter", "preScore", "score"}),
    "DefaultPreemption": frozenset({"postFilter", "preEnqueue"}),
    "NodeResourcesBalancedAllocation": frozenset({"preScore", "score"}),
    "ImageLocality": frozenset({"score"}),
    "DefaultBinder": frozenset({"bind"}),
}
"""In-tree plugins (v1.32 registry, feature-gated DynamicResources excluded) and what they implement."""

REMOVED_PLUGINS = frozenset({"AzureDiskLimits", "CinderLimits", "EBSLimits", "GCEPDLimits"})

_INTERFACE_NAMES = {
    "preEnqueue": "PreEnqueuePlugin",
    "queueSort": "QueueSortPlugin",
    "preFilter": "PreFilterPlugin",
    "filter": "FilterPlugin",
    "postFilter": "PostFilterPlugin",
    "preScore": "PreScorePlugin",
    "score": "ScorePlugin",
    "reserve": "ReservePlugin",
    "permit": "PermitPlugin",
    "preBind": "PreBindPlugin",
    "bind": "BindPlugin",
    "postBind": "PostBindPlugin",
}

# (name, weight) -- weight None means unset (pointer nil upstream).
DEFAULT_MULTI_POINT: tuple[tuple[str, int | None], ...] = (
    ("SchedulingGates", None),
    ("PrioritySort", None),
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", None),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", None),
    ("NodeVolumeLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", None),
)

DEFAULT_RESOURCES: tuple[dict[str, Any], ...] = ({"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1})
SCORING_STRATEGY_TYPES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")


class ProfileError(ValueError):
    """An invalid KubeSchedulerConfiguration; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(dict.fromkeys(errors))
        super().__init__("invalid KubeSchedulerConfiguration: " + "; ".join(self.errors))


@dataclass(frozen=True)
class Profile:
    """One scheduling profile, fully defaulted and expanded onto extension points."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int = 0
    """0 means adaptive (``50 - numNodes/125``, at least 5%), as upstream's default."""
    extension_points: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    score_weights: Mapping[str, int] = field(default_factory=dict)
    plugin_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0

    def plugins_for(self, point: str) -> tuple[str, ...]:
        """Plugin names enabled at an extension point, in run order."""
        return self.extension_points.get(point, ())

    def needed_plugins(self) -> list[str]:
        """Every plugin enabled at some extension point (instantiated once each)."""
        seen: dict[str, None] = {}
        for point in EXTENSION_POINTS:
            for name in self.extension_points.get(point, ()):
                seen[name] = None
        return list(seen)


# --------------------------------------------------------------------------------------------
# small helpers for field errors in upstream's wording


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_fmt(value)}: {detail}"


def _required(path: str, detail: str) -> str:
    return f"{path}: Required value: {detail}" if detail else f"{path}: Required value"


def _unsupported(path: str, value: Any, supported: Sequence[str]) -> str:
    return f"{path}: Unsupported value: {_fmt(value)}: supported values: " + ", ".join(f'"{s}"' for s in supported)


def _duplicate(path: str, value: Any) -> str:
    return f"{path}: Duplicate value: {_fmt(value)}"


def _check_keys(obj: Any, allowed: Sequence[str], path: str, errors: list[str]) -> Mapping[str, Any]:
    """Strict decoding: reject unknown fields and non-objects."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        errors.append(f"{path}: Invalid value: expected an object")
        return {}
    for key in obj:
        if key not in allowed:
            errors.append(f'{path}: strict decoding error: unknown field "{key}"')
    return obj


def _as_int(v: Any, path: str, errors: list[str]) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int):
        errors.append(f"{path}: Invalid value: {_fmt(v)}: must be an integer")
        return None
    return v


# --------------------------------------------------------------------------------------------
# plugin sets


@dataclass
class _PluginSet:
    enabled: list[tuple[str, int | None]] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


def _parse_plugin_set(raw: Any, path: str, errors: list[str]) -> _PluginSet:
    obj = _check_keys(raw, ("enabled", "disabled"), path, errors)
    ps = _PluginSet()
    for key in ("enabled", "disabled"):
        items = obj.get(key) or []
        if not isinstance(items, list):
            errors.append(f"{path}.{key}: Invalid value: expected a list")
            continue
        for i, item in enumerate(items):
            p = f"{path}.{key}[{i}]"
            it = _check_keys(item, ("name", "weight"), p, errors)
            name = it.get("name")
            if not isinstance(name, str) or not name:
                errors.append(_required(f"{p}.name", ""))
                continue
            if key == "enabled":
                weight = it.get("weight")
                if weight is not None:
                    weight = _as_int(weight, f"{p}.weight", errors)
                ps.enabled.append((name, weight))
            else:
                ps.disabled.append(name)
    return ps


def _merge_plugin_set(default: _PluginSet, custom: _PluginSet) -> _PluginSet:
    """``mergePluginSet``: defaults minus disabled (``*`` = all), custom ones replace in place."""
    disabled = set(custom.disabled) | set(default.disabled)
    disabled_list = list(custom.disabled) + list(default.disabled)
    custom_index = {name: (i, (name, w)) for i, (name, w) in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[tuple[str, int | None]] = []
    if "*" not in disabled:
        for name, w in default.enabled:
            if name in disabled:
                continue
            if name in custom_index:
                idx, plugin = custom_index[name]
                enabled.append(plugin)
                replaced.add(idx)
            else:
                enabled.append((name, w))
    for i, plugin in enumerate(custom.enabled):
        if i not in replaced:
            enabled.append(plugin)
    return _PluginSet(enabled, disabled_list)


def _implements(name: str, point: str) -> bool:
    return point in PLUGIN_EXTENSION_POINTS.get(name, frozenset())


def _expand(
    sets: Mapping[str, _PluginSet], multi: _PluginSet, path: str, errors: list[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """``updatePluginList`` + ``expandMultiPointPlugins`` + ``getScoreWeights``."""
    result: dict[str, tuple[str, ...]] = {}
    for point in EXTENSION_POINTS:
        ps = sets.get(point, _PluginSet())
        iface = _INTERFACE_NAMES[point]
        enabled: list[str] = []
        for name, _w in ps.enabled:
            if name not in PLUGIN_EXTENSION_POINTS:
                errors.append(f'{path}.{point}: {iface} "{name}" does not exist')
                continue
            if not _implements(name, point):
                errors.append(f'{path}.{point}: plugin "{name}" does not extend {iface} plugin')
                continue
            if name in enabled:
                errors.append(f'{path}.{point}: plugin "{name}" already registered as "{iface}"')
                continue
            enabled.append(name)
        if multi.enabled and "*" not in ps.disabled:
            disabled = set(ps.disabled)
            multi_enabled: list[str] = []
            overrides: list[str] = []
            for name, _w in multi.enabled:
                if name not in PLUGIN_EXTENSION_POINTS:
                    errors.append(f'{path}.multiPoint: {iface} "{name}" does not exist')
                    continue
                if not _implements(name, point) or name in disabled:
                    continue
                if name in enabled:
                    if name not in overrides:
                        overrides.append(name)
                    continue
                if name in multi_enabled:
                    errors.append(f'{path}.multiPoint: plugin "{name}" already registered as "{iface}"')
                    continue
                multi_enabled.append(name)
            ordered = (
                [n for n in enabled if n in overrides] + multi_enabled + [n for n in enabled if n not in overrides]
            )
            enabled = ordered
        result[point] = tuple(enabled)

    weights: dict[str, int] = {}
    total = 0
    for name, weight in list(sets.get("score", _PluginSet()).enabled) + list(multi.enabled):
        if not _implements(name, "score") or name in weights:
            continue
        w = weight or 0
        weights[name] = w if w != 0 else 1
        if weights[name] * 100 > 2**63 - 1 - total:
            errors.append(f"{path}: total score of Score plugins could overflow")
        total += weights[name] * 100
    if len(result["queueSort"]) != 1:
        errors.append(
            f"{path}.queueSort: only one queue sort plugin required for profile, but got {len(result['queueSort'])}"
        )
    if not result["bind"]:
        errors.append(f"{path}.bind: at least one bind plugin is needed for profile")
    return result, weights


# --------------------------------------------------------------------------------------------
# plugin args


def _resources(raw: Any, path: str, errors: list[str], *, balanced: bool) -> list[dict[str, Any]]:
    if raw is None or raw == []:
        return [dict(r) for r in DEFAULT_RESOURCES]
    if not isinstance(raw, list):
        errors.append(f"{path}: Invalid value: expected a list")
        return [dict(r) for r in DEFAULT_RESOURCES]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        it = _check_keys(item, ("name", "weight"), p, errors)
        name = it.get("name", "")
        weight = it.get("weight", 0)
        if weight is None:
            weight = 0
        weight = _as_int(weight, f"{p}.weight", errors)
        if weight is None:
            continue
        if weight == 0:
            weight = 1
        if balanced:
            if name in seen:
                errors.append(_duplicate(f"{p}.name", name))
            seen.add(name)
            if weight != 1:
                errors.append(_invalid(f"{p}.weight", weight, "must be 1"))
        elif weight <= 0 or weight > 100:
            errors.append(_invalid(f"{p}.weight", weight, f"resource weight of {name} not in valid range (0, 100]"))
        out.append({"name": name, "weight": weight})
    return out


def _shape(raw: Any, path: str, errors: list[str]) -> list[dict[str, int]]:
    if not isinstance(raw, list) or not raw:
        errors.append(_required(path, "at least one point must be specified"))
        return []
    points: list[dict[str, int]] = []
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        it = _check_keys(item, ("utilization", "score"), p, errors)
        u = _as_int(it.get("utilization", 0), f"{p}.utilization", errors)
        s = _as_int(it.get("score", 0), f"{p}.score", errors)
        if u is None or s is None:
            continue
        points.append({"utilization": u, "score": s})
    for i in range(1, len(points)):
        if points[i - 1]["utilization"] >= points[i]["utilization"]:
            errors.append(
                _invalid(
                    f"{path}[{i}].utilization",
                    points[i]["utilization"],
                    "utilization values must be sorted in increasing order",
                )
            )
            break
    for i, pt in enumerate(points):
        if not 0 <= pt["utilization"] <= 100:
            errors.append(_invalid(f"{path}[{i}].utilization", pt["utilization"], "not in valid range [0, 100]"))
        if not 0 <= pt["score"] <= MAX_CUSTOM_PRIORITY_SCORE:
            errors.append(
                _invalid(f"{path}[{i}].score", pt["score"], f"not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]")
            )
    return points


def _fit_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(
        raw, ("apiVersion", "kind", "ignoredResources", "ignoredResourceGroups", "scoringStrategy"), path, errors
    )
    from .labels import is_qualified_name

    args: dict[str, Any] = {
        "ignoredResources": list(obj.get("ignoredResources") or []),
        "ignoredResourceGroups": list(obj.get("ignoredResourceGroups") or []),
    }
    for i, res in enumerate(args["ignoredResources"]):
        if not isinstance(res, str) or not is_qualified_name(res):
            errors.append(
                _invalid(f"{path}.ignoredResources[{i}]", res, "name part must consist of alphanumeric characters")
            )
    for i, grp in enumerate(args["ignoredResourceGroups"]):
        if isinstance(grp, str) and "/" in grp:
            errors.append(_invalid(f"{path}.ignoredResourceGroups[{i}]", grp, "resource group name can't contain '/'"))
    sp = f"{path}.scoringStrategy"
    strategy = _check_keys(obj.get("scoringStrategy"), ("type", "resources", "requestedToCapacityRatio"), sp, errors)
    stype = strategy.get("type", "LeastAllocated") if strategy else "LeastAllocated"
    if stype not in SCORING_STRATEGY_TYPES:
        errors.append(_unsupported(f"{sp}.type", stype, SCORING_STRATEGY_TYPES))
    out: dict[str, Any] = {
        "type": stype,
        "resources": _resources(strategy.get("resources"), f"{sp}.resources", errors, balanced=False),
    }
    rtcr = strategy.get("requestedToCapacityRatio")
    if rtcr is not None:
        rt = _check_keys(rtcr, ("shape",), f"{sp}.requestedToCapacityRatio", errors)
        out["shape"] = _shape(rt.get("shape"), f"{sp}.shape", errors)
    elif stype == "RequestedToCapacityRatio":
        errors.append(
            _required(f"{sp}.requestedToCapacityRatio", "required for the RequestedToCapacityRatio scoring strategy")
        )
        out["shape"] = []
    args["scoringStrategy"] = out
    return args


def _balanced_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(raw, ("apiVersion", "kind", "resources"), path, errors)
    return {"resources": _resources(obj.get("resources"), f"{path}.resources", errors, balanced=True)}


def _node_affinity_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(raw, ("apiVersion", "kind", "addedAffinity"), path, errors)
    added = obj.get("addedAffinity")
    if added is not None:
        from .plugins.node_affinity import validate_added_affinity

        errors.extend(validate_added_affinity(added, f"{path}.addedAffinity"))
    return {"addedAffinity": added}


def _pts_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(raw, ("apiVersion", "kind", "defaultConstraints", "defaultingType"), path, errors)
    dtype = obj.get("defaultingType") or "System"
    constraints = list(obj.get("defaultConstraints") or [])
    if dtype not in ("System", "List"):
        errors.append(_unsupported(f"{path}.defaultingType", dtype, ("System", "List")))
    elif dtype == "System" and constraints:
        errors.append(_invalid(f"{path}.defaultingType", dtype, "when .defaultConstraints are not empty"))
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(constraints):
        p = f"{path}.defaultConstraints[{i}]"
        if not isinstance(c, Mapping):
            errors.append(f"{p}: Invalid value: expected an object")
            continue
        if (c.get("maxSkew") or 0) <= 0:
            errors.append(_invalid(f"{p}.maxSkew", c.get("maxSkew", 0), "not in valid range (0, inf)"))
        if not c.get("topologyKey"):
            errors.append(_required(f"{p}.topologyKey", "can not be empty"))
        wu = c.get("whenUnsatisfiable", "")
        if not wu:
            errors.append(_required(f"{p}.whenUnsatisfiable", "can not be empty"))
        elif wu not in ("DoNotSchedule", "ScheduleAnyway"):
            errors.append(_unsupported(f"{p}.whenUnsatisfiable", wu, ("DoNotSchedule", "ScheduleAnyway")))
        key = (c.get("topologyKey", ""), wu)
        if key in seen:
            errors.append(_duplicate(p, f"{{{key[0]}, {key[1]}}}"))
        seen.add(key)
        if c.get("labelSelector") is not None:
            errors.append(
                f"{p}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
            )
    return {"defaultingType": dtype, "defaultConstraints": constraints}


def _ipa_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(
        raw, ("apiVersion", "kind", "hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"), path, errors
    )
    w = obj.get("hardPodAffinityWeight")
    w = 1 if w is None else _as_int(w, f"{path}.hardPodAffinityWeight", errors)
    if w is not None and not 0 <= w <= 100:
        errors.append(_invalid(f"{path}.hardPodAffinityWeight", w, "not in valid range [0, 100]"))
    return {
        "hardPodAffinityWeight": w or 0,
        "ignorePreferredTermsOfExistingPods": bool(obj.get("ignorePreferredTermsOfExistingPods")),
    }


def _preemption_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(
        raw, ("apiVersion", "kind", "minCandidateNodesPercentage", "minCandidateNodesAbsolute"), path, errors
    )
    pct = obj.get("minCandidateNodesPercentage")
    ab = obj.get("minCandidateNodesAbsolute")
    pct = 10 if pct is None else _as_int(pct, f"{path}.minCandidateNodesPercentage", errors)
    ab = 100 if ab is None else _as_int(ab, f"{path}.minCandidateNodesAbsolute", errors)
    if pct is not None and not 0 <= pct <= 100:
        errors.append(_invalid(f"{path}.minCandidateNodesPercentage", pct, "not in valid range [0, 100]"))
    if ab is not None and ab < 0:
        errors.append(_invalid(f"{path}.minCandidateNodesAbsolute", ab, "not in valid range [0, inf)"))
    if pct == 0 and ab == 0:
        errors.append(
            _invalid(
                f"{path}.minCandidateNodesPercentage",
                pct,
                "cannot be zero at the same time as minCandidateNodesAbsolute",
            )
        )
        errors.append(
            _invalid(
                f"{path}.minCandidateNodesAbsolute",
                ab,
                "cannot be zero at the same time as minCandidateNodesPercentage",
            )
        )
    return {"minCandidateNodesPercentage": pct or 0, "minCandidateNodesAbsolute": ab or 0}


def _volume_binding_args(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    obj = _check_keys(raw, ("apiVersion", "kind", "bindTimeoutSeconds", "shape"), path, errors)
    t = obj.get("bindTimeoutSeconds")
    t = 600 if t is None else _as_int(t, f"{path}.bindTimeoutSeconds", errors)
    if t is not None and t < 0:
        errors.append(
            _invalid(f"{path}.bindTimeoutSeconds", t, "invalid BindTimeoutSeconds, should not be a negative value")
        )
    if obj.get("shape"):
        errors.append(
            _invalid(
                f"{path}.shape",
                "...",
                "unexpected field `shape`, remove it or turn on the feature gate VolumeCapacityPriority",
            )
        )
    return {"bindTimeoutSeconds": t}


_ARGS_PARSERS = {
    "NodeResourcesFit": _fit_args,
    "NodeResourcesBalancedAllocation": _balanced_args,
    "NodeAffinity": _node_affinity_args,
    "PodTopologySpread": _pts_args,
    "InterPodAffinity": _ipa_args,
    "DefaultPreemption": _preemption_args,
    "VolumeBinding": _volume_binding_args,
}


def default_plugin_args(name: str) -> dict[str, Any] | None:
    """Defaulted args of a plugin that has an args type (None otherwise)."""
    parser = _ARGS_PARSERS.get(name)
    if parser is None:
        return None
    errors: list[str] = []
    return parser({}, name, errors)


# --------------------------------------------------------------------------------------------


_TOP_LEVEL_KEYS = (
    "apiVersion",
    "kind",
    "parallelism",
    "leaderElection",
    "clientConnection",
    "healthzBindAddress",
    "metricsBindAddress",
    "enableProfiling",
    "enableContentionProfiling",
    "percentageOfNodesToScore",
    "podInitialBackoffSeconds",
    "podMaxBackoffSeconds",
    "profiles",
    "extenders",
    "delayCacheUntilActive",
)
_PROFILE_KEYS = ("schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig")
_PLUGINS_KEYS = ("multiPoint", *EXTENSION_POINTS)


def _build_profile(
    raw: Any, path: str, errors: list[str], global_pct: int, backoff: tuple[float, float]
) -> Profile | None:
    obj = _check_keys(raw, _PROFILE_KEYS, path, errors)
    name = obj.get("schedulerName", DEFAULT_SCHEDULER_NAME)
    if not name:
        errors.append(_required(f"{path}.schedulerName", ""))
    pct = obj.get("percentageOfNodesToScore")
    if pct is not None:
        pct = _as_int(pct, f"{path}.percentageOfNodesToScore", errors)
        if pct is not None and not 0 <= pct <= 100:
            errors.append(_invalid(f"{path}.percentageOfNodesToScore", pct, "not in valid range [0-100]"))
    plugins_raw = obj.get("plugins")
    ppath = f"{path}.plugins"
    plugins_obj = _check_keys(plugins_raw, _PLUGINS_KEYS, ppath, errors)
    custom = {
        k: _parse_plugin_set(plugins_obj.get(k), f"{ppath}.{k}", errors) for k in ("multiPoint", *EXTENSION_POINTS)
    }
    for point, ps in custom.items():
        for i, (pname, _w) in enumerate(ps.enabled):
            if pname in REMOVED_PLUGINS:
                errors.append(
                    _invalid(
                        f"{ppath}.{point}.enabled[{i}]",
                        pname,
                        f'was invalid in version "{API_VERSION}" (KubeSchedulerConfiguration is version "{API_VERSION}")',
                    )
                )
    defaults = {k: _PluginSet() for k in ("multiPoint", *EXTENSION_POINTS)}
    defaults["multiPoint"] = _PluginSet(list(DEFAULT_MULTI_POINT), [])
    merged = {k: _merge_plugin_set(defaults[k], custom[k]) for k in defaults}
    points, weights = _expand(
        {k: v for k, v in merged.items() if k != "multiPoint"}, merged["multiPoint"], ppath, errors
    )

    plugin_args: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    cfgs = obj.get("pluginConfig") or []
    if not isinstance(cfgs, list):
        errors.append(f"{path}.pluginConfig: Invalid value: expected a list")
        cfgs = []
    for i, cfg in enumerate(cfgs):
        cpath = f"{path}.pluginConfig[{i}]"
        c = _check_keys(cfg, ("name", "args"), cpath, errors)
        pname = c.get("name", "")
        if pname in seen:
            errors.append(_duplicate(cpath, pname))
            continue
        seen.add(pname)
        if pname in REMOVED_PLUGINS:
            errors.append(
                _invalid(
                    cpath,
                    pname,
                    f'was invalid in version "{API_VERSION}" (KubeSchedulerConfiguration is version "{API_VERSION}")',
                )
            )
            continue
        parser = _ARGS_PARSERS.get(pname)
        if parser is None:
            if pname not in PLUGIN_EXTENSION_POINTS:
                errors.append(_invalid(f"{cpath}.name", pname, "no such plugin"))
            elif c.get("args"):
                errors.append(_invalid(f"{cpath}.args", pname, "plugin does not take arguments"))
            continue
        plugin_args[pname] = parser(c.get("args"), f"{cpath}.args", errors)
    needed = {n for names in points.values() for n in names}
    for pname in sorted(needed):
        if pname not in plugin_args and pname in _ARGS_PARSERS:
            plugin_args[pname] = _ARGS_PARSERS[pname]({}, pname, errors)
    return Profile(
        scheduler_name=name or DEFAULT_SCHEDULER_NAME,
        percentage_of_nodes_to_score=pct if pct is not None else global_pct,
        extension_points=points,
        score_weights=weights,
        plugin_args=plugin_args,
        pod_initial_backoff_seconds=backoff[0],
        pod_max_backoff_seconds=backoff[1],
    )


def load_configuration(text: str) -> list[Profile]:
    """Parse a KubeSchedulerConfiguration YAML document into its profiles (validated)."""
    errors: list[str] = []
    try:
        doc = yaml.safe_load(text) if text and text.strip() else {}
    except yaml.YAMLError as exc:
        raise ProfileError([f"invalid YAML: {exc}"]) from exc
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ProfileError(["expected a KubeSchedulerConfiguration object"])
    if doc.get("apiVersion") != API_VERSION:
        errors.append(_unsupported("apiVersion", doc.get("apiVersion"), (API_VERSION,)))
    if doc.get("kind") != KIND:
        errors.append(_unsupported("kind", doc.get("kind"), (KIND,)))
    _check_keys(doc, _TOP_LEVEL_KEYS, "KubeSchedulerConfiguration", errors)
    gpct = doc.get("percentageOfNodesToScore")
    if gpct is None:
        gpct = 0
    else:
        gpct = _as_int(gpct, "percentageOfNodesToScore", errors) or 0
        if not 0 <= gpct <= 100:
            errors.append(_invalid("percentageOfNodesToScore", gpct, "not in valid range [0-100]"))
    initial = doc.get("podInitialBackoffSeconds", 1)
    maximum = doc.get("podMaxBackoffSeconds", 10)
    for key, v in (("podInitialBackoffSeconds", initial), ("podMaxBackoffSeconds", maximum)):
        if _as_int(v, key, errors) is not None and v <= 0:
            errors.append(_invalid(key, v, "must be greater than 0"))
    if isinstance(initial, int) and isinstance(maximum, int) and maximum < initial:
        errors.append(
            _invalid("podMaxBackoffSeconds", maximum, "must be greater than or equal to PodInitialBackoffSeconds")
        )
    profiles_raw = doc.get("profiles")
    if profiles_raw is None or profiles_raw == []:
        profiles_raw = [{}]
    if not isinstance(profiles_raw, list):
        raise ProfileError([*errors, "profiles: Invalid value: expected a list"])
    profiles: list[Profile] = []
    names: set[str] = set()
    for i, raw in enumerate(profiles_raw):
        if len(profiles_raw) > 1 and isinstance(raw, Mapping) and not raw.get("schedulerName"):
            errors.append(_required(f"profiles[{i}].schedulerName", ""))
        prof = _build_profile(raw, f"profiles[{i}]", errors, gpct, (float(initial or 1), float(maximum or 10)))
        if prof is not None:
            if prof.scheduler_name in names:
                errors.append(_duplicate(f"profiles[{i}].schedulerName", prof.scheduler_name))
            names.add(prof.scheduler_name)
            profiles.append(prof)
    if len(profiles) > 1:
        canon = profiles[0].plugins_for("queueSort")
        for i, p in enumerate(profiles[1:], start=1):
            if p.plugins_for("queueSort") != canon:
                errors.append(
                    _invalid(
                        f"profiles[{i}].plugins.queueSort",
                        list(p.plugins_for("queueSort")),
                        "queueSort must be the same for all profiles",
                    )
                )
    if errors:
        raise ProfileError(errors)
    return profiles


def load_profile(text: str, scheduler_name: str | None = None) -> Profile:
    """The profile named ``scheduler_name`` (default: the first) of a KubeSchedulerConfiguration."""
    profiles = load_configuration(text)
    if scheduler_name is None:
        return profiles[0]
    for p in profiles:
        if p.scheduler_name == scheduler_name:
            return p
    raise ProfileError([f'profile not found for scheduler name "{scheduler_name}"'])


_DEFAULT: Profile | None = None


def default_profile() -> Profile:
    """The v1.32 default profile (``default-scheduler``)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_profile(f"apiVersion: {API_VERSION}\nkind: {KIND}\n")
    return _DEFAULT
