"""Typed, indexed views of a snapshot's objects, built once per revision.

The raw objects are Kubernetes JSON; every other module wants "the node that owns
this pod IP" or "the endpoints of this service port", so this module parses the
objects once into small frozen records and the lookup tables over them.

A revision whose older neighbour is still cached is *derived* from that one's index
(:func:`_derive`): only the objects :mod:`~cluster.network.delta` reports as changed
are parsed again, and every table they do not touch (a node's pod list, a Service's
endpoint lists, the records themselves) is carried over as the very same object.
Everything keyed on those objects downstream (routing tables, kube-proxy rules, graph
parts) can then be reused by identity.  A derived index equals a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster.network import addressing as addr
from cluster.network import delta
from cluster.network.cache import memo, previous
from cluster.network.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    ip: str
    """The InternalIP, on the node network (kind: the Docker network)."""
    pod_cidr: str
    labels: dict[str, str]
    mac: str
    overlay_ip: str
    """The podCIDR's network address: ``flannel.1``'s, ``tunl0``'s or ``vxlan.calico``'s /32."""
    gateway_ip: str
    """The podCIDR's first host: ``cni0``'s address under the bridge plugin."""
    cni0_mac: str
    vtep_mac: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The Node object parsed (a derived index keeps an earlier, equally parsed version)."""


@dataclass(frozen=True, slots=True)
class ContainerPort:
    container: str
    name: str
    port: int
    protocol: str


