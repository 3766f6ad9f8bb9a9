"""kube-proxy's iptables mode: chain names and the rules it writes on each node, as data.

This follows ``pkg/proxy/iptables/proxier.go`` (``syncProxyRules`` and
``writeServiceToEndpointRules``, v1.29-era) step by step, so that the rules here are
the rules a real node carries: the same chain names (``portProtoHash``: base32 of
sha256 of ``servicePortName + protocol``, first 16 characters), the same argument
order, the same comments, the same per-node differences (``Local`` traffic policy
only sees local endpoints) and the same "large cluster mode" that drops comments
past 1000 endpoints.  Configuration modelled: kind's defaults, i.e. masquerade bit
14 (``0x4000``), ``--cluster-cidr`` local-traffic detection, ``localhostNodePorts``
on, ``nodePortAddresses`` unset, ``--random-fully`` available.

Go iterates services in map order; here they are sorted by port name so the output
is deterministic (iptables does not care about order across chains).

:func:`generate` writes one node's rules in one go.  Walks use a :class:`ProxyPlan`
instead: the same writer run once per service port (a :class:`Fragment`), shared by
every node unless the port's rules depend on the node (``Local`` policies, source
ranges), and carried over to the next revision unless its port or endpoints changed.
Joined in order, a node's fragments are exactly :func:`generate`'s output.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.network.cache import memo, previous
from cluster.network.index import ClusterIndex, Endpoint, ServicePort, index
from cluster.network.iptables import BUILTIN_CHAINS, Rule, RuleList, parse
from cluster.network.snapshot import Snapshot

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"
MASQ_MARK = "0x4000"
"""``1 << masqueradeBit`` with the default bit 14."""
LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000


@functools.lru_cache(maxsize=65536)
def port_proto_hash(service_port_name: str, protocol: str) -> str:
    """Upstream ``portProtoHash``: base32(sha256(name + protocol))[:16]."""
    digest = hashlib.sha256((service_port_name + protocol).encode()).digest()
    return base64.b32encode(digest[:10]).decode()  # 10 bytes make exactly the first 16 characters


def service_port_chain_name(service_port_name: str, protocol: str) -> str:
    """``KUBE-SVC-<hash>``: dispatch to endpoints under the Cluster traffic policy."""
    return "KUBE-SVC-" + port_proto_hash(service_port_name, protocol)


def service_local_chain_name(service_port_name: str, protocol: str) -> str:
    """``KUBE-SVL-<hash>``: dispatch to this node's endpoints under the Local traffic policy."""
    return "KUBE-SVL-" + port_proto_hash(service_port_name, protocol)


def service_firewall_chain_name(service_port_name: str, protocol: str) -> str:
    """``KUBE-FW-<hash>``: ``loadBalancerSourceRanges`` filtering."""
    return "KUBE-FW-" + port_proto_hash(service_port_name, protocol)


def service_external_chain_name(service_port_name: str, protocol: str) -> str:
    """``KUBE-EXT-<hash>``: NodePort, LoadBalancer and external IP traffic."""
    return "KUBE-EXT-" + port_proto_hash(service_port_name, protocol)


@functools.lru_cache(maxsize=262144)
def service_port_endpoint_chain_name(service_port_name: str, protocol: str, endpoint: str) -> str:
    """``KUBE-SEP-<hash>``: sha256 of name + protocol + ``ip:port``."""
    digest = hashlib.sha256((service_port_name + protocol + endpoint).encode()).digest()
    return "KUBE-SEP-" + base64.b32encode(digest[:10]).decode()


def probability(n: int) -> str:
    """Upstream ``computeProbability``: ``fmt.Sprintf("%0.10f", 1.0/float64(n))``."""
    return f"{1.0 / n:0.10f}"


@dataclass(frozen=True, slots=True)
class Categorized:
    """Upstream ``CategorizeEndpoints`` for one service port on one node (topology hints ignored)."""

    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    reachable: tuple[Endpoint, ...]
    has_any: bool


