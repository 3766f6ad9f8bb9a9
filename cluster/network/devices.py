"""The network devices of nodes and pods, and the ids that name them in the graph.

Ids are paths, so an animation can tell a node's root namespace (``node/<n>``)
from one of its devices (``node/<n>/cni0``) and a pod's namespace
(``pod/<ns>/<name>``) from its ``eth0`` (``pod/<ns>/<name>/eth0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.network import addressing as addr
from cluster.network.cni import mode, overlay_mac
from cluster.network.index import ClusterIndex, NodeInfo, PodInfo

UNDERLAY = "net/underlay"
GATEWAY = "ext/gateway"
CLIENT = "ext/client"


def node_ns(node: str) -> str:
    return f"node/{node}"


def node_dev(node: str, dev: str) -> str:
    return f"node/{node}/{dev}"


def pod_ns(key: str) -> str:
    return f"pod/{key}"


def pod_dev(key: str, dev: str) -> str:
    return f"pod/{key}/{dev}"


def svc_id(key: str) -> str:
    return f"svc/{key}"


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    name: str
    type: str
    """``loopback``, ``ethernet``, ``bridge``, ``veth``, ``vxlan`` or ``ipip``."""
    netns: str
    node: str | None
    mac: str | None
    addresses: tuple[str, ...]
    mtu: int
    attrs: dict[str, Any] = field(default_factory=dict)


def underlay_gateway(idx: ClusterIndex) -> str:
    """The node network's router (kind: the Docker bridge), its first host address."""
    return addr.nth_host(idx.snap.node_cidr, 1)


def node_devices(idx: ClusterIndex, node: NodeInfo) -> list[Device]:
    """The root namespace's devices: ``lo``, ``eth0``, ``cni0``, the overlay device, host veths."""
    snap = idx.snap
    cni = mode(snap)
    ns = node_ns(node.name)
    prefix = addr.network(snap.node_cidr).prefixlen
    devs = [
        Device(node_dev(node.name, "lo"), "lo", "loopback", ns, node.name, None, ("127.0.0.1/8",), 65536),
        Device(
            node_dev(node.name, "eth0"), "eth0", "ethernet", ns, node.name, node.mac, (f"{node.ip}/{prefix}",), 1500
        ),
    ]
    if idx.has_cni0(node.name):
        plen = addr.network(node.pod_cidr).prefixlen
        devs.append(
            Device(
                node_dev(node.name, "cni0"),
                "cni0",
                "bridge",
                ns,
                node.name,
                node.cni0_mac,
                (f"{node.gateway_ip}/{plen}",),
                cni.pod_mtu,
            )
        )
    if cni.overlay_dev:
        attrs: dict[str, Any] = {"encap": cni.encap, "local": node.ip, "dev": "eth0"}
        if cni.encap == "vxlan":
            attrs.update({"vni": cni.vni, "dstport": cni.udp_port, "learning": False})
        devs.append(
            Device(
                node_dev(node.name, cni.overlay_dev),
                cni.overlay_dev,
                cni.encap or "",
                ns,
                node.name,
                overlay_mac(snap, node),
                (f"{node.overlay_ip}/32",),
                1480 if cni.encap == "ipip" else 1450,
                attrs,
            )
        )
    for pod in idx.bridge_pods_on(node.name):
        devs.append(
            Device(
                node_dev(node.name, pod.veth),
                pod.veth,
                "veth",
                ns,
                node.name,
                pod.veth_mac,
                (),
                cni.pod_mtu,
                {
                    "peer": pod_dev(pod.key, "eth0"),
                    "pod": pod.key,
                    "master": "cni0" if cni.bridge else None,
                    "proxy_arp": not cni.bridge,
                    "hairpin": cni.bridge,
                },
            )
        )
    return devs


def pod_devices(idx: ClusterIndex, pod: PodInfo) -> list[Device]:
    cni = mode(idx.snap)
    ns = pod_ns(pod.key)
    node = idx.nodes.get(pod.node or "")
    plen = 32 if not cni.bridge or node is None else addr.network(node.pod_cidr).prefixlen
    return [
        Device(pod_dev(pod.key, "lo"), "lo", "loopback", ns, pod.node, None, ("127.0.0.1/8",), 65536),
        Device(
            pod_dev(pod.key, "eth0"),
            "eth0",
            "veth",
            ns,
            pod.node,
            pod.mac,
            (f"{pod.ip}/{plen}",),
            cni.pod_mtu,
            {"peer": node_dev(pod.node or "", pod.veth)},
        ),
    ]
