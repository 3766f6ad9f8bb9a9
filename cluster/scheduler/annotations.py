"""Scheduling results as pod annotations, in kube-scheduler-simulator's shape.

The simulator (``kube-scheduler-simulator.sigs.k8s.io/...``) stores JSON maps
``node -> plugin -> "passed"|reason`` (filter), ``node -> plugin -> "score"`` (score,
finalscore; numbers as strings) and the selected node name.  We use the ``kubeglass.io/``
prefix.  Plugins a PreFilter/PreScore skipped do not appear, as they never ran.
"""

from __future__ import annotations

from itertools import compress
from operator import ne
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


# A score table's JSON text is built from one template per node row, for one list of nodes and
# one set of plugins, with a ``%s`` hole per score. From one pod to the next most scores stay
# as they were (only the node the last pod went to changes, until a normalization's minimum or
# maximum moves), so each layout keeps its last table, raw and weighted: a plugin whose scores
# all match costs one list comparison, and only the rows that moved are formatted again. The
# filter table is kept whole: its rows only say which nodes failed and why, which rarely
# changes from one pod to the next.
_LAYOUTS = _Texts(4 * 1024 * 1024)
_FILTERS = _Texts(4 * 1024 * 1024)


class _Layout:
    """One (nodes, plugins) table shape: row templates, where each node's row goes, and the last
    table written in this shape (its score columns and row texts), raw and weighted apart."""

    __slots__ = ("formatted", "last", "order", "slot", "templates")

    def __init__(self, nodes: tuple[str, ...], plugins: tuple[str, ...]) -> None:
        self.order = tuple(sorted(range(len(nodes)), key=nodes.__getitem__))
        self.slot = [0] * len(nodes)
        for position, i in enumerate(self.order):
            self.slot[i] = position
        # JSON strings with ``%`` doubled, so formatting leaves them as they are.
        names = [orjson.dumps(n).decode().replace("%", "%%") for n in (*plugins, *nodes)]
        inner = "{" + ",".join(f'{name}:"%s"' for name in names[: len(plugins)]) + "}"
        self.templates = tuple(f"{name}:{inner}" for name in names[len(plugins) :])
        self.last: dict[bool, tuple[list[list[int]], list[str], str]] = {}
        self.formatted = 0

    def text(self, columns: list[list[int]], weighted: bool) -> str:
        last = self.last.get(weighted)
        if last is None:
            rows = list(zip(*columns, strict=True))
            texts = [self.templates[i] % rows[i] for i in self.order]
            self.formatted += len(texts)
        else:
            last_columns, last_texts, last_text = last
            moved: set[int] = set()
            for new, old in zip(columns, last_columns, strict=True):
                if new != old:
                    moved.update(compress(range(len(new)), map(ne, new, old)))
            if not moved:
                return last_text
            texts = last_texts.copy()
            for i in moved:
                texts[self.slot[i]] = self.templates[i] % tuple(column[i] for column in columns)
            self.formatted += len(moved)
        text = "{" + ",".join(texts) + "}"
        self.last[weighted] = ([list(c) for c in columns], texts, text)
        return text


def _layout(nodes: tuple[str, ...], plugins: tuple[str, ...]) -> _Layout:
    key = (nodes, plugins)
    found = _LAYOUTS.get(key)
    if found is None:
        found = _Layout(nodes, plugins)
        # What it holds: its templates, and for each of its two last tables the row texts and
        # their join, each about the templates' size.
        _LAYOUTS.put(key, found, 5 * sum(map(len, found.templates)))
    return found


def _scores(decision: Decision, weighted: bool) -> str:
    """node -> plugin -> score; scores (ints) are written as strings, as the simulator does."""
    table = decision._table
    if table is None:
        return "{}"
    plugins = tuple(sorted(table.plugins))
    nodes = tuple(decision.feasible_nodes)
    layout = _layout(nodes, plugins)
    if not plugins:
        # No holes, but the doubled ``%`` still has to be undone.
        return "{" + ",".join([layout.templates[i] % () for i in layout.order]) + "}"
    by_plugin = table.weighted if weighted else table.raw
    columns = [by_plugin[p] for p in plugins]
    if any(len(column) != len(nodes) for column in columns):
        raise ValueError(f"score rows do not match the {len(nodes)} feasible nodes")
    return layout.text(columns, weighted)


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
