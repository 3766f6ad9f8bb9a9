"""The packet walk: a pure function of (snapshot, source, destination, protocol, port).

Notation::

    src  "<ns>/<pod>" | "node/<name>" | "external"
    dst  "<ns>/<pod>[:<port>]" | "svc/<ns>/<name>:<port or port name>" | "<ip>:<port>"
         | "dns/<name>:<port>" | "node/<name>:<nodePort>"

The walk returns the hops of the request, then (for a delivered request) the
hops of its reply, which conntrack un-NATs on the way back; a REJECT's reply is
the ICMP error.  Randomness (the source port, kube-proxy's ``statistic`` draws,
MASQUERADE's ``--random-fully`` port) comes from one ``random.Random`` seeded
from the snapshot's seed and the walk's arguments, so a walk is reproducible and
two different walks do not all draw the same numbers.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from cluster.network import addressing as addr
from cluster.network import conntrack, dns, netpol
from cluster.network.cni import mode
from cluster.network.datapath import Datapath, Stop
from cluster.network.index import ClusterIndex, NodeInfo, PodInfo, ServicePort, index
from cluster.network.packet import Frame
from cluster.network.routes import node_routes
from cluster.network.snapshot import Snapshot

PROTOCOLS = ("tcp", "udp", "sctp")


class WalkError(ValueError):
    """Bad notation, or a name that is not in the snapshot."""


@dataclass(frozen=True, slots=True)
class Source:
    kind: str
    ip: str
    pod: PodInfo | None = None
    node: NodeInfo | None = None

    def describe(self, spec: str) -> dict[str, Any]:
        return {
            "spec": spec,
            "kind": self.kind,
            "name": self.pod.key if self.pod else (self.node.name if self.node else "external"),
            "ip": self.ip,
            "node": self.node.name if self.node else None,
        }


@dataclass(slots=True)
class Target:
    kind: str
    ip: str
    port: int
    name: str | None = None
    extra: dict[str, Any] | None = None

    def describe(self, spec: str) -> dict[str, Any]:
        return {
            "spec": spec,
            "kind": self.kind,
            "name": self.name,
            "ip": self.ip,
            "port": self.port,
            **(self.extra or {}),
        }


def _port(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise WalkError(f"{what}: port {text!r} is not a number") from None
    if not 1 <= value <= 65535:
        raise WalkError(f"{what}: port {value} is out of range 1-65535")
    return value


def _split_port(spec: str, required: bool = True) -> tuple[str, str | None]:
    if ":" not in spec:
        if required:
            raise WalkError(f"destination {spec!r} needs a port (…:<port>)")
        return spec, None
    head, _, port = spec.rpartition(":")
    return head, port


def _pod(idx: ClusterIndex, key: str, role: str) -> PodInfo:
    pod = idx.pods.get(key)
    if pod is None:
        raise WalkError(f"{role}: no pod {key!r} in this snapshot")
    if not pod.ip:
        raise WalkError(f"{role}: pod {key} has no IP yet (phase {pod.phase})")
    if not pod.node or pod.node not in idx.nodes:
        raise WalkError(f"{role}: pod {key} is not on a known node")
    return pod


def _node(idx: ClusterIndex, name: str, role: str) -> NodeInfo:
    node = idx.nodes.get(name)
    if node is None:
        raise WalkError(f"{role}: no node {name!r} (with an InternalIP and a podCIDR) in this snapshot")
    return node


def parse_source(idx: ClusterIndex, src: str) -> Source:
    if src == "external":
        return Source("external", addr.EXTERNAL_CLIENT_IP)
    if src.startswith("node/"):
        node = _node(idx, src[5:], "source")
        return Source("node", node.ip, node=node)
    if src.count("/") != 1 or ":" in src:
        raise WalkError(f"source {src!r}: expected '<ns>/<pod>', 'node/<name>' or 'external'")
    pod = _pod(idx, src, "source")
    node = idx.nodes[str(pod.node)]
    return Source("pod", pod.ip or "", pod=pod, node=node)


@dataclass(frozen=True, slots=True)
class _ServiceLookup:
    by_ip: dict[str, list[ServicePort]]
    """Address (ClusterIP, LoadBalancer or external IP) -> the ports using it, in ``service_ports`` order."""
    by_node_port: dict[tuple[int, str], ServicePort]
    """``(nodePort, protocol)`` -> the first port with it."""


def _service_lookup(idx: ClusterIndex) -> _ServiceLookup:
    """Service ports by address and by nodePort (built once per index, instead of a scan per walk)."""
    found = idx.lookups.get("classify")
    if found is None:
        by_ip: dict[str, list[ServicePort]] = {}
        by_node_port: dict[tuple[int, str], ServicePort] = {}
        for sp in idx.service_ports:
            for ip in dict.fromkeys((sp.cluster_ip, *sp.lb_ips, *sp.external_ips)):
                if ip is not None:
                    by_ip.setdefault(ip, []).append(sp)
            by_node_port.setdefault((sp.node_port, sp.proto), sp)
        found = idx.lookups["classify"] = _ServiceLookup(by_ip, by_node_port)
    return found  # type: ignore[no-any-return]


def classify(idx: ClusterIndex, ip: str, port: int, proto: str) -> Target:
    """Name what an ``ip:port`` is: a pod, a ClusterIP, a node (NodePort), a LoadBalancer IP..."""
    pod = idx.pod_by_ip.get(ip)
    if pod is not None:
        return Target("pod", ip, port, pod.key)
    lookup = _service_lookup(idx)
    using = lookup.by_ip.get(ip, [])
    for sp in using:
        if sp.cluster_ip == ip and sp.port == port:
            return Target("service", ip, port, sp.key, {"port_name": sp.port_name, "protocol": sp.proto})
        if ip in sp.lb_ips and sp.port == port:
            return Target("loadbalancer", ip, port, sp.key, {"port_name": sp.port_name, "protocol": sp.proto})
        if ip in sp.external_ips and sp.port == port:
            return Target("external-ip", ip, port, sp.key, {"port_name": sp.port_name, "protocol": sp.proto})
    node = idx.node_by_ip.get(ip)
    if node is not None:
        sp = lookup.by_node_port.get((port, proto))
        if sp is not None:
            return Target("nodeport", ip, port, sp.key, {"node": node.name, "port_name": sp.port_name})
        return Target("node", ip, port, node.name)
    if ip.startswith("127."):
        return Target("loopback", ip, port)
    if any(sp.cluster_ip == ip for sp in using):
        return Target("service", ip, port, next(sp.key for sp in using if sp.cluster_ip == ip))
    return Target("ip", ip, port)


def parse_target(idx: ClusterIndex, dst: str, proto: str) -> Target:
    if dst.startswith("dns/"):
        name, port = _split_port(dst[4:])
        if not name:
            raise WalkError("dns destination needs a name: 'dns/<name>:<port>'")
        return Target("dns", "", _port(str(port), dst), name)
    if dst.startswith("svc/"):
        rest, port_text = _split_port(dst[4:])
        if rest.count("/") != 1:
            raise WalkError(f"service destination {dst!r}: expected 'svc/<ns>/<name>:<port>'")
        svc = idx.services.get(rest)
        if svc is None:
            raise WalkError(f"no service {rest!r} in this snapshot")
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            raise WalkError(f"service {rest} is an ExternalName (a DNS CNAME), it has no ClusterIP to walk to")
        if not spec.get("clusterIP") or spec.get("clusterIP") == "None":
            raise WalkError(f"service {rest} is headless (no ClusterIP); walk to dns/<name>:<port> instead")
        ports = [
            p for p in spec.get("ports") or () if str(p.get("port")) == port_text or (p.get("name") or "") == port_text
        ]
        if not ports:
            raise WalkError(f"service {rest} has no port {port_text!r}")
        chosen = next((p for p in ports if str(p.get("protocol") or "TCP").lower() == proto), ports[0])
        return Target(
            "service",
            str(spec["clusterIP"]),
            int(chosen["port"]),
            rest,
            {"port_name": chosen.get("name") or "", "protocol": str(chosen.get("protocol") or "TCP").lower()},
        )
    if dst.startswith("node/"):
        name, port_text = _split_port(dst[5:])
        node = _node(idx, name, "destination")
        target = classify(idx, node.ip, _port(str(port_text), dst), proto)
        return target
    if "/" in dst:
        key, port_text = _split_port(dst, required=False)
        pod = _pod(idx, key, "destination")
        if port_text is None:
            declared = [p.port for p in pod.ports if p.protocol.lower() == proto]
            port = declared[0] if declared else 80
        else:
            port = _port(port_text, dst)
        return Target("pod", str(pod.ip), port, pod.key)
    ip, port_text = _split_port(dst)
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        raise WalkError(f"destination {dst!r}: {ip!r} is not an IPv4 address") from None
    return classify(idx, ip, _port(str(port_text), dst), proto)


def _rng(snap: Snapshot, *parts: str) -> random.Random:
    return random.Random("|".join([str(snap.seed), *parts]))


def _run(snap: Snapshot, source: Source, target: Target, proto: str, rng: random.Random) -> dict[str, Any]:
    """Walk the request and, if it gets an answer, the reply."""
    ct = conntrack.Table()
    sport = rng.randint(*addr.EPHEMERAL_PORTS)
    frame = Frame(
        ip_src=source.ip if source.kind != "node" else "",
        ip_dst=target.ip,
        proto=proto,
        sport=sport,
        dport=target.port,
        flags="SYN" if proto == "tcp" else None,
    )
    dp = Datapath(snap, rng, ct, "request")
    try:
        if source.pod is not None and not source.pod.host_network:
            dp.start_pod(source.pod, frame)
        elif source.node is not None:
            frame.ip_src = source.node.ip if source.pod is not None else ""
            dp.start_node(source.node, frame)
        else:
            dp.start_external(frame)
    except Stop:
        pass
    first = dp.hops[0]["headers"] if dp.hops else None
    reply: list[dict[str, Any]] = []
    rdp: Datapath | None = None
    if dp.verdict == "delivered" and dp.delivered_to is not None and first is not None:
        last = dp.hops[-1]["headers"]
        rframe = Frame(
            ip_src=last["ip"]["dst"],
            ip_dst=last["ip"]["src"],
            proto=proto,
            sport=last["l4"]["dport"],
            dport=last["l4"]["sport"],
            flags="SYN,ACK" if proto == "tcp" else None,
        )
        rdp = Datapath(snap, rng, ct, "reply")
        rdp.client = (first["ip"]["src"], first["l4"]["sport"])
        idx = index(snap)
        try:
            if dp.delivered_to["kind"] == "pod":
                rdp.start_pod(idx.pods[dp.delivered_to["pod"]], rframe)
            else:
                rdp.start_node(idx.nodes[dp.delivered_to["node"]], rframe, reply=True)
        except Stop:
            pass
        reply = rdp.hops
    elif dp.verdict == "rejected" and dp.rejected_at is not None and first is not None:
        reply = _icmp_reply(snap, dp, rng, ct, first)
    return {
        "hops": dp.hops,
        "reply": reply,
        "verdict": dp.verdict,
        "reason": dp.reason,
        "endpoint": dp.endpoint,
        "delivered_to": dp.delivered_to,
        "conntrack": [e.as_dict() for e in ct.entries],
        "policy_decisions": dp.policy + (rdp.policy if rdp else []),
        "reply_verdict": rdp.verdict if rdp else None,
    }


def _icmp_reply(
    snap: Snapshot, dp: Datapath, rng: random.Random, ct: conntrack.Table, first: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ICMP port unreachable a REJECT sends back to the original source."""
    idx = index(snap)
    assert dp.rejected_at is not None
    info = idx.nodes[dp.rejected_at["node"]]
    rejected: Frame = dp.rejected_at["frame"]
    original = first["ip"]["src"]
    back = node_routes(snap, info.name).lookup(original)
    src = info.ip
    if back is not None:
        src = back.src or dp.dev_address(info, str(back.dev))
    icmp = Frame(
        ip_src=src,
        ip_dst=original,
        proto=rejected.proto,
        sport=None,
        dport=None,
        icmp={
            "type": 3,
            "code": 3,
            "text": "destination port unreachable",
            "original": {
                "src": rejected.ip_src,
                "dst": rejected.ip_dst,
                "sport": rejected.sport,
                "dport": rejected.dport,
            },
        },
    )
    rdp = Datapath(snap, rng, ct, "reply")
    try:
        if dp.rejected_at["in_dev"] is None:
            rdp.hop(
                icmp,
                f"node/{info.name}",
                node=info.name,
                netns="root",
                device=None,
                action="send",
                why="the kernel answers the rejected packet with ICMP destination port unreachable",
            )
            rdp.deliver_to_client(icmp, f"node/{info.name}", node=info.name, netns="root")
        else:
            rdp.start_node(info, icmp, reply=True)
    except Stop:
        pass
    return rdp.hops


