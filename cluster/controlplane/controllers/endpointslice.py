"""The EndpointSlice controller: discovery.k8s.io/v1 EndpointSlices for every Service with a selector.

Upstream ``pkg/controller/endpointslice`` and its reconciler (``k8s.io/endpointslice``).
Endpoints are grouped by the ports they resolve to; each group fills slices of at most
``MAX_ENDPOINTS_PER_SLICE``, reusing existing slices before creating new ones. Unlike
Endpoints, slices keep terminating pods, flagged with ``terminating``/``serving``.
A Service with no endpoints keeps one empty placeholder slice. Slices are owned by
their Service, so the garbage collector removes them with it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from cluster.api.apiserver import GENERATE_NAME_ALPHABET
from cluster.api.errors import StatusError
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.controllers.endpoints import (
    HEADLESS_LABEL,
    TRIGGER_TIME_ANNOTATION,
    TriggerTimeTracker,
    find_port,
    is_headless,
    is_pod_ready,
    pod_ip_for_family,
    pods_for_service,
    services_for_pod,
    services_for_pod_change,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from cluster.controlplane.informer import object_key
from cluster.jsonutil import clone

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "endpoint-slice-controller"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_ZONE = "topology.kubernetes.io/zone"
RESERVED_LABELS = (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, HEADLESS_LABEL)
MAX_ENDPOINTS_PER_SLICE = 100  # --max-endpoints-per-slice

NARRATION = {
    "kcm.endpointslice.created": gettext_noop(
        "The EndpointSlice controller created EndpointSlice {namespace}/{slice} for Service {service} "
        "with {count} endpoints."
    ),
    "kcm.endpointslice.updated": gettext_noop(
        "The EndpointSlice controller updated EndpointSlice {namespace}/{slice}: now {count} endpoints."
    ),
    "kcm.endpointslice.deleted": gettext_noop(
        "The EndpointSlice controller deleted EndpointSlice {namespace}/{slice}, no longer needed."
    ),
}


def _address_type(family: str) -> str:
    return "IPv6" if family == "IPv6" else "IPv4"


def endpoint_ports(service: dict[str, Any], pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The slice ports a pod offers for the Service; a port whose targetPort does not resolve is left out."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is None:
            continue
        port: dict[str, Any] = {"name": sp.get("name") or "", "port": number, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def port_map_key(ports: list[dict[str, Any]]) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        sorted((p.get("name") or "", p.get("port"), p.get("protocol") or "", p.get("appProtocol") or "") for p in ports)
    )


def endpoint_hash(endpoint: dict[str, Any]) -> tuple[Any, ...]:
    """An endpoint's identity: its addresses, hostname and pod (upstream hashEndpoint)."""
    ref = endpoint.get("targetRef") or {}
    return (
        tuple(sorted(endpoint.get("addresses") or [])),
        endpoint.get("hostname") or "",
        ref.get("namespace", ""),
        ref.get("name", ""),
    )


