"""The namespace controller: empties a namespace that is being deleted, then lets it go.

Upstream ``pkg/controller/namespace``. ``kubectl delete namespace`` only sets a
deletionTimestamp and phase Terminating; the namespace stays until every object in
it is gone and this controller removes the ``kubernetes`` entry from
``spec.finalizers`` through the ``finalize`` subresource.
"""

from __future__ import annotations

import copy
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.controlplane.controller import Controller
from cluster.controlplane.informer import object_key

COMPONENT = "kube-controller-manager"
FINALIZER = "kubernetes"
# Upstream waits this long after seeing a deletion, so every apiserver refuses new content first.
DELETION_GRACE_PERIOD = 5.0
# Estimate used when remaining objects carry finalizers (upstream's finalizerEstimateSeconds).
FINALIZER_ESTIMATE_SECONDS = 15

NARRATION = {
    "kcm.namespace.deleting": gettext_noop(
        "The namespace controller is deleting everything in namespace {namespace}: {count} objects this pass."
    ),
    "kcm.namespace.waiting": gettext_noop(
        "Namespace {namespace} still holds {remaining}; the namespace controller looks again in {seconds} s."
    ),
    "kcm.namespace.finalized": gettext_noop(
        "Namespace {namespace} is empty: the namespace controller removed its kubernetes finalizer."
    ),
}

# The condition types the deleter maintains, in upstream order, with their "all is well" form.
CONDITION_TYPES = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"),
)


def deletable_resources() -> list[registry.Resource]:
    """Namespaced kinds discovery lists with the ``delete`` verb (Binding is create-only)."""
    return [r for r in registry.RESOURCES if r.namespaced and "delete" in r.verbs]