@dataclass(frozen=True, slots=True)
class PodInfo:
    key: str
    namespace: str
    name: str
    node: str | None
    ip: str | None
    labels: dict[str, str]
    host_network: bool
    phase: str
    containers: tuple[str, ...]
    ports: tuple[ContainerPort, ...]
    mac: str | None
    veth: str
    veth_mac: str
    dns_policy: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The Pod object parsed (a derived index keeps an earlier, equally parsed version)."""


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of one Service, as kube-proxy's ``ServicePort`` sees it."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    port: int
    node_port: int
    target_port: int | str
    cluster_ip: str | None
    lb_ips: tuple[str, ...]
    external_ips: tuple[str, ...]
    source_ranges: tuple[str, ...]
    etp_local: bool
    itp_local: bool
    affinity_client_ip: bool
    affinity_timeout: int
    health_check_node_port: int
    type: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def name_string(self) -> str:
        """Upstream ``ServicePortName.String()``: ``ns/name`` plus ``:port`` only when the port is named."""
        return f"{self.namespace}/{self.name}" + (f":{self.port_name}" if self.port_name else "")

    @property
    def proto(self) -> str:
        return self.protocol.lower()

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.lb_ips or self.external_ips)

    @property
    def external_policy_local(self) -> bool:
        return self.etp_local and self.externally_accessible

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.itp_local or (self.externally_accessible and not self.external_policy_local)

    @property
    def uses_local_endpoints(self) -> bool:
        return self.itp_local or (self.externally_accessible and self.external_policy_local)


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    node: str | None
    ready: bool
    serving: bool
    terminating: bool
    pod: str | None

    @property
    def string(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(slots=True)
class ClusterIndex:
    snap: Snapshot
    nodes: dict[str, NodeInfo]
    node_by_ip: dict[str, NodeInfo]
    pods: dict[str, PodInfo]
    pod_by_ip: dict[str, PodInfo]
    pods_on_node: dict[str, list[PodInfo]]
    services: dict[str, dict[str, Any]]
    service_ports: list[ServicePort]
    endpoints: dict[tuple[str, str], list[Endpoint]]
    """(service port name string, protocol) -> endpoints sorted as upstream sorts them."""
    namespace_labels: dict[str, dict[str, str]]
    policies: dict[str, list[dict[str, Any]]]
    _pod_cidr_nodes: dict[int, dict[int, NodeInfo]]
    ports_by_service: dict[str, tuple[ServicePort, ...]] = field(default_factory=dict)
    """Service key -> its ports, so a derived index re-parses only the Services that changed."""
    endpoint_groups: dict[tuple[str, str], dict[tuple[str, str], list[Endpoint]]] = field(default_factory=dict)
    """``(namespace, service)`` -> that Service's part of ``endpoints`` (its EndpointSlices' ports)."""
    unique: bool = True
    """Every object's key is unique within its kind; only then can a later revision be derived from this one."""
    lookups: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """Small lookups over this index, built on first use by the modules that need them (read-only after)."""

    def node_for_pod_ip(self, ip: str) -> NodeInfo | None:
        """The node whose podCIDR holds ``ip`` (longest prefix first)."""
        value = addr.ip_int(ip)
        for prefix in sorted(self._pod_cidr_nodes, reverse=True):
            key = value >> (32 - prefix) if prefix else 0
            node = self._pod_cidr_nodes[prefix].get(key)
            if node is not None:
                return node
        return None

    def endpoints_for(self, sp: ServicePort) -> list[Endpoint]:
        return self.endpoints.get((sp.name_string, sp.protocol), [])

    def ns_labels(self, namespace: str) -> dict[str, str]:
        return self.namespace_labels.get(namespace) or {"kubernetes.io/metadata.name": namespace}

    def bridge_pods_on(self, node: str) -> list[PodInfo]:
        """Pods with their own network namespace (and so a veth) on ``node`` (a shared list: do not change it)."""
        key = ("bridge-pods", node)
        found = self.lookups.get(key)
        if found is None:
            found = self.lookups[key] = [p for p in self.pods_on_node.get(node, ()) if not p.host_network and p.ip]
        return found  # type: ignore[no-any-return]

    def node_deps(self, node: str) -> tuple[object, ...]:
        """What a node's routes, neighbours and FDB are computed from: every node, and this node's pods.

        A derived index keeps both objects when neither changed, so a revision where a pod
        moved on another node reuses this node's tables (:func:`~cluster.network.cache.memo_reuse`).
        """
        return (self.nodes, self.pods_on_node.get(node))

    def has_cni0(self, node: str) -> bool:
        """The bridge plugin creates ``cni0`` with the node's first pod; no pod, no bridge."""
        return not self.snap.calico and bool(self.bridge_pods_on(node))


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _node_info(raw: dict[str, Any]) -> NodeInfo | None:
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    name = str(meta.get("name") or "")
    ip = next((a.get("address") for a in status.get("addresses") or () if a.get("type") == "InternalIP"), None)
    pod_cidr = spec.get("podCIDR") or next(iter(spec.get("podCIDRs") or ()), None)
    if not name or not ip or not pod_cidr:
        return None
    pod_cidr = str(addr.network(pod_cidr))
    gateway = addr.nth_host(pod_cidr, 1)
    return NodeInfo(
        name=name,
        ip=str(ip),
        pod_cidr=pod_cidr,
        labels=dict(meta.get("labels") or {}),
        mac=addr.docker_mac(str(ip)),
        overlay_ip=addr.nth_host(pod_cidr, 0),
        gateway_ip=gateway,
        cni0_mac=addr.pod_bridge_mac(gateway),
        vtep_mac=addr.flannel_vtep_mac(raw),
        raw=raw,
    )


