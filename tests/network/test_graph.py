"""The networkx graph: typed nodes and edges, cached per revision, frozen, and followed by walks."""

from __future__ import annotations

import dataclasses
import itertools
import json

import networkx as nx
import pytest

from cluster.network import build_graph, node_link_data, walk
from cluster.network.index import index
from tests.network.factories import kind_cluster


def test_graph_is_cached_per_revision_and_frozen() -> None:
    snap = kind_cluster("flannel-vxlan")
    g = build_graph(snap)
    assert build_graph(snap) is g
    assert build_graph(kind_cluster("flannel-vxlan")) is not g  # a new revision is built fresh
    assert nx.is_frozen(g)
    with pytest.raises(nx.NetworkXError):
        g.add_node("x")


def test_graph_holds_namespaces_devices_and_links() -> None:
    snap = kind_cluster("flannel-vxlan")
    g = build_graph(snap)
    veth = index(snap).pods["default/client"].veth
    assert g.nodes["node/kind-worker"]["kind"] == "netns"
    assert g.nodes["pod/default/client"]["kind"] == "netns"
    eth0 = g.nodes["pod/default/client/eth0"]
    assert (eth0["type"], eth0["mac"], eth0["addresses"], eth0["mtu"]) == ("veth", "0a:58:0a:f4:01:02",
                                                                           ["10.244.1.2/24"], 1450)  # fmt: skip
    cni0 = g.nodes["node/kind-worker/cni0"]
    assert cni0["type"] == "bridge" and cni0["addresses"] == ["10.244.1.1/24"]
    learnt = {e["mac"]: e for e in cni0["fdb"]}["0a:58:0a:f4:01:02"]
    assert (learnt["dev"], learnt["master"]) == (veth, "cni0")
    vtep = g.nodes["node/kind-worker/flannel.1"]
    assert (vtep["type"], vtep["vni"], vtep["dstport"], vtep["mac"]) == ("vxlan", 1, 8472, "06:a1:00:00:00:03")
    assert g.nodes["net/underlay"]["kind"] == "segment"
    types = {d["type"] for _, _, d in g.edges(data=True)}
    assert types == {"member", "veth", "bridge-port", "link", "tunnel", "uplink", "endpoint"}
    assert g.has_edge("pod/default/client/eth0", f"node/kind-worker/{veth}")
    assert g.has_edge(f"node/kind-worker/{veth}", "node/kind-worker/cni0")
    assert g.has_edge("node/kind-worker/eth0", "net/underlay")


def test_calico_graph_has_no_bridge() -> None:
    g = build_graph(kind_cluster("calico-ipip"))
    assert "node/kind-worker/cni0" not in g
    assert g.nodes["node/kind-worker/tunl0"]["type"] == "ipip"
    assert not any(d["type"] == "bridge-port" for _, _, d in g.edges(data=True))


def test_node_link_data_is_json_for_the_browser() -> None:
    data = node_link_data(kind_cluster("calico-bgp"))
    text = json.dumps(data)
    assert '"links"' in text and {n["id"] for n in data["nodes"]} >= {"pod/default/web-1", "net/underlay"}


@pytest.mark.parametrize("cni", ["flannel-vxlan", "flannel-host-gw", "calico-bgp", "calico-ipip", "calico-vxlan"])
def test_every_hop_is_at_a_graph_node_adjacent_to_the_previous_one(cni: str) -> None:
    snap = kind_cluster(cni)
    g = build_graph(snap)
    walks = [
        ("default/client", "default/web-2:8080"),
        ("default/client", "svc/default/web:80"),
        ("external", "node/kind-worker:30080"),
        ("node/kind-worker2", "default/client:9090"),
        ("default/client", "dns/db:5432"),
    ]
    for src, dst in walks:
        r = walk(snap, src, dst)
        for part in ("hops", "reply"):
            names = [h["graph_node"] for h in r[part]]
            for a, b in itertools.pairwise(names):
                assert a in g and b in g
                assert a == b or g.has_edge(a, b), f"{src} -> {dst} {part}: {a} -/-> {b}"


def test_cache_is_keyed_by_revision_but_never_serves_a_different_state() -> None:
    snap = kind_cluster("flannel-vxlan")
    g = build_graph(snap)
    assert build_graph(dataclasses.replace(snap)) is g  # an equal snapshot object shares the cache
    pods = [p for p in snap.pods if p["metadata"]["name"] != "web-2"]
    changed = dataclasses.replace(snap, pods=tuple(pods))  # same revision, different content
    assert "pod/default/web-2" not in build_graph(changed)
    assert "pod/default/web-2" in build_graph(snap)
