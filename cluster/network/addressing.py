"""Addresses, MACs and interface names, derived the way the real software derives them.

Real clusters get most of these from deterministic rules, which is what lets a
student predict them:

* the CNI ``bridge`` plugin (flannel's delegate) gives a pod's ``eth0`` the MAC
  ``0a:58:`` + the four IP bytes, and ``cni0`` the same from its gateway IP;
* Docker (and so kind) gives a node's ``eth0`` ``02:42:`` + the four IP bytes;
* calico names the host end of a pod's veth ``cali`` + the first 11 hex digits of
  ``sha1("<namespace>.<pod>")`` and gives every ``cali*`` interface the MAC
  ``ee:ee:ee:ee:ee:ee``, answering the pod's ARP for ``169.254.1.1`` by proxy ARP;
* flannel publishes its VTEP MAC in the node annotation
  ``flannel.alpha.coreos.com/backend-data``.

Where the real value is random (a bridge-plugin veth name or MAC, calico's pod MAC,
a VTEP MAC not yet published), a stable locally administered value is derived from
a name instead, so the model stays a pure function of the snapshot.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from typing import Any

CALICO_GATEWAY = "169.254.1.1"
CALICO_HOST_MAC = "ee:ee:ee:ee:ee:ee"
EXTERNAL_CLIENT_IP = "203.0.113.10"
"""The external client (TEST-NET-3): somewhere beyond the node network's gateway."""
FLANNEL_BACKEND_DATA = "flannel.alpha.coreos.com/backend-data"
FLANNEL_VXLAN_PORT = 8472
"""Linux's historical VXLAN port, which flannel keeps as its default."""
FLANNEL_VNI = 1
CALICO_VXLAN_PORT = 4789
CALICO_VXLAN_VNI = 4096
CLUSTER_DOMAIN = "cluster.local"
EPHEMERAL_PORTS = (32768, 60999)
"""``net.ipv4.ip_local_port_range``'s default, used for client and VXLAN source ports."""


@functools.lru_cache(maxsize=65536)
def ip_int(ip: str) -> int:
    """The address as an int; cached, since walks and lookups convert the same few addresses again and again."""
    return int(ipaddress.IPv4Address(ip))


def int_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


@functools.lru_cache(maxsize=65536)
def network(cidr: str) -> ipaddress.IPv4Network:
    """The network (immutable, so cached: every node's routing table names every podCIDR)."""
    return ipaddress.IPv4Network(cidr, strict=False)


def in_cidr(ip: str, cidr: str) -> bool:
    return ipaddress.IPv4Address(ip) in network(cidr)


def nth_host(cidr: str, n: int) -> str:
    """The address ``n`` past the network address (``n=0`` is the network address)."""
    net = network(cidr)
    return str(net.network_address + n)


def mac_from_ip(prefix: tuple[int, int], ip: str) -> str:
    """``prefix`` + the four IP bytes, the CNI bridge plugin's and Docker's scheme."""
    octets = ip_int(ip).to_bytes(4, "big")
    return ":".join(f"{b:02x}" for b in (*prefix, *octets))


def pod_bridge_mac(ip: str) -> str:
    """A bridge-plugin pod's ``eth0`` (and ``cni0``, from its gateway IP): ``0a:58:`` + IP."""
    return mac_from_ip((0x0A, 0x58), ip)


def docker_mac(ip: str) -> str:
    """A kind node's ``eth0``, and the Docker bridge gateway: ``02:42:`` + IP."""
    return mac_from_ip((0x02, 0x42), ip)


def stable_mac(name: str) -> str:
    """A locally administered unicast MAC derived from ``name`` (stands in for a random one)."""
    raw = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def calico_veth_name(namespace: str, pod: str) -> str:
    """Calico's ``VethNameForWorkload``: ``cali`` + sha1("<ns>.<pod>")[:11]."""
    return "cali" + hashlib.sha1(f"{namespace}.{pod}".encode()).hexdigest()[:11]


def bridge_veth_name(namespace: str, pod: str) -> str:
    """The bridge plugin names the host end ``veth`` + 8 random hex digits; derived here."""
    return "veth" + hashlib.sha1(f"{namespace}/{pod}".encode()).hexdigest()[:8]


def flannel_vtep_mac(node: dict[str, Any]) -> str:
    """``flannel.1``'s MAC: the published VtepMAC, or a stable stand-in from the node name."""
    meta = node.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(FLANNEL_BACKEND_DATA)
    if raw:
        try:
            data = json.loads(raw)
            mac = str(data.get("VtepMAC") or "").lower()
            if mac.count(":") == 5:
                return mac
        except (ValueError, AttributeError):
            pass
    return stable_mac("flannel.1/" + str(meta.get("name", "")))


def calico_vxlan_mac(node_name: str) -> str:
    """Calico picks ``vxlan.calico``'s MAC at random and stores it on its Node; derived here."""
    return stable_mac("vxlan.calico/" + node_name)
