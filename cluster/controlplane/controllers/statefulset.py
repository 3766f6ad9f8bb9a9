"""The statefulset controller (upstream ``pkg/controller/statefulset``).

Pods get stable names ``<set>-<ordinal>``, a stable hostname under the governing Service,
and their own PersistentVolumeClaims ``<claim>-<set>-<ordinal>`` made before the pod.
OrderedReady creates ordinals upwards one at a time, each only once its predecessors are
Running and Ready, and removes them downwards; Parallel does both at once. A rolling
update replaces pods from the highest ordinal down to the partition. The set's templates are
kept as ControllerRevisions (``history.py``): status.currentRevision and updateRevision, and
each pod's ``controller-revision-hash``, name them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.api.selectors import match_label_selector
from cluster.controlplane.controller import Controller
from cluster.controlplane.controllers import history
from cluster.controlplane.controllers.replicaset import (
    claim,
    controller_of,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    labels_of,
    new_controller_ref,
    now_epoch,
    pending_availability,
    phase,
    pod_from_template,
    resolve_controller_ref,
    selecting_owners,
    selector_is_empty,
    template_patch,
)
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "statefulset-controller"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")

NARRATION = {
    "kcm.statefulset.create": gettext_noop(
        "The statefulset controller creates pod {pod} (ordinal {ordinal}) of StatefulSet {namespace}/{name} at revision {revision}."
    ),
    "kcm.statefulset.claim": gettext_noop(
        "The statefulset controller creates PersistentVolumeClaim {claim} for pod {pod}, before the pod itself."
    ),
    "kcm.statefulset.wait-ready": gettext_noop(
        "OrderedReady: StatefulSet {namespace}/{name} waits for pod {pod} to be Running and Ready before it goes on."
    ),
    "kcm.statefulset.wait-terminating": gettext_noop(
        "StatefulSet {namespace}/{name} waits for pod {pod} to finish terminating before it goes on."
    ),
    "kcm.statefulset.scale-down": gettext_noop(
        "The statefulset controller deletes pod {pod}: its ordinal is beyond the {replicas} replica(s) of StatefulSet {namespace}/{name} (highest ordinal first)."
    ),
    "kcm.statefulset.update": gettext_noop(
        "Rolling update of StatefulSet {namespace}/{name}: pod {pod} is deleted, to come back at revision {revision} (highest ordinal first)."
    ),
    "kcm.statefulset.recreate": gettext_noop(
        "Pod {pod} of StatefulSet {namespace}/{name} has finished ({phase}); the statefulset controller deletes it to create it again."
    ),
    "kcm.statefulset.status": gettext_noop(
        "The statefulset controller writes the status of StatefulSet {namespace}/{name}: {replicas} replicas, {ready} ready, {updated} at revision {revision}."
    ),
}


# ----------------------------------------------------------------------------- stateful_set_utils.go
def parent_and_ordinal(pod: dict[str, Any]) -> tuple[str, int]:
    match = _ORDINAL.match(pod["metadata"]["name"])
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def start_ordinal(sts: dict[str, Any]) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def replicas_of(sts: dict[str, Any]) -> int:
    value = (sts.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def pod_name(sts: dict[str, Any], ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def claim_name(claim_template: dict[str, Any], sts: dict[str, Any], ordinal: int) -> str:
    return f"{claim_template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def revision_name(sts: dict[str, Any], collision_count: int) -> str:
    """The name newRevision gives the ControllerRevision of the set's current template."""
    return history.revision_name(sts["metadata"]["name"], history.hash_revision(template_patch(sts), collision_count))


