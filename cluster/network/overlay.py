"""Steps on the node network: ``eth0``, the underlay segment, and VXLAN / IPIP tunnels.

VXLAN (``flannel.1``, ``vxlan.calico``): the permanent neighbour entry gives the
peer's VTEP MAC, the VXLAN FDB gives the peer node's IP, and the kernel wraps the
inner frame in outer Ethernet/IP/UDP (8472 for flannel, 4789 for calico) with the
VNI.  IPIP (``tunl0``): an outer IP header, protocol 4, no inner Ethernet.
"""

from __future__ import annotations

from cluster.network import devices
from cluster.network.cni import overlay_mac
from cluster.network.index import NodeInfo
from cluster.network.neighbours import node_fdb, node_neighbours
from cluster.network.packet import Frame
from cluster.network.routes import node_routes
from cluster.network.trace import Trace


class Overlay(Trace):
    def vxlan_encap(self, info: NodeInfo, dev: str, nexthop: str, frame: Frame) -> None:
        node = info.name
        neigh = node_neighbours(self.snap, node).lookup(nexthop, dev)
        if neigh is None or neigh.mac is None:
            self.drop(
                frame,
                devices.node_dev(node, dev),
                node=node,
                netns="root",
                device=dev,
                why=f"no neighbour entry for {nexthop} on {dev}",
            )
        assert neigh is not None and neigh.mac is not None
        fdb = node_fdb(self.snap, node).lookup(dev, neigh.mac)
        if fdb is None or fdb.dst is None:
            self.drop(
                frame,
                devices.node_dev(node, dev),
                node=node,
                netns="root",
                device=dev,
                why=f"no VXLAN FDB entry for {neigh.mac}",
            )
        assert fdb is not None and fdb.dst is not None
        frame.eth_src, frame.eth_dst = overlay_mac(self.snap, info), neigh.mac
        port, vni = self.cni.udp_port, self.cni.vni
        frame.outer = {
            "eth": None,
            "ip": {"src": info.ip, "dst": fdb.dst, "proto": "udp", "ttl": 64},
            "udp": {"sport": self.vxlan_sport(frame), "dport": port},
            "vxlan": {"vni": vni},
        }
        self.hop(
            frame,
            devices.node_dev(node, dev),
            node=node,
            netns="root",
            device=dev,
            action="encap",
            why=f"VXLAN encapsulation: neighbour {neigh.text()} (written by {self._owner()}); VXLAN FDB "
            f"{fdb.text()} → outer IP {info.ip} → {fdb.dst}, UDP dport {port}, VNI {vni}",
            neighbour=neigh.as_dict(),
            fdb=fdb.as_dict(),
        )
        self.outer_eth0_out(info, fdb.dst, frame)

    def _owner(self) -> str:
        return "flanneld" if self.snap.flannel else "calico-node"

    def ipip_encap(self, info: NodeInfo, nexthop: str, frame: Frame) -> None:
        node = info.name
        frame.eth_src = frame.eth_dst = None
        frame.outer = {
            "eth": None,
            "ip": {"src": info.ip, "dst": nexthop, "proto": "ipip", "ttl": frame.ttl},
            "udp": None,
            "vxlan": None,
        }
        self.hop(
            frame,
            devices.node_dev(node, "tunl0"),
            node=node,
            netns="root",
            device="tunl0",
            action="encap",
            why=f"IPIP encapsulation on tunl0: outer IP {info.ip} → {nexthop}, protocol 4 (no inner Ethernet; "
            "TTL inherited)",
        )
        self.outer_eth0_out(info, nexthop, frame)

    def outer_eth0_out(self, info: NodeInfo, dst: str, frame: Frame) -> None:
        node = info.name
        route = node_routes(self.snap, node).lookup(dst)
        neigh = node_neighbours(self.snap, node).lookup(dst, "eth0")
        if neigh is None or route is None:
            self.drop(
                frame,
                devices.node_dev(node, "eth0"),
                node=node,
                netns="root",
                device="eth0",
                why=f"ARP for {dst} on eth0 gets no answer",
            )
        assert neigh is not None and route is not None and frame.outer is not None
        frame.outer["eth"] = {"src": info.mac, "dst": neigh.mac, "type": "IPv4"}
        self.hop(
            frame,
            devices.node_dev(node, "eth0"),
            node=node,
            netns="root",
            device="eth0",
            action="transmit",
            why=f"the encapsulated packet is routed ({route.text()}) and sent to {neigh.text()}",
            neighbour=neigh.as_dict(),
        )
        peer = self.idx.node_by_ip.get(dst)
        if peer is None:
            self.drop(frame, devices.UNDERLAY, node=None, netns="underlay", device=None, why=f"no node has {dst}")
        assert peer is not None
        self.underlay_to(peer, frame, outer=True)

    def eth0_out(self, info: NodeInfo, nexthop: str, frame: Frame) -> None:
        node = info.name
        neigh = node_neighbours(self.snap, node).lookup(nexthop, "eth0")
        if neigh is None:
            self.drop(
                frame,
                devices.node_dev(node, "eth0"),
                node=node,
                netns="root",
                device="eth0",
                why=f"ARP for {nexthop} on eth0 gets no answer (INCOMPLETE)",
            )
        assert neigh is not None
        frame.eth_src, frame.eth_dst = info.mac, neigh.mac
        peer = self.idx.node_by_ip.get(nexthop)
        target = f"node {peer.name}" if peer else "the node network's gateway"
        self.hop(
            frame,
            devices.node_dev(node, "eth0"),
            node=node,
            netns="root",
            device="eth0",
            action="transmit",
            why=f"sent on the node network to {target}: neighbour {neigh.text()}"
            + (" (routed, not encapsulated)" if peer and self.idx.pod_by_ip.get(frame.ip_dst) else ""),
            neighbour=neigh.as_dict(),
        )
        if peer is not None:
            self.underlay_to(peer, frame, outer=False)
        else:
            self.underlay_to_gateway(frame)

    def underlay_to(self, peer: NodeInfo, frame: Frame, outer: bool) -> None:
        mac = frame.outer["eth"]["dst"] if outer and frame.outer else frame.eth_dst
        self.hop(
            frame,
            devices.UNDERLAY,
            node=None,
            netns="underlay",
            device=None,
            action="switch",
            why=f"the node network ({self.snap.node_cidr}) switches the frame for {mac} to {peer.name}",
        )
        self.eth0_rcv(peer, frame)

    def eth0_rcv(self, info: NodeInfo, frame: Frame) -> None:
        node = info.name
        outer = frame.outer
        if outer is None:
            self.hop(
                frame,
                devices.node_dev(node, "eth0"),
                node=node,
                netns="root",
                device="eth0",
                action="receive",
                why=f"{node}'s eth0 receives the frame for {frame.eth_dst}",
            )
            self.ip_rcv(info, "eth0", frame)
            return
        if outer["ip"]["dst"] != info.ip:
            self.drop(
                frame,
                devices.node_dev(node, "eth0"),
                node=node,
                netns="root",
                device="eth0",
                why=f"outer destination {outer['ip']['dst']} is not {node}",
            )
        if outer.get("vxlan"):
            self.hop(
                frame,
                devices.node_dev(node, "eth0"),
                node=node,
                netns="root",
                device="eth0",
                action="receive",
                why=f"UDP {outer['udp']['dport']} to {info.ip}: handed to the VXLAN socket of {self.cni.overlay_dev}",
            )
            dev = str(self.cni.overlay_dev)
            frame.outer = None
            self.hop(
                frame,
                devices.node_dev(node, dev),
                node=node,
                netns="root",
                device=dev,
                action="decap",
                why=f"VXLAN decapsulation: VNI {outer['vxlan']['vni']} matches {dev}; the outer headers are "
                f"stripped and the inner frame (to {frame.eth_dst}, {dev}'s own MAC) enters the IP stack",
            )
        else:
            self.hop(
                frame,
                devices.node_dev(node, "eth0"),
                node=node,
                netns="root",
                device="eth0",
                action="receive",
                why=f"IP protocol 4 (IPIP) to {info.ip}: handed to tunl0",
            )
            dev = "tunl0"
            frame.outer = None
            self.hop(
                frame,
                devices.node_dev(node, dev),
                node=node,
                netns="root",
                device=dev,
                action="decap",
                why="IPIP decapsulation: the outer IP header is stripped; the inner packet enters the IP stack",
            )
        self.ip_rcv(info, dev, frame)