def categorize(endpoints: list[Endpoint], sp: ServicePort, node: str) -> Categorized:
    cluster: list[Endpoint] = []
    local: list[Endpoint] = []
    has_any = False
    if sp.uses_cluster_endpoints:
        cluster = [e for e in endpoints if e.ready]
        if not cluster:
            cluster = [e for e in endpoints if e.serving and e.terminating]
        has_any = bool(cluster)
    if not sp.uses_local_endpoints:
        return Categorized(tuple(cluster), (), tuple(cluster), has_any)
    local_ready = local_st = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.node == node
        elif e.serving and e.terminating:
            has_any = True
            local_st = local_st or e.node == node
    if local_ready:
        local = [e for e in endpoints if e.node == node and e.ready]
    elif local_st:
        local = [e for e in endpoints if e.node == node and e.serving and e.terminating]
    if not sp.uses_cluster_endpoints:
        return Categorized((), tuple(local), tuple(local), has_any)
    chosen = {e.string for e in cluster} | {e.string for e in local}
    reachable = tuple(e for e in endpoints if e.string in chosen)
    return Categorized(tuple(cluster), tuple(local), reachable, has_any)


@dataclass(slots=True)
class ProxyRules:
    """Everything kube-proxy writes on one node, in the order it writes it."""

    node: str
    chains: dict[str, list[str]]
    """table -> chains kube-proxy declares (in declaration order)."""
    rules: list[Rule]
    """Rules of kube-proxy's own chains, in write order."""
    jumps: list[Rule]
    """Rules kube-proxy (and kubelet) put in the built-in chains, in their final order."""
    large_cluster_mode: bool
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]] = field(default_factory=dict)
    """``KUBE-SEP-*`` -> (service port, endpoint), so a walk can say where a DNAT leads."""