def _pod_info(raw: dict[str, Any], calico: bool) -> PodInfo:
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    ip = status.get("podIP") or next((p.get("ip") for p in status.get("podIPs") or ()), None)
    host_network = bool(spec.get("hostNetwork"))
    ports = tuple(
        ContainerPort(
            container=str(c.get("name") or ""),
            name=str(p.get("name") or ""),
            port=int(p["containerPort"]),
            protocol=str(p.get("protocol") or "TCP").upper(),
        )
        for c in spec.get("containers") or ()
        for p in c.get("ports") or ()
        if p.get("containerPort")
    )
    if calico:
        veth = addr.calico_veth_name(namespace, name)
        veth_mac = addr.CALICO_HOST_MAC
        mac = addr.stable_mac(f"pod-eth0/{namespace}/{name}") if ip and not host_network else None
    else:
        veth = addr.bridge_veth_name(namespace, name)
        veth_mac = addr.stable_mac("veth/" + veth)
        mac = addr.pod_bridge_mac(ip) if ip and not host_network else None
    return PodInfo(
        key=f"{namespace}/{name}",
        namespace=namespace,
        name=name,
        node=spec.get("nodeName"),
        ip=str(ip) if ip else None,
        labels=dict(meta.get("labels") or {}),
        host_network=host_network,
        phase=str(status.get("phase") or ("Running" if ip else "Pending")),
        containers=tuple(str(c.get("name") or "") for c in spec.get("containers") or ()),
        ports=ports,
        mac=mac,
        veth=veth,
        veth_mac=veth_mac,
        dns_policy=str(spec.get("dnsPolicy") or "ClusterFirst"),
        raw=raw,
    )


def _service_ports(raw: dict[str, Any]) -> list[ServicePort]:
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    svc_type = str(spec.get("type") or "ClusterIP")
    cluster_ip = spec.get("clusterIP")
    if svc_type == "ExternalName" or not cluster_ip or cluster_ip == "None":
        return []  # kube-proxy skips headless and ExternalName services
    lb_ips = tuple(str(i["ip"]) for i in ((status.get("loadBalancer") or {}).get("ingress") or ()) if i.get("ip"))
    affinity = spec.get("sessionAffinity") == "ClientIP"
    timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")) or 10800
    out = []
    for p in spec.get("ports") or ():
        out.append(
            ServicePort(
                namespace=str(meta.get("namespace") or "default"),
                name=str(meta.get("name") or ""),
                port_name=str(p.get("name") or ""),
                protocol=str(p.get("protocol") or "TCP").upper(),
                port=int(p["port"]),
                node_port=int(p.get("nodePort") or 0) if svc_type in ("NodePort", "LoadBalancer") else 0,
                target_port=p.get("targetPort") if p.get("targetPort") is not None else int(p["port"]),
                cluster_ip=str(cluster_ip),
                lb_ips=lb_ips if svc_type == "LoadBalancer" else (),
                external_ips=tuple(str(i) for i in spec.get("externalIPs") or ()),
                source_ranges=tuple(str(r).strip() for r in spec.get("loadBalancerSourceRanges") or ()),
                etp_local=spec.get("externalTrafficPolicy") == "Local",
                itp_local=spec.get("internalTrafficPolicy") == "Local",
                affinity_client_ip=affinity,
                affinity_timeout=int(timeout),
                # Only LoadBalancer services with the Local policy need a health check (NeedsHealthCheck).
                health_check_node_port=int(spec.get("healthCheckNodePort") or 0)
                if svc_type == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
                else 0,
                type=svc_type,
            )
        )
    return out


def _slice_group(es: dict[str, Any]) -> tuple[str, str] | None:
    """The Service an EndpointSlice belongs to, or ``None`` if kube-proxy ignores the slice."""
    if es.get("addressType", "IPv4") != "IPv4":
        return None
    meta = _meta(es)
    svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
    if not svc:
        return None
    return str(meta.get("namespace") or "default"), str(svc)


