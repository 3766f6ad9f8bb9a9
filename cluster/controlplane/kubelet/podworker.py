"""One pod's worker: the kubelet's SyncPod, as a discrete-event state machine on the sim clock.

Each call to :meth:`PodWorker.sync` runs every step that is due, in time order, writes the
pod's status if it changed, and returns when the next step is due. The steps follow the
kubelet's pod pipeline (seeds 000/001, ``pkg/kubelet/kubelet.go`` SyncPod and
``kuberuntime_manager.go``):

admit -> cgroup -> mount volumes -> RunPodSandbox (pause) -> CNI ADD -> for each init
container in turn, then each container: pull image -> CreateContainer -> StartContainer;
then probes, exits, restarts with back-off; on deletion: stop containers (SIGTERM, then
SIGKILL after the grace period), StopPodSandbox, CNI DEL, unmount, final status, and
the delete with grace period 0 that lets the API server forget the pod.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cluster.controlplane.kubelet import admission, behaviour, cni, cri, images, probes, qos, status, volumes
from cluster.controlplane.kubelet.backoff import Backoff
from cluster.controlplane.kubelet.static_pods import StaticPod

if TYPE_CHECKING:
    from cluster.controlplane.kubelet.kubelet import Kubelet

EPS = 1e-6
# PLEG relists containers every second: that is how soon the kubelet notices an exit.
PLEG_RELIST = 1.0
# After a failed sync (a failed pull, a missing image) the pod worker looks again this soon.
SYNC_AFTER_ERROR = 1.0
# How long a failure that no event will clear (a bad image name) waits before the next try.
RESYNC_AFTER_ERROR = 10.0
DELETE_DELAY = 0.1
SANDBOX_RETRY = 10.0
# Upstream's status manager keeps patching a terminating pod's status; the API server keeps the pod
# because its deletionGracePeriodSeconds is not 0 (ShouldDeleteDuringUpdate). Until this API server
# checks the grace period, an update of a terminating pod deletes it, so only the final status of a
# terminating pod is written (set True once it does).
PATCH_WHILE_TERMINATING = True
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"

MAX_STEPS_PER_SYNC = 1000

logger = logging.getLogger(__name__)

Action = tuple[float, int, Callable[[float], None]]


@dataclass
class Slot:
    """One container of the pod (init or regular) across its restarts."""

    name: str
    spec: dict[str, Any]
    init: bool = False
    sidecar: bool = False
    current: cri.Container | None = None
    previous: cri.Container | None = None
    # The next attempt being prepared: "pull", "create", "start" (due at stage_due).
    stage: str | None = None
    stage_due: float = 0.0
    pull_requested: float = 0.0
    pull_outcome: images.PullOutcome | None = None
    pull_ref: images.ImageRef | None = None
    creating: cri.Container | None = None
    waiting: tuple[str, str] | None = None
    next_try: float | None = None  # the next attempt may begin at this time
    decide_at: float | None = None  # an exit waits for this decision
    done: bool = False  # will not run again
    completed_at: float | None = None  # an init container that exited 0
    kill_restart: bool = False  # the kubelet stopped it to restart it (probe, spec change)
    probers: dict[str, probes.ProbeState] = field(default_factory=dict)  # probe workers by kind
    started: bool = False
    started_since: float = 0.0  # when ``started`` last became true
    ready: bool = False

    @property
    def busy(self) -> bool:
        return self.stage is not None

    def view(self, lost: bool = False) -> status.SlotView:
        return status.SlotView(
            self.name,
            self.spec,
            self.init,
            self.sidecar,
            self.current,
            self.previous,
            self.waiting,
            self.started,
            self.ready,
            lost,
        )


T = TypeVar("T")


class _Counted(Generic[T]):
    """A pod worker's field that decides whether admission counts its pod against the node:
    setting it tells the kubelet, which keeps that set as the fields change."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = "_" + name

    def __get__(self, worker: Any, owner: type | None = None) -> T:
        value: T = worker.__dict__[self.field]  # read dozens of times per pod: no getattr, no cast
        return value

    def __set__(self, worker: PodWorker, value: T) -> None:
        setattr(worker, self.field, value)
        worker.kl.running_changed(worker)


