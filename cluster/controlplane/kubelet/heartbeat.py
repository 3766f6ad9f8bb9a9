"""Node heartbeats: the Lease in kube-node-lease, and the Node's status.

Upstream ``pkg/kubelet/nodelease`` and ``kubelet_node_status.go``. Two signals tell the
node lifecycle controller that a kubelet is alive:

* the node Lease (``kube-node-lease/<node>``, ``leaseDurationSeconds: 40``), renewed every
  10 s (a quarter of its duration): cheap, so it is the frequent heartbeat;
* the Node's conditions, computed every ``nodeStatusUpdateFrequency`` (10 s) but only
  written when something changed or ``nodeStatusReportFrequency`` (5 min) has passed since
  the last write, each write stamping every condition's ``lastHeartbeatTime``.
"""

from __future__ import annotations

from typing import Any

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
RENEW_INTERVAL = 10.0
NODE_STATUS_UPDATE_FREQUENCY = 10.0
NODE_STATUS_REPORT_FREQUENCY = 300.0

# (type, status, reason, message) of a healthy node, in the order the kubelet reports them.
HEALTHY_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def lease_body(node: dict[str, Any], renew_time: str) -> dict[str, Any]:
    """The node's Lease, held by the node itself and owned by its Node object."""
    meta = node["metadata"]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": meta["name"],
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta.get("uid", "")}],
        },
        "spec": {
            "holderIdentity": meta["name"],
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": renew_time,
        },
    }


def desired_conditions(current: list[dict[str, Any]], now: str) -> tuple[list[dict[str, Any]], bool]:
    """The kubelet's conditions with every heartbeat at ``now``; True when one changed status."""
    by_type = {c.get("type"): c for c in current}
    out: list[dict[str, Any]] = []
    changed = False
    for ctype, status, reason, message in HEALTHY_CONDITIONS:
        old = by_type.get(ctype) or {}
        moved = old.get("status") != status
        if moved or old.get("reason") != reason or old.get("message") != message:
            changed = True
        out.append(
            {
                "type": ctype,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now if moved or not old.get("lastTransitionTime") else old["lastTransitionTime"],
            }
        )
    # Conditions someone else owns (NetworkUnavailable from the CNI, for one) are kept as they are.
    mine = {c[0] for c in HEALTHY_CONDITIONS}
    others = [c for c in current if c.get("type") not in mine]
    return others + out, changed


def last_heartbeat(node: dict[str, Any]) -> str | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("lastHeartbeatTime")
    return None
