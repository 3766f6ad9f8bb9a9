"""Routing tables, per node and per pod, as the CNI installs them; longest-prefix lookup.

Root namespace of a node (the main table):

* ``default via <node-network gateway> dev eth0`` and the node network's connected route;
* flannel vxlan: ``<peer podCIDR> via <peer podCIDR network address> dev flannel.1 onlink``
  (the gateway is the peer's ``flannel.1`` address, resolved by a permanent ARP entry);
* flannel host-gw: ``<peer podCIDR> via <peer node IP> dev eth0``;
* the bridge plugin's connected route ``<podCIDR> dev cni0 proto kernel scope link src <gw>``;
* calico BGP: ``<peer block> via <peer node IP> dev eth0 proto bird``; IPIP:
  ``... dev tunl0 proto bird onlink``; VXLAN: ``... via <peer vxlan.calico IP> dev
  vxlan.calico proto 80 onlink``; plus ``blackhole <own block> proto bird`` and one
  ``<pod IP> dev cali... scope link`` per local pod.

Inside a pod: the bridge plugin's ``default via <cni0 IP>``, flannel's extra route
to the cluster CIDR and the connected podCIDR route; or calico's ``default via
169.254.1.1 dev eth0`` plus ``169.254.1.1 dev eth0 scope link``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.network import addressing as addr
from cluster.network.cache import memo_reuse
from cluster.network.cni import mode
from cluster.network.devices import underlay_gateway
from cluster.network.index import ClusterIndex, NodeInfo, PodInfo, index
from cluster.network.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Route:
    dst: str
    """``default``, a CIDR, or a host address (a /32)."""
    dev: str | None
    via: str | None = None
    proto: str | None = None
    scope: str | None = None
    src: str | None = None
    onlink: bool = False
    type: str = "unicast"

    @property
    def prefix(self) -> tuple[int, int]:
        """(network, prefix length) as ints, ``default`` being 0.0.0.0/0."""
        if self.dst == "default":
            return 0, 0
        net = addr.network(self.dst)
        return int(net.network_address), net.prefixlen

    def text(self) -> str:
        """One line of ``ip route`` output."""
        parts = [] if self.type == "unicast" else [self.type]
        parts.append(self.dst)
        if self.via:
            parts += ["via", self.via]
        if self.dev:
            parts += ["dev", self.dev]
        if self.proto:
            parts += ["proto", self.proto]
        if self.scope:
            parts += ["scope", self.scope]
        if self.src:
            parts += ["src", self.src]
        if self.onlink:
            parts.append("onlink")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"dst": self.dst, "via": self.via, "dev": self.dev, "type": self.type, "text": self.text()}


class RouteTable:
    """A main routing table with longest-prefix-match lookup."""

    __slots__ = ("_by_len", "routes")

    def __init__(self, routes: list[Route]) -> None:
        self.routes = tuple(sorted(routes, key=_order))
        self._by_len: dict[int, dict[int, Route]] = {}
        for r in self.routes:
            net, plen = r.prefix
            self._by_len.setdefault(plen, {})[net] = r
        self._by_len = dict(sorted(self._by_len.items(), reverse=True))

    def lookup(self, ip: str) -> Route | None:
        value = addr.ip_int(ip)
        for plen, table in self._by_len.items():
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            route = table.get(value & mask)
            if route is not None:
                return route
        return None

    def text(self) -> str:
        return "".join(r.text() + "\n" for r in self.routes)


def _order(r: Route) -> tuple[int, int, int]:
    """``ip route`` lists the FIB trie in address order, with the default route first."""
    net, plen = r.prefix
    return (0 if r.dst == "default" else 1, net, plen)


def _node_routes(idx: ClusterIndex, name: str) -> RouteTable:
    snap = idx.snap
    cni = mode(snap)
    node = idx.nodes[name]
    underlay = addr.network(snap.node_cidr)
    routes = [
        Route("default", "eth0", via=underlay_gateway(idx)),
        Route(str(underlay), "eth0", proto="kernel", scope="link", src=node.ip),
    ]
    if idx.has_cni0(name):
        routes.append(Route(node.pod_cidr, "cni0", proto="kernel", scope="link", src=node.gateway_ip))
    if snap.calico:
        routes.append(Route(node.pod_cidr, None, proto="bird", type="blackhole"))
        for pod in idx.bridge_pods_on(name):
            routes.append(Route(str(pod.ip), pod.veth, scope="link"))
    for peer in idx.nodes.values():
        if peer.name == name:
            continue
        if snap.cni == "flannel-vxlan":
            routes.append(Route(peer.pod_cidr, "flannel.1", via=peer.overlay_ip, onlink=True))
        elif snap.cni == "flannel-host-gw":
            routes.append(Route(peer.pod_cidr, "eth0", via=peer.ip))
        elif snap.cni == "calico-bgp":
            routes.append(Route(peer.pod_cidr, "eth0", via=peer.ip, proto="bird"))
        elif snap.cni == "calico-ipip":
            routes.append(Route(peer.pod_cidr, "tunl0", via=peer.ip, proto="bird", onlink=True))
        else:
            routes.append(
                Route(peer.pod_cidr, cni.overlay_dev, via=peer.overlay_ip, proto=cni.route_proto, onlink=True)
            )
    return RouteTable(routes)


def node_routes(snap: Snapshot, node: str) -> RouteTable:
    """The node's main routing table (cached per revision and node, reused across revisions)."""
    idx = index(snap)
    if node not in idx.nodes:
        raise KeyError(node)
    return memo_reuse(snap, ("routes", node), idx.node_deps(node), lambda: _node_routes(idx, node))


def pod_routes(snap: Snapshot, pod: PodInfo) -> RouteTable:
    """The routing table inside ``pod`` (cached per pod, reused across revisions while pod and node stay)."""
    idx = index(snap)
    node = idx.nodes.get(pod.node or "")
    return memo_reuse(snap, ("pod-routes", pod.key), (pod, node), lambda: _pod_routes(snap, pod, node))


def _pod_routes(snap: Snapshot, pod: PodInfo, node: NodeInfo | None) -> RouteTable:
    if snap.calico or node is None:
        return RouteTable(
            [Route("default", "eth0", via=addr.CALICO_GATEWAY), Route(addr.CALICO_GATEWAY, "eth0", scope="link")]
        )
    return RouteTable(
        [
            Route("default", "eth0", via=node.gateway_ip),
            Route(snap.pod_cidr, "eth0", via=node.gateway_ip),
            Route(node.pod_cidr, "eth0", proto="kernel", scope="link", src=pod.ip),
        ]
    )


def node_local_addresses(idx: ClusterIndex, node: str) -> dict[str, str]:
    """Addresses of the node's ``local`` table -> the device holding each (a shared dict: do not change it)."""
    key = ("local-addresses", node)
    found = idx.lookups.get(key)
    if found is None:
        found = idx.lookups[key] = _local_addresses(idx, node)
    return found  # type: ignore[no-any-return]


def _local_addresses(idx: ClusterIndex, node: str) -> dict[str, str]:
    info = idx.nodes[node]
    out = {info.ip: "eth0"}
    if idx.has_cni0(node):
        out[info.gateway_ip] = "cni0"
    dev = mode(idx.snap).overlay_dev
    if dev:
        out[info.overlay_ip] = dev
    return out


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.")
