"""The daemonset controller (upstream ``pkg/controller/daemon``).

One pod per eligible node: the node must match the pod's nodeSelector and required node
affinity, and its taints must be tolerated. Since 1.12 the controller does not place the
pod itself: it pins it with a required node affinity on ``metadata.name`` and the
scheduler binds it. New nodes get a pod; pods on nodes that stop qualifying are removed.
Each template the set has had is kept as a ControllerRevision (``history.py``) whose hash
label is the ``controller-revision-hash`` of the pods made from it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.api.selectors import match_label_selector
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.controllers import history
from cluster.controlplane.controllers.deployment import scaled_value
from cluster.controlplane.controllers.replicaset import (
    SLOW_START_INITIAL_BATCH_SIZE,
    Expectations,
    claim,
    compute_hash,
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
    slow_start_batch,
    template_patch,
    ts_epoch,
)
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "daemonset-controller"
BURST_REPLICAS = 250
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
# failedPodsBackoff: 1s doubling to 15 minutes.
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 900.0

# util.AddOrUpdateDaemonPodTolerations, in upstream's order; network-unavailable only with hostNetwork.
DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")

NARRATION = {
    "kcm.daemonset.create": gettext_noop(
        "The daemonset controller creates pod {pod} for node {node}, pinned there by a required node affinity on metadata.name; the scheduler will bind it."
    ),
    "kcm.daemonset.delete": gettext_noop(
        "The daemonset controller deletes pod {pod} of DaemonSet {namespace}/{name}: {why}."
    ),
    "kcm.daemonset.skip-node": gettext_noop("DaemonSet {namespace}/{name} does not run on node {node}: {why}."),
    "kcm.daemonset.update": gettext_noop(
        "Rolling update of DaemonSet {namespace}/{name}: {count} old pod(s) go now (maxUnavailable {max_unavailable}, maxSurge {max_surge})."
    ),
    "kcm.daemonset.status": gettext_noop(
        "The daemonset controller writes the status of DaemonSet {namespace}/{name}: {desired} desired, {current} scheduled, {ready} ready, {updated} up to date."
    ),
}


# ----------------------------------------------------------------------------- scheduling predicates
def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Toleration.ToleratesTaint: empty effect and empty key (with Exists) match everything."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taint(
    taints: list[dict[str, Any]], tolerations: list[dict[str, Any]], effects: tuple[str, ...]
) -> dict[str, Any] | None:
    for taint in taints:
        if taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _requirement_matches(req: dict[str, Any], value: str | None) -> bool:
    op, values = req.get("operator"), req.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    """A NodeSelectorTerm: every expression and field must match; an empty term matches nothing."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = labels_of(node)
    if not all(_requirement_matches(r, labels.get(r.get("key", ""))) for r in exprs):
        return False
    for f in fields:
        if f.get("key") != "metadata.name" or not _requirement_matches(f, node["metadata"]["name"]):
            return False
    return True


def required_affinity_matches(pod_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """nodeaffinity.GetRequiredNodeAffinity(pod).Match(node): nodeSelector and required terms."""
    labels = labels_of(node)
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def add_daemon_tolerations(spec: dict[str, Any]) -> None:
    """AddOrUpdateDaemonPodTolerations: DaemonSet pods survive node problems and cordons."""
    wanted = list(DAEMON_TOLERATIONS) + ([NETWORK_UNAVAILABLE] if spec.get("hostNetwork") else [])
    for key, effect in wanted:
        toleration = {"key": key, "operator": "Exists", "effect": effect}
        tolerations = list(spec.get("tolerations") or [])
        out, replaced = [], False
        for t in tolerations:
            same = (t.get("key"), t.get("effect"), t.get("operator"), t.get("value") or "") == (
                key,
                effect,
                "Exists",
                "",
            )
            if same:
                out.append(toleration)
                replaced = True
            else:
                out.append(t)
        if not replaced:
            out.append(toleration)
        spec["tolerations"] = out


def replace_node_name_affinity(affinity: dict[str, Any] | None, node: str) -> dict[str, Any]:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become "metadata.name In [node]"."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    affinity = clone(affinity) if affinity else {}
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [term]
    return affinity


def target_node_name(pod: dict[str, Any]) -> str | None:
    """util.GetTargetNodeName: spec.nodeName, or the node the metadata.name affinity names."""
    if pod["spec"].get("nodeName"):
        return str(pod["spec"]["nodeName"])
    required = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if len(terms) != 1:
        return None
    for f in terms[0].get("matchFields") or []:
        if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or []) == 1:
            return str(f["values"][0])
    return None