# (table, destination chain, source chain, comment, extra args): iptablesJumpChains, in upstream order.
_JUMP_CHAINS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "filter",
        KUBE_EXTERNAL_SERVICES,
        "INPUT",
        "kubernetes externally-visible service portals",
        ("-m", "conntrack", "--ctstate", "NEW"),
    ),
    (
        "filter",
        KUBE_EXTERNAL_SERVICES,
        "FORWARD",
        "kubernetes externally-visible service portals",
        ("-m", "conntrack", "--ctstate", "NEW"),
    ),
    ("filter", KUBE_NODEPORTS, "INPUT", "kubernetes health check service ports", ()),
    ("filter", KUBE_SERVICES, "FORWARD", "kubernetes service portals", ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", KUBE_FORWARD, "FORWARD", "kubernetes forwarding rules", ()),
    (
        "filter",
        KUBE_PROXY_FIREWALL,
        "INPUT",
        "kubernetes load balancer firewall",
        ("-m", "conntrack", "--ctstate", "NEW"),
    ),
    (
        "filter",
        KUBE_PROXY_FIREWALL,
        "OUTPUT",
        "kubernetes load balancer firewall",
        ("-m", "conntrack", "--ctstate", "NEW"),
    ),
    (
        "filter",
        KUBE_PROXY_FIREWALL,
        "FORWARD",
        "kubernetes load balancer firewall",
        ("-m", "conntrack", "--ctstate", "NEW"),
    ),
    ("nat", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", ()),
    ("nat", KUBE_SERVICES, "PREROUTING", "kubernetes service portals", ()),
    ("nat", KUBE_POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", ()),
)


def jump_rules() -> list[Rule]:
    """The built-in chain jumps: each is *prepended* in list order, so they end up reversed;
    kubelet's ``-j KUBE-FIREWALL`` (created before kube-proxy starts) stays last."""
    return list(_jump_rules())


@functools.cache
def _jump_rules() -> tuple[Rule, ...]:
    out: list[Rule] = []
    for table, dst, src, comment, extra in reversed(_JUMP_CHAINS):
        out.append(parse(table, src, [*extra, "-m", "comment", "--comment", comment, "-j", dst]))
    for chain in ("INPUT", "OUTPUT"):
        out.append(parse("filter", chain, ["-j", KUBE_FIREWALL], owner="kubelet"))
    return tuple(out)


_INTERN: dict[RuleKey, Rule] = {}
"""Parsed rules by (table, chain, args): a rule is a pure function of its text, and most rules
are the same on every node and across revisions, so they are parsed once and shared."""
_INTERN_MAX = 500_000


RuleKey = tuple[str, str, tuple[str, ...]]
"""``(table, chain, args)``: a rule as written, before it is parsed."""


def _rule(key: RuleKey) -> Rule:
    """The parsed rule for ``key``, parsed at most once while it stays in :data:`_INTERN`."""
    rule = _INTERN.get(key)
    if rule is None:
        if len(_INTERN) > _INTERN_MAX:
            _INTERN.clear()
        rule = _INTERN.setdefault(key, parse(*key))
    return rule


class _Writer:
    """Collects ``(table, chain, args)`` in write order, like upstream's LineBuffers.

    Parsed rules are shared through ``intern`` instead of being parsed again per node.
    With ``defer``, a rule for a chain of its own (``KUBE-SVC-*``, ``KUBE-SEP-*``...) is
    kept as written and parsed only when a walk enters that chain (see :class:`LazyChain`).
    """

    def __init__(self, intern: dict[RuleKey, Rule], defer: bool = False) -> None:
        self.rules: list[Rule | RuleKey] = []
        self.intern = intern
        self.defer = defer

    def w(self, table: str, chain: str, *args: str) -> None:
        key = (table, chain, args)
        if self.defer and chain not in SHARED_CHAINS and chain not in BUILTIN_CHAINS[table]:
            self.rules.append(key)
            return
        rule = self.intern.get(key)
        if rule is None:
            rule = self.intern.setdefault(key, parse(table, chain, args))
        self.rules.append(rule)

    def parsed(self) -> list[Rule]:
        return [r if isinstance(r, Rule) else _rule(r) for r in self.rules]


class LazyChain:
    """One service port's chain as written, parsed on first use.

    Every node carries every Service's ``KUBE-SVC-*`` and ``KUBE-SEP-*`` chains, but a
    walk enters a handful; parsing them all up front was most of the first walk's cost.
    """

    __slots__ = ("_entries", "_rules")

    def __init__(self, entries: list[Rule | RuleKey] | None = None) -> None:
        self._entries: list[Rule | RuleKey] = entries if entries is not None else []
        self._rules: RuleList | None = None

    def rules(self) -> RuleList:
        rules = self._rules
        if rules is None:
            rules = self._rules = RuleList(r if isinstance(r, Rule) else _rule(r) for r in self._entries)
        return rules


FILTER_CHAINS = (
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
    KUBE_FIREWALL,
)
"""The filter chains kube-proxy declares (``KUBE-FIREWALL`` last, as the preamble adds it)."""
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)
"""The nat chains kube-proxy always declares; each service port adds its own after these."""
SHARED_CHAINS = frozenset(FILTER_CHAINS + NAT_CHAINS)
"""kube-proxy chains many service ports write to; every other chain it writes belongs to one service port."""
_MARK = f"{MASQ_MARK}/{MASQ_MARK}"


def _preamble(out: _Writer) -> None:
    """The rules written before any service port's."""
    out.w("nat", KUBE_POSTROUTING, "-m", "mark", "!", "--mark", _MARK, "-j", "RETURN")
    out.w("nat", KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", MASQ_MARK)
    out.w(
        "nat", KUBE_POSTROUTING, "-m", "comment", "--comment", "kubernetes service traffic requiring SNAT",
        "-j", "MASQUERADE", "--random-fully",
    )  # fmt: skip
    out.w("nat", KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", MASQ_MARK)
    out.w(
        "filter", KUBE_FIREWALL, "-m", "comment", "--comment", "block incoming localnet connections",
        "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT",
        "-j", "DROP",
    )  # fmt: skip


def _postamble(out: _Writer) -> None:
    """The rules written after every service port's."""
    out.w(
        "nat", KUBE_SERVICES, "-m", "comment", "--comment",
        "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
        "-m", "addrtype", "--dst-type", "LOCAL", "-j", KUBE_NODEPORTS,
    )  # fmt: skip
    out.w("filter", KUBE_FORWARD, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
    out.w(
        "filter", KUBE_FORWARD, "-m", "comment", "--comment", "kubernetes forwarding rules",
        "-m", "mark", "--mark", _MARK, "-j", "ACCEPT",
    )  # fmt: skip
    out.w(
        "filter", KUBE_FORWARD, "-m", "comment", "--comment", "kubernetes forwarding conntrack rule",
        "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT",
    )  # fmt: skip


def is_large(idx: ClusterIndex) -> bool:
    """Upstream's "large cluster mode": more than 1,000 endpoints in all, and endpoint rules lose their comments."""
    return sum(len(idx.endpoints_for(sp)) for sp in idx.service_ports) > LARGE_CLUSTER_ENDPOINTS_THRESHOLD


def _write_port(
    out: _Writer,
    sp: ServicePort,
    endpoints: list[Endpoint],
    node: str,
    node_ip: str | None,
    cluster_cidr: str,
    large: bool,
    nat_chains: list[str],
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]],
) -> None:
    """One service port's part of ``syncProxyRules`` on ``node`` (the body of upstream's loop over services)."""

    def svc_comment(text: str) -> tuple[str, ...]:
        return () if large else ("-m", "comment", "--comment", text)

    protocol = sp.proto
    name = sp.name_string
    cat = categorize(endpoints, sp, node)
    cluster_chain = service_port_chain_name(name, protocol)
    local_chain = service_local_chain_name(name, protocol)
    uses_cluster_chain = bool(cat.cluster) and sp.uses_cluster_endpoints
    uses_local_chain = bool(cat.local) and sp.uses_local_endpoints
    internal_chain, has_internal = cluster_chain, cat.has_any
    if sp.itp_local:
        internal_chain = local_chain
        has_internal = has_internal and bool(cat.local)
    external_policy_chain, has_external = cluster_chain, cat.has_any
    if sp.external_policy_local:
        external_policy_chain = local_chain
        has_external = has_external and bool(cat.local)
    ext_chain = service_external_chain_name(name, protocol)
    uses_ext_chain = cat.has_any and sp.externally_accessible
    fw_chain = service_firewall_chain_name(name, protocol)
    uses_fw = cat.has_any and bool(sp.lb_ips) and bool(sp.source_ranges)
    lb_chain = fw_chain if uses_fw else ext_chain

    if not cat.has_any:
        internal_target, internal_comment = "REJECT", f"{name} has no endpoints"
        external_target, external_comment = "REJECT", internal_comment
    else:
        internal_target = internal_comment = external_target = external_comment = ""
        if not has_internal:
            internal_target, internal_comment = "DROP", f"{name} has no local endpoints"
        if not has_external:
            external_target, external_comment = "DROP", f"{name} has no local endpoints"

    port = str(sp.port)
    assert sp.cluster_ip is not None
    if has_internal:
        out.w(
            "nat", KUBE_SERVICES, "-m", "comment", "--comment", f"{name} cluster IP",
            "-m", protocol, "-p", protocol, "-d", sp.cluster_ip, "--dport", port, "-j", internal_chain,
        )  # fmt: skip
    else:
        out.w(
            "filter", KUBE_SERVICES, "-m", "comment", "--comment", internal_comment,
            "-m", protocol, "-p", protocol, "-d", sp.cluster_ip, "--dport", port, "-j", internal_target,
        )  # fmt: skip
    for ext_ip in sp.external_ips:
        if cat.has_any:
            out.w(
                "nat", KUBE_SERVICES, "-m", "comment", "--comment", f"{name} external IP",
                "-m", protocol, "-p", protocol, "-d", ext_ip, "--dport", port, "-j", ext_chain,
            )  # fmt: skip
        if not has_external:
            out.w(
                "filter", KUBE_EXTERNAL_SERVICES, "-m", "comment", "--comment", external_comment,
                "-m", protocol, "-p", protocol, "-d", ext_ip, "--dport", port, "-j", external_target,
            )  # fmt: skip
    for lb_ip in sp.lb_ips:
        if cat.has_any:
            out.w(
                "nat", KUBE_SERVICES, "-m", "comment", "--comment", f"{name} loadbalancer IP",
                "-m", protocol, "-p", protocol, "-d", lb_ip, "--dport", port, "-j", lb_chain,
            )  # fmt: skip
        if uses_fw:
            out.w(
                "filter", KUBE_PROXY_FIREWALL, "-m", "comment", "--comment",
                f"{name} traffic not accepted by {fw_chain}",
                "-m", protocol, "-p", protocol, "-d", lb_ip, "--dport", port, "-j", "DROP",
            )  # fmt: skip
    if not has_external:
        for lb_ip in sp.lb_ips:
            out.w(
                "filter", KUBE_EXTERNAL_SERVICES, "-m", "comment", "--comment", external_comment,
                "-m", protocol, "-p", protocol, "-d", lb_ip, "--dport", port, "-j", external_target,
            )  # fmt: skip
    if sp.node_port:
        node_port = str(sp.node_port)
        if cat.has_any:
            out.w(
                "nat", KUBE_NODEPORTS, "-m", "comment", "--comment", name,
                "-m", protocol, "-p", protocol, "--dport", node_port, "-j", ext_chain,
            )  # fmt: skip
        if not has_external:
            out.w(
                "filter", KUBE_EXTERNAL_SERVICES, "-m", "comment", "--comment", external_comment,
                "-m", "addrtype", "--dst-type", "LOCAL",
                "-m", protocol, "-p", protocol, "--dport", node_port, "-j", external_target,
            )  # fmt: skip
    if sp.health_check_node_port:
        out.w(
            "filter", KUBE_NODEPORTS, "-m", "comment", "--comment", f"{name} health check node port",
            "-m", "tcp", "-p", "tcp", "--dport", str(sp.health_check_node_port), "-j", "ACCEPT",
        )  # fmt: skip

    if has_internal:
        out.w(
            "nat", internal_chain, "-m", "comment", "--comment", f"{name} cluster IP",
            "-m", protocol, "-p", protocol, "-d", sp.cluster_ip, "--dport", port,
            "!", "-s", cluster_cidr, "-j", KUBE_MARK_MASQ,
        )  # fmt: skip
    if uses_ext_chain:
        nat_chains.append(ext_chain)
        if not sp.external_policy_local:
            out.w(
                "nat", ext_chain,
                "-m", "comment", "--comment", f"masquerade traffic for {name} external destinations",
                "-j", KUBE_MARK_MASQ,
            )  # fmt: skip
        else:
            out.w(
                "nat", ext_chain, "-m", "comment", "--comment", f"pod traffic for {name} external destinations",
                "-s", cluster_cidr, "-j", cluster_chain,
            )  # fmt: skip
            out.w(
                "nat", ext_chain,
                "-m", "comment", "--comment", f"masquerade LOCAL traffic for {name} external destinations",
                "-m", "addrtype", "--src-type", "LOCAL", "-j", KUBE_MARK_MASQ,
            )  # fmt: skip
            out.w(
                "nat", ext_chain,
                "-m", "comment", "--comment", f"route LOCAL traffic for {name} external destinations",
                "-m", "addrtype", "--src-type", "LOCAL", "-j", cluster_chain,
            )  # fmt: skip
        if has_external:
            out.w("nat", ext_chain, "-j", external_policy_chain)
    if uses_fw:
        nat_chains.append(fw_chain)
        allow_from_node = False
        for cidr in sp.source_ranges:
            out.w(
                "nat",
                fw_chain,
                "-m",
                "comment",
                "--comment",
                f"{name} loadbalancer IP",
                "-s",
                cidr,
                "-j",
                ext_chain,
            )
            if node_ip is not None and _contains(cidr, node_ip):
                allow_from_node = True
        if allow_from_node:
            for lb_ip in sp.lb_ips:
                out.w(
                    "nat", fw_chain, "-m", "comment", "--comment", f"{name} loadbalancer IP",
                    "-s", lb_ip, "-j", ext_chain,
                )  # fmt: skip
        out.w(
            "nat",
            fw_chain,
            "-m",
            "comment",
            "--comment",
            f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL",
        )
    if uses_cluster_chain:
        nat_chains.append(cluster_chain)
        _service_to_endpoints(out, sp, cluster_chain, cat.cluster, svc_comment)
    if uses_local_chain:
        nat_chains.append(local_chain)
        _service_to_endpoints(out, sp, local_chain, cat.local, svc_comment)
    for ep in cat.reachable:
        chain = service_port_endpoint_chain_name(name, protocol, ep.string)
        nat_chains.append(chain)
        endpoint_chains[chain] = (sp, ep)
        out.w("nat", chain, *svc_comment(name), "-s", ep.ip, "-j", KUBE_MARK_MASQ)
        affinity = ("-m", "recent", "--name", chain, "--set") if sp.affinity_client_ip else ()
        out.w(
            "nat", chain, *svc_comment(name), *affinity,
            "-m", protocol, "-p", protocol, "-j", "DNAT", "--to-destination", ep.string,
        )  # fmt: skip


def generate(idx: ClusterIndex, node: str) -> ProxyRules:
    """kube-proxy's ``syncProxyRules`` for ``node``."""
    if len(_INTERN) > _INTERN_MAX:
        _INTERN.clear()
    out = _Writer(_INTERN)
    _preamble(out)
    nat_chains = list(NAT_CHAINS)
    large = is_large(idx)
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]] = {}
    node_ip = idx.nodes[node].ip if node in idx.nodes else None
    for sp in idx.service_ports:
        _write_port(
            out, sp, idx.endpoints_for(sp), node, node_ip, idx.snap.pod_cidr, large, nat_chains, endpoint_chains
        )
    _postamble(out)
    return ProxyRules(
        node=node,
        chains={"filter": list(FILTER_CHAINS), "nat": nat_chains},
        rules=out.parsed(),
        jumps=jump_rules(),
        large_cluster_mode=large,
        endpoint_chains=endpoint_chains,
    )