def _flannel_policy_note(snap: Snapshot, source: Source, run: dict[str, Any], target: Target) -> dict[str, Any]:
    """What NetworkPolicy would say, for a CNI that does not enforce it."""
    idx = index(snap)
    decisions = []
    delivered = run.get("delivered_to") or {}
    last = run["hops"][-1]["headers"] if run["hops"] else None
    if source.pod is not None and last is not None:
        dport = last["l4"].get("dport") or target.port
        peer = netpol.Peer(last["ip"]["dst"], idx.pod_by_ip.get(last["ip"]["dst"]))
        decisions.append(netpol.evaluate(idx, source.pod, "egress", peer, target_proto(run), dport).as_dict())
    if delivered.get("kind") == "pod" and last is not None:
        pod = idx.pods[delivered["pod"]]
        src_ip = last["ip"]["src"]
        owner = idx.node_by_ip.get(src_ip)
        peer = netpol.Peer(src_ip, idx.pod_by_ip.get(src_ip), owner.name if owner else None)
        decisions.append(netpol.evaluate(idx, pod, "ingress", peer, target_proto(run), last["l4"]["dport"]).as_dict())
    would_drop = [d for d in decisions if not d["allowed"]]
    note = "flannel does not implement NetworkPolicy: policies are not enforced"
    if would_drop:
        note += "; under an enforcing CNI this would be " + would_drop[0]["reason"]
    return {"enforced": False, "decisions": decisions, "note": note}


