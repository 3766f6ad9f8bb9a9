"""Neighbour (ARP) tables and forwarding databases, per node, in steady state.

* ``ip neigh``: the node network gateway and peer nodes on ``eth0`` (learnt,
  ``REACHABLE``); local pods on ``cni0`` or on their ``cali*`` veth; and, for the
  VXLAN overlays, one ``PERMANENT`` entry per peer mapping its overlay address to
  its VTEP MAC — flanneld writes these itself, there is no ARP over the overlay.
* ``bridge fdb``: ``cni0``'s own and its ports' MACs (``permanent``), the pods'
  MACs learnt on their veth ports, and for VXLAN devices one ``self permanent``
  entry per peer VTEP MAC with ``dst <peer node IP>``, which is how the kernel
  knows where to send the encapsulated frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.network import addressing as addr
from cluster.network.cache import memo_reuse
from cluster.network.cni import mode, overlay_mac
from cluster.network.devices import underlay_gateway
from cluster.network.index import ClusterIndex, PodInfo, index
from cluster.network.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Neighbour:
    ip: str
    dev: str
    mac: str | None
    state: str

    def text(self) -> str:
        """One line of ``ip neigh`` output."""
        if self.mac is None:
            return f"{self.ip} dev {self.dev} {self.state}"
        return f"{self.ip} dev {self.dev} lladdr {self.mac} {self.state}"

    def as_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "dev": self.dev, "mac": self.mac, "state": self.state, "text": self.text()}


@dataclass(frozen=True, slots=True)
class FdbEntry:
    mac: str
    dev: str
    master: str | None = None
    dst: str | None = None
    vlan: int | None = None
    self_: bool = False
    permanent: bool = False

    def text(self) -> str:
        """One line of ``bridge fdb show`` output."""
        parts = [self.mac, "dev", self.dev]
        if self.dst:
            parts += ["dst", self.dst]
        if self.vlan is not None:
            parts += ["vlan", str(self.vlan)]
        if self.self_:
            parts.append("self")
        if self.master:
            parts += ["master", self.master]
        if self.permanent:
            parts.append("permanent")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"mac": self.mac, "dev": self.dev, "master": self.master, "dst": self.dst, "text": self.text()}


class NeighTable:
    __slots__ = ("_by_key", "entries")

    def __init__(self, entries: list[Neighbour]) -> None:
        self.entries = tuple(entries)
        self._by_key = {(e.ip, e.dev): e for e in entries}

    def lookup(self, ip: str, dev: str) -> Neighbour | None:
        return self._by_key.get((ip, dev))

    def text(self) -> str:
        return "".join(e.text() + "\n" for e in self.entries)


class Fdb:
    __slots__ = ("_by_key", "entries")

    def __init__(self, entries: list[FdbEntry]) -> None:
        self.entries = tuple(entries)
        self._by_key: dict[tuple[str, str], FdbEntry] = {}
        for e in entries:
            key = (e.master or e.dev, e.mac)
            if e.vlan is None:
                self._by_key.setdefault(key, e)

    def lookup(self, device: str, mac: str) -> FdbEntry | None:
        """The entry for ``mac`` on bridge ``device`` (or on VXLAN device ``device``)."""
        return self._by_key.get((device, mac))

    def text(self) -> str:
        return "".join(e.text() + "\n" for e in self.entries)


def _node_neigh(idx: ClusterIndex, name: str) -> NeighTable:
    snap = idx.snap
    cni = mode(snap)
    gw = underlay_gateway(idx)
    entries = [Neighbour(gw, "eth0", addr.docker_mac(gw), "REACHABLE")]
    for peer in idx.nodes.values():
        if peer.name != name:
            entries.append(Neighbour(peer.ip, "eth0", peer.mac, "REACHABLE"))
    for pod in idx.bridge_pods_on(name):
        entries.append(Neighbour(str(pod.ip), "cni0" if cni.bridge else pod.veth, pod.mac, "REACHABLE"))
    if cni.encap == "vxlan":
        for peer in idx.nodes.values():
            if peer.name != name:
                entries.append(Neighbour(peer.overlay_ip, cni.overlay_dev or "", overlay_mac(snap, peer), "PERMANENT"))
    return NeighTable(entries)


def bridge_entries(idx: ClusterIndex, name: str) -> list[FdbEntry]:
    """``cni0``'s own FDB: its MAC, its ports' MACs, and the pod MACs learnt behind each port."""
    node = idx.nodes[name]
    entries: list[FdbEntry] = []
    if idx.has_cni0(name):
        entries += [
            FdbEntry(node.cni0_mac, "cni0", master="cni0", vlan=1, permanent=True),
            FdbEntry(node.cni0_mac, "cni0", master="cni0", permanent=True),
        ]
        for pod in idx.bridge_pods_on(name):
            entries += [
                FdbEntry(str(pod.mac), pod.veth, master="cni0"),
                FdbEntry(pod.veth_mac, pod.veth, master="cni0", vlan=1, permanent=True),
                FdbEntry(pod.veth_mac, pod.veth, master="cni0", permanent=True),
            ]
    return entries


def _node_fdb(idx: ClusterIndex, name: str) -> Fdb:
    snap = idx.snap
    cni = mode(snap)
    entries = [
        FdbEntry("33:33:00:00:00:01", "eth0", self_=True, permanent=True),
        FdbEntry("01:00:5e:00:00:01", "eth0", self_=True, permanent=True),
        *bridge_entries(idx, name),
    ]
    if cni.encap == "vxlan":
        for peer in idx.nodes.values():
            if peer.name != name:
                mac = overlay_mac(snap, peer) or ""
                entries.append(FdbEntry(mac, cni.overlay_dev or "", dst=peer.ip, self_=True, permanent=True))
    return Fdb(entries)


def node_neighbours(snap: Snapshot, node: str) -> NeighTable:
    idx = index(snap)
    if node not in idx.nodes:
        raise KeyError(node)
    return memo_reuse(snap, ("neigh", node), idx.node_deps(node), lambda: _node_neigh(idx, node))


def node_fdb(snap: Snapshot, node: str) -> Fdb:
    idx = index(snap)
    if node not in idx.nodes:
        raise KeyError(node)
    return memo_reuse(snap, ("fdb", node), idx.node_deps(node), lambda: _node_fdb(idx, node))


def pod_neighbour(snap: Snapshot, pod: PodInfo, ip: str) -> Neighbour | None:
    """What the pod's ARP resolves ``ip`` to on its ``eth0``: the gateway or an on-link pod."""
    idx = index(snap)
    if snap.calico:
        # Every address is reached via 169.254.1.1, which the cali veth answers by proxy ARP.
        return Neighbour(ip, "eth0", addr.CALICO_HOST_MAC, "REACHABLE") if ip == addr.CALICO_GATEWAY else None
    node = idx.nodes.get(pod.node or "")
    if node is None:
        return None
    if ip == node.gateway_ip:
        return Neighbour(ip, "eth0", node.cni0_mac, "REACHABLE")
    peer = idx.pod_by_ip.get(ip)
    if peer is not None and peer.node == pod.node and peer.mac:
        return Neighbour(ip, "eth0", peer.mac, "REACHABLE")
    return None
