"""Startup, liveness and readiness probes on the sim clock.

Upstream ``pkg/kubelet/prober``: one worker per probe and container. A probe first runs
``initialDelaySeconds`` after the container started, then every ``periodSeconds``
(here counted from the container's start; upstream's ticker starts with the worker, plus
an immediate readiness run when the status is generated). A result changes only after
``failureThreshold`` consecutive failures or ``successThreshold`` consecutive successes.
Readiness starts as failure, liveness as success, startup as unknown; until the startup
probe succeeds the other two do not run. Each failed probe records an ``Unhealthy`` event.
What a probe answers comes from the container's behaviour (see behaviour.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.controlplane.kubelet.behaviour import Behaviour

STARTUP, LIVENESS, READINESS = "startup", "liveness", "readiness"
KINDS = (STARTUP, LIVENESS, READINESS)
FIELDS = {STARTUP: "startupProbe", LIVENESS: "livenessProbe", READINESS: "readinessProbe"}
TITLES = {STARTUP: "Startup", LIVENESS: "Liveness", READINESS: "Readiness"}
SUCCESS, FAILURE, UNKNOWN = "success", "failure", "unknown"
_INITIAL = {STARTUP: UNKNOWN, LIVENESS: SUCCESS, READINESS: FAILURE}


@dataclass
class ProbeState:
    kind: str
    spec: dict[str, Any]
    next_at: float
    result: str
    last_raw: str | None = None
    run: int = 0

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    @property
    def success_threshold(self) -> int:
        return int(self.spec.get("successThreshold") or 1)

    @property
    def failure_threshold(self) -> int:
        return int(self.spec.get("failureThreshold") or 3)

    def record(self, ok: bool) -> bool:
        """Count one probe result; True when the probe's result changed."""
        raw = SUCCESS if ok else FAILURE
        if raw == self.last_raw:
            self.run += 1
        else:
            self.last_raw, self.run = raw, 1
        threshold = self.success_threshold if ok else self.failure_threshold
        if self.run < threshold:
            return False
        changed = self.result != raw
        self.result = raw
        if not ok and self.kind in (LIVENESS, STARTUP):
            self.run = 0
        return changed


def states_for(container: dict[str, Any], started_at: float) -> dict[str, ProbeState]:
    """The probe workers of a freshly started container."""
    out: dict[str, ProbeState] = {}
    for kind in KINDS:
        spec = container.get(FIELDS[kind])
        if isinstance(spec, dict):
            delay = float(spec.get("initialDelaySeconds") or 0)
            out[kind] = ProbeState(kind, spec, started_at + delay, _INITIAL[kind])
    return out


def _exec_file(spec: dict[str, Any]) -> tuple[str, str] | None:
    """(utility, path) for exec probes that test a file: cat F, test -f F, [ -f F ], ls F, stat F."""
    command = [str(c) for c in ((spec.get("exec") or {}).get("command") or [])]
    if len(command) >= 3 and command[0].rsplit("/", 1)[-1] in ("sh", "bash") and command[1] == "-c":
        command = command[2].split()
    if not command:
        return None
    tool = command[0].rsplit("/", 1)[-1]
    paths = [c for c in command[1:] if c.startswith("/")]
    if tool in ("cat", "ls", "stat", "test", "[") and paths:
        return tool, paths[0]
    return None


def answer(
    kind: str, spec: dict[str, Any], behaviour: Behaviour, running_for: float, pod_ip: str, ports: list[dict[str, Any]]
) -> tuple[bool, str]:
    """(succeeded, output) of one probe of a container that has been running ``running_for`` seconds."""
    hints = behaviour.hints
    ok = True
    if kind == STARTUP:
        ok = running_for >= hints.startup_after
    elif kind == LIVENESS:
        ok = hints.liveness_fail_after is None or running_for < hints.liveness_fail_after
    elif kind == READINESS:
        ok = running_for >= hints.ready_after and (
            hints.readiness_fail_after is None or running_for < hints.readiness_fail_after
        )
    file_check = _exec_file(spec)
    if file_check and any(path == file_check[1] for _, path, _ in behaviour.files):
        ok = ok and behaviour.file_exists(file_check[1], running_for)
    if ok:
        return True, ""
    return False, _failure_output(kind, spec, pod_ip, ports, file_check)


def _failure_output(
    kind: str, spec: dict[str, Any], pod_ip: str, ports: list[dict[str, Any]], file_check: tuple[str, str] | None
) -> str:
    if isinstance(spec.get("httpGet"), dict):
        return f"HTTP probe failed with statuscode: {500 if kind == LIVENESS else 503}"
    if isinstance(spec.get("tcpSocket"), dict):
        port = spec["tcpSocket"].get("port")
        if isinstance(port, str) and not port.isdigit():
            port = next((p.get("containerPort") for p in ports if p.get("name") == port), port)
        host = spec["tcpSocket"].get("host") or pod_ip
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(spec.get("grpc"), dict):
        return 'service unhealthy (responded with "NOT_SERVING")'
    if file_check:
        tool, path = file_check
        if tool == "cat":
            return f"cat: can't open '{path}': No such file or directory"
        if tool in ("ls", "stat"):
            return f"{tool}: {path}: No such file or directory"
    return ""


def kill_message(kind: str, container: str, restart: bool) -> str:
    """The Killing event when a liveness or startup probe gives up on a container."""
    message = f"Container {container} failed {kind} probe"
    return f"{message}, will be restarted" if restart else message
