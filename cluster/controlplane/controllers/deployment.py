"""The deployment controller (upstream ``pkg/controller/deployment``).

A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``; a rollout is
the new ReplicaSet growing while the old ones shrink, within maxSurge and maxUnavailable.
Revision numbers live in the ``deployment.kubernetes.io/revision`` annotations, which is
all ``kubectl rollout history`` and ``kubectl rollout undo`` read.
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.api.selectors import match_label_selector
from cluster.controlplane.controller import Controller
from cluster.controlplane.controllers.replicaset import (
    claim,
    compute_hash,
    controller_of,
    is_terminating,
    labels_of,
    new_controller_ref,
    resolve_controller_ref,
    selector_is_empty,
    ts_epoch,
)
from cluster.controlplane.controllers.replicaset import now_epoch as _now_epoch
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "deployment-controller"

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Annotations a Deployment never copies to its ReplicaSets (annotationsToSkip).
SKIP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

# Condition reasons (deployment_util.go).
REASON_RS_UPDATED = "ReplicaSetUpdated"
REASON_RS_CREATE_ERROR = "ReplicaSetCreateError"
REASON_NEW_RS = "NewReplicaSetCreated"
REASON_FOUND_NEW_RS = "FoundNewReplicaSet"
REASON_NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
REASON_TIMED_OUT = "ProgressDeadlineExceeded"
REASON_PAUSED = "DeploymentPaused"
REASON_RESUMED = "DeploymentResumed"
REASON_MIN_AVAILABLE = "MinimumReplicasAvailable"
REASON_MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

NARRATION = {
    "kcm.deployment.new-rs": gettext_noop(
        "The deployment controller creates ReplicaSet {rs} for Deployment {namespace}/{name}: pod-template-hash {hash}, revision {revision}, {replicas} replica(s)."
    ),
    "kcm.deployment.scale": gettext_noop(
        "The deployment controller scales ReplicaSet {rs} {direction} from {from} to {to} (Deployment {namespace}/{name})."
    ),
    "kcm.deployment.rolling": gettext_noop(
        "Rolling update of Deployment {namespace}/{name}: at most {max_total} pods in all (maxSurge {surge}), at least {min_available} available (maxUnavailable {unavailable})."
    ),
    "kcm.deployment.recreate-wait": gettext_noop(
        "Recreate strategy: the deployment controller waits until every old pod of Deployment {namespace}/{name} is gone before it scales up the new ReplicaSet."
    ),
    "kcm.deployment.revision": gettext_noop(
        "The deployment controller marks ReplicaSet {rs} as revision {revision} of Deployment {namespace}/{name}."
    ),
    "kcm.deployment.cleanup": gettext_noop(
        "The deployment controller deletes old ReplicaSet {rs}: Deployment {namespace}/{name} keeps {limit} old revision(s) (revisionHistoryLimit)."
    ),
    "kcm.deployment.condition": gettext_noop(
        "Deployment {namespace}/{name}: condition {type} is {status}, reason {reason}: {message}"
    ),
    "kcm.deployment.status": gettext_noop(
        "The deployment controller writes the status of Deployment {namespace}/{name}: {updated} updated, {ready} ready, {available} available of {replicas} replicas."
    ),
    "kcm.deployment.paused": gettext_noop(
        "Deployment {namespace}/{name} is paused: the deployment controller scales it but starts no rollout."
    ),
    "kcm.deployment.collision": gettext_noop(
        "ReplicaSet {rs} already exists with another template (a hash collision): Deployment {namespace}/{name} bumps collisionCount to {count}."
    ),
}


# ----------------------------------------------------------------------------- deployment_util.go
def replicas_of(obj: dict[str, Any] | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def rs_status(rs: dict[str, Any] | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field) or 0)


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int, or a percentage of total rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """ResolveFenceposts: surge rounds up, unavailable rounds down; both zero means one unavailable."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling(d: dict[str, Any]) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def _rolling_params(d: dict[str, Any]) -> dict[str, Any]:
    return ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}


def max_surge(d: dict[str, Any]) -> int:
    if not is_rolling(d):
        return 0
    ru = _rolling_params(d)
    return resolve_fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), replicas_of(d))[0]


def max_unavailable(d: dict[str, Any]) -> int:
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    ru = _rolling_params(d)
    unavailable = resolve_fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), replicas_of(d))[1]
    return min(unavailable, replicas_of(d))


