"""Steps inside a pod's network namespace and across its veth pair.

A pod sends through its own routing table (the bridge plugin's ``default via
<cni0>``, or calico's ``default via 169.254.1.1``) and ARP, out of ``eth0``, and the
frame appears on the host end of the veth; loopback traffic (to ``127.0.0.1`` or
the pod's own IP) never leaves the namespace, which all of a pod's containers share.
"""

from __future__ import annotations

from cluster.network import devices
from cluster.network.index import PodInfo
from cluster.network.neighbours import pod_neighbour
from cluster.network.packet import Frame
from cluster.network.routes import is_loopback, pod_routes
from cluster.network.trace import Trace


class PodSide(Trace):
    def start_pod(self, pod: PodInfo, frame: Frame) -> None:
        ns = pod.key
        frame.eth_src = frame.eth_dst = None
        what = "the reply" if self.phase == "reply" else f"a {frame.l4_proto.upper()} packet"
        if is_loopback(frame.ip_dst) or frame.ip_dst == pod.ip:
            frame.ip_src = frame.ip_dst if is_loopback(frame.ip_dst) else frame.ip_src
            self.hop(
                frame,
                devices.pod_ns(ns),
                node=pod.node,
                netns=ns,
                device=None,
                action="send",
                why=f"a socket in {ns} sends {what} to {frame.ip_dst}:{frame.dport}; the local table has "
                f"'local {frame.ip_dst}', so it never leaves the network namespace",
            )
            self.hop(
                frame,
                devices.pod_dev(ns, "lo"),
                node=pod.node,
                netns=ns,
                device="lo",
                action="loopback",
                why="looped back through lo: every container of a pod shares this network namespace",
            )
            self.deliver_pod(pod, frame, via_lo=True)
            return
        table = pod_routes(self.snap, pod)
        route = table.lookup(frame.ip_dst)
        self.hop(
            frame,
            devices.pod_ns(ns),
            node=pod.node,
            netns=ns,
            device=None,
            action="send",
            why=f"a socket in {ns} sends {what} {frame.ip_src}:{frame.sport} → {frame.ip_dst}:{frame.dport}; "
            f"route: {route.text() if route else 'none'}",
            route=route.as_dict() if route else None,
        )
        if route is None:
            self.drop(frame, devices.pod_ns(ns), node=pod.node, netns=ns, device=None, why="no route in the pod")
        assert route is not None
        nexthop = route.via or frame.ip_dst
        neigh = pod_neighbour(self.snap, pod, nexthop)
        if neigh is None:
            self.drop(
                frame,
                devices.pod_dev(ns, "eth0"),
                node=pod.node,
                netns=ns,
                device="eth0",
                why=f"ARP for {nexthop} on eth0 gets no answer (INCOMPLETE): no pod has that address",
            )
        assert neigh is not None
        frame.eth_src, frame.eth_dst = pod.mac, neigh.mac
        how = "proxy ARP answer from the cali veth" if self.snap.calico else "ARP"
        self.hop(
            frame,
            devices.pod_dev(ns, "eth0"),
            node=pod.node,
            netns=ns,
            device="eth0",
            action="transmit",
            why=f"next hop {nexthop}, resolved by {how}: {neigh.text()}",
            neighbour=neigh.as_dict(),
        )
        self.veth_to_host(pod, frame)

    def veth_to_host(self, pod: PodInfo, frame: Frame) -> None:
        node = str(pod.node)
        peer = "a port of cni0" if self.cni.bridge else "routed by the host (no bridge)"
        self.hop(
            frame,
            devices.node_dev(node, pod.veth),
            node=node,
            netns="root",
            device=pod.veth,
            action="veth",
            why=f"veth pair: {pod.key}'s eth0 comes out as {pod.veth} in {node}'s root namespace, {peer}",
        )
        if self.cni.bridge:
            self.bridge_in(node, pod.veth, frame)
        else:
            self.ip_rcv(self.idx.nodes[node], pod.veth, frame)

    def veth_to_pod(self, pod: PodInfo, frame: Frame, via_bridge: bool) -> None:
        node = str(pod.node)
        if via_bridge:
            self.hop(
                frame,
                devices.node_dev(node, pod.veth),
                node=node,
                netns="root",
                device=pod.veth,
                action="veth",
                why=f"{pod.veth} is the host end of {pod.key}'s veth pair",
            )
        self.hop(
            frame,
            devices.pod_dev(pod.key, "eth0"),
            node=node,
            netns=pod.key,
            device="eth0",
            action="receive",
            why=f"the frame for {frame.eth_dst} arrives on {pod.key}'s eth0",
        )
        if frame.ip_dst != pod.ip:
            self.drop(
                frame,
                devices.pod_dev(pod.key, "eth0"),
                node=node,
                netns=pod.key,
                device="eth0",
                why=f"{frame.ip_dst} is not an address of {pod.key}",
            )
        self.deliver_pod(pod, frame, via_lo=False)

    def deliver_pod(self, pod: PodInfo, frame: Frame, via_lo: bool) -> None:
        ns = pod.key
        if self.phase == "reply" or frame.icmp is not None:
            self.deliver_to_client(frame, devices.pod_ns(ns), node=pod.node, netns=ns)
            return
        ports = [p for p in pod.ports if p.port == frame.dport and p.protocol.lower() == frame.proto]
        if ports:
            who = ", ".join(
                f"container {p.container} ({p.name + ' ' if p.name else ''}{p.port}/{p.protocol})" for p in ports
            )
            listener = f"delivered to {who}"
        else:
            listener = (
                f"delivered to {frame.ip_dst}:{frame.dport}; no container declares {frame.dport}/"
                f"{frame.proto.upper()}, so some process in the namespace must be listening"
            )
        extra = " over the shared loopback" if via_lo else ""
        self.hop(
            frame, devices.pod_ns(ns), node=pod.node, netns=ns, device=None, action="deliver", why=listener + extra
        )
        self.delivered_to = {"kind": "pod", "pod": ns, "node": pod.node, "ip": frame.ip_dst, "port": frame.dport}
        self.finish("delivered", f"delivered to {ns} ({frame.ip_dst}:{frame.dport})")

    def deliver_to_client(self, frame: Frame, graph_node: str, *, node: str | None, netns: str) -> None:
        if frame.icmp is not None:
            why = f"ICMP {frame.icmp['text']} reaches the client: connect() to the service fails with ECONNREFUSED"
        else:
            why = f"the reply from {frame.ip_src}:{frame.sport} reaches the client socket {frame.ip_dst}:{frame.dport}"
            if self.client and (frame.ip_dst, frame.dport) != self.client:
                self.drop(
                    frame,
                    graph_node,
                    node=node,
                    netns=netns,
                    device=None,
                    why=f"reply for {frame.ip_dst}:{frame.dport} matches no socket (expected {self.client})",
                )
        self.hop(frame, graph_node, node=node, netns=netns, device=None, action="deliver", why=why)
        self.finish("delivered", why)
