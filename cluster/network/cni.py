"""What each CNI data plane installs on a node, beyond the routes: devices and iptables rules.

* flannel (``vxlan`` and ``host-gw`` backends) hands pods to the CNI ``bridge`` plugin:
  one ``cni0`` Linux bridge per node with a veth port per pod, hairpin mode on, and
  flanneld's ``FLANNEL-POSTRTG`` / ``FLANNEL-FWD`` chains (as in flannel v0.20's
  ``MasqRules``/``ForwardRules``: masquerade pod traffic leaving the pod network and
  host traffic entering it, accept forwarding of pod traffic).  flannel implements
  no NetworkPolicy.
* calico has no bridge: each pod's host-side veth is ``cali<11 hex>``, the pod's
  default route points at ``169.254.1.1`` which the ``cali`` interface answers by
  proxy ARP, and the host routes to each local pod with a ``/32 dev cali...``
  route.  Remote blocks are learnt over BGP by BIRD (``proto bird``), either
  plain (``calico-bgp``) or over the ``tunl0`` IPIP device (``calico-ipip``);
  ``calico-vxlan`` uses Felix-programmed routes over ``vxlan.calico``.  Calico's
  outgoing NAT is ``cali-nat-outgoing``; its policy chains (``cali-fw-*``,
  ``cali-tw-*``) are evaluated by :mod:`cluster.network.netpol` rather than rendered.

Calico is modelled with host-local IPAM on the node podCIDR (``"subnet": "usePodCidr"``),
so each node's block is its podCIDR.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cluster.network import addressing as addr
from cluster.network.index import NodeInfo
from cluster.network.iptables import Rule, parse
from cluster.network.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class CniMode:
    name: str
    bridge: bool
    """Pods hang off a ``cni0`` bridge (flannel) rather than routed ``cali*`` veths (calico)."""
    overlay_dev: str | None
    encap: str | None
    """``"vxlan"``, ``"ipip"`` or ``None`` for plain routing."""
    udp_port: int | None
    vni: int | None
    route_proto: str | None
    pod_mtu: int
    enforces_policy: bool


MODES: dict[str, CniMode] = {
    "flannel-vxlan": CniMode(
        "flannel-vxlan", True, "flannel.1", "vxlan", addr.FLANNEL_VXLAN_PORT, addr.FLANNEL_VNI, None, 1450, False
    ),
    "flannel-host-gw": CniMode("flannel-host-gw", True, None, None, None, None, None, 1500, False),
    "calico-bgp": CniMode("calico-bgp", False, None, None, None, None, "bird", 1500, True),
    "calico-ipip": CniMode("calico-ipip", False, "tunl0", "ipip", None, None, "bird", 1480, True),
    "calico-vxlan": CniMode(
        "calico-vxlan", False, "vxlan.calico", "vxlan", addr.CALICO_VXLAN_PORT, addr.CALICO_VXLAN_VNI, "80", 1450, True
    ),
}


def mode(snap: Snapshot) -> CniMode:
    return MODES[snap.cni]


def overlay_mac(snap: Snapshot, node: NodeInfo) -> str | None:
    """The overlay device's MAC (VXLAN devices only; ``tunl0`` is an L3 device)."""
    if snap.cni == "flannel-vxlan":
        return node.vtep_mac
    if snap.cni == "calico-vxlan":
        return addr.calico_vxlan_mac(node.name)
    return None


def _cali_comment(chain: str, n: int) -> str:
    """Calico tags every rule ``cali:<hash>``; the hash here is of the chain and position."""
    digest = hashlib.sha224(f"{chain}/{n}".encode()).digest()
    return "cali:" + base64.urlsafe_b64encode(digest).decode()[:16]


def iptables_rules(snap: Snapshot, node: NodeInfo) -> tuple[list[Rule], list[Rule], dict[str, list[str]]]:
    """(jumps from built-in chains, rules of the CNI's own chains, table -> own chain names)."""
    cluster = snap.pod_cidr
    if snap.flannel:
        masq = "flanneld masq"
        jumps = [
            parse("nat", "POSTROUTING", ["-m", "comment", "--comment", masq, "-j", "FLANNEL-POSTRTG"], "flannel"),
            parse(
                "filter", "FORWARD", ["-m", "comment", "--comment", "flanneld forward", "-j", "FLANNEL-FWD"], "flannel"
            ),
        ]
        chain = "FLANNEL-POSTRTG"
        tail = ["-m", "comment", "--comment", masq]
        masquerade = [*tail, "-j", "MASQUERADE", "--random-fully"]
        fwd = ["-m", "comment", "--comment", "flanneld forward", "-j", "ACCEPT"]
        specs: list[tuple[str, str, list[str]]] = [
            ("nat", chain, ["-m", "mark", "--mark", "0x4000/0x4000", *tail, "-j", "RETURN"]),
            ("nat", chain, ["-s", cluster, "-d", cluster, *tail, "-j", "RETURN"]),
            ("nat", chain, ["-s", cluster, "!", "-d", "224.0.0.0/4", *masquerade]),
            ("nat", chain, ["!", "-s", cluster, "-d", node.pod_cidr, *tail, "-j", "RETURN"]),
            ("nat", chain, ["!", "-s", cluster, "-d", cluster, *masquerade]),
            ("filter", "FLANNEL-FWD", ["-s", cluster, *fwd]),
            ("filter", "FLANNEL-FWD", ["-d", cluster, *fwd]),
        ]
        rules = [parse(table, c, args, "flannel") for table, c, args in specs]
        return jumps, rules, {"nat": ["FLANNEL-POSTRTG"], "filter": ["FLANNEL-FWD"]}
    jumps = [
        parse("nat", "POSTROUTING", ["-m", "comment", "--comment", _cali_comment("POSTROUTING", 0),
                                     "-j", "cali-POSTROUTING"], "calico"),
    ]  # fmt: skip
    rules = [
        parse("nat", "cali-POSTROUTING", ["-m", "comment", "--comment", _cali_comment("cali-POSTROUTING", 0),
                                          "-j", "cali-nat-outgoing"], "calico"),
        parse("nat", "cali-nat-outgoing", ["-m", "comment", "--comment", _cali_comment("cali-nat-outgoing", 0),
                                           "-m", "set", "--match-set", "cali40masq-ipam-pools", "src",
                                           "-m", "set", "!", "--match-set", "cali40all-ipam-pools", "dst",
                                           "-j", "MASQUERADE", "--random-fully"], "calico"),
    ]  # fmt: skip
    return jumps, rules, {"nat": ["cali-POSTROUTING", "cali-nat-outgoing"]}


def ipsets(snap: Snapshot) -> dict[str, tuple[str, ...]]:
    """Calico's IPAM pool ipsets (one pool, the pod CIDR, with natOutgoing on)."""
    if not snap.calico:
        return {}
    return {"cali40masq-ipam-pools": (snap.pod_cidr,), "cali40all-ipam-pools": (snap.pod_cidr,)}