@dataclass(frozen=True, slots=True)
class Fragment:
    """What ``syncProxyRules`` writes for one service port (or its preamble or postamble), split by chain owner.

    Only ``Local`` traffic policies and ``loadBalancerSourceRanges`` make a service
    port's rules differ between nodes, so most fragments are generated once and
    shared by every node; and a fragment depends on nothing but its service port and
    endpoints, so a new revision reuses every fragment whose inputs it kept.
    """

    entries: tuple[Rule | RuleKey, ...]
    """In write order; rules of its own chains may not be parsed yet."""
    nat_chains: tuple[str, ...]
    """The nat chains it declares, in order."""
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]]
    shared: tuple[Rule, ...]
    """Its rules in :data:`SHARED_CHAINS` or built-in chains, in write order."""
    own: dict[tuple[str, str], LazyChain]
    """``(table, chain)`` -> rules, for the chains only this fragment writes or declares."""

    @property
    def rules(self) -> list[Rule]:
        """Every rule, parsed, in write order."""
        return [r if isinstance(r, Rule) else _rule(r) for r in self.entries]

    @classmethod
    def of(
        cls,
        entries: list[Rule | RuleKey],
        nat_chains: list[str],
        endpoint_chains: dict[str, tuple[ServicePort, Endpoint]],
    ) -> Fragment:
        own: dict[tuple[str, str], LazyChain] = {("nat", c): LazyChain() for c in nat_chains if c not in SHARED_CHAINS}
        shared: list[Rule] = []
        for entry in entries:
            table, chain = (entry.table, entry.chain) if isinstance(entry, Rule) else entry[:2]
            if chain in SHARED_CHAINS or chain in BUILTIN_CHAINS[table]:
                shared.append(entry if isinstance(entry, Rule) else _rule(entry))
            else:
                own.setdefault((table, chain), LazyChain())._entries.append(entry)
        return cls(tuple(entries), tuple(nat_chains), endpoint_chains, tuple(shared), own)


