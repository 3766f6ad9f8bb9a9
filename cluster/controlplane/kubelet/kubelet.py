"""The kubelet: one control loop per Node, running the pods bound to it.

It watches pods whose ``spec.nodeName`` is its node and hands each to a :class:`PodWorker`
(upstream's pod workers); it renews the node's Lease and reports the Node's status; on a
control-plane node it runs the static pods of /etc/kubernetes/manifests and keeps their
mirror pods. Every timer is a "requeue after" on the sim clock.

The Node annotation ``kubeglass.io/kubelet-stopped: "true"`` is the simulation's switch
for a dead kubelet: while it is set this loop does nothing at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext_noop

from cluster import clock
from cluster.api.errors import StatusError
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import object_key
from cluster.controlplane.kubelet import cni, heartbeat, images, static_pods, volumes
from cluster.controlplane.kubelet.admission import AdmittedView, view_key
from cluster.controlplane.kubelet.podworker import EPS, PodWorker
from cluster.controlplane.kubelet.static_pods import StaticPod
from cluster.jsonutil import clone

COMPONENT = "kubelet"
STOPPED_ANNOTATION = "kubeglass.io/kubelet-stopped"
HEARTBEAT_KEY = "!heartbeat"
STATIC_KEY = "!static"
POD_RESYNC_SECONDS = 60.0  # upstream's syncFrequency

# Narration for the glass: message key -> English template (translated through Django i18n).
NARRATION = {
    "kubelet.admitted": gettext_noop(
        "The kubelet on {node} admitted pod {pod}: it fits what the node has left (QoS class {qos})."
    ),
    "kubelet.rejected": gettext_noop("The kubelet on {node} rejected pod {pod} ({reason}): {message}."),
    "kubelet.cgroup": gettext_noop("The kubelet created the pod's cgroup {cgroup} for QoS class {qos}."),
    "kubelet.volumes.mounted": gettext_noop("The kubelet set up {count} volume(s) for pod {pod}: {volumes}."),
    "kubelet.volumes.waiting": gettext_noop("Pod {pod} waits for volume {volume}: {error}."),
    "kubelet.sandbox": gettext_noop(
        "The kubelet asked containerd (CRI RunPodSandbox) for pod {pod}'s sandbox; containerd started "
        "the pause container {image}, which holds the pod's namespaces."
    ),
    "kubelet.cni.added": gettext_noop(
        "CNI ADD: the {plugin} plugin gave pod {pod} the IP {ip} from the node's range {cidr} (gateway {gateway})."
    ),
    "kubelet.cni.hostnetwork": gettext_noop(
        "Pod {pod} uses the node's network namespace (hostNetwork): no CNI call, its IP is the node's, {ip}."
    ),
    "kubelet.cni.failed": gettext_noop("CNI ADD failed for pod {pod}: {error}."),
    "kubelet.image.present": gettext_noop("Image {image} is already on node {node}: no pull."),
    "kubelet.image.pulling": gettext_noop("containerd pulls image {image} from {registry}."),
    "kubelet.image.pulled": gettext_noop("containerd pulled image {image} ({size} bytes) in {duration}."),
    "kubelet.image.failed": gettext_noop("Pulling image {image} failed: {error}."),
    "kubelet.image.backoff": gettext_noop(
        "ImagePullBackOff: the kubelet waits {backoff} before pulling image {image} again."
    ),
    "kubelet.container.created": gettext_noop("containerd created container {container} ({id}) in pod {pod}."),
    "kubelet.container.started": gettext_noop("containerd started container {container} in its cgroup {scope}."),
    "kubelet.container.starterror": gettext_noop("Container {container} could not start: {error}."),
    "kubelet.container.exited": gettext_noop(
        "Container {container} of pod {pod} exited with code {exitCode} ({reason})."
    ),
    "kubelet.container.oomkilled": gettext_noop(
        "The kernel's OOM killer stopped container {container} of pod {pod}: it used more memory than its limit."
    ),
    "kubelet.container.backoff": gettext_noop(
        "CrashLoopBackOff: the kubelet waits {backoff} before restarting container {container}."
    ),
    "kubelet.probe.result": gettext_noop("The {probe} probe of container {container} is now {result}."),
    "kubelet.probe.kill": gettext_noop("Container {container} failed its {probe} probe: the kubelet kills it."),
    "kubelet.terminating": gettext_noop(
        "Pod {pod} is being deleted: the kubelet sends SIGTERM to its containers, SIGKILL after {grace} s."
    ),
    "kubelet.teardown": gettext_noop(
        "The kubelet stopped pod {pod}'s sandbox: CNI DEL released {ip}, volumes unmounted, cgroup {cgroup} removed."
    ),
    "kubelet.deleted": gettext_noop("The kubelet finished pod {pod} and deleted it with grace period 0."),
    "kubelet.lease": gettext_noop(
        "The kubelet on {node} renewed its Lease in kube-node-lease (renewTime {renewTime})."
    ),
    "kubelet.nodestatus": gettext_noop("The kubelet on {node} reported the Node's status (heartbeat {heartbeat})."),
    "kubelet.static": gettext_noop(
        "The kubelet on {node} runs static pod {pod} from {file} and created its mirror pod in the API server."
    ),
}


def is_stopped(node: dict[str, Any] | None) -> bool:
    """The simulation's switch for a dead kubelet (set by an instructor on the Node)."""
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(STOPPED_ANNOTATION, "")).lower() == "true"


