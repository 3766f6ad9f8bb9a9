"""Steps outside the cluster: the node network's gateway and an external client.

The gateway (kind: the Docker bridge) routes the node network directly and a
LoadBalancer IP to the node announcing it; pod and ClusterIP addresses are not
reachable from outside, and anything else leaves the simulated network.
"""

from __future__ import annotations

from cluster.network import addressing as addr
from cluster.network import devices
from cluster.network.index import NodeInfo
from cluster.network.packet import Frame
from cluster.network.trace import Trace


class Outside(Trace):
    def underlay_to_gateway(self, frame: Frame) -> None:
        gw = devices.underlay_gateway(self.idx)
        self.hop(
            frame,
            devices.UNDERLAY,
            node=None,
            netns="underlay",
            device=None,
            action="switch",
            why=f"the node network switches the frame to the gateway {gw}",
        )
        frame.ttl -= 1
        if frame.ip_dst == addr.EXTERNAL_CLIENT_IP:
            frame.eth_src = frame.eth_dst = None
            self.hop(
                frame,
                devices.GATEWAY,
                node=None,
                netns="external",
                device=None,
                action="route",
                why=f"the gateway routes {frame.ip_dst} towards the outside world",
            )
            self.deliver_to_client(frame, devices.CLIENT, node=None, netns="external")
            return
        if addr.in_cidr(frame.ip_dst, self.snap.service_cidr):
            why = (
                f"{frame.ip_dst}:{frame.dport} is in the service CIDR but matched no KUBE-SERVICES rule; ClusterIPs "
                "are virtual (nothing owns them), so the packet followed the default route out of the cluster "
                "and is lost"
            )
        else:
            why = f"{frame.ip_dst} is outside the simulated network: the packet leaves the cluster via the gateway"
        self.drop(frame, devices.GATEWAY, node=None, netns="external", device=None, why=why)

    def start_external(self, frame: Frame) -> None:
        self.hop(
            frame,
            devices.CLIENT,
            node=None,
            netns="external",
            device=None,
            action="send",
            why=f"an external client sends a {frame.l4_proto.upper()} packet {frame.ip_src}:{frame.sport} → "
            f"{frame.ip_dst}:{frame.dport}",
        )
        gw = devices.underlay_gateway(self.idx)
        target = self.idx.node_by_ip.get(frame.ip_dst)
        how = f"{frame.ip_dst} is on the directly connected node network {self.snap.node_cidr}"
        if target is None:
            lb = self.lb_node(frame.ip_dst)
            if lb is None:
                frame.ttl -= 1
                self.drop(
                    frame,
                    devices.GATEWAY,
                    node=None,
                    netns="external",
                    device=None,
                    why=f"the gateway has no route to {frame.ip_dst}: pod and ClusterIP addresses are not "
                    "reachable from outside the cluster",
                )
            assert lb is not None
            target, how = lb
        frame.ttl -= 1
        frame.eth_src, frame.eth_dst = addr.docker_mac(gw), target.mac
        self.hop(
            frame,
            devices.GATEWAY,
            node=None,
            netns="external",
            device=None,
            action="route",
            why=f"the gateway {gw} routes it: {how}; ARP {target.ip} → {target.mac}",
        )
        self.underlay_to(target, frame, outer=False)

    def lb_node(self, ip: str) -> tuple[NodeInfo, str] | None:
        """Which node receives traffic for a LoadBalancer IP (a MetalLB-style announcement)."""
        for sp in self.idx.service_ports:
            if ip not in sp.lb_ips:
                continue
            eps = [e for e in self.idx.endpoints_for(sp) if e.ready and e.node in self.idx.nodes]
            if sp.etp_local and eps:
                chosen = self.idx.nodes[sorted(e.node for e in eps if e.node)[0]]
                why = "externalTrafficPolicy Local: only nodes with a ready local endpoint announce it"
            else:
                chosen = next(iter(self.idx.nodes.values()))
                why = "the first node announces it"
            return chosen, f"LoadBalancer IP {ip} of {sp.key} is announced by {chosen.name} ({why})"
        return None
