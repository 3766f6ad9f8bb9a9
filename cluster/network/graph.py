"""The cluster network as a networkx graph: namespaces, devices, links, for the browser to draw.

Graph nodes (every one has ``kind`` and ``label``):

* ``kind="netns"``: ``node/<n>`` (a node's root namespace) and ``pod/<ns>/<name>``;
* ``kind="device"`` with ``type`` ``loopback``/``ethernet``/``bridge``/``veth``/``vxlan``/``ipip``,
  its ``mac``, ``addresses`` and ``mtu`` (``cni0`` carries its FDB, the overlay device
  its VNI, port and peers);
* ``kind="segment"``: ``net/underlay``, the node network linking every ``eth0``;
* ``kind="router"``/``"host"``: ``ext/gateway`` and ``ext/client`` outside it;
* ``kind="service"``: ``svc/<ns>/<name>`` (virtual: nothing in the data path owns a ClusterIP).

Edges are typed (``type``): ``member`` (namespace <-> device), ``veth`` (the two ends of
a pair), ``bridge-port`` (veth <-> cni0), ``link`` (eth0 <-> underlay), ``tunnel``
(overlay device <-> the eth0 it encapsulates through), ``uplink`` (gateway side) and
``endpoint`` (service -> pod).  Data-path edges exist in both directions, so a walk's
consecutive ``graph_node`` values are always adjacent.  Each hop of a walk names the
graph node it is at, so an animation can move along these edges.

The graph is assembled from *parts*: the outside world, one per node, one per pod
and one per Service, each a pure function of a few index records.  A new revision
rebuilds only the parts whose records changed and hands every other part, and the
adjacency of every graph node no changed part touches, to its new graph object
unchanged (the objects are shared, never mutated: every graph is frozen).  The
result is exactly what adding the same nodes and edges one by one would give,
down to the order networkx iterates them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from cluster.network import devices
from cluster.network.cache import memo, previous
from cluster.network.cni import mode
from cluster.network.index import ClusterIndex, ServicePort, index
from cluster.network.neighbours import bridge_entries
from cluster.network.snapshot import Snapshot

Attrs = dict[str, Any]
KeyDict = dict[str, Attrs]
"""An edge's keys -> attributes: networkx's ``G._succ[u][v]`` (the very object ``G._pred[v][u]`` is)."""


def _device_attrs(d: devices.Device) -> Attrs:
    return {
        "kind": "device",
        "type": d.type,
        "label": d.name,
        "name": d.name,
        "netns": d.netns,
        "node": d.node,
        "mac": d.mac,
        "addresses": list(d.addresses),
        "mtu": d.mtu,
        **d.attrs,
    }


@dataclass(frozen=True, slots=True)
class _Part:
    """Some graph nodes and the edges that come with them, plus the inputs they were built from."""

    deps: tuple[Any, ...]
    nodes: dict[str, Attrs]
    """Node id -> attributes, in the order they are added."""
    pairs: dict[tuple[str, str], KeyDict]
    """``(u, v)`` -> that edge's key dict, in the order each pair first appears."""
    foreign: tuple[str, ...]
    """Edge ends this part does not add itself (another part's, or none's), in order of first appearance."""
    touches: frozenset[str]
    """Every node it adds or has an edge at."""


class _Builder:
    """Adds nodes and edges with networkx's semantics (a repeated node or edge key merges its attributes)."""

    def __init__(self, old: _Part | None) -> None:
        self.old = old
        self.nodes: dict[str, Attrs] = {}
        self.pairs: dict[tuple[str, str], KeyDict] = {}

    def node(self, node_id: str, attrs: Attrs) -> None:
        self.nodes[node_id] = {**self.nodes[node_id], **attrs} if node_id in self.nodes else attrs

    def edge(self, u: str, v: str, key: str, attrs: Attrs) -> None:
        keydict = self.pairs.setdefault((u, v), {})
        keydict[key] = {**keydict[key], **attrs} if key in keydict else attrs

    def both(self, a: str, b: str, kind: str, **attrs: Any) -> None:
        self.edge(a, b, kind, {"type": kind, **attrs})
        self.edge(b, a, kind, {"type": kind, **attrs})

    def part(self, deps: tuple[Any, ...]) -> _Part:
        """The part; attribute and key dicts equal to the older version's are that version's objects."""
        nodes, pairs = self.nodes, self.pairs
        if self.old is not None:
            old_nodes, old_pairs = self.old.nodes, self.old.pairs
            nodes = {n: old_nodes[n] if old_nodes.get(n) == a else a for n, a in nodes.items()}
            pairs = {uv: old_pairs[uv] if old_pairs.get(uv) == kd else kd for uv, kd in pairs.items()}
        ends = dict.fromkeys(end for uv in pairs for end in uv)
        foreign = tuple(end for end in ends if end not in nodes)
        return _Part(deps, nodes, pairs, foreign, frozenset(nodes.keys() | ends.keys()))


