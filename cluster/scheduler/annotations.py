"""Scheduling results as pod annotations, in kube-scheduler-simulator's shape.

The simulator (``kube-scheduler-simulator.sigs.k8s.io/...``) stores JSON maps
``node -> plugin -> "passed"|reason`` (filter), ``node -> plugin -> "score"`` (score,
finalscore; numbers as strings) and the selected node name.  We use the ``kubeglass.io/``
prefix.  Plugins a PreFilter/PreScore skipped do not appear, as they never ran.
"""

from __future__ import annotations

import orjson

from .schedule_one import Decision

PREFIX = "kubeglass.io/"
FILTER_RESULT = PREFIX + "filter-result"
SCORE_RESULT = PREFIX + "score-result"
FINAL_SCORE_RESULT = PREFIX + "finalscore-result"
SELECTED_NODE = PREFIX + "selected-node"


def _dump(value: object) -> str:
    """Compact JSON with sorted keys (orjson: these maps are a hundred nodes wide, written per pod)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def decision_annotations(decision: Decision) -> dict[str, str]:
    """The four annotations for a decision (``selected-node`` is empty when none was chosen)."""
    return {
        FILTER_RESULT: _dump(decision.filter_results),
        SCORE_RESULT: _dump({n: {p: str(s) for p, s in scores.items()} for n, scores in decision.raw_scores.items()}),
        FINAL_SCORE_RESULT: _dump(
            {n: {p: str(s) for p, s in scores.items()} for n, scores in decision.final_scores.items()}
        ),
        SELECTED_NODE: decision.selected_node or "",
    }