def _fragment(write: Callable[[_Writer, list[str], dict[str, tuple[ServicePort, Endpoint]]], None]) -> Fragment:
    if len(_INTERN) > _INTERN_MAX:
        _INTERN.clear()
    out = _Writer(_INTERN, defer=True)
    nat_chains: list[str] = []
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]] = {}
    write(out, nat_chains, endpoint_chains)
    return Fragment.of(out.rules, nat_chains, endpoint_chains)


def port_fragment(
    sp: ServicePort, endpoints: list[Endpoint], node: str, node_ip: str | None, cluster_cidr: str, large: bool
) -> Fragment:
    """:func:`_write_port` as a fragment."""
    return _fragment(
        lambda out, nat, eps: _write_port(out, sp, endpoints, node, node_ip, cluster_cidr, large, nat, eps)
    )


def node_dependent(sp: ServicePort) -> bool:
    """Whether ``sp``'s rules can differ between nodes: local endpoints, or a firewall that may admit the node."""
    return sp.uses_local_endpoints or bool(sp.lb_ips and sp.source_ranges)


@functools.cache
def _edges() -> tuple[Fragment, Fragment]:
    return _fragment(lambda out, nat, eps: _preamble(out)), _fragment(lambda out, nat, eps: _postamble(out))


def merge_shared(fragments: list[Fragment]) -> dict[tuple[str, str], RuleList]:
    """The shared chains' rules of ``fragments``, in write order."""
    chains: dict[tuple[str, str], RuleList] = {}
    for f in fragments:
        for rule in f.shared:
            chains.setdefault((rule.table, rule.chain), RuleList()).append(rule)
    return chains