def revision_of(obj: dict[str, Any] | None) -> int | None:
    """Revision: 0 when the annotation is missing, None when it does not parse."""
    if obj is None:
        return 0
    value = (obj["metadata"].get("annotations") or {}).get(REVISION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def max_revision(rss: list[dict[str, Any]]) -> int:
    return max((r for r in (revision_of(rs) for rs in rss) if r is not None), default=0)


def _semantic(value: Any) -> Any:
    """apiequality.Semantic treats nil and empty maps and slices alike; so drop nulls and empties."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _semantic(v)
            if v is None or v == [] or (v == {} and k in ("labels", "annotations")):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def equal_ignore_hash(t1: dict[str, Any] | None, t2: dict[str, Any] | None) -> bool:
    """EqualIgnoreHash: two pod templates are the same once the pod-template-hash label is ignored."""
    a, b = clone(t1 or {}), clone(t2 or {})
    for t in (a, b):
        labels = (t.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(HASH_LABEL, None)
    return _semantic(a) == _semantic(b)


def _created(obj: dict[str, Any]) -> tuple[float, str]:
    return (ts_epoch(obj["metadata"].get("creationTimestamp")) or 0.0, obj["metadata"]["name"])


def find_new_rs(d: dict[str, Any], rss: list[dict[str, Any]]) -> dict[str, Any] | None:
    """FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's."""
    template = (d.get("spec") or {}).get("template")
    for rs in sorted(rss, key=_created):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old_rss(d: dict[str, Any], rss: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """FindOldReplicaSets: (old ones with replicas, all old ones)."""
    new = find_new_rs(d, rss)
    all_old = [rs for rs in rss if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]
    return [rs for rs in all_old if replicas_of(rs) != 0], all_old


def active(rss: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """FilterActiveReplicaSets: the ones with spec.replicas above zero."""
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def total_replicas(rss: list[dict[str, Any] | None]) -> int:
    return sum(replicas_of(rs) for rs in rss if rs is not None)


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].setdefault("annotations", {})


def set_replicas_annotations(rs: dict[str, Any], desired: int, maximum: int) -> bool:
    ann = _annotations(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: dict[str, Any], desired: int, maximum: int) -> bool:
    ann = rs["metadata"].get("annotations") or {}
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(maximum)


def set_new_rs_annotations(d: dict[str, Any], rs: dict[str, Any], new_revision: str, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision, keep history."""
    changed = False
    ann = _annotations(rs)
    for k, v in (d["metadata"].get("annotations") or {}).items():
        if k in SKIP_ANNOTATIONS or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    old_revision = ann.get(REVISION)
    try:
        old_int = int(old_revision) if old_revision is not None and old_revision != "" else 0
    except ValueError:
        return False
    new_int = int(new_revision)
    if old_int < new_int:
        ann[REVISION] = new_revision
        changed = True
        if old_revision is not None:
            history = ann.get(REVISION_HISTORY, "")
            olds = history.split(",")
            if not olds[0]:
                ann[REVISION_HISTORY] = old_revision
            else:
                total = len(history) + len(old_revision) + 1
                start = 0
                while total > MAX_REV_HISTORY_CHARS and start < len(olds):
                    total -= len(olds[start]) + 1
                    start += 1
                if total <= MAX_REV_HISTORY_CHARS:
                    ann[REVISION_HISTORY] = ",".join([*olds[start:], old_revision])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def is_saturated(d: dict[str, Any], rs: dict[str, Any] | None) -> bool:
    if rs is None:
        return False
    try:
        desired = int((rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    want = replicas_of(d)
    return replicas_of(rs) == want and desired == want and rs_status(rs, "availableReplicas") == want


def new_rs_new_replicas(d: dict[str, Any], all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any]) -> int:
    """NewRSNewReplicas: how big the new ReplicaSet may be now."""
    if not is_rolling(d):
        return replicas_of(d)
    surge = scaled_value(_rolling_params(d).get("maxSurge"), replicas_of(d), True)
    current = total_replicas(all_rss)
    max_total = replicas_of(d) + surge
    if current >= max_total:
        return replicas_of(new_rs)
    up = min(max_total - current, replicas_of(d) - replicas_of(new_rs))
    return replicas_of(new_rs) + up


def _round_half_away(x: float) -> int:
    """integer.RoundToInt32 (math.Round: halves away from zero)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def get_proportion(rs: dict[str, Any] | None, d: dict[str, Any], to_add: int, added: int) -> int:
    """GetProportion: this ReplicaSet's share of a scaling event during a rollout."""
    if rs is None or replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if replicas_of(d) == 0:
        fraction = -replicas_of(rs)
    else:
        deployment_replicas = replicas_of(d) + max_surge(d)
        try:
            annotated = int((rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS, ""))
        except ValueError:
            annotated = int((d.get("status") or {}).get("replicas") or 0)
        fraction = _round_half_away(replicas_of(rs) * deployment_replicas / annotated) - replicas_of(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def get_condition(status: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """SetDeploymentCondition: same status and reason is a no-op; same status keeps lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [*(c for c in status.get("conditions") or [] if c.get("type") != cond["type"]), cond]


def remove_condition(status: dict[str, Any], ctype: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: dict[str, Any]) -> bool:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return value is not None and value != MAX_INT32


def deployment_complete(d: dict[str, Any], status: dict[str, Any]) -> bool:
    want = replicas_of(d)
    return (
        status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
    )


def deployment_progressing(d: dict[str, Any], status: dict[str, Any]) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (
        status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_old < old_old
        or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or status.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def deployment_timed_out(d: dict[str, Any], status: dict[str, Any], now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == REASON_NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == REASON_TIMED_OUT:
        return True
    since = ts_epoch(cond.get("lastUpdateTime"))
    return since is not None and since + int(d["spec"]["progressDeadlineSeconds"]) < now


def _omit_zero(status: dict[str, Any]) -> dict[str, Any]:
    """The JSON of DeploymentStatus: every count is omitempty."""
    return {k: v for k, v in status.items() if v not in (0, None, []) or (k == "collisionCount" and v is not None)}


# ----------------------------------------------------------------------------- the controller
class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets: RollingUpdate within the fenceposts, or Recreate."""

    component = COMPONENT
    name = "deployment"
    watches = (("apps", "Deployment"), ("apps", "ReplicaSet"), ("", "Pod"))

    # ------------------------------------------------------------------ event handlers
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "Deployment":
            self.queue.add(object_key(obj))
        elif kind == "ReplicaSet":
            self._on_replicaset(etype, old, new)
        elif kind == "Pod" and etype == "DELETED":
            self._on_pod_deleted(obj)

    def _owner(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        return resolve_controller_ref(self.ctx, obj["metadata"]["namespace"], controller_of(obj), "apps", "Deployment")

    def _deployments_for(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        labels = labels_of(rs)
        if not labels:
            return []
        return [
            d
            for d in self.ctx.lister("apps", "Deployment").list(rs["metadata"]["namespace"])
            if not selector_is_empty(d["spec"].get("selector"))
            and match_label_selector(d["spec"].get("selector"), labels)
        ]

    def _on_replicaset(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        cur = new or old
        assert cur is not None
        if etype == "MODIFIED" and old is not None and controller_of(old) != controller_of(cur):
            owner = self._owner(old)
            if owner is not None:
                self.queue.add(object_key(owner))
        owner = self._owner(cur)
        if owner is not None:
            self.queue.add(object_key(owner))
            return
        if controller_of(cur) is None and etype != "DELETED":
            if etype == "MODIFIED" and old is not None and labels_of(old) == labels_of(cur):
                return
            for d in self._deployments_for(cur):
                self.queue.add(object_key(d))

    def _on_pod_deleted(self, pod: dict[str, Any]) -> None:
        """deletePod: a Recreate rollout waits for old pods to go, so their deletion wakes it."""
        rs = resolve_controller_ref(self.ctx, pod["metadata"]["namespace"], controller_of(pod), "apps", "ReplicaSet")
        if rs is None:
            return
        d = self._owner(rs)
        if d is not None and not is_rolling(d):
            self.queue.add(object_key(d))

    # ------------------------------------------------------------------ helpers
    def _trace(
        self, message: str, d: dict[str, Any], involved: list[dict[str, Any]] | None = None, /, **params: Any
    ) -> None:
        meta = d["metadata"]
        self.ctx.trace(
            COMPONENT,
            "deployment",
            message,
            {"namespace": meta["namespace"], "name": meta["name"], **params},
            [{"kind": "Deployment", "namespace": meta["namespace"], "name": meta["name"]}, *(involved or [])],
        )

    def _update_status(self, d: dict[str, Any]) -> None:
        """UpdateStatus. Upstream's status strategy also keeps metadata (the revision annotation); this
        API server's status subresource keeps status only, so a changed annotation is written first."""
        if (d["metadata"].get("annotations") or {}) != self._written_annotations:
            result = self.ctx.update(COMPONENT, d)
            d["metadata"] = clone(result.object["metadata"])
            self._written_annotations = dict(d["metadata"].get("annotations") or {})
        old_status = self._written_status
        result = self.ctx.update_status(COMPONENT, d)
        d["metadata"]["resourceVersion"] = result.object["metadata"]["resourceVersion"]
        self._written_status = clone(d.get("status") or {})
        self._trace_conditions(d, old_status, d.get("status") or {})

    def _trace_conditions(self, d: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
        for cond in new.get("conditions") or []:
            before = get_condition(old, cond["type"])
            if before is None or (before.get("status"), before.get("reason")) != (
                cond.get("status"),
                cond.get("reason"),
            ):
                self._trace(
                    "kcm.deployment.condition",
                    d,
                    type=cond["type"],
                    status=cond["status"],
                    reason=cond.get("reason", ""),
                    message=cond.get("message", ""),
                )

    def _new_condition(self, ctype: str, status: str, reason: str, message: str) -> dict[str, Any]:
        now = self.ctx.timestamp()
        return {
            "type": ctype,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    def _update_rs(self, rs: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Update a ReplicaSet and refresh the working copy in place, so every list holding it sees the write."""
        result = self.ctx.update(COMPONENT, body)
        rs.clear()
        rs.update(clone(result.object))
        return rs

    # ------------------------------------------------------------------ syncDeployment
    def reconcile(self, key: str) -> float | None:
        cached = self.ctx.lister("apps", "Deployment").by_key(key)
        if cached is None:
            return None
        d = clone(cached)
        self._rolling_note: dict[str, int] = {}
        self._written_annotations = dict(d["metadata"].get("annotations") or {})
        self._written_status = clone(d.get("status") or {})
        spec = d.get("spec") or {}
        if selector_is_empty(spec.get("selector")):
            self.ctx.event(
                EVENT_SOURCE,
                d,
                "Warning",
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            status = d.setdefault("status", {})
            if status.get("observedGeneration", 0) < d["metadata"].get("generation", 1):
                status["observedGeneration"] = d["metadata"].get("generation", 1)
                self._update_status(d)
            return None
        rs_list = self._replicasets_for(d)
        if is_terminating(d):
            self._sync_status_only(d, rs_list)
            return None
        self._check_paused_conditions(d)
        if spec.get("paused"):
            self._trace("kcm.deployment.paused", d)
            self._sync(d, rs_list)
            return None
        if self._is_scaling_event(d, rs_list):
            self._sync(d, rs_list)
            return None
        if not is_rolling(d):
            return self._rollout_recreate(d, rs_list)
        return self._rollout_rolling(d, rs_list)

    def _replicasets_for(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        """getReplicaSetsForDeployment: claim ReplicaSets by selector (adopt orphans, release strays)."""
        selector = d["spec"].get("selector")
        candidates = self.ctx.lister("apps", "ReplicaSet").list(d["metadata"]["namespace"])
        claimed = claim(
            self.ctx,
            COMPONENT,
            "deployment",
            d,
            "apps",
            "ReplicaSet",
            candidates,
            lambda rs: match_label_selector(selector, labels_of(rs)),
        )
        return [clone(rs) for rs in claimed]

    def _pods_by_rs(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """getPodMapForDeployment: the Deployment's pods, grouped by the UID of the ReplicaSet owning them."""
        selector = d["spec"].get("selector")
        out: dict[str, list[dict[str, Any]]] = {rs["metadata"]["uid"]: [] for rs in rs_list}
        for pod in self.ctx.lister("", "Pod").list(d["metadata"]["namespace"], selector):
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") in out:
                out[ref["uid"]].append(pod)
        return out

    def _check_paused_conditions(self, d: dict[str, Any]) -> None:
        if not has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        cond = get_condition(status, "Progressing")
        if cond is not None and cond.get("reason") == REASON_TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == REASON_PAUSED
        paused = bool(d["spec"].get("paused"))
        if paused and not paused_cond:
            set_condition(status, self._new_condition("Progressing", "Unknown", REASON_PAUSED, "Deployment is paused"))
        elif not paused and paused_cond:
            set_condition(
                status, self._new_condition("Progressing", "Unknown", REASON_RESUMED, "Deployment is resumed")
            )
        else:
            return
        self._update_status(d)

    def _get_all(
        self, d: dict[str, Any], rs_list: list[dict[str, Any]], create: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """getAllReplicaSetsAndSyncRevision: (new ReplicaSet, all old ones), with revisions brought up to date."""
        _, all_old = find_old_rss(d, rs_list)
        new_rs = self._get_new_rs(d, rs_list, all_old, create)
        return new_rs, all_old

    def _get_new_rs(
        self, d: dict[str, Any], rs_list: list[dict[str, Any]], old_rss: list[dict[str, Any]], create: bool
    ) -> dict[str, Any] | None:
        existing = find_new_rs(d, rs_list)
        new_revision = str(max_revision(old_rss) + 1)
        status = d.setdefault("status", {})
        if existing is not None:
            body = clone(existing)
            annotations_updated = set_new_rs_annotations(d, body, new_revision, True)
            min_ready = int(d["spec"].get("minReadySeconds") or 0)
            if annotations_updated or int(body["spec"].get("minReadySeconds") or 0) != min_ready:
                if min_ready:
                    body["spec"]["minReadySeconds"] = min_ready
                else:
                    body["spec"].pop("minReadySeconds", None)
                if (body["metadata"].get("annotations") or {}).get(REVISION) != (
                    existing["metadata"].get("annotations") or {}
                ).get(REVISION):
                    self._trace(
                        "kcm.deployment.revision",
                        d,
                        [_ref(existing)],
                        rs=existing["metadata"]["name"],
                        revision=body["metadata"]["annotations"][REVISION],
                    )
                return self._update_rs(existing, body)
            needs_update = self._set_deployment_revision(
                d, (existing["metadata"].get("annotations") or {}).get(REVISION, "")
            )
            if has_progress_deadline(d) and get_condition(status, "Progressing") is None:
                msg = f'Found new replica set "{existing["metadata"]["name"]}"'
                set_condition(status, self._new_condition("Progressing", "True", REASON_FOUND_NEW_RS, msg))
                needs_update = True
            if needs_update:
                self._update_status(d)
            return existing
        if not create:
            return None
        # A new ReplicaSet named after the hash of the Deployment's template.
        template = clone(d["spec"].get("template") or {})
        collision = status.get("collisionCount")
        pod_hash = compute_hash(template, collision)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
        selector = clone(d["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        name = f"{d['metadata']['name']}-{pod_hash}"
        rs_spec: dict[str, Any] = {"replicas": 0, "selector": selector, "template": template}
        if d["spec"].get("minReadySeconds"):
            rs_spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
        new_rs: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "ownerReferences": [new_controller_ref(d)],
                "labels": dict(tmeta["labels"]),
            },
            "spec": rs_spec,
        }
        count = new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        rs_spec["replicas"] = count
        set_new_rs_annotations(d, new_rs, new_revision, False)
        already_exists = False
        try:
            created = self.ctx.create(COMPONENT, "apps", "ReplicaSet", d["metadata"]["namespace"], new_rs).object
        except StatusError as err:
            if err.code == 409 and err.reason == "AlreadyExists":
                already_exists = True
                found = self.ctx.lister("apps", "ReplicaSet").get(d["metadata"]["namespace"], name)
                if found is None:
                    raise
                ref = controller_of(found)
                if (
                    ref is not None
                    and ref.get("uid") == d["metadata"]["uid"]
                    and equal_ignore_hash(d["spec"].get("template"), (found.get("spec") or {}).get("template"))
                ):
                    created = clone(found)
                else:
                    status["collisionCount"] = int(collision or 0) + 1
                    self._trace("kcm.deployment.collision", d, rs=name, count=status["collisionCount"])
                    self._update_status(d)
                    raise
            else:
                msg = f'Failed to create new replica set "{name}": {err.message}'
                if has_progress_deadline(d):
                    set_condition(status, self._new_condition("Progressing", "False", REASON_RS_CREATE_ERROR, msg))
                    try:
                        self._update_status(d)
                    except StatusError:
                        pass
                self.ctx.event(EVENT_SOURCE, d, "Warning", REASON_RS_CREATE_ERROR, msg)
                raise
        if not already_exists:
            self._trace(
                "kcm.deployment.new-rs",
                d,
                [_ref(created)],
                rs=name,
                hash=pod_hash,
                revision=new_revision,
                replicas=count,
            )
            if count > 0:
                self.ctx.event(
                    EVENT_SOURCE, d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}"
                )
        rs_list.append(created)
        needs_update = self._set_deployment_revision(d, new_revision)
        if not already_exists and has_progress_deadline(d):
            msg = f'Created new replica set "{name}"'
            set_condition(status, self._new_condition("Progressing", "True", REASON_NEW_RS, msg))
            needs_update = True
        if needs_update:
            self._update_status(d)
        return created

    def _set_deployment_revision(self, d: dict[str, Any], revision: str) -> bool:
        ann = _annotations(d)
        if ann.get(REVISION) != revision:
            ann[REVISION] = revision
            return True
        return False

    # ------------------------------------------------------------------ scaling
    def _is_scaling_event(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> bool:
        new_rs, old_rss = self._get_all(d, rs_list, False)
        for rs in active([*old_rss, new_rs]):
            try:
                desired = int((rs["metadata"].get("annotations") or {})[DESIRED_REPLICAS])
            except (KeyError, ValueError):
                continue
            if desired != replicas_of(d):
                return True
        return False

    def _sync(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> None:
        """sync: scaling events and paused Deployments; no rollout happens here."""
        new_rs, old_rss = self._get_all(d, rs_list, False)
        self._scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            self._cleanup(old_rss, d)
        self._sync_deployment_status([*old_rss, new_rs], new_rs, d)

    def _sync_status_only(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> None:
        new_rs, old_rss = self._get_all(d, rs_list, False)
        self._sync_deployment_status([*old_rss, new_rs], new_rs, d)

    def _scale(self, d: dict[str, Any], new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]]) -> None:
        """scale: one active ReplicaSet takes the full count; several share a change in proportion."""
        want = replicas_of(d)
        target = self._active_or_latest(new_rs, old_rss)
        if target is not None:
            if replicas_of(target) != want:
                self._scale_and_record(target, want, d)
            return
        if is_saturated(d, new_rs):
            for old in active(list(old_rss)):
                self._scale_and_record(old, 0, d)
            return
        if not is_rolling(d):
            return
        all_rss = active([*old_rss, new_rs])
        allowed = want + max_surge(d) if want > 0 else 0
        to_add = allowed - total_replicas(list(all_rss))
        operation = ""
        if to_add > 0:
            # ReplicaSetsBySizeNewer: largest first, then newest, then name descending.
            all_rss.sort(key=lambda rs: (replicas_of(rs), *_created(rs)), reverse=True)
            operation = "up"
        elif to_add < 0:
            all_rss.sort(key=lambda rs: (-replicas_of(rs), _created(rs)[0], rs["metadata"]["name"]))
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            if to_add != 0:
                proportion = get_proportion(rs, d, to_add, added)
                sizes[rs["metadata"]["name"]] = replicas_of(rs) + proportion
                added += proportion
            else:
                sizes[rs["metadata"]["name"]] = replicas_of(rs)
        for i, rs in enumerate(all_rss):
            name = rs["metadata"]["name"]
            if i == 0 and to_add != 0:
                sizes[name] = max(0, sizes[name] + to_add - added)
            self._scale_rs(rs, sizes[name], d, operation)

    def _active_or_latest(self, new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]]) -> dict[str, Any] | None:
        """FindActiveOrLatest: the only active ReplicaSet, or the newest when none is active."""
        if new_rs is None and not old_rss:
            return None
        olds = sorted(old_rss, key=_created, reverse=True)
        act = active([*olds, new_rs])
        if not act:
            return new_rs if new_rs is not None else olds[0]
        if len(act) == 1:
            return act[0]
        return None

    def _scale_and_record(self, rs: dict[str, Any], new_scale: int, d: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """scaleReplicaSetAndRecordEvent."""
        if replicas_of(rs) == new_scale:
            return False, rs
        return self._scale_rs(rs, new_scale, d, "up" if replicas_of(rs) < new_scale else "down")

    def _scale_rs(
        self, rs: dict[str, Any], new_scale: int, d: dict[str, Any], operation: str
    ) -> tuple[bool, dict[str, Any]]:
        """scaleReplicaSet: write spec.replicas and the replicas annotations; the event names both sizes."""
        size_changed = replicas_of(rs) != new_scale
        maximum = replicas_of(d) + max_surge(d)
        if not size_changed and not replicas_annotations_need_update(rs, replicas_of(d), maximum):
            return False, rs
        old_scale = replicas_of(rs)
        if size_changed and self._rolling_note:
            self._trace("kcm.deployment.rolling", d, **self._rolling_note)
            self._rolling_note = {}
        body = clone(rs)
        body["spec"]["replicas"] = new_scale
        set_replicas_annotations(body, replicas_of(d), maximum)
        self._update_rs(rs, body)
        if size_changed:
            name = rs["metadata"]["name"]
            self._trace(
                "kcm.deployment.scale",
                d,
                [_ref(rs)],
                rs=name,
                direction=operation,
                **{"from": old_scale, "to": new_scale},
            )
            self.ctx.event(
                EVENT_SOURCE,
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {operation} replica set {name} from {old_scale} to {new_scale}",
            )
        return size_changed, rs

    # ------------------------------------------------------------------ RollingUpdate (rolling.go)
    def _rollout_rolling(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> float | None:
        new_rs, old_rss = self._get_all(d, rs_list, True)
        assert new_rs is not None
        all_rss: list[dict[str, Any] | None] = [*old_rss, new_rs]
        surge, unavailable = max_surge(d), max_unavailable(d)
        # Narrated just before the first scaling this sync makes, so a sync that changes nothing stays quiet.
        self._rolling_note = {
            "surge": surge,
            "unavailable": unavailable,
            "max_total": replicas_of(d) + surge,
            "min_available": replicas_of(d) - unavailable,
        }
        if self._reconcile_new_rs(all_rss, new_rs, d):
            return self._sync_rollout_status(all_rss, new_rs, d)
        if self._reconcile_old_rss(all_rss, active(list(old_rss)), new_rs, d):
            return self._sync_rollout_status(all_rss, new_rs, d)
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(old_rss, d)
        return self._sync_rollout_status(all_rss, new_rs, d)

    def _reconcile_new_rs(
        self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any], d: dict[str, Any]
    ) -> bool:
        want = replicas_of(d)
        if replicas_of(new_rs) == want:
            return False
        if replicas_of(new_rs) > want:
            return self._scale_and_record(new_rs, want, d)[0]
        return self._scale_and_record(new_rs, new_rs_new_replicas(d, all_rss, new_rs), d)[0]

    def _reconcile_old_rss(
        self,
        all_rss: list[dict[str, Any] | None],
        old_rss: list[dict[str, Any]],
        new_rs: dict[str, Any],
        d: dict[str, Any],
    ) -> bool:
        old_pods = total_replicas(list(old_rss))
        if old_pods == 0:
            return False
        all_pods = total_replicas(all_rss)
        min_available = replicas_of(d) - max_unavailable(d)
        new_unavailable = replicas_of(new_rs) - rs_status(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        old_rss, cleaned = self._cleanup_unhealthy(old_rss, d, max_scaled_down)
        scaled = self._scale_down_old_for_rolling([*old_rss, new_rs], old_rss, d)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(
        self, old_rss: list[dict[str, Any]], d: dict[str, Any], max_cleanup: int
    ) -> tuple[list[dict[str, Any]], int]:
        """cleanupUnhealthyReplicas: scale old ReplicaSets down by their unavailable pods first."""
        old_rss = sorted(old_rss, key=_created)
        total = 0
        for rs in old_rss:
            if total >= max_cleanup:
                break
            if replicas_of(rs) == 0 or replicas_of(rs) == rs_status(rs, "availableReplicas"):
                continue
            count = min(max_cleanup - total, replicas_of(rs) - rs_status(rs, "availableReplicas"))
            self._scale_and_record(rs, replicas_of(rs) - count, d)
            total += count
        return old_rss, total

    def _scale_down_old_for_rolling(
        self, all_rss: list[dict[str, Any] | None], old_rss: list[dict[str, Any]], d: dict[str, Any]
    ) -> int:
        """scaleDownOldReplicaSetsForRollingUpdate: never below replicas - maxUnavailable available pods."""
        min_available = replicas_of(d) - max_unavailable(d)
        available = sum(rs_status(rs, "availableReplicas") for rs in all_rss if rs is not None)
        if available <= min_available:
            return 0
        total_down = available - min_available
        done = 0
        for rs in sorted(old_rss, key=_created):
            if done >= total_down:
                break
            if replicas_of(rs) == 0:
                continue
            count = min(replicas_of(rs), total_down - done)
            self._scale_and_record(rs, replicas_of(rs) - count, d)
            done += count
        return done

    # ------------------------------------------------------------------ Recreate (recreate.go)
    def _rollout_recreate(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> float | None:
        pod_map = self._pods_by_rs(d, rs_list)
        new_rs, old_rss = self._get_all(d, rs_list, False)
        all_rss: list[dict[str, Any] | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in active(list(old_rss)):
            if self._scale_and_record(rs, 0, d)[0]:
                scaled_down = True
        if scaled_down:
            return self._sync_rollout_status(all_rss, new_rs, d)
        if self._old_pods_running(new_rs, old_rss, pod_map):
            self._trace("kcm.deployment.recreate-wait", d)
            return self._sync_rollout_status(all_rss, new_rs, d)
        if new_rs is None:
            new_rs, old_rss = self._get_all(d, rs_list, True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        self._scale_and_record(new_rs, replicas_of(d), d)
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(old_rss, d)
        return self._sync_rollout_status(all_rss, new_rs, d)

    @staticmethod
    def _old_pods_running(
        new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]], pod_map: dict[str, list[dict[str, Any]]]
    ) -> bool:
        if sum(rs_status(rs, "replicas") for rs in old_rss) > 0:
            return True
        for uid, pods in pod_map.items():
            if new_rs is not None and new_rs["metadata"]["uid"] == uid:
                continue
            for pod in pods:
                if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                    return True
        return False

    # ------------------------------------------------------------------ history
    def _cleanup(self, old_rss: list[dict[str, Any]], d: dict[str, Any]) -> None:
        """cleanupDeployment: delete the oldest scaled-down ReplicaSets beyond revisionHistoryLimit."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None or limit == MAX_INT32:
            return
        cleanable = [rs for rs in old_rss if not is_terminating(rs)]
        diff = len(cleanable) - int(limit)
        if diff <= 0:
            return
        cleanable.sort(key=lambda rs: (revision_of(rs) or 0, *_created(rs)))
        for rs in cleanable[:diff]:
            if (
                rs_status(rs, "replicas") != 0
                or replicas_of(rs) != 0
                or rs["metadata"].get("generation", 1) > rs_status(rs, "observedGeneration")
                or is_terminating(rs)
            ):
                continue
            self._trace("kcm.deployment.cleanup", d, [_ref(rs)], rs=rs["metadata"]["name"], limit=limit)
            self.ctx.delete(COMPONENT, "apps", "ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])

    # ------------------------------------------------------------------ status (sync.go, progress.go)
    def _calculate_status(
        self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None, d: dict[str, Any]
    ) -> dict[str, Any]:
        rss = [rs for rs in all_rss if rs is not None]
        available = sum(rs_status(rs, "availableReplicas") for rs in rss)
        total = total_replicas(list(rss))
        old = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(rs_status(rs, "replicas") for rs in rss),
            "updatedReplicas": rs_status(new_rs, "replicas"),
            "readyReplicas": sum(rs_status(rs, "readyReplicas") for rs in rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
            "conditions": clone(old.get("conditions") or []),
        }
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        if available >= replicas_of(d) - max_unavailable(d):
            cond = self._new_condition(
                "Available", "True", REASON_MIN_AVAILABLE, "Deployment has minimum availability."
            )
        else:
            cond = self._new_condition(
                "Available", "False", REASON_MIN_UNAVAILABLE, "Deployment does not have minimum availability."
            )
        set_condition(status, cond)
        return status

    def _sync_deployment_status(
        self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None, d: dict[str, Any]
    ) -> None:
        status = _omit_zero(self._calculate_status(all_rss, new_rs, d))
        if status == (d.get("status") or {}):
            return
        d["status"] = status
        self._write_status_trace(d)
        self._update_status(d)

    def _sync_rollout_status(
        self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None, d: dict[str, Any]
    ) -> float | None:
        """syncRolloutStatus: the Progressing condition, and a timer for the progress deadline."""
        status = self._calculate_status(all_rss, new_rs, d)
        if not has_progress_deadline(d):
            remove_condition(status, "Progressing")
        current = get_condition(d.get("status") or {}, "Progressing")
        complete_before = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == REASON_NEW_RS_AVAILABLE
        )
        now = _now_epoch(self.ctx)
        if has_progress_deadline(d) and not complete_before:
            rs_name = new_rs["metadata"]["name"] if new_rs is not None else None
            if deployment_complete(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" has successfully progressed.'
                )
                set_condition(status, self._new_condition("Progressing", "True", REASON_NEW_RS_AVAILABLE, msg))
            elif deployment_progressing(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" is progressing.'
                )
                cond = self._new_condition("Progressing", "True", REASON_RS_UPDATED, msg)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(status, "Progressing")
                set_condition(status, cond)
            elif deployment_timed_out(d, status, now):
                msg = (
                    f'ReplicaSet "{rs_name}" has timed out progressing.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" has timed out progressing.'
                )
                set_condition(status, self._new_condition("Progressing", "False", REASON_TIMED_OUT, msg))
        failure = self._replica_failure(all_rss, new_rs)
        if failure is not None:
            set_condition(status, failure)
        else:
            remove_condition(status, "ReplicaFailure")
        status = _omit_zero(status)
        if status == (d.get("status") or {}):
            return self._requeue_stuck(d, status, now)
        d["status"] = status
        self._write_status_trace(d)
        self._update_status(d)
        return None

    @staticmethod
    def _replica_failure(all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None) -> dict[str, Any] | None:
        """getReplicaFailures: the new ReplicaSet's ReplicaFailure condition, else any old one's."""
        ordered = [new_rs] + [rs for rs in all_rss if rs is not new_rs]
        for rs in ordered:
            if rs is None:
                continue
            for cond in (rs.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "ReplicaFailure":
                    return {
                        "type": "ReplicaFailure",
                        "status": cond.get("status"),
                        "lastUpdateTime": cond.get("lastTransitionTime"),
                        "lastTransitionTime": cond.get("lastTransitionTime"),
                        "reason": cond.get("reason", ""),
                        "message": cond.get("message", ""),
                    }
        return None

    def _requeue_stuck(self, d: dict[str, Any], status: dict[str, Any], now: float) -> float | None:
        """requeueStuckDeployment: look again when the progress deadline would pass."""
        current = get_condition(d.get("status") or {}, "Progressing")
        if not has_progress_deadline(d) or current is None:
            return None
        if deployment_complete(d, status) or current.get("reason") == REASON_TIMED_OUT:
            return None
        since = ts_epoch(current.get("lastUpdateTime"))
        if since is None:
            return None
        after = since + int(d["spec"]["progressDeadlineSeconds"]) - now
        return max(after, 0.0) + 1.0

    def _write_status_trace(self, d: dict[str, Any]) -> None:
        status = d.get("status") or {}
        self._trace(
            "kcm.deployment.status",
            d,
            replicas=replicas_of(d),
            updated=status.get("updatedReplicas", 0),
            ready=status.get("readyReplicas", 0),
            available=status.get("availableReplicas", 0),
        )


def _ref(obj: dict[str, Any]) -> dict[str, str]:
    return {"kind": obj["kind"], "namespace": obj["metadata"].get("namespace", ""), "name": obj["metadata"]["name"]}


CONTROLLERS = [DeploymentController]
