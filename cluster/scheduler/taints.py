"""Taints and tolerations, matched as ``v1.Toleration.ToleratesTaint`` does in v1.32."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple


class Taint(NamedTuple):
    """A node taint: key, value, effect."""

    key: str
    value: str
    effect: str


class Toleration(NamedTuple):
    """A pod toleration; an empty operator means ``Equal``."""

    key: str
    operator: str
    value: str
    effect: str


TAINT_NODE_UNSCHEDULABLE = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")


def parse_taints(raw: Iterable[Mapping[str, Any]] | None) -> tuple[Taint, ...]:
    """Node ``spec.taints`` as tuples."""
    return tuple(Taint(t.get("key", ""), t.get("value", "") or "", t.get("effect", "") or "") for t in raw or ())


def parse_tolerations(raw: Iterable[Mapping[str, Any]] | None) -> tuple[Toleration, ...]:
    """Pod ``spec.tolerations`` as tuples."""
    return tuple(
        Toleration(
            t.get("key", "") or "", t.get("operator", "") or "", t.get("value", "") or "", t.get("effect", "") or ""
        )
        for t in raw or ()
    )


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """``Toleration.ToleratesTaint``: empty effect/key are wildcards; Exists ignores the value."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator in ("", "Equal"):
        return toleration.value == taint.value
    return toleration.operator == "Exists"


def tolerations_tolerate_taint(tolerations: Sequence[Toleration], taint: Taint) -> bool:
    """``TolerationsTolerateTaint``: any toleration matches."""
    for t in tolerations:
        if tolerates(t, taint):
            return True
    return False


def find_untolerated_taint(taints: Sequence[Taint], tolerations: Sequence[Toleration]) -> Taint | None:
    """First taint (in node order) that no toleration tolerates, or None."""
    for taint in taints:
        if not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None