def merge_own(fragments: list[Fragment]) -> dict[tuple[str, str], LazyChain] | None:
    """Every fragment's own chains in one map, or ``None`` if two fragments claim one chain name."""
    own: dict[tuple[str, str], LazyChain] = {}
    for f in fragments:
        own.update(f.own)
    return own if len(own) == sum(len(f.own) for f in fragments) else None


@dataclass(slots=True)
class ProxyPlan:
    """kube-proxy's rules on every node of one revision, as fragments; nodes differ only where noted."""

    ports: list[ServicePort]
    large: bool
    fragments: list[Fragment | None]
    """One per port; ``None`` where the port's rules depend on the node (see :func:`node_dependent`)."""
    inputs: dict[int, tuple[ServicePort, list[Endpoint], bool, Fragment]]
    """``id(port)`` -> what its shared fragment was generated from, for the next revision to reuse it
    (the entry holds the port, so the id stays its own while the plan lives)."""
    own: dict[tuple[str, str], LazyChain] | None
    """The shared fragments' own chains; ``None`` if names collide (nodes then assemble everything themselves)."""
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]]
    """The shared fragments' ``KUBE-SEP-*`` chains."""
    shared: dict[tuple[str, str], RuleList] | None
    """The shared chains of every node, when no port depends on the node."""
    patchable: bool
    """``own`` and ``endpoint_chains`` hold each fragment's entries exactly once, so the next revision
    may patch them (remove the entries of fragments gone, add those of new ones) instead of merging anew."""

    def node_fragments(self, idx: ClusterIndex, node: str, mine: list[Fragment] | None = None) -> list[Fragment]:
        """All fragments of ``node`` in write order: preamble, one per port, postamble.

        ``mine`` is :meth:`node_only`'s answer for ``node``, if the caller already has it.
        """
        pre, post = _edges()
        own = iter(self.node_only(idx, node) if mine is None else mine)
        return [pre, *(f if f is not None else next(own) for f in self.fragments), post]

    def node_only(self, idx: ClusterIndex, node: str) -> list[Fragment]:
        """The fragments of the ports whose rules depend on the node, generated for ``node``, in order."""
        if all(f is not None for f in self.fragments):
            return []
        node_ip = idx.nodes[node].ip if node in idx.nodes else None
        return [
            port_fragment(sp, idx.endpoints_for(sp), node, node_ip, idx.snap.pod_cidr, self.large)
            for sp, f in zip(self.ports, self.fragments, strict=True)
            if f is None
        ]


