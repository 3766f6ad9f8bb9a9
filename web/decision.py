"""A pod's scheduling decision, read back from the annotations kube-scheduler leaves on it.

``kubeglass.io/filter-result`` says, per node, what each filter plugin answered (``passed`` or
the reason it rejected the node); ``score-result`` holds each score plugin's raw score,
``finalscore-result`` the normalised score times the plugin's weight; ``selected-node`` the
winner. The weights come from the scheduler's profile (the ``kube-scheduler-config``
ConfigMap when it parses, upstream's defaults otherwise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FILTER_RESULT = "kubeglass.io/filter-result"
SCORE_RESULT = "kubeglass.io/score-result"
FINAL_SCORE_RESULT = "kubeglass.io/finalscore-result"
SELECTED_NODE = "kubeglass.io/selected-node"
PASSED = "passed"
MAX_NODE_SCORE = 100


@dataclass
class PluginScore:
    plugin: str
    raw: int
    weight: int
    final: int

    @property
    def normalised(self) -> int:
        return self.final // self.weight if self.weight else self.final

    @property
    def percent(self) -> float:
        """The bar's length: the final score against the most this plugin could give."""
        most = MAX_NODE_SCORE * max(self.weight, 1)
        return round(100.0 * max(0, min(self.final, most)) / most, 1)


@dataclass
class NodeVerdict:
    node: str
    filters: list[tuple[str, str]] = field(default_factory=list)
    scores: list[PluginScore] = field(default_factory=list)
    evaluated: bool = True
    winner: bool = False

    @property
    def rejected_by(self) -> tuple[str, str] | None:
        for plugin, result in self.filters:
            if result != PASSED:
                return plugin, result
        return None

    @property
    def feasible(self) -> bool:
        return self.evaluated and self.rejected_by is None

    @property
    def total(self) -> int:
        return sum(s.final for s in self.scores)


@dataclass
class Decision:
    pod: str
    selected: str
    nodes: list[NodeVerdict]
    weights: dict[str, int]

    @property
    def best_total(self) -> int:
        return max((n.total for n in self.nodes if n.feasible), default=0)

    @property
    def filter_plugins(self) -> list[str]:
        seen: dict[str, None] = {}
        for n in self.nodes:
            for plugin, _ in n.filters:
                seen.setdefault(plugin)
        return list(seen)

    @property
    def score_plugins(self) -> list[str]:
        seen: dict[str, None] = {}
        for n in self.nodes:
            for s in n.scores:
                seen.setdefault(s.plugin)
        return list(seen)


def _load(annotations: dict[str, str], key: str) -> dict[str, dict[str, str]]:
    try:
        value = json.loads(annotations.get(key) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(text: Any) -> int:
    try:
        return int(float(str(text)))
    except ValueError:
        return 0


def weights_for(profile_text: str | None) -> dict[str, int]:
    from cluster.scheduler.profile import ProfileError, default_profile, load_profile

    if profile_text:
        try:
            return dict(load_profile(profile_text).score_weights)
        except (ProfileError, ValueError, KeyError, TypeError):
            pass
    return dict(default_profile().score_weights)


def from_pod(pod: dict[str, Any], node_names: list[str], weights: dict[str, int]) -> Decision | None:
    """The decision on ``pod``, every known node listed (those the scheduler never looked at as such)."""
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if FILTER_RESULT not in annotations and SELECTED_NODE not in annotations:
        return None
    filters = _load(annotations, FILTER_RESULT)
    raw = _load(annotations, SCORE_RESULT)
    final = _load(annotations, FINAL_SCORE_RESULT)
    selected = annotations.get(SELECTED_NODE) or ""
    order = list(dict.fromkeys([*node_names, *filters.keys(), *final.keys()]))
    nodes = []
    for name in order:
        verdict = NodeVerdict(name, evaluated=name in filters or name in final, winner=name == selected)
        verdict.filters = [(p, str(r)) for p, r in (filters.get(name) or {}).items()]
        for plugin, value in (final.get(name) or {}).items():
            verdict.scores.append(
                PluginScore(plugin, _int((raw.get(name) or {}).get(plugin, 0)), weights.get(plugin, 1), _int(value))
            )
        nodes.append(verdict)
    # Feasible nodes first, best total first; then the rejected, then those never evaluated.
    nodes.sort(key=lambda n: (not n.feasible, not n.evaluated, -n.total, n.node))
    return Decision(f"{meta.get('namespace', '')}/{meta.get('name', '')}", selected, nodes, weights)
