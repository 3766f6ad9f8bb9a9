"""iptables rules as data, in the two text forms a student meets.

A rule is kept as the argument list its author wrote (kube-proxy's, flannel's),
because that is the form upstream's code and tests use, and it is parsed once into
a structured view used both to evaluate it and to print it the way
``iptables-save`` prints it back from the kernel: addresses with their mask,
``-s/-d/-p`` first, ``--or-mark`` shown as ``--set-xmark``, the statistic
probability rounded to the kernel's 31-bit fixed point (``0.3333333333`` written,
``0.33333333349`` read back), and ``REJECT``'s default ``--reject-with``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cluster.network.netfilter import Packet

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}

_MODULE_OPTIONS: dict[str, frozenset[str]] = {
    "comment": frozenset({"--comment"}),
    "tcp": frozenset({"--dport", "--sport"}),
    "udp": frozenset({"--dport", "--sport"}),
    "sctp": frozenset({"--dport", "--sport"}),
    "addrtype": frozenset({"--dst-type", "--src-type", "--limit-iface-out", "--limit-iface-in"}),
    "mark": frozenset({"--mark"}),
    "statistic": frozenset({"--mode", "--probability"}),
    "recent": frozenset({"--name", "--set", "--rcheck", "--update", "--seconds", "--reap", "--mask", "--rsource"}),
    "conntrack": frozenset({"--ctstate"}),
    "set": frozenset({"--match-set"}),
    "nfacct": frozenset({"--nfacct-name"}),
}
_FLAGS = frozenset({"--set", "--rcheck", "--update", "--reap", "--rsource", "--limit-iface-out", "--limit-iface-in"})
_TWO_VALUES = frozenset({"--match-set"})


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    value: str | None
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    module: str
    options: tuple[Option, ...]

    def get(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``-A`` line: ``tokens`` as written, the rest parsed from them."""

    table: str
    chain: str
    tokens: tuple[str, ...]
    src: tuple[str, bool] | None
    dst: tuple[str, bool] | None
    proto: tuple[str, bool] | None
    in_iface: tuple[str, bool] | None
    out_iface: tuple[str, bool] | None
    matches: tuple[Match, ...]
    target: str
    target_options: tuple[str, ...]
    owner: str = "kube-proxy"
    _nets: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)
    _lines: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """``text()``/``saved()`` once formatted: rules are shared and every walk's trace prints them."""

    @property
    def comment(self) -> str | None:
        for m in self.matches:
            if m.module == "comment":
                opt = m.get("--comment")
                return opt.value if opt else None
        return None

    def match(self, module: str) -> Match | None:
        return next((m for m in self.matches if m.module == module), None)

    def cidr(self, which: str) -> tuple[int, int]:
        """``(network, mask)`` as ints for the ``-s``/``-d`` address (parsed once)."""
        cached = self._nets.get(which)
        if cached is None:
            value = (self.src if which == "s" else self.dst) or ("0.0.0.0/0", False)
            net = ipaddress.IPv4Network(value[0], strict=False)
            cached = (int(net.network_address), int(net.netmask))
            self._nets[which] = cached
        return cached

    def text(self) -> str:
        """The rule as its author wrote it (``iptables-restore`` input)."""
        line = self._lines.get("text")
        if line is None:
            line = self._lines.setdefault("text", restore_line(self))
        return line

    def saved(self) -> str:
        """The rule as ``iptables-save`` prints it back."""
        line = self._lines.get("saved")
        if line is None:
            line = self._lines.setdefault("saved", save_line(self))
        return line

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "chain": self.chain,
            "text": self.text(),
            "saved": self.saved(),
            "owner": self.owner,
        }


