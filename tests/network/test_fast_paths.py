"""The shortcuts the model takes for speed give exactly what the plain way gives.

* the graph, assembled from parts (and from an older revision's parts), equals the
  graph built edge by edge with networkx, down to iteration order;
* a chain's index skips only rules that could not have matched;
* the snapshot diff names what changed, and refuses what it cannot diff;
* a value is reused across revisions only from the very same inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.network import build_graph, cache, devices, iptables, netfilter
from cluster.network.cni import mode
from cluster.network.delta import diff
from cluster.network.index import ClusterIndex, index
from cluster.network.iptables import Rule, RuleList, parse
from cluster.network.neighbours import bridge_entries
from cluster.network.snapshot import Snapshot
from tests.network.factories import kind_cluster, pod, slice_for
from tests.network.test_incremental import changes
from tests.network.test_properties import clusters


def reference_graph(snap: Snapshot, idx: ClusterIndex) -> nx.MultiDiGraph:
    """The graph as it was built before it was assembled from parts: every node and edge through networkx."""
    cni = mode(snap)
    g: nx.MultiDiGraph = nx.MultiDiGraph(
        cluster=snap.cluster, revision=snap.revision, cni=snap.cni, pod_cidr=snap.pod_cidr,
        service_cidr=snap.service_cidr, node_cidr=snap.node_cidr,
    )  # fmt: skip
    nodes: list[tuple[str, dict[str, Any]]] = []
    edges: list[tuple[str, str, str, dict[str, Any]]] = []

    def attrs(d: devices.Device) -> dict[str, Any]:
        return {"kind": "device", "type": d.type, "label": d.name, "name": d.name, "netns": d.netns, "node": d.node,
                "mac": d.mac, "addresses": list(d.addresses), "mtu": d.mtu, **d.attrs}  # fmt: skip

    def both(a: str, b: str, kind: str, **extra: Any) -> None:
        edges.append((a, b, kind, {"type": kind, **extra}))
        edges.append((b, a, kind, {"type": kind, **extra}))

    gw = devices.underlay_gateway(idx)
    nodes += [
        (devices.UNDERLAY, {"kind": "segment", "label": snap.node_cidr, "cidr": snap.node_cidr, "gateway": gw}),
        (devices.GATEWAY, {"kind": "router", "label": gw, "ip": gw}),
        (devices.CLIENT, {"kind": "host", "label": "external client", "ip": "203.0.113.10"}),
    ]
    both(devices.GATEWAY, devices.UNDERLAY, "link")
    both(devices.CLIENT, devices.GATEWAY, "uplink")
    for info in idx.nodes.values():
        ns = devices.node_ns(info.name)
        nodes.append((ns, {"kind": "netns", "scope": "node", "label": info.name, "node": info.name, "ip": info.ip,
                           "pod_cidr": info.pod_cidr}))  # fmt: skip
        for d in devices.node_devices(idx, info):
            a = attrs(d)
            if d.type == "bridge":
                a["fdb"] = [e.as_dict() for e in bridge_entries(idx, info.name)]
            nodes.append((d.id, a))
            both(ns, d.id, "member")
            if d.type == "veth":
                both(d.id, devices.pod_dev(str(d.attrs["pod"]), "eth0"), "veth")
                if cni.bridge:
                    both(d.id, devices.node_dev(info.name, "cni0"), "bridge-port")
        both(devices.node_dev(info.name, "eth0"), devices.UNDERLAY, "link", mac=info.mac, ip=info.ip)
        if cni.overlay_dev:
            both(devices.node_dev(info.name, cni.overlay_dev), devices.node_dev(info.name, "eth0"), "tunnel",
                 encap=cni.encap, port=cni.udp_port, vni=cni.vni)  # fmt: skip
    for p in idx.pods.values():
        if p.host_network or not p.ip or p.node not in idx.nodes:
            continue
        ns = devices.pod_ns(p.key)
        nodes.append((ns, {"kind": "netns", "scope": "pod", "label": p.key, "node": p.node, "ip": p.ip,
                           "labels": dict(p.labels), "containers": list(p.containers)}))  # fmt: skip
        for d in devices.pod_devices(idx, p):
            nodes.append((d.id, attrs(d)))
            both(ns, d.id, "member")
    for sp in idx.service_ports:
        sid = devices.svc_id(sp.key)
        nodes.append((sid, {"kind": "service", "label": sp.key, "cluster_ip": sp.cluster_ip, "type": sp.type}))
        for ep in idx.endpoints_for(sp):
            if ep.pod and ep.pod in idx.pods and idx.pods[ep.pod].ip:
                edges.append((sid, devices.pod_ns(ep.pod), f"endpoint:{sp.name_string}",
                              {"type": "endpoint", "port": sp.name_string, "target": ep.string}))  # fmt: skip
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g


def layout(g: nx.MultiDiGraph) -> tuple[Any, ...]:
    """Everything networkx iterates, in its order: graph attributes, nodes, successors, predecessors."""
    succ = [(u, [(v, list(kd.items())) for v, kd in nbrs.items()]) for u, nbrs in g._succ.items()]
    pred = [(v, [(u, list(kd.items())) for u, kd in nbrs.items()]) for v, nbrs in g._pred.items()]
    return dict(g.graph), list(g.nodes(data=True)), succ, pred


def _check_graph(snap: Snapshot) -> None:
    g = build_graph(snap)
    assert nx.is_frozen(g)
    assert layout(g) == layout(reference_graph(snap, index(snap)))
    for u, nbrs in g._succ.items():
        for v, keydict in nbrs.items():
            assert g._pred[v][u] is keydict


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.data())
def test_assembled_graph_equals_the_networkx_built_one(base: Snapshot, data: st.DataObject) -> None:
    cache.clear()
    _check_graph(base)
    snap = base
    for _ in range(data.draw(st.integers(1, 3))):
        snap = dataclasses.replace(snap, revision=snap.revision + 1, **data.draw(changes(snap)))
        _check_graph(snap)  # derived from the previous revision's parts


def test_endpoint_to_a_host_network_pod_adds_a_bare_node_as_networkx_would() -> None:
    snap = kind_cluster()
    pods = [*snap.pods, pod("default", "hostweb", "kind-worker", "172.18.0.3", labels={"app": "web"},
                            host_network=True)]  # fmt: skip
    slices = [slice_for(s, pods) for s in snap.services if s["spec"].get("selector")]
    later = dataclasses.replace(snap, revision=snap.revision + 1, pods=tuple(pods), endpointslices=tuple(slices))
    build_graph(snap)
    _check_graph(later)
    assert build_graph(later).nodes["pod/default/hostweb"] == {}


def test_old_graph_is_untouched_by_a_derived_one() -> None:
    snap = kind_cluster()
    g = build_graph(snap)
    before = layout(g)
    pods = list(copy.deepcopy(snap.pods))
    pods[2]["status"]["podIP"] = pods[2]["status"]["podIPs"][0]["ip"] = "10.244.1.77"
    later = dataclasses.replace(snap, revision=snap.revision + 1, pods=tuple(pods))
    assert build_graph(later) is not g
    assert layout(g) == before


def _rules(rng: random.Random) -> list[Rule]:
    out = []
    for n in range(rng.randint(8, 40)):
        args: list[str] = []
        if rng.random() < 0.2:
            args += ["!", "-s", f"10.0.0.{rng.randint(0, 3)}"] if rng.random() < 0.5 else ["-s", "10.0.0.0/30"]
        if rng.random() < 0.7:
            neg = ["!"] if rng.random() < 0.1 else []
            args += [*neg, "-d", rng.choice(["10.96.0.1", "10.96.0.2", "10.96.0.3", "10.96.0.0/24", "1.2.3.4"])]
        proto = rng.choice(["tcp", "udp"])
        if rng.random() < 0.3:
            args += ["-m", "statistic", "--mode", "random", "--probability", "0.5000000000"]
        if rng.random() < 0.7:
            neg = ["!"] if rng.random() < 0.1 else []
            args += ["-m", proto, "-p", proto, *neg, "--dport", str(rng.choice([80, 443, 30080]))]
        if rng.random() < 0.2:
            args += ["-m", "statistic", "--mode", "random", "--probability", "0.2500000000"]
        args += ["-j", rng.choice(["ACCEPT", "DROP", "KUBE-MARK-MASQ", "RETURN"]) if n % 3 == 0 else "KUBE-MARK-MASQ"]
        out.append(parse("nat", "KUBE-TEST", args))
    return out


def _prerouting(tables: netfilter.NodeTables, packet: dict[str, Any], draws: int) -> netfilter.Verdict:
    ctx = netfilter.Context(is_local=lambda ip: False, rng=random.Random(draws))
    return netfilter.run(tables, "nat", "PREROUTING", netfilter.Packet(**packet), ctx)


@pytest.mark.parametrize("seed", range(40))
def test_chain_index_skips_only_rules_that_cannot_match(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    rules = _rules(rng)
    mark = parse("nat", "KUBE-MARK-MASQ", ["-j", "MARK", "--or-mark", "0x4000"])
    layer = {("nat", "PREROUTING"): RuleList([parse("nat", "PREROUTING", ["-j", "KUBE-TEST"])]),
             ("nat", "KUBE-TEST"): RuleList(rules), ("nat", "KUBE-MARK-MASQ"): RuleList([mark])}  # fmt: skip
    tables = netfilter.NodeTables("n", [layer], [], lambda: (None, {}))  # type: ignore[arg-type,return-value]
    for _ in range(20):
        src, dst = rng.choice(["10.0.0.1", "10.0.0.9"]), rng.choice(["10.96.0.1", "10.96.0.2", "10.96.0.9", "1.2.3.4"])
        proto, dport = rng.choice(["tcp", "udp"]), rng.choice([80, 443, 30080, 53])
        packet = {"src": src, "dst": dst, "proto": proto, "sport": 1, "dport": dport}
        draws = rng.randrange(1000)
        indexed = _prerouting(tables, packet, draws)
        with monkeypatch.context() as m:
            m.setattr(iptables, "_INDEX_MIN", 10**9)  # every rule tried, as the kernel does
            linear = _prerouting(tables, packet, draws)
        assert (indexed.verdict, indexed.rule, indexed.mark, indexed.trace) == (
            linear.verdict,
            linear.rule,
            linear.mark,
            linear.trace,
        )


def test_diff_names_changed_objects_and_refuses_what_it_cannot_match() -> None:
    snap = kind_cluster()
    assert diff(snap, snap) is not None and diff(snap, snap).size == 0  # type: ignore[union-attr]
    fresh = copy.deepcopy(snap)  # equal, but not one dict in common: compared by content
    same = diff(snap, fresh)
    assert same is not None and same.size == 0
    pods = list(copy.deepcopy(snap.pods))
    pods[1]["metadata"]["labels"] = {"app": "other"}
    moved = dataclasses.replace(snap, pods=(*pods[2:], *pods[:2]))  # reordered unchanged pods
    assert diff(snap, moved) is None
    dup = dataclasses.replace(snap, pods=(*snap.pods, snap.pods[0]))
    assert diff(snap, dup) is None
    changed = dataclasses.replace(snap, pods=tuple(pods))
    d = diff(snap, changed)
    assert d is not None and d.pods.changed == {"default/client"} and d.pods.keys is None
    removed = dataclasses.replace(snap, pods=snap.pods[:-1])
    d = diff(snap, removed)
    assert d is not None and d.pods.changed == {"default/db"} and d.pods.new == {} and d.pods.keys is not None


def test_reuse_needs_the_very_same_inputs_and_configuration() -> None:
    cache.clear()
    snap = kind_cluster()
    later = dataclasses.replace(snap, revision=snap.revision + 1)
    other = dataclasses.replace(snap, revision=snap.revision + 2, cni="calico-bgp")
    deps = (object(),)
    value = cache.memo_reuse(snap, "x", deps, lambda: ["first"])
    assert cache.memo_reuse(later, "x", deps, lambda: ["second"]) is value
    assert cache.memo_reuse(later, "y", deps, lambda: ["third"]) == ["third"]
    assert cache.memo_reuse(other, "x", deps, lambda: ["fourth"]) == ["fourth"]  # another configuration
    newer = dataclasses.replace(snap, revision=snap.revision + 3)
    assert cache.memo_reuse(newer, "x", (object(),), lambda: ["fifth"]) == ["fifth"]  # other inputs