def _header_part(snap: Snapshot, idx: ClusterIndex, old: _Part | None) -> _Part:
    b = _Builder(old)
    gw = devices.underlay_gateway(idx)
    b.node(devices.UNDERLAY, {"kind": "segment", "label": snap.node_cidr, "cidr": snap.node_cidr, "gateway": gw})
    b.node(devices.GATEWAY, {"kind": "router", "label": gw, "ip": gw})
    b.node(devices.CLIENT, {"kind": "host", "label": "external client", "ip": "203.0.113.10"})
    b.both(devices.GATEWAY, devices.UNDERLAY, "link")
    b.both(devices.CLIENT, devices.GATEWAY, "uplink")
    return b.part(())


def _node_part(idx: ClusterIndex, name: str, old: _Part | None) -> _Part:
    cni = mode(idx.snap)
    info = idx.nodes[name]
    b = _Builder(old)
    ns = devices.node_ns(info.name)
    b.node(ns, {"kind": "netns", "scope": "node", "label": info.name, "node": info.name, "ip": info.ip,
                "pod_cidr": info.pod_cidr})  # fmt: skip
    for d in devices.node_devices(idx, info):
        attrs = _device_attrs(d)
        if d.type == "bridge":
            attrs["fdb"] = [e.as_dict() for e in bridge_entries(idx, info.name)]
        b.node(d.id, attrs)
        b.both(ns, d.id, "member")
        if d.type == "veth":
            b.both(d.id, devices.pod_dev(str(d.attrs["pod"]), "eth0"), "veth")
            if cni.bridge:
                b.both(d.id, devices.node_dev(info.name, "cni0"), "bridge-port")
    b.both(devices.node_dev(info.name, "eth0"), devices.UNDERLAY, "link", mac=info.mac, ip=info.ip)
    if cni.overlay_dev:
        b.both(devices.node_dev(info.name, cni.overlay_dev), devices.node_dev(info.name, "eth0"), "tunnel",
               encap=cni.encap, port=cni.udp_port, vni=cni.vni)  # fmt: skip
    return b.part(_node_deps(idx, name))


def _node_deps(idx: ClusterIndex, name: str) -> tuple[Any, ...]:
    return (idx.nodes[name], idx.pods_on_node.get(name))


def _pod_part(idx: ClusterIndex, key: str, old: _Part | None) -> _Part:
    pod = idx.pods[key]
    b = _Builder(old)
    ns = devices.pod_ns(pod.key)
    b.node(ns, {"kind": "netns", "scope": "pod", "label": pod.key, "node": pod.node, "ip": pod.ip,
                "labels": dict(pod.labels), "containers": list(pod.containers)})  # fmt: skip
    for d in devices.pod_devices(idx, pod):
        b.node(d.id, _device_attrs(d))
        b.both(ns, d.id, "member")
    return b.part(_pod_deps(idx, key))


def _pod_deps(idx: ClusterIndex, key: str) -> tuple[Any, ...]:
    pod = idx.pods[key]
    return (pod, idx.nodes.get(pod.node or ""))


def _service_part(idx: ClusterIndex, ports: list[ServicePort], old: _Part | None) -> _Part:
    b = _Builder(old)
    for sp in ports:
        sid = devices.svc_id(sp.key)
        b.node(sid, {"kind": "service", "label": sp.key, "cluster_ip": sp.cluster_ip, "type": sp.type})
        for ep in idx.endpoints_for(sp):
            if ep.pod and ep.pod in idx.pods and idx.pods[ep.pod].ip:
                b.edge(sid, devices.pod_ns(ep.pod), f"endpoint:{sp.name_string}",
                       {"type": "endpoint", "port": sp.name_string, "target": ep.string})  # fmt: skip
    return b.part(_service_deps(idx, ports))


