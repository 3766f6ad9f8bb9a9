"""Cluster DNS as CoreDNS's ``kubernetes`` plugin answers it, and the pod's resolver search path.

A pod with ``dnsPolicy: ClusterFirst`` gets an ``/etc/resolv.conf`` naming the
``kube-system/kube-dns`` ClusterIP, the search list ``<ns>.svc.<domain>
svc.<domain> <domain>`` and ``options ndots:5``; a name with fewer than five dots
is tried with each search suffix first.  Records: ``<svc>.<ns>.svc.<domain>`` is
the ClusterIP, or the ready endpoint addresses of a headless Service;
``<a-b-c-d>.<ns>.pod.<domain>`` is ``a.b.c.d``.  Anything else would be
forwarded upstream, which is outside the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.network.addressing import CLUSTER_DOMAIN
from cluster.network.index import ClusterIndex, PodInfo

NDOTS = 5


@dataclass(frozen=True, slots=True)
class ResolvConf:
    nameserver: str
    search: tuple[str, ...]
    ndots: int = NDOTS

    def text(self) -> str:
        search = f"search {' '.join(self.search)}\n" if self.search else ""
        return f"{search}nameserver {self.nameserver}\noptions ndots:{self.ndots}\n"

    def as_dict(self) -> dict[str, Any]:
        return {"nameserver": self.nameserver, "search": list(self.search), "ndots": self.ndots, "text": self.text()}


def kube_dns(idx: ClusterIndex) -> tuple[str, dict[str, Any]] | None:
    """The CoreDNS Service's ClusterIP and object, if it exists."""
    svc = idx.services.get("kube-system/kube-dns")
    if svc is None:
        return None
    ip = (svc.get("spec") or {}).get("clusterIP")
    return (str(ip), svc) if ip and ip != "None" else None


def resolv_conf(nameserver: str, pod: PodInfo | None) -> ResolvConf:
    if pod is None:
        return ResolvConf(nameserver, ())
    return ResolvConf(nameserver, (f"{pod.namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN))


def candidates(name: str, conf: ResolvConf) -> list[str]:
    """The names the resolver queries, in order (glibc/musl ``ndots`` behaviour)."""
    if name.endswith("."):
        return [name.rstrip(".")]
    expanded = [f"{name}.{s}" for s in conf.search]
    return [name, *expanded] if name.count(".") >= conf.ndots else [*expanded, name]


def answer(idx: ClusterIndex, fqdn: str) -> list[str] | None:
    """A records for ``fqdn``, or ``None`` for NXDOMAIN."""
    suffix = f".svc.{CLUSTER_DOMAIN}"
    if fqdn.endswith(suffix):
        parts = fqdn[: -len(suffix)].split(".")
        if len(parts) != 2:
            return None
        name, ns = parts
        svc = idx.services.get(f"{ns}/{name}")
        if svc is None:
            return None
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            return [str(ip)]
        return _headless(idx, ns, name)
    suffix = f".pod.{CLUSTER_DOMAIN}"
    if fqdn.endswith(suffix):
        parts = fqdn[: -len(suffix)].split(".")
        if len(parts) == 2 and parts[0].count("-") == 3:
            return [parts[0].replace("-", ".")]
    return None


def _headless(idx: ClusterIndex, ns: str, name: str) -> list[str] | None:
    ips: list[str] = []
    for es in idx.snap.endpointslices:
        meta = es.get("metadata") or {}
        if meta.get("namespace") != ns or (meta.get("labels") or {}).get("kubernetes.io/service-name") != name:
            continue
        for ep in es.get("endpoints") or ():
            ready = (ep.get("conditions") or {}).get("ready")
            if (ready is None or ready) and ep.get("addresses"):
                ips.append(str(ep["addresses"][0]))
    return sorted(set(ips)) or None