def target_proto(run: dict[str, Any]) -> str:
    return str(run["hops"][0]["headers"]["l4"]["proto"]) if run["hops"] else "tcp"


def _dns(snap: Snapshot, idx: ClusterIndex, source: Source, src: str, name: str) -> tuple[dict[str, Any], str | None]:
    if source.kind == "external":
        raise WalkError("an external client cannot use the cluster's DNS (kube-dns is a ClusterIP service)")
    found = dns.kube_dns(idx)
    conf_pod = source.pod if source.pod is not None and not source.pod.host_network else None
    if found is None:
        return {
            "name": name,
            "answer": None,
            "rcode": "SERVFAIL",
            "walk": None,
            "reason": "there is no kube-system/kube-dns Service to ask",
        }, None
    server, _ = found
    conf = dns.resolv_conf(server, conf_pod)
    tried = []
    answer: list[str] | None = None
    fqdn = None
    for candidate in dns.candidates(name, conf):
        answer = dns.answer(idx, candidate)
        tried.append({"name": candidate, "rcode": "NOERROR" if answer else "NXDOMAIN"})
        if answer:
            fqdn = candidate
            break
    query = fqdn or (tried[-1]["name"] if tried else name)
    walk_src = Source(source.kind, source.ip, source.pod, source.node)
    lookup = _run(
        snap, walk_src, Target("service", server, 53, "kube-system/kube-dns"), "udp", _rng(snap, src, "dns", query)
    )
    lookup.pop("policy_decisions", None)
    chosen = None
    if answer:
        chosen = answer[0] if len(answer) == 1 else _rng(snap, src, "dns-answer", query).choice(answer)
    result = {
        "name": name,
        "resolv_conf": conf.as_dict(),
        "server": f"{server}:53",
        "queries": tried,
        "fqdn": fqdn,
        "answer": answer,
        "rcode": "NOERROR" if answer else "NXDOMAIN",
        "address": chosen,
        "walk": lookup,
    }
    if lookup["verdict"] != "delivered":
        # The query never reached CoreDNS (or its answer never came back): the resolver times out.
        result.update(answer=None, address=None, fqdn=None, rcode="TIMEOUT")
        result["queries"] = [{"name": tried[0]["name"], "rcode": "TIMEOUT"}] if tried else []
        return result, None
    return result, chosen


