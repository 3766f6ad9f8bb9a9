"""ControllerRevisions: the history of a StatefulSet or DaemonSet (upstream ``pkg/controller/history``).

Both controllers snapshot the part of their spec that pods are made from (``spec.template``)
into ``apps/v1 ControllerRevision`` objects they own. A revision's ``data`` is a strategic
merge patch that puts that template back (``{"spec":{"template":{..., "$patch":"replace"}}}``),
and ``revision`` orders the snapshots. kubectl works from these objects alone: ``rollout
history`` lists the revisions a workload controls, and ``rollout undo`` sends the chosen
revision's ``data`` back as a patch. This module holds what the two controllers share:
naming and hashing, ordering, equality, and the create-with-collision-probe loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.api.patch import kind_schema, strategic_merge_patch
from cluster.api.rawextension import sorted_keys
from cluster.api.selectors import match_label_selector
from cluster.controlplane.controller import Context
from cluster.controlplane.controllers.replicaset import (
    claim,
    controller_of,
    go_json,
    hash_controller_revision,
    labels_of,
    new_controller_ref,
    selector_is_empty,
    template_patch,
    ts_epoch,
)
from cluster.jsonutil import clone

GROUP = "apps"
KIND = "ControllerRevision"
API_VERSION = "apps/v1"
# history.ControllerRevisionHashLabel: the hash a revision was named with.
HASH_LABEL = "controller.kubernetes.io/hash"
# RevisionHistoryLimit's default in apps/v1 (the API server fills it in; older objects may lack it).
DEFAULT_HISTORY_LIMIT = 10
# CreateControllerRevision probes new names until one is free; upstream loops without bound.
MAX_PROBES = 100


# ----------------------------------------------------------------------------- names and hashes
def revision_name(prefix: str, digest: str) -> str:
    """ControllerRevisionName: ``<prefix>-<hash>``, the prefix cut to 223 bytes so the name fits 253."""
    return f"{prefix[:223]}-{digest}"


def hash_revision(data: dict[str, Any], probe: int | None) -> str:
    """HashControllerRevision over the JSON bytes the controller would store as ``data``."""
    return hash_controller_revision(go_json(data), probe)


def canonical(value: Any) -> Any:
    """``value`` with every object's keys in sorted order, as Go's encoding/json writes a map.

    Stored that way, ``data`` is served byte for byte as upstream's ``Data.Raw``, which kubectl
    compares with its own rendering of the workload to tell that an undo changes nothing.
    """
    return sorted_keys(value)


def number(revision: dict[str, Any]) -> int:
    """The revision's ``revision`` (its place in the history)."""
    return int(revision.get("revision") or 0)


def data_bytes(revision: dict[str, Any]) -> bytes:
    """The revision's ``data`` as the bytes upstream compares (``Data.Raw``)."""
    return go_json(revision.get("data"))


# ----------------------------------------------------------------------------- ordering and equality
def sort_revisions(revisions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """SortControllerRevisions: by revision, ties broken by creation time, then by name."""

    def key(rev: dict[str, Any]) -> tuple[int, float, str]:
        created = ts_epoch(rev["metadata"].get("creationTimestamp")) or 0.0
        return number(rev), created, rev["metadata"]["name"]

    return sorted(revisions, key=key)


def _numeric_hash(revision: dict[str, Any]) -> int | None:
    """The hash label read as a 32-bit decimal, as EqualRevision does (safe-encoded hashes rarely parse)."""
    text = labels_of(revision).get(HASH_LABEL)
    if text is None:
        return None
    try:
        value = int(text, 10)
    except ValueError:
        return None
    return value & 0xFFFFFFFF if -(2**31) <= value < 2**31 else None


def equal_revision(lhs: dict[str, Any] | None, rhs: dict[str, Any] | None) -> bool:
    """EqualRevision: both absent, or the same data (and no contradicting hash labels)."""
    if lhs is None or rhs is None:
        return lhs is rhs
    lh, rh = _numeric_hash(lhs), _numeric_hash(rhs)
    if lh is not None and rh is not None and lh != rh:
        return False
    return data_bytes(lhs) == data_bytes(rhs)


def find_equal_revisions(revisions: list[dict[str, Any]], needle: dict[str, Any]) -> list[dict[str, Any]]:
    """FindEqualRevisions: every revision equal to ``needle``, in the given order."""
    return [rev for rev in revisions if equal_revision(rev, needle)]


def matches(owner: dict[str, Any], revision: dict[str, Any]) -> bool:
    """Match (daemon/update.go): the revision holds exactly the owner's current template."""
    return go_json(template_patch(owner)) == data_bytes(revision)


def history_limit(owner: dict[str, Any]) -> int:
    """spec.revisionHistoryLimit: how many revisions beyond the live ones to keep."""
    value = (owner.get("spec") or {}).get("revisionHistoryLimit")
    return DEFAULT_HISTORY_LIMIT if value is None else int(value)


# ----------------------------------------------------------------------------- building and applying
def new_controller_revision(
    parent: dict[str, Any],
    template_labels: dict[str, str] | None,
    data: dict[str, Any],
    revision: int,
    collision_count: int | None,
) -> dict[str, Any]:
    """NewControllerRevision: owned by ``parent``, labelled like its pods plus the hash, named ``<parent>-<hash>``."""
    digest = hash_revision(data, collision_count)
    meta = parent["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": revision_name(meta["name"], digest),
            "namespace": meta["namespace"],
            "labels": {**(template_labels or {}), HASH_LABEL: digest},
            "ownerReferences": [new_controller_ref(parent)],
        },
        "data": canonical(data),
        "revision": revision,
    }


