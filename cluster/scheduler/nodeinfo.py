"""Per-pod and per-node scheduling state, mirroring ``framework/types.go``.

``PodInfo`` parses a pod dict once (requests, ports, images, affinity terms) so that no
plugin re-reads the JSON in the hot loop.  ``NodeInfo`` keeps summed requests, used host
ports, image states and the pod list, updated incrementally as pods are added or removed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .labels import NOTHING, Selector, label_selector_as_selector
from .quantity import nanos_to_milli, nanos_to_value, parse_quantity
from .taints import Taint, Toleration, parse_taints, parse_tolerations

DEFAULT_MILLI_CPU_REQUEST = 100
"""``schedutil.DefaultMilliCPURequest``: assumed for a container without a CPU request when scoring."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""``schedutil.DefaultMemoryRequest`` (200Mi): assumed for a container without a memory request when scoring."""

_NON_MISSING_NANOS = {"cpu": DEFAULT_MILLI_CPU_REQUEST * 10**6, "memory": DEFAULT_MEMORY_REQUEST * 10**9}

_generation = itertools.count(1)

_QUALIFIED = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def next_generation() -> int:
    """A process-wide increasing generation number, like ``nextGeneration()``."""
    return next(_generation)


def is_native_resource(name: str) -> bool:
    """Unprefixed names and ``*kubernetes.io/`` names are native."""
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource_name(name: str) -> bool:
    """``v1helper.IsExtendedResourceName``: a qualified, non-native name such as ``nvidia.com/gpu``."""
    if is_native_resource(name) or name.startswith("requests."):
        return False
    quota_name = "requests." + name
    prefix, _, short = quota_name.rpartition("/")
    return bool(prefix) and len(prefix) <= 253 and bool(_QUALIFIED.match(quota_name)) and len(short) <= 63


def is_scalar_resource_name(name: str) -> bool:
    """``schedutil.IsScalarResourceName``: extended, hugepages-*, *kubernetes.io/*, attachable-volumes-*."""
    return (
        is_extended_resource_name(name)
        or name.startswith("hugepages-")
        or "kubernetes.io/" in name
        or name.startswith("attachable-volumes-")
    )


class Resource:
    """Integer resources: milli-CPU, bytes, pod count and scalar (extended) resources."""

    __slots__ = ("allowed_pod_number", "ephemeral_storage", "memory", "milli_cpu", "scalar")

    def __init__(
        self,
        milli_cpu: int = 0,
        memory: int = 0,
        ephemeral_storage: int = 0,
        allowed_pod_number: int = 0,
        scalar: dict[str, int] | None = None,
    ) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.allowed_pod_number = allowed_pod_number
        self.scalar: dict[str, int] = scalar if scalar is not None else {}

    @classmethod
    def from_nanos(cls, nanos: Mapping[str, int]) -> Resource:
        """``Resource.Add`` of a resource list (each entry rounded up on its own)."""
        r = cls()
        for name, q in nanos.items():
            if name == "cpu":
                r.milli_cpu += nanos_to_milli(q)
            elif name == "memory":
                r.memory += nanos_to_value(q)
            elif name == "pods":
                r.allowed_pod_number += nanos_to_value(q)
            elif name == "ephemeral-storage":
                r.ephemeral_storage += nanos_to_value(q)
            elif is_scalar_resource_name(name):
                r.scalar[name] = r.scalar.get(name, 0) + nanos_to_value(q)
        return r

    @classmethod
    def from_resource_list(cls, raw: Mapping[str, Any] | None) -> Resource:
        """``NewResource(node.status.allocatable)``."""
        return cls.from_nanos({k: parse_quantity(v) for k, v in (raw or {}).items()})

    def clone(self) -> Resource:
        """A deep copy."""
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number, dict(self.scalar))

    def is_zero_request(self) -> bool:
        """True when nothing is requested (the NodeResourcesFit early exit)."""
        return not self.milli_cpu and not self.memory and not self.ephemeral_storage and not self.scalar

    def __repr__(self) -> str:
        return (
            f"Resource(milli_cpu={self.milli_cpu}, memory={self.memory}, "
            f"ephemeral_storage={self.ephemeral_storage}, pods={self.allowed_pod_number}, scalar={self.scalar})"
        )