def pod_to_endpoint(
    pod: dict[str, Any], node: dict[str, Any] | None, service: dict[str, Any], family: str
) -> dict[str, Any]:
    serving = is_pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    # For compatibility "ready" is never true while terminating, unless not-ready addresses are published.
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    ip = pod_ip_for_family(pod, family)
    meta = pod["metadata"]
    endpoint: dict[str, Any] = {
        "addresses": [ip] if ip else [],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    endpoint["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(LABEL_ZONE)
    if zone:
        endpoint["zone"] = zone
    return endpoint


def slice_labels(slice_: dict[str, Any] | None, service: dict[str, Any]) -> tuple[dict[str, str], bool]:
    """The labels a slice should carry (the Service's, plus the reserved ones) and whether they changed."""
    current = {
        k: v for k, v in ((slice_ or {}).get("metadata", {}).get("labels") or {}).items() if k not in RESERVED_LABELS
    }
    wanted = {k: v for k, v in (service["metadata"].get("labels") or {}).items() if k not in RESERVED_LABELS}
    changed = current != wanted
    if is_headless(service):
        wanted[HEADLESS_LABEL] = ""
    wanted[LABEL_SERVICE_NAME] = service["metadata"]["name"]
    wanted[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return wanted, changed


def owned_by(slice_: dict[str, Any], service: dict[str, Any]) -> bool:
    uid = service["metadata"].get("uid")
    return any(
        ref.get("kind") == "Service" and ref.get("uid") == uid
        for ref in slice_["metadata"].get("ownerReferences") or []
    )


class EndpointSliceController(Controller):
    component = COMPONENT
    name = "endpointslice"
    watches = (("", "Service"), ("", "Pod"), ("discovery.k8s.io", "EndpointSlice"), ("", "Node"))

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.triggers = TriggerTimeTracker()
        self.max_endpoints = MAX_ENDPOINTS_PER_SLICE

    # ------------------------------------------------------------- events
    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "Service":
            self.queue.add(object_key(obj))
        elif kind == "EndpointSlice":
            labels = obj["metadata"].get("labels") or {}
            if labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME and labels.get(LABEL_SERVICE_NAME):
                self.queue.add(f"{obj['metadata']['namespace']}/{labels[LABEL_SERVICE_NAME]}")
        elif kind == "Pod":
            for key in services_for_pod_change(self.ctx, old, new):
                self.queue.add(key)
        elif kind == "Node" and old is not None and new is not None:
            # Only a zone change moves endpoints (the topology label on their slices).
            old_zone = (old["metadata"].get("labels") or {}).get(LABEL_ZONE)
            if old_zone != (new["metadata"].get("labels") or {}).get(LABEL_ZONE):
                name = new["metadata"]["name"]
                for pod in self.ctx.lister("", "Pod"):
                    if (pod.get("spec") or {}).get("nodeName") == name:
                        for key in services_for_pod(self.ctx, pod):
                            self.queue.add(key)

    def resync(self) -> None:
        for svc in self.ctx.lister("", "Service"):
            self.queue.add(object_key(svc))

    # ------------------------------------------------------------- sync
    def reconcile(self, key: str) -> float | None:
        namespace, _, name = key.partition("/")
        service = self.ctx.lister("", "Service").get(namespace, name)
        if service is None:
            # The slices are owned by the Service: the garbage collector removes them.
            self.triggers.forget(key)
            return None
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or spec.get("selector") is None:
            return None
        pods = pods_for_service(self.ctx, service)
        trigger = self.triggers.compute(key, service, pods)
        existing = [
            s
            for s in self.ctx.lister("discovery.k8s.io", "EndpointSlice").list(namespace)
            if (s["metadata"].get("labels") or {}).get(LABEL_SERVICE_NAME) == name
            and (s["metadata"].get("labels") or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME
        ]
        families = spec.get("ipFamilies") or ["IPv4"]
        wanted_types = {_address_type(f): f for f in families}
        to_delete = [s for s in existing if s.get("addressType") not in wanted_types]
        missing_node = False
        for address_type, family in wanted_types.items():
            of_type = [s for s in existing if s.get("addressType") == address_type]
            missing_node |= self._reconcile_address_type(service, pods, of_type, address_type, family, trigger)
        for slice_ in to_delete:
            self._delete(slice_)
        # A pod on a node not in the cache yet is left out; look again soon.
        return 1.0 if missing_node else None

    def _reconcile_address_type(
        self,
        service: dict[str, Any],
        pods: list[dict[str, Any]],
        existing: list[dict[str, Any]],
        address_type: str,
        family: str,
        trigger: str | None,
    ) -> bool:
        to_create: list[dict[str, Any]] = []
        to_update: list[dict[str, Any]] = []
        to_delete: list[dict[str, Any]] = []
        existing_by_ports: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for slice_ in existing:
            if owned_by(slice_, service):
                existing_by_ports.setdefault(port_map_key(slice_.get("ports") or []), []).append(slice_)
            else:
                to_delete.append(slice_)

        desired: dict[tuple[Any, ...], dict[tuple[Any, ...], dict[str, Any]]] = {}
        desired_ports: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        missing_node = False
        for pod in pods:
            if not should_pod_be_in_endpoints(pod, True):
                continue
            ports = endpoint_ports(service, pod)
            pkey = port_map_key(ports)
            desired.setdefault(pkey, {})
            desired_ports.setdefault(pkey, ports)
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            node = self.ctx.lister("", "Node").get(None, node_name) if node_name else None
            if node is None and not publish:
                missing_node = True
                continue
            endpoint = pod_to_endpoint(pod, node, service, family)
            if endpoint["addresses"]:
                desired[pkey][endpoint_hash(endpoint)] = endpoint

        for pkey, wanted in desired.items():
            c, u, d = self._reconcile_by_ports(
                service, existing_by_ports.get(pkey, []), wanted, desired_ports[pkey], address_type
            )
            to_create += c
            to_update += u
            to_delete += d
        for pkey, slices in existing_by_ports.items():
            if pkey not in desired:
                to_delete += slices

        # A Service with no endpoints at all keeps one empty placeholder slice.
        if len(existing) == len(to_delete) and not to_create:
            placeholder = self._new_slice(service, [], address_type)
            keep = next((s for s in to_delete if self._is_placeholder_like(s, placeholder)), None)
            if len(to_delete) == 1 and keep is not None:
                to_delete = []
            else:
                to_create.append(placeholder)
        self._finalize(service, to_create, to_update, to_delete, trigger)
        return missing_node

    @staticmethod
    def _is_placeholder_like(slice_: dict[str, Any], placeholder: dict[str, Any]) -> bool:
        return (
            not slice_.get("endpoints")
            and not slice_.get("ports")
            and slice_.get("addressType") == placeholder.get("addressType")
            and (slice_["metadata"].get("labels") or {}) == placeholder["metadata"]["labels"]
            and slice_["metadata"].get("ownerReferences") == placeholder["metadata"]["ownerReferences"]
        )

    def _reconcile_by_ports(
        self,
        service: dict[str, Any],
        existing: list[dict[str, Any]],
        wanted: dict[tuple[Any, ...], dict[str, Any]],
        ports: list[dict[str, Any]],
        address_type: str,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Upstream reconcileByPortMapping: keep slices in place, fill the ones being written, then create."""
        remaining = dict(wanted)
        by_name: dict[str, dict[str, Any]] = {}
        unchanged: list[str] = []
        updating: list[str] = []
        deleting: list[str] = []
        # 1. Drop endpoints no longer wanted, refresh changed ones, follow the Service's labels.
        for slice_ in existing:
            name = slice_["metadata"]["name"]
            by_name[name] = slice_
            kept: list[dict[str, Any]] = []
            changed = False
            for endpoint in slice_.get("endpoints") or []:
                h = endpoint_hash(endpoint)
                if h in remaining:
                    got = remaining.pop(h)
                    kept.append(got)
                    changed |= got != endpoint
            labels, labels_changed = slice_labels(slice_, service)
            if changed or len(kept) != len(slice_.get("endpoints") or []):
                if not kept:
                    deleting.append(name)
                else:
                    fresh = clone(slice_)
                    fresh["endpoints"] = kept
                    fresh["metadata"]["labels"] = labels
                    by_name[name] = fresh
                    updating.append(name)
            elif labels_changed:
                fresh = clone(slice_)
                fresh["metadata"]["labels"] = labels
                by_name[name] = fresh
                updating.append(name)
            else:
                unchanged.append(name)
        pending = [remaining[h] for h in sorted(remaining, key=lambda h: (h[3], h[0]))]
        # 2. Fill the slices already being written, fullest first.
        if pending and updating:
            for name in sorted(updating, key=lambda n: -len(by_name[n]["endpoints"])):
                slice_ = by_name[name]
                while pending and len(slice_["endpoints"]) < self.max_endpoints:
                    slice_["endpoints"].append(pending.pop(0))
        # 3. Fit the rest into one unchanged slice with room, or create new slices.
        to_create: list[dict[str, Any]] = []
        while pending:
            target: dict[str, Any] | None = None
            if len(pending) < self.max_endpoints and unchanged:
                target = self._slice_to_fill([by_name[n] for n in unchanged], len(pending))
            if target is None:
                target = self._new_slice(service, ports, address_type)
            else:
                target = clone(target)
                by_name[target["metadata"]["name"]] = target
            target.setdefault("endpoints", [])
            while pending and len(target["endpoints"]) < self.max_endpoints:
                target["endpoints"].append(pending.pop(0))
            if target["metadata"].get("name"):
                updating.append(target["metadata"]["name"])
                unchanged.remove(target["metadata"]["name"])
            else:
                to_create.append(target)
        return to_create, [by_name[n] for n in updating], [by_name[n] for n in deleting]

    def _slice_to_fill(self, slices: list[dict[str, Any]], count: int) -> dict[str, Any] | None:
        """The fullest unchanged slice that still has room for ``count`` endpoints (getSliceToFill)."""
        best: dict[str, Any] | None = None
        for slice_ in sorted(slices, key=lambda s: len(s.get("endpoints") or [])):
            if self.max_endpoints - len(slice_.get("endpoints") or []) >= count:
                best = slice_
        return best

    def _new_slice(self, service: dict[str, Any], ports: list[dict[str, Any]], address_type: str) -> dict[str, Any]:
        meta = service["metadata"]
        labels, _ = slice_labels(None, service)
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "addressType": address_type,
            "endpoints": [],
            "ports": clone(ports),
        }

    def _generate_name(self, prefix: str, namespace: str) -> str:
        """``<service>-`` plus five random characters, from this controller's own seeded stream."""
        rng = self.ctx.rng("endpointslice")
        lister = self.ctx.lister("discovery.k8s.io", "EndpointSlice")
        while True:
            name = prefix + "".join(rng.choice(GENERATE_NAME_ALPHABET) for _ in range(5))
            if lister.get(namespace, name) is None:
                return name

    # ------------------------------------------------------------- writes
    def _finalize(
        self,
        service: dict[str, Any],
        to_create: list[dict[str, Any]],
        to_update: list[dict[str, Any]],
        to_delete: list[dict[str, Any]],
        trigger: str | None,
    ) -> None:
        # Rather than delete one slice and create another, rewrite the one that would go.
        i = 0
        while i < len(to_delete) and to_create:
            doomed = to_delete[i]
            slice_ = to_create[-1]
            if doomed.get("addressType") == slice_.get("addressType") and owned_by(doomed, service):
                reused = clone(doomed)
                reused["metadata"]["labels"] = slice_["metadata"]["labels"]
                reused["endpoints"] = slice_["endpoints"]
                reused["ports"] = slice_["ports"]
                to_create.pop()
                to_update.append(reused)
                to_delete.pop(i)
            else:
                i += 1
        namespace = service["metadata"]["namespace"]
        svc_name = service["metadata"]["name"]
        if not service["metadata"].get("deletionTimestamp"):
            for slice_ in to_create:
                self._set_trigger(slice_, trigger)
                slice_["metadata"]["name"] = self._generate_name(slice_["metadata"]["generateName"], namespace)
                try:
                    self.ctx.create(COMPONENT, "discovery.k8s.io", "EndpointSlice", namespace, slice_)
                except StatusError as err:
                    if err.code == 403:
                        return  # the namespace is terminating
                    raise
                self.ctx.trace(
                    COMPONENT,
                    "endpointslice",
                    "kcm.endpointslice.created",
                    {
                        "namespace": namespace,
                        "slice": slice_["metadata"]["name"],
                        "service": svc_name,
                        "count": len(slice_["endpoints"]),
                    },
                    [
                        {"kind": "Service", "namespace": namespace, "name": svc_name},
                        {"kind": "EndpointSlice", "namespace": namespace, "name": slice_["metadata"]["name"]},
                    ],
                )
        for slice_ in to_update:
            self._set_trigger(slice_, trigger)
            self.ctx.update(COMPONENT, slice_)
            self.ctx.trace(
                COMPONENT,
                "endpointslice",
                "kcm.endpointslice.updated",
                {"namespace": namespace, "slice": slice_["metadata"]["name"], "count": len(slice_["endpoints"])},
                [{"kind": "EndpointSlice", "namespace": namespace, "name": slice_["metadata"]["name"]}],
            )
        for slice_ in to_delete:
            self._delete(slice_)

    @staticmethod
    def _set_trigger(slice_: dict[str, Any], trigger: str | None) -> None:
        annotations = dict(slice_["metadata"].get("annotations") or {})
        if trigger:
            annotations[TRIGGER_TIME_ANNOTATION] = trigger
        else:
            annotations.pop(TRIGGER_TIME_ANNOTATION, None)
        if annotations:
            slice_["metadata"]["annotations"] = annotations
        else:
            slice_["metadata"].pop("annotations", None)

    def _delete(self, slice_: dict[str, Any]) -> None:
        meta = slice_["metadata"]
        self.ctx.delete(COMPONENT, "discovery.k8s.io", "EndpointSlice", meta["namespace"], meta["name"])
        self.ctx.trace(
            COMPONENT,
            "endpointslice",
            "kcm.endpointslice.deleted",
            {"namespace": meta["namespace"], "slice": meta["name"]},
            [{"kind": "EndpointSlice", "namespace": meta["namespace"], "name": meta["name"]}],
        )


CONTROLLERS = [EndpointSliceController]