def walk(snap: Snapshot, src: str, dst: str, proto: str = "tcp") -> dict[str, Any]:
    """Walk one packet from ``src`` to ``dst`` (and its reply); see the module docstring."""
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise WalkError(f"protocol {proto!r}: expected one of {', '.join(PROTOCOLS)}")
    idx = index(snap)
    source = parse_source(idx, src)
    target = parse_target(idx, dst, proto)
    dns_result = None
    if target.kind == "dns":
        dns_result, address = _dns(snap, idx, source, src, str(target.name))
        if address is None:
            lookup = dns_result.get("walk") or {}
            why = (
                f"DNS lookup of {target.name} failed: the query to {dns_result.get('server')} was "
                f"{lookup.get('verdict')} ({lookup.get('reason')})"
                if lookup and lookup.get("verdict") != "delivered"
                else f"DNS lookup of {target.name} failed: {dns_result.get('rcode')}"
                + (f" ({dns_result['reason']})" if dns_result.get("reason") else "")
            )
            return {
                "src": source.describe(src),
                "dst": target.describe(dst),
                "proto": proto,
                "cni": snap.cni,
                "hops": [],
                "reply": [],
                "verdict": "dropped",
                "reason": why,
                "dns": dns_result,
                "endpoint": None,
                "delivered_to": None,
                "conntrack": [],
                "policy": {"enforced": mode(snap).enforces_policy, "decisions": []},
                "notes": [],
            }
        resolved = classify(idx, address, target.port, proto)
        resolved.extra = {**(resolved.extra or {}), "dns_name": target.name}
        target = resolved
    run = _run(snap, source, target, proto, _rng(snap, src, dst, proto))
    notes: list[str] = []
    if mode(snap).enforces_policy:
        policy = {"enforced": True, "decisions": run.pop("policy_decisions")}
    else:
        run.pop("policy_decisions")
        policy = _flannel_policy_note(snap, source, run, target)
        notes.append(policy["note"])
    run.pop("reply_verdict", None)
    return {
        "src": source.describe(src),
        "dst": target.describe(dst),
        "proto": proto,
        "cni": snap.cni,
        **run,
        "dns": dns_result,
        "policy": policy,
        "notes": notes,
    }