def new_revision(sts: dict[str, Any], revision: int, collision_count: int) -> dict[str, Any]:
    """newRevision: a ControllerRevision whose data puts the set's current template back.

    It carries the template's labels (so the set's selector, and kubectl, find it) and the set's
    annotations (so ``kubectl rollout history`` can show a change-cause).
    """
    labels = ((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels")
    body = history.new_controller_revision(sts, labels, template_patch(sts), revision, collision_count)
    annotations = sts["metadata"].get("annotations")
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    return body


def next_revision(revisions: list[dict[str, Any]]) -> int:
    """nextRevision: one past the newest revision (the list is sorted), or 1 for an empty history."""
    return history.number(revisions[-1]) + 1 if revisions else 1


def pod_revision(pod: dict[str, Any]) -> str:
    return labels_of(pod).get(REVISION_LABEL, "")


def is_created(pod: dict[str, Any]) -> bool:
    return phase(pod) != ""


def is_running_and_ready(pod: dict[str, Any]) -> bool:
    return phase(pod) == "Running" and is_pod_ready(pod)


def is_healthy(pod: dict[str, Any]) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def claims_for(sts: dict[str, Any], ordinal: int) -> list[dict[str, Any]]:
    """getPersistentVolumeClaims: one claim per template, labelled with the set's selector labels."""
    out = []
    match_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        tmeta = template.get("metadata") or {}
        meta: dict[str, Any] = {
            "name": claim_name(template, sts, ordinal),
            "namespace": sts["metadata"]["namespace"],
            "labels": {**(tmeta.get("labels") or {}), **match_labels},
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": meta,
                "spec": clone(template.get("spec") or {}),
                "_volume": tmeta["name"],
            }
        )
    return out


def update_storage(sts: dict[str, Any], pod: dict[str, Any], ordinal: int) -> None:
    """updateStorage: a volume per claim template, pointing at the pod's own claim."""
    claims = claims_for(sts, ordinal)
    names = {c["_volume"] for c in claims}
    volumes = [{"name": c["_volume"], "persistentVolumeClaim": {"claimName": c["metadata"]["name"]}} for c in claims]
    volumes += [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in names]
    if volumes:
        pod["spec"]["volumes"] = volumes


def update_identity(sts: dict[str, Any], pod: dict[str, Any], ordinal: int) -> None:
    meta = pod["metadata"]
    meta["name"] = pod_name(sts, ordinal)
    meta["namespace"] = sts["metadata"]["namespace"]
    labels = meta.setdefault("labels", {})
    labels[POD_NAME_LABEL] = meta["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def identity_matches(sts: dict[str, Any], pod: dict[str, Any]) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    labels = labels_of(pod)
    return (
        ordinal >= 0
        and parent == sts["metadata"]["name"]
        and pod["metadata"]["namespace"] == sts["metadata"]["namespace"]
        and labels.get(POD_NAME_LABEL) == pod["metadata"]["name"]
        and labels.get(POD_INDEX_LABEL) == str(ordinal)
    )


def new_versioned_pod(
    current_set: dict[str, Any], update_set: dict[str, Any], current: str, update: str, ordinal: int
) -> dict[str, Any]:
    """newVersionedStatefulSetPod: ordinals the update has not reached yet are made at the current revision.

    Those are the ordinals below the partition (or, without rollingUpdate settings, below
    status.currentReplicas); every other ordinal gets the update revision.
    """
    strategy = current_set["spec"].get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    start = start_ordinal(current_set)
    below_current = ordinal < start + int((current_set.get("status") or {}).get("currentReplicas") or 0)
    if (strategy.get("type", "RollingUpdate") == "RollingUpdate" and rolling is None and below_current) or (
        rolling is not None and ordinal < start + int(rolling.get("partition") or 0)
    ):
        return new_pod(current_set, ordinal, current)
    return new_pod(update_set, ordinal, update)


def new_pod(sts: dict[str, Any], ordinal: int, revision: str) -> dict[str, Any]:
    """newStatefulSetPod + setPodRevision: identity, hostname/subdomain, storage and the revision label."""
    pod = pod_from_template((sts.get("spec") or {}).get("template") or {}, sts, new_controller_ref(sts))
    update_identity(sts, pod, ordinal)
    pod["spec"]["hostname"] = pod["metadata"]["name"]
    if sts["spec"].get("serviceName"):
        pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
    update_storage(sts, pod, ordinal)
    pod["metadata"]["labels"][REVISION_LABEL] = revision
    return pod


def compute_status(pods: list[dict[str, Any]], min_ready: int, now: float, current: str, update: str) -> dict[str, int]:
    """computeReplicaStatus over the given pods."""
    out = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0}
    for pod in pods:
        if is_created(pod):
            out["replicas"] += 1
        if is_running_and_ready(pod):
            out["readyReplicas"] += 1
            if is_pod_available(pod, min_ready, now):
                out["availableReplicas"] += 1
        if is_created(pod) and not is_terminating(pod):
            if pod_revision(pod) == current:
                out["currentReplicas"] += 1
            if pod_revision(pod) == update:
                out["updatedReplicas"] += 1
    return out


def _applied(sts: dict[str, Any], revision: dict[str, Any]) -> dict[str, Any]:
    """ApplyRevision, skipped when the revision already holds the set's own template."""
    return sts if history.matches(sts, revision) else history.apply_revision(sts, revision)


class _Exit(Exception):
    """Stop this sync here (a blocking condition in monotonic mode); the status is still written."""


class StatefulSetController(Controller):
    """Stable identities, ordered creation and deletion, per-pod storage."""

    component = COMPONENT
    name = "statefulset"
    watches = (("apps", "StatefulSet"), ("", "Pod"))

    # ------------------------------------------------------------------ event handlers
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "StatefulSet":
            self.queue.add(object_key(obj))
            return
        sts = resolve_controller_ref(self.ctx, obj["metadata"]["namespace"], controller_of(obj), "apps", "StatefulSet")
        if sts is not None:
            self.queue.add(object_key(sts))
            min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
            if etype == "MODIFIED" and old is not None and not is_pod_ready(old) and is_pod_ready(obj) and min_ready:
                self.queue.add_after(object_key(sts), self.ctx.now() + min_ready + 1.0)
            if old is not None and controller_of(old) != controller_of(obj):
                prev = resolve_controller_ref(
                    self.ctx, old["metadata"]["namespace"], controller_of(old), "apps", "StatefulSet"
                )
                if prev is not None:
                    self.queue.add(object_key(prev))
            return
        if controller_of(obj) is None and etype != "DELETED":
            for candidate in selecting_owners(self.ctx, "apps", "StatefulSet", obj):
                self.queue.add(object_key(candidate))

    # ------------------------------------------------------------------ helpers
    def _trace(self, message: str, sts: dict[str, Any], pod: str | None = None, /, **params: Any) -> None:
        meta = sts["metadata"]
        involved = [{"kind": "StatefulSet", "namespace": meta["namespace"], "name": meta["name"]}]
        if pod:
            involved.append({"kind": "Pod", "namespace": meta["namespace"], "name": pod})
            params["pod"] = pod
        self.ctx.trace(
            COMPONENT,
            "statefulset",
            message,
            {"namespace": meta["namespace"], "name": meta["name"], **params},
            involved,
        )

    def _pod_event(self, verb: str, sts: dict[str, Any], pod: str, error: StatusError | None) -> None:
        """recordPodEvent: "create Pod web-0 in StatefulSet web successful"."""
        name = sts["metadata"]["name"]
        if error is None:
            self.ctx.event(
                EVENT_SOURCE,
                sts,
                "Normal",
                f"Successful{verb.title()}",
                f"{verb} Pod {pod} in StatefulSet {name} successful",
            )
        else:
            self.ctx.event(
                EVENT_SOURCE,
                sts,
                "Warning",
                f"Failed{verb.title()}",
                f"{verb} Pod {pod} in StatefulSet {name} failed error: {error.message}",
            )

    def _create_claims(self, sts: dict[str, Any], pod: str, ordinal: int) -> None:
        """createPersistentVolumeClaims: every missing claim first, or no pod."""
        namespace = sts["metadata"]["namespace"]
        for body in claims_for(sts, ordinal):
            body.pop("_volume")
            name = body["metadata"]["name"]
            existing = self.ctx.lister("", "PersistentVolumeClaim").get(namespace, name)
            if existing is not None:
                if is_terminating(existing):
                    raise StatusError(409, "Conflict", f"pvc {name} is being deleted")
                continue
            self._trace("kcm.statefulset.claim", sts, pod, claim=name)
            message = f"create Claim {name} Pod {pod} in StatefulSet {sts['metadata']['name']}"
            try:
                self.ctx.create(COMPONENT, "", "PersistentVolumeClaim", namespace, body)
            except StatusError as err:
                if err.code == 409 and err.reason == "AlreadyExists":
                    continue
                self.ctx.event(EVENT_SOURCE, sts, "Warning", "FailedCreate", f"{message} failed error: {err.message}")
                raise
            self.ctx.event(EVENT_SOURCE, sts, "Normal", "SuccessfulCreate", f"{message} success")

    def _create_pod(self, sts: dict[str, Any], pod: dict[str, Any], ordinal: int, revision: str) -> None:
        name = pod["metadata"]["name"]
        try:
            self._create_claims(sts, name, ordinal)
        except StatusError as err:
            self._pod_event("create", sts, name, err)
            raise
        self._trace("kcm.statefulset.create", sts, name, ordinal=ordinal, revision=revision)
        try:
            self.ctx.create(COMPONENT, "", "Pod", sts["metadata"]["namespace"], pod)
        except StatusError as err:
            if err.code == 409 and err.reason == "AlreadyExists":
                raise
            self._pod_event("create", sts, name, err)
            raise
        self._pod_event("create", sts, name, None)

    def _delete_pod(self, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        try:
            self.ctx.delete(COMPONENT, "", "Pod", pod["metadata"]["namespace"], name)
        except StatusError as err:
            self._pod_event("delete", sts, name, err)
            raise
        self._pod_event("delete", sts, name, None)

    # ------------------------------------------------------------------ sync
    def reconcile(self, key: str) -> float | None:
        sts = self.ctx.lister("apps", "StatefulSet").by_key(key)
        if sts is None:
            return None
        sts = clone(sts)
        selector = (sts.get("spec") or {}).get("selector")
        name = sts["metadata"]["name"]
        # adoptOrphanRevisions comes first, as upstream: revisions left by a set of the same name.
        history.adopt_orphan_revisions(
            self.ctx, COMPONENT, "statefulset", sts, history.list_controller_revisions(self.ctx, sts)
        )
        candidates = self.ctx.lister("", "Pod").list(sts["metadata"]["namespace"])
        pods = claim(
            self.ctx,
            COMPONENT,
            "statefulset",
            sts,
            "",
            "Pod",
            [p for p in candidates if parent_and_ordinal(p)[0] == name],
            lambda p: (
                not selector_is_empty(selector)
                and match_label_selector(selector, labels_of(p))
                and parent_and_ordinal(p)[0] == name
            ),
        )
        status = self._sync_revisions_and_pods(sts, pods)
        if int(sts["spec"].get("minReadySeconds") or 0) > 0 and status["availableReplicas"] != replicas_of(sts):
            wait = pending_availability(pods, int(sts["spec"]["minReadySeconds"]), now_epoch(self.ctx))
            return wait if wait is not None else float(sts["spec"]["minReadySeconds"])
        return None

    # ------------------------------------------------------------------ history (stateful_set_control.go)
    def _sync_revisions_and_pods(self, sts: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
        """UpdateStatefulSet: find or record the revisions, bring the pods to them, then trim the history.

        The history is trimmed even when the update fails half-way, as upstream does.
        """
        revisions = history.sort_revisions(history.list_controller_revisions(self.ctx, sts))
        current: dict[str, Any] | None = None
        update: dict[str, Any] | None = None
        try:
            current, update, collision = self._get_revisions(sts, revisions)
            status = self._update_stateful_set(sts, pods, current, update, collision)
        except StatusError:
            try:
                self._truncate_history(sts, pods, revisions, current, update)
            except StatusError:
                pass  # the first error is the one to retry on
            raise
        self._truncate_history(sts, pods, revisions, current, update)
        return status

    def _get_revisions(
        self, sts: dict[str, Any], revisions: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any], int]:
        """getStatefulSetRevisions: (current, update, collisionCount); may create or renumber a revision.

        The update revision is the set's template as it is now: the newest revision if that already
        holds it, an older equal revision moved to the head of the history (a rollback, such as
        ``kubectl rollout undo``), or a new revision. The current revision is the one the status
        names, or the update revision when the history starts.
        """
        collision = int((sts.get("status") or {}).get("collisionCount") or 0)
        candidate = new_revision(sts, next_revision(revisions), collision)
        equal = history.find_equal_revisions(revisions, candidate)
        if equal and history.equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]
        elif equal:
            update = history.update_controller_revision(self.ctx, COMPONENT, equal[-1], candidate["revision"])
        else:
            update, collision = history.create_controller_revision(self.ctx, COMPONENT, sts, candidate, collision)
        wanted = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == wanted), None)
        return current or update, update, collision

    def _truncate_history(
        self,
        sts: dict[str, Any],
        pods: list[dict[str, Any]],
        revisions: list[dict[str, Any]],
        current: dict[str, Any] | None,
        update: dict[str, Any] | None,
    ) -> None:
        """truncateHistory: delete the oldest revisions no pod uses beyond spec.revisionHistoryLimit.

        The current and update revisions and every revision a pod carries are live and never go.
        """
        live = {pod_revision(p) for p in pods}
        live |= {r["metadata"]["name"] for r in (current, update) if r is not None}
        old = [r for r in revisions if r["metadata"]["name"] not in live]
        limit = history.history_limit(sts)
        if limit < 0 or len(old) <= limit:
            return
        for rev in old[: len(old) - limit]:
            history.delete_controller_revision(self.ctx, COMPONENT, rev)

    # ------------------------------------------------------------------ pods
    def _update_stateful_set(
        self,
        sts: dict[str, Any],
        pods: list[dict[str, Any]],
        current: dict[str, Any],
        update: dict[str, Any],
        collision: int,
    ) -> dict[str, Any]:
        spec = sts["spec"]
        update_rev = update["metadata"]["name"]
        current_rev = current["metadata"]["name"]
        current_set = _applied(sts, current)
        update_set = _applied(sts, update)

        def make_pod(ordinal: int) -> dict[str, Any]:
            return new_versioned_pod(current_set, update_set, current_rev, update_rev, ordinal)

        min_ready = int(spec.get("minReadySeconds") or 0)
        now = now_epoch(self.ctx)
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "currentRevision": current_rev,
            "updateRevision": update_rev,
            "collisionCount": collision,
        }

        start = start_ordinal(sts)
        count = replicas_of(sts)
        replicas: list[dict[str, Any] | None] = [None] * count
        condemned: list[dict[str, Any]] = []
        for pod in pods:
            _, ordinal = parent_and_ordinal(pod)
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        slots: list[dict[str, Any]] = [
            pod if pod is not None else make_pod(start + i) for i, pod in enumerate(replicas)
        ]
        condemned.sort(key=lambda p: parent_and_ordinal(p)[1], reverse=True)
        first_unhealthy = next((p for p in slots if not is_healthy(p)), None)
        if first_unhealthy is None:
            first_unhealthy = next((p for p in reversed(condemned) if not is_healthy(p)), None)

        def finish() -> dict[str, Any]:
            counts = compute_status(slots + condemned, min_ready, now, current_rev, update_rev)
            status.update(counts)
            return self._write_status(sts, status)

        status.update(compute_status(pods, min_ready, now, current_rev, update_rev))
        if is_terminating(sts):
            return self._write_status(sts, status)
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        try:
            for i in range(len(slots)):
                self._process_replica(sts, slots, i, start + i, make_pod, monotonic, min_ready, now)
            for pod in condemned:
                self._process_condemned(sts, pod, first_unhealthy, monotonic, min_ready, now)
        except _Exit:
            return finish()
        status.update(compute_status(slots + condemned, min_ready, now, current_rev, update_rev))
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "OnDelete":
            return self._write_status(sts, status)
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for target in range(len(slots) - 1, partition - 1, -1):
            pod = slots[target]
            if pod_revision(pod) != update_rev and not is_terminating(pod):
                self._trace("kcm.statefulset.update", sts, pod["metadata"]["name"], revision=update_rev)
                try:
                    self._delete_pod(sts, pod)
                except StatusError as err:
                    if err.code != 404:
                        raise
                status["currentReplicas"] -= 1
                return self._write_status(sts, status)
            if not is_healthy(pod):
                self._trace("kcm.statefulset.wait-ready", sts, pod["metadata"]["name"])
                return self._write_status(sts, status)
        return self._write_status(sts, status)

    def _process_replica(
        self,
        sts: dict[str, Any],
        slots: list[dict[str, Any]],
        i: int,
        ordinal: int,
        make_pod: Callable[[int], dict[str, Any]],
        monotonic: bool,
        min_ready: int,
        now: float,
    ) -> None:
        pod = slots[i]
        name = pod["metadata"]["name"]
        if is_created(pod) and phase(pod) in ("Failed", "Succeeded"):
            failed = phase(pod) == "Failed"
            self.ctx.event(
                EVENT_SOURCE,
                sts,
                "Warning" if failed else "Normal",
                "RecreatingFailedPod" if failed else "RecreatingTerminatedPod",
                f"StatefulSet {sts['metadata']['namespace']}/{sts['metadata']['name']} is recreating "
                f"{'failed' if failed else 'terminated'} Pod {name}",
            )
            self._trace("kcm.statefulset.recreate", sts, name, phase=phase(pod))
            self._delete_pod(sts, pod)
            pod = slots[i] = make_pod(ordinal)
        if not is_created(pod):
            self._create_pod(sts, pod, ordinal, pod_revision(pod))
            if monotonic:
                raise _Exit
            return
        if phase(pod) == "Pending":
            self._create_claims(sts, name, ordinal)
        if is_terminating(pod) and monotonic:
            self._trace("kcm.statefulset.wait-terminating", sts, name)
            raise _Exit
        if monotonic and (not is_running_and_ready(pod) or not is_pod_available(pod, min_ready, now)):
            self._trace("kcm.statefulset.wait-ready", sts, name)
            raise _Exit
        if identity_matches(sts, pod):
            return
        fixed = clone(pod)
        update_identity(sts, fixed, ordinal)
        try:
            self.ctx.update(COMPONENT, fixed)
        except StatusError as err:
            self._pod_event("update", sts, name, err)
            raise
        self._pod_event("update", sts, name, None)

    def _process_condemned(
        self,
        sts: dict[str, Any],
        pod: dict[str, Any],
        first_unhealthy: dict[str, Any] | None,
        monotonic: bool,
        min_ready: int,
        now: float,
    ) -> None:
        name = pod["metadata"]["name"]
        if is_terminating(pod):
            if monotonic:
                self._trace("kcm.statefulset.wait-terminating", sts, name)
                raise _Exit
            return
        if monotonic and pod is not first_unhealthy:
            if not is_running_and_ready(pod) or not is_pod_available(pod, min_ready, now):
                self._trace("kcm.statefulset.wait-ready", sts, name)
                raise _Exit
        self._trace("kcm.statefulset.scale-down", sts, name, replicas=replicas_of(sts))
        self._delete_pod(sts, pod)
        if monotonic:
            raise _Exit

    def _write_status(self, sts: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """updateStatefulSetStatus: finish a completed rolling update, then write if anything changed."""
        strategy = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if (
            strategy == "RollingUpdate"
            and status["updatedReplicas"] == status["replicas"]
            and status["readyReplicas"] == status["replicas"]
        ):
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        # StatefulSetStatus JSON: replicas and availableReplicas always, the rest omitempty.
        body = {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas", "collisionCount")}
        if body == (sts.get("status") or {}):
            return status
        updated = clone(sts)
        updated["status"] = body
        self._trace(
            "kcm.statefulset.status",
            sts,
            replicas=status["replicas"],
            ready=status["readyReplicas"],
            updated=status["updatedReplicas"],
            revision=status["updateRevision"],
        )
        self.ctx.update_status(COMPONENT, updated)
        return status


CONTROLLERS = [StatefulSetController]
