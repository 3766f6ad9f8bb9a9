"""Properties of walks over random small clusters (hypothesis)."""

from __future__ import annotations

import ipaddress
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.network import CNI_MODES, build_graph, walk
from cluster.network.index import index
from tests.network.factories import netpol, node, pod, service, snapshot
from tests.network.walkutil import devices_path

POD_NET = ipaddress.ip_network("10.244.0.0/16")


@st.composite
def clusters(draw: st.DrawFn) -> Any:
    cni = draw(st.sampled_from(CNI_MODES))
    n_nodes = draw(st.integers(1, 4))
    per_node = draw(st.lists(st.integers(0, 3), min_size=n_nodes, max_size=n_nodes))
    nodes = [node(f"n{i}", i) for i in range(n_nodes)]
    pods = [pod("kube-system", "coredns", "n0", "10.244.0.2", labels={"k8s-app": "kube-dns"},
                ports=[("dns", 53, "UDP")])]  # fmt: skip
    k = 0
    for i, count in enumerate(per_node):
        for j in range(count):
            ns = draw(st.sampled_from(["default", "team"]))
            pods.append(pod(ns, f"p{k}", f"n{i}", f"10.244.{i}.{j + 10}", labels={"app": f"a{k % 2}"},
                            ports=[("http", 8080)]))  # fmt: skip
            k += 1
    services = [
        service("kube-system", "kube-dns", "10.96.0.10", [{"name": "dns", "port": 53, "protocol": "UDP"}],
                selector={"k8s-app": "kube-dns"}),
    ]  # fmt: skip
    for s in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["ClusterIP", "NodePort"]))
        etp = draw(st.sampled_from(["Cluster", "Local"])) if kind == "NodePort" else None
        port = {
            "name": "http",
            "port": 80,
            "targetPort": 8080,
            **({"nodePort": 30000 + s} if kind == "NodePort" else {}),
        }
        ns = draw(st.sampled_from(["default", "team"]))
        services.append(service(ns, f"s{s}", f"10.96.1.{s + 1}", [port], selector={"app": f"a{s % 2}"}, type=kind,
                                etp=etp))  # fmt: skip
    policies = []
    if draw(st.booleans()):
        policies.append(netpol("default", "deny-a1", {"matchLabels": {"app": "a1"}}, policy_types=["Ingress"]))
    return snapshot(cni, nodes, pods, services, policies=policies, seed=draw(st.integers(0, 10_000)))


def _endpoints(snap: Any, svc_key: str) -> set[str]:
    ns, name = svc_key.split("/")
    return {
        f"{ep['addresses'][0]}:{p['port']}"
        for es in snap.endpointslices
        if es["metadata"]["namespace"] == ns and es["metadata"]["labels"]["kubernetes.io/service-name"] == name
        for ep in es["endpoints"]
        for p in es["ports"]
    }


def _check(snap: Any, src: str, r: dict[str, Any]) -> None:
    idx = index(snap)
    g = build_graph(snap)
    json.dumps(r)
    assert r["verdict"] in ("delivered", "dropped", "rejected")
    node_ips = {n.ip for n in idx.nodes.values()}
    for part in ("hops", "reply"):
        names = [h["graph_node"] for h in r[part]]
        for a, b in itertools.pairwise(names):
            assert a == b or g.has_edge(a, b), (a, b)
        for h in r[part]:
            outer = h["headers"]["outer"]
            if outer is not None:
                # Encapsulated: node addresses outside, pod-network addresses inside.
                assert outer["ip"]["src"] in node_ips and outer["ip"]["dst"] in node_ips
                assert ipaddress.ip_address(h["headers"]["ip"]["src"]) in POD_NET
                assert ipaddress.ip_address(h["headers"]["ip"]["dst"]) in POD_NET
    if r["verdict"] != "delivered":
        return
    last = r["hops"][-1]
    assert last["action"] == "deliver"
    dst_ip, dport = last["headers"]["ip"]["dst"], last["headers"]["l4"]["dport"]
    if last["graph_node"].startswith("pod/"):
        owner = idx.pod_by_ip[dst_ip] if not dst_ip.startswith("127.") else idx.pods[last["netns"]]
        assert last["graph_node"] == f"pod/{owner.key}"  # ends at the pod that owns the destination IP
    target = r["dst"]
    if target["kind"] in ("service", "nodeport", "loadbalancer"):
        assert f"{dst_ip}:{dport}" in _endpoints(snap, target["name"])  # ...or at an endpoint of the Service
        assert r["endpoint"] is not None and r["endpoint"]["ip"] == dst_ip
    elif target["kind"] == "pod":
        assert last["graph_node"] == f"pod/{target['name']}"
    # The reply retraces the request's devices in reverse and reaches the original socket.
    assert r["reply"] and r["reply"][-1]["action"] == "deliver"
    assert devices_path(r, "reply") == devices_path(r, "hops")[::-1]
    first, back = r["hops"][0]["headers"], r["reply"][-1]["headers"]
    assert (back["ip"]["dst"], back["l4"]["dport"]) == (first["ip"]["src"], first["l4"]["sport"])
    assert (back["ip"]["src"], back["l4"]["sport"]) == (first["ip"]["dst"], first["l4"]["dport"])


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.data())
def test_random_walks_hold_the_invariants(snap: Any, data: st.DataObject) -> None:
    idx = index(snap)
    pods = sorted(k for k, p in idx.pods.items() if p.ip and k != "kube-system/coredns")
    if not pods:
        return
    src = data.draw(st.sampled_from(pods))
    dst_pod = data.draw(st.sampled_from(pods))
    services = [sp for sp in idx.service_ports if sp.key != "kube-system/kube-dns"]
    sp = data.draw(st.sampled_from(services))
    nodes = sorted(idx.nodes)
    walks = [
        (src, f"{dst_pod}:8080"),
        (src, f"svc/{sp.key}:80"),
        (src, f"dns/{sp.name}.{sp.namespace}:80"),
        (f"node/{data.draw(st.sampled_from(nodes))}", f"{dst_pod}:8080"),
    ]
    if sp.node_port:
        walks.append(("external", f"node/{data.draw(st.sampled_from(nodes))}:{sp.node_port}"))
    for s, d in walks:
        r = walk(snap, s, d)
        _check(snap, s, r)
        assert walk(snap, s, d) == r  # deterministic
