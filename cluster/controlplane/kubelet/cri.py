"""The container runtime's side of the CRI: pod sandboxes and containers, as containerd keeps them.

``RunPodSandbox`` starts the pause container (``registry.k8s.io/pause:3.10``), which holds
the pod's network, IPC and UTS namespaces, and calls the CNI plugin; ``CreateContainer``
and ``StartContainer`` then run each container in the sandbox's namespaces and its own
cgroup scope. Identifiers are 64 hex digits, drawn from generators seeded by the
cluster's seed and the container's identity, so a replay produces the same IDs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cluster.bootstrap import PAUSE_IMAGE
from cluster.controlplane.kubelet.behaviour import FOREVER, Behaviour

RUNTIME = "containerd"
# How long the runtime takes for each step, in sim seconds.
SANDBOX_NETWORK_DELAY = 0.2  # RunPodSandbox -> CNI ADD
SANDBOX_READY_DELAY = 0.3  # RunPodSandbox -> sandbox ready
CREATE_DELAY = 0.1  # CreateContainer
START_DELAY = 0.2  # StartContainer after CreateContainer
SANDBOX_STOP_DELAY = 0.1
MINIMUM_GRACE = 2.0

MIB = 1024 * 1024


def new_id(seed: int, *parts: object) -> str:
    """A containerd-style 64-hex identifier (a SHA-256, as containerd's are), from the cluster's
    seed and what it names; a hash, not a seeded generator, which cost more to seed than to use."""
    return hashlib.sha256("/".join(map(str, (seed, "containerd", *parts))).encode()).hexdigest()


def container_id(runtime_id: str) -> str:
    """A container status's ``containerID``."""
    return f"{RUNTIME}://{runtime_id}"


@dataclass
class Sandbox:
    """One pod sandbox: the pause container plus the network namespace CNI configured."""

    id: str
    requested_at: float
    host_network: bool
    ip: str | None = None
    network_at: float | None = None
    ready_at: float | None = None
    stopped_at: float | None = None
    pause_image: str = PAUSE_IMAGE

    def ready(self, now: float) -> bool:
        return self.ready_at is not None and self.ready_at <= now + 1e-9 and self.stopped_at is None


@dataclass
class Container:
    """One container (one attempt of a pod's container) in containerd."""

    id: str
    name: str
    attempt: int
    image: str
    image_name: str
    image_id: str
    created_at: float
    behaviour: Behaviour
    memory_limit: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    # A stop in progress: when the process will be gone, and with what exit code.
    stop_requested_at: float | None = None
    stop_at: float | None = None
    stop_exit_code: int = 0

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.finished_at is None

    @property
    def exited(self) -> bool:
        return self.finished_at is not None

    def planned_end(self) -> tuple[float, int, str] | None:
        """When and how the running process will end if nothing else happens: (time, exit code, reason)."""
        if not self.running or self.started_at is None:
            return None
        ends: list[tuple[float, int, str]] = []
        b = self.behaviour
        if b.runs_for != FOREVER:
            ends.append((self.started_at + b.runs_for, b.exit_code, "Completed" if b.exit_code == 0 else "Error"))
        if b.memory_mi is not None and self.memory_limit is not None and b.memory_mi * MIB > self.memory_limit:
            ends.append((self.started_at + b.memory_after, 137, "OOMKilled"))
        if self.stop_at is not None:
            code = self.stop_exit_code
            ends.append((self.stop_at, code, "Completed" if code == 0 else "Error"))
        return min(ends, key=lambda e: e[0]) if ends else None

    def stop(self, now: float, grace: float) -> None:
        """StopContainer: SIGTERM now, SIGKILL once ``grace`` seconds have passed (never under 2 s,
        upstream's minimumGracePeriodInSeconds). A process that ignores SIGTERM dies with 137."""
        if not self.running or self.stop_requested_at is not None:
            return
        self.stop_requested_at = now
        grace = max(grace, MINIMUM_GRACE)
        if self.behaviour.ignores_sigterm or self.behaviour.stop_seconds > grace:
            self.stop_at, self.stop_exit_code = now + grace, 137
        else:
            self.stop_at, self.stop_exit_code = now + self.behaviour.stop_seconds, 0

    def finish(self, at: float, exit_code: int, reason: str) -> None:
        self.finished_at, self.exit_code, self.reason = at, exit_code, reason
