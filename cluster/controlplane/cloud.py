"""cloud-controller-manager: the service controller that gives LoadBalancer Services an external IP.

Upstream ``k8s.io/cloud-provider/controllers/service``, with the simulated cloud handing
out addresses from a pool on the node network, the way kind clusters are usually set up
with MetalLB (``172.18.255.200-172.18.255.250``). A ``type: LoadBalancer`` Service first
gets the ``service.kubernetes.io/load-balancer-cleanup`` finalizer, then
``status.loadBalancer.ingress``; deleting it, or changing its type, releases the address
before the finalizer is removed. ``spec.loadBalancerIP`` is honoured when free and in the
pool; a Service with ``spec.loadBalancerClass`` belongs to another implementation.

The pool is ``DEFAULT_POOL`` unless ``settings.KUBEGLASS["LOADBALANCER_POOL"]`` names another
``"first-last"`` range.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.controlplane import components
from cluster.controlplane.controller import Context, Controller
from cluster.controlplane.informer import object_key

COMPONENT = "cloud-controller-manager"
EVENT_SOURCE = "service-controller"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
DEFAULT_POOL = "172.18.255.200-172.18.255.250"
MIN_RETRY_DELAY = 5.0
MAX_RETRY_DELAY = 300.0

NARRATION = {
    "ccm.service.ensured": gettext_noop(
        "The cloud controller manager gave LoadBalancer Service {namespace}/{name} the external IP {ip}."
    ),
    "ccm.service.released": gettext_noop(
        "The cloud controller manager released {ip}, the load balancer of Service {namespace}/{name}."
    ),
    "ccm.service.exhausted": gettext_noop(
        "No address left in the load balancer pool {pool} for Service {namespace}/{name}: EXTERNAL-IP stays <pending>."
    ),
}


class PoolExhausted(Exception):
    pass


def pool_range() -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The configured pool as (first, last) addresses, inclusive."""
    spec = (getattr(settings, "KUBEGLASS", {}) or {}).get("LOADBALANCER_POOL") or DEFAULT_POOL
    first, _, last = str(spec).partition("-")
    start = ipaddress.ip_address(first.strip())
    end = ipaddress.ip_address((last or first).strip())
    return start, end


def pool_text() -> str:
    start, end = pool_range()
    return f"{start}-{end}"