class NamespaceController(Controller):
    component = COMPONENT
    name = "namespace"
    watches = (("", "Namespace"),)

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if new is None or etype == "DELETED" or not new["metadata"].get("deletionTimestamp"):
            return
        self.queue.add_after(object_key(new), self.ctx.now() + DELETION_GRACE_PERIOD)

    def resync(self) -> None:
        for ns in self.ctx.lister("", "Namespace"):
            if ns["metadata"].get("deletionTimestamp"):
                self.queue.add(object_key(ns))

    def reconcile(self, key: str) -> float | None:
        resource = registry.by_kind("", "Namespace")
        assert resource is not None
        try:
            ns = self.ctx.api.get(resource, None, key)
        except StatusError as err:
            if err.code == 404:
                return None
            raise
        if not ns["metadata"].get("deletionTimestamp"):
            return None
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns = copy.deepcopy(ns)
            ns.setdefault("status", {})["phase"] = "Terminating"
            ns = self.ctx.update_status(COMPONENT, ns).object
        if not (ns.get("spec") or {}).get("finalizers"):
            return None
        estimate, remaining = self._delete_all_content(ns)
        if estimate > 0:
            wait = estimate // 2 + 1
            self.ctx.trace(
                COMPONENT,
                "namespace",
                "kcm.namespace.waiting",
                {"namespace": key, "remaining": ", ".join(remaining) or "content", "seconds": wait},
                [{"kind": "Namespace", "name": key}],
            )
            return float(wait)
        if remaining:
            # Objects stayed without finalizers or grace: unexpected, retry with back-off as upstream errors do.
            raise StatusError(409, "Conflict", f"unexpected items still remain in namespace: {key}")
        self._finalize(key)
        return None

    # ------------------------------------------------------------------ content
    def _delete_all_content(self, ns: dict[str, Any]) -> tuple[int, list[str]]:
        """Delete every namespaced object, then count what is left; returns (estimate seconds, leftovers)."""
        namespace = ns["metadata"]["name"]
        estimate = 0
        deleted = 0
        remaining_by_resource: dict[str, int] = {}
        remaining_by_finalizer: dict[str, int] = {}
        errors: list[str] = []
        for resource in deletable_resources():
            gvr_estimate = self._estimate_graceful_termination(resource, namespace)
            try:
                deleted += self._delete_collection(resource, namespace)
            except StatusError as err:
                errors.append(err.message)
            items = self.ctx.api.list(resource, namespace)["items"]
            if not items:
                continue
            finalizers: dict[str, int] = {}
            for item in items:
                for f in item["metadata"].get("finalizers") or []:
                    finalizers[f] = finalizers.get(f, 0) + 1
            if gvr_estimate == 0 and finalizers:
                gvr_estimate = FINALIZER_ESTIMATE_SECONDS
            if gvr_estimate == 0:
                errors.append(
                    f"unexpected items still remain in namespace: {namespace} for gvr: "
                    f"{resource.group}/{resource.version}, Resource={resource.plural}"
                )
            estimate = max(estimate, gvr_estimate)
            remaining_by_resource[f"{resource.plural}.{resource.group}"] = len(items)
            for f, n in finalizers.items():
                remaining_by_finalizer[f] = remaining_by_finalizer.get(f, 0) + n
        if deleted:
            self.ctx.trace(
                COMPONENT,
                "namespace",
                "kcm.namespace.deleting",
                {"namespace": namespace, "count": deleted},
                [{"kind": "Namespace", "name": namespace}],
            )
        self._update_conditions(ns, remaining_by_resource, remaining_by_finalizer, errors)
        leftovers = [f"{n} {name}" for name, n in sorted(remaining_by_resource.items())]
        return estimate, leftovers

    def _estimate_graceful_termination(self, resource: registry.Resource, namespace: str) -> int:
        """Pods may take their grace period to go; the longest one bounds the wait (upstream estimate)."""
        if resource.kind != "Pod":
            return 0
        estimate = 0
        for pod in self.ctx.api.list(resource, namespace)["items"]:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        return estimate

    def _delete_collection(self, resource: registry.Resource, namespace: str) -> int:
        """DELETE the collection with background propagation; objects already going are left as they are."""
        count = 0
        for item in self.ctx.api.list(resource, namespace)["items"]:
            if item["metadata"].get("deletionTimestamp"):
                continue
            if self.ctx.delete(
                COMPONENT, resource.group, resource.kind, namespace, item["metadata"]["name"], propagation="Background"
            ):
                count += 1
        return count

    def _update_conditions(
        self,
        ns: dict[str, Any],
        by_resource: dict[str, int],
        by_finalizer: dict[str, int],
        errors: list[str],
    ) -> None:
        """Write the NamespaceDeletion*/Content* conditions the way upstream's conditionUpdater does."""
        now = self.ctx.timestamp()
        wanted: dict[str, tuple[str, str, str]] = {}
        if errors:
            msgs = sorted(errors)
            wanted["NamespaceDeletionContentFailure"] = (
                "True",
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(msgs)} remaining: {', '.join(msgs)}",
            )
        if by_resource:
            parts = sorted(f"{name} has {n} resource instances" for name, n in by_resource.items() if n)
            wanted["NamespaceContentRemaining"] = (
                "True",
                "SomeResourcesRemain",
                f"Some resources are remaining: {', '.join(parts)}",
            )
        if by_finalizer:
            parts = sorted(f"{f} in {n} resource instances" for f, n in by_finalizer.items() if n)
            wanted["NamespaceFinalizersRemaining"] = (
                "True",
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {', '.join(parts)}",
            )
        status = copy.deepcopy(ns.get("status") or {})
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        changed = False
        for ctype, ok_reason, ok_message in CONDITION_TYPES:
            cstatus, reason, message = wanted.get(ctype, ("False", ok_reason, ok_message))
            old = next((c for c in conditions if c.get("type") == ctype), None)
            if old is None:
                conditions.append(
                    {
                        "type": ctype,
                        "status": cstatus,
                        "lastTransitionTime": now,
                        "reason": reason,
                        "message": message,
                    }
                )
                changed = True
            elif (old.get("status"), old.get("reason"), old.get("message")) != (cstatus, reason, message):
                if old.get("status") != cstatus:
                    old["lastTransitionTime"] = now
                old.update(status=cstatus, reason=reason, message=message)
                changed = True
        if not changed:
            return
        status["conditions"] = conditions
        fresh = copy.deepcopy(ns)
        fresh["status"] = status
        try:
            self.ctx.update_status(COMPONENT, fresh)
        except StatusError as err:
            # Upstream only logs a failed condition update; the next pass writes it again.
            if err.code not in (404, 409):
                raise

    def _finalize(self, name: str) -> None:
        """PUT namespaces/{name}/finalize without our token, retrying on conflicts like upstream."""
        resource = registry.by_kind("", "Namespace")
        assert resource is not None
        for _ in range(5):
            try:
                ns = self.ctx.api.get(resource, None, name)
            except StatusError as err:
                if err.code == 404:
                    return
                raise
            finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
            body = copy.deepcopy(ns)
            # An empty list, not an absent field: defaulting would put ``kubernetes`` back.
            body.setdefault("spec", {})["finalizers"] = sorted(set(finalizers))
            try:
                self.ctx.update(COMPONENT, body, "finalize")
            except StatusError as err:
                if err.code == 409:
                    continue
                if err.code == 404:
                    return
                raise
            self.ctx.trace(
                COMPONENT,
                "namespace",
                "kcm.namespace.finalized",
                {"namespace": name},
                [{"kind": "Namespace", "name": name}],
            )
            return


CONTROLLERS = [NamespaceController]
