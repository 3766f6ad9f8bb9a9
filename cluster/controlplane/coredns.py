"""CoreDNS's ``kubernetes`` plugin: the records it serves, built from Services and EndpointSlices.

A ClusterIP Service answers with its ClusterIP; a headless one with the addresses of its
ready endpoints (and a name per endpoint hostname); named ports get SRV records. The
loop narrates what changed; :func:`lookup` answers a query the way ``dig`` shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.utils.translation import gettext_noop

from cluster.controlplane import components
from cluster.controlplane.controller import Controller

COMPONENT = "coredns"
ZONE = "cluster.local"
TTL = 30

NARRATION = {
    "coredns.records": gettext_noop("CoreDNS now answers {name} with {answers}."),
    "coredns.removed": gettext_noop("CoreDNS no longer knows {name}."),
}


@dataclass(frozen=True)
class Record:
    name: str
    type: str  # "A" | "SRV"
    data: str

    def text(self) -> str:
        return f"{self.name}.\t{TTL}\tIN\t{self.type}\t{self.data}"


def records(services: Iterable[dict[str, Any]], slices: Iterable[dict[str, Any]]) -> list[Record]:
    by_service: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in slices:
        svc = ((s.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name")
        if svc:
            by_service.setdefault((s["metadata"]["namespace"], svc), []).append(s)
    out: list[Record] = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        fqdn = f"{name}.{ns}.svc.{ZONE}"
        if spec.get("type") == "ExternalName":
            continue
        headless = spec.get("clusterIP") == "None"
        targets: list[tuple[str, str]] = []  # (owner name, ip)
        if headless:
            for s in by_service.get((ns, name), []):
                for ep in s.get("endpoints") or []:
                    if (ep.get("conditions") or {}).get("ready") is False:
                        continue
                    for ip in ep.get("addresses") or []:
                        host = ep.get("hostname")
                        targets.append((f"{host}.{fqdn}" if host else fqdn, ip))
                        out.append(Record(fqdn, "A", ip))
                        if host:
                            out.append(Record(f"{host}.{fqdn}", "A", ip))
        elif spec.get("clusterIP"):
            out.append(Record(fqdn, "A", spec["clusterIP"]))
        for port in spec.get("ports") or []:
            if not port.get("name"):
                continue
            srv = f"_{port['name']}._{str(port.get('protocol', 'TCP')).lower()}.{fqdn}"
            if headless:
                for owner, _ip in targets:
                    out.append(Record(srv, "SRV", f"0 {100 // max(1, len(targets))} {port['port']} {owner}."))
            else:
                out.append(Record(srv, "SRV", f"0 100 {port['port']} {fqdn}."))
    out.sort(key=lambda r: (r.name, r.type, r.data))
    return out


def lookup(all_records: list[Record], name: str, rtype: str = "A") -> list[Record]:
    name = name.rstrip(".")
    return [r for r in all_records if r.name == name and r.type == rtype.upper()]


class CoreDNS(Controller):
    component = COMPONENT
    name = "coredns"
    watches: ClassVar[tuple[tuple[str, str], ...]] = (("", "Service"), ("discovery.k8s.io", "EndpointSlice"))
    resync_seconds = None

    def __init__(self, ctx: Any) -> None:
        self.served: dict[str, tuple[str, ...]] = {}
        super().__init__(ctx)

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        self.queue.add("zone")

    def reconcile(self, key: str) -> float | None:
        current: dict[str, tuple[str, ...]] = {}
        for r in records(self.ctx.lister("", "Service"), self.ctx.lister("discovery.k8s.io", "EndpointSlice")):
            if r.type == "A":
                current[r.name] = (*current.get(r.name, ()), r.data)
        for name in sorted(current):
            if self.served.get(name) != current[name]:
                self.ctx.trace(
                    COMPONENT, "records", "coredns.records", {"name": name, "answers": ", ".join(current[name])}
                )
        for name in sorted(set(self.served) - set(current)):
            self.ctx.trace(COMPONENT, "records", "coredns.removed", {"name": name})
        self.served = current
        return None


components.register(COMPONENT, lambda: [CoreDNS])
