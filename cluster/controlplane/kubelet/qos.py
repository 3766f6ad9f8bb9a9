"""QoS classes and the pod cgroups the kubelet creates for them, in the systemd driver's naming.

Upstream ``pkg/apis/core/v1/helper/qos`` (GetPodQOS) and ``pkg/kubelet/cm``: every pod
gets a cgroup under ``kubepods``, Burstable and BestEffort pods one level deeper; with
``cgroupDriver: systemd`` (kubeadm's default, matching containerd's ``SystemdCgroup =
true``) each level is a slice named after its whole path, and a pod UID's dashes become
underscores because systemd reserves ``-`` for nesting.
"""

from __future__ import annotations

from typing import Any

from cluster.scheduler.quantity import QuantityError, parse_quantity

GUARANTEED = "Guaranteed"
BURSTABLE = "Burstable"
BEST_EFFORT = "BestEffort"
_COMPUTE = ("cpu", "memory")


def _nonzero(resources: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in (resources or {}).items():
        if name not in _COMPUTE:
            continue
        try:
            q = parse_quantity(value)
        except (QuantityError, TypeError, ValueError):
            continue
        if q != 0:
            out[name] = q
    return out


def qos_class(pod: dict[str, Any]) -> str:
    """ComputePodQOS on the defaulted pod (a request left out defaults to its limit):
    BestEffort without any cpu/memory request or limit; Guaranteed when every container
    limits both and the summed requests equal the summed limits; Burstable otherwise."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        lim = _nonzero(res.get("limits") or {})
        req = {**lim, **_nonzero(res.get("requests") or {})}
        for name, q in req.items():
            requests[name] = requests.get(name, 0) + q
        for name, q in lim.items():
            limits[name] = limits.get(name, 0) + q
        if not set(_COMPUTE) <= set(lim):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed and all(limits.get(n) == q for n, q in requests.items()) and len(requests) == len(limits):
        return GUARANTEED
    return BURSTABLE


def _escape(uid: str) -> str:
    return uid.replace("-", "_")


def pod_cgroup(uid: str, qos: str) -> str:
    """The pod's cgroup as systemd names it, e.g.
    ``/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice``."""
    pod = f"pod{_escape(uid)}"
    if qos == GUARANTEED:
        return f"/kubepods.slice/kubepods-{pod}.slice"
    tier = "burstable" if qos == BURSTABLE else "besteffort"
    return f"/kubepods.slice/kubepods-{tier}.slice/kubepods-{tier}-{pod}.slice"


def container_scope(pod_cgroup_path: str, container_id: str) -> str:
    """containerd's cgroup for one container, a systemd scope inside the pod's slice."""
    return f"{pod_cgroup_path}/cri-containerd-{container_id}.scope"


def memory_limit_bytes(container: dict[str, Any]) -> int | None:
    """A container's memory limit in bytes, or None when it has none."""
    raw = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if raw is None:
        return None
    try:
        return -(-parse_quantity(raw) // 10**9)
    except (QuantityError, TypeError, ValueError):
        return None
