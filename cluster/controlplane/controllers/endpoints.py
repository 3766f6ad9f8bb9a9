"""The endpoints controller: a core/v1 Endpoints object for every Service with a selector.

Upstream ``pkg/controller/endpoint``. Each selected pod with an IP becomes an address,
under ``addresses`` when Ready (or when the Service publishes not-ready addresses) and
under ``notReadyAddresses`` otherwise; ports come from each Service port's targetPort,
a number or the name of a container port. Subsets are repacked so addresses sharing
the same ports share one subset, as ``RepackSubsets`` does.

The pod helpers here are shared with the EndpointSlice controller.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "endpoint-controller"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
MAX_CAPACITY = 1000

NARRATION = {
    "kcm.endpoints.synced": gettext_noop(
        "The endpoints controller wrote Endpoints {namespace}/{name}: {ready} ready and {not_ready} not-ready addresses."
    ),
    "kcm.endpoints.deleted": gettext_noop(
        "Service {namespace}/{name} is gone: the endpoints controller deleted its Endpoints."
    ),
}


# --------------------------------------------------------------------------- pod helpers (shared)
def pod_condition(pod: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_pod_ready(pod: dict[str, Any]) -> bool:
    cond = pod_condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_ips(pod: dict[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return ips


def should_pod_be_in_endpoints(pod: dict[str, Any], include_terminating: bool) -> bool:
    """Terminal pods and pods without an IP never are; terminating ones only when asked (upstream util)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def should_set_hostname(pod: dict[str, Any], service: dict[str, Any]) -> bool:
    """A pod's hostname is published when its subdomain names this Service (StatefulSet pods, headless)."""
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == service["metadata"]["name"]
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")
    )