def apply_revision(obj: dict[str, Any], revision: dict[str, Any]) -> dict[str, Any]:
    """ApplyRevision: ``obj`` as it was at ``revision``, by applying the revision's patch to a copy."""
    schema = kind_schema(obj.get("apiVersion") or API_VERSION, obj.get("kind") or "")
    return strategic_merge_patch(obj, revision.get("data") or {}, schema)


# ----------------------------------------------------------------------------- reading and writing
def list_controller_revisions(ctx: Context, parent: dict[str, Any]) -> list[dict[str, Any]]:
    """ListControllerRevisions: revisions matching parent's selector, owned by it or by no controller."""
    selector = (parent.get("spec") or {}).get("selector")
    if selector_is_empty(selector):
        return []
    out = []
    for rev in ctx.lister(GROUP, KIND).list(parent["metadata"]["namespace"]):
        if not match_label_selector(selector, labels_of(rev)):
            continue
        ref = controller_of(rev)
        if ref is None or ref.get("uid") == parent["metadata"]["uid"]:
            out.append(rev)
    return out


def _get(ctx: Context, namespace: str, name: str) -> dict[str, Any]:
    """A quorum read (upstream Gets from the API server here, not from the cache)."""
    resource = registry.by_kind(GROUP, KIND)
    assert resource is not None
    return ctx.api.get(resource, namespace, name)


def create_controller_revision(
    ctx: Context, component: str, parent: dict[str, Any], revision: dict[str, Any], collision_count: int
) -> tuple[dict[str, Any], int]:
    """CreateControllerRevision: create under ``<parent>-<hash>``, probing on name collisions.

    A name already taken by a revision with the same data is that revision (an earlier sync made
    it); taken by different data, the collision count goes up and the hash with it. Returns the
    revision and the collision count to record in the owner's status.
    """
    namespace = parent["metadata"]["namespace"]
    body = clone(revision)
    for _ in range(MAX_PROBES):
        body["metadata"]["name"] = revision_name(
            parent["metadata"]["name"], hash_revision(body["data"], collision_count)
        )
        try:
            return ctx.create(component, GROUP, KIND, namespace, body).object, collision_count
        except StatusError as err:
            if not (err.code == 409 and err.reason == "AlreadyExists"):
                raise
        exists = _get(ctx, namespace, body["metadata"]["name"])
        if data_bytes(exists) == data_bytes(body):
            return exists, collision_count
        collision_count += 1
    raise StatusError(500, "InternalError", f"no free ControllerRevision name for {parent['metadata']['name']}")


def update_controller_revision(ctx: Context, component: str, revision: dict[str, Any], new: int) -> dict[str, Any]:
    """UpdateControllerRevision: move a revision to the head of the history by renumbering it."""
    if number(revision) == new:
        return revision
    body = clone(revision)
    body["revision"] = new
    return ctx.update(component, body).object


def delete_controller_revision(ctx: Context, component: str, revision: dict[str, Any]) -> None:
    """DeleteControllerRevision (already gone counts as done)."""
    meta = revision["metadata"]
    ctx.delete(component, GROUP, KIND, meta["namespace"], meta["name"])


def adopt_orphan_revisions(
    ctx: Context, component: str, controller_name: str, parent: dict[str, Any], revisions: list[dict[str, Any]]
) -> None:
    """AdoptOrphanRevisions: revisions that match the selector but have no controller become parent's.

    Adoption goes through the shared ControllerRefManager logic, which first re-reads the parent
    from the API server so a parent being deleted adopts nothing.
    """
    orphans = [rev for rev in revisions if controller_of(rev) is None]
    if orphans:
        claim(ctx, component, controller_name, parent, GROUP, KIND, orphans, lambda _rev: True)
