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
    """Compact JSON with sorted keys, as the simulator's annotations are."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# JSON text of one node's inner map, by its values in sorted-plugin order. In a cluster of alike
# nodes most rows repeat, so a hundred-node decision joins a few cached pieces instead of
# building and encoding a hundred dicts per pod. Cleared when it grows past a bound.
_ROWS: dict[tuple[object, ...], str] = {}
_NAMES: dict[str, str] = {}
_BOUND = 65536


def _row(plugins: tuple[str, ...], values: tuple[object, ...]) -> str:
    """One node's inner map; scores (ints) are written as strings, as the simulator does."""
    key = (plugins, values)
    text = _ROWS.get(key)
    if text is None:
        if len(_ROWS) >= _BOUND:
            _ROWS.clear()
        text = _ROWS[key] = _dump(dict(zip(plugins, map(str, values), strict=True)))
    return text


def _name(node: str) -> str:
    text = _NAMES.get(node)
    if text is None:
        if len(_NAMES) >= _BOUND:
            _NAMES.clear()
        text = _NAMES[node] = orjson.dumps(node).decode()
    return text


def _join(rows: dict[str, str]) -> str:
    """``{"node": {...}, ...}`` with the nodes in sorted order, from each node's inner JSON."""
    return "{" + ",".join(f"{_name(n)}:{rows[n]}" for n in sorted(rows)) + "}"


def _scores(decision: Decision, weighted: bool) -> str:
    table = decision._table
    if table is None:
        return "{}"
    plugins = tuple(sorted(table.plugins))
    columns = [(table.weighted if weighted else table.raw)[p] for p in plugins]
    return _join(
        {
            n: _row(plugins, values)
            for n, values in zip(decision.feasible_nodes, zip(*columns, strict=True), strict=True)
        }
        if plugins
        else dict.fromkeys(decision.feasible_nodes, "{}")
    )


def _filters(decision: Decision) -> str:
    ordered = tuple(sorted(decision.filter_plugins))
    passed = _row(ordered, ("passed",) * len(ordered)) if ordered else ""
    rows: dict[str, str] = {}
    for node in decision._filtered_nodes:
        name = node.name
        if name not in decision._failures:
            if passed:
                rows[name] = passed
            continue
        rows[name] = _dump(decision.filter_result(name))
    return _join(rows)


def decision_annotations(decision: Decision) -> dict[str, str]:
    """The four annotations for a decision (``selected-node`` is empty when none was chosen).

    Written as text from the decision's compact tables; equal to encoding
    ``filter_results``/``raw_scores``/``final_scores`` with sorted keys and scores as strings.
    """
    return {
        FILTER_RESULT: _filters(decision),
        SCORE_RESULT: _scores(decision, weighted=False),
        FINAL_SCORE_RESULT: _scores(decision, weighted=True),
        SELECTED_NODE: decision.selected_node or "",
    }