def selector_matches(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def find_port(pod: dict[str, Any], service_port: dict[str, Any]) -> int | None:
    """Resolve a Service port's targetPort on a pod: a number as is, a name via the container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol") or "TCP"
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str):
        spec = pod.get("spec") or {}
        containers = list(spec.get("containers") or [])
        # Sidecars (init containers that keep running) serve ports too.
        containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        for container in containers:
            for port in container.get("ports") or []:
                if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                    return int(port["containerPort"])
    return None


def service_ip_family(service: dict[str, Any]) -> str:
    families = (service.get("spec") or {}).get("ipFamilies") or ["IPv4"]
    return families[0]


def pod_ip_for_family(pod: dict[str, Any], family: str) -> str | None:
    want = 6 if family == "IPv6" else 4
    for ip in pod_ips(pod):
        try:
            if ipaddress.ip_address(ip).version == want:
                return ip
        except ValueError:
            continue
    return None


def is_headless(service: dict[str, Any]) -> bool:
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    return not cluster_ip or cluster_ip == "None"


def pods_for_service(ctx: Context, service: dict[str, Any]) -> list[dict[str, Any]]:
    selector = (service.get("spec") or {}).get("selector") or {}
    namespace = service["metadata"].get("namespace")
    return [p for p in ctx.lister("", "Pod").list(namespace) if selector_matches(selector, p["metadata"].get("labels"))]


def services_for_pod(ctx: Context, pod: dict[str, Any]) -> list[str]:
    """Keys of the Services in the pod's namespace whose selector picks the pod."""
    namespace = pod["metadata"].get("namespace")
    out = []
    for svc in ctx.lister("", "Service").list(namespace):
        selector = (svc.get("spec") or {}).get("selector")
        if selector is not None and selector_matches(selector, pod["metadata"].get("labels")):
            out.append(object_key(svc))
    return out


def services_for_pod_change(ctx: Context, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """The Services a pod's event may change, sorted: upstream's GetServicesToUpdateOnPodChange
    asks about the old pod only when its labels differ from the new one's."""
    keys = set(services_for_pod(ctx, new)) if new is not None else set()
    if old is not None and (
        new is None or (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {})
    ):
        keys.update(services_for_pod(ctx, old))
    return sorted(keys)


@dataclass
class _TriggerState:
    pods: dict[str, str] = field(default_factory=dict)
    service: str = ""


class TriggerTimeTracker:
    """When did the change that this sync publishes happen? (upstream endpointutil.TriggerTimeTracker)

    The earliest pod Ready transition or Service creation seen since the last sync;
    for a Service seen for the first time, its creation time.
    """

    def __init__(self) -> None:
        self.states: dict[str, _TriggerState] = {}

    def compute(self, key: str, service: dict[str, Any], pods: list[dict[str, Any]]) -> str | None:
        state = self.states.get(key)
        known = state is not None
        state = state or _TriggerState()
        changed: list[str] = []
        pod_times: dict[str, str] = {}
        for pod in pods:
            cond = pod_condition(pod, "Ready")
            moment = (cond or {}).get("lastTransitionTime")
            if moment:
                pod_times[pod["metadata"]["name"]] = moment
                if moment > state.pods.get(pod["metadata"]["name"], ""):
                    changed.append(moment)
        created = service["metadata"].get("creationTimestamp") or ""
        if created > state.service:
            changed.append(created)
        self.states[key] = _TriggerState(pod_times, created)
        if not known:
            return created or None
        return min(changed) if changed else None

    def forget(self, key: str) -> None:
        self.states.pop(key, None)


# --------------------------------------------------------------------------- subsets
def _address_key(addr: dict[str, Any]) -> tuple[str, str]:
    return addr["ip"], (addr.get("targetRef") or {}).get("uid", "")


def _port_key(port: dict[str, Any] | None) -> tuple[Any, ...]:
    if port is None:
        return ("", -1, "", "")
    return (port.get("name", ""), port["port"], port.get("protocol", ""), port.get("appProtocol", ""))


def repack_subsets(entries: list[tuple[dict[str, Any], bool, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """Group (address, ready, port) entries into subsets of addresses offering identical port sets."""
    addresses: dict[tuple[str, str], dict[str, Any]] = {}
    by_port: dict[tuple[Any, ...], dict[tuple[str, str], bool]] = {}
    ports: dict[tuple[Any, ...], dict[str, Any] | None] = {}
    for addr, ready, port in entries:
        akey = _address_key(addr)
        addresses.setdefault(akey, addr)
        pkey = _port_key(port)
        ports[pkey] = port
        members = by_port.setdefault(pkey, {})
        if ready:
            members[akey] = True
        else:
            members.setdefault(akey, False)
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[tuple[Any, ...]]] = {}
    for pkey, members in by_port.items():
        groups.setdefault(frozenset(members.items()), []).append(pkey)
    subsets: list[dict[str, Any]] = []
    for members, pkeys in groups.items():
        ready_addrs = sorted((addresses[a] for a, r in members if r), key=_address_key)
        not_ready = sorted((addresses[a] for a, r in members if not r), key=_address_key)
        subset: dict[str, Any] = {}
        if ready_addrs:
            subset["addresses"] = [clone(a) for a in ready_addrs]
        if not_ready:
            subset["notReadyAddresses"] = [clone(a) for a in not_ready]
        real_ports = [ports[p] for p in sorted(pkeys, key=lambda k: (k[0], k[1], k[2])) if ports[p] is not None]
        if real_ports:
            subset["ports"] = [clone(p) for p in real_ports]
        subsets.append(subset)

    def order(subset: dict[str, Any]) -> tuple[Any, ...]:
        first = (subset.get("addresses") or subset.get("notReadyAddresses") or [{"ip": ""}])[0]
        return (first["ip"], [(p.get("name", ""), p["port"]) for p in subset.get("ports") or []])

    return sorted(subsets, key=order)


def truncate(subsets: list[dict[str, Any]]) -> bool:
    """Keep at most 1000 addresses, ready ones first, proportionally per subset (truncateEndpoints)."""
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    pool = total_ready if truncate_ready else total_not_ready
    left = limit
    for subset in subsets:
        field_name = "addresses" if truncate_ready else "notReadyAddresses"
        count = len(subset.get(field_name) or [])
        take = min(-(-count * limit // pool), left)
        subset[field_name] = (subset.get(field_name) or [])[:take]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        left -= len(subset[field_name])
    return True


# --------------------------------------------------------------------------- controller
class EndpointsController(Controller):
    component = COMPONENT
    name = "endpoints"
    watches = (("", "Service"), ("", "Pod"), ("", "Endpoints"))

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.triggers = TriggerTimeTracker()

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if kind == "Service":
            obj = new or old
            if obj is not None:
                self.queue.add(object_key(obj))
        elif kind == "Endpoints":
            if etype == "DELETED" and old is not None:
                self.queue.add(object_key(old))
        else:
            for key in services_for_pod_change(self.ctx, old, new):
                self.queue.add(key)

    def resync(self) -> None:
        for svc in self.ctx.lister("", "Service"):
            self.queue.add(object_key(svc))

    def reconcile(self, key: str) -> float | None:
        namespace, _, name = key.partition("/")
        service = self.ctx.lister("", "Service").get(namespace, name)
        if service is None:
            self.triggers.forget(key)
            if self.ctx.lister("", "Endpoints").get(namespace, name) is not None:
                self.ctx.delete(COMPONENT, "", "Endpoints", namespace, name)
                self.ctx.trace(
                    COMPONENT,
                    "endpoints",
                    "kcm.endpoints.deleted",
                    {"namespace": namespace, "name": name},
                    [{"kind": "Endpoints", "namespace": namespace, "name": name}],
                )
            return None
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or spec.get("selector") is None:
            return None
        pods = pods_for_service(self.ctx, service)
        trigger = self.triggers.compute(key, service, pods)
        publish = bool(spec.get("publishNotReadyAddresses"))
        family = service_ip_family(service)
        entries: list[tuple[dict[str, Any], bool, dict[str, Any] | None]] = []
        for pod in pods:
            if not should_pod_be_in_endpoints(pod, publish):
                continue
            ip = pod_ip_for_family(pod, family)
            if ip is None:
                continue
            meta = pod["metadata"]
            addr: dict[str, Any] = {"ip": ip}
            if should_set_hostname(pod, service):
                addr["hostname"] = pod["spec"]["hostname"]
            addr["nodeName"] = (pod.get("spec") or {}).get("nodeName", "")
            addr["targetRef"] = {
                "kind": "Pod",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            }
            ready = publish or is_pod_ready(pod)
            if not spec.get("ports"):
                if spec.get("clusterIP") == "None":
                    entries.append((addr, ready, None))
                continue
            for sp in spec["ports"]:
                number = find_port(pod, sp)
                if number is None:
                    continue
                port: dict[str, Any] = {}
                if sp.get("name"):
                    port["name"] = sp["name"]
                port["port"] = number
                port["protocol"] = sp.get("protocol") or "TCP"
                if sp.get("appProtocol"):
                    port["appProtocol"] = sp["appProtocol"]
                entries.append((addr, ready, port))
        subsets = repack_subsets(entries)
        self._write(service, subsets, trigger)
        return None

    def _write(self, service: dict[str, Any], subsets: list[dict[str, Any]], trigger: str | None) -> None:
        meta = service["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        current = self.ctx.lister("", "Endpoints").get(namespace, name)
        labels = dict(meta.get("labels") or {})
        if current is not None:
            compare = dict(current["metadata"].get("labels") or {})
            compare.pop(HEADLESS_LABEL, None)
            annotations = current["metadata"].get("annotations") or {}
            count = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)
            capacity_ok = count <= MAX_CAPACITY and OVER_CAPACITY_ANNOTATION not in annotations
            if (current.get("subsets") or []) == subsets and compare == labels and capacity_ok:
                return
        body = clone(current) if current is not None else {"apiVersion": "v1", "kind": "Endpoints"}
        body_meta = body.setdefault("metadata", {})
        body_meta.update(name=name, namespace=namespace)
        annotations = dict(body_meta.get("annotations") or {})
        if trigger:
            annotations[TRIGGER_TIME_ANNOTATION] = trigger
        else:
            annotations.pop(TRIGGER_TIME_ANNOTATION, None)
        subsets = clone(subsets)
        if truncate(subsets):
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        if is_headless(service):
            labels[HEADLESS_LABEL] = ""
        body_meta["labels"] = labels or None
        body_meta["annotations"] = annotations or None
        body["subsets"] = subsets or None
        for k in ("labels", "annotations"):
            if body_meta[k] is None:
                body_meta.pop(k)
        if body["subsets"] is None:
            body.pop("subsets")
        try:
            if current is None:
                self.ctx.create(COMPONENT, "", "Endpoints", namespace, body)
            else:
                self.ctx.update(COMPONENT, body)
        except StatusError as err:
            if current is None and err.code == 403:
                return  # the namespace is terminating: creates keep failing, drop the item
            reason = "FailedToCreateEndpoint" if current is None else "FailedToUpdateEndpoint"
            what = "Failed to create endpoint for service" if current is None else "Failed to update endpoint"
            if err.code != 409:
                self.ctx.event(EVENT_SOURCE, body, "Warning", reason, f"{what} {namespace}/{name}: {err.message}")
            raise
        ready = sum(len(s.get("addresses") or []) for s in subsets)
        not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
        self.ctx.trace(
            COMPONENT,
            "endpoints",
            "kcm.endpoints.synced",
            {"namespace": namespace, "name": name, "ready": ready, "not_ready": not_ready},
            [
                {"kind": "Service", "namespace": namespace, "name": name},
                {"kind": "Endpoints", "namespace": namespace, "name": name},
            ],
        )


CONTROLLERS = [EndpointsController]
