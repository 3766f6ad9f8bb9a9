"""CNI ADD/DEL for a pod sandbox, with host-local IPAM on the node's ``spec.podCIDR``.

flannel delegates to the ``bridge`` plugin, whose ``cni0`` bridge holds the range's first
address (.1) as the pods' gateway, and to ``host-local`` IPAM, which hands out the rest
from .2. Calico is modelled with host-local IPAM on the pod CIDR too (``"subnet":
"usePodCidr"``). The allocation is derived from the pods the kubelet can see (every
non-terminal pod on this node keeps its IP), lowest free address first, so it is the
same after a restart and never gives one address to two live pods; the kubelet keeps what it
derived between ADDs until something frees or claims an address. (Real host-local
continues after the last address it reserved, kept in a file on the node; here the
lowest free one is reused.)
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Iterable


def plugin(cni: str) -> str:
    """The CNI plugin named in the node's /etc/cni/net.d conflist."""
    return "calico" if cni.startswith("calico") else "flannel"


def gateway(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address + 1)


def range_set(cidr: str) -> str:
    """How host-local names a range in its errors: first-last usable address."""
    net = ipaddress.ip_network(cidr, strict=False)
    return f"{net.network_address + 1}-{net.broadcast_address - 1}"


def allocate(cidr: str, in_use: Iterable[str]) -> str | None:
    """The lowest free address from .2 up, leaving out the gateway, broadcast and ``in_use``."""
    taken = {as_int(ip) for ip in in_use}
    return allocate_where(cidr, taken.__contains__)


def allocate_where(cidr: str, taken: Callable[[int], bool]) -> str | None:
    """``allocate`` with the addresses in use as a test on their integer values."""
    # Compared as integers: a node with a hundred pods would otherwise format a hundred addresses.
    first, last = _bounds(cidr)
    for value in range(first, last + 1):
        if not taken(value):
            return str(ipaddress.ip_address(value))
    return None


@functools.lru_cache(maxsize=1024)
def _bounds(cidr: str) -> tuple[int, int]:
    """The range host-local hands out: from .2 (.1 is the bridge's) to the last before broadcast."""
    net = ipaddress.ip_network(cidr, strict=False)
    return int(net.network_address) + 2, int(net.broadcast_address) - 1


def as_int(ip: str) -> int:
    """An address as an integer; -1 for text that is not one."""
    try:
        return int.from_bytes(socket.inet_aton(ip), "big") if ip.count(".") == 3 else int(ipaddress.ip_address(ip))
    except (OSError, ValueError):
        return -1


def setup_error(cni: str, sandbox_id: str, cidr: str | None) -> str:
    """The CRI error RunPodSandbox returns when the network cannot be set up."""
    name = plugin(cni)
    if not cidr:
        if name == "flannel":
            detail = (
                'plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: '
                "open /run/flannel/subnet.env: no such file or directory"
            )
        else:
            detail = 'plugin type="calico" failed (add): failed to get pod CIDR: node has no spec.podCIDR'
    else:
        delegate = "failed to delegate add: " if name == "flannel" else ""
        detail = (
            f'plugin type="{name}" failed (add): {delegate}failed to allocate for range 0: '
            f"no IP addresses available in range set: {range_set(cidr)}"
        )
    return f'rpc error: code = Unknown desc = failed to setup network for sandbox "{sandbox_id}": {detail}'