def _service_deps(idx: ClusterIndex, ports: list[ServicePort]) -> tuple[Any, ...]:
    """The ports, their endpoint lists, and whether each endpoint's pod has an IP (its edge depends on it)."""
    eps = [idx.endpoints_for(sp) for sp in ports]
    pods = idx.pods
    reachable = tuple(bool(ep.pod and ep.pod in pods and pods[ep.pod].ip) for group in eps for ep in group)
    return (*ports, *eps, reachable)


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Inputs match: the very same records (immutable, so identity implies equality), equal flags, or no endpoints."""
    return len(a) == len(b) and all(
        x is y or (type(x) is tuple and x == y) or (type(x) is list and x == [] == y) for x, y in zip(a, b, strict=True)
    )


def _parts(snap: Snapshot, idx: ClusterIndex, before: dict[tuple[str, str], _Part]) -> dict[tuple[str, str], _Part]:
    """Every part in graph order (outside world, nodes, pods, Services), reusing ``before``'s where inputs match."""
    out: dict[tuple[str, str], _Part] = {}
    get = before.get
    key: tuple[str, str] = ("h", "")
    old = get(key)
    out[key] = old if old is not None else _header_part(snap, idx, None)
    nodes, on_node = idx.nodes, idx.pods_on_node
    for name, info in nodes.items():  # inlined deps checks: this loop and the next run for every revision
        key = ("n", name)
        old = get(key)
        reuse = old is not None and old.deps[0] is info and old.deps[1] is on_node.get(name)
        out[key] = old if reuse and old is not None else _node_part(idx, name, old)
    for name, pod in idx.pods.items():
        if pod.host_network or not pod.ip or pod.node not in nodes:
            continue
        key = ("p", name)
        old = get(key)
        reuse = old is not None and old.deps[0] is pod and old.deps[1] is nodes[pod.node]
        out[key] = old if reuse and old is not None else _pod_part(idx, name, old)
    groups: dict[str, list[ServicePort]] = {}
    for sp in idx.service_ports:
        groups.setdefault(sp.key, []).append(sp)
    for svc, ports in groups.items():
        key = ("s", svc)
        old = get(key)
        reuse = old is not None and _same(old.deps, _service_deps(idx, ports))
        out[key] = old if reuse and old is not None else _service_part(idx, ports, old)
    return out


@dataclass(frozen=True, slots=True)
class _Built:
    """A revision's graph with the parts it was assembled from (for the next revision to start from)."""

    graph: nx.MultiDiGraph
    parts: dict[tuple[str, str], _Part]
    assembled: bool
    """Assembled from the parts' own dicts (not through networkx), so its adjacency can be handed on."""
    bare: frozenset[str]
    """Nodes only edges name (no part adds them): networkx creates them, in the order edges first name them."""


class _Clash(Exception):
    """Two parts add the same node or edge: only networkx's own merging gives the right graph."""


def _new_graph(snap: Snapshot) -> nx.MultiDiGraph:
    return nx.MultiDiGraph(
        cluster=snap.cluster, revision=snap.revision, cni=snap.cni, pod_cidr=snap.pod_cidr,
        service_cidr=snap.service_cidr, node_cidr=snap.node_cidr,
    )  # fmt: skip


def _dirty(old: _Built, parts: dict[tuple[str, str], _Part]) -> tuple[set[str], bool] | None:
    """Graph nodes whose adjacency may differ from ``old``'s, and whether nothing but attributes and
    adjacency changed (the same node ids in the same order); ``None`` if everything must be redone."""
    if not old.assembled or list(old.parts) != list(parts):
        return None  # parts came or went, or moved: redo every node's adjacency (still cheap)
    dirty: set[str] = set()
    same_ids = True
    for key, now in parts.items():
        was = old.parts[key]
        if was is now:
            continue
        if list(was.nodes) != list(now.nodes) or (
            was.foreign != now.foreign
            and (set(was.foreign) != set(now.foreign) or not old.bare.isdisjoint(now.foreign))
        ):  # (other parts' nodes named in another order change nothing; bare nodes' order follows it)
            same_ids = False
        if list(was.pairs) != list(now.pairs):
            dirty.update(was.touches)
            dirty.update(now.touches)
            continue
        for uv, keydict in now.pairs.items():
            if was.pairs[uv] is not keydict:
                dirty.update(uv)
    return dirty, same_ids


