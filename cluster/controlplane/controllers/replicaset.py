"""The replicaset controller (upstream ``pkg/controller/replicaset``).

It also holds the helpers every workload controller shares, as upstream keeps them in
``pkg/controller/controller_utils.go`` and ``pkg/api/v1/pod``: pod readiness and
availability, controller references, adoption and release, expectations, the
slow-start batch, the deletion ranking and the template hash.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from django.utils.translation import gettext_noop

from cluster import clock
from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.api.selectors import match_label_selector
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "replicaset-controller"

# Upstream constants: BurstReplicas, SlowStartInitialBatchSize and ExpectationsTimeout.
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH_SIZE = 1
EXPECTATIONS_TIMEOUT = 300.0

# k8s.io/apimachinery/pkg/util/rand: the alphabet SafeEncodeString maps to (no vowels, no 0/1/3).
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

# podPhaseToOrdinal in controller_utils.go: Pending < Unknown < Running.
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}

NARRATION = {
    "kcm.replicaset.too-few": gettext_noop(
        "The replicaset controller sees {have} of {want} pods for ReplicaSet {namespace}/{name}; it will create {count}, in slow-start batches."
    ),
    "kcm.replicaset.batch": gettext_noop(
        "Slow-start batch {batch}: the replicaset controller creates {size} pod(s) for ReplicaSet {namespace}/{name}."
    ),
    "kcm.replicaset.too-many": gettext_noop(
        "The replicaset controller sees {have} pods for ReplicaSet {namespace}/{name}, which wants {want}; it deletes the lowest-ranked {count}: {pods}."
    ),
    "kcm.replicaset.adopt": gettext_noop(
        "The {controller} controller adopts orphan {kind} {object}: its labels match the selector of {owner}."
    ),
    "kcm.replicaset.release": gettext_noop(
        "The {controller} controller releases {kind} {object}: its labels no longer match the selector of {owner}."
    ),
    "kcm.replicaset.expectations": gettext_noop(
        "The replicaset controller waits to see the pods it just created or deleted for ReplicaSet {namespace}/{name} in its cache before it counts again."
    ),
    "kcm.replicaset.status": gettext_noop(
        "The replicaset controller writes the status of ReplicaSet {namespace}/{name}: {replicas} replicas, {ready} ready, {available} available."
    ),
}


# ----------------------------------------------------------------------------- time
def now_epoch(ctx: Context) -> float:
    """Sim "now" on the same scale as object timestamps (seconds since the Unix epoch)."""
    return clock.sim_now(ctx.cluster).timestamp()


def ts_epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return clock.parse_rfc3339(text).timestamp()
    except ValueError:
        return None


# ----------------------------------------------------------------------------- pods (pkg/api/v1/pod)
def pod_condition(pod: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_pod_ready(pod: dict[str, Any]) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_ready_since(pod: dict[str, Any]) -> float | None:
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return ts_epoch(cond.get("lastTransitionTime"))


def is_pod_available(pod: dict[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (strictly: lastTransitionTime + minReadySeconds before now)."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = pod_ready_since(pod)
    return since is not None and since + min_ready_seconds < now


def pending_availability(pods: Iterable[dict[str, Any]], min_ready_seconds: int, now: float) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod turns available (plus upstream's extra second)."""
    if not min_ready_seconds:
        return None
    waits = []
    for pod in pods:
        since = pod_ready_since(pod)
        if since is not None and not is_pod_available(pod, min_ready_seconds, now):
            waits.append(max(0.0, since + min_ready_seconds + 1.0 - now))
    return min(waits) if waits else None


def phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_terminating(obj: dict[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def is_pod_active(pod: dict[str, Any]) -> bool:
    """controller.IsPodActive: not Succeeded, not Failed, not being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def node_name(pod: dict[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def max_container_restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


# ----------------------------------------------------------------------------- owners
def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: dict[str, Any]) -> dict[str, Any]:
    """metav1.NewControllerRef: controller and blockOwnerDeletion both true."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def resolve_controller_ref(
    ctx: Context, namespace: str, ref: dict[str, Any] | None, group: str, kind: str
) -> dict[str, Any] | None:
    """The owner a controllerRef points at, if it is of ``kind`` and still has that UID."""
    if ref is None or ref.get("kind") != kind:
        return None
    owner = ctx.lister(group, kind).get(namespace, ref.get("name", ""))
    if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
        return None
    return owner


def selector_is_empty(selector: dict[str, Any] | None) -> bool:
    return not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions"))


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def selecting_owners(ctx: Context, group: str, kind: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Controllers of ``kind`` in obj's namespace whose (non-empty) selector matches obj's labels."""
    labels = labels_of(obj)
    if not labels:
        return []
    return [
        owner
        for owner in ctx.lister(group, kind).list(obj["metadata"]["namespace"])
        if not selector_is_empty((owner.get("spec") or {}).get("selector"))
        and match_label_selector((owner.get("spec") or {}).get("selector"), labels)
    ]


def claim(
    ctx: Context,
    component: str,
    controller_name: str,
    owner: dict[str, Any],
    group: str,
    kind: str,
    objects: list[dict[str, Any]],
    match: Callable[[dict[str, Any]], bool],
) -> list[dict[str, Any]]:
    """ControllerRefManager.Claim*: keep what we own and match, adopt matching orphans, release the rest."""
    uid = owner["metadata"]["uid"]
    owner_deleting = is_terminating(owner)
    owner_name = f"{owner['kind']} {object_key(owner)}"
    claimed: list[dict[str, Any]] = []
    can_adopt: bool | None = None
    for obj in objects:
        meta = obj["metadata"]
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if match(obj):
                claimed.append(obj)
                continue
            if owner_deleting:
                continue
            refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != uid]
            ctx.trace(
                component,
                controller_name,
                "kcm.replicaset.release",
                {"controller": controller_name, "kind": kind, "object": meta["name"], "owner": owner_name},
                [{"kind": kind, "namespace": meta.get("namespace", ""), "name": meta["name"]}],
            )
            try:
                ctx.patch(
                    component,
                    group,
                    kind,
                    meta.get("namespace"),
                    meta["name"],
                    {"metadata": {"ownerReferences": refs or None}},
                )
            except StatusError as err:
                if err.code != 404:
                    raise
            continue
        if owner_deleting or not match(obj) or is_terminating(obj):
            continue
        if meta.get("namespace") != owner["metadata"].get("namespace"):
            continue
        if can_adopt is None:
            can_adopt = _recheck_owner(ctx, owner)
        if not can_adopt:
            continue
        refs = [*list(meta.get("ownerReferences") or []), new_controller_ref(owner)]
        ctx.trace(
            component,
            controller_name,
            "kcm.replicaset.adopt",
            {"controller": controller_name, "kind": kind, "object": meta["name"], "owner": owner_name},
            [{"kind": kind, "namespace": meta.get("namespace", ""), "name": meta["name"]}],
        )
        try:
            result = ctx.patch(
                component, group, kind, meta.get("namespace"), meta["name"], {"metadata": {"ownerReferences": refs}}
            )
        except StatusError as err:
            if err.code == 404:
                continue
            raise
        claimed.append(result.object)
    return claimed


def _recheck_owner(ctx: Context, owner: dict[str, Any]) -> bool:
    """RecheckDeletionTimestamp: read the owner fresh from the API server before adopting anything."""
    meta = owner["metadata"]
    resource = registry.by_api_version(owner["apiVersion"], owner["kind"])
    assert resource is not None
    try:
        fresh = ctx.api.get(resource, meta.get("namespace"), meta["name"])
    except StatusError:
        return False
    return fresh["metadata"].get("uid") == meta.get("uid") and not fresh["metadata"].get("deletionTimestamp")


# ----------------------------------------------------------------------------- pod templates
def pod_from_template(
    template: dict[str, Any], parent: dict[str, Any], controller_ref: dict[str, Any] | None
) -> dict[str, Any]:
    """GetPodFromTemplate: labels, annotations and finalizers of the template, generateName ``<parent>-``.

    Everything in the pod is its own (nothing shared with the template or ``controller_ref``),
    so it can be handed to the API server as owned.
    """
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"generateName": f"{parent['metadata']['name']}-"}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if controller_ref is not None:
        meta["ownerReferences"] = [dict(controller_ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": clone(template.get("spec") or {})}


def slow_start_batch(
    count: int,
    initial_batch_size: int,
    fn: Callable[[], None],
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[int, StatusError | None]:
    """Upstream slowStartBatch: batches of 1, 2, 4, ... calls; stop after the first batch with a failure.

    Each batch runs whole (upstream runs it in parallel goroutines), so every call of a failing
    batch is attempted. Returns the successes and the first error.
    """
    remaining = count
    successes = 0
    batch = min(remaining, initial_batch_size)
    index = 0
    while batch > 0:
        index += 1
        if on_batch is not None:
            on_batch(index, batch)
        errors: list[StatusError] = []
        for _ in range(batch):
            try:
                fn()
            except StatusError as err:
                errors.append(err)
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# ----------------------------------------------------------------------------- hashing
def fnv32a(data: bytes, h: int = 0x811C9DC5) -> int:
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def fnv32(data: bytes, h: int = 0x811C9DC5) -> int:
    """FNV-1 (multiply, then xor), which ControllerRevision hashes use."""
    for b in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= b
    return h


def safe_encode_string(text: str) -> str:
    """rand.SafeEncodeString: map every character onto the vowel-free alphabet by its code point."""
    return "".join(SAFE_ALPHANUMS[ord(ch) % len(SAFE_ALPHANUMS)] for ch in text)


def deep_hash_bytes(obj: Any) -> bytes:
    """The bytes DeepHashObject feeds the hasher.

    Upstream prints the Go struct with spew (every field, zero values included); a dict has no
    Go field list, so the canonical, key-sorted JSON of the object stands in for that dump.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(template: dict[str, Any], collision_count: int | None) -> str:
    """controller.ComputeHash: fnv32a over the template, then collisionCount as 8 little-endian bytes."""
    h = fnv32a(deep_hash_bytes(template))
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\x00\x00\x00\x00", h)
    return safe_encode_string(str(h))


def go_json(obj: Any) -> bytes:
    """encoding/json.Marshal of a map: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()


def hash_controller_revision(raw: bytes, probe: int | None) -> str:
    """history.HashControllerRevision: FNV-1 over the revision's data, then the probe in decimal."""
    h = fnv32(raw)
    if probe is not None:
        h = fnv32(str(probe).encode(), h)
    return safe_encode_string(str(h))


def template_patch(obj: dict[str, Any]) -> dict[str, Any]:
    """getPatch of the StatefulSet and DaemonSet controllers: a patch that replaces spec.template."""
    template = clone((obj.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


# ----------------------------------------------------------------------------- expectations
class Expectations:
    """ControllerExpectations / UIDTrackingControllerExpectations, keyed by the owner's key.

    A sync that creates or deletes records what it expects to see; the owner is not synced
    again (beyond its status) until the informer has shown every one, or five minutes pass.
    """

    def __init__(self) -> None:
        self._adds: dict[str, int] = {}
        self._dels: dict[str, int] = {}
        self._at: dict[str, float] = {}
        self._deleting: dict[str, set[str]] = {}

    def expect(self, key: str, adds: int, deletes: int, now: float, pod_keys: Iterable[str] = ()) -> None:
        self._adds[key] = adds
        self._dels[key] = deletes
        self._at[key] = now
        self._deleting[key] = set(pod_keys)

    def creation_observed(self, key: str) -> None:
        if key in self._adds:
            self._adds[key] -= 1

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:
        if key not in self._dels:
            return
        tracked = self._deleting.get(key)
        if pod_key is not None and tracked:
            if pod_key not in tracked:
                return
            tracked.discard(pod_key)
        self._dels[key] -= 1

    def satisfied(self, key: str, now: float) -> bool:
        if key not in self._adds:
            return True
        if self._adds[key] <= 0 and self._dels[key] <= 0:
            return True
        return now - self._at[key] > EXPECTATIONS_TIMEOUT

    def forget(self, key: str) -> None:
        for store in (self._adds, self._dels, self._at, self._deleting):
            store.pop(key, None)


# ----------------------------------------------------------------------------- deletion ranking
def _after_or_zero(t1: float | None, t2: float | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log_rank_diff(t1: float, t2: float, now: float) -> int:
    """logarithmicRankDiff: compare the two ages by their base-2 logarithm (in nanoseconds)."""

    def rank(t: float) -> int:
        d = (now - t) * 1e9
        return int(math.log2(d)) if d > 0 else -1

    return rank(t1) - rank(t2)


def _pod_less(a: dict[str, Any], b: dict[str, Any], rank_a: int, rank_b: int, now: float) -> bool:
    """ActivePodsWithRanks.Less with LogarithmicScaleDown and PodDeletionCost (both on by default)."""
    na, nb = node_name(a), node_name(b)
    if na != nb and (not na or not nb):
        return not na
    pa, pb = _PHASE_ORDINAL.get(phase(a), 0), _PHASE_ORDINAL.get(phase(b), 0)
    if pa != pb:
        return pa < pb
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:
        return not ra
    ca, cb = _deletion_cost(a), _deletion_cost(b)
    if ca != cb:
        return ca < cb
    if rank_a != rank_b:
        return rank_a > rank_b
    if ra and rb:
        ta, tb = pod_ready_since(a), pod_ready_since(b)
        if ta != tb:
            if ta is None or tb is None:
                return _after_or_zero(ta, tb)
            diff = _log_rank_diff(ta, tb, now)
            if diff == 0:
                return a["metadata"].get("uid", "") < b["metadata"].get("uid", "")
            return diff < 0
    xa, xb = max_container_restarts(a), max_container_restarts(b)
    if xa != xb:
        return xa > xb
    ta, tb = ts_epoch(a["metadata"].get("creationTimestamp")), ts_epoch(b["metadata"].get("creationTimestamp"))
    if ta != tb:
        if ta is None or tb is None:
            return _after_or_zero(ta, tb)
        diff = _log_rank_diff(ta, tb, now)
        if diff == 0:
            return a["metadata"].get("uid", "") < b["metadata"].get("uid", "")
        return diff < 0
    return False


def _deletion_cost(pod: dict[str, Any]) -> int:
    value = (pod["metadata"].get("annotations") or {}).get("controller.kubernetes.io/pod-deletion-cost")
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def rank_pods_for_deletion(
    pods: list[dict[str, Any]], related: list[dict[str, Any]], now: float
) -> list[dict[str, Any]]:
    """Sort pods so the ones to delete first come first (getPodsRankedByRelatedPodsOnSameNode)."""
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            on_node[node_name(pod)] = on_node.get(node_name(pod), 0) + 1
    ranked = [(pod, on_node.get(node_name(pod), 0)) for pod in pods]

    def cmp(x: tuple[dict[str, Any], int], y: tuple[dict[str, Any], int]) -> int:
        if _pod_less(x[0], y[0], x[1], y[1], now):
            return -1
        if _pod_less(y[0], x[0], y[1], x[1], now):
            return 1
        return 0

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [pod for pod, _ in ranked]


# ----------------------------------------------------------------------------- the controller
def replica_set_status(
    rs: dict[str, Any],
    pods: list[dict[str, Any]],
    now: float,
    stamp: str,
    error: str | None,
    facts: list[PodFacts] | None = None,
) -> dict[str, Any]:
    """calculateReplicaSetStatus, as the JSON the API server stores (zero counts omitted as omitempty does).

    ``facts``: what the controller already knows of each of ``pods`` (in the same order).
    """
    spec = rs.get("spec") or {}
    old = rs.get("status") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    if facts is not None:
        fully = sum(1 for f in facts if f.fully)
        ready = [f.pod for f in facts if f.ready]
    else:
        wanted = template_labels_of(rs).items()
        fully = sum(1 for p in pods if wanted <= labels_of(p).items())
        ready = [p for p in pods if is_pod_ready(p)]
    # With no minReadySeconds, available is ready (this runs over every pod at every sync).
    available = sum(1 for p in ready if is_pod_available(p, min_ready, now)) if min_ready else len(ready)
    conditions = [c for c in old.get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if error is not None and failure is None:
        diff = len(pods) - int(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": stamp,
                "reason": reason,
                "message": error,
            }
        )
    elif error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    status: dict[str, Any] = {"replicas": len(pods)}
    if fully:
        status["fullyLabeledReplicas"] = fully
    if ready:
        status["readyReplicas"] = len(ready)
    if available:
        status["availableReplicas"] = available
    if old.get("observedGeneration"):
        status["observedGeneration"] = old["observedGeneration"]
    if conditions:
        status["conditions"] = conditions
    return status


def template_labels_of(rs: dict[str, Any]) -> dict[str, str]:
    return (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


class PodFacts(NamedTuple):
    """What a ReplicaSet's sync asks of one active pod it controls or might adopt or release."""

    pod: dict[str, Any]
    ours: bool
    """Controlled by this ReplicaSet and matching its selector: claiming keeps it as it is."""
    ready: bool
    fully: bool
    """Carries every label of the ReplicaSet's template (``fullyLabeledReplicas``)."""


class ReplicaSetController(Controller):
    """Keeps the number of active pods matching each ReplicaSet's selector at spec.replicas."""

    component = COMPONENT
    name = "replicaset"
    watches = (("apps", "ReplicaSet"), ("", "Pod"))

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()
        # Per ReplicaSet: the pods its last sync found it controls (by key: the resourceVersion
        # seen, ready, fully labeled), and what those answers depended on (uid, selector, template
        # labels). A sync walks every pod in the namespace; at 10,000 pods most have not changed.
        self._facts: dict[str, tuple[tuple[Any, ...], dict[str, tuple[str, bool, bool]]]] = {}

    # ------------------------------------------------------------------ event handlers
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if kind == "ReplicaSet":
            obj = new or old
            if obj is not None:
                if etype == "DELETED":
                    self.expectations.forget(object_key(obj))
                self.queue.add(object_key(obj))
            return
        if etype == "ADDED" and new is not None:
            self._add_pod(new)
        elif etype == "MODIFIED" and new is not None and old is not None:
            self._update_pod(old, new)
        elif etype == "DELETED" and new is not None:
            self._delete_pod(new)

    def _owner_key(self, pod: dict[str, Any]) -> str | None:
        rs = resolve_controller_ref(self.ctx, pod["metadata"]["namespace"], controller_of(pod), "apps", "ReplicaSet")
        return object_key(rs) if rs is not None else None

    def _matching_sets(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        return selecting_owners(self.ctx, "apps", "ReplicaSet", pod)

    def _add_pod(self, pod: dict[str, Any]) -> None:
        if is_terminating(pod):
            self._delete_pod(pod)
            return
        ref = controller_of(pod)
        if ref is not None:
            key = self._owner_key(pod)
            if key is not None:
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for rs in self._matching_sets(pod):
            self.queue.add(object_key(rs))

    def _update_pod(self, old: dict[str, Any], cur: dict[str, Any]) -> None:
        if cur["metadata"].get("resourceVersion") == old["metadata"].get("resourceVersion"):
            return
        labels_changed = labels_of(cur) != labels_of(old)
        if is_terminating(cur):
            self._delete_pod(cur)
            if labels_changed:
                self._delete_pod(old)
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if old_ref is not None and old_ref != cur_ref:
            key = self._owner_key(old)
            if key is not None:
                self.queue.add(key)
        if cur_ref is not None:
            rs = resolve_controller_ref(self.ctx, cur["metadata"]["namespace"], cur_ref, "apps", "ReplicaSet")
            if rs is None:
                return
            self.queue.add(object_key(rs))
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if not is_pod_ready(old) and is_pod_ready(cur) and min_ready > 0:
                self.queue.add_after(object_key(rs), self.ctx.now() + min_ready + 1.0)
            return
        if labels_changed or old_ref != cur_ref:
            for rs in self._matching_sets(cur):
                self.queue.add(object_key(rs))

    def _delete_pod(self, pod: dict[str, Any]) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # ------------------------------------------------------------------ sync
    def reconcile(self, key: str) -> float | None:
        rs = self.ctx.lister("apps", "ReplicaSet").by_key(key)
        if rs is None:
            self.expectations.forget(key)
            self._facts.pop(key, None)
            return None
        now = now_epoch(self.ctx)
        needs_sync = self.expectations.satisfied(key, self.ctx.now())
        spec = rs.get("spec") or {}
        selector = spec.get("selector")

        def match(p: dict[str, Any]) -> bool:
            return not selector_is_empty(selector) and match_label_selector(selector, labels_of(p))

        facts = self._pod_facts(key, rs, match)
        # Pods it already controls and that match are claimed as they are; only the rest (orphans
        # to adopt, pods to release) need ControllerRefManager.
        others = [f.pod for f in facts if not f.ours]
        if others:
            claimed = claim(self.ctx, COMPONENT, "replicaset", rs, "", "Pod", others, match)
            # An adopted pod comes back as the object the patch returned.
            by_key = {object_key(p): p for p in claimed}
            wanted = template_labels_of(rs).items()
            facts = [
                f if f.ours else PodFacts(p, True, is_pod_ready(p), wanted <= labels_of(p).items())
                for f in facts
                if f.ours or (p := by_key.get(object_key(f.pod))) is not None
            ]
        pods = [f.pod for f in facts]
        error: str | None = None
        if needs_sync and not is_terminating(rs):
            error = self._manage(key, rs, pods, now)
        elif not needs_sync:
            self.ctx.trace(COMPONENT, "replicaset", "kcm.replicaset.expectations", _ids(rs), [_ref(rs)])
        updated = self._write_status(rs, pods, now, error, facts)
        if error is not None:
            raise StatusError(500, "InternalError", error)
        status = updated.get("status") or {}
        want = int(spec.get("replicas", 1))
        if status.get("readyReplicas", 0) == want and status.get("availableReplicas", 0) != want:
            return pending_availability(pods, int(spec.get("minReadySeconds") or 0), now)
        return None

    def _manage(self, key: str, rs: dict[str, Any], pods: list[dict[str, Any]], now: float) -> str | None:
        want = int((rs.get("spec") or {}).get("replicas", 1))
        diff = len(pods) - want
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect(key, count, 0, self.ctx.now())
            self.ctx.trace(
                COMPONENT,
                "replicaset",
                "kcm.replicaset.too-few",
                {**_ids(rs), "have": len(pods), "want": want, "count": count},
                [_ref(rs)],
            )
            template = (rs.get("spec") or {}).get("template") or {}
            ref = new_controller_ref(rs)

            def create() -> None:
                body = pod_from_template(template, rs, ref)
                try:
                    created = self.ctx.create(
                        COMPONENT, "", "Pod", rs["metadata"]["namespace"], body, owned=True
                    ).shared
                except StatusError as err:
                    self.ctx.event(EVENT_SOURCE, rs, "Warning", "FailedCreate", f"Error creating: {err.message}")
                    raise
                self.ctx.event(
                    EVENT_SOURCE, rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}"
                )

            def on_batch(index: int, size: int) -> None:
                self.ctx.trace(
                    COMPONENT,
                    "replicaset",
                    "kcm.replicaset.batch",
                    {**_ids(rs), "batch": index, "size": size},
                    [_ref(rs)],
                )

            successes, err = slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create, on_batch)
            for _ in range(count - successes):
                self.expectations.creation_observed(key)
            return None if err is None else err.message
        if diff > 0:
            count = min(diff, BURST_REPLICAS)
            victims = pods
            if count < len(pods):
                victims = rank_pods_for_deletion(pods, self._related_pods(rs), now)
            victims = victims[:count]
            self.expectations.expect(key, 0, count, self.ctx.now(), [object_key(p) for p in victims])
            self.ctx.trace(
                COMPONENT,
                "replicaset",
                "kcm.replicaset.too-many",
                {
                    **_ids(rs),
                    "have": len(pods),
                    "want": want,
                    "count": count,
                    "pods": ", ".join(p["metadata"]["name"] for p in victims),
                },
                [
                    _ref(rs),
                    *(
                        {"kind": "Pod", "namespace": p["metadata"]["namespace"], "name": p["metadata"]["name"]}
                        for p in victims
                    ),
                ],
            )
            first_error: str | None = None
            for pod in victims:
                name = pod["metadata"]["name"]
                try:
                    self.ctx.delete(COMPONENT, "", "Pod", pod["metadata"]["namespace"], name)
                except StatusError as err:
                    self.expectations.deletion_observed(key, object_key(pod))
                    self.ctx.event(EVENT_SOURCE, rs, "Warning", "FailedDelete", f"Error deleting: {err.message}")
                    first_error = first_error or err.message
                    continue
                self.ctx.event(EVENT_SOURCE, rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")
            return first_error
        return None

    def _related_pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        """getIndirectlyRelatedPods: pods of every ReplicaSet that shares this one's controller."""
        namespace = rs["metadata"]["namespace"]
        ref = controller_of(rs)
        sets = [rs]
        if ref is not None:
            sets = [
                other
                for other in self.ctx.lister("apps", "ReplicaSet").list(namespace)
                if (controller_of(other) or {}).get("uid") == ref.get("uid")
            ]
        uids = {s["metadata"]["uid"] for s in sets}
        return [p for p in self.ctx.lister("", "Pod").list(namespace) if (controller_of(p) or {}).get("uid") in uids]

    def _pod_facts(self, key: str, rs: dict[str, Any], match: Callable[[dict[str, Any]], bool]) -> list[PodFacts]:
        """:class:`PodFacts` of the active pods in the ReplicaSet's namespace that another owner
        does not control, in the lister's order. What it learns of the pods this set controls is
        remembered by key and resourceVersion (a pod at one version never changes)."""
        uid = rs["metadata"].get("uid")
        labels = template_labels_of(rs)
        depends = (uid, (rs.get("spec") or {}).get("selector"), labels)
        found = self._facts.get(key)
        known = found[1] if found is not None and found[0] == depends else {}
        remembered: dict[str, tuple[str, bool, bool]] = {}
        wanted = labels.items()
        out: list[PodFacts] = []
        for pod in self.ctx.lister("", "Pod").list(rs["metadata"]["namespace"]):
            pod_key = object_key(pod)
            rv = pod["metadata"].get("resourceVersion") or ""
            hit = known.get(pod_key)
            if hit is not None and hit[0] == rv:
                out.append(PodFacts(pod, True, hit[1], hit[2]))
                remembered[pod_key] = hit
                continue
            ref = controller_of(pod)
            if (ref is not None and ref.get("uid") != uid) or not is_pod_active(pod):
                continue
            f = PodFacts(pod, ref is not None and match(pod), is_pod_ready(pod), wanted <= labels_of(pod).items())
            if f.ours:
                remembered[pod_key] = (rv, f.ready, f.fully)
            out.append(f)
        self._facts[key] = (depends, remembered)
        return out

    def _write_status(
        self,
        rs: dict[str, Any],
        pods: list[dict[str, Any]],
        now: float,
        error: str | None,
        facts: list[PodFacts] | None = None,
    ) -> dict[str, Any]:
        """updateReplicaSetStatus: write only when a count, a condition or observedGeneration changed."""
        status = replica_set_status(rs, pods, now, self.ctx.timestamp(), error, facts)
        generation = rs["metadata"].get("generation", 1)
        if status == (rs.get("status") or {}) and status.get("observedGeneration") == generation:
            return rs
        status["observedGeneration"] = generation
        updated = clone(rs)
        updated["status"] = status
        self.ctx.trace(
            COMPONENT,
            "replicaset",
            "kcm.replicaset.status",
            {
                **_ids(rs),
                "replicas": status["replicas"],
                "ready": status.get("readyReplicas", 0),
                "available": status.get("availableReplicas", 0),
            },
            [_ref(rs)],
        )
        return self.ctx.update_status(COMPONENT, updated).object


def _ids(obj: dict[str, Any]) -> dict[str, Any]:
    return {"namespace": obj["metadata"].get("namespace", ""), "name": obj["metadata"]["name"]}


def _ref(obj: dict[str, Any]) -> dict[str, str]:
    return {"kind": obj["kind"], "namespace": obj["metadata"].get("namespace", ""), "name": obj["metadata"]["name"]}


CONTROLLERS = [ReplicaSetController]
