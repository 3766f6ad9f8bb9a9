"""Scheduling results as pod annotations, in kube-scheduler-simulator's shape.

The simulator (``kube-scheduler-simulator.sigs.k8s.io/...``) stores JSON maps
``node -> plugin -> "passed"|reason`` (filter), ``node -> plugin -> "score"`` (score,
finalscore; numbers as strings) and the selected node name.  We use the ``kubeglass.io/``
prefix.  Plugins a PreFilter/PreScore skipped do not appear, as they never ran.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

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


class _Texts:
    """Texts by key within a budget of characters; forgets everything when it runs over.

    In a cluster whose nodes stay put the same few keys come back for every pod; a big cluster
    that scores a rotating sample of its nodes never repeats one, so only the budget matters.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self.texts: dict[object, Any] = {}

    def get(self, key: object) -> Any:
        return self.texts.get(key)

    def put(self, key: object, value: Any, chars: int) -> None:
        if self.held + chars > self.budget:
            self.texts.clear()
            self.held = 0
        self.texts[key] = value
        self.held += chars


# A whole score table's JSON text for one list of nodes and one set of plugins, laid out in
# sorted order with a ``%s`` hole per score: a hundred-node table is then one format in C
# instead of a hundred joined pieces. The filter table is kept whole: its rows only say which
# nodes failed and why, which rarely changes from one pod to the next.
_LAYOUTS = _Texts(4 * 1024 * 1024)
_FILTERS = _Texts(4 * 1024 * 1024)


def _layout(nodes: tuple[str, ...], plugins: tuple[str, ...]) -> tuple[tuple[int, ...], str]:
    """The nodes' order when sorted by name, and the table's template in that order."""
    key = (nodes, plugins)
    found = _LAYOUTS.get(key)
    if found is None:
        order = tuple(sorted(range(len(nodes)), key=nodes.__getitem__))
        # JSON strings with ``%`` doubled, so formatting leaves them as they are.
        names = [orjson.dumps(n).decode().replace("%", "%%") for n in (*plugins, *nodes)]
        inner = "{" + ",".join(f'{name}:"%s"' for name in names[: len(plugins)]) + "}"
        text = "{" + ",".join(f"{names[len(plugins) + i]}:{inner}" for i in order) + "}"
        found = (order, text)
        _LAYOUTS.put(key, found, len(text))
    return found


def _scores(decision: Decision, weighted: bool) -> str:
    """node -> plugin -> score; scores (ints) are written as strings, as the simulator does."""
    table = decision._table
    if table is None:
        return "{}"
    plugins = tuple(sorted(table.plugins))
    nodes = tuple(decision.feasible_nodes)
    order, text = _layout(nodes, plugins)
    if not plugins:
        return text % ()  # no holes, but the doubled ``%`` still has to be undone
    by_plugin = table.weighted if weighted else table.raw
    rows = list(zip(*(by_plugin[p] for p in plugins), strict=True))
    if len(rows) != len(nodes):
        raise ValueError(f"{len(rows)} score rows for {len(nodes)} feasible nodes")
    return text % tuple(chain.from_iterable([rows[i] for i in order]))


def _filters(decision: Decision) -> str:
    """node -> plugin -> ``"passed"`` or the reason, for every node the filters saw."""
    names = tuple(node.name for node in decision._filtered_nodes)
    failures = decision._failures
    failed = tuple(sorted((n, i, s.plugin, s.message) for n, (i, s) in failures.items()))
    key = (names, decision.filter_plugins, failed)
    text = _FILTERS.get(key)
    if text is None:
        ordered = sorted(decision.filter_plugins)
        passed = orjson.Fragment(_dump(dict.fromkeys(ordered, "passed")))
        rows = {
            n: orjson.Fragment(_dump(decision.filter_result(n))) if n in failures else passed
            for n in names
            if ordered or n in failures
        }
        text = _dump(rows)
        _FILTERS.put(key, text, len(text))
    return text


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