def in_pool(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    start, end = pool_range()
    return addr.version == start.version and int(start) <= int(addr) <= int(end)


def wants_load_balancer(service: dict[str, Any]) -> bool:
    spec = service.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def ingress_ips(service: dict[str, Any]) -> list[str]:
    lb = (service.get("status") or {}).get("loadBalancer") or {}
    return [i["ip"] for i in lb.get("ingress") or [] if isinstance(i, dict) and i.get("ip")]


def lb_fingerprint(service: dict[str, Any]) -> str:
    """What a load balancer is built from (upstream needsUpdate): the spec but for cluster IPs, and annotations."""
    spec = {k: v for k, v in (service.get("spec") or {}).items() if k not in ("clusterIP", "clusterIPs")}
    return json.dumps([spec, service["metadata"].get("annotations") or {}], sort_keys=True)


class ServiceController(Controller):
    component = COMPONENT
    name = "service"
    watches = (("", "Service"),)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        # service key -> its address; rebuilt from Service status, the simulated cloud's only memory.
        self.allocated: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        # service key -> what the load balancer was last ensured for; a change means ensuring again.
        self.ensured: dict[str, str] = {}

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        key = object_key(obj)
        if etype == "DELETED":
            # A Service that went without our finalizer (it was never ours): free what it held.
            self.ensured.pop(key, None)
            ip = self.allocated.pop(key, None)
            if ip is not None:
                self._trace("ccm.service.released", obj, ip)
            return
        ips = ingress_ips(obj)
        ours = wants_load_balancer(obj) or FINALIZER in (obj["metadata"].get("finalizers") or [])
        if ips and ours and in_pool(ips[0]):
            self.allocated.setdefault(key, ips[0])
        self.queue.add(key)

    def _trace(self, message: str, service: dict[str, Any], ip: str) -> None:
        meta = service["metadata"]
        self.ctx.trace(
            COMPONENT,
            "service",
            message,
            {"namespace": meta.get("namespace", ""), "name": meta["name"], "ip": ip, "pool": pool_text()},
            [{"kind": "Service", "namespace": meta.get("namespace", ""), "name": meta["name"]}],
        )

    # ------------------------------------------------------------- the simulated cloud
    def _allocate(self, key: str, requested: str | None) -> str:
        taken = {ip for k, ip in self.allocated.items() if k != key}
        if key in self.allocated and (not requested or requested == self.allocated[key]):
            return self.allocated[key]
        if requested:
            if not in_pool(requested):
                raise PoolExhausted(f"requested IP {requested} is not in the pool {pool_text()}")
            if requested in taken:
                raise PoolExhausted(f"requested IP {requested} is already allocated")
            self.allocated[key] = requested
            return requested
        start, end = pool_range()
        for value in range(int(start), int(end) + 1):
            ip = str(ipaddress.ip_address(value))
            if ip not in taken:
                self.allocated[key] = ip
                return ip
        raise PoolExhausted(f"no available IPs in pool {pool_text()}")

    # ------------------------------------------------------------- sync
    def reconcile(self, key: str) -> float | None:
        namespace, _, name = key.partition("/")
        service = self.ctx.lister("", "Service").get(namespace, name)
        if service is None:
            self.allocated.pop(key, None)
            self.ensured.pop(key, None)
            return None
        if wants_load_balancer(service) and not service["metadata"].get("deletionTimestamp"):
            return self._ensure(key, service)
        return self._ensure_deleted(key, service)

    def _ensure(self, key: str, service: dict[str, Any]) -> float | None:
        requested = (service.get("spec") or {}).get("loadBalancerIP") or None
        current = ingress_ips(service)
        has_finalizer = FINALIZER in (service["metadata"].get("finalizers") or [])
        fingerprint = lb_fingerprint(service)
        in_step = (
            has_finalizer and current and self.allocated.get(key) == current[0] and requested in (None, current[0])
        )
        if in_step and self.ensured.get(key) == fingerprint:
            self.failures.pop(key, None)
            return None
        self.ctx.event(EVENT_SOURCE, service, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        # The finalizer goes on before any cloud resource exists, so the Service cannot vanish without cleanup.
        if not has_finalizer:
            body = copy.deepcopy(service)
            body["metadata"]["finalizers"] = [*(body["metadata"].get("finalizers") or []), FINALIZER]
            service = self.ctx.update(COMPONENT, body).object
        try:
            ip = self._allocate(key, requested)
        except PoolExhausted as exc:
            self.ctx.event(
                EVENT_SOURCE,
                service,
                "Warning",
                "SyncLoadBalancerFailed",
                f"Error syncing load balancer: failed to ensure load balancer: {exc}",
            )
            self._trace("ccm.service.exhausted", service, "")
            failures = self.failures.get(key, 0)
            self.failures[key] = failures + 1
            return min(MAX_RETRY_DELAY, MIN_RETRY_DELAY * 2**failures)
        self.failures.pop(key, None)
        self.ensured[key] = fingerprint
        self.ctx.event(EVENT_SOURCE, service, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        wanted = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}
        if (service.get("status") or {}).get("loadBalancer") != wanted:
            body = copy.deepcopy(service)
            body.setdefault("status", {})["loadBalancer"] = wanted
            self.ctx.update_status(COMPONENT, body)
        self._trace("ccm.service.ensured", service, ip)
        return None

    def _ensure_deleted(self, key: str, service: dict[str, Any]) -> float | None:
        """Tear down: release the address, drop the finalizer, clear the status (upstream order)."""
        has_finalizer = FINALIZER in (service["metadata"].get("finalizers") or [])
        ip = self.allocated.get(key)
        if not has_finalizer and ip is None:
            return None
        self.ensured.pop(key, None)
        if ip is not None:
            self.ctx.event(EVENT_SOURCE, service, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
            self.allocated.pop(key, None)
            self._trace("ccm.service.released", service, ip)
        if has_finalizer:
            self._remove_finalizer(service)
        self.ctx.event(EVENT_SOURCE, service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        if ingress_ips(service) and not service["metadata"].get("deletionTimestamp"):
            resource = registry.by_kind("", "Service")
            assert resource is not None
            try:
                live = self.ctx.api.get(resource, service["metadata"]["namespace"], service["metadata"]["name"])
            except StatusError as err:
                if err.code == 404:
                    return None
                raise
            body = copy.deepcopy(live)
            body.setdefault("status", {})["loadBalancer"] = {}
            self.ctx.update_status(COMPONENT, body)
        return None

    def _remove_finalizer(self, service: dict[str, Any]) -> None:
        resource = registry.by_kind("", "Service")
        assert resource is not None
        meta = service["metadata"]
        for _ in range(5):
            try:
                live = self.ctx.api.get(resource, meta["namespace"], meta["name"])
            except StatusError as err:
                if err.code == 404:
                    return
                raise
            finalizers = [f for f in live["metadata"].get("finalizers") or [] if f != FINALIZER]
            if len(finalizers) == len(live["metadata"].get("finalizers") or []):
                return
            body = copy.deepcopy(live)
            if finalizers:
                body["metadata"]["finalizers"] = finalizers
            else:
                body["metadata"].pop("finalizers", None)
            try:
                self.ctx.update(COMPONENT, body)
                return
            except StatusError as err:
                if err.code == 404:
                    return
                if err.code != 409:
                    raise


def _load() -> list[type[Any]]:
    return [ServiceController]


components.register("cloud-controller-manager", _load)
