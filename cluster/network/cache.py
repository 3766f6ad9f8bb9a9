"""Per-revision memoisation of everything derived from a snapshot.

A revision identifies a cluster state, so derived data (indexes, graphs, route
tables, iptables rules) is computed once per ``(cluster, revision)`` and shared by
every walk of that revision.  Values stored here are shared between callers and
must never be mutated; builders return fresh objects and callers treat them as
read-only (the graph is additionally frozen).

A new revision usually differs from the last one by a few objects, so builders can
also start from what an older cached revision of the same cluster (and configuration)
holds: :func:`memo_reuse` hands back the value another revision built from the very
same input objects (a node's routing table when neither the nodes nor that node's
pods changed), and :func:`previous` finds an older revision's value to derive a new
one from (the index, the graph, kube-proxy's rules).  A derived value is a new object
that may share the unchanged parts of the older one; nothing shared is ever mutated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cluster.network.snapshot import Snapshot

T = TypeVar("T")

MAX_REVISIONS = 4
"""How many revisions stay cached; the UI walks the newest one or two."""

_lock = threading.RLock()
_entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()


class _Entry:
    __slots__ = ("snap", "values")

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.values: dict[Hashable, Any] = {}


_last: tuple[Snapshot | None, _Entry | None] = (None, None)
"""The entry used last, found without the lock: a walk asks for dozens of values of one snapshot."""


def _entry(snap: Snapshot) -> _Entry:
    global _last
    last_snap, last_entry = _last
    if last_snap is snap and last_entry is not None:
        return last_entry
    key = (snap.cluster, snap.revision)
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry.snap is not snap:
            # Same revision, different object: trust it only if it is the same state
            # (a deep comparison, still far cheaper than rebuilding).
            if entry.snap == snap:
                entry.snap = snap
            else:
                entry = None
        if entry is None:
            entry = _Entry(snap)
            _entries[key] = entry
        _entries.move_to_end(key)
        while len(_entries) > MAX_REVISIONS:
            _entries.popitem(last=False)
        _last = (snap, entry)
        return entry


def memo(snap: Snapshot, key: Hashable, build: Callable[[], T]) -> T:
    """Return the value cached for ``key`` at this snapshot's revision, building it once."""
    entry = _entry(snap)
    try:
        return entry.values[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    value = build()
    with _lock:
        return entry.values.setdefault(key, value)  # type: ignore[no-any-return]


def config(snap: Snapshot) -> tuple[str, str, int, str, str, str]:
    """What every derived value depends on besides the objects; revisions differing here share nothing."""
    return (snap.cluster, snap.cni, snap.seed, snap.pod_cidr, snap.service_cidr, snap.node_cidr)


def _others(snap: Snapshot, entry: _Entry) -> list[_Entry]:
    """Other cached revisions of the same cluster and configuration, most recently used first."""
    want = config(snap)
    with _lock:
        return [e for e in reversed(_entries.values()) if e is not entry and config(e.snap) == want]


def previous(snap: Snapshot, key: Hashable) -> tuple[Snapshot, Any] | None:
    """Another cached revision's ``(snapshot, value)`` for ``key``, to derive this revision's value from."""
    entry = _entry(snap)
    for other in _others(snap, entry):
        if key in other.values:
            return other.snap, other.values[key]
    return None


_NOT_FOUND = object()


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def memo_reuse(snap: Snapshot, key: Hashable, deps: tuple[Any, ...], build: Callable[[], T]) -> T:
    """:func:`memo`, but reusing the value another cached revision built from the same ``deps``.

    ``deps`` are the objects the value is computed from (an index's node table, one
    node's pod list...).  Derived indexes share unchanged parts between revisions, so
    "the very same objects" (compared with ``is``, which is cheap and cannot be fooled)
    means the value would come out the same.
    """
    entry = _entry(snap)
    found = entry.values.get(key)
    if found is not None:
        if _same(found[0], deps):
            return found[1]  # type: ignore[no-any-return]
        return build()  # one revision, two inputs under one key (duplicate objects): not worth caching
    value: Any = _NOT_FOUND
    for other in _others(snap, entry):
        hit = other.values.get(key)
        if hit is not None and _same(hit[0], deps):
            value = hit[1]
            break
    if value is _NOT_FOUND:
        value = build()
    with _lock:
        return entry.values.setdefault(key, (deps, value))[1]  # type: ignore[no-any-return]


def clear() -> None:
    """Forget every cached revision (tests and benchmarks use this)."""
    global _last
    with _lock:
        _entries.clear()
        _last = (None, None)