def _gather(
    parts: dict[tuple[str, str], _Part],
    fresh: set[str],
    succ: dict[str, dict[str, KeyDict]],
    pred: dict[str, dict[str, KeyDict]],
) -> None:
    """Fill the (empty) adjacency dicts of the ``fresh`` nodes from every part's edges, in graph order."""
    for part in parts.values():
        if fresh.isdisjoint(part.touches):
            continue
        for (u, v), keydict in part.pairs.items():
            if u in fresh:
                if v in succ[u]:
                    raise _Clash
                succ[u][v] = keydict
            if v in fresh:
                pred[v][u] = keydict


def _assemble(
    snap: Snapshot, parts: dict[tuple[str, str], _Part], old: _Built | None
) -> tuple[nx.MultiDiGraph, frozenset[str]]:
    """The graph of ``parts``, taking the adjacency of graph nodes no changed part touches from ``old``.

    networkx keeps ``G._succ[u][v]`` and ``G._pred[v][u]`` as one key dict; here it is
    the part's, so an untouched node's adjacency dicts are still right in the new graph.
    """
    found = _dirty(old, parts) if old is not None else None
    g = _new_graph(snap)
    if old is not None and found is not None and found[1]:
        # The common case (a pod changed, say): copy the old graph's tables, redo the touched entries.
        dirty = found[0]
        node = dict(old.graph._node)
        for key, part in parts.items():
            if old.parts[key] is not part:
                node.update(part.nodes)
        succ, pred = dict(old.graph._succ), dict(old.graph._pred)
        for n in dirty:
            succ[n], pred[n] = {}, {}
        _gather(parts, dirty, succ, pred)
        g._node, g._adj, g._pred = node, succ, pred
        return g, old.bare
    node = {}
    for part in parts.values():
        node.update(part.nodes)
    if len(node) != sum(len(p.nodes) for p in parts.values()):
        raise _Clash
    dirty_or_all = found[0] if found is not None else None
    old_succ = old.graph._succ if old is not None and dirty_or_all is not None else {}
    old_pred = old.graph._pred if old is not None and dirty_or_all is not None else {}
    succ = {}
    pred = {}
    fresh: set[str] = set()

    def place(n: str) -> None:
        if dirty_or_all is not None and n not in dirty_or_all and n in old_succ:
            succ[n], pred[n] = old_succ[n], old_pred[n]
        else:
            succ[n], pred[n] = {}, {}
            fresh.add(n)

    for n in node:
        place(n)
    bare: list[str] = []
    for part in parts.values():
        for end in part.foreign:
            if end not in succ:  # an edge to a node no part adds: networkx creates it bare
                node[end] = {}
                place(end)
                bare.append(end)
    _gather(parts, fresh, succ, pred)
    g._node, g._adj, g._pred = node, succ, pred
    return g, frozenset(bare)


def _networkx_build(snap: Snapshot, parts: dict[tuple[str, str], _Part]) -> nx.MultiDiGraph:
    """The same graph through networkx's own ``add_*_from`` (used when parts overlap)."""
    g = _new_graph(snap)
    g.add_nodes_from((n, a) for p in parts.values() for n, a in p.nodes.items())
    g.add_edges_from(
        (u, v, key, attrs) for p in parts.values() for (u, v), kd in p.pairs.items() for key, attrs in kd.items()
    )
    return g


def _build(snap: Snapshot) -> _Built:
    idx = index(snap)
    found = previous(snap, "graph")
    old: _Built | None = found[1] if found is not None else None
    parts = _parts(snap, idx, old.parts if old is not None else {})
    try:
        g, bare = _assemble(snap, parts, old)
        return _Built(nx.freeze(g), parts, True, bare)
    except _Clash:
        return _Built(nx.freeze(_networkx_build(snap, parts)), parts, False, frozenset())


def build_graph(snap: Snapshot) -> nx.MultiDiGraph:
    """The snapshot's graph, built once per ``(cluster, revision)`` and frozen (shared, read-only).

    A later revision's graph is a new object assembled from this one's unchanged parts.
    """
    return memo(snap, "graph", lambda: _build(snap)).graph


def node_link_data(snap: Snapshot) -> dict[str, Any]:
    """The graph as node-link JSON (``{"nodes": [...], "links": [...]}``) for the browser."""
    return nx.node_link_data(build_graph(snap), edges="links")  # type: ignore[no-any-return]
