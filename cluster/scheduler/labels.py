"""Label selectors as apimachinery evaluates them, compiled once per object.

Two entry points matter to the scheduler: ``metav1.LabelSelectorAsSelector`` (pod affinity
terms, topology spread constraints; note nil selects *nothing* while ``{}`` selects
*everything*) and node selector requirements (``In``/``NotIn``/``Exists``/``DoesNotExist``/
``Gt``/``Lt``) used by node affinity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Requirement: (key, operator, values).  Operators are upstream's selection.Operator names.
Requirement = tuple[str, str, frozenset[str]]

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class SelectorError(ValueError):
    """A selector that upstream would refuse to parse."""


def is_qualified_name(name: str) -> bool:
    """``validation.IsQualifiedName``: optional DNS-subdomain prefix, '/', and a 63-char name."""
    if "/" in name:
        prefix, _, short = name.partition("/")
        if "/" in short or not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix):
            return False
    else:
        short = name
    return 0 < len(short) <= 63 and bool(_QUALIFIED_NAME.match(short))


def _check_value(value: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise SelectorError(
            f'Invalid value: "{value}": a valid label must be an empty string or consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )


def _parse_int(value: str) -> int | None:
    try:
        return int(value, 10)
    except ValueError:
        return None


class Selector:
    """A conjunction of requirements; ``nothing`` selects no label set at all."""

    __slots__ = ("nothing", "requirements")

    def __init__(self, requirements: Sequence[Requirement] = (), nothing: bool = False) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(requirements)
        self.nothing = nothing

    @property
    def empty(self) -> bool:
        """``Selector.Empty()``: true for the match-everything selector (and false for nothing)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies every requirement."""
        if self.nothing:
            return False
        for key, op, values in self.requirements:
            if op == "In":
                v = labels.get(key)
                if v is None or v not in values:
                    return False
            elif op == "NotIn":
                v = labels.get(key)
                if v is not None and v in values:
                    return False
            elif op == "Exists":
                if key not in labels:
                    return False
            elif op == "DoesNotExist":
                if key in labels:
                    return False
            elif op in ("Gt", "Lt"):
                v = labels.get(key)
                if v is None:
                    return False
                have = _parse_int(v)
                if have is None:
                    return False
                want = int(next(iter(values)))
                if (op == "Gt" and not have > want) or (op == "Lt" and not have < want):
                    return False
        return True

    def with_requirements(self, extra: Sequence[Requirement]) -> Selector:
        """A copy with more requirements ANDed in (``Selector.Add``)."""
        if self.nothing:
            return self
        return Selector(self.requirements + tuple(extra))

    def __repr__(self) -> str:
        if self.nothing:
            return "Selector(nothing)"
        return f"Selector({list(self.requirements)!r})"


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def selector_from_set(labels: Mapping[str, str]) -> Selector:
    """``labels.SelectorFromSet``: equality on every key."""
    return Selector(sorted((k, "In", frozenset((v,))) for k, v in labels.items()))


def _requirement(key: str, op: str, values: Sequence[str]) -> Requirement:
    if not is_qualified_name(key):
        raise SelectorError(f'Invalid value: "{key}": name part must consist of alphanumeric characters')
    if op in ("In", "NotIn"):
        if not values:
            raise SelectorError(f"key {key}: for 'in', 'notin' operators, values set can't be empty")
    elif op in ("Exists", "DoesNotExist"):
        if values:
            raise SelectorError(f"key {key}: values set must be empty for exists and does not exist")
    elif op in ("Gt", "Lt"):
        if len(values) != 1 or _parse_int(values[0]) is None:
            raise SelectorError(f"key {key}: for 'Gt', 'Lt' operators, exactly one integer value is required")
    else:
        raise SelectorError(f"{op!r} is not a valid label selector operator")
    for v in values:
        _check_value(v)
    return (key, op, frozenset(values))


# Parsed selectors by their content: the scheduler parses the same few (a ReplicaSet's, a
# spread constraint's) for every pod, and parsing checks every key and value against patterns.
_PARSED: dict[tuple[Any, ...], Selector] = {}
_PARSED_MAX = 4096


def label_selector_as_selector(selector: Mapping[str, Any] | None) -> Selector:
    """``metav1.LabelSelectorAsSelector``: nil -> nothing, ``{}`` -> everything."""
    if selector is None:
        return NOTHING
    match_labels = selector.get("matchLabels") or {}
    match_expressions = selector.get("matchExpressions") or []
    if not match_labels and not match_expressions:
        return EVERYTHING
    try:
        key: tuple[Any, ...] | None = (
            tuple(match_labels.items()),
            tuple((e.get("key"), e.get("operator"), tuple(e.get("values") or ())) for e in match_expressions),
        )
        found = _PARSED.get(key)  # type: ignore[arg-type]
    except (AttributeError, TypeError):  # not the shape a selector has: parse it for the error
        key, found = None, None
    if found is not None:
        return found
    parsed = _parse_label_selector(match_labels, match_expressions)
    if key is not None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = parsed
    return parsed


def _parse_label_selector(match_labels: Mapping[str, Any], match_expressions: Sequence[Any]) -> Selector:
    reqs: list[Requirement] = []
    for k, v in match_labels.items():
        reqs.append(_requirement(k, "In", [v]))
    for expr in match_expressions:
        op = expr.get("operator", "")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f'"{op}" is not a valid label selector operator')
        reqs.append(_requirement(expr.get("key", ""), op, list(expr.get("values") or [])))
    reqs.sort(key=lambda r: r[0])
    return Selector(reqs)


def node_selector_requirements(exprs: Sequence[Mapping[str, Any]]) -> Selector:
    """``nodeSelectorRequirementsAsSelector``: matchExpressions of a node selector term.

    An empty list selects nothing, as upstream.
    """
    if not exprs:
        return NOTHING
    reqs: list[Requirement] = []
    for expr in exprs:
        op = expr.get("operator", "")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
            raise SelectorError(
                f'Unsupported value: "{op}": supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"'
            )
        reqs.append(_requirement(expr.get("key", ""), op, list(expr.get("values") or [])))
    return Selector(reqs)
