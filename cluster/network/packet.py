"""The packet being walked: inner Ethernet/IP/L4 headers plus outer headers while tunnelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Frame:
    ip_src: str
    ip_dst: str
    proto: str
    sport: int | None
    dport: int | None
    ttl: int = 64
    eth_src: str | None = None
    eth_dst: str | None = None
    flags: str | None = None
    """TCP flags of the packet walked: ``SYN`` for a request, ``SYN,ACK`` for its reply."""
    icmp: dict[str, Any] | None = None
    """Set when the packet is an ICMP error (a REJECT's answer)."""
    outer: dict[str, Any] | None = None
    """``{"eth", "ip", "udp", "vxlan"}`` while encapsulated, else ``None``."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def l4_proto(self) -> str:
        return "icmp" if self.icmp is not None else self.proto

    def tuple4(self) -> tuple[str, str, int | None, int | None]:
        return (self.ip_src, self.ip_dst, self.sport, self.dport)

    def headers(self) -> dict[str, Any]:
        """A JSON-ready copy of every header as the packet leaves the current hop."""
        eth = None
        if self.eth_src or self.eth_dst:
            eth = {"src": self.eth_src, "dst": self.eth_dst, "type": "IPv4"}
        ip = {"src": self.ip_src, "dst": self.ip_dst, "proto": self.l4_proto, "ttl": self.ttl}
        if self.icmp is not None:
            l4: dict[str, Any] = {"proto": "icmp", **self.icmp}
        else:
            l4 = {"proto": self.proto, "sport": self.sport, "dport": self.dport}
            if self.proto == "tcp":
                l4["flags"] = self.flags
        return {"eth": eth, "ip": ip, "l4": l4, "outer": _copy_outer(self.outer)}


def _copy_outer(outer: dict[str, Any] | None) -> dict[str, Any] | None:
    """A deep copy of the outer headers: one level of dicts of scalars, so no ``copy.deepcopy`` (hot path)."""
    if outer is None:
        return None
    return {k: (_copy_outer(v) if isinstance(v, dict) else v) for k, v in outer.items()}
