"""Copying and (de)serialising Kubernetes JSON objects on the hot path.

Controllers copy cached objects before changing them (a cache is read-only); the
objects are plain JSON, so a copy need only walk dicts and lists. The store writes and
the informers read every object as JSON text, so that goes through orjson (3-4x faster
than the standard library), falling back to ``json`` for what orjson refuses
(integers beyond 64 bits).
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypeVar

import orjson

T = TypeVar("T")
_ATOMS = (str, int, float, bool, type(None))


def clone(value: T) -> T:
    if isinstance(value, dict):
        return {k: (v if isinstance(v, _ATOMS) else clone(v)) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [v if isinstance(v, _ATOMS) else clone(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, _ATOMS):
        return value
    return copy.deepcopy(value)


def dumps(value: Any) -> str:
    """Compact JSON text, as ``json.dumps(value, separators=(",", ":"))`` would write it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)
