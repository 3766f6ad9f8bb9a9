"""The pod garbage collector (upstream ``pkg/controller/podgc``).

Pods bound to a Node that no longer exists are failed and force-deleted after a short
quarantine; terminating pods that never reached a node are deleted; and terminated pods
beyond the threshold are removed oldest first.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_noop

from cluster.controlplane.controller import Controller

COMPONENT = "kube-controller-manager"
GC_CHECK_PERIOD = 20.0
QUARANTINE = 40.0  # upstream's quarantineTime for orphaned pods
TERMINATED_POD_THRESHOLD = 12500

NARRATION = {
    "kcm.podgc.orphaned": gettext_noop("The pod garbage collector deleted {pod}: its node {node} no longer exists."),
    "kcm.podgc.unscheduled": gettext_noop("The pod garbage collector deleted {pod}, terminating without a node."),
    "kcm.podgc.terminated": gettext_noop(
        "The pod garbage collector deleted terminated pod {pod} (over the threshold)."
    ),
}


class PodGC(Controller):
    component = COMPONENT
    name = "podgc"
    watches: ClassVar[tuple[tuple[str, str], ...]] = (("", "Node"), ("", "Pod"))
    resync_seconds = None

    def __init__(self, ctx: Any) -> None:
        self.missing_since: dict[str, float] = {}
        super().__init__(ctx)
        self.queue.add("gc")

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        """Upstream runs every ``gcCheckPeriod`` (20 s); a Node going away starts its quarantine at once."""
        if kind == "Node" and etype == "DELETED":
            self.queue.add("gc")

    def reconcile(self, key: str) -> float | None:
        now = self.ctx.now()
        nodes = {n["metadata"]["name"] for n in self.ctx.lister("", "Node")}
        pods = self.ctx.lister("", "Pod").list()
        wait: float | None = None
        for pod in pods:
            meta, spec = pod["metadata"], pod.get("spec") or {}
            node = spec.get("nodeName")
            pod_key = f"{meta['namespace']}/{meta['name']}"
            if node and node not in nodes:
                since = self.missing_since.setdefault(pod_key, now)
                if now - since < QUARANTINE:
                    remaining = QUARANTINE - (now - since)
                    wait = remaining if wait is None else min(wait, remaining)
                    continue
                self.ctx.trace(
                    COMPONENT,
                    "podgc",
                    "kcm.podgc.orphaned",
                    {"pod": pod_key, "node": node},
                    [{"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"]}],
                )
                self.ctx.delete(COMPONENT, "", "Pod", meta["namespace"], meta["name"], grace_period=0)
                self.missing_since.pop(pod_key, None)
            elif not node and meta.get("deletionTimestamp"):
                self.ctx.trace(
                    COMPONENT,
                    "podgc",
                    "kcm.podgc.unscheduled",
                    {"pod": pod_key},
                    [{"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"]}],
                )
                self.ctx.delete(COMPONENT, "", "Pod", meta["namespace"], meta["name"], grace_period=0)
            else:
                self.missing_since.pop(pod_key, None)
        terminated = [p for p in pods if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
        excess = len(terminated) - TERMINATED_POD_THRESHOLD
        if excess > 0:
            terminated.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
            for pod in terminated[:excess]:
                meta = pod["metadata"]
                self.ctx.trace(
                    COMPONENT, "podgc", "kcm.podgc.terminated", {"pod": f"{meta['namespace']}/{meta['name']}"}
                )
                self.ctx.delete(COMPONENT, "", "Pod", meta["namespace"], meta["name"], grace_period=0)
        return GC_CHECK_PERIOD if wait is None else min(wait, GC_CHECK_PERIOD)


CONTROLLERS = [PodGC]
