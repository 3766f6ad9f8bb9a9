"""The service registry's allocators: ClusterIPs from the service CIDR and NodePorts from 30000-32767.

Choices come from a generator seeded by the cluster seed and the Service's key, so a replay allocates the same.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Iterable

NODE_PORT_RANGE = (30000, 32767)


class AllocationError(Exception):
    pass


def cluster_ip(service_cidr: str, taken: Iterable[str], seed: int, key: str, requested: str | None = None) -> str:
    net = ipaddress.ip_network(service_cidr)
    used = set(taken)
    if requested:
        try:
            ip = ipaddress.ip_address(requested)
        except ValueError as exc:
            raise AllocationError(f"failed to allocate IP {requested}: not a valid IP") from exc
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise AllocationError(
                f"failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. "
                f"The range of valid IPs is {service_cidr}"
            )
        if requested in used:
            raise AllocationError(f"failed to allocate IP {requested}: provided IP is already allocated")
        return requested
    size = net.num_addresses - 2
    # Upstream keeps a lower band for static IPs (size/16, within 16..256) and allocates dynamically above it.
    band = min(max(16, size // 16), 256) if size >= 16 else 0
    rng = random.Random(f"{seed}/clusterip/{key}")
    upper = size - band
    start = rng.randrange(upper)
    offsets = itertools.chain((band + (start + i) % upper for i in range(upper)), range(band))
    for offset in offsets:
        candidate = str(net.network_address + 1 + offset)
        if candidate not in used:
            return candidate
    raise AllocationError("failed to allocate a serviceIP: range is full")


def node_port(taken: Iterable[int], seed: int, key: str, requested: int | None = None) -> int:
    low, high = NODE_PORT_RANGE
    used = set(taken)
    if requested:
        if not low <= requested <= high:
            raise AllocationError(f"provided port is not in the valid range. The range of valid ports is {low}-{high}")
        if requested in used:
            raise AllocationError("provided port is already allocated")
        return requested
    size = high - low + 1
    rng = random.Random(f"{seed}/nodeport/{key}")
    start = rng.randrange(size)
    for i in range(size):
        candidate = low + (start + i) % size
        if candidate not in used:
            return candidate
    raise AllocationError("range is full")