def flat_rules(node: str, fragments: list[Fragment], large: bool) -> ProxyRules:
    """A node's fragments joined into :func:`generate`'s output."""
    nat_chains = list(NAT_CHAINS)
    endpoint_chains: dict[str, tuple[ServicePort, Endpoint]] = {}
    rules: list[Rule] = []
    for f in fragments:
        rules.extend(f.rules)
        nat_chains.extend(f.nat_chains)
        endpoint_chains.update(f.endpoint_chains)
    return ProxyRules(
        node=node,
        chains={"filter": list(FILTER_CHAINS), "nat": nat_chains},
        rules=rules,
        jumps=jump_rules(),
        large_cluster_mode=large,
        endpoint_chains=endpoint_chains,
    )


def _patched(
    old: dict[Any, Any] | None, gone: list[dict[Any, Any]], added: list[dict[Any, Any]]
) -> dict[Any, Any] | None:
    """``old`` without the ``gone`` fragments' entries and with the ``added`` ones'; ``None`` if a name clashes."""
    if old is None:
        return None
    out = dict(old)
    for part in gone:
        for key in part:
            out.pop(key, None)
    for part in added:
        for key, value in part.items():
            if key in out:
                return None
            out[key] = value
    return out


def _plan(snap: Snapshot) -> ProxyPlan:
    """Reuse every fragment an older revision generated from the same port and endpoints, and patch
    the merged maps with the few that changed (a pod move rewrites one Service's ``KUBE-SEP-*`` chains)."""
    idx = index(snap)
    large = is_large(idx)
    found = previous(snap, "kube-proxy-plan")
    prev: ProxyPlan | None = found[1] if found is not None else None
    before = prev.inputs if prev is not None else {}
    fragments: list[Fragment | None] = []
    inputs: dict[int, tuple[ServicePort, list[Endpoint], bool, Fragment]] = {}
    fresh: list[Fragment] = []
    for sp in idx.service_ports:
        old = before.get(id(sp))
        if old is None or old[0] is not sp:  # (a port seen before was node-independent then, and is now)
            if node_dependent(sp):
                fragments.append(None)
                continue
        eps = idx.endpoints_for(sp)
        if old is not None and old[0] is sp and old[1] is eps and old[2] == large:
            f = old[3]
        else:
            f = port_fragment(sp, eps, "", None, snap.pod_cidr, large)
            fresh.append(f)
        fragments.append(f)
        inputs[id(sp)] = (sp, eps, large, f)
    present = [f for f in fragments if f is not None]
    pre, post = _edges()
    if prev is not None and prev.patchable and len(fresh) + len(before) - len(inputs) <= len(present) // 4:
        kept = {id(f) for f in present}
        gone = [old[3] for old in before.values() if id(old[3]) not in kept]
        own = _patched(prev.own, [f.own for f in gone], [f.own for f in fresh])
        endpoint_chains = _patched(prev.endpoint_chains, [f.endpoint_chains for f in gone],
                                   [f.endpoint_chains for f in fresh])  # fmt: skip
        shared = prev.shared
        if shared is not None and len(present) == len(fragments) == len(prev.fragments):
            # Unchanged if each port wrote the same rules to the shared chains (a pod move touches only its own chains).
            if any(a is not b and (a is None or b is None or a.shared != b.shared)
                   for a, b in zip(prev.fragments, fragments, strict=True)):  # fmt: skip
                shared = merge_shared([pre, *present, post])
        else:
            shared = merge_shared([pre, *present, post]) if len(present) == len(fragments) else None
        if own is not None and endpoint_chains is not None:
            return ProxyPlan(idx.service_ports, large, fragments, inputs, own, endpoint_chains, shared, True)
    endpoint_chains = {}
    for f in present:
        endpoint_chains.update(f.endpoint_chains)
    shared = merge_shared([pre, *present, post]) if len(present) == len(fragments) else None
    own = merge_own(present)
    patchable = own is not None and len(endpoint_chains) == sum(len(f.endpoint_chains) for f in present)
    return ProxyPlan(idx.service_ports, large, fragments, inputs, own, endpoint_chains, shared, patchable)


