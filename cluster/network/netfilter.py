"""A node's netfilter tables (kube-proxy's and the CNI's rules) and a faithful evaluator.

The evaluator walks chains the way the kernel does: rules in order, a rule's
matches in order (so a ``statistic`` match only draws when the rule is reached),
jumps push a return point, ``RETURN`` or the end of a user chain pops it, the end
of a built-in chain applies its policy (``ACCEPT`` everywhere here), ``MARK`` is
non-terminating, ``DNAT``/``MASQUERADE``/``ACCEPT``/``DROP``/``REJECT`` end the
traversal of the table for that hook.  It returns the verdict, the NAT to apply,
the packet mark, and a trace of every rule that matched (plus every statistic
rule passed over, with its draw) so a walk can show the chain it followed.

Two shortcuts keep a walk cheap on a large cluster without changing a verdict or a
trace line: a long chain is entered through its index of the rules a packet could
match (:class:`~cluster.network.iptables.RuleList`), and a node's tables are layers
over the per-Service chains all nodes share (:class:`NodeTables`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.network import addressing as addr
from cluster.network import cni as cni_mod
from cluster.network import kube_proxy
from cluster.network.cache import memo
from cluster.network.index import Endpoint, ServicePort, index
from cluster.network.iptables import BUILTIN_CHAINS, Rule, RuleList
from cluster.network.snapshot import Snapshot

CANARY_CHAINS = ("KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY")
"""Empty chains kubelet and kube-proxy create to notice a flushed table."""


_EMPTY = RuleList()


def _flat_chains(
    proxy: kube_proxy.ProxyRules, cni_jumps: list[Rule], cni_rules: list[Rule], cni_chains: dict[str, list[str]]
) -> dict[str, dict[str, RuleList]]:
    """table -> chain -> rules, every chain spelled out: built-in chains first, then user chains in name order."""
    chains: dict[str, dict[str, RuleList]] = {}
    for table, builtins in BUILTIN_CHAINS.items():
        user = set(proxy.chains.get(table, ())) | set(cni_chains.get(table, ())) | set(CANARY_CHAINS)
        tbl: dict[str, RuleList] = {c: RuleList() for c in builtins}
        tbl.update({c: RuleList() for c in sorted(user)})
        chains[table] = tbl
    for rule in [*proxy.jumps, *cni_jumps, *proxy.rules, *cni_rules]:
        chains[rule.table].setdefault(rule.chain, RuleList()).append(rule)
    return chains


class NodeTables:
    """Every rule of one node's ``nat`` and ``filter`` tables.

    A walk looks chains up one at a time, so the tables are kept in layers: the
    chains this node assembles itself (built-in, kube-proxy's shared chains, the
    CNI's), then the per-service-port chains generated for this node alone, then
    those every node shares (one object per revision, see
    :class:`~cluster.network.kube_proxy.ProxyPlan`).  ``chains`` spells every chain
    out in ``iptables-save`` order, on first use.
    """

    __slots__ = ("_chains", "_endpoints", "_flat", "_layers", "_proxy", "node")

    def __init__(
        self,
        node: str,
        layers: list[Mapping[tuple[str, str], RuleList | kube_proxy.LazyChain]],
        endpoints: list[dict[str, tuple[ServicePort, Endpoint]]],
        flat: Callable[[], tuple[kube_proxy.ProxyRules, dict[str, dict[str, RuleList]]]],
    ) -> None:
        self.node = node
        self._layers = layers
        self._endpoints = endpoints
        self._flat = flat
        self._proxy: kube_proxy.ProxyRules | None = None
        self._chains: dict[str, dict[str, RuleList]] | None = None

    def chain(self, table: str, chain: str) -> RuleList:
        key = (table, chain)
        for layer in self._layers:
            rules = layer.get(key)
            if rules is not None:
                return rules.rules() if isinstance(rules, kube_proxy.LazyChain) else rules
        return _EMPTY

    def has_chain(self, table: str, chain: str) -> bool:
        key = (table, chain)
        return any(key in layer for layer in self._layers)

    def endpoint_chain(self, chain: str) -> tuple[ServicePort | None, Endpoint | None]:
        """The service port and endpoint a ``KUBE-SEP-*`` chain DNATs to."""
        for layer in self._endpoints:
            found = layer.get(chain)
            if found is not None:
                return found
        return None, None

    def _spell_out(self) -> None:
        self._proxy, self._chains = self._flat()

    @property
    def chains(self) -> dict[str, dict[str, RuleList]]:
        """table -> chain -> rules; built-in chains first, then user chains in name order."""
        if self._chains is None:
            self._spell_out()
        assert self._chains is not None
        return self._chains

    @property
    def proxy(self) -> kube_proxy.ProxyRules:
        """kube-proxy's part, as :func:`~cluster.network.kube_proxy.generate` writes it."""
        if self._proxy is None:
            self._spell_out()
        assert self._proxy is not None
        return self._proxy


def _assemble(snap: Snapshot, node: str) -> NodeTables:
    """The node's layers: built-in, kube-proxy's shared and the CNI's chains; its own fragments; the plan's."""
    idx = index(snap)
    plan = kube_proxy.proxy_plan(snap)
    cni_jumps, cni_rules, cni_chains = cni_mod.iptables_rules(snap, idx.nodes[node])

    def flat() -> tuple[kube_proxy.ProxyRules, dict[str, dict[str, RuleList]]]:
        proxy = kube_proxy.node_rules(snap, node)
        return proxy, _flat_chains(proxy, cni_jumps, cni_rules, cni_chains)

    mine = plan.node_only(idx, node)
    own = kube_proxy.merge_own(mine)
    if plan.own is None or own is None or any(key in plan.own for key in own):
        # Two service ports claim one chain name: only the spelled-out tables are right.
        proxy, chains = flat()
        layer = {(table, chain): rules for table, tbl in chains.items() for chain, rules in tbl.items()}
        return NodeTables(node, [layer], [proxy.endpoint_chains], lambda: (proxy, chains))
    shared = plan.shared if plan.shared is not None else kube_proxy.merge_shared(plan.node_fragments(idx, node, mine))
    local: dict[tuple[str, str], RuleList] = {}
    for table, builtins in BUILTIN_CHAINS.items():
        declared = kube_proxy.FILTER_CHAINS if table == "filter" else kube_proxy.NAT_CHAINS
        for chain in (*builtins, *declared, *cni_chains.get(table, ()), *CANARY_CHAINS):
            local[(table, chain)] = RuleList()
    for rule in [*kube_proxy.jump_rules(), *cni_jumps]:
        local.setdefault((rule.table, rule.chain), RuleList()).append(rule)
    for key, rules in shared.items():
        if local.get(key):
            local[key] = RuleList([*local[key], *rules])
        else:
            local[key] = rules  # one object for every node of the revision (and its chain index with it)
    for rule in cni_rules:
        key = (rule.table, rule.chain)
        local[key] = RuleList([*local.get(key, ()), rule])
    endpoints = [plan.endpoint_chains]
    for f in mine:
        endpoints.insert(0, f.endpoint_chains)
    return NodeTables(node, [local, own, plan.own], endpoints, flat)


def node_tables(snap: Snapshot, node: str) -> NodeTables:
    """Every rule in the node's ``nat`` and ``filter`` tables (cached per revision and node)."""
    if node not in index(snap).nodes:
        raise KeyError(node)
    return memo(snap, ("iptables", node), lambda: _assemble(snap, node))


@dataclass(slots=True)
class Packet:
    """The fields netfilter matches on."""

    src: str
    dst: str
    proto: str
    sport: int | None
    dport: int | None
    in_iface: str | None = None
    out_iface: str | None = None
    mark: int = 0
    ctstate: frozenset[str] = frozenset({"NEW"})
    _src_int: int = field(default=-1, repr=False)
    _dst_int: int = field(default=-1, repr=False)

    def src_int(self) -> int:
        if self._src_int < 0:
            self._src_int = addr.ip_int(self.src)
        return self._src_int

    def dst_int(self) -> int:
        if self._dst_int < 0:
            self._dst_int = addr.ip_int(self.dst)
        return self._dst_int


@dataclass(slots=True)
class Verdict:
    verdict: str
    """``ACCEPT``, ``DROP`` or ``REJECT`` (for the nat table: ``ACCEPT`` unless it NATs)."""
    rule: Rule | None
    dnat: tuple[str, int | None] | None = None
    masquerade: bool = False
    mark: int = 0
    trace: list[dict[str, Any]] = field(default_factory=list)

    @property
    def decisive(self) -> dict[str, Any] | None:
        return self.rule.as_dict() if self.rule is not None else None


@dataclass(slots=True)
class Context:
    is_local: Callable[[str], bool]
    rng: random.Random
    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _iface_match(pattern: str, iface: str | None) -> bool:
    if iface is None:
        return False
    return iface.startswith(pattern[:-1]) if pattern.endswith("+") else iface == pattern


def _in_cidrs(ip: str, cidrs: tuple[str, ...]) -> bool:
    return any(addr.in_cidr(ip, c) for c in cidrs)


def _match(rule: Rule, p: Packet, ctx: Context, notes: dict[str, Any]) -> bool:
    if rule.src is not None:
        net, mask = rule.cidr("s")
        if ((p.src_int() & mask) == net) == rule.src[1]:
            return False
    if rule.dst is not None:
        net, mask = rule.cidr("d")
        if ((p.dst_int() & mask) == net) == rule.dst[1]:
            return False
    if rule.proto is not None and (rule.proto[0] == p.proto) == rule.proto[1]:
        return False
    if rule.in_iface is not None and _iface_match(*rule.in_iface[:1], p.in_iface) == rule.in_iface[1]:
        return False
    if rule.out_iface is not None and _iface_match(*rule.out_iface[:1], p.out_iface) == rule.out_iface[1]:
        return False
    for m in rule.matches:
        mod = m.module
        if mod in ("comment", "nfacct"):
            continue
        for o in m.options:
            if mod in ("tcp", "udp", "sctp"):
                if p.proto != mod:
                    return False
                value = p.dport if o.name == "--dport" else p.sport
                hit = value is not None and str(value) == o.value
            elif mod == "addrtype":
                if o.name in ("--limit-iface-in", "--limit-iface-out"):
                    continue
                ip = p.dst if o.name == "--dst-type" else p.src
                hit = o.value == "LOCAL" and ctx.is_local(ip)
            elif mod == "mark":
                value, _, mask = (o.value or "0").partition("/")
                m_int = int(mask, 16) if mask else 0xFFFFFFFF
                hit = (p.mark & m_int) == int(value, 16)
            elif mod == "statistic":
                if o.name != "--probability":
                    continue
                roll = ctx.rng.random()
                hit = roll < float(o.value or 0)
                notes.update(probability=o.value, roll=round(roll, 6))
            elif mod == "recent":
                if o.name in ("--rcheck", "--update"):
                    hit = False  # a first connection has no "recent" entry yet
                else:
                    continue
            elif mod == "conntrack":
                hit = bool(set((o.value or "").split(",")) & p.ctstate)
            elif mod == "set":
                name, _, direction = (o.value or "").partition(" ")
                hit = _in_cidrs(p.src if direction == "src" else p.dst, ctx.sets.get(name, ()))
            else:
                continue
            if hit == o.negated:
                return False
    return True


def _entry(rule: Rule, matched: bool, notes: dict[str, Any]) -> dict[str, Any]:
    return {
        "table": rule.table,
        "chain": rule.chain,
        "rule": rule.text(),
        "saved": rule.saved(),
        "target": rule.target,
        "matched": matched,
        **notes,
    }


MAX_DEPTH = 64


def run(tables: NodeTables, table: str, chain: str, p: Packet, ctx: Context) -> Verdict:
    """Traverse built-in ``chain`` of ``table`` for packet ``p``."""
    trace: list[dict[str, Any]] = []
    stack: list[tuple[list[Rule], int]] = []
    rules, i = tables.chain(table, chain).candidates(p), 0
    mark = p.mark
    while True:
        if i >= len(rules):
            if not stack:
                return Verdict("ACCEPT", None, mark=mark, trace=trace)
            rules, i = stack.pop()
            continue
        rule = rules[i]
        i += 1
        notes: dict[str, Any] = {}
        p.mark = mark
        if not _match(rule, p, ctx, notes):
            if notes:
                trace.append(_entry(rule, False, notes))
            continue
        trace.append(_entry(rule, True, notes))
        target = rule.target
        if not target or target == "LOG":
            continue
        if target == "MARK":
            op, value = rule.target_options[0], int(rule.target_options[1].split("/")[0], 16)
            mark = mark | value if op == "--or-mark" else mark ^ value if op == "--xor-mark" else value
            continue
        if target == "RETURN":
            if not stack:
                return Verdict("ACCEPT", None, mark=mark, trace=trace)
            rules, i = stack.pop()
            continue
        if target in ("ACCEPT", "DROP", "REJECT"):
            return Verdict(target, rule, mark=mark, trace=trace)
        if target == "DNAT":
            to = rule.target_options[rule.target_options.index("--to-destination") + 1]
            host, _, port = to.partition(":")
            return Verdict("ACCEPT", rule, dnat=(host, int(port) if port else None), mark=mark, trace=trace)
        if target in ("MASQUERADE", "SNAT"):
            return Verdict("ACCEPT", rule, masquerade=True, mark=mark, trace=trace)
        if tables.has_chain(table, target):
            if len(stack) >= MAX_DEPTH:
                raise RuntimeError(f"iptables chain loop at {target}")
            stack.append((rules, i))
            rules, i = tables.chain(table, target).candidates(p), 0
            continue
        raise ValueError(f"unknown target {target} in {rule.text()}")