def _add_list(target: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        target[k] = target.get(k, 0) + v


def _max_list(target: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if k not in target or v > target[k]:
            target[k] = v


def _container_requests(container: Mapping[str, Any], non_missing: Mapping[str, int] | None) -> dict[str, int]:
    raw = (container.get("resources") or {}).get("requests") or {}
    reqs = {k: parse_quantity(v) for k, v in raw.items()}
    if non_missing:
        for k, v in non_missing.items():
            if k not in reqs:
                reqs[k] = v
    return reqs


def pod_requests(pod: Mapping[str, Any], non_missing: Mapping[str, int] | None = None) -> dict[str, int]:
    """``resourcehelper.PodRequests`` in nano-units: containers summed, init containers as a max
    (restartable "sidecar" init containers also added to the sum), plus ``spec.overhead``.

    ``non_missing`` fills absent per-container requests (the scoring defaults).
    """
    spec = pod.get("spec") or {}
    reqs: dict[str, int] = {}
    for c in spec.get("containers") or ():
        _add_list(reqs, _container_requests(c, non_missing))
    restartable: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for c in spec.get("initContainers") or ():
        creqs = _container_requests(c, non_missing)
        if c.get("restartPolicy") == "Always":
            _add_list(reqs, creqs)
            _add_list(restartable, creqs)
            effective = dict(restartable)
        else:
            effective = dict(creqs)
            _add_list(effective, restartable)
        _max_list(init_max, effective)
    _max_list(reqs, init_max)
    overhead = spec.get("overhead")
    if overhead:
        _add_list(reqs, {k: parse_quantity(v) for k, v in overhead.items()})
    return reqs


def normalized_image_name(name: str) -> str:
    """ImageLocality's ``normalizedImageName``: append ``:latest`` when there is no tag."""
    if name.rfind(":") <= name.rfind("/"):
        name = name + ":latest"
    return name


def parse_time(value: str | None) -> float | None:
    """RFC 3339 timestamp to epoch seconds, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class AffinityTerm:
    """``framework.AffinityTerm``: namespaces, label selector, topology key, namespace selector."""

    __slots__ = ("namespace_selector", "namespaces", "selector", "topology_key")

    def __init__(
        self, namespaces: frozenset[str], selector: Selector, topology_key: str, namespace_selector: Selector
    ) -> None:
        self.namespaces = namespaces
        self.selector = selector
        self.topology_key = topology_key
        self.namespace_selector = namespace_selector

    def matches(self, pod: PodInfo, ns_labels: Mapping[str, str] | None) -> bool:
        """Pod is in one of the namespaces (or a selected namespace) and its labels match."""
        if pod.namespace in self.namespaces or self.namespace_selector.matches(ns_labels or {}):
            return self.selector.matches(pod.labels)
        return False

    def with_namespaces(self, extra: Iterable[str]) -> AffinityTerm:
        """Namespaces merged in from a namespace selector, which is then cleared (to nothing)."""
        return AffinityTerm(self.namespaces | frozenset(extra), self.selector, self.topology_key, NOTHING)


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    """A preferred (anti-)affinity term with its weight."""

    term: AffinityTerm
    weight: int


def _new_affinity_term(namespace: str, raw: Mapping[str, Any]) -> AffinityTerm:
    selector = label_selector_as_selector(raw.get("labelSelector"))
    namespaces_raw = raw.get("namespaces") or []
    ns_selector_raw = raw.get("namespaceSelector")
    if not namespaces_raw and ns_selector_raw is None:
        namespaces = frozenset((namespace,))
    else:
        namespaces = frozenset(namespaces_raw)
    return AffinityTerm(namespaces, selector, raw.get("topologyKey", ""), label_selector_as_selector(ns_selector_raw))


def _affinity_terms(namespace: str, raw: Iterable[Mapping[str, Any]] | None) -> tuple[AffinityTerm, ...]:
    return tuple(_new_affinity_term(namespace, t) for t in raw or ())


def _weighted_terms(namespace: str, raw: Iterable[Mapping[str, Any]] | None) -> tuple[WeightedAffinityTerm, ...]:
    return tuple(
        WeightedAffinityTerm(_new_affinity_term(namespace, t.get("podAffinityTerm") or {}), int(t.get("weight", 0)))
        for t in raw or ()
    )


class PodInfo:
    """A pod parsed once for scheduling (``framework.PodInfo`` plus precomputed requests)."""

    __slots__ = (
        "_non0_nanos",
        "affinity",
        "deleting",
        "has_affinity",
        "has_required_anti_affinity",
        "host_ports",
        "images",
        "key",
        "labels",
        "memo",
        "name",
        "namespace",
        "node_name",
        "nominated_node_name",
        "non0_cpu",
        "non0_mem",
        "num_containers",
        "parse_error",
        "pod",
        "preemption_policy",
        "preferred_affinity_terms",
        "preferred_anti_affinity_terms",
        "priority",
        "pvc_keys",
        "req_nanos",
        "requests",
        "required_affinity_terms",
        "required_anti_affinity_terms",
        "scheduler_name",
        "start_time",
        "tolerations",
        "uid",
        "wanted_ports",
    )

    def __init__(self, pod: Mapping[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.pod = pod
        self.memo: dict[str, Any] = {}
        """Per-pod memo for plugins (compiled selectors etc.), so each pod is parsed once."""
        self.namespace: str = meta.get("namespace", "") or ""
        self.name: str = meta.get("name", "") or ""
        self.uid: str = meta.get("uid", "") or ""
        self.key: str = self.uid or f"{self.namespace}/{self.name}"
        self.labels: dict[str, str] = dict(meta.get("labels") or {})
        self.deleting: bool = bool(meta.get("deletionTimestamp"))
        self.node_name: str = spec.get("nodeName", "") or ""
        self.nominated_node_name: str = status.get("nominatedNodeName", "") or ""
        self.priority: int = int(spec.get("priority", 0) or 0)
        self.preemption_policy: str = spec.get("preemptionPolicy", "") or ""
        self.scheduler_name: str = spec.get("schedulerName", "") or "default-scheduler"
        self.start_time: float | None = parse_time(status.get("startTime"))
        self.tolerations: tuple[Toleration, ...] = parse_tolerations(spec.get("tolerations"))
        self.affinity: Mapping[str, Any] = spec.get("affinity") or {}

        self.req_nanos = pod_requests(pod)
        self._non0_nanos: dict[str, int] | None = None
        self.requests = Resource.from_nanos(self.req_nanos)
        non0 = self.non0_nanos
        self.non0_cpu = nanos_to_milli(non0.get("cpu", 0))
        self.non0_mem = nanos_to_value(non0.get("memory", 0))

        ports: list[tuple[str, str, int]] = []
        for c in spec.get("containers") or ():
            for p in c.get("ports") or ():
                ports.append((p.get("hostIP", "") or "", p.get("protocol", "") or "", int(p.get("hostPort", 0) or 0)))
        self.host_ports: tuple[tuple[str, str, int], ...] = tuple(ports)
        self.wanted_ports: tuple[tuple[str, str, int], ...] = tuple(p for p in ports if p[2] > 0)

        init = spec.get("initContainers") or ()
        containers = spec.get("containers") or ()
        self.images: tuple[str, ...] = tuple(
            normalized_image_name(c.get("image", "") or "") for c in (*init, *containers)
        )
        self.num_containers = len(init) + len(containers)

        self.pvc_keys: tuple[str, ...] = tuple(
            f"{self.namespace}/{v['persistentVolumeClaim'].get('claimName', '')}"
            for v in spec.get("volumes") or ()
            if v.get("persistentVolumeClaim")
        )

        pod_aff = self.affinity.get("podAffinity")
        anti = self.affinity.get("podAntiAffinity")
        self.has_affinity = pod_aff is not None or anti is not None
        self.has_required_anti_affinity = anti is not None and bool(
            anti.get("requiredDuringSchedulingIgnoredDuringExecution")
        )
        self.parse_error: str | None = None
        self.required_affinity_terms: tuple[AffinityTerm, ...] = ()
        self.required_anti_affinity_terms: tuple[AffinityTerm, ...] = ()
        self.preferred_affinity_terms: tuple[WeightedAffinityTerm, ...] = ()
        self.preferred_anti_affinity_terms: tuple[WeightedAffinityTerm, ...] = ()
        if self.has_affinity:
            errors: list[str] = []
            pa = pod_aff or {}
            aa = anti or {}
            for attr, kind, raw in (
                (
                    "required_affinity_terms",
                    "requiredAffinityTerms",
                    pa.get("requiredDuringSchedulingIgnoredDuringExecution"),
                ),
                (
                    "required_anti_affinity_terms",
                    "requiredAntiAffinityTerms",
                    aa.get("requiredDuringSchedulingIgnoredDuringExecution"),
                ),
            ):
                try:
                    setattr(self, attr, _affinity_terms(self.namespace, raw))
                except ValueError as exc:
                    errors.append(f"{kind}: {exc}")
            for attr, kind, raw in (
                (
                    "preferred_affinity_terms",
                    "preferredAffinityTerms",
                    pa.get("preferredDuringSchedulingIgnoredDuringExecution"),
                ),
                (
                    "preferred_anti_affinity_terms",
                    "preferredAntiAffinityTerms",
                    aa.get("preferredDuringSchedulingIgnoredDuringExecution"),
                ),
            ):
                try:
                    setattr(self, attr, _weighted_terms(self.namespace, raw))
                except ValueError as exc:
                    errors.append(f"{kind}: {exc}")
            if errors:
                self.parse_error = "[" + ", ".join(errors) + "]" if len(errors) > 1 else errors[0]

    @property
    def non0_nanos(self) -> dict[str, int]:
        """Requests with the 100m / 200Mi defaults filled in per container (scoring view)."""
        if self._non0_nanos is None:
            self._non0_nanos = pod_requests(self.pod, _NON_MISSING_NANOS)
        return self._non0_nanos

    def request_value(self, resource: str, non_zero: bool) -> int:
        """One resource of ``PodRequests`` converted as the allocation scorers do."""
        nanos = (self.non0_nanos if non_zero else self.req_nanos).get(resource, 0)
        return nanos_to_milli(nanos) if resource == "cpu" else nanos_to_value(nanos)

    def __repr__(self) -> str:
        return f"PodInfo({self.namespace}/{self.name})"


class ImageStateSummary:
    """Size of an image and the set of nodes that have it (shared across NodeInfos)."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.nodes: set[str] = set()

    @property
    def num_nodes(self) -> int:
        """Number of nodes that have the image."""
        return len(self.nodes)


DEFAULT_BIND_ALL_HOST_IP = "0.0.0.0"


class HostPortInfo(dict[str, set[tuple[str, int]]]):
    """Used host ports by IP, as ``framework.HostPortInfo``."""

    @staticmethod
    def _sanitize(ip: str, protocol: str) -> tuple[str, str]:
        return ip or DEFAULT_BIND_ALL_HOST_IP, protocol or "TCP"

    def add(self, ip: str, protocol: str, port: int) -> None:
        """Record a port (ports <= 0 are ignored)."""
        if port <= 0:
            return
        ip, protocol = self._sanitize(ip, protocol)
        self.setdefault(ip, set()).add((protocol, port))

    def remove(self, ip: str, protocol: str, port: int) -> None:
        """Forget a port."""
        if port <= 0:
            return
        ip, protocol = self._sanitize(ip, protocol)
        m = self.get(ip)
        if m is not None:
            m.discard((protocol, port))
            if not m:
                del self[ip]

    def check_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """0.0.0.0 conflicts with any IP on the same protocol/port, and vice versa."""
        if port <= 0:
            return False
        ip, protocol = self._sanitize(ip, protocol)
        pp = (protocol, port)
        if ip == DEFAULT_BIND_ALL_HOST_IP:
            return any(pp in m for m in self.values())
        for key in (DEFAULT_BIND_ALL_HOST_IP, ip):
            m = self.get(key)
            if m is not None and pp in m:
                return True
        return False

    def copy(self) -> HostPortInfo:  # type: ignore[override]
        """A deep copy."""
        out = HostPortInfo()
        for k, v in self.items():
            out[k] = set(v)
        return out


def zone_key(labels: Mapping[str, str]) -> str:
    """``utilnode.GetZoneKey``: region and zone (falling back to the beta labels)."""
    zone = labels.get("topology.kubernetes.io/zone")
    if zone is None:
        zone = labels.get("failure-domain.beta.kubernetes.io/zone", "")
    region = labels.get("topology.kubernetes.io/region")
    if region is None:
        region = labels.get("failure-domain.beta.kubernetes.io/region", "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


class NodeInfo:
    """A node plus the aggregate of the pods on it, updated incrementally."""

    __slots__ = (
        "allocatable",
        "free",
        "generation",
        "image_states",
        "labels",
        "name",
        "no_schedule_taints",
        "node",
        "non0_cpu",
        "non0_mem",
        "pods",
        "pods_with_affinity",
        "pods_with_required_anti_affinity",
        "prefer_no_schedule_taints",
        "pvc_ref_counts",
        "removed_at",
        "requested",
        "score_memo",
        "taints",
        "unschedulable",
        "used_ports",
    )

    def __init__(self, node: Mapping[str, Any] | None = None) -> None:
        self.node: Mapping[str, Any] = {}
        self.name = ""
        self.labels: dict[str, str] = {}
        self.taints: tuple[Taint, ...] = ()
        self.no_schedule_taints: tuple[Taint, ...] = ()
        self.prefer_no_schedule_taints: tuple[Taint, ...] = ()
        self.unschedulable = False
        self.allocatable = Resource()
        self.requested = Resource()
        self.non0_cpu = 0
        self.non0_mem = 0
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.used_ports = HostPortInfo()
        self.image_states: dict[str, ImageStateSummary] = {}
        self.pvc_ref_counts: dict[str, int] = {}
        self.generation = next_generation()
        self.removed_at = self.generation
        """The generation of the last pod removal: counts kept since then only miss appended pods."""
        self.score_memo: dict[Any, int] = {}
        """Scores plugins computed for this node's current state, keyed by plugin and pod
        requests; cleared whenever the node or its pods change."""
        self.free: tuple[int, int, int, int] = (0, 0, 0, 0)
        """Allocatable minus requested cpu, memory, ephemeral storage, and pod slots left:
        NodeResourcesFit's Filter reads it for every node of every cycle."""
        if node is not None:
            self.set_node(node)
        else:
            self._refresh_free()

    def _refresh_free(self) -> None:
        a, u = self.allocatable, self.requested
        self.free = (
            a.milli_cpu - u.milli_cpu,
            a.memory - u.memory,
            a.ephemeral_storage - u.ephemeral_storage,
            a.allowed_pod_number - len(self.pods),
        )

    def set_node(self, node: Mapping[str, Any]) -> None:
        """Adopt a (new version of the) node object; pods stay."""
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.node = node
        self.name = meta.get("name", "") or ""
        self.labels = dict(meta.get("labels") or {})
        self.taints = parse_taints(spec.get("taints"))
        self.no_schedule_taints = tuple(t for t in self.taints if t.effect in ("NoSchedule", "NoExecute"))
        self.prefer_no_schedule_taints = tuple(t for t in self.taints if t.effect == "PreferNoSchedule")
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = Resource.from_resource_list(status.get("allocatable"))
        self.generation = next_generation()
        self.score_memo = {}
        self._refresh_free()

    def add_pod(self, pi: PodInfo) -> None:
        """``AddPodInfo``: append and add the pod's requests, ports and PVC references."""
        self.pods.append(pi)
        if pi.has_affinity:
            self.pods_with_affinity.append(pi)
        if pi.has_required_anti_affinity:
            self.pods_with_required_anti_affinity.append(pi)
        self._update(pi, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        """``RemovePod`` by pod key (swap-with-last removal, like upstream)."""
        found = None
        for lst in (self.pods_with_affinity, self.pods_with_required_anti_affinity, self.pods):
            for i, p in enumerate(lst):
                if p.key == key:
                    lst[i] = lst[-1]
                    lst.pop()
                    if lst is self.pods:
                        found = p
                    break
        if found is not None:
            self._update(found, -1)
            self.removed_at = self.generation
        return found

    def _update(self, pi: PodInfo, sign: int) -> None:
        req = pi.requests
        r = self.requested
        r.milli_cpu += sign * req.milli_cpu
        r.memory += sign * req.memory
        r.ephemeral_storage += sign * req.ephemeral_storage
        for name, q in req.scalar.items():
            r.scalar[name] = r.scalar.get(name, 0) + sign * q
        self.non0_cpu += sign * pi.non0_cpu
        self.non0_mem += sign * pi.non0_mem
        for ip, proto, port in pi.host_ports:
            if sign > 0:
                self.used_ports.add(ip, proto, port)
            else:
                self.used_ports.remove(ip, proto, port)
        for key in pi.pvc_keys:
            if sign > 0:
                self.pvc_ref_counts[key] = self.pvc_ref_counts.get(key, 0) + 1
            else:
                n = self.pvc_ref_counts.get(key, 0) - 1
                if n <= 0:
                    self.pvc_ref_counts.pop(key, None)
                else:
                    self.pvc_ref_counts[key] = n
        self.generation = next_generation()
        self.score_memo = {}
        self._refresh_free()

    def snapshot(self) -> NodeInfo:
        """An independent copy for what-if evaluation (nominated pods, preemption)."""
        c = NodeInfo.__new__(NodeInfo)
        c.node = self.node
        c.name = self.name
        c.labels = self.labels
        c.taints = self.taints
        c.no_schedule_taints = self.no_schedule_taints
        c.prefer_no_schedule_taints = self.prefer_no_schedule_taints
        c.unschedulable = self.unschedulable
        c.allocatable = self.allocatable
        c.requested = self.requested.clone()
        c.non0_cpu = self.non0_cpu
        c.non0_mem = self.non0_mem
        c.pods = list(self.pods)
        c.pods_with_affinity = list(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        c.used_ports = self.used_ports.copy()
        c.image_states = self.image_states
        c.pvc_ref_counts = dict(self.pvc_ref_counts)
        c.generation = self.generation
        c.removed_at = self.removed_at
        c.score_memo = {}
        c.free = self.free
        return c

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)}, requested={self.requested!r})"