def parse(table: str, chain: str, tokens: list[str] | tuple[str, ...], owner: str = "kube-proxy") -> Rule:
    """Parse an argument list (without ``-A chain``) the way iptables attributes options to matches."""
    toks = tuple(tokens)
    src = dst = proto = in_iface = out_iface = None
    matches: list[tuple[str, list[Option]]] = []
    target, target_options = "", ()
    negate = False
    i = 0
    while i < len(toks):
        t = toks[i]
        if t == "!":
            negate = True
            i += 1
            continue
        if t in ("-s", "-d", "-p", "-i", "-o"):
            value = (toks[i + 1], negate)
            if t == "-s":
                src = value
            elif t == "-d":
                dst = value
            elif t == "-p":
                proto = value
            elif t == "-i":
                in_iface = value
            else:
                out_iface = value
            i += 2
        elif t == "-m":
            matches.append((toks[i + 1], []))
            i += 2
        elif t == "-j":
            target, target_options = toks[i + 1], toks[i + 2 :]
            break
        elif t.startswith("--"):
            owner_match = next((m for m in reversed(matches) if t in _MODULE_OPTIONS.get(m[0], ())), None)
            if owner_match is None:
                raise ValueError(f"option {t} belongs to no loaded match in {' '.join(toks)}")
            if t in _FLAGS:
                owner_match[1].append(Option(t, None, negate))
                i += 1
            elif t in _TWO_VALUES:
                owner_match[1].append(Option(t, f"{toks[i + 1]} {toks[i + 2]}", negate))
                i += 3
            else:
                owner_match[1].append(Option(t, toks[i + 1], negate))
                i += 2
        else:
            raise ValueError(f"unexpected token {t!r} in {' '.join(toks)}")
        negate = False
    return Rule(
        table=table,
        chain=chain,
        tokens=toks,
        src=src,
        dst=dst,
        proto=proto,
        in_iface=in_iface,
        out_iface=out_iface,
        matches=tuple(Match(m, tuple(opts)) for m, opts in matches),
        target=target,
        target_options=tuple(target_options),
        owner=owner,
    )


def _quote_restore(token: str) -> str:
    return f'"{token}"' if (" " in token or not token) else token


def restore_line(rule: Rule) -> str:
    """``-A CHAIN args...``, quoting only arguments with spaces, as kube-proxy writes them."""
    return " ".join(["-A", rule.chain, *(_quote_restore(t) for t in rule.tokens)])


