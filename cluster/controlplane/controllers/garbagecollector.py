"""The garbage collector: ownerReferences turned into cascading deletion, across every kind.

Upstream ``pkg/controller/garbagecollector``. A graph of owners and dependents is kept
from the informers (the GraphBuilder); work items are checked against the live API:

* background: an object whose owners are all gone (absent, or present with another UID)
  is deleted; one that still has a live owner only loses the dangling references;
* ``foregroundDeletion``: the owner stays, with its deletionTimestamp, until every
  dependent that blocks it (``blockOwnerDeletion: true``) is gone; its dependents are
  deleted first, then the finalizer is removed and the owner goes;
* ``orphan``: the owner's references are removed from its dependents, then the finalizer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import UNINFORMED
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
UPDATE_RETRIES = 5

NARRATION = {
    "kcm.gc.deleted": gettext_noop(
        "{kind} {name} lost its owner {owner}: the garbage collector deleted it ({policy} propagation)."
    ),
    "kcm.gc.dangling": gettext_noop(
        "The garbage collector removed the reference to the vanished owner {owner} from {kind} {name}."
    ),
    "kcm.gc.orphaned": gettext_noop(
        "{kind} {name} was deleted with propagation Orphan: the garbage collector released its {count} dependents."
    ),
    "kcm.gc.foreground": gettext_noop(
        "All blocking dependents of {kind} {name} are gone: the garbage collector removed its "
        "foregroundDeletion finalizer."
    ),
    "kcm.gc.waiting": gettext_noop(
        "{kind} {name} is being deleted in the foreground: waiting for {count} dependents to go first."
    ),
}

Ident = tuple[str, str, str, str]  # group, kind, namespace, name


@dataclass
class GraphNode:
    """One object as the graph builder knows it."""

    ident: Ident
    uid: str
    owners: list[dict[str, Any]] = field(default_factory=list)
    finalizers: list[str] = field(default_factory=list)
    being_deleted: bool = False

    @property
    def deleting_dependents(self) -> bool:
        return self.being_deleted and FOREGROUND in self.finalizers


def _key(action: str, ident: Ident, uid: str) -> str:
    return "|".join((action, *ident, uid))


def _describe(ident: Ident) -> str:
    _, kind, namespace, name = ident
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


class GarbageCollector(Controller):
    component = COMPONENT
    name = "garbagecollector"
    # Every deletable kind but those the informers do not cache (Events, which owners never own here).
    watches = tuple(
        (r.group, r.kind)
        for r in registry.RESOURCES
        if "delete" in r.verbs and "watch" in r.verbs and (r.group, r.kind) not in UNINFORMED
    )
    resync_seconds = None

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.nodes: dict[str, GraphNode] = {}
        self.dependents: dict[str, set[str]] = {}
        self.indexed = False

    # ------------------------------------------------------------- the graph builder
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        meta = obj["metadata"]
        uid = meta.get("uid")
        if not uid:
            return
        ident: Ident = (group, kind, meta.get("namespace") or "", meta["name"])
        if etype == "DELETED":
            self._forget(uid)
            return
        self._observe(ident, uid, obj)

    def _observe(self, ident: Ident, uid: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid")]
        previous = self.nodes.get(uid)
        finalizers = meta.get("finalizers") or []
        being_deleted = bool(meta.get("deletionTimestamp"))
        if (
            previous is not None
            and previous.being_deleted == being_deleted
            and previous.ident == ident
            and previous.finalizers == finalizers
            and previous.owners == refs
        ):
            # Nothing the graph keeps changed (most updates are status writes): as upstream's
            # graph builder, there is no transition to act on.
            return
        node = GraphNode(ident, uid, clone(refs), list(finalizers), being_deleted)
        self.nodes[uid] = node
        old_refs = {r["uid"]: r for r in (previous.owners if previous else [])}
        new_refs = {r["uid"]: r for r in refs}
        for owner_uid, ref in old_refs.items():
            changed = owner_uid not in new_refs or bool(new_refs[owner_uid].get("blockOwnerDeletion")) != bool(
                ref.get("blockOwnerDeletion")
            )
            if owner_uid not in new_refs:
                self.dependents.get(owner_uid, set()).discard(uid)
            owner = self.nodes.get(owner_uid)
            if changed and owner is not None and owner.deleting_dependents:
                self.queue.add(_key("attempt", owner.ident, owner_uid))
        for owner_uid in new_refs:
            self.dependents.setdefault(owner_uid, set()).add(uid)
            owner = self.nodes.get(owner_uid)
            if owner_uid not in old_refs and (owner is None or owner.being_deleted):
                # An owner the graph has not seen (or one on its way out): verify against the API.
                self.queue.add(_key("attempt", ident, uid))
        if node.deleting_dependents and not (previous and previous.deleting_dependents):
            self.queue.add(_key("attempt", ident, uid))
            for dep_uid in sorted(self.dependents.get(uid, ())):
                dep = self.nodes.get(dep_uid)
                if dep is not None:
                    self.queue.add(_key("attempt", dep.ident, dep_uid))
        if (
            node.being_deleted
            and ORPHAN in node.finalizers
            and not (previous and ORPHAN in previous.finalizers and previous.being_deleted)
        ):
            self.queue.add(_key("orphan", ident, uid))

    def _forget(self, uid: str) -> None:
        gone = self.nodes.pop(uid, None)
        if gone is not None:
            for ref in gone.owners:
                self.dependents.get(ref["uid"], set()).discard(uid)
                owner = self.nodes.get(ref["uid"])
                if owner is not None and owner.deleting_dependents:
                    self.queue.add(_key("attempt", owner.ident, owner.uid))
        # Its dependents now point at nothing: each is checked, and collected if nothing else owns it.
        for dep_uid in sorted(self.dependents.get(uid, ())):
            dep = self.nodes.get(dep_uid)
            if dep is not None:
                self.queue.add(_key("attempt", dep.ident, dep_uid))

    def _ensure_index(self) -> None:
        """Build the graph from the caches when this loop started after the informers had synced."""
        if self.indexed:
            return
        self.indexed = True
        for group, kind in self.watches:
            for obj in self.ctx.lister(group, kind):
                meta = obj["metadata"]
                if meta.get("uid") and meta["uid"] not in self.nodes:
                    self._observe((group, kind, meta.get("namespace") or "", meta["name"]), meta["uid"], obj)

    # ------------------------------------------------------------- helpers
    def _get(self, ident: Ident) -> dict[str, Any] | None:
        group, kind, namespace, name = ident
        resource = registry.by_kind(group, kind)
        if resource is None:
            return None
        try:
            return self.ctx.api.get(resource, namespace or None, name)
        except StatusError as err:
            if err.code == 404:
                return None
            raise

    def _owner_ident(self, dependent: Ident, ref: dict[str, Any]) -> Ident | None:
        resource = registry.by_api_version(ref.get("apiVersion", ""), ref.get("kind", ""))
        if resource is None:
            return None
        return (resource.group, resource.kind, dependent[2] if resource.namespaced else "", ref.get("name", ""))

    def _classify(
        self, ident: Ident, refs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Split references into solid owners, dangling ones, and owners waiting on their dependents."""
        solid, dangling, waiting = [], [], []
        for ref in refs:
            owner_ident = self._owner_ident(ident, ref)
            if owner_ident is None:
                solid.append(ref)  # a kind this cluster does not serve: never treat it as gone
                continue
            owner = self._get(owner_ident)
            if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
                dangling.append(ref)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
                owner["metadata"].get("finalizers") or []
            ):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    def _remove_finalizer(self, ident: Ident, uid: str, finalizer: str) -> bool:
        resource = registry.by_kind(ident[0], ident[1])
        assert resource is not None
        for _ in range(UPDATE_RETRIES):
            obj = self._get(ident)
            if obj is None or obj["metadata"].get("uid") != uid:
                return False
            finalizers = list(obj["metadata"].get("finalizers") or [])
            if finalizer not in finalizers:
                return False
            body = copy.deepcopy(obj)
            body["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            try:
                self.ctx.update(COMPONENT, body)
                return True
            except StatusError as err:
                if err.code == 404:
                    return False
                if err.code != 409:
                    raise
        raise StatusError(409, "Conflict", f"could not remove finalizer {finalizer} from {_describe(ident)}")

    def _patch_owner_refs(self, ident: Ident, uid: str, change: Any) -> None:
        """Rewrite the live object's ownerReferences with ``change`` (a function of the list)."""
        for _ in range(UPDATE_RETRIES):
            obj = self._get(ident)
            if obj is None or obj["metadata"].get("uid") != uid:
                return
            refs = list(obj["metadata"].get("ownerReferences") or [])
            new = change(copy.deepcopy(refs))
            if new == refs:
                return
            body = copy.deepcopy(obj)
            if new:
                body["metadata"]["ownerReferences"] = new
            else:
                body["metadata"].pop("ownerReferences", None)
            try:
                self.ctx.update(COMPONENT, body)
                return
            except StatusError as err:
                if err.code == 404:
                    return
                if err.code != 409:
                    raise
        raise StatusError(409, "Conflict", f"could not update ownerReferences of {_describe(ident)}")

    # ------------------------------------------------------------- work
    def reconcile(self, key: str) -> float | None:
        self._ensure_index()
        action, group, kind, namespace, name, uid = key.split("|")
        ident: Ident = (group, kind, namespace, name)
        if action == "orphan":
            self.orphan(ident, uid)
        else:
            self.attempt_to_delete(ident, uid)
        return None

    def attempt_to_delete(self, ident: Ident, uid: str) -> None:
        latest = self._get(ident)
        if latest is None or latest["metadata"].get("uid") != uid:
            return
        meta = latest["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FOREGROUND in finalizers:
                self.process_deleting_dependents(ident, uid)
            return
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid")]
        if not refs:
            return
        solid, dangling, waiting = self._classify(ident, refs)
        if solid:
            if not dangling and not waiting:
                return
            drop = {r["uid"] for r in dangling + waiting}
            self._patch_owner_refs(ident, uid, lambda rs: [r for r in rs if r.get("uid") not in drop])
            for ref in dangling:
                self.ctx.trace(
                    COMPONENT,
                    "garbagecollector",
                    "kcm.gc.dangling",
                    {"kind": ident[1], "name": ident[3], "owner": f"{ref.get('kind')} {ref.get('name')}"},
                    [{"kind": ident[1], "namespace": ident[2], "name": ident[3]}],
                )
            return
        if waiting and self.dependents.get(uid):
            for dep_uid in sorted(self.dependents.get(uid, ())):
                dep = self.nodes.get(dep_uid)
                if dep is not None and dep.deleting_dependents:
                    # Break a possible cycle: this object stops blocking its owners, then goes in the foreground.
                    def unblock(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
                        for r in rs:
                            if r.get("blockOwnerDeletion"):
                                r["blockOwnerDeletion"] = False
                        return rs

                    self._patch_owner_refs(ident, uid, unblock)
                    break
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        owner = (dangling or waiting)[0]
        self.ctx.delete(
            COMPONENT, ident[0], ident[1], ident[2] or None, ident[3], propagation=policy, preconditions={"uid": uid}
        )
        self.ctx.trace(
            COMPONENT,
            "garbagecollector",
            "kcm.gc.deleted",
            {
                "kind": ident[1],
                "name": ident[3],
                "owner": f"{owner.get('kind')} {owner.get('name')}",
                "policy": policy,
            },
            [{"kind": ident[1], "namespace": ident[2], "name": ident[3]}],
        )

    def process_deleting_dependents(self, ident: Ident, uid: str) -> None:
        """Remove foregroundDeletion once no blocking dependent is left; until then push the dependents."""
        blocking = []
        for dep_uid in sorted(self.dependents.get(uid, ())):
            dep = self.nodes.get(dep_uid)
            if dep is None:
                continue
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in dep.owners):
                blocking.append(dep)
        if not blocking:
            if self._remove_finalizer(ident, uid, FOREGROUND):
                self.ctx.trace(
                    COMPONENT,
                    "garbagecollector",
                    "kcm.gc.foreground",
                    {"kind": ident[1], "name": ident[3]},
                    [{"kind": ident[1], "namespace": ident[2], "name": ident[3]}],
                )
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(_key("attempt", dep.ident, dep.uid))
        self.ctx.trace(
            COMPONENT,
            "garbagecollector",
            "kcm.gc.waiting",
            {"kind": ident[1], "name": ident[3], "count": len(blocking)},
            [{"kind": ident[1], "namespace": ident[2], "name": ident[3]}],
        )

    def orphan(self, ident: Ident, uid: str) -> None:
        """Take the owner's references out of every dependent, then drop the orphan finalizer."""
        latest = self._get(ident)
        if latest is None or latest["metadata"].get("uid") != uid:
            return
        meta = latest["metadata"]
        if not meta.get("deletionTimestamp") or ORPHAN not in (meta.get("finalizers") or []):
            return
        deps = [self.nodes[d] for d in sorted(self.dependents.get(uid, ())) if d in self.nodes]
        for dep in deps:
            self._patch_owner_refs(dep.ident, dep.uid, lambda rs: [r for r in rs if r.get("uid") != uid])
        self._remove_finalizer(ident, uid, ORPHAN)
        self.ctx.trace(
            COMPONENT,
            "garbagecollector",
            "kcm.gc.orphaned",
            {"kind": ident[1], "name": ident[3], "count": len(deps)},
            [{"kind": ident[1], "namespace": ident[2], "name": ident[3]}],
        )


CONTROLLERS = [GarbageCollector]