def proxy_plan(snap: Snapshot) -> ProxyPlan:
    """This revision's :class:`ProxyPlan` (built once; fragments carried over from an older revision)."""
    return memo(snap, "kube-proxy-plan", lambda: _plan(snap))


def node_rules(snap: Snapshot, node: str) -> ProxyRules:
    """kube-proxy's rules for ``node`` at this revision (as data; see :mod:`~cluster.network.render` for text)."""
    idx = index(snap)
    if node not in idx.nodes:
        raise KeyError(node)
    plan = proxy_plan(snap)
    return memo(snap, ("kube-proxy", node), lambda: flat_rules(node, plan.node_fragments(idx, node), plan.large))


def _service_to_endpoints(
    out: _Writer,
    sp: ServicePort,
    chain: str,
    endpoints: tuple[Endpoint, ...],
    comment: Callable[[str], tuple[str, ...]],
) -> None:
    """Upstream ``writeServiceToEndpointRules``: affinity checks, then 1/n, 1/(n-1), ... then a sure match."""
    name, protocol = sp.name_string, sp.proto
    if sp.affinity_client_ip:
        for ep in endpoints:
            ep_chain = service_port_endpoint_chain_name(name, protocol, ep.string)
            out.w(
                "nat", chain, *comment(f"{name} -> {ep.string}"),
                "-m", "recent", "--name", ep_chain, "--rcheck", "--seconds", str(sp.affinity_timeout), "--reap",
                "-j", ep_chain,
            )  # fmt: skip
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        ep_chain = service_port_endpoint_chain_name(name, protocol, ep.string)
        stat = ("-m", "statistic", "--mode", "random", "--probability", probability(n - i)) if i < n - 1 else ()
        out.w("nat", chain, *comment(f"{name} -> {ep.string}"), *stat, "-j", ep_chain)


def _contains(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return False
