"""The pod status the kubelet reports: phase, conditions and container statuses.

Upstream ``generateAPIPodStatus`` and ``convertToAPIContainerStatuses``
(``pkg/kubelet/kubelet_pods.go``), ``getPhase`` as of v1.32, and the condition generators
of ``pkg/kubelet/status/generate.go``. Conditions the kubelet does not own (readiness
gates, DisruptionTarget) are kept ahead of its own five, which come in upstream's order:
PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.controlplane.kubelet.cri import Container, container_id

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
POD_COMPLETED, POD_FAILED = "PodCompleted", "PodFailed"
CONTAINERS_NOT_READY, CONTAINERS_NOT_INITIALIZED = "ContainersNotReady", "ContainersNotInitialized"
READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"
TERMINAL = ("Succeeded", "Failed")


@dataclass
class SlotView:
    """What status generation needs to know about one container of the pod."""

    name: str
    spec: dict[str, Any]
    init: bool = False
    sidecar: bool = False
    current: Container | None = None
    previous: Container | None = None
    waiting: tuple[str, str] | None = None
    started: bool = False
    ready: bool = False
    lost: bool = False  # TerminatePod: never ran, reported as terminated with 137


def go_list(names: list[str]) -> str:
    """How Go's %s prints a []string: [a b]."""
    return "[" + " ".join(names) + "]"


def _terminated(c: Container, ts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "containerID": container_id(c.id),
        "exitCode": c.exit_code if c.exit_code is not None else 0,
        "finishedAt": ts(c.finished_at) if c.finished_at is not None else None,
        "reason": c.reason,
        "startedAt": ts(c.started_at) if c.started_at is not None else None,
    }
    if c.message:
        out["message"] = c.message
    return out


def _volume_mounts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in spec.get("volumeMounts") or []:
        entry: dict[str, Any] = {"mountPath": m.get("mountPath"), "name": m.get("name")}
        if m.get("readOnly"):
            entry["readOnly"] = True
            entry["recursiveReadOnly"] = "Disabled"
        out.append(entry)
    return out


def container_status(slot: SlotView, ts: Any, default_reason: str) -> dict[str, Any]:
    """One entry of containerStatuses / initContainerStatuses."""
    status: dict[str, Any] = {
        "image": slot.spec.get("image", ""),
        "imageID": "",
        "lastState": {},
        "name": slot.name,
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": default_reason}},
    }
    mounts = _volume_mounts(slot.spec)
    if mounts:
        status["volumeMounts"] = mounts
    c = slot.current
    if c is not None:
        status["containerID"] = container_id(c.id)
        status["image"] = c.image_name
        status["imageID"] = c.image_id
        status["restartCount"] = c.attempt
        if slot.previous is not None and slot.previous.exited:
            status["lastState"] = {"terminated": _terminated(slot.previous, ts)}
        if c.running and c.started_at is not None:
            status["state"] = {"running": {"startedAt": ts(c.started_at)}}
            status["started"] = slot.started
            status["ready"] = slot.ready
        elif c.exited:
            status["state"] = {"terminated": _terminated(c, ts)}
            if slot.init and not slot.sidecar and c.exit_code == 0:
                status["ready"] = True
        if slot.waiting is not None and not c.running:
            if c.exited:
                status["lastState"] = {"terminated": _terminated(c, ts)}
            reason, message = slot.waiting
            status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
            status["ready"] = False
    elif slot.waiting is not None:
        reason, message = slot.waiting
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    if slot.lost and "terminated" not in status["state"]:
        status["state"] = {
            "terminated": {
                "exitCode": 137,
                "finishedAt": None,
                "message": "The container could not be located when the pod was terminated",
                "reason": "ContainerStatusUnknown",
                "startedAt": None,
            }
        }
    return status


def _state(status: dict[str, Any]) -> str:
    return next(iter(status.get("state") or {"waiting": {}}))