def _endpoints(raw_slices: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[Endpoint]]:
    """EndpointSlices to kube-proxy's EndpointsMap: per service port, deduplicated, sorted by ``ip:port``."""
    by_port: dict[tuple[str, str], dict[str, Endpoint]] = {}
    for es in raw_slices:
        group = _slice_group(es)
        if group is None:
            continue
        ns, svc = group
        for port in es.get("ports") or ():
            if port.get("port") in (None, 0) or port.get("name") is None:
                continue
            name_string = f"{ns}/{svc}" + (f":{port['name']}" if port["name"] else "")
            key = (name_string, str(port.get("protocol") or "TCP").upper())
            bucket = by_port.setdefault(key, {})
            for ep in es.get("endpoints") or ():
                addresses = ep.get("addresses") or ()
                if not addresses:
                    continue
                cond = ep.get("conditions") or {}
                ready = cond.get("ready") is None or bool(cond.get("ready"))
                ref = ep.get("targetRef") or {}
                e = Endpoint(
                    ip=str(addresses[0]),
                    port=int(port["port"]),
                    node=ep.get("nodeName"),
                    ready=ready,
                    serving=cond.get("serving") is None or bool(cond.get("serving")),
                    terminating=bool(cond.get("terminating")),
                    pod=f"{ref.get('namespace') or ns}/{ref['name']}"
                    if ref.get("kind", "Pod") == "Pod" and ref.get("name")
                    else None,
                )
                bucket.setdefault(e.string, e)
    return {k: [v[s] for s in sorted(v)] for k, v in by_port.items()}


def _endpoint_groups(
    raw_slices: Iterable[dict[str, Any]], only: set[tuple[str, str]] | None = None
) -> dict[tuple[str, str], dict[tuple[str, str], list[Endpoint]]]:
    """:func:`_endpoints` per Service (a service port's slices all name its Service), optionally for some only.

    A port key is ``<ns>/<service>[:<port>]``, so two Services never share one and
    merging the groups gives exactly the EndpointsMap of all slices at once.
    """
    slices: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for es in raw_slices:
        group = _slice_group(es)
        if group is not None and (only is None or group in only):
            slices.setdefault(group, []).append(es)
    return {group: _endpoints(members) for group, members in slices.items()}


def _merge_groups(
    groups: dict[tuple[str, str], dict[tuple[str, str], list[Endpoint]]], raw_slices: Iterable[dict[str, Any]]
) -> dict[tuple[str, str], list[Endpoint]]:
    """All groups' ports in one map; should two Services' names spell the same port key, redo it all at once."""
    out: dict[tuple[str, str], list[Endpoint]] = {}
    for part in groups.values():
        out.update(part)
    if len(out) != sum(len(part) for part in groups.values()):
        return _endpoints(raw_slices)
    return out


def _nodes_part(
    raws: Iterable[dict[str, Any]], keep: dict[str, NodeInfo] | None = None
) -> tuple[dict[str, NodeInfo], dict[str, NodeInfo], dict[int, dict[int, NodeInfo]]]:
    """``nodes`` (by name, sorted), ``node_by_ip`` and the podCIDR lookup; ``keep`` supplies equal earlier records."""
    nodes: dict[str, NodeInfo] = {}
    for raw in raws:
        info = _node_info(raw)
        if info is not None:
            if keep is not None and keep.get(info.name) == info:
                info = keep[info.name]
            nodes[info.name] = info
    cidr_nodes: dict[int, dict[int, NodeInfo]] = {}
    for node in nodes.values():
        net = addr.network(node.pod_cidr)
        cidr_nodes.setdefault(net.prefixlen, {})[int(net.network_address) >> (32 - net.prefixlen)] = node
    return dict(sorted(nodes.items())), {n.ip: n for n in nodes.values()}, cidr_nodes


def _by_ip_qualifies(pod: PodInfo) -> bool:
    return bool(pod.ip) and not pod.host_network and pod.phase not in ("Succeeded", "Failed")


def _services_part(
    raws: Iterable[dict[str, Any]], keep: dict[str, tuple[ServicePort, ...]] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[ServicePort, ...]], list[ServicePort]]:
    services: dict[str, dict[str, Any]] = {}
    by_service: dict[str, tuple[ServicePort, ...]] = {}
    ports: list[ServicePort] = []
    for raw in raws:
        meta = _meta(raw)
        key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        services[key] = raw
        parsed = tuple(_service_ports(raw))
        if keep is not None and keep.get(key) == parsed:
            parsed = keep[key]
        by_service[key] = parsed
        ports.extend(parsed)
    ports.sort(key=lambda sp: (sp.name_string, sp.protocol))
    return services, by_service, ports


