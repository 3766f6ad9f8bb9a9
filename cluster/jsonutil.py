"""Copying and (de)serialising Kubernetes JSON objects on the hot path.

Controllers copy cached objects before changing them (a cache is read-only); the
objects are plain JSON, so a copy need only walk dicts and lists. The store writes and
the informers read every object as JSON text, so that goes through orjson (3-4x faster
than the standard library), falling back to ``json`` for what orjson refuses
(integers beyond 64 bits).

Big bodies are stored packed (:func:`pack`): zlib's format at its fastest level (written by
ISA-L, which does it in under half zlib's time), base64, inside a one-key JSON object, so
the column still holds valid JSON. A scheduled pod carries the scheduler's decision over every
node it evaluated (tens of KB of very repetitive JSON), and every later write of the pod stores
it again, in the object row and in the watch log; packed, it is a twentieth of that, which is
most of what the end-to-end pipeline wrote to disk.

Big annotation values are packed one by one first (:func:`pack_body`), with the same one-key
object standing in for the string (an annotation value is always a string, so the object can
only be ours). Each is packed once per process and remembered both ways: the decision rides
along every later write of its pod unchanged, and its readers in this process get the very
string that was written, without decompressing it.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import zlib
from typing import Any, TypeVar

import orjson

try:
    # ISA-L writes zlib's format (not zlib's very bytes) at level 1 in well under half the time; the
    # scheduler's decision annotations make compression a few percent of every scheduled pod.
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - isal is in requirements.txt; zlib reads and writes the same format
    _zlib = zlib  # type: ignore[assignment]

T = TypeVar("T")
_ATOMS = frozenset({str, int, float, bool, type(None)})


def clone(value: T) -> T:
    # Exact types, not isinstance: decoded JSON holds only these, and a set lookup is cheaper.
    t = type(value)
    if t is dict:
        return {k: (v if type(v) in _ATOMS else clone(v)) for k, v in value.items()}  # type: ignore[attr-defined,return-value]
    if t is list:
        return [v if type(v) in _ATOMS else clone(v) for v in value]  # type: ignore[attr-defined,return-value]
    if t in _ATOMS:
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


def _deflate(data: bytes) -> bytes:
    """Compress at the fastest level; any zlib reader can inflate the result."""
    return _zlib.compress(data, 1)


def _inflate(data: bytes) -> bytes:
    return _zlib.decompress(data)


def pack(text: str) -> str:
    """The stored form of a body's JSON text: itself, or packed when it is big."""
    if len(text) <= PACK_OVER:
        return text
    return '{"' + PACKED + '":"' + base64.b64encode(_deflate(text.encode())).decode() + '"}'


def pack_body(body: dict[str, Any]) -> str:
    """The stored form of a body: big annotation values packed one by one, then :func:`pack`
    if what is left (leaving out the packed values, which would not shrink again) is still big."""
    meta = body.get("metadata")
    notes = meta.get("annotations") if type(meta) is dict else None
    if type(notes) is dict and any(type(v) is str and len(v) > PACK_OVER for v in notes.values()):
        notes = {k: _pack_value(v) if type(v) is str and len(v) > PACK_OVER else v for k, v in notes.items()}
        packed = sum(len(v[PACKED]) for v in notes.values() if type(v) is dict)
        text = dumps({**body, "metadata": {**meta, "annotations": notes}})  # type: ignore[dict-item]
        return text if len(text) - packed <= PACK_OVER else pack(text)
    return pack(dumps(body))


def unpack(value: Any) -> Any:
    """A stored body as decoded JSON, unpacked if it was packed (whole, or annotation by annotation)."""
    if type(value) is not dict:
        return value
    if len(value) == 1 and PACKED in value:
        value = orjson.loads(_inflate(base64.b64decode(value[PACKED])))
    meta = value.get("metadata")
    notes = meta.get("annotations") if type(meta) is dict else None
    if type(notes) is dict and any(type(v) is dict for v in notes.values()):
        meta["annotations"] = {  # type: ignore[index]
            k: _unpack_value(v[PACKED]) if type(v) is dict and len(v) == 1 and PACKED in v else v
            for k, v in notes.items()
        }
    return value


# Packed annotation values both ways (string -> packed text, packed text -> string), oldest first,
# within a budget of characters held (most strings are shared with the informer caches anyway).
MEMO_CHARS = 64 * 1024 * 1024
_packed: dict[str, str] = {}
_unpacked: dict[str, str] = {}
_held = 0
_memo_lock = threading.Lock()


def _remember(value: str, packed: str) -> None:
    global _held
    with _memo_lock:
        if value in _packed:
            return
        _packed[value] = packed
        _unpacked[packed] = value
        _held += len(value) + len(packed)
        while _held > MEMO_CHARS and _packed:
            old = next(iter(_packed))
            old_packed = _packed.pop(old)
            _unpacked.pop(old_packed, None)
            _held -= len(old) + len(old_packed)


def _pack_value(value: str) -> dict[str, str]:
    packed = _packed.get(value)
    if packed is None:
        packed = base64.b64encode(_deflate(value.encode())).decode()
        _remember(value, packed)
    return {PACKED: packed}


def _unpack_value(packed: str) -> str:
    value = _unpacked.get(packed)
    if value is None:
        value = _inflate(base64.b64decode(packed)).decode()
        _remember(value, packed)
    return value


def load_stored(raw: Any) -> Any:
    """A stored body as the database handed it back (text, or already decoded)."""
    return unpack(orjson.loads(raw) if isinstance(raw, str | bytes) else raw)
