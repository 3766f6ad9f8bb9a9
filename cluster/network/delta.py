"""What changed between two snapshots of one cluster: the keys of the objects added, removed or modified.

Revisions usually differ by a handful of objects (one pod rescheduled, one
EndpointSlice rewritten), so an index, a graph or a rule set can be derived from
an older revision's by redoing only the parts those objects feed.  A diff costs
one pass over the objects: an identity check first (objects carried over from the
older snapshot are the very same dicts), then ``==`` only where that fails.

When the two snapshots cannot be compared key by key (an object kind with
duplicate keys, unchanged objects in a different relative order, or most objects
changed), :func:`diff` returns ``None`` and callers build from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.network.snapshot import Snapshot

Raw = dict[str, Any]


def _meta(obj: Raw) -> Raw:
    return obj.get("metadata") or {}


def namespaced_key(obj: Raw) -> str:
    """``<namespace>/<name>``, defaults as for a pod's key in the index."""
    meta = _meta(obj)
    return f"{meta.get('namespace') or 'default'}/{meta.get('name') or ''}"


def name_key(obj: Raw) -> str:
    return str(_meta(obj).get("name") or "")


@dataclass(frozen=True, slots=True)
class KindDelta:
    """The changes to one kind of object."""

    changed: frozenset[str]
    """Keys of objects added, removed or modified."""
    old: dict[str, Raw]
    """Key -> object in the older snapshot, for the changed keys it had."""
    new: dict[str, Raw]
    """Key -> object in the newer snapshot, for the changed keys it has."""
    keys: tuple[str, ...] | None
    """Every key of the newer snapshot in its order, or ``None`` when the keys kept their places."""

    def __bool__(self) -> bool:
        return bool(self.changed)


_UNCHANGED = KindDelta(frozenset(), {}, {}, None)


@dataclass(frozen=True, slots=True)
class Delta:
    nodes: KindDelta
    pods: KindDelta
    services: KindDelta
    endpointslices: KindDelta
    networkpolicies: KindDelta
    namespaces: KindDelta

    @property
    def size(self) -> int:
        return sum(
            len(k.changed)
            for k in (self.nodes, self.pods, self.services, self.endpointslices, self.networkpolicies, self.namespaces)
        )


MAX_FRACTION = 0.25
"""Past this share of changed objects (per kind), deriving is no cheaper than building afresh."""


def _in_place(old: tuple[Raw, ...], new: tuple[Raw, ...], key: Callable[[Raw], str]) -> KindDelta | None:
    """The fast path: same length, and objects that are not the very same dict keep their key."""
    if len(old) != len(new):
        return None
    moved = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a is not b]
    if len(moved) > max(8, len(new) * MAX_FRACTION):
        return None
    changed: dict[str, tuple[Raw, Raw]] = {}
    for i in moved:
        k = key(new[i])
        if key(old[i]) != k or k in changed:
            return None
        if old[i] != new[i]:
            changed[k] = (old[i], new[i])
    if not changed:
        return _UNCHANGED
    return KindDelta(
        frozenset(changed), {k: v[0] for k, v in changed.items()}, {k: v[1] for k, v in changed.items()}, None
    )


def _by_key(old: tuple[Raw, ...], new: tuple[Raw, ...], key: Callable[[Raw], str]) -> KindDelta | None:
    """The general path: match objects by key; ``None`` on duplicate keys or a reordering."""
    old_map = {key(o): o for o in old}
    new_map = {key(o): o for o in new}
    if len(old_map) != len(old) or len(new_map) != len(new):
        return None
    changed = {
        k for k in old_map.keys() | new_map.keys() if (a := old_map.get(k)) is not (b := new_map.get(k)) and a != b
    }
    if len(changed) > max(8, len(new) * MAX_FRACTION):
        return None
    if [k for k in old_map if k not in changed] != [k for k in new_map if k not in changed]:
        return None  # unchanged objects in another order: positions would have to be worked out anew
    keys = tuple(new_map)
    return KindDelta(
        frozenset(changed),
        {k: old_map[k] for k in changed if k in old_map},
        {k: new_map[k] for k in changed if k in new_map},
        None if keys == tuple(old_map) else keys,
    )


def diff_kind(old: tuple[Raw, ...], new: tuple[Raw, ...], key: Callable[[Raw], str]) -> KindDelta | None:
    if old is new:
        return _UNCHANGED
    found = _in_place(old, new, key)
    return found if found is not None else _by_key(old, new, key)


def diff(old: Snapshot, new: Snapshot) -> Delta | None:
    """The changes from ``old`` to ``new`` (same cluster and configuration), or ``None`` to rebuild."""
    kinds = (
        diff_kind(old.nodes, new.nodes, name_key),
        diff_kind(old.pods, new.pods, namespaced_key),
        diff_kind(old.services, new.services, namespaced_key),
        diff_kind(old.endpointslices, new.endpointslices, namespaced_key),
        diff_kind(old.networkpolicies, new.networkpolicies, namespaced_key),
        diff_kind(old.namespaces, new.namespaces, name_key),
    )
    if any(k is None for k in kinds):
        return None
    return Delta(*kinds)  # type: ignore[arg-type]