def _namespace_labels(raws: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    ns_labels: dict[str, dict[str, str]] = {}
    for raw in raws:
        meta = _meta(raw)
        name = str(meta.get("name") or "")
        ns_labels[name] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name}
    return ns_labels


def _policies(raws: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    policies: dict[str, list[dict[str, Any]]] = {}
    for raw in raws:
        policies.setdefault(str(_meta(raw).get("namespace") or "default"), []).append(raw)
    return policies


def _unique(snap: Snapshot) -> bool:
    kinds = (
        (snap.nodes, delta.name_key),
        (snap.pods, delta.namespaced_key),
        (snap.services, delta.namespaced_key),
        (snap.endpointslices, delta.namespaced_key),
        (snap.networkpolicies, delta.namespaced_key),
        (snap.namespaces, delta.name_key),
    )
    return all(len({key(o) for o in objs}) == len(objs) for objs, key in kinds)


def _build(snap: Snapshot) -> ClusterIndex:
    nodes, node_by_ip, cidr_nodes = _nodes_part(snap.nodes)
    pods: dict[str, PodInfo] = {}
    pod_by_ip: dict[str, PodInfo] = {}
    pods_on_node: dict[str, list[PodInfo]] = {}
    for raw in snap.pods:
        pod = _pod_info(raw, snap.calico)
        pods[pod.key] = pod
        if pod.node:
            pods_on_node.setdefault(pod.node, []).append(pod)
        if _by_ip_qualifies(pod):
            pod_by_ip[str(pod.ip)] = pod
    services, by_service, ports = _services_part(snap.services)
    groups = _endpoint_groups(snap.endpointslices)
    return ClusterIndex(
        snap=snap,
        nodes=nodes,
        node_by_ip=node_by_ip,
        pods=pods,
        pod_by_ip=pod_by_ip,
        pods_on_node=pods_on_node,
        services=services,
        service_ports=ports,
        endpoints=_merge_groups(groups, snap.endpointslices),
        namespace_labels=_namespace_labels(snap.namespaces),
        policies=_policies(snap.networkpolicies),
        _pod_cidr_nodes=cidr_nodes,
        ports_by_service=by_service,
        endpoint_groups=groups,
        unique=_unique(snap),
    )


def _derive_pods(
    old: ClusterIndex, snap: Snapshot, d: delta.KindDelta
) -> tuple[dict[str, PodInfo], dict[str, PodInfo], dict[str, list[PodInfo]]]:
    """``pods``, ``pod_by_ip`` and ``pods_on_node`` after the pod changes ``d``: only touched nodes' lists are redone."""
    parsed: dict[str, PodInfo] = {}
    for key, raw in d.new.items():
        info = _pod_info(raw, snap.calico)
        parsed[key] = old.pods[key] if old.pods.get(key) == info else info
    really = {k for k in d.changed if parsed.get(k) is not old.pods.get(k)}
    if d.keys is not None:
        really = set(d.changed)  # a changed pod may also have changed places, and its node's list with it
    if not really:
        return old.pods, old.pod_by_ip, old.pods_on_node  # nothing the model reads changed
    if d.keys is None:
        pods = dict(old.pods)
        pods.update(parsed)
    else:
        pods = {k: parsed[k] if k in d.changed else old.pods[k] for k in d.keys}
    touched = [old.pods[k] for k in really if k in old.pods] + [parsed[k] for k in really if k in parsed]
    on_node = dict(old.pods_on_node)
    for name in {p.node for p in touched if p.node}:
        members = [p for p in pods.values() if p.node == name]
        before = old.pods_on_node.get(name)
        if not members:
            on_node.pop(name, None)
        elif (
            before is None
            or len(before) != len(members)
            or any(a is not b for a, b in zip(before, members, strict=True))
        ):
            on_node[name] = members
    by_ip = dict(old.pod_by_ip)
    ips = {p.ip for p in touched if p.ip}
    for ip in ips:
        by_ip.pop(ip, None)
    for p in pods.values():
        if p.ip in ips and _by_ip_qualifies(p):
            by_ip[p.ip] = p
    return pods, by_ip, on_node


def _derive(old: ClusterIndex, snap: Snapshot, d: delta.Delta) -> ClusterIndex:
    """``snap``'s index from an older revision's, redoing only what the changed objects feed.

    Unchanged parts are the very same objects as in ``old`` (records, per-node pod
    lists, endpoint lists), which is what lets per-node tables, kube-proxy rules and
    graph parts built for ``old`` be reused (see :func:`cluster.network.cache.memo_reuse`).
    """
    nodes, node_by_ip, cidr_nodes = old.nodes, old.node_by_ip, old._pod_cidr_nodes
    if d.nodes:
        nodes, node_by_ip, cidr_nodes = _nodes_part(snap.nodes, keep=old.nodes)
        same = list(nodes) == list(old.nodes) and all(nodes[k] is old.nodes[k] for k in nodes)
        if (
            same
            and node_by_ip.keys() == old.node_by_ip.keys()
            and all(v is old.node_by_ip[k] for k, v in node_by_ip.items())
        ):  # e.g. a status heartbeat: nothing the model reads changed, so keep every node-keyed cache
            nodes, node_by_ip, cidr_nodes = old.nodes, old.node_by_ip, old._pod_cidr_nodes
    pods, pod_by_ip, pods_on_node = old.pods, old.pod_by_ip, old.pods_on_node
    if d.pods:
        pods, pod_by_ip, pods_on_node = _derive_pods(old, snap, d.pods)
    services, by_service, ports = old.services, old.ports_by_service, old.service_ports
    if d.services:
        services, by_service, ports = _services_part(snap.services, keep=old.ports_by_service)
        if all(by_service.get(k) is v for k, v in old.ports_by_service.items()) and len(by_service) == len(
            old.ports_by_service
        ):
            by_service, ports = old.ports_by_service, old.service_ports
    groups, endpoints = old.endpoint_groups, old.endpoints
    if d.endpointslices:
        touched = {
            g for raw in (*d.endpointslices.old.values(), *d.endpointslices.new.values()) if (g := _slice_group(raw))
        }
        redone = _endpoint_groups(snap.endpointslices, only=touched)
        groups = dict(old.endpoint_groups)
        for group in touched:
            part = redone.get(group)
            if part is None:
                groups.pop(group, None)
            elif part != groups.get(group):
                groups[group] = part
        if any(groups.get(g) is not old.endpoint_groups.get(g) for g in touched):
            endpoints = _merge_groups(groups, snap.endpointslices)
        else:
            groups = old.endpoint_groups
    return ClusterIndex(
        snap=snap,
        nodes=nodes,
        node_by_ip=node_by_ip,
        pods=pods,
        pod_by_ip=pod_by_ip,
        pods_on_node=pods_on_node,
        services=services,
        service_ports=ports,
        endpoints=endpoints,
        namespace_labels=_namespace_labels(snap.namespaces) if d.namespaces else old.namespace_labels,
        policies=_policies(snap.networkpolicies) if d.networkpolicies else old.policies,
        _pod_cidr_nodes=cidr_nodes,
        ports_by_service=by_service,
        endpoint_groups=groups,
        unique=True,
    )


def _index(snap: Snapshot) -> ClusterIndex:
    """Derive from a cached older revision when one differs by a few objects, else build afresh."""
    found = previous(snap, "index")
    if found is not None:
        old_snap, old = found
        if old.unique:
            d = delta.diff(old_snap, snap)
            if d is not None:
                return _derive(old, snap, d)
    return _build(snap)


def index(snap: Snapshot) -> ClusterIndex:
    """The snapshot's index, built once per revision (derived from an older revision's when possible)."""
    return memo(snap, "index", lambda: _index(snap))