def should_run(node: dict[str, Any], ds: dict[str, Any]) -> tuple[bool, bool, str]:
    """NodeShouldRunDaemonPod: (should run, should keep running, why not)."""
    spec = clone(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    name = node["metadata"]["name"]
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False, "the pod template names another node"
    add_daemon_tolerations(spec)
    if not required_affinity_matches(spec, node):
        return False, False, "the node does not match the nodeSelector or node affinity"
    taints = (node.get("spec") or {}).get("taints") or []
    taint = untolerated_taint(taints, spec.get("tolerations") or [], ("NoSchedule", "NoExecute"))
    if taint is not None:
        keep = untolerated_taint(taints, spec.get("tolerations") or [], ("NoExecute",)) is None
        return False, keep, f"taint {taint.get('key')}:{taint.get('effect')} is not tolerated"
    return True, True, ""


def _created_key(pod: dict[str, Any]) -> tuple[int, float, str]:
    """podByCreationTimestampAndPhase: scheduled first, then oldest, then by name."""
    scheduled = 0 if pod["spec"].get("nodeName") else 1
    return scheduled, ts_epoch(pod["metadata"].get("creationTimestamp")) or 0.0, pod["metadata"]["name"]


def template_generation(ds: dict[str, Any]) -> int | None:
    value = (ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def is_pod_updated(pod: dict[str, Any], pod_hash: str, generation: int | None) -> bool:
    labels = labels_of(pod)
    template_matches = generation is not None and labels.get(GENERATION_LABEL) == str(generation)
    return (bool(pod_hash) and labels.get(HASH_LABEL) == pod_hash) or template_matches


def _rolling(ds: dict[str, Any]) -> dict[str, Any] | None:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {}


# ----------------------------------------------------------------------------- the controller
class DaemonSetController(Controller):
    """Runs one copy of a pod on every node that qualifies, following nodes as they come and go."""

    component = COMPONENT
    name = "daemonset"
    watches = (("apps", "DaemonSet"), ("", "Pod"), ("", "Node"), ("apps", "ControllerRevision"))

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()
        self._backoff: dict[str, tuple[float, float]] = {}

    # ------------------------------------------------------------------ event handlers
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "DaemonSet":
            if etype == "DELETED":
                self.expectations.forget(object_key(obj))
            self.queue.add(object_key(obj))
        elif kind == "Node":
            if etype == "MODIFIED" and old is not None and not self._node_changed(old, obj):
                return
            # Upstream has no node-delete handler (PodGC's pod deletions wake it); this loop
            # wakes on deletion too, so the status follows a node that leaves at once.
            for ds in self.ctx.lister("apps", "DaemonSet"):
                self.queue.add(object_key(ds))
        elif kind == "ControllerRevision":
            self._on_history(etype, old, obj)
        else:
            self._on_pod(etype, old, obj)

    @staticmethod
    def _node_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
        """shouldIgnoreNodeUpdate, inverted: labels, taints, unschedulable or condition statuses changed."""

        def view(n: dict[str, Any]) -> Any:
            conds = sorted((c.get("type"), c.get("status")) for c in (n.get("status") or {}).get("conditions") or [])
            return labels_of(n), (n.get("spec") or {}), conds

        return view(old) != view(new)

    def _on_pod(self, etype: str, old: dict[str, Any] | None, pod: dict[str, Any]) -> None:
        ds = resolve_controller_ref(self.ctx, pod["metadata"]["namespace"], controller_of(pod), "apps", "DaemonSet")
        if ds is not None:
            key = object_key(ds)
            if etype == "ADDED" and not is_terminating(pod):
                self.expectations.creation_observed(key)
            elif etype == "DELETED" or (is_terminating(pod) and (old is None or not is_terminating(old))):
                self.expectations.deletion_observed(key)
            self.queue.add(key)
            min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
            if etype == "MODIFIED" and old is not None and min_ready and not is_pod_ready(old) and is_pod_ready(pod):
                self.queue.add_after(key, self.ctx.now() + min_ready + 1.0)
            return
        if controller_of(pod) is None and etype != "DELETED":
            for candidate in selecting_owners(self.ctx, "apps", "DaemonSet", pod):
                self.queue.add(object_key(candidate))

    def _on_history(self, etype: str, old: dict[str, Any] | None, rev: dict[str, Any]) -> None:
        """add/update/deleteHistory: wake the owner, the previous owner, or every set that could adopt it."""
        namespace = rev["metadata"]["namespace"]
        ds = resolve_controller_ref(self.ctx, namespace, controller_of(rev), "apps", "DaemonSet")
        if ds is not None:
            self.queue.add(object_key(ds))
        if old is not None and controller_of(old) != controller_of(rev):
            prev = resolve_controller_ref(self.ctx, namespace, controller_of(old), "apps", "DaemonSet")
            if prev is not None:
                self.queue.add(object_key(prev))
        if controller_of(rev) is None and etype != "DELETED":
            for candidate in selecting_owners(self.ctx, "apps", "DaemonSet", rev):
                self.queue.add(object_key(candidate))

    # ------------------------------------------------------------------ helpers
    def _trace(self, message: str, ds: dict[str, Any], pod: str | None = None, /, **params: Any) -> None:
        meta = ds["metadata"]
        involved = [{"kind": "DaemonSet", "namespace": meta["namespace"], "name": meta["name"]}]
        if pod:
            involved.append({"kind": "Pod", "namespace": meta["namespace"], "name": pod})
            params["pod"] = pod
        if params.get("node"):
            involved.append({"kind": "Node", "namespace": "", "name": params["node"]})
        self.ctx.trace(
            COMPONENT, "daemonset", message, {"namespace": meta["namespace"], "name": meta["name"], **params}, involved
        )

    def _nodes(self) -> list[dict[str, Any]]:
        return self.ctx.lister("", "Node").list()

    def _daemon_pods(self, ds: dict[str, Any]) -> list[dict[str, Any]]:
        """getDaemonPods: the pods this set controls, adopting matching orphans and releasing the rest."""
        selector = (ds.get("spec") or {}).get("selector")
        candidates = self.ctx.lister("", "Pod").list(ds["metadata"]["namespace"])
        return claim(
            self.ctx,
            COMPONENT,
            "daemonset",
            ds,
            "",
            "Pod",
            candidates,
            lambda p: match_label_selector(selector, labels_of(p)),
        )

    def _node_to_pods(self, ds: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """getNodesToDaemonPods: claimed pods by target node (terminal pods being deleted left out)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for pod in self._daemon_pods(ds):
            if phase(pod) in ("Succeeded", "Failed") and is_terminating(pod):
                continue
            node = target_node_name(pod)
            if node is not None:
                out.setdefault(node, []).append(pod)
        return out

    # ------------------------------------------------------------------ sync
    def reconcile(self, key: str) -> float | None:
        cached = self.ctx.lister("apps", "DaemonSet").by_key(key)
        if cached is None:
            self.expectations.forget(key)
            return None
        ds = clone(cached)
        if selector_is_empty((ds.get("spec") or {}).get("selector")):
            self.ctx.event(
                EVENT_SOURCE,
                ds,
                "Warning",
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return None
        if is_terminating(ds):
            return None
        nodes = self._nodes()
        # The revision of the current template names the hash every up-to-date pod carries.
        current, old = self._construct_history(ds)
        pod_hash = labels_of(current).get(HASH_LABEL, "")
        again: list[float] = []
        if not self.expectations.satisfied(key, self.ctx.now()):
            return self._update_status(ds, nodes, pod_hash, False)
        self._manage(ds, nodes, pod_hash, again)
        if self.expectations.satisfied(key, self.ctx.now()) and _rolling(ds) is not None:
            self._rolling_update(ds, nodes, pod_hash)
        self._cleanup_history(ds, old)
        status_again = self._update_status(ds, nodes, pod_hash, True)
        if status_again is not None:
            again.append(status_again)
        return min(again) if again else None

    # ------------------------------------------------------------------ history (update.go)
    def _construct_history(self, ds: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """constructHistory: (the revision of the current template, the older ones).

        The current revision is created if missing, deduplicated if there are several, and
        renumbered past every older one, so a rollback to an old template (``kubectl rollout
        undo``) moves that old revision to the head of the history instead of copying it.
        """
        current: list[dict[str, Any]] = []
        old: list[dict[str, Any]] = []
        for rev in self._controlled_histories(ds):
            if HASH_LABEL not in labels_of(rev):
                # Upstream labels with the name, not a recomputed hash, so collisions cannot bite.
                body = clone(rev)
                body["metadata"].setdefault("labels", {})[HASH_LABEL] = rev["metadata"]["name"]
                rev = self.ctx.update(COMPONENT, body).object
            (current if history.matches(ds, rev) else old).append(rev)
        next_number = max((history.number(r) for r in old), default=0) + 1
        if not current:
            return self._snapshot(ds, next_number), old
        cur = self._dedup_current(ds, current)
        if history.number(cur) < next_number:
            cur = history.update_controller_revision(self.ctx, COMPONENT, cur, next_number)
        return cur, old

    def _controlled_histories(self, ds: dict[str, Any]) -> list[dict[str, Any]]:
        """controlledHistories: every revision in the namespace, adopted or released by the selector."""
        selector = (ds.get("spec") or {}).get("selector")
        return claim(
            self.ctx,
            COMPONENT,
            "daemonset",
            ds,
            history.GROUP,
            history.KIND,
            self.ctx.lister(history.GROUP, history.KIND).list(ds["metadata"]["namespace"]),
            lambda r: match_label_selector(selector, labels_of(r)),
        )

    def _snapshot(self, ds: dict[str, Any], number: int) -> dict[str, Any]:
        """snapshot: record the current template as revision ``number``, named ``<set>-<template hash>``.

        A name taken by other data is a hash collision: status.collisionCount goes up (from a fresh
        read, so a stale count is not bumped twice) and the sync is retried with the new hash.
        """
        meta = ds["metadata"]
        collision = (ds.get("status") or {}).get("collisionCount")
        template = (ds.get("spec") or {}).get("template") or {}
        digest = compute_hash(template, collision)
        body: dict[str, Any] = {
            "apiVersion": history.API_VERSION,
            "kind": history.KIND,
            "metadata": {
                "name": f"{meta['name']}-{digest}",
                "namespace": meta["namespace"],
                "labels": {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest},
                "ownerReferences": [new_controller_ref(ds)],
            },
            "data": history.canonical(template_patch(ds)),
            "revision": number,
        }
        if meta.get("annotations"):
            body["metadata"]["annotations"] = dict(meta["annotations"])
        try:
            return self.ctx.create(COMPONENT, history.GROUP, history.KIND, meta["namespace"], body).object
        except StatusError as err:
            if not (err.code == 409 and err.reason == "AlreadyExists"):
                raise
            taken = err
        revisions = registry.by_kind(history.GROUP, history.KIND)
        sets = registry.by_kind("apps", "DaemonSet")
        assert revisions is not None and sets is not None
        existing = self.ctx.api.get(revisions, meta["namespace"], body["metadata"]["name"])
        if history.matches(ds, existing):
            return existing
        fresh = self.ctx.api.get(sets, meta["namespace"], meta["name"])
        if (fresh.get("status") or {}).get("collisionCount") != collision:
            raise StatusError(409, "Conflict", f"stale collision count of DaemonSet {meta['name']}; retrying")
        fresh.setdefault("status", {})["collisionCount"] = int(collision or 0) + 1
        self.ctx.update_status(COMPONENT, fresh)
        raise taken

    def _dedup_current(self, ds: dict[str, Any], current: list[dict[str, Any]]) -> dict[str, Any]:
        """dedupCurHistories: keep the newest of several revisions of the same template.

        Pods carrying a duplicate's hash are relabelled to the kept one first, so they still
        count as up to date; then the duplicates are deleted.
        """
        if len(current) == 1:
            return current[0]
        keep = current[0]
        for rev in current:
            if history.number(rev) >= history.number(keep):
                keep = rev
        keep_hash = labels_of(keep).get(HASH_LABEL)
        for pod in self._daemon_pods(ds):
            if labels_of(pod).get(HASH_LABEL) != keep_hash:
                patch = {"metadata": {"labels": {HASH_LABEL: keep_hash}}}
                self.ctx.patch(COMPONENT, "", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"], patch)
        for rev in current:
            if rev["metadata"]["name"] != keep["metadata"]["name"]:
                history.delete_controller_revision(self.ctx, COMPONENT, rev)
        return keep

    def _cleanup_history(self, ds: dict[str, Any], old: list[dict[str, Any]]) -> None:
        """cleanupHistory: delete the oldest revisions beyond spec.revisionHistoryLimit that no pod runs."""
        to_kill = len(old) - history.history_limit(ds)
        if to_kill <= 0:
            return
        live = {h for p in self._daemon_pods(ds) if (h := labels_of(p).get(HASH_LABEL))}
        for rev in history.sort_revisions(old):
            if to_kill <= 0:
                break
            if labels_of(rev).get(HASH_LABEL) in live:
                continue
            history.delete_controller_revision(self.ctx, COMPONENT, rev)
            to_kill -= 1

    # ------------------------------------------------------------------ manage
    def _manage(self, ds: dict[str, Any], nodes: list[dict[str, Any]], pod_hash: str, again: list[float]) -> None:
        node_pods = self._node_to_pods(ds)
        need: list[str] = []
        delete: list[tuple[str, str]] = []
        for node in nodes:
            n, d = self._pods_should_be_on_node(node, node_pods, ds, pod_hash, again)
            need += n
            delete += d
        known = {n["metadata"]["name"] for n in nodes}
        for node_name, pods in sorted(node_pods.items()):
            if node_name in known:
                continue
            for pod in pods:
                if not pod["spec"].get("nodeName"):
                    delete.append((pod["metadata"]["name"], f"its node {node_name} no longer exists"))
        self._sync_nodes(ds, delete, need, pod_hash)

    def _pods_should_be_on_node(
        self,
        node: dict[str, Any],
        node_pods: dict[str, list[dict[str, Any]]],
        ds: dict[str, Any],
        pod_hash: str,
        again: list[float],
    ) -> tuple[list[str], list[tuple[str, str]]]:
        run, keep, why = should_run(node, ds)
        name = node["metadata"]["name"]
        pods = node_pods.get(name)
        need: list[str] = []
        delete: list[tuple[str, str]] = []
        if run and not pods:
            need.append(name)
        elif keep:
            running = []
            for pod in pods or []:
                if is_terminating(pod):
                    continue
                if phase(pod) == "Failed":
                    key = f"{ds['metadata']['uid']}/{name}"
                    now = self.ctx.now()
                    delay, last = self._backoff.get(key, (0.0, 0.0))
                    if delay and now - last < delay:
                        again.append(last + delay - now)
                        continue
                    delay = (
                        BACKOFF_INITIAL if not delay or now - last > 2 * BACKOFF_MAX else min(delay * 2, BACKOFF_MAX)
                    )
                    self._backoff[key] = (delay, now)
                    msg = (
                        f"Found failed daemon pod {pod['metadata']['namespace']}/{pod['metadata']['name']} "
                        f"on node {name}, will try to kill it"
                    )
                    self.ctx.event(EVENT_SOURCE, ds, "Warning", "FailedDaemonPod", msg)
                    delete.append((pod["metadata"]["name"], "it failed"))
                elif phase(pod) == "Succeeded":
                    delete.append((pod["metadata"]["name"], "it has completed"))
                else:
                    running.append(pod)
            ru = _rolling(ds)
            surge = ru is not None and scaled_value(ru.get("maxSurge") or 0, 1, True) > 0
            if len(running) > 1:
                running.sort(key=_created_key)
                if not surge:
                    delete += [
                        (p["metadata"]["name"], "another daemon pod already runs on its node") for p in running[1:]
                    ]
                else:
                    delete += self._surge_excess(ds, running, pod_hash)
        elif pods:
            if not run:
                self._trace("kcm.daemonset.skip-node", ds, None, node=name, why=why)
            delete += [(p["metadata"]["name"], why) for p in pods if not is_terminating(p)]
        return need, delete

    def _surge_excess(self, ds: dict[str, Any], running: list[dict[str, Any]], pod_hash: str) -> list[tuple[str, str]]:
        """With maxSurge, a node keeps an old and a new pod only while the new one is not yet available."""
        delete: list[tuple[str, str]] = []
        oldest_new: dict[str, Any] | None = None
        oldest_old: dict[str, Any] | None = None
        for pod in running:
            if labels_of(pod).get(HASH_LABEL) == pod_hash:
                if oldest_new is None:
                    oldest_new = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            delete.append((pod["metadata"]["name"], "another daemon pod already runs on its node"))
        if oldest_new is not None and oldest_old is not None:
            min_ready = int(ds["spec"].get("minReadySeconds") or 0)
            if not is_pod_ready(oldest_old) or is_pod_available(oldest_new, min_ready, now_epoch(self.ctx)):
                delete.append((oldest_old["metadata"]["name"], "its replacement is available"))
        return delete

    def _sync_nodes(self, ds: dict[str, Any], delete: list[tuple[str, str]], create: list[str], pod_hash: str) -> None:
        """syncNodes: create pinned pods in slow-start batches, delete the rest."""
        key = object_key(ds)
        create = create[:BURST_REPLICAS]
        delete = delete[:BURST_REPLICAS]
        self.expectations.expect(key, len(create), len(delete), self.ctx.now())
        generation = template_generation(ds)
        template = clone((ds.get("spec") or {}).get("template") or {})
        add_daemon_tolerations(template.setdefault("spec", {}))
        labels = template.setdefault("metadata", {}).get("labels") or {}
        if generation is not None:
            labels[GENERATION_LABEL] = str(generation)
        if pod_hash:
            labels[HASH_LABEL] = pod_hash
        template["metadata"]["labels"] = labels
        ref = new_controller_ref(ds)
        queue = list(create)

        def create_one() -> None:
            node = queue.pop(0)
            pod_template = clone(template)
            pod_template["spec"]["affinity"] = replace_node_name_affinity(pod_template["spec"].get("affinity"), node)
            body = pod_from_template(pod_template, ds, ref)
            try:
                created = self.ctx.create(COMPONENT, "", "Pod", ds["metadata"]["namespace"], body).object
            except StatusError as err:
                self.expectations.creation_observed(key)
                self.ctx.event(EVENT_SOURCE, ds, "Warning", "FailedCreate", f"Error creating: {err.message}")
                raise
            pod = created["metadata"]["name"]
            self._trace("kcm.daemonset.create", ds, pod, node=node)
            self.ctx.event(EVENT_SOURCE, ds, "Normal", "SuccessfulCreate", f"Created pod: {pod}")

        _, err = slow_start_batch(len(create), SLOW_START_INITIAL_BATCH_SIZE, create_one)
        if err is not None:
            for _ in range(len(queue)):
                self.expectations.creation_observed(key)
        for pod, why in delete:
            self._trace("kcm.daemonset.delete", ds, pod, why=why)
            try:
                self.ctx.delete(COMPONENT, "", "Pod", ds["metadata"]["namespace"], pod)
            except StatusError as exc:
                self.expectations.deletion_observed(key)
                self.ctx.event(EVENT_SOURCE, ds, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
                continue
            self.ctx.event(EVENT_SOURCE, ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pod}")
        if err is not None:
            raise err

    # ------------------------------------------------------------------ RollingUpdate (update.go)
    def _desired_counts(
        self, ds: dict[str, Any], nodes: list[dict[str, Any]], node_pods: dict[str, list[dict[str, Any]]]
    ) -> tuple[int, int, int]:
        """updatedDesiredNodeCounts: (maxSurge, maxUnavailable, desired), both fenceposts rounded up."""
        desired = 0
        for node in nodes:
            if should_run(node, ds)[0]:
                desired += 1
                node_pods.setdefault(node["metadata"]["name"], [])
        ru = _rolling(ds) or {}
        unavailable = scaled_value(ru.get("maxUnavailable", 1), desired, True)
        surge = scaled_value(ru.get("maxSurge", 0), desired, True)
        if desired > 0 and unavailable == 0 and surge == 0:
            unavailable = 1
        return surge, unavailable, desired

    def _rolling_update(self, ds: dict[str, Any], nodes: list[dict[str, Any]], pod_hash: str) -> None:
        node_pods = self._node_to_pods(ds)
        max_surge, max_unavailable, desired = self._desired_counts(ds, nodes, node_pods)
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = now_epoch(self.ctx)
        generation = template_generation(ds)

        def split(pods: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None, bool]:
            """findUpdatedPodsOnNode: at most one new and one old live pod, else not ok."""
            new: dict[str, Any] | None = None
            old: dict[str, Any] | None = None
            for pod in pods:
                if is_terminating(pod):
                    continue
                if is_pod_updated(pod, pod_hash, generation):
                    if new is not None:
                        return None, None, False
                    new = pod
                else:
                    if old is not None:
                        return None, None, False
                    old = pod
            return new, old, True

        if max_surge == 0:
            unavailable = 0
            allowed: list[str] = []
            candidates: list[str] = []
            for _node, pods in sorted(node_pods.items()):
                new, old, ok = split(pods)
                if not ok:
                    unavailable += 1
                    continue
                if (old is None and new is None) or (old is not None and new is not None):
                    unavailable += 1
                elif new is not None:
                    if not is_pod_available(new, min_ready, now):
                        unavailable += 1
                elif old is not None:
                    if not is_pod_available(old, min_ready, now):
                        allowed.append(old["metadata"]["name"])
                    elif unavailable < max_unavailable:
                        candidates.append(old["metadata"]["name"])
            remaining = min(max(0, max_unavailable - unavailable), len(candidates))
            to_delete = allowed + candidates[:remaining]
            if to_delete:
                self._trace(
                    "kcm.daemonset.update",
                    ds,
                    None,
                    count=len(to_delete),
                    max_unavailable=max_unavailable,
                    max_surge=max_surge,
                )
            self._sync_nodes(ds, [(p, "it runs an old revision") for p in to_delete], [], pod_hash)
            return

        old_to_delete: list[str] = []
        should_not_run: list[str] = []
        candidate_nodes: list[str] = []
        allowed_nodes: list[str] = []
        surging = 0
        available = 0
        by_name = {n["metadata"]["name"]: n for n in nodes}
        for node_name, pods in sorted(node_pods.items()):
            new, old, ok = split(pods)
            if not ok:
                surging += 1
                continue
            counted = old if old is not None else new
            if counted is not None and is_pod_available(counted, min_ready, now):
                available += 1
            if old is None:
                continue
            node = by_name.get(node_name)
            if new is None:
                runs = node is not None and should_run(node, ds)[0]
                if not is_pod_available(old, min_ready, now):
                    if not runs:
                        old_to_delete.append(old["metadata"]["name"])
                        continue
                    allowed_nodes.append(node_name)
                elif not runs:
                    should_not_run.append(old["metadata"]["name"])
                elif surging < max_surge:
                    candidate_nodes.append(node_name)
            elif not is_pod_available(new, min_ready, now):
                surging += 1
            else:
                old_to_delete.append(old["metadata"]["name"])
        deletable = available - desired
        if deletable > 0:
            old_to_delete += should_not_run[: min(deletable, len(should_not_run))]
        remaining = min(max(0, max_surge - surging), len(candidate_nodes))
        to_create = allowed_nodes + candidate_nodes[:remaining]
        if to_create or old_to_delete:
            self._trace(
                "kcm.daemonset.update",
                ds,
                None,
                count=len(old_to_delete),
                max_unavailable=max_unavailable,
                max_surge=max_surge,
            )
        self._sync_nodes(ds, [(p, "its replacement is available") for p in old_to_delete], to_create, pod_hash)

    # ------------------------------------------------------------------ status
    def _update_status(
        self, ds: dict[str, Any], nodes: list[dict[str, Any]], pod_hash: str, observed: bool
    ) -> float | None:
        """updateDaemonSetStatus: count per node, as upstream does, then write if anything changed."""
        node_pods = self._node_to_pods(ds)
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = now_epoch(self.ctx)
        generation = template_generation(ds)
        desired = current = misscheduled = ready = updated = available = 0
        oldest_pods: list[dict[str, Any]] = []
        for node in nodes:
            run = should_run(node, ds)[0]
            pods = node_pods.get(node["metadata"]["name"]) or []
            if run:
                desired += 1
                if not pods:
                    continue
                current += 1
                pod = sorted(pods, key=_created_key)[0]
                oldest_pods.append(pod)
                if is_pod_ready(pod):
                    ready += 1
                    if is_pod_available(pod, min_ready, now):
                        available += 1
                if is_pod_updated(pod, pod_hash, generation):
                    updated += 1
            elif pods:
                misscheduled += 1
        old = ds.get("status") or {}
        counts = {
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": desired - available,
        }
        generation_seen = int(old.get("observedGeneration") or 0) >= ds["metadata"].get("generation", 1)
        if all(int(old.get(k) or 0) == v for k, v in counts.items()) and generation_seen:
            pass
        else:
            status: dict[str, Any] = {k: v for k, v in old.items() if k not in counts}
            if observed:
                status["observedGeneration"] = ds["metadata"].get("generation", 1)
            for k, v in counts.items():
                # DaemonSetStatus JSON: the first four counts always, the rest omitempty.
                if v or k in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"):
                    status[k] = v
            updated_ds = clone(ds)
            updated_ds["status"] = status
            self._trace(
                "kcm.daemonset.status", ds, None, desired=desired, current=current, ready=ready, updated=updated
            )
            self.ctx.update_status(COMPONENT, updated_ds)
        if min_ready > 0 and ready != available:
            return pending_availability(oldest_pods, min_ready, now) or float(min_ready)
        return None


CONTROLLERS = [DaemonSetController]