def get_phase(
    spec: dict[str, Any], init: list[dict[str, Any]], regular: list[dict[str, Any]], terminal: bool, static: bool
) -> str:
    """getPhase (v1.32): Pending while any container waits or init is incomplete; Running while one
    runs; once all stopped, Succeeded/Failed unless restartPolicy will restart them."""
    policy = spec.get("restartPolicy", "Always")
    sidecars = {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    pending_init = failed_init = 0
    pending_sidecars = 0
    running = waiting = stopped = succeeded = unknown = 0
    for cs in init:
        st = cs.get("state") or {}
        if cs["name"] in sidecars:
            if "running" in st:
                if not cs.get("started"):
                    pending_sidecars += 1
                running += 1
            elif "waiting" in st and not (cs.get("lastState") or {}).get("terminated"):
                pending_sidecars += 1
                waiting += 1
            continue
        if "running" in st:
            pending_init += 1
        elif "terminated" in st:
            if st["terminated"].get("exitCode", 0) != 0:
                failed_init += 1
        elif "waiting" in st and (cs.get("lastState") or {}).get("terminated"):
            if cs["lastState"]["terminated"].get("exitCode", 0) != 0:
                failed_init += 1
        else:
            pending_init += 1
    started_regular = any(
        "running" in (cs.get("state") or {}) or "terminated" in (cs.get("state") or {}) for cs in regular
    )
    for cs in regular:
        st = cs.get("state") or {}
        if "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            if st["terminated"].get("exitCode", 0) == 0:
                succeeded += 1
        elif "waiting" in st and (cs.get("lastState") or {}).get("terminated"):
            stopped += 1
        elif "waiting" in st:
            waiting += 1
        else:
            unknown += 1
    if failed_init > 0 and policy == "Never":
        return "Failed"
    if pending_init > 0 or (pending_sidecars > 0 and not started_regular) or waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal and not static:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(
    ctype: str, status: str, old: dict[str, dict[str, Any]], now: str, reason: str = "", message: str = ""
) -> dict[str, Any]:
    prev = old.get(ctype) or {}
    cond: dict[str, Any] = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": prev.get("lastTransitionTime")
        if prev.get("status") == status and prev.get("lastTransitionTime")
        else now,
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def conditions(
    spec: dict[str, Any],
    old_conditions: list[dict[str, Any]],
    init: list[dict[str, Any]],
    regular: list[dict[str, Any]],
    phase: str,
    sandbox_ready: bool,
    now: str,
) -> list[dict[str, Any]]:
    """The pod's conditions: others' kept first, then the kubelet's five."""
    old = {c.get("type"): c for c in old_conditions}
    out = [c for c in old_conditions if c.get("type") not in KUBELET_CONDITIONS]
    sidecars = {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    out.append(_condition("PodReadyToStartContainers", "True" if sandbox_ready else "False", old, now))

    # Initialized
    incomplete = []
    for cs in init:
        ok = cs.get("started") if cs["name"] in sidecars else cs.get("ready")
        if not ok:
            incomplete.append(cs["name"])
    regular_started = any(
        "running" in (cs.get("state") or {}) or "terminated" in (cs.get("state") or {}) or cs.get("lastState")
        for cs in regular
    )
    if phase == "Succeeded":
        out.append(_condition("Initialized", "True", old, now, POD_COMPLETED))
    elif not incomplete or regular_started:
        out.append(_condition("Initialized", "True", old, now))
    else:
        out.append(
            _condition(
                "Initialized",
                "False",
                old,
                now,
                CONTAINERS_NOT_INITIALIZED,
                f"containers with incomplete status: {go_list(incomplete)}",
            )
        )

    # ContainersReady, then Ready (which adds readiness gates)
    unready = [cs["name"] for cs in init if cs["name"] in sidecars and not cs.get("ready")]
    unready += [cs["name"] for cs in regular if not cs.get("ready")]
    if phase in TERMINAL:
        reason = POD_COMPLETED if phase == "Succeeded" else POD_FAILED
        ready = _condition("Ready", "False", old, now, reason)
        containers_ready = _condition("ContainersReady", "False", old, now, reason)
    elif unready:
        message = f"containers with unready status: {go_list(unready)}"
        ready = _condition("Ready", "False", old, now, CONTAINERS_NOT_READY, message)
        containers_ready = _condition("ContainersReady", "False", old, now, CONTAINERS_NOT_READY, message)
    else:
        containers_ready = _condition("ContainersReady", "True", old, now)
        gates = []
        for gate in spec.get("readinessGates") or []:
            ctype = gate.get("conditionType")
            cond = old.get(ctype)
            if cond is None:
                gates.append(f'corresponding condition of pod readiness gate "{ctype}" does not exist.')
            elif cond.get("status") != "True":
                gates.append(f'the status of pod readiness gate "{ctype}" is not "True", but {cond.get("status")}')
        if gates:
            ready = _condition("Ready", "False", old, now, READINESS_GATES_NOT_READY, ", ".join(gates))
        else:
            ready = _condition("Ready", "True", old, now)
    out.append(ready)
    out.append(containers_ready)
    scheduled = old.get("PodScheduled") or {}
    out.append(
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": scheduled.get("lastTransitionTime")
            if scheduled.get("status") == "True" and scheduled.get("lastTransitionTime")
            else now,
        }
    )
    return out


def patch_for(old: dict[str, Any], new: dict[str, Any], owned: tuple[str, ...]) -> dict[str, Any]:
    """A JSON merge patch turning ``old`` status into ``new`` for the fields the kubelet owns."""
    patch: dict[str, Any] = {}
    for key in owned:
        if key in new:
            if old.get(key) != new[key]:
                patch[key] = new[key]
        elif key in old:
            patch[key] = None
    return patch


OWNED_FIELDS = (
    "phase",
    "conditions",
    "message",
    "reason",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "initContainerStatuses",
    "containerStatuses",
    "qosClass",
)
