"""The walk's recorder and the helpers every step shares; steps live in the concept modules.

A walk is run by :class:`cluster.network.datapath.Datapath`, which combines the steps
of :mod:`~cluster.network.podside` (a pod's own namespace and veth),
:mod:`~cluster.network.bridge` (``cni0``), :mod:`~cluster.network.ipstack` (a node's
IP layer: netfilter, routing, conntrack, calico policy), :mod:`~cluster.network.overlay`
(``eth0``, VXLAN and IPIP) and :mod:`~cluster.network.outside` (the gateway and the
external client).  Each step records a hop at the graph node where it happens.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from cluster.network import addressing as addr
from cluster.network import conntrack, netfilter, netpol
from cluster.network.cni import CniMode, ipsets, mode
from cluster.network.index import ClusterIndex, NodeInfo, PodInfo, index
from cluster.network.packet import Frame
from cluster.network.routes import is_loopback, node_local_addresses
from cluster.network.snapshot import Snapshot

MAX_HOPS = 200


class Stop(Exception):
    """Raised to end the walk at a terminal hop (delivered, dropped or rejected)."""


class Trace:
    """Walks one packet; ``hops`` accumulates, ``verdict``/``reason`` are set when it ends."""

    def __init__(self, snap: Snapshot, rng: random.Random, ct: conntrack.Table, phase: str = "request") -> None:
        self.snap = snap
        self.idx: ClusterIndex = index(snap)
        self.cni: CniMode = mode(snap)
        self.rng = rng
        self.ct = ct
        self.phase = phase
        self.hops: list[dict[str, Any]] = []
        self.verdict = ""
        self.reason = ""
        self.endpoint: dict[str, Any] | None = None
        self.delivered_to: dict[str, Any] | None = None
        self.rejected_at: dict[str, Any] | None = None
        self.policy: list[dict[str, Any]] = []
        self.client: tuple[str, int | None] | None = None
        """For a reply: the (ip, port) of the socket that sent the request."""

    def hop(
        self,
        frame: Frame,
        graph_node: str,
        *,
        node: str | None,
        netns: str,
        device: str | None,
        action: str,
        why: str,
        rule: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        if len(self.hops) >= MAX_HOPS:
            raise RuntimeError("walk exceeded the hop limit (routing loop?)")
        self.hops.append(
            {
                "step": len(self.hops) + 1,
                "node": node,
                "netns": netns,
                "device": device,
                "graph_node": graph_node,
                "action": action,
                "why": why,
                "rule": rule,
                "headers": frame.headers(),
                **extra,
            }
        )

    def finish(self, verdict: str, reason: str) -> None:
        self.verdict, self.reason = verdict, reason
        raise Stop

    def drop(
        self,
        frame: Frame,
        graph_node: str,
        *,
        node: str | None,
        netns: str,
        device: str | None,
        why: str,
        rule: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.hop(frame, graph_node, node=node, netns=netns, device=device, action="drop", why=why, rule=rule, **extra)
        self.finish("dropped", why)

    def node_of_veth(self, node: str, dev: str) -> PodInfo | None:
        for pod in self.idx.bridge_pods_on(node):
            if pod.veth == dev:
                return pod
        return None

    def is_local(self, node: str, ip: str) -> bool:
        return is_loopback(ip) or ip in node_local_addresses(self.idx, node)

    def dev_address(self, node: NodeInfo, dev: str) -> str:
        """The source address MASQUERADE or an ICMP error picks for ``dev`` (its primary address)."""
        for ip, d in node_local_addresses(self.idx, node.name).items():
            if d == dev:
                return ip
        return node.ip  # cali* veths carry no address: the kernel falls back to the node's

    def peer_for(self, ip: str) -> netpol.Peer:
        pod = self.idx.pod_by_ip.get(ip)
        owner = self.idx.node_by_ip.get(ip)
        if owner is None:
            holder = self.idx.node_for_pod_ip(ip)
            if holder is not None and ip in (holder.overlay_ip, holder.gateway_ip):
                owner = holder
        return netpol.Peer(ip=ip, pod=pod, node=owner.name if owner else None)

    def nf_context(self, node: str) -> netfilter.Context:
        return netfilter.Context(is_local=lambda ip: self.is_local(node, ip), rng=self.rng, sets=ipsets(self.snap))

    def nf_packet(
        self, frame: Frame, ctstate: str, in_iface: str | None, out_iface: str | None, mark: int = 0
    ) -> netfilter.Packet:
        return netfilter.Packet(
            src=frame.ip_src,
            dst=frame.ip_dst,
            proto=frame.l4_proto,
            sport=frame.sport,
            dport=frame.dport,
            in_iface=in_iface,
            out_iface=out_iface,
            mark=mark,
            ctstate=frozenset(ctstate.split(",")),
        )

    def vxlan_sport(self, frame: Frame) -> int:
        """The kernel hashes the inner flow into the ephemeral range (``udp_flow_src_port``)."""
        low, high = addr.EPHEMERAL_PORTS
        key = f"{frame.ip_src}|{frame.ip_dst}|{frame.l4_proto}|{frame.sport}|{frame.dport}".encode()
        return low + int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % (high - low + 1)

    # Steps one concept module calls in another (defined there; see Datapath).

    def ip_rcv(self, info: NodeInfo, in_dev: str, frame: Frame) -> None:
        raise NotImplementedError

    def ct_state(self, node: str, frame: Frame) -> tuple[str, conntrack.Entry | None]:
        raise NotImplementedError

    def filter_verdict(self, info: NodeInfo, frame: Frame, v: netfilter.Verdict, hook: str, in_dev: str | None) -> None:
        raise NotImplementedError

    def bridge_in(self, node: str, in_port: str, frame: Frame) -> None:
        raise NotImplementedError

    def veth_to_pod(self, pod: PodInfo, frame: Frame, via_bridge: bool) -> None:
        raise NotImplementedError

    def deliver_to_client(self, frame: Frame, graph_node: str, *, node: str | None, netns: str) -> None:
        raise NotImplementedError

    def vxlan_encap(self, info: NodeInfo, dev: str, nexthop: str, frame: Frame) -> None:
        raise NotImplementedError

    def ipip_encap(self, info: NodeInfo, nexthop: str, frame: Frame) -> None:
        raise NotImplementedError

    def eth0_out(self, info: NodeInfo, nexthop: str, frame: Frame) -> None:
        raise NotImplementedError

    def underlay_to(self, peer: NodeInfo, frame: Frame, outer: bool) -> None:
        raise NotImplementedError

    def underlay_to_gateway(self, frame: Frame) -> None:
        raise NotImplementedError
