"""Copying and (de)serialising Kubernetes JSON objects on the hot path.

Controllers copy cached objects before changing them (a cache is read-only); the
objects are plain JSON, so a copy need only walk dicts and lists. The store writes and
the informers read every object as JSON text, so that goes through orjson (3-4x faster
than the standard library), falling back to ``json`` for what orjson refuses
(integers beyond 64 bits).

Big bodies are stored packed (:func:`pack`): zlib at its fastest level, base64, inside a
one-key JSON object, so the column still holds valid JSON. A scheduled pod carries the
scheduler's decision over every node it evaluated (tens of KB of very repetitive JSON), and
every later write of the pod stores it again, in the object row and in the watch log; packed,
it is a twentieth of that, which is most of what the end-to-end pipeline wrote to disk.
"""

from __future__ import annotations

import base64
import copy
import json
import zlib
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


PACKED = "kubeglass.io/zlib"
"""The one key of a packed body. No stored object is a one-key map: they all carry metadata."""
PACK_OVER = 4096
"""Bodies longer than this many characters are stored packed."""


def pack(text: str) -> str:
    """The stored form of a body's JSON text: itself, or packed when it is big."""
    if len(text) <= PACK_OVER:
        return text
    return '{"' + PACKED + '":"' + base64.b64encode(zlib.compress(text.encode(), 1)).decode() + '"}'


def unpack(value: Any) -> Any:
    """A stored body as decoded JSON, unpacked if it was packed."""
    if type(value) is dict and len(value) == 1 and PACKED in value:
        return orjson.loads(zlib.decompress(base64.b64decode(value[PACKED])))
    return value


def load_stored(raw: Any) -> Any:
    """A stored body as the database handed it back (text, or already decoded)."""
    return unpack(orjson.loads(raw) if isinstance(raw, str | bytes) else raw)