class Kubelet(Controller):
    """One node's kubelet: a pod worker per bound pod, the node's heartbeats, its static pods."""

    component = COMPONENT
    name = "kubelet"
    watches = (
        ("", "Pod"),
        ("", "Node"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "PersistentVolumeClaim"),
        ("coordination.k8s.io", "Lease"),
    )
    # As the real kubelet's informers: its own pods, its own Node, its own Lease.
    field_selectors = {
        ("", "Pod"): "spec.nodeName",
        ("", "Node"): "metadata.name",
        ("coordination.k8s.io", "Lease"): "metadata.name",
    }
    resync_seconds = POD_RESYNC_SECONDS

    def __init__(self, ctx: Context, node: str) -> None:
        self.node = node
        self.workers: dict[str, PodWorker] = {}
        self.pulled: list[dict[str, Any]] = []
        self.pull_free_at = 0.0
        self.static: dict[str, StaticPod] = {}
        self.static_loaded = False
        self.admitted_view = AdmittedView()
        # Admission's running set, kept as workers change (see running_changed), and how far the
        # admitted view has caught up with it: pod key -> its key in the view, and keys changed since.
        self.running: dict[str, PodWorker] = {}
        self._view_keys: dict[str, str] = {}
        self._view_changed: set[str] = set()
        # Started pods no worker holds (after a restart): until a walk finds none, admission walks.
        self._strays_possible = True
        self._ip_owners: dict[int, str] | None = None  # host-local's reservations: address -> pod key
        self._ip_range = ""
        super().__init__(ctx)
        self.queue.add(HEARTBEAT_KEY)
        self.queue.add(STATIC_KEY)

    @property
    def identity(self) -> str:
        return f"{COMPONENT}/{self.node}"

    @property
    def selector_value(self) -> str | None:
        return self.node

    # ------------------------------------------------------------------ facts
    @property
    def seed(self) -> int:
        return int(self.ctx.cluster.seed)

    @property
    def cni(self) -> str:
        return str(self.ctx.cluster.cni)

    def work(self, seconds: float) -> float:
        """How long simulated work takes: as given, or nothing when the cluster's sim delays are off."""
        return seconds if self.ctx.cluster.sim_delays else 0.0

    def my_pods(self) -> list[dict[str, Any]]:
        """The pods bound to this node, from the informer's spec.nodeName index."""
        return self.ctx.lister("", "Pod").by_field("spec.nodeName", self.node)

    def node_object(self) -> dict[str, Any] | None:
        return self.ctx.lister("", "Node").get(None, self.node)

    def host_ip(self) -> str | None:
        node = self.node_object() or {}
        for addr in (node.get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return None

    def pod_cidr(self) -> str | None:
        return ((self.node_object() or {}).get("spec") or {}).get("podCIDR")

    def getter(self, group: str, kind: str) -> Any:
        lister = self.ctx.lister(group, kind)
        return lambda namespace, name: lister.get(namespace, name)

    def ts(self, t: float | None) -> str | None:
        """RFC 3339 (seconds) of a sim time."""
        if t is None:
            return None
        return clock.rfc3339(self.ctx.cluster.sim_epoch + dt.timedelta(seconds=t))

    def micro(self, t: float) -> str:
        """MicroTime of a sim time, as Leases carry it."""
        moment = self.ctx.cluster.sim_epoch + dt.timedelta(seconds=t)
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def parse_ts(self, text: str | None) -> float | None:
        if not text:
            return None
        try:
            moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return None
        return (moment - self.ctx.cluster.sim_epoch).total_seconds()

    # ------------------------------------------------------------------ what workers ask for
    def trace(
        self,
        stage: str,
        message: str,
        params: dict[str, Any],
        involved: list[dict[str, Any]],
        source: str = "",
        target: str = "",
    ) -> None:
        me = self.identity
        self.ctx.trace(
            me,
            stage,
            message,
            params,
            involved,
            me if source == "kubelet" else source,
            me if target == "kubelet" else target,
        )

    def event(self, obj: dict[str, Any], etype: str, reason: str, message: str) -> None:
        self.ctx.event(self.identity, obj, etype, reason, message, host=self.node)

    def _running_pods(self, asking: PodWorker) -> list[tuple[str, dict[str, Any]]]:
        """(pod key, pod) of the pods this node already runs, for admission: its workers' (kept
        afresh in ``running``), and (after a restart) the pods whose status says a kubelet started
        them and that no worker holds yet. Notes whether it found any of those."""
        self.running = {key: w for key, w in self.workers.items() if w.counts_against_node}
        out = [(key, w.spec_pod) for key, w in self.running.items() if w is not asking]
        strays = False
        for key, pod in self.ctx.lister("", "Pod").by_field_items("spec.nodeName", self.node):
            if key not in self.workers and _started(pod):
                out.append((key, pod))
                strays = True
        self._strays_possible = strays
        return out

    def running_changed(self, worker: PodWorker) -> None:
        """A worker's pod started or stopped counting against the node (admitted, rejected, torn down)."""
        key = worker.key
        if worker.counts_against_node:
            if self.running.get(key) is worker:
                return
            self.running[key] = worker
        elif self.running.get(key) is worker:
            del self.running[key]
        else:
            return
        self._view_changed.add(key)

    def release(self, worker: PodWorker) -> None:
        """A worker is dropped (its pod is gone, moved, or came back with another uid)."""
        if self.running.get(worker.key) is worker:
            del self.running[worker.key]
            self._view_changed.add(worker.key)

    def admission_view(self, asking: PodWorker, node: dict[str, Any]) -> None:
        """Bring the admitted view up to date for ``asking``'s admission.

        By difference from the pods that started or stopped counting since the last admission
        (a walk of every pod on the node per admission cost more than admitting at 100 pods a
        node); a full walk while pods no worker holds may still run here (after a restart, or
        when the informer shows one), which also finds when there are none left.
        """
        view = self.admitted_view
        if self._strays_possible:
            running = self._running_pods(asking)
            view.update(node, [pod for _key, pod in running])
            self._view_keys = {key: view_key(pod) for key, pod in running}
            self._view_changed = set()
            return
        # ``asking`` is not among them: a worker counts only once admitted.
        added: dict[str, dict[str, Any]] = {}
        removed: list[str] = []
        for key in sorted(self._view_changed):
            worker = self.running.get(key)
            old = self._view_keys.pop(key, None)
            if worker is None:
                if old is not None:
                    removed.append(old)
                continue
            new = view_key(worker.spec_pod)
            if old is not None and old != new:
                removed.append(old)
            added[new] = worker.spec_pod
            self._view_keys[key] = new
        self._view_changed = set()
        view.apply(node, added, removed)

    def _ip_holders(self) -> Iterator[tuple[str, str]]:
        """(address, pod key) for each address a live pod here holds: its worker's sandbox, or,
        for a pod no worker has picked up yet (after a restart), what its status says."""
        for key, w in self.workers.items():
            if ip := w.holds_ip():
                yield ip, key
        for key, pod in self.ctx.lister("", "Pod").by_field_items("spec.nodeName", self.node):
            spec, st = pod.get("spec") or {}, pod.get("status") or {}
            if spec.get("hostNetwork"):
                continue
            if st.get("phase") in ("Succeeded", "Failed") or not st.get("podIP"):
                continue
            worker = self.workers.get(key)
            if worker is not None and worker.holds_ip() is None and worker.torn_down_at is not None:
                continue
            yield str(st["podIP"]), key

    def reserve_ip(self, cidr: str, asking: PodWorker) -> str | None:
        """host-local IPAM's ADD: the lowest address no other live pod holds, now held by ``asking``.

        The reservations are derived from the pods, as host-local reads its store on disk, and
        kept from one ADD to the next; whatever can free an address, or claim one from outside
        this kubelet, drops them (``forget_ip_reservations``) to be derived afresh. Without
        them every ADD would walk every pod on the node.
        """
        owners = self._ip_owners
        if owners is None or self._ip_range != cidr:
            owners = {}
            for ip, key in self._ip_holders():
                value = cni.as_int(ip)
                owners[value] = key if owners.get(value, key) == key else ""  # held twice: free for no one
            self._ip_owners, self._ip_range = owners, cidr
        me = asking.key
        ip = cni.allocate_where(cidr, lambda value: owners.get(value, me) != me)
        if ip is not None:
            owners[cni.as_int(ip)] = me
        return ip

    def forget_ip_reservations(self) -> None:
        self._ip_owners = None

    def _check_ip_reservations(self, key: str, etype: str, pod: dict[str, Any]) -> None:
        """Drop the reservations when a pod event frees an address or shows one they lack."""
        owners = self._ip_owners
        if owners is None:
            return
        st = pod.get("status") or {}
        ip = st.get("podIP")
        if etype == "DELETED" or st.get("phase") in ("Succeeded", "Failed"):
            self._ip_owners = None
        elif ip and not (pod.get("spec") or {}).get("hostNetwork") and owners.get(cni.as_int(str(ip))) != key:
            self._ip_owners = None

    def image_present(self, ref: images.ImageRef) -> bool:
        node = self.node_object() or {}
        return images.node_has((node.get("status") or {}).get("images"), ref) or images.node_has(self.pulled, ref)

    def request_pull(self, ref: images.ImageRef, t: float) -> tuple[float, float, images.PullOutcome]:
        """Queue a pull on this node (pulls are serialised): (start, end, outcome)."""
        outcome = images.pull(self.seed, ref)
        start = max(t, self.pull_free_at)
        end = start + self.work(outcome.duration)
        self.pull_free_at = end
        return start, end, outcome

    def record_image(self, ref: images.ImageRef, size: int) -> None:
        self.pulled = images.merge_node_images(self.pulled, images.node_image_entry(ref, size))

    def patch_pod_status(self, pod: dict[str, Any], patch: dict[str, Any]) -> str:
        """The status manager's write; returns the pod's new resourceVersion."""
        meta = pod["metadata"]
        written = self.ctx.patch(
            self.identity, "", "Pod", meta.get("namespace"), meta["name"], {"status": patch}, "status"
        )
        return str(written.shared["metadata"].get("resourceVersion", ""))

    def delete_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            self.ctx.delete(
                self.identity,
                "",
                "Pod",
                meta.get("namespace"),
                meta["name"],
                grace_period=0,
                preconditions={"uid": meta.get("uid", "")},
            )
        except StatusError as err:
            if err.code != 409:
                raise

    # ------------------------------------------------------------------ the informer side
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "Pod":
            key = object_key(obj)
            if (obj.get("spec") or {}).get("nodeName") == self.node:
                self._check_ip_reservations(key, etype, obj)
                if key not in self.workers and (_started(obj) or key in self._view_keys):
                    self._strays_possible = True
            if etype == "MODIFIED" and new is not None:
                worker = self.workers.get(key)
                if worker is not None and worker.written_rv == new["metadata"].get("resourceVersion"):
                    # This kubelet's own status write coming back, with nothing else in between: the
                    # sync that wrote it knew all of it. (Upstream's pod config source never sends
                    # a status-only change to the pod workers at all.) The worker takes the cached
                    # object, so the version it wrote over can be freed.
                    worker.pod = new
                    if worker.static is None:
                        worker.spec_pod = new
                    return
            mine = any(((o or {}).get("spec") or {}).get("nodeName") == self.node for o in (old, new))
            if mine or key in self.static or key in self.workers:
                self.queue.add(key)
        elif kind == "Node":
            if obj["metadata"]["name"] != self.node:
                return
            if etype == "DELETED":
                return
            if is_stopped(old) and not is_stopped(new):
                self._wake_all()
            elif old is None:
                self.queue.add(HEARTBEAT_KEY)
                self.queue.add(STATIC_KEY)
        elif kind in ("ConfigMap", "Secret", "PersistentVolumeClaim"):
            namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
            for key, worker in self.workers.items():
                if worker.mounted_at is None and worker.namespace == namespace:
                    if (kind, name) in volumes.references(worker.spec_pod):
                        worker.retry_mount_now(self.ctx.now())
                        self.queue.add(key)
        elif kind == "Lease" and etype == "DELETED" and obj["metadata"]["name"] == self.node:
            self.queue.add(HEARTBEAT_KEY)

    def _wake_all(self) -> None:
        self.queue.add(HEARTBEAT_KEY)
        self.queue.add(STATIC_KEY)
        for key in list(self.workers):
            self.queue.add(key)
        for pod in self.my_pods():
            self.queue.add(object_key(pod))

    def resync(self) -> None:
        self._wake_all()

    # ------------------------------------------------------------------ the loop
    def reconcile(self, key: str) -> float | None:
        node = self.node_object()
        if node is None or is_stopped(node):
            return None
        now = self.ctx.now()
        self._load_static(node)
        if key == HEARTBEAT_KEY:
            return self._heartbeat(node, now)
        if key == STATIC_KEY:
            for static_key in self.static:
                self.queue.add(static_key)
            return None
        if key in self.static:
            due = self._sync_static(key, node, now)
        else:
            due = self._sync_pod(key, now)
        if due is None:
            return None
        return max(due - now, EPS * 10)

    def _sync_pod(self, key: str, now: float) -> float | None:
        pod = self.ctx.lister("", "Pod").by_key(key)
        worker = self.workers.get(key)
        if pod is None or (pod.get("spec") or {}).get("nodeName") != self.node:
            if worker is not None:
                worker.forget()
                self.release(worker)
                del self.workers[key]
            return None
        uid = pod["metadata"].get("uid", "")
        if worker is not None and worker.uid != uid:
            worker.forget()
            self.release(worker)
            del self.workers[key]
            worker = None
        if worker is None:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return None
            worker = PodWorker(self, uid, key)
            worker.adopt(pod, now)
            self.workers[key] = worker
        return worker.sync(pod, now)

    # ------------------------------------------------------------------ static pods
    def _load_static(self, node: dict[str, Any]) -> None:
        if self.static_loaded:
            return
        self.static_loaded = True
        if not static_pods.is_control_plane(node):
            return
        cluster = self.ctx.cluster
        for pod in static_pods.static_pods(
            self.node, self.host_ip() or "", str(cluster.service_cidr), str(cluster.pod_cidr), self._etcd_members()
        ):
            self.static[pod.key] = pod

    def _etcd_members(self) -> list[tuple[str, str]]:
        """The etcd members when this node joined: the control-plane nodes before it, and itself."""
        members = []
        for node in self.ctx.lister("", "Node"):
            if not static_pods.is_control_plane(node):
                continue
            addresses = (node.get("status") or {}).get("addresses") or []
            ip = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), "")
            members.append((node["metadata"].get("creationTimestamp") or "", node["metadata"]["name"], str(ip)))
        members.sort()
        names = [m[1] for m in members]
        if self.node not in names:
            return []
        return [(name, ip) for _, name, ip in members[: names.index(self.node) + 1]]

    def _sync_static(self, key: str, node: dict[str, Any], now: float) -> float | None:
        static = self.static[key]
        mirror = self.ctx.lister("", "Pod").by_key(key)
        if mirror is not None:
            annotations = mirror["metadata"].get("annotations") or {}
            if mirror["metadata"].get("deletionTimestamp") or annotations.get(static_pods.CONFIG_MIRROR) != static.hash:
                # A stale or deleted mirror pod: remove it; its DELETED event brings a fresh one.
                self.delete_pod(mirror)
                mirror = None
        worker = self.workers.get(key)
        if worker is None or worker.static is None:
            if worker is not None:
                self.release(worker)
            worker = PodWorker(self, static.hash, key, static=static)
            if mirror is not None:
                worker.adopt(mirror, now)
            self.workers[key] = worker
        if mirror is None and not self._mirror_exists(key):
            body = static_pods.mirror_pod(static, node, self.micro(now).replace("Z", "000Z"))
            try:
                self.ctx.create(self.identity, "", "Pod", "kube-system", body)
            except StatusError as err:
                if err.code != 409:
                    raise
            self.trace(
                "static",
                "kubelet.static",
                {"node": self.node, "pod": key, "file": f"{static_pods.MANIFEST_DIR}/{static.file}"},
                [{"kind": "Pod", "namespace": "kube-system", "name": static.name}],
                "kubelet",
                "kube-apiserver",
            )
        return worker.sync(mirror, now)

    def _mirror_exists(self, key: str) -> bool:
        """Whether the API server holds a (non-deleting) mirror pod the cache may not show yet."""
        pod = self.ctx.lister("", "Pod").by_key(key)
        return pod is not None and not pod["metadata"].get("deletionTimestamp")

    # ------------------------------------------------------------------ heartbeats
    def _heartbeat(self, node: dict[str, Any], now: float) -> float:
        renew = self.micro(now)
        lease = self.ctx.lister("coordination.k8s.io", "Lease").get(heartbeat.LEASE_NAMESPACE, self.node)
        if lease is None:
            try:
                self.ctx.create(
                    self.identity,
                    "coordination.k8s.io",
                    "Lease",
                    heartbeat.LEASE_NAMESPACE,
                    heartbeat.lease_body(node, renew),
                )
            except StatusError as err:
                if err.code != 409:
                    raise
                lease = {}
        if lease is not None:
            self.ctx.patch(
                self.identity,
                "coordination.k8s.io",
                "Lease",
                heartbeat.LEASE_NAMESPACE,
                self.node,
                {"spec": heartbeat.lease_body(node, renew)["spec"]},
            )
        self.trace(
            "heartbeat",
            "kubelet.lease",
            {"node": self.node, "renewTime": renew},
            [{"kind": "Lease", "namespace": heartbeat.LEASE_NAMESPACE, "name": self.node}],
            "kubelet",
            "kube-apiserver",
        )
        self._report_node_status(node, now)
        return heartbeat.RENEW_INTERVAL

    def _report_node_status(self, node: dict[str, Any], now: float) -> None:
        status = node.get("status") or {}
        stamp = self.ts(now) or ""
        conditions, changed = heartbeat.desired_conditions(status.get("conditions") or [], stamp)
        current_images = list(status.get("images") or [])
        new_images = current_images
        for entry in self.pulled:
            if not any(set(entry["names"]) & set(e.get("names") or []) for e in new_images):
                new_images = images.merge_node_images(new_images, entry)
        last = self.parse_ts(heartbeat.last_heartbeat(node))
        due = last is None or now - last >= heartbeat.NODE_STATUS_REPORT_FREQUENCY - EPS
        if not (changed or due or new_images != current_images):
            return
        patch: dict[str, Any] = {"conditions": conditions}
        if new_images != current_images:
            patch["images"] = new_images
        self.ctx.patch(self.identity, "", "Node", None, self.node, {"status": clone(patch)}, "status")
        self.trace(
            "heartbeat",
            "kubelet.nodestatus",
            {"node": self.node, "heartbeat": stamp},
            [{"kind": "Node", "name": self.node}],
            "kubelet",
            "kube-apiserver",
        )


def _started(pod: dict[str, Any]) -> bool:
    """A kubelet started it (its status says so) and it has not finished."""
    st = pod.get("status") or {}
    return bool(st.get("startTime")) and st.get("phase") not in ("Succeeded", "Failed")
