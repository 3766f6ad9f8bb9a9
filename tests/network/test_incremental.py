"""A revision derived from the last one (the diff of changed objects) equals one built from scratch.

Each example builds a small random cluster, warms every cache on it (walks, the
graph, every node's tables), applies one to three random single-object changes
as new revisions, and then checks that everything the model shows for the last
revision (walks, the graph, ``ip route``/``ip neigh``/``bridge fdb``/
``iptables-save``) is exactly what a cold cache computes for the same state.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.network import WalkError, build_graph, cache, kube_proxy, node_link_data, render, walk
from cluster.network.delta import diff
from cluster.network.index import index
from cluster.network.kube_proxy import generate
from cluster.network.netfilter import node_tables
from cluster.network.snapshot import Snapshot
from tests.network.factories import netpol, node, pod, service, slice_for
from tests.network.test_properties import clusters

Raw = dict[str, Any]


def _name(obj: Raw) -> str:
    return str(obj["metadata"]["name"])


def _replace(objs: tuple[Raw, ...], i: int, new: Raw | None) -> tuple[Raw, ...]:
    return objs[:i] + (() if new is None else (new,)) + objs[i + 1 :]


@st.composite
def pod_changes(draw: st.DrawFn, snap: Snapshot) -> dict[str, Any]:
    pods = snap.pods
    nodes = [_name(n) for n in snap.nodes]
    kinds = ["ip", "move", "labels", "succeeded", "pending", "host-network", "annotation", "reorder", "delete"]
    what = draw(st.sampled_from([*kinds, "add"])) if pods else "add"
    i = draw(st.integers(0, len(pods) - 1)) if pods else 0
    p = copy.deepcopy(pods[i]) if pods else {}
    if what in ("ip", "move"):
        n = draw(st.integers(0, len(nodes) - 1))
        if what == "ip" and p["spec"]["nodeName"] in nodes:
            n = nodes.index(p["spec"]["nodeName"])
        ip = f"10.244.{n}.{draw(st.integers(100, 120))}"
        p["spec"]["nodeName"] = nodes[n]
        p["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    elif what == "labels":
        p["metadata"]["labels"] = {"app": draw(st.sampled_from(["a0", "a1", "other"]))}
    elif what == "succeeded":
        p["status"]["phase"] = "Succeeded"
    elif what == "pending":
        p["status"] = {"phase": "Pending"}
    elif what == "host-network":
        p["spec"]["hostNetwork"] = True
    elif what == "annotation":
        p["metadata"]["annotations"] = {"touched": "yes"}  # nothing the model reads
    elif what == "reorder":  # a touched pod comes back at another place in the list
        p["metadata"]["annotations"] = {"touched": "yes"}
        rest = _replace(pods, i, None)
        j = draw(st.integers(0, len(rest)))
        return {"pods": (*rest[:j], p, *rest[j:])}
    elif what == "delete":
        return {"pods": _replace(pods, i, None)}
    else:
        n = draw(st.integers(0, len(nodes) - 1))
        new = pod(draw(st.sampled_from(["default", "team"])), f"new{draw(st.integers(0, 99))}", nodes[n],
                  f"10.244.{n}.{draw(st.integers(200, 220))}", labels={"app": draw(st.sampled_from(["a0", "a1"]))},
                  ports=[("http", 8080)])  # fmt: skip
        if any(
            f"{x['metadata']['namespace']}/{_name(x)}" == f"{new['metadata']['namespace']}/{_name(new)}" for x in pods
        ):
            return {}
        j = draw(st.integers(0, len(pods)))
        return {"pods": (*pods[:j], new, *pods[j:])}
    return {"pods": _replace(pods, i, p)}


@st.composite
def changes(draw: st.DrawFn, snap: Snapshot) -> dict[str, Any]:
    """One object added, removed or modified (sometimes with the EndpointSlices the controller would rewrite)."""
    kind = draw(st.sampled_from(["pod", "pod+slices", "service", "slice", "node", "policy", "namespace", "none"]))
    if kind in ("pod", "pod+slices"):
        out = draw(pod_changes(snap))
        if kind == "pod+slices" and "pods" in out:
            out["endpointslices"] = tuple(slice_for(s, out["pods"]) for s in snap.services if s["spec"].get("selector"))
        return out
    if kind == "service":
        services = snap.services
        kinds = ["etp-local", "itp-local", "nodeport", "port", "affinity", "delete"]
        what = draw(st.sampled_from([*kinds, "add"])) if services else "add"
        i = draw(st.integers(0, len(services) - 1)) if services else 0
        svc = copy.deepcopy(services[i]) if services else {}
        if what == "etp-local":
            svc["spec"]["type"] = "NodePort"
            svc["spec"]["ports"][0]["nodePort"] = 30100 + i
            svc["spec"]["externalTrafficPolicy"] = "Local"
        elif what == "itp-local":
            svc["spec"]["internalTrafficPolicy"] = "Local"
        elif what == "nodeport":
            svc["spec"]["type"] = "NodePort"
            svc["spec"]["ports"][0]["nodePort"] = 30200 + i
        elif what == "port":
            svc["spec"]["ports"][0]["port"] = 8081
        elif what == "affinity":
            svc["spec"]["sessionAffinity"] = "ClientIP"
        elif what == "delete":
            return {"services": _replace(services, i, None)}
        else:
            new = service("default", f"added{len(services)}", f"10.96.2.{len(services)}",
                          [{"name": "http", "port": 80, "targetPort": 8080}], selector={"app": "a0"})  # fmt: skip
            return {"services": (*services, new), "endpointslices": (*snap.endpointslices, slice_for(new, snap.pods))}
        return {"services": _replace(services, i, svc)}
    if kind == "slice" and snap.endpointslices:
        slices = snap.endpointslices
        i = draw(st.integers(0, len(slices) - 1))
        es = copy.deepcopy(slices[i])
        what = draw(st.sampled_from(["drop", "unready", "terminating", "delete", "label"]))
        if what == "drop" and es["endpoints"]:
            es["endpoints"].pop(draw(st.integers(0, len(es["endpoints"]) - 1)))
        elif what == "unready" and es["endpoints"]:
            es["endpoints"][0]["conditions"] = {"ready": False, "serving": True, "terminating": True}
        elif what == "terminating" and es["endpoints"]:
            es["endpoints"][-1]["conditions"] = {"ready": False, "serving": False, "terminating": True}
        elif what == "delete":
            return {"endpointslices": _replace(slices, i, None)}
        else:
            es["metadata"]["labels"]["extra"] = "x"  # nothing kube-proxy reads
        return {"endpointslices": _replace(slices, i, es)}
    if kind == "node":
        nodes = snap.nodes
        what = draw(st.sampled_from(["labels", "vtep", "add", "delete-last"]))
        if what == "add":
            return {"nodes": (*nodes, node(f"n{len(nodes)}", len(nodes)))}
        if what == "delete-last" and len(nodes) > 1:
            return {"nodes": nodes[:-1]}
        i = draw(st.integers(0, len(nodes) - 1))
        n = copy.deepcopy(nodes[i])
        if what == "labels":
            n["metadata"]["labels"]["zone"] = "b"
        else:
            n = node(_name(n), i, vtep_mac="06:a1:00:00:01:02")
        return {"nodes": _replace(nodes, i, n)}
    if kind == "policy":
        if snap.networkpolicies and draw(st.booleans()):
            return {"networkpolicies": ()}
        allow = netpol("default", "allow-a0", {"matchLabels": {"app": "a1"}},
                       ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "a0"}}}]}])  # fmt: skip
        return {"networkpolicies": (*snap.networkpolicies, allow)}
    if kind == "namespace":
        spaces = list(copy.deepcopy(snap.namespaces))
        spaces[0]["metadata"]["labels"] = {"team": "x"}
        return {"namespaces": tuple(spaces)}
    return {}


def _walks(snap: Snapshot) -> list[tuple[str, str, str]]:
    idx = index(snap)
    pods = sorted(k for k, p in idx.pods.items() if p.ip)[:4]
    out = []
    for src in [*pods, *(f"node/{n}" for n in idx.nodes), "external"]:
        for dst in pods:
            out.append((src, f"{dst}:8080", "tcp"))
        for sp in idx.service_ports:
            out.append((src, f"svc/{sp.key}:{sp.port}", sp.proto))
            if sp.node_port:
                out.append((src, f"node/{next(iter(idx.nodes))}:{sp.node_port}", sp.proto))
        out.append((src, "dns/s0.default:80", "tcp"))
    return out


def _everything(snap: Snapshot, walks: list[tuple[str, str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for src, dst, proto in walks:
        try:
            out[f"{src} {dst} {proto}"] = walk(snap, src, dst, proto)
        except (WalkError, ValueError) as exc:  # an error is behaviour too: the same one either way
            out[f"{src} {dst} {proto}"] = f"{type(exc).__name__}: {exc}"
    out["graph"] = node_link_data(snap)
    for n in index(snap).nodes:
        for show in (render.ip_route, render.ip_neigh, render.bridge_fdb, render.iptables_save):
            out[f"{show.__name__} {n}"] = show(snap, n)
    return out


def _adjacency_shares_edge_data(g: nx.MultiDiGraph) -> None:
    """networkx's invariant: an edge's key dict is one object, seen from both ends."""
    for u, nbrs in g._succ.items():
        for v, keydict in nbrs.items():
            assert g._pred[v][u] is keydict


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(clusters(), st.data())
def test_a_derived_revision_equals_a_fresh_build(base: Snapshot, data: st.DataObject) -> None:
    cache.clear()
    _everything(base, _walks(base))  # warm every cache at the first revision
    snap = base
    for step in range(data.draw(st.integers(1, 3))):
        change = data.draw(changes(snap))
        snap = dataclasses.replace(snap, revision=snap.revision + 1, **change)
        if step == 0:
            build_graph(snap)
            for n in index(snap).nodes:
                node_tables(snap, n)
    walks = _walks(snap)
    derived = _everything(snap, walks)
    _adjacency_shares_edge_data(build_graph(snap))
    cache.clear()
    fresh = _everything(snap, walks)
    assert derived.keys() == fresh.keys()
    for key in fresh:
        assert derived[key] == fresh[key], key


def test_bench_like_change_is_derived_not_rebuilt() -> None:
    """Moving one pod derives the index: untouched nodes keep their very pod lists, records and tables."""
    from tests.network.factories import kind_cluster

    cache.clear()
    snap = kind_cluster("flannel-vxlan")
    idx = index(snap)
    routes_before = render.ip_route(snap, "kind-control-plane")
    tables_before = node_tables(snap, "kind-control-plane")
    pods = list(snap.pods)
    moved = copy.deepcopy(pods[4])  # default/db on kind-worker2
    moved["status"]["podIP"] = moved["status"]["podIPs"][0]["ip"] = "10.244.2.99"
    pods[4] = moved
    later = dataclasses.replace(snap, revision=snap.revision + 1, pods=tuple(pods))
    d = diff(snap, later)
    assert d is not None and d.pods.changed == {"default/db"} and d.size == 1
    new = index(later)
    assert new is not idx and new.nodes is idx.nodes
    assert new.pods_on_node["kind-control-plane"] is idx.pods_on_node["kind-control-plane"]
    assert new.pods_on_node["kind-worker2"] is not idx.pods_on_node["kind-worker2"]
    assert new.pods["default/client"] is idx.pods["default/client"]
    assert new.pod_by_ip["10.244.2.99"].key == "default/db" and "10.244.2.3" not in new.pod_by_ip
    assert render.ip_route(later, "kind-control-plane") == routes_before
    assert node_tables(later, "kind-control-plane") is not tables_before  # a new revision, new tables object
    assert build_graph(later) is not build_graph(snap)
    assert build_graph(later).nodes["pod/default/db"]["ip"] == "10.244.2.99"
    assert build_graph(snap).nodes["pod/default/db"]["ip"] == "10.244.2.3"  # the old graph is untouched


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.data())
def test_layered_tables_answer_like_the_spelled_out_ones(base: Snapshot, data: st.DataObject) -> None:
    """Shared per-service-port fragments give every node exactly the chains ``generate`` writes."""
    snap = base
    if data.draw(st.booleans()):  # sometimes through a derived revision, so reused fragments are checked too
        node_tables(snap, next(iter(index(snap).nodes)))
        snap = dataclasses.replace(snap, revision=snap.revision + 1, **data.draw(changes(snap)))
    idx = index(snap)
    for n in idx.nodes:
        tables = node_tables(snap, n)
        assert tables.proxy == generate(idx, n)
        assert kube_proxy.node_rules(snap, n) == generate(idx, n)
        for table, chains in tables.chains.items():
            for chain, rules in chains.items():
                assert tables.has_chain(table, chain)
                assert list(tables.chain(table, chain)) == list(rules), (n, table, chain)
            assert not tables.has_chain(table, "KUBE-SVC-NOSUCHCHAIN0000")
        for sep, (sp, ep) in tables.proxy.endpoint_chains.items():
            assert tables.endpoint_chain(sep) == (sp, ep)


def test_a_pod_that_changed_place_in_the_list_moves_in_the_derived_index_too() -> None:
    """Order is behaviour (graph node order, ``ip neigh`` lines): a derived index follows the new snapshot's."""
    from tests.network.factories import kind_cluster

    cache.clear()
    snap = kind_cluster()
    node_link_data(snap)
    pods = list(snap.pods)
    web1 = copy.deepcopy(pods.pop(2))  # default/web-1, on kind-worker after default/client
    web1["metadata"]["annotations"] = {"moved": "yes"}
    pods.insert(1, web1)
    later = dataclasses.replace(snap, revision=snap.revision + 1, pods=tuple(pods))
    derived = (list(index(later).pods), node_link_data(later), render.ip_neigh(later, "kind-worker"))
    assert derived[0][1] == "default/web-1"
    cache.clear()
    assert derived == (list(index(later).pods), node_link_data(later), render.ip_neigh(later, "kind-worker"))
