"""Steps on the ``cni0`` Linux bridge (flannel's delegate, the CNI bridge plugin).

A frame for another port's MAC is switched by the FDB (hairpin mode lets it go
back out of the port it came from); a frame for ``cni0``'s own MAC goes up to the
host's IP stack.  With ``bridge-nf-call-iptables=1`` bridged frames still pass
conntrack and iptables (br_netfilter), which is how a reply bridged between two
pods of the same node still gets un-DNATed.
"""

from __future__ import annotations

from cluster.network import conntrack, devices, netfilter
from cluster.network.index import NodeInfo
from cluster.network.neighbours import node_fdb
from cluster.network.packet import Frame
from cluster.network.trace import Trace


class BridgeSide(Trace):
    def bridge_in(self, node: str, in_port: str, frame: Frame) -> None:
        info = self.idx.nodes[node]
        if frame.eth_dst == info.cni0_mac:
            self.hop(
                frame,
                devices.node_dev(node, "cni0"),
                node=node,
                netns="root",
                device="cni0",
                action="bridge-local",
                why=f"destination MAC {frame.eth_dst} is cni0's own address: the bridge hands the frame "
                "up to the host's IP stack",
            )
            self.ip_rcv(info, "cni0", frame)
            return
        info = self.idx.nodes[node]
        entry = node_fdb(self.snap, node).lookup("cni0", str(frame.eth_dst))
        if entry is None:
            self.drop(
                frame,
                devices.node_dev(node, "cni0"),
                node=node,
                netns="root",
                device="cni0",
                why=f"no FDB entry for {frame.eth_dst} on cni0",
            )
        assert entry is not None
        self.bridge_netfilter(info, in_port, entry.dev, frame)
        hairpin = " (hairpin: back out of the port it came in on)" if entry.dev == in_port else ""
        self.hop(
            frame,
            devices.node_dev(node, "cni0"),
            node=node,
            netns="root",
            device="cni0",
            action="bridge-forward",
            why=f"FDB: {frame.eth_dst} on port {entry.dev}{hairpin}; bridged at L2, no routing and no overlay",
            fdb=entry.as_dict(),
        )
        pod = self.node_of_veth(node, entry.dev)
        assert pod is not None
        self.veth_to_pod(pod, frame, via_bridge=True)

    def bridge_netfilter(self, info: NodeInfo, in_port: str, out_port: str, frame: Frame) -> None:
        """br_netfilter: with ``bridge-nf-call-iptables=1`` (which kube-proxy needs) bridged frames
        still pass conntrack and the iptables hooks, so a bridged reply is un-NATed here."""
        node = info.name
        state, entry = self.ct_state(node, frame)
        if entry is not None:
            before = f"{frame.ip_src}:{frame.sport} → {frame.ip_dst}:{frame.dport}"
            if entry.snat:
                frame.ip_dst, frame.dport = entry.orig[0], entry.orig[2]
            if entry.dnat:
                frame.ip_src, frame.sport = entry.orig[1], entry.orig[3]
            entry.replied = True
            if entry.snat or entry.dnat:
                self.hop(
                    frame,
                    devices.node_dev(node, "cni0"),
                    node=node,
                    netns="root",
                    device="cni0",
                    action="un-dnat",
                    why=f"br_netfilter: the reply is bridged straight from {in_port} to {out_port}, but with "
                    "bridge-nf-call-iptables=1 it still passes conntrack, which matches the entry made for the "
                    f"request and rewrites {before} → {frame.ip_src}:{frame.sport} → {frame.ip_dst}:{frame.dport}",
                    conntrack=entry.as_dict(),
                )
            return
        if state != "NEW":
            return
        tables = netfilter.node_tables(self.snap, node)
        v = netfilter.run(
            tables, "filter", "FORWARD", self.nf_packet(frame, state, "cni0", "cni0"), self.nf_context(node)
        )
        self.filter_verdict(info, frame, v, "FORWARD (br_netfilter)", in_dev=None)
        self.ct.add(
            conntrack.Entry(
                node=node,
                proto=frame.proto,
                orig=frame.tuple4(),
                reply=(frame.ip_dst, frame.ip_src, frame.dport, frame.sport),
            )
        )