class PodWorker:
    """The kubelet's view and the runtime's state of one pod."""

    def __init__(self, kubelet: Kubelet, uid: str, key: str, static: StaticPod | None = None) -> None:
        self.kl = kubelet
        self.uid = uid
        self.key = key
        self.static = static
        self.pod: dict[str, Any] | None = None  # the API object (the mirror pod for a static pod)
        self.written_rv: str | None = None  # the resourceVersion of this worker's last status write
        self.spec_pod: dict[str, Any] = {}
        self.seen_at: float | None = None
        # Admission counts the pod against the node while admitted and neither rejected nor torn
        # down; the kubelet keeps that set as these change (the properties below tell it).
        self._admitted = False
        self._rejection: admission.AdmitResult | None = None
        self.start_time: float | None = None
        self.qos = qos.BEST_EFFORT
        self.cgroup = ""
        self.mounted_at: float | None = None
        self.mount_next: float | None = None
        self.mount_delay = volumes.MOUNT_RETRY_INITIAL
        self.mount_timeout_at: float | None = None
        self.volume_check: volumes.VolumeCheck | None = None
        self.sandbox: cri.Sandbox | None = None
        self.sandbox_next: float | None = None
        self.network_traced = False
        self.ready_traced = False
        self.slots: list[Slot] = []
        self.initialized_at: float | None = None
        self.image_backoff = Backoff()
        self.crash_backoff = Backoff()
        self.stop_reason: str | None = None  # "deleted", "terminal", "deadline"
        self.stop_started: float | None = None
        self.deletion_seen: float | None = None
        self._torn_down_at: float | None = None
        self.deleted = False
        self.reason = ""
        self.message = ""
        self.now = 0.0

    # ------------------------------------------------------------------ admission's running set
    admitted: _Counted[bool] = _Counted()
    rejection: _Counted[admission.AdmitResult | None] = _Counted()
    torn_down_at: _Counted[float | None] = _Counted()

    @property
    def counts_against_node(self) -> bool:
        return self._admitted and self._rejection is None and self._torn_down_at is None

    # ------------------------------------------------------------------ identity
    @property
    def namespace(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def spec(self) -> dict[str, Any]:
        return self.spec_pod.get("spec") or {}

    @property
    def host_network(self) -> bool:
        return bool(self.spec.get("hostNetwork"))

    @property
    def pod_ref(self) -> str:
        """format.Pod: name_namespace(uid), as the kubelet names pods in its messages."""
        uid = ((self.pod or {}).get("metadata") or {}).get("uid") or self.uid
        return f"{self.name}_{self.namespace}({uid})"

    @property
    def involved(self) -> list[dict[str, Any]]:
        return [{"kind": "Pod", "namespace": self.namespace, "name": self.name}]

    @property
    def finished(self) -> bool:
        """Nothing left to do: rejected or torn down, and deleted if deletion was asked for."""
        if self.rejection is None and self.torn_down_at is None:
            return False
        return self.deletion_seen is None or self.deleted

    def ip(self) -> str | None:
        return self.sandbox.ip if self.sandbox else None

    def holds_ip(self) -> str | None:
        """The pod IP this worker's live sandbox holds (released by CNI DEL)."""
        if self.sandbox and self.sandbox.stopped_at is None and not self.sandbox.host_network:
            return self.sandbox.ip
        return None

    # ------------------------------------------------------------------ helpers
    def _event(self, etype: str, reason: str, message: str) -> None:
        if self.pod is not None:
            self.kl.event(self.pod, etype, reason, message)

    def _trace(self, stage: str, message: str, params: dict[str, Any], source: str = "", target: str = "") -> None:
        full = {"pod": self.key, "node": self.kl.node, **params}
        self.kl.trace(stage, message, full, self.involved, source, target)

    def _build_slots(self) -> None:
        slots: list[Slot] = []
        for c in self.spec.get("initContainers") or []:
            slots.append(Slot(str(c.get("name")), c, init=True, sidecar=c.get("restartPolicy") == "Always"))
        for c in self.spec.get("containers") or []:
            slots.append(Slot(str(c.get("name")), c))
        self.slots = slots

    def _refresh_specs(self) -> None:
        """Take up spec changes (a new image) for containers the pod still has."""
        by_name = {
            c.get("name"): c for c in (self.spec.get("initContainers") or []) + (self.spec.get("containers") or [])
        }
        for slot in self.slots:
            if slot.name in by_name:
                slot.spec = by_name[slot.name]

    @property
    def init_slots(self) -> list[Slot]:
        return [s for s in self.slots if s.init]

    @property
    def app_slots(self) -> list[Slot]:
        return [s for s in self.slots if not s.init]

    def _running(self) -> list[Slot]:
        return [s for s in self.slots if s.current is not None and s.current.running]

    # ------------------------------------------------------------------ entry point
    def sync(self, pod: dict[str, Any] | None, now: float) -> float | None:
        """Run every due step up to ``now``; write the status; return when to look next."""
        self.pod = pod
        self.spec_pod = self.static.pod if self.static else (pod or {})
        if not self.slots:
            self._build_slots()
        else:
            self._refresh_specs()
        if self.seen_at is None:
            self.seen_at = now
        meta = (pod or {}).get("metadata") or {}
        if self.static is None and meta.get("deletionTimestamp") and self.deletion_seen is None:
            self.deletion_seen = now
        self.now = now
        self._restart_changed(now)
        for _ in range(MAX_STEPS_PER_SYNC):
            action = self._next_action()
            if action is None or action[0] > now + EPS:
                break
            due, _order, fn = action
            t = min(max(due, self.seen_at), now)
            fn(t)
            self._check_terminal(t)
        else:
            logger.warning(
                "kubelet %s: pod %s still had due steps after %d", self.kl.node, self.key, MAX_STEPS_PER_SYNC
            )
        self._write_status(now)
        action = self._next_action()
        return action[0] if action else None

    # ------------------------------------------------------------------ scheduling
    def _next_action(self) -> Action | None:
        acts: list[Action] = []
        add = acts.append
        if self.finished:
            return None
        if self.rejection is not None or self.torn_down_at is not None:
            assert self.deletion_seen is not None
            base = (
                self.torn_down_at + self.kl.work(DELETE_DELAY) if self.torn_down_at is not None else self.deletion_seen
            )
            return (max(base, self.deletion_seen), 7, self._delete)
        if not self.admitted:
            add((self.seen_at or 0.0, 0, self._admit))
            return min(acts, key=lambda a: (a[0], a[1]))
        if self.deletion_seen is not None and self.stop_reason != "deleted":
            add((self.deletion_seen, 1, lambda t: self._begin_stop("deleted", t)))
        deadline = self.spec.get("activeDeadlineSeconds")
        if (
            self.stop_reason is None
            and isinstance(deadline, int)
            and self.start_time is not None
            and self.static is None
        ):
            add((self.start_time + deadline, 1, lambda t: self._begin_stop("deadline", t)))
        for slot in self.slots:
            c = slot.current
            if c is not None and c.running:
                end = c.planned_end()
                if end is not None:
                    add((end[0], 2, lambda t, s=slot: self._container_ended(s, t)))
                if self.stop_reason is None:
                    for kind, probe in slot.probers.items():
                        add((probe.next_at, 5, lambda t, s=slot, k=kind: self._probe(s, k, t)))
            if slot.stage is not None and self.stop_reason is None:
                add((slot.stage_due, 3, lambda t, s=slot: self._stage_done(s, t)))
        if self.stop_reason is not None:
            if not self._running():
                last = max([self.stop_started or 0.0] + [s.current.finished_at or 0.0 for s in self.slots if s.current])
                add((last, 6, self._teardown))
            return min(acts, key=lambda a: (a[0], a[1])) if acts else None
        if self.mounted_at is None:
            add((self.mount_next if self.mount_next is not None else self.seen_at or 0.0, 4, self._mount))
            if self.mount_timeout_at is not None:
                add((self.mount_timeout_at, 4, self._mount_timeout))
            return min(acts, key=lambda a: (a[0], a[1]))
        if self.sandbox is None:
            add((self.sandbox_next if self.sandbox_next is not None else self.mounted_at, 4, self._run_sandbox))
            return min(acts, key=lambda a: (a[0], a[1]))
        if self.sandbox.network_at is not None and not self.network_traced:
            add((self.sandbox.network_at, 4, self._cni_add))
        if self.sandbox.ready_at is not None and not self.ready_traced:
            add((self.sandbox.ready_at, 4, self._sandbox_ready))
            return min(acts, key=lambda a: (a[0], a[1]))
        for slot in self.slots:
            if slot.decide_at is not None:
                add((slot.decide_at, 4, lambda t, s=slot: self._decide(s, t)))
        begin = self._next_to_begin()
        if begin is not None:
            slot, at = begin
            add((at, 8, lambda t, s=slot: self._begin(s, t)))
        return min(acts, key=lambda a: (a[0], a[1])) if acts else None

    def _initialized(self) -> float | None:
        """When the last init container finished (or the sidecar started); None while initialising.

        Once reached it stays reached: a restarting sidecar does not hold the containers back."""
        if self.initialized_at is not None:
            return self.initialized_at
        at = self.ready_at()
        for slot in self.init_slots:
            if slot.sidecar:
                if not slot.started:
                    return None
                at = max(at, slot.started_since + PLEG_RELIST)
                continue
            if slot.completed_at is None:
                return None
            at = max(at, slot.completed_at + PLEG_RELIST)
        self.initialized_at = at
        return at

    def ready_at(self) -> float:
        return self.sandbox.ready_at if self.sandbox and self.sandbox.ready_at is not None else 0.0

    def _next_to_begin(self) -> tuple[Slot, float] | None:
        """The next container to (re)start, and from when: init containers one by one, then the rest
        in order, one at a time (SyncPod starts them in sequence)."""
        if any(s.busy for s in self.slots):
            return None
        gate = self.ready_at()
        for slot in self.init_slots if self.initialized_at is None else []:
            if slot.sidecar:
                if slot.started or (slot.current is not None and slot.current.running):
                    if not slot.started:
                        return None
                    gate = max(gate, slot.started_since + PLEG_RELIST)
                    continue
            elif slot.completed_at is not None:
                gate = max(gate, slot.completed_at + PLEG_RELIST)
                continue
            if slot.current is not None and slot.current.running:
                return None
            return self._candidate(slot, gate)
        init_done = self._initialized()
        if init_done is None:
            return None
        found = [c for c in (self._candidate(s, init_done) for s in self.slots if not s.init or s.sidecar) if c]
        return min(found, key=lambda c: c[1]) if found else None

    def _candidate(self, slot: Slot, gate: float) -> tuple[Slot, float] | None:
        if slot.done or slot.busy or slot.decide_at is not None:
            return None
        c = slot.current
        if c is not None and (c.running or (c.exited and slot.next_try is None)):
            return None
        at = max(gate, slot.next_try if slot.next_try is not None else gate)
        return slot, at

    # ------------------------------------------------------------------ admission and setup
    def _admit(self, t: float) -> None:
        node = self.kl.node_object()
        if node:
            self.kl.admission_view(self, node)
            result = admission.admit(self.spec_pod, node, None, self.kl.admitted_view)
        else:
            result = admission.AdmitResult(True)
        if not result.admit:
            self.rejection = result
            self.reason, self.message = result.reason, f"Pod was rejected: {result.message}"
            self.start_time = t
            self._event("Warning", result.reason, result.message)
            self._trace("admit", "kubelet.rejected", {"reason": result.reason, "message": result.message})
            return
        self.admitted = True
        self.start_time = t
        self.qos = qos.qos_class(self.spec_pod)
        self.cgroup = qos.pod_cgroup(self.uid, self.qos)
        self._trace("admit", "kubelet.admitted", {"qos": self.qos})
        self._trace("cgroup", "kubelet.cgroup", {"cgroup": self.cgroup, "qos": self.qos}, "kubelet", "cgroups")

    def _mount(self, t: float) -> None:
        check = volumes.check(
            self.spec_pod,
            self.kl.getter("", "ConfigMap"),
            self.kl.getter("", "Secret"),
            self.kl.getter("", "PersistentVolumeClaim"),
        )
        self.volume_check = check
        if check.ready:
            self.mounted_at = t
            self.mount_next = self.mount_timeout_at = None
            self._trace(
                "volumes",
                "kubelet.volumes.mounted",
                {"count": len(check.mounted), "volumes": ", ".join(check.mounted) or "-"},
            )
            return
        if self.mount_timeout_at is None:
            self.mount_timeout_at = t + volumes.ATTACH_AND_MOUNT_TIMEOUT
            first = (check.setup_errors or check.unprocessed)[0]
            self._trace("volumes", "kubelet.volumes.waiting", {"volume": first[0], "error": first[1]})
        for _name, message in check.setup_errors:
            self._event("Warning", "FailedMount", message)
        self.mount_next = t + self.mount_delay
        self.mount_delay = min(self.mount_delay * 2, volumes.MOUNT_RETRY_MAX)

    def _mount_timeout(self, t: float) -> None:
        if self.volume_check is not None and not self.volume_check.ready:
            self._event("Warning", "FailedMount", self.volume_check.timeout_message())
        self.mount_timeout_at = t + volumes.ATTACH_AND_MOUNT_TIMEOUT

    def retry_mount_now(self, now: float) -> None:
        """An object a volume waits for changed: look again at once."""
        if self.mounted_at is None and self.admitted:
            self.mount_next = now

    def _run_sandbox(self, t: float) -> None:
        sandbox_id = cri.new_id(self.kl.seed, self.kl.node, self.uid, "sandbox", 0)
        sandbox = cri.Sandbox(sandbox_id, t, self.host_network)
        self._trace(
            "sandbox",
            "kubelet.sandbox",
            {"sandbox": sandbox_id[:13], "image": sandbox.pause_image, "cgroup": self.cgroup},
            "kubelet",
            "containerd",
        )
        if self.host_network:
            sandbox.ip = self.kl.host_ip()
            sandbox.network_at = t
            sandbox.ready_at = t + self.kl.work(cri.SANDBOX_READY_DELAY)
            self.network_traced = True
            self._trace("cni", "kubelet.cni.hostnetwork", {"ip": sandbox.ip}, "containerd", "cni")
            self.sandbox = sandbox
            return
        cidr = self.kl.pod_cidr()
        ip = self.kl.reserve_ip(cidr, self) if cidr else None
        if ip is None:
            error = cni.setup_error(self.kl.cni, sandbox_id, cidr)
            self._event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {error}")
            self._trace("cni", "kubelet.cni.failed", {"error": error}, "containerd", "cni")
            self.sandbox_next = t + SANDBOX_RETRY
            return
        sandbox.ip = ip
        sandbox.network_at = t + self.kl.work(cri.SANDBOX_NETWORK_DELAY)
        sandbox.ready_at = t + self.kl.work(cri.SANDBOX_READY_DELAY)
        self.sandbox = sandbox

    def _cni_add(self, t: float) -> None:
        self.network_traced = True
        assert self.sandbox is not None
        cidr = self.kl.pod_cidr() or ""
        self._trace(
            "cni",
            "kubelet.cni.added",
            {"plugin": cni.plugin(self.kl.cni), "ip": self.sandbox.ip, "cidr": cidr, "gateway": cni.gateway(cidr)},
            "containerd",
            "cni",
        )

    def _sandbox_ready(self, t: float) -> None:
        self.ready_traced = True

    # ------------------------------------------------------------------ starting containers
    def _begin(self, slot: Slot, t: float) -> None:
        """Start (or restart) a container: back-off bookkeeping, then the image."""
        c = slot.current
        slot.next_try = None
        if c is not None and c.exited:
            finished = c.finished_at if c.finished_at is not None else t
            if self.crash_backoff.in_backoff_since(slot.name, finished, t):
                delay = self.crash_backoff.get(slot.name)
                slot.waiting = (
                    "CrashLoopBackOff",
                    f"back-off {images.go_duration(delay)} restarting failed container={slot.name} pod={self.pod_ref}",
                )
                self._event(
                    "Warning", "BackOff", f"Back-off restarting failed container {slot.name} in pod {self.pod_ref}"
                )
                slot.next_try = finished + delay
                self._trace(
                    "container",
                    "kubelet.container.backoff",
                    {"container": slot.name, "backoff": images.go_duration(delay)},
                )
                return
            self.crash_backoff.next(slot.name, finished, t)
        image = str(slot.spec.get("image", ""))
        try:
            ref = images.parse_reference(image)
        except images.InvalidImageName as exc:
            message = f'Failed to apply default image tag "{image}": {exc}'
            self._event("Warning", "InspectFailed", message)
            self._event("Warning", "Failed", "Error: InvalidImageName")
            slot.waiting = ("InvalidImageName", message)
            slot.next_try = t + RESYNC_AFTER_ERROR
            return
        present = self.kl.image_present(ref)
        policy = slot.spec.get("imagePullPolicy") or images_policy(image)
        if present and policy != "Always":
            self._event("Normal", "Pulled", f'Container image "{image}" already present on machine')
            self._trace("image", "kubelet.image.present", {"image": image})
            self._to_create(slot, ref, t)
            return
        if policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            self._event("Warning", "ErrImageNeverPull", message)
            self._event("Warning", "Failed", "Error: ErrImageNeverPull")
            slot.waiting = ("ErrImageNeverPull", message)
            slot.next_try = t + RESYNC_AFTER_ERROR
            return
        key = f"{image}"
        if self.image_backoff.in_backoff_since_update(key, t):
            message = f'Back-off pulling image "{image}"'
            self._event("Normal", "BackOff", message)
            self._event("Warning", "Failed", "Error: ImagePullBackOff")
            slot.waiting = ("ImagePullBackOff", message)
            entry = self.image_backoff.entries[key]
            slot.next_try = entry.last_update + entry.backoff
            self._trace(
                "image",
                "kubelet.image.backoff",
                {"image": image, "backoff": images.go_duration(entry.backoff)},
            )
            return
        self._event("Normal", "Pulling", f'Pulling image "{image}"')
        _start, end, outcome = self.kl.request_pull(ref, t)
        slot.stage, slot.stage_due = "pull", end
        slot.pull_requested, slot.pull_outcome, slot.pull_ref = t, outcome, ref
        self._trace(
            "image", "kubelet.image.pulling", {"image": image, "registry": ref.domain}, "containerd", "registry"
        )

    def _to_create(self, slot: Slot, ref: images.ImageRef, t: float) -> None:
        slot.stage, slot.stage_due, slot.pull_ref = "create", t + self.kl.work(cri.CREATE_DELAY), ref

    def _stage_done(self, slot: Slot, t: float) -> None:
        stage, slot.stage = slot.stage, None
        if stage == "pull":
            self._pulled(slot, t)
        elif stage == "create":
            self._create(slot, t)
        elif stage == "start":
            self._start(slot, t)

    def _pulled(self, slot: Slot, t: float) -> None:
        outcome, ref = slot.pull_outcome, slot.pull_ref
        assert outcome is not None and ref is not None
        image = str(slot.spec.get("image", ""))
        if not outcome.ok:
            self._event("Warning", "Failed", f'Failed to pull image "{image}": {outcome.error}')
            self._event("Warning", "Failed", "Error: ErrImagePull")
            self.image_backoff.next(image, t, t)
            slot.waiting = ("ErrImagePull", outcome.error)
            slot.next_try = t + SYNC_AFTER_ERROR
            self._trace(
                "image", "kubelet.image.failed", {"image": image, "error": outcome.error}, "registry", "containerd"
            )
            return
        waited = t - slot.pull_requested
        self._event(
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image}" in {images.go_duration(outcome.duration)} '
            f"({images.go_duration(waited)} including waiting). Image size: {outcome.size} bytes.",
        )
        self.kl.record_image(ref, outcome.size)
        self._trace(
            "image",
            "kubelet.image.pulled",
            {"image": image, "size": outcome.size, "duration": images.go_duration(outcome.duration)},
            "registry",
            "containerd",
        )
        self._to_create(slot, ref, t)

    def _create(self, slot: Slot, t: float) -> None:
        ref = slot.pull_ref
        assert ref is not None
        attempt = slot.current.attempt + 1 if slot.current is not None else 0
        cid = cri.new_id(self.kl.seed, self.kl.node, self.uid, slot.name, attempt)
        info = images.lookup(ref)
        container = cri.Container(
            id=cid,
            name=slot.name,
            attempt=attempt,
            image=str(slot.spec.get("image", "")),
            image_name=ref.tagged,
            image_id=images.image_id(ref),
            created_at=t,
            behaviour=behaviour.derive(self.spec_pod, slot.spec, info),
            memory_limit=qos.memory_limit_bytes(slot.spec),
        )
        slot.creating = container
        self._event("Normal", "Created", f"Created container: {slot.name}")
        self._trace(
            "container", "kubelet.container.created", {"container": slot.name, "id": cid[:13]}, "kubelet", "containerd"
        )
        slot.stage, slot.stage_due = "start", t + self.kl.work(cri.START_DELAY)

    def _start(self, slot: Slot, t: float) -> None:
        container = slot.creating
        assert container is not None
        slot.creating = None
        if slot.current is not None:
            slot.previous = slot.current
        slot.current = container
        if container.behaviour.start_error:
            container.started_at = t
            container.finish(t, 128, "StartError")
            container.message = container.behaviour.start_error
            self._event("Warning", "Failed", f"Error: {container.behaviour.start_error}")
            slot.waiting = ("RunContainerError", container.behaviour.start_error)
            slot.decide_at = t + PLEG_RELIST
            self._trace(
                "container", "kubelet.container.starterror", {"container": slot.name, "error": container.message}
            )
            return
        container.started_at = t
        slot.waiting = None
        slot.probers = probes.states_for(slot.spec, t)
        slot.started = probes.STARTUP not in slot.probers
        slot.started_since = t
        slot.ready = slot.started and probes.READINESS not in slot.probers and not (slot.init and not slot.sidecar)
        self._event("Normal", "Started", f"Started container {slot.name}")
        self._trace(
            "container",
            "kubelet.container.started",
            {"container": slot.name, "scope": qos.container_scope(self.cgroup, container.id)},
            "containerd",
            "kubelet",
        )

    # ------------------------------------------------------------------ probes
    def _probe(self, slot: Slot, kind: str, t: float) -> None:
        probe = slot.probers[kind]
        if t < self.now - probe.period:
            t = self.now  # probes a stopped kubelet missed are not run after the fact
        probe.next_at = t + probe.period
        c = slot.current
        if c is None or not c.running or c.started_at is None or c.stop_requested_at is not None:
            return
        if kind != probes.STARTUP and not slot.started:
            return
        if kind == probes.STARTUP and slot.started:
            del slot.probers[kind]
            return
        ok, output = probes.answer(
            kind, probe.spec, c.behaviour, t - c.started_at, self.ip() or "", slot.spec.get("ports") or []
        )
        if not ok:
            self._event("Warning", "Unhealthy", f"{probes.TITLES[kind]} probe failed: {output}")
        changed = probe.record(ok)
        if not changed:
            return
        self._trace("probe", "kubelet.probe.result", {"container": slot.name, "probe": kind, "result": probe.result})
        if kind == probes.STARTUP and probe.result == probes.SUCCESS:
            slot.started = True
            slot.started_since = t
            slot.ready = probes.READINESS not in slot.probers
            del slot.probers[kind]
        elif kind == probes.READINESS:
            slot.ready = probe.result == probes.SUCCESS
        elif kind in (probes.LIVENESS, probes.STARTUP) and probe.result == probes.FAILURE:
            restart = self.spec.get("restartPolicy", "Always") != "Never" or slot.sidecar
            self._event("Normal", "Killing", probes.kill_message(kind, slot.name, restart))
            slot.kill_restart = restart
            self._stop_container(slot, t, self._probe_grace(probe.spec))
            self._trace("probe", "kubelet.probe.kill", {"container": slot.name, "probe": kind})

    def _restart_changed(self, now: float) -> None:
        """A container whose spec changed (``kubectl set image``) is killed and started again."""
        if self.stop_reason is not None or self.static is not None:
            return
        for slot in self.slots:
            c = slot.current
            if c is None or not c.running or c.stop_requested_at is not None:
                continue
            if c.image == str(slot.spec.get("image", "")):
                continue
            restart = self.spec.get("restartPolicy", "Always") != "Never" or slot.sidecar
            message = f"Container {slot.name} definition changed"
            self._event("Normal", "Killing", f"{message}, will be restarted" if restart else message)
            slot.kill_restart = restart
            self._stop_container(slot, now, float(self.spec.get("terminationGracePeriodSeconds", 30)))

    def _probe_grace(self, spec: dict[str, Any]) -> float:
        grace = spec.get("terminationGracePeriodSeconds")
        if grace is None:
            grace = self.spec.get("terminationGracePeriodSeconds", 30)
        return float(grace)

    def _stop_container(self, slot: Slot, t: float, grace: float) -> None:
        c = slot.current
        if c is None or not c.running:
            return
        c.stop(t, grace)
        slot.ready = False

    # ------------------------------------------------------------------ exits and restarts
    def _container_ended(self, slot: Slot, t: float) -> None:
        c = slot.current
        assert c is not None
        end = c.planned_end()
        assert end is not None
        at, code, reason = end
        c.finish(at, code, reason)
        slot.probers = {}
        slot.started = slot.ready = False
        self._trace(
            "container",
            "kubelet.container.oomkilled" if reason == "OOMKilled" else "kubelet.container.exited",
            {"container": slot.name, "exitCode": code, "reason": reason},
            "containerd",
            "kubelet",
        )
        if self.stop_reason is not None:
            slot.done = True
            return
        if slot.init and not slot.sidecar and code == 0:
            slot.completed_at = at
            slot.done = True
            return
        slot.decide_at = at if slot.kill_restart else at + PLEG_RELIST

    def _decide(self, slot: Slot, t: float) -> None:
        """ShouldContainerBeRestarted, then doBackOff: restart now, later, or never."""
        slot.decide_at = None
        c = slot.current
        assert c is not None and c.exited
        policy = self.spec.get("restartPolicy", "Always")
        killed = slot.kill_restart
        slot.kill_restart = False
        if slot.sidecar:
            restart = True
        elif slot.init:
            restart = policy != "Never"
        else:
            restart = policy == "Always" or (policy == "OnFailure" and (c.exit_code != 0 or killed))
        if not restart:
            slot.done = True
            return
        slot.next_try = t

    # ------------------------------------------------------------------ stopping
    def _check_terminal(self, t: float) -> None:
        """A pod whose containers are all done (and will not restart) is terminal: stop the sandbox."""
        if self.stop_reason is not None or not self.admitted or self.static is not None or self.sandbox is None:
            return
        old = ((self.pod or {}).get("status") or {}).get("phase")
        if self.spec.get("restartPolicy", "Always") == "Always" and old not in status.TERMINAL:
            return  # getPhase gives no terminal phase under restartPolicy Always until a stop begins
        phase = self._phase(self._views())
        if phase in status.TERMINAL:
            self._begin_stop("terminal", t)

    def _begin_stop(self, reason: str, t: float) -> None:
        previous = self.stop_reason
        self.stop_reason = reason
        if previous is None:
            self.stop_started = t
        if reason == "deadline":
            self.reason, self.message = DEADLINE_REASON, DEADLINE_MESSAGE
            self._event("Warning", DEADLINE_REASON, DEADLINE_MESSAGE)
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        if reason == "deleted":
            meta = (self.pod or {}).get("metadata") or {}
            grace = float(meta.get("deletionGracePeriodSeconds", grace))
            self._trace("terminate", "kubelet.terminating", {"grace": int(grace)})
        for slot in self.slots:
            slot.stage = None
            slot.creating = None
            slot.decide_at = None
            slot.probers = {}
            if slot.current is not None and slot.current.running:
                if slot.current.stop_requested_at is None:
                    self._event("Normal", "Killing", f"Stopping container {slot.name}")
                self._stop_container(slot, t, grace)

    def _teardown(self, t: float) -> None:
        """StopPodSandbox: the pause container goes, CNI DEL frees the IP, volumes and cgroup go."""
        self.torn_down_at = t
        self.kl.forget_ip_reservations()
        if self.sandbox is not None and self.sandbox.stopped_at is None:
            self.sandbox.stopped_at = t
            self._trace(
                "teardown",
                "kubelet.teardown",
                {"ip": self.sandbox.ip or "", "cgroup": self.cgroup},
                "kubelet",
                "containerd",
            )

    def _delete(self, t: float) -> None:
        self.deleted = True
        if self.pod is None:
            return
        self._trace("terminate", "kubelet.deleted", {})
        self.kl.delete_pod(self.pod)

    def forget(self) -> None:
        """The pod is gone from the API server (force-deleted): kill what runs, free what it holds."""
        now = self.kl.ctx.now()
        self.kl.forget_ip_reservations()
        for slot in self.slots:
            if slot.current is not None and slot.current.running:
                slot.current.finish(now, 137, "Error")
        if self.sandbox is not None and self.sandbox.stopped_at is None:
            self.sandbox.stopped_at = now

    # ------------------------------------------------------------------ status
    def _views(self) -> list[status.SlotView]:
        lost = self.stop_reason == "deleted" and self.torn_down_at is not None
        return [s.view(lost=lost and (s.current is None or not s.current.exited)) for s in self.slots]

    def _statuses(self, views: list[status.SlotView]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ts = self.kl.ts
        has_init = bool(self.init_slots)
        default = "PodInitializing" if has_init else "ContainerCreating"
        init = [status.container_status(v, ts, default) for v in views if v.init]
        regular = [status.container_status(v, ts, default) for v in views if not v.init]
        return init, regular

    def _phase(self, views: list[status.SlotView]) -> str:
        init, regular = self._statuses(views)
        terminal = self.stop_reason in ("deleted", "deadline") and not self._running()
        phase = status.get_phase(self.spec, init, regular, terminal, self.static is not None)
        old = ((self.pod or {}).get("status") or {}).get("phase")
        if old in status.TERMINAL and self.static is None:
            return old
        if self.stop_reason == "deadline":
            return "Failed"
        if self.stop_reason == "deleted" and self.torn_down_at is not None and phase not in status.TERMINAL:
            return "Failed"
        return phase

    def generate(self, now: float) -> dict[str, Any]:
        """The status the kubelet would post now."""
        old = (self.pod or {}).get("status") or {}
        stamp = self.kl.ts(now)
        out: dict[str, Any] = {"qosClass": qos.qos_class(self.spec_pod)}
        if self.start_time is not None:
            out["startTime"] = old.get("startTime") or self.kl.ts(self.start_time)
        if self.rejection is not None:
            out.update(phase="Failed", reason=self.reason, message=self.message)
            return out
        views = self._views()
        init, regular = self._statuses(views)
        phase = self._phase(views)
        sandbox_ready = bool(self.sandbox and self.sandbox.ready(now) and self.sandbox.stopped_at is None)
        out["phase"] = phase
        out["conditions"] = status.conditions(
            self.spec, old.get("conditions") or [], init, regular, phase, sandbox_ready, stamp
        )
        host = self.kl.host_ip()
        if host:
            out["hostIP"] = host
            out["hostIPs"] = [{"ip": host}]
        ip = (
            self.sandbox.ip
            if self.sandbox and self.sandbox.network_at is not None and self.sandbox.network_at <= now + EPS
            else None
        )
        if ip:
            out["podIP"] = ip
            out["podIPs"] = [{"ip": ip}]
        if init:
            out["initContainerStatuses"] = init
        out["containerStatuses"] = regular
        if self.reason and phase == "Failed":
            out["reason"], out["message"] = self.reason, self.message
        elif phase == old.get("phase"):
            if old.get("reason"):
                out["reason"] = old["reason"]
            if old.get("message"):
                out["message"] = old["message"]
        return out

    def _write_status(self, now: float) -> None:
        if self.pod is None or self.deleted or not (self.admitted or self.rejection is not None):
            return
        meta = self.pod.get("metadata") or {}
        terminating = meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds")
        if terminating and not PATCH_WHILE_TERMINATING and self.torn_down_at is None:
            return
        old = self.pod.get("status") or {}
        new = self.generate(now)
        patch = status.patch_for(old, new, status.OWNED_FIELDS)
        if patch:
            self.written_rv = self.kl.patch_pod_status(self.pod, patch)

    # ------------------------------------------------------------------ restarts of the kubelet
    def adopt(self, pod: dict[str, Any], now: float) -> None:
        """Pick a pod up after a kubelet restart: what its status says ran is taken as running.

        containerd keeps running containers across kubelet restarts; the status the kubelet
        posted before is the simulation's record of them.
        """
        st = pod.get("status") or {}
        self.pod, self.spec_pod = pod, self.static.pod if self.static else pod
        self._build_slots()
        self.seen_at = now
        if not st.get("startTime"):
            return
        self.admitted = True
        self.start_time = self.kl.parse_ts(st["startTime"])
        self.qos = qos.qos_class(self.spec_pod)
        self.cgroup = qos.pod_cgroup(self.uid, self.qos)
        ready = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        if ready.get("PodReadyToStartContainers") != "True":
            return
        self.mounted_at = self.start_time
        sandbox = cri.Sandbox(
            cri.new_id(self.kl.seed, self.kl.node, self.uid, "sandbox", 0), self.start_time, self.host_network
        )
        sandbox.ip = st.get("podIP")
        sandbox.network_at = sandbox.ready_at = self.start_time
        self.sandbox = sandbox
        self.network_traced = self.ready_traced = True
        statuses = {
            c.get("name"): c for c in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or [])
        }
        for slot in self.slots:
            cs = statuses.get(slot.name) or {}
            state = cs.get("state") or {}
            cid = str(cs.get("containerID") or "").rpartition("//")[2]
            if not cid:
                continue
            try:
                ref = images.parse_reference(str(slot.spec.get("image", "")))
            except images.InvalidImageName:
                continue
            container = cri.Container(
                id=cid,
                name=slot.name,
                attempt=int(cs.get("restartCount") or 0),
                image=str(slot.spec.get("image", "")),
                image_name=str(cs.get("image") or ref.tagged),
                image_id=str(cs.get("imageID") or images.image_id(ref)),
                created_at=self.start_time,
                behaviour=behaviour.derive(self.spec_pod, slot.spec, images.lookup(ref)),
                memory_limit=qos.memory_limit_bytes(slot.spec),
            )
            if "running" in state:
                container.started_at = _or(self.kl.parse_ts(state["running"].get("startedAt")), now)
                slot.current = container
                slot.started = bool(cs.get("started"))
                slot.ready = bool(cs.get("ready"))
                slot.probers = probes.states_for(slot.spec, container.started_at)
                for kind, probe in slot.probers.items():
                    probe.next_at = max(probe.next_at, now)
                    if kind == probes.READINESS and slot.ready:
                        probe.result = probes.SUCCESS
                if slot.started:
                    slot.probers.pop(probes.STARTUP, None)
            elif "terminated" in state:
                term = state["terminated"]
                container.started_at = _or(self.kl.parse_ts(term.get("startedAt")), now)
                container.finish(
                    _or(self.kl.parse_ts(term.get("finishedAt")), now),
                    int(term.get("exitCode") or 0),
                    str(term.get("reason") or ""),
                )
                slot.current = container
                if slot.init and not slot.sidecar and container.exit_code == 0:
                    slot.completed_at = container.finished_at
                    slot.done = True
                else:
                    slot.decide_at = now


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def images_policy(image: str) -> str:
    """The default imagePullPolicy, for pods written without the apiserver's defaulting."""
    last = image.rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"