_NO_QUOTE = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def save_string(value: str) -> str:
    """libxtables' ``xtables_save_string``: bare if only ``[A-Za-z0-9_-]``, else double-quoted."""
    if value and all(c in _NO_QUOTE for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f'"{escaped}"'


def _with_mask(cidr: str) -> str:
    return cidr if "/" in cidr else f"{cidr}/32"


def _hex(value: str) -> str:
    return hex(int(value, 16))


def kernel_probability(written: str) -> str:
    """The probability as the kernel stores it (``lround(2^31 * p)``) and ``iptables-save`` prints it."""
    stored = math.floor(0x80000000 * float(written) + 0.5)
    return f"{stored / 0x80000000:.11f}"


def _save_match(m: Match) -> list[str]:
    out: list[str] = []

    def opt(o: Option, value: str | None = None) -> None:
        if o.negated:
            out.append("!")
        out.append(o.name)
        v = o.value if value is None else value
        if v is not None:
            out.extend(v.split(" ") if o.name in _TWO_VALUES else [v])

    if m.module == "comment":
        c = m.get("--comment")
        if c is not None:
            out += ["--comment", save_string(c.value or "")]
    elif m.module in ("tcp", "udp", "sctp"):
        for name in ("--sport", "--dport"):
            o = m.get(name)
            if o is not None:
                opt(o)
    elif m.module == "addrtype":
        for name in ("--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"):
            o = m.get(name)
            if o is not None:
                opt(o)
    elif m.module == "mark":
        o = m.get("--mark")
        if o is not None and o.value:
            value, _, mask = o.value.partition("/")
            opt(o, _hex(value) + (f"/{_hex(mask)}" if mask else ""))
    elif m.module == "statistic":
        mode, prob = m.get("--mode"), m.get("--probability")
        if mode is not None:
            opt(mode)
        if prob is not None and prob.value:
            opt(prob, kernel_probability(prob.value))
    elif m.module == "recent":
        for name in ("--set", "--rcheck", "--update", "--seconds", "--reap"):
            o = m.get(name)
            if o is not None:
                opt(o)
        name_opt = m.get("--name")
        out += ["--name", name_opt.value if name_opt and name_opt.value else "DEFAULT"]
        out += ["--mask", "255.255.255.255", "--rsource"]
    else:
        for o in m.options:
            opt(o)
    return ["-m", m.module, *out]


def _save_target(rule: Rule) -> list[str]:
    opts = list(rule.target_options)
    if rule.target == "MARK" and len(opts) == 2:
        value = _hex(opts[1])
        if opts[0] == "--or-mark":
            opts = ["--set-xmark", f"{value}/{value}"]
        elif opts[0] == "--xor-mark":
            opts = ["--set-xmark", f"{value}/0x0"]
    if rule.target == "REJECT" and not opts:
        opts = ["--reject-with", "icmp-port-unreachable"]
    return ["-j", rule.target, *opts]


def save_line(rule: Rule) -> str:
    parts = ["-A", rule.chain]
    for flag, value in (("-s", rule.src), ("-d", rule.dst)):
        if value is not None:
            parts += (["!"] if value[1] else []) + [flag, _with_mask(value[0])]
    for flag, value in (("-i", rule.in_iface), ("-o", rule.out_iface), ("-p", rule.proto)):
        if value is not None:
            parts += (["!"] if value[1] else []) + [flag, value[0]]
    for m in rule.matches:
        parts += _save_match(m)
    if rule.target:
        parts += _save_target(rule)
    return " ".join(parts)


_INDEX_MIN = 8
"""Chains shorter than this are scanned as they are; an index would not pay for itself."""


@dataclass(frozen=True, slots=True)
class _ChainIndex:
    size: int
    """The chain's length when indexed (a chain still being filled is indexed again)."""
    wild: tuple[int, ...]
    """Positions of rules every packet must be tried against."""
    by_dst: dict[int, tuple[int, ...]]
    """``-d <host>/32`` -> positions of the rules with that destination."""
    by_port: dict[tuple[str, str], tuple[int, ...]]
    """``(protocol, --dport)`` -> positions of side-effect-free rules with that port."""


def _skip_key(rule: Rule) -> tuple[int] | tuple[str, str] | None:
    """What a packet must carry for ``rule`` to possibly match, if one field decides it.

    Only fields :func:`cluster.network.netfilter._match` checks before anything with a side
    effect qualify: ``-d`` comes before every match, and a ``--dport`` only when the rule
    has no ``statistic`` match (whose draw would consume randomness and leave a trace entry).
    """
    if rule.dst is not None and not rule.dst[1]:
        try:
            net, mask = rule.cidr("d")
        except ValueError:
            return None  # not an address: tried (and failing) exactly where the kernel would reach it
        if mask == 0xFFFFFFFF:
            return (net,)
    if any(m.module == "statistic" for m in rule.matches):
        return None
    for m in rule.matches:
        if m.module in ("tcp", "udp", "sctp"):
            for o in m.options:
                if o.name == "--dport" and not o.negated and o.value is not None:
                    return (m.module, o.value)
    return None


class RuleList(list[Rule]):
    """One chain's rules, with an index (built on first use) of the rules a packet can match.

    The kernel scans a chain rule by rule, and so does :func:`run`; but ``KUBE-SERVICES``
    of a 1,000-Service cluster holds a thousand ``-d <ClusterIP>`` rules.  A rule whose
    ``-d`` host or side-effect-free ``--dport`` differs from the packet's fails before
    anything observable happens (no draw, no trace entry), so skipping it changes nothing.
    """

    _index: _ChainIndex | None = None
    """Set on first use (no ``__init__``: plain ``list`` construction stays as fast as it is)."""

    def _build_index(self) -> _ChainIndex:
        wild: list[int] = []
        by_dst: dict[int, list[int]] = {}
        by_port: dict[tuple[str, str], list[int]] = {}
        for i, rule in enumerate(self):
            key = _skip_key(rule)
            if key is None:
                wild.append(i)
            elif len(key) == 1:
                by_dst.setdefault(key[0], []).append(i)  # type: ignore[arg-type]
            else:
                by_port.setdefault(key, []).append(i)  # type: ignore[arg-type]
        return _ChainIndex(
            len(self), tuple(wild), {k: tuple(v) for k, v in by_dst.items()}, {k: tuple(v) for k, v in by_port.items()}
        )

    def candidates(self, p: Packet) -> list[Rule]:
        """The rules ``p`` has to be tried against, in chain order (all of them for a short chain)."""
        if len(self) < _INDEX_MIN:
            return self
        index = self._index
        if index is None or index.size != len(self):
            index = self._index = self._build_index()
        try:
            dst = p.dst_int()
        except ValueError:
            return self
        hits = index.by_dst.get(dst, ()) + index.by_port.get((p.proto, str(p.dport)), ())
        positions = sorted(index.wild + hits) if hits else index.wild
        return [self[i] for i in positions]
